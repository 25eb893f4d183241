package host

import (
	"fmt"

	"github.com/reprise/reprise/api"
	"github.com/reprise/reprise/provider/jetstream"
	"github.com/reprise/reprise/runtime"
)

// Limits is the one table of size limits a node runs with, and the checks
// that keep them consistent. The README's "Limits" table describes it;
// every other place that needs one of these sizes takes it from here.
type Limits struct {
	// APIPayload is -max-payload: the largest input or event payload the
	// API (and the submit path) accepts, in bytes.
	APIPayload int
	// EnginePayload is the runtime's limit on every encoded input,
	// output, activity result, event payload and custom status
	// (runtime.Limits.MaxPayloadBytes): the larger of the runtime's
	// default (2 MiB) and APIPayload, so that the engine carries whatever
	// the API accepted.
	EnginePayload int
	// Record is the largest commit record: the NATS connection's
	// max_payload less RecordHeaderRoom, as the JetStream provider checks
	// it before publishing (provider/jetstream maxRecordBytes).
	Record int64
	// ReplyPage is the largest reply page of list and history; longer
	// answers are paged (see api.HistoryReply.NextSeq and
	// api.ListReply.NextCursor).
	ReplyPage int64
}

// RecordOverhead is the room a commit record needs besides three copies of
// the largest payload (a turn that starts and finishes an instance records
// its input in the start event and its output in the completion event and
// in the status metadata; a scheduled activity's input is in its event and
// its task message): events, metadata, envelopes, the other messages.
const RecordOverhead = 1 << 20

// RecordHeaderRoom is what a commit record's headers and subject take
// besides its data (the JetStream provider's own figure).
const RecordHeaderRoom = jetstream.RecordHeaderRoom

// recordCopies is how many payloads of the engine limit one commit record
// must be able to hold.
const recordCopies = 3

// engineDefaultPayload is the runtime's default payload limit.
const engineDefaultPayload = 2 << 20

// NewLimits computes the limits of a node whose API accepts payloads of
// apiPayload bytes over a NATS connection whose max_payload is
// natsMaxPayload (nats.Conn.MaxPayload). It refuses settings the engine
// cannot carry: a commit record must hold three payloads of the engine
// limit plus [RecordOverhead]. (A turn recording more, such as a wide
// fan-out of large inputs, is refused by the provider's record size check.)
func NewLimits(apiPayload int, natsMaxPayload int64) (Limits, error) {
	if apiPayload < 1 {
		return Limits{}, fmt.Errorf("max payload is %d bytes, want at least 1", apiPayload)
	}
	l := Limits{
		APIPayload:    apiPayload,
		EnginePayload: max(engineDefaultPayload, apiPayload),
		Record:        int64(jetstream.MaxRecordBytes(natsMaxPayload)),
		ReplyPage:     natsMaxPayload,
	}
	need := recordCopies*int64(l.EnginePayload) + RecordOverhead
	if l.Record < need {
		most := MaxAPIPayload(natsMaxPayload)
		if most < engineDefaultPayload {
			return l, fmt.Errorf("the NATS server's max_payload is %d bytes; Reprise needs at least %d (%d payloads of %d bytes plus %d in one commit record): set max_payload to 8MB in the NATS server's configuration",
				natsMaxPayload, recordCopies*engineDefaultPayload+RecordOverhead+RecordHeaderRoom, recordCopies, engineDefaultPayload, RecordOverhead+RecordHeaderRoom)
		}
		return l, fmt.Errorf("-max-payload %d needs commit records of up to %d bytes (%d payloads plus %d), more than the NATS server's max_payload of %d carries (%d): lower -max-payload to at most %d, or raise max_payload",
			apiPayload, need, recordCopies, RecordOverhead, natsMaxPayload, l.Record, most)
	}
	return l, nil
}

// MaxAPIPayload is the largest -max-payload a NATS server with the given
// max_payload carries: (max_payload - RecordHeaderRoom - RecordOverhead) / 3.
func MaxAPIPayload(natsMaxPayload int64) int {
	return int((natsMaxPayload - RecordHeaderRoom - RecordOverhead) / recordCopies)
}

// Runtime returns the runtime limits of l.
func (l Limits) Runtime() runtime.Limits {
	return runtime.Limits{MaxPayloadBytes: l.EnginePayload}
}

// DefaultLimits is the table of a node with the default -max-payload on the
// embedded NATS server (max_payload 8 MiB).
func DefaultLimits() Limits {
	l, err := NewLimits(api.DefaultMaxPayloadBytes, EmbeddedMaxPayload)
	if err != nil {
		panic(err) // the defaults are consistent; TestDefaultLimitsAreConsistent
	}
	return l
}

// EmbeddedMaxPayload is the max_payload of the embedded NATS server.
const EmbeddedMaxPayload = 8 << 20
