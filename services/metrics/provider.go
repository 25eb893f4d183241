package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/reprise/reprise/provider"
)

// Operation label values of reprise_provider_operation_duration_seconds, one
// per provider method (Close is not timed).
const (
	OpFetchEntity       = "fetch_entity"
	OpCommit            = "commit"
	OpRenewEntityLock   = "renew_entity_lock"
	OpAbandonEntity     = "abandon_entity"
	OpFetchWork         = "fetch_work"
	OpCompleteWork      = "complete_work"
	OpRenewWorkLock     = "renew_work_lock"
	OpAbandonWork       = "abandon_work"
	OpSend              = "send"
	OpHistory           = "history"
	OpCurrentPartition  = "current_partition"
	OpMetadata          = "metadata"
	OpListEntities      = "list_entities"
	OpDeleteEntity      = "delete_entity"
	OpQueueDepth        = "queue_depth"
	resultOK, resultErr = "ok", "error"
)

// operations lists the operation labels by index (see op).
var operations = [...]string{
	OpFetchEntity, OpCommit, OpRenewEntityLock, OpAbandonEntity, OpFetchWork, OpCompleteWork,
	OpRenewWorkLock, OpAbandonWork, OpSend, OpHistory, OpCurrentPartition, OpMetadata,
	OpListEntities, OpDeleteEntity, OpQueueDepth,
}

// op indexes operations.
type op int

const (
	opFetchEntity op = iota
	opCommit
	opRenewEntityLock
	opAbandonEntity
	opFetchWork
	opCompleteWork
	opRenewWorkLock
	opAbandonWork
	opSend
	opHistory
	opCurrentPartition
	opMetadata
	opListEntities
	opDeleteEntity
	opQueueDepth
	numOps
)

// InstrumentProvider returns p with every operation timed into
// reprise_provider_operation_duration_seconds of m. The result label is
// "error" for any non-nil error, context cancellation included (a worker
// stopping ends its blocked fetches that way).
//
// FetchEntity and FetchWork block until work arrives, so their durations
// measure the wait for work as much as the provider's cost: read them as
// idle time, and the other operations as latency.
//
// The result has the optional capabilities p has: it times
// [provider.DedupSender] (SendNew as "send") and
// [provider.DeferredCommitter] (as "commit", until durable) itself, and
// unwraps to p ([provider.Unwrapper]) so that [provider.As] finds the
// others ([provider.FaultInjector], [provider.HealthChecker], ...) untimed.
func InstrumentProvider(p provider.Provider, m *Metrics) provider.Provider {
	ip := &instrumented{p: p}
	ip.deferred, _ = provider.As[provider.DeferredCommitter](p)
	for i := range numOps {
		// Resolving every series once keeps label lookups off the hot path
		// and makes every operation visible from the first scrape.
		ip.obs[i][0] = m.providerOps.WithLabelValues(operations[i], resultOK)
		ip.obs[i][1] = m.providerOps.WithLabelValues(operations[i], resultErr)
	}
	if ds, ok := provider.As[provider.DedupSender](p); ok {
		return &instrumentedDedup{instrumented: ip, dedup: ds}
	}
	return ip
}

// instrumented is the timing decorator.
type instrumented struct {
	p   provider.Provider
	obs [numOps][2]prometheus.Observer
	// deferred is p's DeferredCommitter, nil without one.
	deferred provider.DeferredCommitter
}

// Unwrap implements provider.Unwrapper: the capabilities the decorator
// does not time are found on p.
func (ip *instrumented) Unwrap() provider.Provider { return ip.p }

// instrumentedDedup times the optional DedupSender capability.
type instrumentedDedup struct {
	*instrumented
	dedup provider.DedupSender
}

// SendNew implements provider.DedupSender.
func (id *instrumentedDedup) SendNew(ctx context.Context, o provider.Outgoing) (bool, error) {
	return id.instrumented.sendNew(ctx, id.dedup, o)
}

func (ip *instrumented) sendNew(ctx context.Context, d provider.DedupSender, o provider.Outgoing) (bool, error) {
	start := time.Now()
	enqueued, err := d.SendNew(ctx, o)
	ip.done(opSend, start, err)
	return enqueued, err
}

// done records one call of o that began at start.
func (ip *instrumented) done(o op, start time.Time, err error) {
	r := 0
	if err != nil {
		r = 1
	}
	ip.obs[o][r].Observe(time.Since(start).Seconds())
}

func (ip *instrumented) FetchEntity(ctx context.Context, queue string) (*provider.EntityBatch, error) {
	start := time.Now()
	b, err := ip.p.FetchEntity(ctx, queue)
	ip.done(opFetchEntity, start, err)
	return b, err
}

