package apiserver

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/reprise/reprise/api"
	jsprovider "github.com/reprise/reprise/provider/jetstream"
)

// submitDuplicates is the submit stream's Nats-Msg-Id window: a publisher
// that retries a submission with the same message id within it is deduped.
const submitDuplicates = 2 * time.Minute

func (s *Server) storage() jetstream.StorageType {
	if s.opts.MemoryStorage {
		return jetstream.MemoryStorage
	}
	return jetstream.FileStorage
}

// submitMaxPending is the submit consumer's limit of deliveries not yet
// acked, most of them submissions waiting for their shard's owner (each
// costs the server about a hundred bytes). Past it, new submissions wait
// behind them.
const submitMaxPending = 1_000_000

// submitConsumer is the durable consumer every replica shares.
func (s *Server) submitConsumer() string { return s.opts.Prefix + "_submit" }

// startSubmit creates the submit and dead-letter streams and starts
// consuming submissions.
func (s *Server) startSubmit(ctx context.Context) error {
	p := s.opts.Prefix
	// EnsureStream refuses to change an existing stream's replicas,
	// storage or retention: those belong to the deployment.
	st, err := jsprovider.EnsureStream(ctx, s.js, jetstream.StreamConfig{
		Name:        api.SubmitStream(p),
		Description: "fire-and-forget starts, consumed by the orchestrators",
		Subjects:    api.SubmitStreamSubjects(p),
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     s.storage(),
		Replicas:    s.opts.Replicas,
		Duplicates:  submitDuplicates,
	})
	if err != nil {
		return fmt.Errorf("apiserver: %w", err)
	}
	if _, err := jsprovider.EnsureStream(ctx, s.js, jetstream.StreamConfig{
		Name:        api.DeadLetterStream(p),
		Description: "invalid submissions with the reason they were refused",
		Subjects:    api.DeadLetterStreamSubjects(p),
		Retention:   jetstream.LimitsPolicy,
		Storage:     s.storage(),
		Replicas:    s.opts.Replicas,
		MaxAge:      s.opts.DeadLetterMaxAge,
		Duplicates:  submitDuplicates,
	}); err != nil {
		return fmt.Errorf("apiserver: %w", err)
	}
	cons, err := st.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable:     s.submitConsumer(),
		Description: "orchestrators starting submitted instances",
		AckPolicy:   jetstream.AckExplicitPolicy,
		AckWait:     30 * time.Second,
		MaxDeliver:  -1,
		// A submission whose shard has no owner is naked with a delay and
		// stays pending meanwhile; the limit must hold every one of an
		// outage's, or they would stop the submissions of every other
		// shard. The handlers are bounded by Concurrency, not by this.
		MaxAckPending: submitMaxPending,
	})
	if err != nil {
		return fmt.Errorf("apiserver: create consumer %s: %w", s.submitConsumer(), err)
	}
	s.submitCreated = st.CachedInfo().Created
	cc, err := cons.Consume(s.onSubmit, jetstream.PullMaxMessages(s.opts.Concurrency))
	if err != nil {
		return fmt.Errorf("apiserver: consume %s: %w", s.submitConsumer(), err)
	}
	s.submit = cc
	return nil
}

// onSubmit runs on the consumer's delivery goroutine and hands the message
// to a bounded handler goroutine.
func (s *Server) onSubmit(m jetstream.Msg) {
	select {
	case s.sem <- struct{}{}:
	case <-s.ctx.Done():
		_ = m.Nak() // another replica takes it
		return
	}
	if !s.begin() {
		<-s.sem
		_ = m.Nak()
		return
	}
	go func() {
		defer s.work.Done()
		defer func() { <-s.sem }()
		s.handleSubmit(s.ctx, m)
	}()
}

