package apiserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/reprise/reprise/api"
	"github.com/reprise/reprise/runtime/control"
)

// QueueGroup is the core NATS queue group every API replica joins.
const QueueGroup = "reprise-api"

// Options configure a [Server]. Zero fields take the defaults.
type Options struct {
	// Prefix of every subject and stream (default [api.DefaultPrefix]).
	Prefix string
	// MaxPayloadBytes limits an input or event payload (default
	// [api.DefaultMaxPayloadBytes]).
	MaxPayloadBytes int
	// Reuse is the policy for a start whose request names none (default
	// [api.ReuseReject]).
	Reuse api.ReusePolicy
	// Orchestrations reports whether an orchestration name and version can
	// be started; a start failing it is answered with
	// [api.CodeUnknownOrchestration]. Nil accepts every name (an unknown one
	// then fails the instance when it runs). A runtime.Registry's
	// HasOrchestration fits.
	Orchestrations func(name, version string) bool
	// Concurrency bounds the requests (other than waits) and submissions
	// handled at once (default 256).
	Concurrency int
	// MaxWaits bounds the wait requests pending at once (default 10,000);
	// one more is answered with [api.CodeUnavailable].
	MaxWaits int
	// MaxWaitsPerClient bounds the wait requests of one client pending at
	// once (default 1,000), so that one client cannot take the whole wait
	// pool; one more is answered with [api.CodeUnavailable]. A client is
	// told apart by its reply subject without the last token: the
	// connection's inbox, for nats.go and the clients modelled on it.
	// Requests forwarded by another server are not counted here (they were
	// where the client sent them).
	MaxWaitsPerClient int
	// Replicas of the submit and dead-letter streams (default 1).
	Replicas int
	// MemoryStorage keeps the submit and dead-letter streams in server
	// memory (tests only).
	MemoryStorage bool
	// DeadLetterMaxAge is how long dead letters are kept (default 7 days).
	DeadLetterMaxAge time.Duration
	// SubmitMaxDeliveries bounds the attempts at a submission that keeps
	// failing for an internal error before it is dead-lettered (default
	// 20).
	SubmitMaxDeliveries int
	// SubmitUnavailableMaxAge is how long a submission whose shard has no
	// reachable owner keeps waiting for one before it is dead-lettered
	// (default 24 h): an owner that is down is waited for, however many
	// times the submission comes back meanwhile.
	SubmitUnavailableMaxAge time.Duration
	// Shards is the number of shards instances hash to (the provider's);
	// needed with Sharding.
	Shards int
	// Sharding says which shards this server's provider owns. Nil: it owns
	// every instance, and answers everything itself. Otherwise requests
	// about instances of other shards are forwarded to their owners, and
	// this server answers its owners' forwarded requests (see [Sharding]).
	Sharding Sharding
	// Cluster, when set, answers [api.VerbCluster] (the shard leases as
	// this process sees them). Nil: the shards this server owns, pinned.
	Cluster func() api.ClusterReply
	// MaxReplyBytes bounds the size of a reply page (history, list) below
	// the connection's max payload (default: the max payload; tests set
	// it lower).
	MaxReplyBytes int
	// OnReply, when set, is told the outcome of every request and
	// submission the server received from a client (not of requests
	// forwarded to it by another server): the verb ("submit" for the
	// submit stream, "unknown" for a subject naming no verb) and what the
	// client received: "ok", the error code, or "reply_failed" when the
	// reply could not be sent. Both values are bounded, so they suit metric
	// labels.
	OnReply func(verb, code string)
	// Logger receives the server's logs (default slog.Default()).
	Logger *slog.Logger
}

// VerbSubmit is the verb [Options.OnReply] reports for submissions.
const VerbSubmit = "submit"

// outcomeOK is the code [Options.OnReply] reports for a success.
const outcomeOK = "ok"

