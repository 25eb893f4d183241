package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/reprise/reprise/api"
	"github.com/reprise/reprise/client"
)

// command is one subcommand.
type command struct {
	name, spec, summary string
	run                 func(ctx context.Context, args []string, e env) error
}

// commands returns the subcommands in the order the usage lists them.
func commands() []command {
	return []command{
		{"start", "<orchestration> [--input JSON] [--id ID] [--start-at TIME] [--wait]", "Start an orchestration and print its instance id (or, with --wait, its output).", runStart},
		{"raise", "<id> <event> [--payload JSON] [--request-id ID]", "Raise an external event on an instance.", runRaise},
		{"terminate", "<id> [--reason TEXT] [--request-id ID]", "Terminate an instance and its sub-orchestrations (a Scheduled one never runs).", controlRunner("terminate", (*client.Client).Terminate)},
		{"suspend", "<id> [--reason TEXT] [--request-id ID]", "Suspend an instance until it is resumed.", controlRunner("suspend", (*client.Client).Suspend)},
		{"resume", "<id> [--reason TEXT] [--request-id ID]", "Resume a suspended instance.", controlRunner("resume", (*client.Client).Resume)},
		{"status", "<id>", "Show an instance's status.", runStatus},
		{"wait", "<id> [--timeout DURATION]", "Wait for an instance to finish and print its output.", runWait},
		{"list", "[--status STATUS] [--name NAME] [--limit N] [--all]", "List instances.", runList},
		{"history", "<id> [--partition N]", "Show an instance's history (for debugging).", runHistory},
		{"purge", "<id>", "Delete a finished or Scheduled instance.", runPurge},
		{"cluster", "", "Show which orchestrator runs which shard.", runCluster},
		{"ui", "[--addr HOST:PORT] [--read-only]", "Serve the web UI of the deployment until interrupted.", runUI},
	}
}

func lookup(name string) (command, bool) {
	for _, c := range commands() {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

func printUsage(w io.Writer) {
	fmt.Fprintf(w, "reprise drives a Reprise orchestration engine over NATS.\n\nusage: reprise <command> [arguments] [flags]\n\ncommands:\n")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nEvery command takes --server URL (env %s, default %s), --prefix, --creds and --json.\n"+
		"JSON arguments may be given inline or as @file (@- reads stdin).\n"+
		"Run \"reprise <command> -h\" for a command's flags.\n", envServer, defaultServer)
}

// newCommandFor builds the command line of the named command.
func newCommandFor(name string, e env) *commandLine {
	c, _ := lookup(name)
	return newCommandLine(name, c.spec, c.summary, e)
}

// startArgs is a parsed start command.
type startArgs struct {
	common
	name    string
	input   json.RawMessage
	opts    []client.StartOption
	wait    bool
	timeout time.Duration
	// Parsed options, kept for tests.
	id, version string
	startAt     time.Time
	reuse       client.ReusePolicy
	retention   time.Duration
}

func parseStart(args []string, e env) (*startArgs, error) {
	cl := newCommandFor("start", e)
	a := &startArgs{}
	var input, startAt, reuse string
	cl.fs.StringVar(&input, "input", "", "input as JSON, or @file (@- for stdin)")
	cl.fs.StringVar(&a.id, "id", "", "instance id (default: generated)")
	cl.fs.StringVar(&a.version, "version", "", "orchestration version (default: the latest)")
	cl.fs.StringVar(&startAt, "start-at", "", "delay the start until this RFC 3339 time, or by a duration such as 10m (the instance is Scheduled until then)")
	cl.fs.StringVar(&reuse, "reuse", "", "if the id is in use: reject (default) or replace_finished")
	cl.fs.DurationVar(&a.retention, "retention", 0, "keep the instance this long after it finishes, 1s to 100 years (default: the server's -retention)")
	cl.fs.BoolVar(&a.wait, "wait", false, "wait for the instance to finish and print its output")
	cl.fs.DurationVar(&a.timeout, "timeout", 0, "with --wait: give up after this long (default: never)")
	pos, err := cl.parse(args, 1, 1)
	if err != nil {
		return nil, err
	}
	a.common, a.name = cl.common, pos[0]
	if a.input, err = jsonValue("--input", input, e.stdin, os.ReadFile); err != nil {
		return nil, cl.usagef("%v", err)
	}
	if startAt != "" {
		if a.startAt, err = parseStartAt(startAt, e.now()); err != nil {
			return nil, cl.usagef("--start-at: %v", err)
		}
		a.opts = append(a.opts, client.WithStartAt(a.startAt))
	}
	switch p := client.ReusePolicy(reuse); p {
	case "":
	case client.ReuseReject, client.ReuseReplaceFinished:
		a.reuse = p
		a.opts = append(a.opts, client.WithReusePolicy(p))
	default:
		return nil, cl.usagef("--reuse %q: want %s or %s", reuse, client.ReuseReject, client.ReuseReplaceFinished)
	}
	if a.id != "" {
		a.opts = append(a.opts, client.WithID(a.id))
	}
	if a.retention != 0 {
		if err := api.CheckRetention(a.retention); err != nil {
			return nil, cl.usagef("--retention: %v", err)
		}
		a.opts = append(a.opts, client.WithRetention(a.retention))
	}
	if a.version != "" {
		a.opts = append(a.opts, client.WithVersion(a.version))
	}
	if a.timeout < 0 || (a.timeout > 0 && !a.wait) {
		return nil, cl.usagef("--timeout needs --wait and a positive duration")
	}
	return a, nil
}

// parseStartAt parses an RFC 3339 time or a duration from now.
func parseStartAt(v string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time nor a positive duration", v)
	}
	return now.Add(d), nil
}

