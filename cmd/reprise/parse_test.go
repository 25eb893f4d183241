package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/reprise/reprise/client"
)

var testNow = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func testEnv(vars map[string]string) (env, *bytes.Buffer, *bytes.Buffer) {
	var out, errOut bytes.Buffer
	return env{
		stdout: &out, stderr: &errOut, stdin: strings.NewReader(`{"from":"stdin"}`),
		getenv: func(k string) string { return vars[k] },
		now:    func() time.Time { return testNow },
	}, &out, &errOut
}

func TestParseInterspersedAcceptsFlagsAnywhere(t *testing.T) {
	for _, tc := range []struct {
		args []string
		pos  []string
		wait bool
		id   string
	}{
		{[]string{"hello", "--wait"}, []string{"hello"}, true, ""},
		{[]string{"--wait", "hello", "--id", "x"}, []string{"hello"}, true, "x"},
		{[]string{"-id=x", "hello"}, []string{"hello"}, false, "x"},
		{[]string{"hello", "--", "--wait"}, []string{"hello", "--wait"}, false, ""},
		{nil, nil, false, ""},
	} {
		e, _, _ := testEnv(nil)
		cl := newCommandFor("start", e)
		var wait bool
		var id string
		cl.fs.BoolVar(&wait, "wait", false, "")
		cl.fs.StringVar(&id, "id", "", "")
		pos, err := parseInterspersed(cl.fs, tc.args)
		if err != nil || !slices.Equal(pos, tc.pos) || wait != tc.wait || id != tc.id {
			t.Errorf("%q: pos %q wait %v id %q err %v; want %q %v %q", tc.args, pos, wait, id, err, tc.pos, tc.wait, tc.id)
		}
	}
}

func TestParseStart(t *testing.T) {
	e, _, _ := testEnv(map[string]string{envServer: "nats://nats.example:4222", envPrefix: "acme"})
	a, err := parseStart([]string{"saga", "--input", ` {"item": "book"} `, "--id", "o-1", "--version", "v2",
		"--start-at", "10m", "--reuse", "replace_finished", "--retention", "48h", "--wait", "--timeout", "1m", "--json"}, e)
	if err != nil {
		t.Fatal(err)
	}
	if a.name != "saga" || string(a.input) != `{"item": "book"}` || a.id != "o-1" || a.version != "v2" ||
		!a.startAt.Equal(testNow.Add(10*time.Minute)) || a.reuse != client.ReuseReplaceFinished || !a.wait ||
		a.timeout != time.Minute || !a.json || a.server != "nats://nats.example:4222" || a.prefix != "acme" || a.retention != 48*time.Hour {
		t.Fatalf("parsed %+v", a)
	}
	if len(a.opts) != 5 {
		t.Fatalf("%d start options, want 5", len(a.opts))
	}

	e, _, _ = testEnv(nil)
	a, err = parseStart([]string{"hello", "--input", "@-", "--start-at", "2031-05-06T07:08:09Z"}, e)
	if err != nil {
		t.Fatal(err)
	}
	if string(a.input) != `{"from":"stdin"}` || a.server != defaultServer || a.prefix != "reprise" || a.startAt.Year() != 2031 {
		t.Fatalf("parsed %+v", a)
	}
}

func TestParseRejectsBadCommandLines(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"start", nil, "wrong number of arguments"},
		{"start", []string{"a", "b"}, "wrong number of arguments"},
		{"start", []string{"hello", "--input", "world"}, "not valid JSON"},
		{"start", []string{"hello", "--reuse", "always"}, "--reuse"},
		{"start", []string{"hello", "--start-at", "tomorrow"}, "--start-at"},
		{"start", []string{"hello", "--retention", "10ms"}, "--retention"},
		{"start", []string{"hello", "--retention", "a week"}, "retention"},
		{"start", []string{"hello", "--timeout", "5s"}, "--timeout needs --wait"},
		{"start", []string{"hello", "--bogus"}, "flag provided but not defined"},
		{"raise", []string{"id"}, "wrong number of arguments"},
		{"raise", []string{"id", "ev", "--payload", "{"}, "not valid JSON"},
		{"list", []string{"--status", "Sleeping"}, "--status"},
		{"list", []string{"extra"}, "wrong number of arguments"},
		{"history", []string{"id", "--partition", "-1"}, "--partition"},
		{"wait", []string{"id", "--timeout", "-1s"}, "--timeout"},
		{"terminate", nil, "wrong number of arguments"},
	} {
		e, _, errOut := testEnv(nil)
		cmd, _ := lookup(tc.name)
		err := cmd.run(t.Context(), tc.args, e)
		if !errors.Is(err, errUsage) || !strings.Contains(errOut.String(), tc.want) {
			t.Errorf("%s %q: err %v, stderr %q; want a usage error mentioning %q", tc.name, tc.args, err, errOut, tc.want)
		}
	}
}

