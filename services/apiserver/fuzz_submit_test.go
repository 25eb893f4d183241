package apiserver

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/reprise/reprise/api"
)

// The seed corpus of this target is under testdata/fuzz/FuzzSubmit.

// submitMsg is a submission delivery that records how it was settled.
type submitMsg struct {
	data      []byte
	seq       uint64
	delivered uint64
	settled   []string
}

func (m *submitMsg) Metadata() (*jetstream.MsgMetadata, error) {
	return &jetstream.MsgMetadata{Sequence: jetstream.SequencePair{Stream: m.seq, Consumer: m.seq}, NumDelivered: m.delivered}, nil
}
func (m *submitMsg) Data() []byte         { return m.data }
func (m *submitMsg) Headers() nats.Header { return nil }
func (m *submitMsg) Subject() string      { return api.SubmitSubject(api.DefaultPrefix) }
func (m *submitMsg) Reply() string        { return "" }
func (m *submitMsg) Ack() error           { m.settled = append(m.settled, "ack"); return nil }
func (m *submitMsg) DoubleAck(context.Context) error {
	m.settled = append(m.settled, "ack")
	return nil
}
func (m *submitMsg) Nak() error { m.settled = append(m.settled, "nak"); return nil }
func (m *submitMsg) NakWithDelay(time.Duration) error {
	m.settled = append(m.settled, "nak")
	return nil
}
func (m *submitMsg) InProgress() error           { return nil }
func (m *submitMsg) Term() error                 { m.settled = append(m.settled, "term"); return nil }
func (m *submitMsg) TermWithReason(string) error { m.settled = append(m.settled, "term"); return nil }

// FuzzSubmit feeds arbitrary bodies to the fire-and-forget submit path (a
// JetStream delivery, no reply to carry an error): every delivery is
// settled exactly once, by an ack; what is not started is dead-lettered
// with the original body and a documented client error code.
func FuzzSubmit(f *testing.F) {
	for _, seed := range []string{
		``, `{}`, `null`, `[]`, `{"name":"echo"}`, `{"name":"echo","id":"a","input":[1,{"b":null}]}`,
		`{"name":"nope"}`, `{"name":"echo","id":"\u0000"}`, `{"name":"echo","reuse":"sometimes"}`,
		`{"name":"echo","input":"` + string(make([]byte, 70)) + `"}`, `{"name":"echo","start_at":"2030-01-01T00:00:00Z"}`,
		`{"name":"echo","id":"x","version":"v9"}`, `{"name":`, "\xff\xfe",
	} {
		f.Add([]byte(seed), uint8(1))
	}
	s := newTestServer(f)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dl, err := s.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: api.DeadLetterStream(api.DefaultPrefix), Subjects: api.DeadLetterStreamSubjects(api.DefaultPrefix),
		Storage: jetstream.MemoryStorage,
	})
	if err != nil {
		f.Fatal(err)
	}
	var seq uint64
	f.Fuzz(func(t *testing.T, body []byte, delivered uint8) {
		seq++
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		before, err := dl.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		m := &submitMsg{data: body, seq: seq, delivered: uint64(max(delivered%4, 1))}
		s.handleSubmit(ctx, m)
		if len(m.settled) != 1 || m.settled[0] != "ack" {
			t.Fatalf("submission %q was settled %v, want one ack", body, m.settled)
		}
		after, err := dl.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if after.State.LastSeq == before.State.LastSeq {
			return // started
		}
		raw, err := dl.GetMsg(ctx, after.State.LastSeq)
		if err != nil {
			t.Fatal(err)
		}
		var letter api.DeadLetter
		if err := json.Unmarshal(raw.Data, &letter); err != nil {
			t.Fatalf("dead letter %q: %v", raw.Data, err)
		}
		// Every byte survives: verbatim when UTF-8, base64 otherwise.
		kept := []byte(letter.Original)
		if !utf8.Valid(body) {
			if kept, err = base64.StdEncoding.DecodeString(letter.OriginalBase64); err != nil {
				t.Fatalf("dead letter of %q: original_base64: %v", body, err)
			}
		}
		if !bytes.Equal(kept, body) {
			t.Fatalf("dead letter keeps %q, want the original %q", kept, body)
		}
		if letter.Reason == nil || letter.Reason.Message == "" {
			t.Fatalf("dead letter of %q has no reason: %s", body, raw.Data)
		}
		switch letter.Reason.Code {
		case api.CodeInternal, api.CodeUnavailable, api.CodeTimeout, "":
			t.Fatalf("submission %q dead-lettered with %s: %s", body, letter.Reason.Code, letter.Reason.Message)
		}
	})
}