func runStart(ctx context.Context, args []string, e env) error {
	a, err := parseStart(args, e)
	if err != nil {
		return err
	}
	c, closeConn, err := a.connect()
	if err != nil {
		return err
	}
	defer closeConn()
	var input any
	if a.input != nil {
		input = a.input
	}
	id, err := c.Start(ctx, a.name, input, a.opts...)
	if err != nil {
		return err
	}
	if a.wait && !a.json {
		// Say what was started before waiting, so that a wait that fails
		// still leaves the id to ask about.
		fmt.Fprintf(e.stderr, "started %s\n", id)
	}
	if !a.wait {
		if a.json {
			return writeJSON(e.stdout, map[string]string{"id": id})
		}
		fmt.Fprintln(e.stdout, id)
		return nil
	}
	return waitAndPrint(ctx, c, id, a.timeout, a.json, e)
}

// raiseArgs is a parsed raise command.
type raiseArgs struct {
	common
	id, event string
	payload   json.RawMessage
	requestID string
}

func parseRaise(args []string, e env) (*raiseArgs, error) {
	cl := newCommandFor("raise", e)
	var payload string
	cl.fs.StringVar(&payload, "payload", "", "event payload as JSON, or @file (@- for stdin)")
	var requestID string
	cl.fs.StringVar(&requestID, "request-id", "", requestIDUsage)
	pos, err := cl.parse(args, 2, 2)
	if err != nil {
		return nil, err
	}
	a := &raiseArgs{common: cl.common, id: pos[0], event: pos[1], requestID: requestID}
	if a.payload, err = jsonValue("--payload", payload, e.stdin, os.ReadFile); err != nil {
		return nil, cl.usagef("%v", err)
	}
	return a, nil
}

func runRaise(ctx context.Context, args []string, e env) error {
	a, err := parseRaise(args, e)
	if err != nil {
		return err
	}
	c, closeConn, err := a.connect()
	if err != nil {
		return err
	}
	defer closeConn()
	var payload any
	if a.payload != nil {
		payload = a.payload
	}
	rid := requestIDOrNew(a.requestID)
	if err := c.RaiseEvent(ctx, a.id, a.event, payload, client.WithRequestID(rid)); err != nil {
		return withRetryHint(err, rid)
	}
	return done(e, a.json, fmt.Sprintf("raised %s on %s", a.event, a.id))
}

// controlArgs is a parsed terminate, suspend or resume command.
type controlArgs struct {
	common
	id, reason, requestID string
}

func parseControl(name string, args []string, e env) (*controlArgs, error) {
	cl := newCommandFor(name, e)
	var reason string
	cl.fs.StringVar(&reason, "reason", "", "reason, recorded in the history")
	var requestID string
	cl.fs.StringVar(&requestID, "request-id", "", requestIDUsage)
	pos, err := cl.parse(args, 1, 1)
	if err != nil {
		return nil, err
	}
	return &controlArgs{common: cl.common, id: pos[0], reason: reason, requestID: requestID}, nil
}

// requestIDUsage documents --request-id.
const requestIDUsage = "request id making a retry of this command safe: the server records the request once (default: a new one, printed if the command fails)"

// requestIDOrNew returns the given request id, or a new one.
func requestIDOrNew(id string) string {
	if id == "" {
		return client.NewRequestID()
	}
	return id
}

// withRetryHint adds to a failed request whose outcome is unknown (no
// reply, unavailable) how to retry it safely.
func withRetryHint(err error, requestID string) error {
	if errors.Is(err, client.ErrTimeout) || errors.Is(err, client.ErrUnavailable) {
		return &hintError{err: err, hint: "it may have been recorded: run the command again with --request-id " + requestID + " to have it recorded once"}
	}
	return err
}