func TestParseOthers(t *testing.T) {
	e, _, _ := testEnv(nil)
	r, err := parseRaise([]string{"i1", "decision", "--payload", `{"approved":true}`}, e)
	if err != nil || r.id != "i1" || r.event != "decision" || string(r.payload) != `{"approved":true}` {
		t.Fatalf("raise: %+v, %v", r, err)
	}
	c, err := parseControl("terminate", []string{"--reason", "stop it", "i1"}, e)
	if err != nil || c.id != "i1" || c.reason != "stop it" {
		t.Fatalf("terminate: %+v, %v", c, err)
	}
	l, err := parseList([]string{"--status", "running", "--name", "hello", "--limit", "5", "--all"}, e)
	if err != nil || l.query != (client.ListQuery{Status: client.StatusRunning, Name: "hello", Limit: 5}) || !l.all {
		t.Fatalf("list: %+v, %v", l, err)
	}
	h, err := parseHistory([]string{"i1", "--partition", "0"}, e)
	if err != nil || h.partition == nil || *h.partition != 0 {
		t.Fatalf("history: %+v, %v", h, err)
	}
	h, err = parseHistory([]string{"i1"}, e)
	if err != nil || h.partition != nil {
		t.Fatalf("history: %+v, %v", h, err)
	}
	w, err := parseWait([]string{"i1", "--timeout", "2s"}, e)
	if err != nil || w.id != "i1" || w.timeout != 2*time.Second {
		t.Fatalf("wait: %+v, %v", w, err)
	}
}

func TestRunUsage(t *testing.T) {
	e, out, errOut := testEnv(nil)
	if code := run(t.Context(), nil, e); code != exitUsage || !strings.Contains(errOut.String(), "commands:") {
		t.Fatalf("no args: code %d stderr %q", code, errOut)
	}
	if code := run(t.Context(), []string{"help"}, e); code != exitOK || !strings.Contains(out.String(), "history") {
		t.Fatalf("help: code %d stdout %q", code, out)
	}
	errOut.Reset()
	if code := run(t.Context(), []string{"frobnicate"}, e); code != exitUsage || !strings.Contains(errOut.String(), `unknown command "frobnicate"`) {
		t.Fatalf("unknown: code %d stderr %q", code, errOut)
	}
	if code := run(t.Context(), []string{"status", "-h"}, e); code != exitOK {
		t.Fatalf("status -h: code %d", code)
	}
}

func TestJSONValueFromFile(t *testing.T) {
	read := func(name string) ([]byte, error) {
		if name == "in.json" {
			return []byte("[1, 2]\n"), nil
		}
		return nil, errors.New("no such file")
	}
	if v, err := jsonValue("--input", "@in.json", nil, read); err != nil || string(v) != "[1, 2]" {
		t.Fatalf("@in.json: %s, %v", v, err)
	}
	if _, err := jsonValue("--input", "@missing.json", nil, read); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("@missing.json: %v", err)
	}
	if v, err := jsonValue("--input", "", nil, read); err != nil || v != nil {
		t.Fatalf("empty: %s, %v", v, err)
	}
	var s string
	v, err := jsonValue("--input", `"world"`, nil, read)
	if err != nil || json.Unmarshal(v, &s) != nil || s != "world" {
		t.Fatalf(`"world": %s, %v`, v, err)
	}
}