func (o Options) withDefaults() (Options, error) {
	if o.Prefix == "" {
		o.Prefix = api.DefaultPrefix
	}
	if err := api.ValidatePrefix(o.Prefix); err != nil {
		return o, err
	}
	if o.MaxPayloadBytes <= 0 {
		o.MaxPayloadBytes = api.DefaultMaxPayloadBytes
	}
	if o.Reuse == "" {
		o.Reuse = api.ReuseReject
	}
	if !o.Reuse.Valid() {
		return o, fmt.Errorf("apiserver: unknown reuse policy %q (want %q or %q)", o.Reuse, api.ReuseReject, api.ReuseReplaceFinished)
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 256
	}
	if o.MaxWaits <= 0 {
		o.MaxWaits = 10_000
	}
	if o.MaxWaitsPerClient <= 0 {
		o.MaxWaitsPerClient = 1_000
	}
	if o.Replicas <= 0 {
		o.Replicas = 1
	}
	if o.DeadLetterMaxAge <= 0 {
		o.DeadLetterMaxAge = 7 * 24 * time.Hour
	}
	if o.SubmitMaxDeliveries <= 0 {
		o.SubmitMaxDeliveries = 20
	}
	if o.SubmitUnavailableMaxAge <= 0 {
		o.SubmitUnavailableMaxAge = 24 * time.Hour
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.OnReply == nil {
		o.OnReply = func(string, string) {}
	}
	if o.Sharding == nil {
		o.Sharding, o.Shards = allLocal{}, 1
	}
	if o.Shards < 1 {
		return o, fmt.Errorf("apiserver: Sharding needs the shard count (Shards is %d)", o.Shards)
	}
	return o, nil
}

// Server answers the subject API. Create it with [New], then Start; Stop
// ends it. Safe for concurrent use.
type Server struct {
	nc     *nats.Conn
	js     jetstream.JetStream
	client *control.Client
	opts   Options
	log    *slog.Logger
	// sharding is opts.Sharding.
	sharding Sharding
	// verbs is the verb table (see verbTable).
	verbs map[api.Verb]verbSpec

	// sem bounds concurrent handlers; waits bounds pending waits, and
	// clientWaits counts them per client (see Options.MaxWaitsPerClient).
	sem   chan struct{}
	waits chan struct{}
	// handOff passes a request to an idle handler goroutine (handler).
	handOff     chan request
	waitsMu     sync.Mutex
	clientWaits map[string]int

	// ctx is cancelled by Stop to cut waits short and end idle handlers;
	// work counts handler goroutines, which begin only while closing is
	// false (so Stop's Wait never races with an Add).
	ctx     context.Context
	cancel  context.CancelFunc
	workMu  sync.Mutex
	closing bool
	work    sync.WaitGroup

	mu      sync.Mutex
	started bool
	stopped bool
	sub     *nats.Subscription
	// shardSubs serve the requests other servers forward to this one,
	// by shard.
	shardSubs map[int]*nats.Subscription
	submit    jetstream.ConsumeContext
	// submitCreated seeds the ids generated for submissions without one.
	submitCreated time.Time
}

// New returns a server answering with client. Call Start to serve.
func New(nc *nats.Conn, client *control.Client, opts Options) (*Server, error) {
	if nc == nil || client == nil {
		return nil, errors.New("apiserver: New needs a NATS connection and a client")
	}
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("apiserver: jetstream: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		nc: nc, js: js, client: client, opts: opts, log: opts.Logger,
		sharding: opts.Sharding, shardSubs: map[int]*nats.Subscription{},
		sem: make(chan struct{}, opts.Concurrency), handOff: make(chan request), waits: make(chan struct{}, opts.MaxWaits), clientWaits: map[string]int{},
		ctx: ctx, cancel: cancel,
	}
	s.verbs = s.verbTable()
	return s, nil
}

// Start creates the submit and dead-letter streams if needed, subscribes to
// the request subjects and starts consuming submissions. ctx bounds Start
// only.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return errors.New("apiserver: server stopped")
	}
	if s.started {
		return errors.New("apiserver: server already started")
	}
	if err := s.startSubmit(ctx); err != nil {
		return err
	}
	var subs []*nats.Subscription
	fail := func(err error) error {
		for _, sub := range subs {
			_ = sub.Unsubscribe()
		}
		s.submit.Stop()
		return err
	}
	subscribe := func(subject string, cb nats.MsgHandler) (*nats.Subscription, error) {
		sub, err := s.nc.QueueSubscribe(subject, QueueGroup, cb)
		if err != nil {
			return nil, fmt.Errorf("apiserver: subscribe %s: %w", subject, err)
		}
		subs = append(subs, sub)
		// Requests carry payloads up to the limit; let a burst of them queue.
		if err := sub.SetPendingLimits(64*1024, 512<<20); err != nil {
			s.log.Warn("set pending limits", "subject", subject, "err", err)
		}
		return sub, nil
	}
	// The owned shards first: once a client's request can arrive here, so
	// can the forwarded requests it causes elsewhere.
	shardSubs := map[int]*nats.Subscription{}
	if _, isLocal := s.sharding.(allLocal); !isLocal {
		for _, shard := range s.ownedNow() {
			sub, err := subscribe(shardWildcardPrefix(s.opts.Prefix, shard)+"*", func(m *nats.Msg) { s.onRequest(m, true) })
			if err != nil {
				return fail(err)
			}
			shardSubs[shard] = sub
		}
	}
	sub, err := subscribe(api.SubjectWildcard(s.opts.Prefix), func(m *nats.Msg) { s.onRequest(m, false) })
	if err != nil {
		return fail(err)
	}
	if err := s.nc.FlushTimeout(10 * time.Second); err != nil {
		return fail(fmt.Errorf("apiserver: flush subscriptions: %w", err))
	}
	s.sub, s.shardSubs = sub, shardSubs
	s.started = true
	return nil
}

