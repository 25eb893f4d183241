package jetstream

import "sync"

// seqTracker computes a safe watermark for one stage (apply or dispatch) of
// one shard's records: a log sequence W such that every record this provider
// published to the shard at or below W has completed the stage. Recovery
// redoes the stage for records above the persisted W.
//
// Commits of different entities run concurrently and their records get log
// sequences in an order the provider learns only after publishing, so a
// commit registers (begin) before it publishes, with a floor: the highest
// sequence observed so far. Its record's sequence is necessarily above the
// floor (it reaches the server after everything observed). The watermark is
// the highest completed sequence, capped below the floor of every commit still
// open. A commit that fails after publishing stays open until it is repaired,
// which holds the watermark below its record.
type seqTracker struct {
	mu       sync.Mutex
	observed uint64
	done     uint64
	mark     uint64
	nextID   uint64
	open     map[uint64]uint64 // ticket -> floor
}

func newSeqTracker(start uint64) *seqTracker {
	return &seqTracker{observed: start, done: start, mark: start, open: map[uint64]uint64{}}
}

// begin opens a ticket for a record about to be published.
func (t *seqTracker) begin() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.nextID++
	t.open[t.nextID] = t.observed
	return t.nextID
}

// observe notes a sequence that exists in the log.
func (t *seqTracker) observe(seq uint64) {
	t.mu.Lock()
	if seq > t.observed {
		t.observed = seq
	}
	t.mu.Unlock()
}

// abort closes a ticket whose record was not published.
func (t *seqTracker) abort(ticket uint64) {
	t.mu.Lock()
	delete(t.open, ticket)
	t.mu.Unlock()
}

// complete closes a ticket whose record, at seq, completed the stage, and
// returns the watermark.
func (t *seqTracker) complete(ticket, seq uint64) uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.open, ticket)
	if seq > t.observed {
		t.observed = seq
	}
	if seq > t.done {
		t.done = seq
	}
	w := t.done
	for _, floor := range t.open {
		w = min(w, floor)
	}
	// Every record at or below an earlier mark completed the stage then and
	// still has, so the mark never moves back.
	t.mark = max(t.mark, w)
	return t.mark
}

// watermark returns the current mark.
func (t *seqTracker) watermark() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.mark
}

// peek returns the watermark complete(ticket, seq) would return, without
// closing the ticket: it is written in the same batch as the record, and
// the ticket is closed once that batch is committed.
func (t *seqTracker) peek(ticket, seq uint64) uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	w := max(t.done, seq)
	for id, floor := range t.open {
		if id != ticket {
			w = min(w, floor)
		}
	}
	return max(t.mark, w)
}
