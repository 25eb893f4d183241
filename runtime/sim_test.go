package runtime

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/reprise/reprise/provider"
)

// sim is a deterministic, provider-free driver of the engine: it keeps
// histories, metadata and queued messages in memory, runs activities inline
// and fires timers immediately. It lets unit tests and benchmarks exercise
// turns without I/O, and compare the cached and the replayed path.
type sim struct {
	t       testing.TB
	e       *Engine
	now     time.Time
	part    map[string]uint64
	hist    map[string]map[uint64][]provider.Event
	meta    map[string]provider.Metadata
	inbox   map[string][]provider.Message
	order   []string // entities with messages, FIFO
	cache   map[string]*Instance
	compare bool // also run every turn without the cache and compare
	turns   int
	// batch caps the messages per turn (0: all).
	batch int
}

func newSim(t testing.TB, reg *Registry) *sim {
	return &sim{
		t: t,
		e: &Engine{reg: reg, codec: JSONCodec{}, limits: Limits{}.withDefaults(), logger: discardLogger(),
			orchestratorQueue: DefaultOrchestratorQueue, activityQueue: DefaultActivityQueue,
			maxDeliveries: 10, unknownAttempts: 1, unknownBackoff: time.Millisecond},
		now:   time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		part:  map[string]uint64{},
		hist:  map[string]map[uint64][]provider.Event{},
		meta:  map[string]provider.Metadata{},
		inbox: map[string][]provider.Message{},
		cache: map[string]*Instance{},
	}
}

func (s *sim) enqueue(m provider.Message) {
	if len(s.inbox[m.Entity]) == 0 {
		s.order = append(s.order, m.Entity)
	}
	m.Attempt = 1
	s.inbox[m.Entity] = append(s.inbox[m.Entity], m)
}

func (s *sim) start(name, id string, input any) {
	data, err := encodeValue(s.e.codec, input)
	if err != nil {
		s.t.Fatal(err)
	}
	s.enqueue(provider.Message{ID: "start-" + id, Entity: id, Data: encodeEnvelope(&envelope{kind: msgStart, ev: Event{Name: name, Payload: data}})})
}

func (s *sim) raise(id, name string, v any) {
	data, _ := encodeValue(s.e.codec, v)
	s.enqueue(provider.Message{ID: fmt.Sprintf("ev-%d", s.turns), Entity: id, Data: encodeEnvelope(&envelope{kind: msgEventRaised, ev: Event{Name: name, Payload: data}})})
}

// batchFor takes the next batch of one entity.
func (s *sim) batchFor(id string) *provider.EntityBatch {
	msgs := s.inbox[id]
	n := len(msgs)
	if s.batch > 0 && n > s.batch {
		n = s.batch
	}
	b := &provider.EntityBatch{
		Lock:      provider.EntityLock{Queue: DefaultOrchestratorQueue, Entity: id, Token: "t"},
		Partition: s.part[id],
		History:   s.hist[id][s.part[id]],
		Metadata:  s.meta[id],
		Messages:  msgs[:n:n],
	}
	s.inbox[id] = msgs[n:]
	return b
}

// step runs one turn of the first entity with messages; false when idle.
func (s *sim) step() bool {
	if len(s.order) == 0 {
		return false
	}
	id := s.order[0]
	s.order = s.order[1:]
	b := s.batchFor(id)
	if len(s.inbox[id]) > 0 {
		s.order = append(s.order, id)
	}
	s.now = s.now.Add(time.Second)
	s.turns++
	var replayed turnResult
	if s.compare {
		replayed = s.e.turn(nil, b, s.now)
		if replayed.inst != nil {
			replayed.inst.stop()
		}
	}
	cached := s.cache[id]
	delete(s.cache, id)
	res := s.e.turn(cached, b, s.now)
	if res.abandon {
		s.t.Fatalf("turn %d of %s abandoned: %s", s.turns, id, res.reason)
	}
	if s.compare && !reflect.DeepEqual(replayed.commit, res.commit) {
		s.t.Fatalf("turn %d of %s: cached and replayed commits differ\ncached:   %s\nreplayed: %s",
			s.turns, id, describeCommit(res.commit), describeCommit(replayed.commit))
	}
	if res.inst != nil {
		s.cache[id] = res.inst
	}
	s.apply(id, res.commit)
	return true
}

func (s *sim) apply(id string, c provider.Commit) {
	if s.hist[id] == nil {
		s.hist[id] = map[uint64][]provider.Event{}
	}
	s.part[id] = c.Partition
	s.hist[id][c.Partition] = append(s.hist[id][c.Partition], c.Events...)
	if s.meta[id] == nil {
		s.meta[id] = provider.Metadata{}
	}
	md := provider.Metadata{}
	for k, v := range s.meta[id] {
		md[k] = v
	}
	for k, v := range c.SetMetadata {
		md[k] = v
	}
	for _, k := range c.DeleteMetadata {
		delete(md, k)
	}
	s.meta[id] = md
	cancelled := map[string]bool{}
	for _, ref := range c.Cancel {
		cancelled[ref.ID] = true
	}
	for ent, msgs := range s.inbox {
		kept := msgs[:0]
		for _, m := range msgs {
			if !cancelled[m.ID] {
				kept = append(kept, m)
			}
		}
		s.inbox[ent] = kept
	}
	for _, o := range c.Send {
		if o.Queue == DefaultOrchestratorQueue {
			s.enqueue(o.Message)
			continue
		}
		s.runActivity(o.Message)
	}
}

// runActivity executes an activity task inline and queues its result.
func (s *sim) runActivity(m provider.Message) {
	env, err := decodeEnvelope(m.Data)
	if err != nil {
		s.t.Fatal(err)
	}
	res := envelope{kind: msgActivityResult, partition: env.partition, ev: Event{Decision: env.ev.Decision}}
	fn, ok := s.e.reg.activity(env.ev.Name)
	if !ok {
		res.flags |= flagFailed
		res.ev.Failure = &Error{Type: typeNotRegistered, Message: env.ev.Name}
	} else if out, err := fn(context.Background(), s.e.codec, env.ev.Payload); err != nil {
		res.flags |= flagFailed
		res.ev.Failure = toError(err)
	} else {
		res.ev.Payload = out
	}
	s.enqueue(provider.Message{ID: messageID(m.Entity, env.partition, idResult, env.ev.Decision), Entity: m.Entity, Data: encodeEnvelope(&res)})
}

func (s *sim) runToIdle(maxTurns int) {
	for i := 0; s.step(); i++ {
		if i > maxTurns {
			s.t.Fatalf("no quiescence after %d turns", maxTurns)
		}
	}
}

func (s *sim) close() {
	for id, inst := range s.cache {
		inst.stop()
		delete(s.cache, id)
	}
}

func describeCommit(c provider.Commit) string {
	out := fmt.Sprintf("partition %d, metadata %v, delete %v, cancel %v, events:", c.Partition, c.SetMetadata, c.DeleteMetadata, c.Cancel)
	for _, ev := range c.Events {
		d, err := DecodeEvent(ev.Data)
		out += fmt.Sprintf(" [%d %s d%d %v]", ev.Seq, d.Kind, d.Decision, err)
	}
	for _, o := range c.Send {
		out += fmt.Sprintf(" send(%s %s)", o.Queue, o.Message.ID)
	}
	return out
}

func providerMessage(entity, id string, data []byte) provider.Message {
	return provider.Message{ID: id, Entity: entity, Data: data}
}