// Stop stops taking requests and submissions, answers pending waits with
// [api.CodeUnavailable] (their clients retry on another replica), and waits
// for in-flight handlers until ctx ends.
func (s *Server) Stop(ctx context.Context) error {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return nil
	}
	s.stopped = true
	var subs []*nats.Subscription
	if s.sub != nil {
		subs = append(subs, s.sub)
	}
	for _, shard := range slices.Sorted(maps.Keys(s.shardSubs)) {
		subs = append(subs, s.shardSubs[shard])
	}
	submit := s.submit
	s.mu.Unlock()
	var errs []error
	// Drain hands the already received requests to onRequest, then
	// unsubscribes. The client subscription goes first, so that requests
	// still forwarded here by other servers are answered meanwhile.
	for _, sub := range subs {
		closed := sub.StatusChanged(nats.SubscriptionClosed)
		if err := sub.Drain(); err != nil {
			errs = append(errs, fmt.Errorf("apiserver: drain subscription %s: %w", sub.Subject, err))
			continue
		}
		select {
		case <-closed:
		case <-ctx.Done():
		}
	}
	if submit != nil {
		submit.Drain()
		select {
		case <-submit.Closed():
		case <-ctx.Done():
		}
	}
	s.cancel()
	s.workMu.Lock()
	s.closing = true
	s.workMu.Unlock()
	done := make(chan struct{})
	go func() {
		s.work.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		errs = append(errs, fmt.Errorf("apiserver: stop: %w", ctx.Err()))
		<-done // handlers all end on s.ctx, which is cancelled
	}
	return errors.Join(errs...)
}

// begin registers a handler goroutine about to start; false once Stop is
// waiting for them.
func (s *Server) begin() bool {
	s.workMu.Lock()
	defer s.workMu.Unlock()
	if s.closing {
		return false
	}
	s.work.Add(1)
	return true
}