func (ip *instrumented) Commit(ctx context.Context, lock provider.EntityLock, c provider.Commit) error {
	start := time.Now()
	err := ip.p.Commit(ctx, lock, c)
	ip.done(opCommit, start, err)
	return err
}

// CommitDeferred implements provider.DeferredCommitter, for every p: with
// p's own, the commit is timed until its wait returns (until it is
// durable, as Commit); without, it is Commit with a nil wait.
func (ip *instrumented) CommitDeferred(ctx context.Context, lock provider.EntityLock, c provider.Commit) (func(context.Context) error, error) {
	if ip.deferred == nil {
		return nil, ip.Commit(ctx, lock, c)
	}
	start := time.Now()
	wait, err := ip.deferred.CommitDeferred(ctx, lock, c)
	if err != nil || wait == nil {
		ip.done(opCommit, start, err)
		return wait, err
	}
	return func(ctx context.Context) error {
		err := wait(ctx)
		ip.done(opCommit, start, err)
		return err
	}, nil
}

func (ip *instrumented) RenewEntityLock(ctx context.Context, lock provider.EntityLock) (time.Time, error) {
	start := time.Now()
	t, err := ip.p.RenewEntityLock(ctx, lock)
	ip.done(opRenewEntityLock, start, err)
	return t, err
}

func (ip *instrumented) AbandonEntity(ctx context.Context, lock provider.EntityLock, delay time.Duration) error {
	start := time.Now()
	err := ip.p.AbandonEntity(ctx, lock, delay)
	ip.done(opAbandonEntity, start, err)
	return err
}

func (ip *instrumented) FetchWork(ctx context.Context, queue string) (*provider.WorkItem, error) {
	start := time.Now()
	w, err := ip.p.FetchWork(ctx, queue)
	ip.done(opFetchWork, start, err)
	return w, err
}

func (ip *instrumented) CompleteWork(ctx context.Context, lock provider.WorkLock, replies []provider.Outgoing) error {
	start := time.Now()
	err := ip.p.CompleteWork(ctx, lock, replies)
	ip.done(opCompleteWork, start, err)
	return err
}

func (ip *instrumented) RenewWorkLock(ctx context.Context, lock provider.WorkLock) (time.Time, error) {
	start := time.Now()
	t, err := ip.p.RenewWorkLock(ctx, lock)
	ip.done(opRenewWorkLock, start, err)
	return t, err
}

func (ip *instrumented) AbandonWork(ctx context.Context, lock provider.WorkLock, delay time.Duration) error {
	start := time.Now()
	err := ip.p.AbandonWork(ctx, lock, delay)
	ip.done(opAbandonWork, start, err)
	return err
}

func (ip *instrumented) Send(ctx context.Context, msgs ...provider.Outgoing) error {
	start := time.Now()
	err := ip.p.Send(ctx, msgs...)
	ip.done(opSend, start, err)
	return err
}

func (ip *instrumented) History(ctx context.Context, entity string, partition uint64) ([]provider.Event, error) {
	start := time.Now()
	evs, err := ip.p.History(ctx, entity, partition)
	ip.done(opHistory, start, err)
	return evs, err
}

func (ip *instrumented) CurrentPartition(ctx context.Context, entity string) (uint64, error) {
	start := time.Now()
	n, err := ip.p.CurrentPartition(ctx, entity)
	ip.done(opCurrentPartition, start, err)
	return n, err
}

func (ip *instrumented) Metadata(ctx context.Context, entity string) (provider.Metadata, error) {
	start := time.Now()
	md, err := ip.p.Metadata(ctx, entity)
	ip.done(opMetadata, start, err)
	return md, err
}

func (ip *instrumented) ListEntities(ctx context.Context, q provider.ListQuery) (provider.ListPage, error) {
	start := time.Now()
	page, err := ip.p.ListEntities(ctx, q)
	ip.done(opListEntities, start, err)
	return page, err
}

func (ip *instrumented) DeleteEntity(ctx context.Context, entity string) error {
	start := time.Now()
	err := ip.p.DeleteEntity(ctx, entity)
	ip.done(opDeleteEntity, start, err)
	return err
}

func (ip *instrumented) QueueDepth(ctx context.Context, queue string) (int, error) {
	start := time.Now()
	n, err := ip.p.QueueDepth(ctx, queue)
	ip.done(opQueueDepth, start, err)
	return n, err
}

// Close closes the underlying provider; it is not timed.
func (ip *instrumented) Close() error { return ip.p.Close() }