// hintError is an error with advice printed on a line of its own.
type hintError struct {
	err  error
	hint string
}

func (e *hintError) Error() string { return e.err.Error() }
func (e *hintError) Unwrap() error { return e.err }

func controlRunner(name string, call func(*client.Client, context.Context, string, string, ...client.RequestOption) error) func(context.Context, []string, env) error {
	return func(ctx context.Context, args []string, e env) error {
		a, err := parseControl(name, args, e)
		if err != nil {
			return err
		}
		c, closeConn, err := a.connect()
		if err != nil {
			return err
		}
		defer closeConn()
		rid := requestIDOrNew(a.requestID)
		if err := call(c, ctx, a.id, a.reason, client.WithRequestID(rid)); err != nil {
			return withRetryHint(err, rid)
		}
		return done(e, a.json, fmt.Sprintf("%s requested for %s", name, a.id))
	}
}

// idArgs is a parsed command whose only argument is an instance id.
type idArgs struct {
	common
	id string
}

func parseID(name string, args []string, e env) (*idArgs, error) {
	cl := newCommandFor(name, e)
	pos, err := cl.parse(args, 1, 1)
	if err != nil {
		return nil, err
	}
	return &idArgs{common: cl.common, id: pos[0]}, nil
}

func runStatus(ctx context.Context, args []string, e env) error {
	a, err := parseID("status", args, e)
	if err != nil {
		return err
	}
	c, closeConn, err := a.connect()
	if err != nil {
		return err
	}
	defer closeConn()
	st, err := c.Status(ctx, a.id)
	if err != nil {
		return err
	}
	if a.json {
		return writeJSON(e.stdout, st)
	}
	return writeStatus(e.stdout, st)
}

func runPurge(ctx context.Context, args []string, e env) error {
	a, err := parseID("purge", args, e)
	if err != nil {
		return err
	}
	c, closeConn, err := a.connect()
	if err != nil {
		return err
	}
	defer closeConn()
	if err := c.Purge(ctx, a.id); err != nil {
		return err
	}
	return done(e, a.json, "purged "+a.id)
}

// waitArgs is a parsed wait command.
type waitArgs struct {
	common
	id      string
	timeout time.Duration
}

func parseWait(args []string, e env) (*waitArgs, error) {
	cl := newCommandFor("wait", e)
	a := &waitArgs{}
	cl.fs.DurationVar(&a.timeout, "timeout", 0, "give up after this long (default: never)")
	pos, err := cl.parse(args, 1, 1)
	if err != nil {
		return nil, err
	}
	if a.timeout < 0 {
		return nil, cl.usagef("--timeout must not be negative")
	}
	a.common, a.id = cl.common, pos[0]
	return a, nil
}

func runWait(ctx context.Context, args []string, e env) error {
	a, err := parseWait(args, e)
	if err != nil {
		return err
	}
	c, closeConn, err := a.connect()
	if err != nil {
		return err
	}
	defer closeConn()
	return waitAndPrint(ctx, c, a.id, a.timeout, a.json, e)
}

// waitAndPrint waits for id (with a live progress line on a terminal) and
// prints the result: the output of a completed instance, the status object
// with --json. An instance that did not complete is errInstanceFailed.
func waitAndPrint(ctx context.Context, c *client.Client, id string, timeout time.Duration, asJSON bool, e env) error {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	var opts []client.WaitOption
	stopProgress := func() {}
	if e.stderrIsTTY {
		p := startProgress(e.stderr, id, e.now)
		stopProgress = p.stop
		opts = append(opts, client.WithProgress(p.update))
	}
	st, err := c.Wait(ctx, id, opts...)
	// Clear the progress line before anything else is printed.
	stopProgress()
	if err != nil {
		if timeout > 0 && errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("gave up after %s: instance %q has not finished (or does not exist)", timeout, id)
		}
		return err
	}
	return writeFinal(e.stdout, e.stderr, st, asJSON)
}

// listArgs is a parsed list command.
type listArgs struct {
	common
	query client.ListQuery
	all   bool
}