// onRequest runs on a subscription's delivery goroutine: it hands the
// request to a bounded handler goroutine so that a slow request (a wait)
// never holds up the others. forwarded marks a request another server
// forwarded to this one, the owner of the instance's shard.
func (s *Server) onRequest(m *nats.Msg, forwarded bool) {
	r := request{m: m, verb: api.Verb(m.Subject[strings.LastIndexByte(m.Subject, '.')+1:]), forwarded: forwarded}
	if r.verb == api.VerbWait {
		client := ""
		if !forwarded {
			client = clientOf(m.Reply)
			if !s.holdClientWait(client) {
				s.respond(r, nil, api.Errorf(api.CodeUnavailable, "this client has %d waits pending, the most one client may have; retry later", s.opts.MaxWaitsPerClient))
				return
			}
		}
		select {
		case s.waits <- struct{}{}:
		default:
			s.releaseClientWait(client)
			s.respond(r, nil, api.Errorf(api.CodeUnavailable, "too many pending waits (%d); retry later", s.opts.MaxWaits))
			return
		}
		if !s.begin() {
			<-s.waits
			s.releaseClientWait(client)
			s.respond(r, nil, errStopping)
			return
		}
		go func() {
			defer s.work.Done()
			defer func() {
				<-s.waits
				s.releaseClientWait(client)
			}()
			s.serve(r)
		}()
		return
	}
	select {
	case s.sem <- struct{}{}:
	case <-s.ctx.Done():
		s.respond(r, nil, errStopping)
		return
	}
	select {
	case s.handOff <- r:
		return
	default:
	}
	if !s.begin() {
		<-s.sem
		s.respond(r, nil, errStopping)
		return
	}
	go s.handler(r)
}

// handlerIdle is how long a handler goroutine waits for another request
// before it ends.
const handlerIdle = time.Second

// handler serves r, then the requests handed to it (handOff) until none
// comes for handlerIdle or Stop cancels s.ctx. Each request holds a slot of
// s.sem until it is answered. Reusing the goroutine keeps its grown stack:
// a new goroutine per request grew it anew for each start, 2.6 % of the
// CPU of the bench's hello.
func (s *Server) handler(r request) {
	defer s.work.Done()
	idle := time.NewTimer(handlerIdle)
	defer idle.Stop()
	for {
		s.serve(r)
		<-s.sem
		idle.Reset(handlerIdle)
		select {
		case r = <-s.handOff:
		case <-idle.C:
			return
		case <-s.ctx.Done():
			return
		}
	}
}

// clientOf tells clients apart by the reply subject without its last
// token: nats.go answers every request of a connection on one inbox
// ("_INBOX.<connection>.<request>").
func clientOf(reply string) string {
	if i := strings.LastIndexByte(reply, '.'); i > 0 {
		return reply[:i]
	}
	return reply
}

// holdClientWait counts a wait of client, unless it holds its cap already.
// The empty client (forwarded requests) is not counted.
func (s *Server) holdClientWait(client string) bool {
	if client == "" {
		return true
	}
	s.waitsMu.Lock()
	defer s.waitsMu.Unlock()
	if s.clientWaits[client] >= s.opts.MaxWaitsPerClient {
		return false
	}
	s.clientWaits[client]++
	return true
}

func (s *Server) releaseClientWait(client string) {
	if client == "" {
		return
	}
	s.waitsMu.Lock()
	defer s.waitsMu.Unlock()
	if s.clientWaits[client]--; s.clientWaits[client] <= 0 {
		delete(s.clientWaits, client)
	}
}

// request is one received request.
type request struct {
	m         *nats.Msg
	verb      api.Verb
	forwarded bool
}

// serve runs one request and sends its reply. A panic in a handler is
// answered as an internal error instead of crashing the process.
func (s *Server) serve(r request) {
	var (
		reply any
		err   error
	)
	func() {
		defer func() {
			if p := recover(); p != nil {
				s.log.Error("api handler panicked", "verb", r.verb, "panic", p)
				err = api.Errorf(api.CodeInternal, "the server failed on this request: %v", p)
			}
		}()
		reply, err = s.handle(s.ctx, r.verb, r.m.Data, r.forwarded)
	}()
	s.respond(r, reply, err)
}

// relayed is a reply another server sent, passed on verbatim.
type relayed []byte

// verbSpec says how the server answers one verb.
type verbSpec struct {
	// byOwner: the request names an instance, and the owner of the
	// instance's shard answers it. A client's request about a shard this
	// server does not own is forwarded to the owner and its reply relayed;
	// a forwarded one is always answered here.
	byOwner bool
	// handle answers the request here; forwarded marks a request another
	// server forwarded to this one.
	handle func(ctx context.Context, data []byte, forwarded bool) (any, error)
}

