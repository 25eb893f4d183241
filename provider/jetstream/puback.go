package jetstream

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"
)

// publishRetryWait is how far apart a publish is retried while no server
// answers for its stream, and publishRetryFor how long it keeps retrying
// (within its context's deadline). No responders means that no stream took
// the message, so retrying stores nothing twice; it happens while a
// replicated stream elects a leader, which under load can outlast nats.go's
// default of two retries 250 ms apart (a 3-node test saw a commit fail so
// in CI).
const (
	publishRetryWait = 250 * time.Millisecond
	publishRetryFor  = 5 * time.Second
)

// publishMsg publishes m to its stream and returns the server's
// acknowledgement, as natsjs.JetStream.PublishMsg does (same errors: a
// *natsjs.APIError from the server, natsjs.ErrNoStreamResponse when no
// stream answers), but reads the acknowledgement without the JSON decoder
// in the common case: every publish of the hot path has one, and decoding
// it with encoding/json was 1.8 % of the CPU of the bench's hello.
func (p *Provider) publishMsg(ctx context.Context, m *nats.Msg) (*natsjs.PubAck, error) {
	if _, ok := ctx.Deadline(); !ok {
		// As nats.go: a request never waits longer than requestTimeout.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, requestTimeout)
		defer cancel()
	}
	resp, err := p.nc.RequestMsgWithContext(ctx, m)
	for giveUp := time.Now().Add(publishRetryFor); errors.Is(err, nats.ErrNoResponders) && time.Now().Before(giveUp); {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(publishRetryWait):
		}
		resp, err = p.nc.RequestMsgWithContext(ctx, m)
	}
	if errors.Is(err, nats.ErrNoResponders) {
		return nil, natsjs.ErrNoStreamResponse
	}
	if err != nil {
		return nil, err
	}
	return parsePubAck(resp.Data)
}

// parsePubAck reads a publish acknowledgement. The server writes a
// successful one from a template, {"stream":"<name>","seq":<n>} with
// ,"duplicate": true before the brace for a duplicate; anything else
// (errors, domains, batches) goes through encoding/json.
func parsePubAck(data []byte) (*natsjs.PubAck, error) {
	if ack, ok := parsePubAckFast(data); ok {
		return ack, nil
	}
	return decodePubAck(data)
}

var (
	pubAckStream    = []byte(`{"stream":"`)
	pubAckSeq       = []byte(`","seq":`)
	pubAckDuplicate = []byte(`,"duplicate": true}`)
)

func parsePubAckFast(data []byte) (*natsjs.PubAck, bool) {
	rest, ok := bytes.CutPrefix(data, pubAckStream)
	if !ok {
		return nil, false
	}
	name, rest, ok := bytes.Cut(rest, pubAckSeq)
	if !ok || len(name) == 0 {
		return nil, false
	}
	for _, c := range name {
		// Stream names are printable ASCII; anything JSON would unescape
		// or replace goes to the decoder.
		if c <= ' ' || c >= 0x7f || c == '"' || c == '\\' {
			return nil, false
		}
	}
	n := 0
	for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
		n++
	}
	if n > 1 && rest[0] == '0' {
		return nil, false // not a JSON number
	}
	seq, err := strconv.ParseUint(string(rest[:n]), 10, 64)
	if err != nil {
		return nil, false
	}
	ack := &natsjs.PubAck{Stream: string(name), Sequence: seq}
	switch tail := rest[n:]; {
	case len(tail) == 1 && tail[0] == '}':
	case bytes.Equal(tail, pubAckDuplicate):
		ack.Duplicate = true
	default:
		return nil, false
	}
	return ack, true
}

// pubAckResponse is the acknowledgement as the server's JSON has it.
type pubAckResponse struct {
	Error *natsjs.APIError `json:"error,omitempty"`
	*natsjs.PubAck
}

// decodePubAck reads any acknowledgement with encoding/json, with
// nats.go's errors.
func decodePubAck(data []byte) (*natsjs.PubAck, error) {
	var resp pubAckResponse
	if err := json.Unmarshal(data, &resp); err != nil {
		return nil, natsjs.ErrInvalidJSAck
	}
	if resp.Error != nil {
		return nil, fmt.Errorf("nats: %w", resp.Error)
	}
	if resp.PubAck == nil || resp.Stream == "" {
		return nil, natsjs.ErrInvalidJSAck
	}
	return resp.PubAck, nil
}
