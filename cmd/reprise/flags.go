package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/reprise/reprise/client"
)

// Defaults and environment variables of the connection flags.
const (
	defaultServer = "nats://127.0.0.1:4222"
	envServer     = "REPRISE_NATS_URL"
	envCreds      = "REPRISE_NATS_CREDS"
	envPrefix     = "REPRISE_PREFIX"
)

// errHelp reports that -h was asked for and the usage printed.
var errHelp = errors.New("help requested")

// common holds the flags every command takes.
type common struct {
	server  string
	creds   string
	prefix  string
	json    bool
	timeout time.Duration
}

// commandLine is one command's flag set plus the common flags.
type commandLine struct {
	fs     *flag.FlagSet
	common common
}

// newCommandLine returns the flag set of a command; spec is its usage line
// after "reprise <name>".
func newCommandLine(name, spec, summary string, e env) *commandLine {
	cl := &commandLine{fs: flag.NewFlagSet(name, flag.ContinueOnError)}
	fs := cl.fs
	fs.SetOutput(e.stderr)
	server := e.getenv(envServer)
	if server == "" {
		server = defaultServer
	}
	fs.StringVar(&cl.common.server, "server", server, "NATS server URL (env "+envServer+")")
	fs.StringVar(&cl.common.creds, "creds", e.getenv(envCreds), "NATS credentials file (env "+envCreds+")")
	prefix := e.getenv(envPrefix)
	if prefix == "" {
		prefix = "reprise"
	}
	fs.StringVar(&cl.common.prefix, "prefix", prefix, "subject prefix of the deployment (env "+envPrefix+")")
	fs.BoolVar(&cl.common.json, "json", false, "print JSON instead of a table")
	fs.DurationVar(&cl.common.timeout, "request-timeout", client.DefaultRequestTimeout, "timeout of each request")
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "usage: reprise %s %s\n\n%s\n\nflags:\n", name, spec, summary)
		fs.PrintDefaults()
	}
	return cl
}

// parse parses args, allowing flags before, between and after positional
// arguments, and checks the number of positional arguments is within
// [minArgs, maxArgs] (maxArgs < 0: unbounded).
func (cl *commandLine) parse(args []string, minArgs, maxArgs int) ([]string, error) {
	pos, err := parseInterspersed(cl.fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return nil, errHelp
	}
	if err != nil {
		return nil, errUsage // the flag package printed the error and usage
	}
	if len(pos) < minArgs || (maxArgs >= 0 && len(pos) > maxArgs) {
		fmt.Fprintf(cl.fs.Output(), "reprise %s: wrong number of arguments: %q\n", cl.fs.Name(), pos)
		cl.fs.Usage()
		return nil, errUsage
	}
	return pos, nil
}

// usagef reports a bad flag value after parsing.
func (cl *commandLine) usagef(format string, args ...any) error {
	fmt.Fprintf(cl.fs.Output(), "reprise %s: %s\n", cl.fs.Name(), fmt.Sprintf(format, args...))
	return errUsage
}

// parseInterspersed parses flags anywhere in args and returns the
// positional arguments in order. Everything after "--" is positional.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// connect opens the NATS connection and the client; close closes the
// connection.
func (c *common) connect() (cl *client.Client, closeFn func(), err error) {
	nc, err := c.dial()
	if err != nil {
		return nil, nil, err
	}
	return client.New(nc, client.WithPrefix(c.prefix), client.WithRequestTimeout(c.timeout)), nc.Close, nil
}

// dial opens the NATS connection.
func (c *common) dial(extra ...nats.Option) (*nats.Conn, error) {
	opts := append([]nats.Option{nats.Name("reprise-cli")}, extra...)
	if c.creds != "" {
		opts = append(opts, nats.UserCredentials(c.creds))
	}
	nc, err := nats.Connect(c.server, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", c.server, err)
	}
	return nc, nil
}

// jsonValue reads a JSON value given inline or as @file (@- for stdin).
func jsonValue(what, v string, stdin io.Reader, readFile func(string) ([]byte, error)) ([]byte, error) {
	if v == "" {
		return nil, nil
	}
	data := []byte(v)
	if name, ok := strings.CutPrefix(v, "@"); ok {
		var err error
		if name == "-" {
			data, err = io.ReadAll(stdin)
		} else {
			data, err = readFile(name)
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", what, err)
		}
	}
	data = []byte(strings.TrimSpace(string(data)))
	if len(data) == 0 {
		return nil, nil
	}
	if !jsonValid(data) {
		return nil, fmt.Errorf("%s is not valid JSON: %s (quote strings: '\"world\"')", what, shorten(string(data), 60))
	}
	return data, nil
}