// verbTable is the API's verb table. Every verb of api.Verbs has an entry
// (a test checks it).
func (s *Server) verbTable() map[api.Verb]verbSpec {
	here := func(h func(context.Context, []byte) (any, error)) func(context.Context, []byte, bool) (any, error) {
		return func(ctx context.Context, data []byte, _ bool) (any, error) { return h(ctx, data) }
	}
	return map[api.Verb]verbSpec{
		// A start is made by the owner of the id's shard, which decides
		// once the id is known (it may be generated here).
		api.VerbStart: {handle: s.start},
		// Messages to an instance: any server sends them; the provider
		// routes them to the owner.
		api.VerbRaise:     {handle: here(s.raise)},
		api.VerbTerminate: {handle: here(s.terminate)},
		api.VerbSuspend:   {handle: here(s.suspend)},
		api.VerbResume:    {handle: here(s.resume)},
		// Reads of one instance's store: its owner answers.
		api.VerbStatus:  {byOwner: true, handle: here(s.status)},
		api.VerbWait:    {byOwner: true, handle: here(s.wait)},
		api.VerbHistory: {byOwner: true, handle: here(s.history)},
		api.VerbPurge:   {byOwner: true, handle: here(s.purge)},
		// A client's list asks every shard's owner; a forwarded one lists
		// this server's shards.
		api.VerbList: {handle: func(ctx context.Context, data []byte, forwarded bool) (any, error) {
			if forwarded {
				return s.listForShard(ctx, data)
			}
			return s.list(ctx, data)
		}},
		// Any orchestrator answers with what it sees.
		api.VerbCluster: {handle: here(s.cluster)},
	}
}

// handle decodes, validates and runs one request, as the verb table says.
func (s *Server) handle(ctx context.Context, verb api.Verb, data []byte, forwarded bool) (any, error) {
	spec, ok := s.verbs[verb]
	if !ok {
		return nil, api.Errorf(api.CodeBadRequest, "unknown verb %q: the API has %s", verb, verbList())
	}
	if spec.byOwner {
		if reply, routed, err := s.routeToOwner(ctx, verb, data, forwarded); routed {
			return reply, err
		}
	}
	return spec.handle(ctx, data, forwarded)
}

// routeToOwner forwards a client's request about an instance whose shard
// another server owns (routed: its reply, relayed, or the error); a request
// this server answers is not routed. A request forwarded here about a shard
// this server does not own (any more) is answered with unavailable: the
// client retries and reaches the new owner.
func (s *Server) routeToOwner(ctx context.Context, verb api.Verb, data []byte, forwarded bool) (reply any, routed bool, err error) {
	req, shard, local := s.ownerOf(data)
	switch {
	case local:
		return nil, false, nil
	case forwarded:
		return nil, true, api.Errorf(api.CodeUnavailable, "this orchestrator does not run shard %d of instance %q; retry", shard, req.ID)
	}
	timeout := forwardTimeout
	if verb == api.VerbWait {
		timeout += api.WaitRequest{TimeoutMS: req.TimeoutMS}.Timeout()
	}
	body, err := s.forward(ctx, shard, verb, data, timeout)
	if err != nil {
		return nil, true, err
	}
	return relayed(body), true, nil
}

func verbList() string {
	vs := api.Verbs()
	names := make([]string, len(vs))
	for i, v := range vs {
		names[i] = string(v)
	}
	return strings.Join(names, ", ")
}

