package jetstream

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"
)

// pubAckSamples are acknowledgements as the server writes them (stream.go's
// template and its error responses).
var pubAckSamples = []string{
	`{"stream":"reprise_work","seq":1}`,
	`{"stream":"reprise_log","seq":18446744073709551615}`,
	`{"stream":"reprise_work","seq":42,"duplicate": true}`,
	`{"stream":"reprise_work","domain":"hub","seq":7}`,
	`{"stream":"s","seq":3,"batch":"b1","count":2}`,
	`{"error":{"code":400,"err_code":10071,"description":"wrong last sequence: 5"},"stream":"reprise_log","seq":0}`,
	`{"error":{"code":503,"err_code":10077,"description":"maximum messages exceeded"}}`,
	`{"stream":"reprise_work","seq":}`,
	`{"stream":"","seq":1}`,
	`{"stream":"a\"b","seq":1}`,
	`not json`,
}

// TestParsePubAckMatchesTheDecoder: the fast path answers exactly what
// encoding/json does, and errors keep nats.go's types.
func TestParsePubAckMatchesTheDecoder(t *testing.T) {
	fast := 0
	for _, s := range pubAckSamples {
		checkPubAck(t, []byte(s))
		if _, ok := parsePubAckFast([]byte(s)); ok {
			fast++
		}
	}
	if fast != 3 {
		t.Errorf("the fast path read %d of the samples, want the 3 plain and duplicate ones", fast)
	}
	_, err := parsePubAck([]byte(pubAckSamples[5]))
	var apiErr *natsjs.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode != natsjs.JSErrCodeStreamWrongLastSequence {
		t.Errorf("error acknowledgement: %v, want an *APIError with code %d", err, natsjs.JSErrCodeStreamWrongLastSequence)
	}
	if _, err := parsePubAck([]byte(`not json`)); !errors.Is(err, natsjs.ErrInvalidJSAck) {
		t.Errorf("garbage: %v, want ErrInvalidJSAck", err)
	}
}

// FuzzParsePubAck: whatever the fast path accepts, encoding/json reads the
// same way.
func FuzzParsePubAck(f *testing.F) {
	for _, s := range pubAckSamples {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkPubAck(t, data)
	})
}

func checkPubAck(t *testing.T, data []byte) {
	t.Helper()
	got, ok := parsePubAckFast(data)
	if !ok {
		return
	}
	want, err := decodePubAck(data)
	if err != nil {
		t.Fatalf("%q: fast path read %+v, the decoder failed: %v", data, got, err)
	}
	if *got != *want {
		t.Fatalf("%q: fast path read %+v, the decoder %+v", data, got, want)
	}
}

// TestPublishWaitsForAStreamToAnswer: a publish that finds no stream
// answering its subject (a replicated stream electing its leader) is
// retried, past nats.go's default of half a second, until one answers.
func TestPublishWaitsForAStreamToAnswer(t *testing.T) {
	t.Parallel()
	nc := connect(t, sharedURL)
	p := &Provider{nc: nc}
	js, err := natsjs.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	name := uniquePrefix() + "_late"
	created := make(chan error, 1)
	// The stream appears a second after the first publish, as a leader
	// elected late would.
	timer := time.AfterFunc(time.Second, func() {
		_, err := js.CreateStream(context.Background(), natsjs.StreamConfig{Name: name, Subjects: []string{name + ".>"}, Storage: natsjs.MemoryStorage})
		created <- err
	})
	defer timer.Stop()
	ack, err := p.publishMsg(context.Background(), &nats.Msg{Subject: name + ".x", Data: []byte("late")})
	if err != nil {
		t.Fatalf("publish before the stream existed: %v, want it stored once the stream answers", err)
	}
	if err := <-created; err != nil {
		t.Fatal(err)
	}
	if ack.Stream != name || ack.Sequence != 1 {
		t.Errorf("ack = %+v, want sequence 1 of %s", ack, name)
	}
}