func parseList(args []string, e env) (*listArgs, error) {
	cl := newCommandFor("list", e)
	a := &listArgs{}
	var status string
	cl.fs.StringVar(&status, "status", "", "only instances in this status (Running, Completed, Failed, ...)")
	cl.fs.StringVar(&a.query.Name, "name", "", "only instances of this orchestration")
	cl.fs.StringVar(&a.query.Parent, "parent", "", "only sub-orchestrations of this instance")
	cl.fs.StringVar(&a.query.Cursor, "cursor", "", "continue from a previous page")
	cl.fs.IntVar(&a.query.Limit, "limit", 0, "page size (default: the server's)")
	cl.fs.BoolVar(&a.all, "all", false, "fetch every page")
	if _, err := cl.parse(args, 0, 0); err != nil {
		return nil, err
	}
	a.common = cl.common
	if status != "" {
		st, ok := parseStatus(status)
		if !ok {
			return nil, cl.usagef("--status %q: want one of %v", status, client.Statuses())
		}
		a.query.Status = st
	}
	if a.query.Limit < 0 {
		return nil, cl.usagef("--limit must not be negative")
	}
	return a, nil
}

// parseStatus accepts a status in any letter case.
func parseStatus(v string) (client.Status, bool) {
	for _, s := range client.Statuses() {
		if strings.EqualFold(string(s), v) {
			return s, true
		}
	}
	return "", false
}

func runList(ctx context.Context, args []string, e env) error {
	a, err := parseList(args, e)
	if err != nil {
		return err
	}
	c, closeConn, err := a.connect()
	if err != nil {
		return err
	}
	defer closeConn()
	page := &client.ListPage{}
	if a.all {
		q, missing := a.query, map[int]bool{}
		for {
			p, err := c.List(ctx, q)
			if err != nil {
				return err
			}
			page.Instances = append(page.Instances, p.Instances...)
			for _, s := range p.UnreachableShards {
				if !missing[s] {
					missing[s] = true
					page.UnreachableShards = append(page.UnreachableShards, s)
				}
			}
			if p.NextCursor == "" || p.NextCursor == q.Cursor {
				break
			}
			q.Cursor = p.NextCursor
		}
	} else if page, err = c.List(ctx, a.query); err != nil {
		return err
	}
	if a.json {
		return writeJSON(e.stdout, listJSON{Instances: nonNil(page.Instances), NextCursor: page.NextCursor,
			UnreachableShards: page.UnreachableShards})
	}
	if err := writeList(e.stdout, page.Instances); err != nil {
		return err
	}
	if len(page.UnreachableShards) > 0 {
		fmt.Fprintf(e.stderr, "incomplete: no orchestrator answered for shards %v now; their instances are missing (list again later)\n",
			page.UnreachableShards)
	}
	if page.NextCursor != "" {
		fmt.Fprintf(e.stderr, "more: reprise list --cursor %s (or --all)\n", strconv.Quote(page.NextCursor))
	}
	return nil
}

// historyArgs is a parsed history command.
type historyArgs struct {
	common
	id        string
	partition *uint64
}

func parseHistory(args []string, e env) (*historyArgs, error) {
	cl := newCommandFor("history", e)
	var partition string
	cl.fs.StringVar(&partition, "partition", "", "execution number (default: the current one)")
	pos, err := cl.parse(args, 1, 1)
	if err != nil {
		return nil, err
	}
	a := &historyArgs{common: cl.common, id: pos[0]}
	if partition != "" {
		n, err := strconv.ParseUint(partition, 10, 64)
		if err != nil {
			return nil, cl.usagef("--partition %q is not a non-negative integer", partition)
		}
		a.partition = &n
	}
	return a, nil
}

func runHistory(ctx context.Context, args []string, e env) error {
	a, err := parseHistory(args, e)
	if err != nil {
		return err
	}
	c, closeConn, err := a.connect()
	if err != nil {
		return err
	}
	defer closeConn()
	var evs []client.Event
	if a.partition != nil {
		evs, err = c.PartitionHistory(ctx, a.id, *a.partition)
	} else {
		evs, err = c.History(ctx, a.id)
	}
	if err != nil {
		return err
	}
	if a.json {
		return writeJSON(e.stdout, historyJSON{Events: nonNil(evs)})
	}
	return writeHistory(e.stdout, evs)
}

// done acknowledges a command without a result: a line of text, or {} with
// --json.
func done(e env, asJSON bool, text string) error {
	if asJSON {
		return writeJSON(e.stdout, struct{}{})
	}
	fmt.Fprintln(e.stdout, text)
	return nil
}

func runCluster(ctx context.Context, args []string, e env) error {
	cl := newCommandFor("cluster", e)
	if _, err := cl.parse(args, 0, 0); err != nil {
		return err
	}
	c, closeConn, err := cl.common.connect()
	if err != nil {
		return err
	}
	defer closeConn()
	info, err := c.Cluster(ctx)
	if err != nil {
		return err
	}
	if cl.common.json {
		return writeJSON(e.stdout, info)
	}
	return writeCluster(e.stdout, info)
}