// respond sends reply, or the error reply for err.
func (s *Server) respond(r request, reply any, err error) {
	m, verb := r.m, r.verb
	var body []byte
	code := outcomeOK
	if rel, ok := reply.(relayed); ok && err == nil {
		body, code = rel, replyCode(rel)
	} else if err != nil {
		ae := toAPIError(err)
		code = string(ae.Code)
		if ae.Code == api.CodeInternal {
			s.log.Error("api request failed", "verb", verb, "err", err)
		} else {
			s.log.Debug("api request rejected", "verb", verb, "code", ae.Code, "err", ae.Message)
		}
		body, _ = json.Marshal(api.ErrorReply{Error: ae})
	} else {
		var merr error
		body, merr = json.Marshal(reply)
		if merr != nil {
			s.log.Error("encode api reply", "verb", verb, "err", merr)
			body, _ = json.Marshal(api.ErrorReply{Error: api.Errorf(api.CodeInternal, "encode reply: %v", merr)})
		}
	}
	if max := s.nc.MaxPayload(); max > 0 && int64(len(body)) > max {
		// Never drop a reply: say why there is none.
		s.log.Warn("api reply too large", "verb", verb, "bytes", len(body), "max_payload", max)
		ae := api.Errorf(api.CodePayloadTooLarge, "the reply is %d bytes, more than the NATS max_payload of %d; ask for a smaller page (limit)", len(body), max)
		code = string(ae.Code)
		body, _ = json.Marshal(api.ErrorReply{Error: ae})
	}
	if m.Reply == "" {
		if err != nil {
			s.log.Warn("api request without a reply subject failed", "verb", verb, "err", err)
		}
		s.report(r, code)
		return
	}
	if err := m.Respond(body); err != nil {
		s.log.Warn("send api reply", "verb", verb, "err", err)
		code = outcomeReplyFailed
	}
	s.report(r, code)
}

// outcomeReplyFailed is the code [Options.OnReply] reports for a reply that
// could not be sent (the client received nothing).
const outcomeReplyFailed = "reply_failed"

// report tells Options.OnReply what the client of r received.
func (s *Server) report(r request, code string) {
	if !r.forwarded {
		s.opts.OnReply(verbLabel(r.verb), code)
	}
}

// replyMargin is what a reply page leaves of the connection's max payload
// for everything but its items (the envelope, the cursor, headers).
const replyMargin = 64 << 10

// replyBudget is how many bytes of items (events, instances) one reply page
// may carry.
func (s *Server) replyBudget() int {
	max := int(s.nc.MaxPayload())
	if s.opts.MaxReplyBytes > 0 && (max <= 0 || s.opts.MaxReplyBytes < max) {
		max = s.opts.MaxReplyBytes
	}
	if max <= 0 {
		max = 1 << 20 // not connected yet: the NATS default
	}
	return max - min(replyMargin, max/2)
}

// verbLabel bounds the verb reported to Options.OnReply: a subject under
// <prefix>.api naming no verb is reported as "unknown".
func verbLabel(v api.Verb) string {
	if slices.Contains(api.Verbs(), v) {
		return string(v)
	}
	return "unknown"
}

// decode parses a request body with the API's rules (api.DecodeRequest).
func decode(data []byte, v any) error { return api.DecodeRequest(data, v) }

// ServeShard starts answering the requests other servers forward for shard.
// Call it once the shard is served here (its store caught up); a shard
// already served is left as it is.
func (s *Server) ServeShard(shard int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started || s.stopped || s.shardSubs[shard] != nil {
		return nil
	}
	subject := shardWildcardPrefix(s.opts.Prefix, shard) + "*"
	sub, err := s.nc.QueueSubscribe(subject, QueueGroup, func(m *nats.Msg) { s.onRequest(m, true) })
	if err != nil {
		return fmt.Errorf("apiserver: subscribe %s: %w", subject, err)
	}
	if err := sub.SetPendingLimits(64*1024, 512<<20); err != nil {
		s.log.Warn("set pending limits", "subject", subject, "err", err)
	}
	s.shardSubs[shard] = sub
	return nil
}

// UnserveShard stops answering the requests forwarded for shard: the ones
// already received are answered, then the subscription ends. Call it before
// the shard is released.
func (s *Server) UnserveShard(shard int) {
	s.mu.Lock()
	sub := s.shardSubs[shard]
	delete(s.shardSubs, shard)
	s.mu.Unlock()
	if sub == nil {
		return
	}
	closed := sub.StatusChanged(nats.SubscriptionClosed)
	if err := sub.Drain(); err != nil {
		s.log.Warn("drain shard subscription", "shard", shard, "err", err)
		return
	}
	select {
	case <-closed:
	case <-time.After(forwardTimeout):
	}
}

// ownedNow lists the shards this server's provider serves now, in order.
func (s *Server) ownedNow() []int {
	var owned []int
	for shard := range s.opts.Shards {
		if s.sharding.OwnsShard(shard) {
			owned = append(owned, shard)
		}
	}
	return owned
}