// handleSubmit starts one submission. Invalid ones are dead-lettered with
// the reason and acked; transient failures are retried with backoff, and
// dead-lettered after SubmitMaxDeliveries attempts.
func (s *Server) handleSubmit(ctx context.Context, m jetstream.Msg) {
	md, err := m.Metadata()
	if err != nil {
		s.log.Error("submission without metadata", "err", err)
		_ = m.Term()
		return
	}
	err = func() (err error) {
		defer func() {
			if r := recover(); r != nil {
				s.log.Error("submit handler panicked", "panic", r)
				err = api.Errorf(api.CodeInternal, "the server failed on this submission: %v", r)
			}
		}()
		var req api.StartRequest
		if err := decode(m.Data(), &req); err != nil {
			return err
		}
		if req.ID == "" {
			req.ID = s.submitID(md.Sequence.Stream)
		}
		return s.startRequest(ctx, &req, false)
	}()
	if err == nil {
		s.opts.OnReply(VerbSubmit, outcomeOK)
		s.ack(m)
		return
	}
	ae := toAPIError(err)
	s.opts.OnReply(VerbSubmit, string(ae.Code))
	switch ae.Code {
	case api.CodeAlreadyExists:
		if md.NumDelivered > 1 {
			// An earlier delivery started it and was not acked in time.
			s.log.Info("submission already started by an earlier delivery", "seq", md.Sequence.Stream)
			s.ack(m)
			return
		}
	case api.CodeUnavailable, api.CodeInternal:
		if ctx.Err() != nil {
			_ = m.Nak() // shutting down: another replica takes it now
			return
		}
		if ae.Code == api.CodeUnavailable && time.Since(md.Timestamp) < s.opts.SubmitUnavailableMaxAge {
			// Its shard has no owner now (a fail-over, a scale-down):
			// wait for one, bounded by time, not by a delivery count.
			delay := min(time.Second<<min(md.NumDelivered-1, 4), 10*time.Second)
			s.log.Warn("submission waits for its shard's owner", "seq", md.Sequence.Stream, "attempt", md.NumDelivered, "delay", delay, "err", err)
			_ = m.NakWithDelay(delay)
			return
		}
		if int(md.NumDelivered) < s.opts.SubmitMaxDeliveries {
			delay := min(time.Second<<min(md.NumDelivered-1, 5), 30*time.Second)
			s.log.Warn("submission failed, retrying", "seq", md.Sequence.Stream, "attempt", md.NumDelivered, "delay", delay, "err", err)
			_ = m.NakWithDelay(delay)
			return
		}
	}
	s.deadLetter(ctx, m, md.Sequence.Stream, ae)
}

// deadLetter republishes a refused submission with its reason, then acks
// it. The dead letter's message id makes a repeat after a crash a no-op.
func (s *Server) deadLetter(ctx context.Context, m jetstream.Msg, seq uint64, reason *api.Error) {
	body, _ := json.Marshal(api.NewDeadLetter(reason, m.Data()))
	id := "dl-" + strconv.FormatInt(s.submitCreated.UnixNano(), 36) + "-" + strconv.FormatUint(seq, 10)
	if _, err := s.js.Publish(ctx, api.DeadLetterSubject(s.opts.Prefix), body, jetstream.WithMsgID(id)); err != nil {
		s.log.Error("publish dead letter; the submission will be redelivered", "seq", seq, "err", err)
		_ = m.NakWithDelay(time.Second)
		return
	}
	s.log.Warn("submission dead-lettered", "seq", seq, "code", reason.Code, "reason", reason.Message)
	s.ack(m)
}

func (s *Server) ack(m jetstream.Msg) {
	if err := m.Ack(); err != nil {
		s.log.Warn("ack submission", "err", err)
	}
}

// submitID is the instance id of a submission that names none: derived from
// the stream's creation time and the message's sequence, so a redelivery
// names the same instance (and is deduplicated) instead of starting another.
func (s *Server) submitID(seq uint64) string {
	return "submit-" + strconv.FormatInt(s.submitCreated.UnixNano(), 36) + "-" + strconv.FormatUint(seq, 10)
}
