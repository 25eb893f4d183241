package ui_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/reprise/reprise/api"
	"github.com/reprise/reprise/client"
	"github.com/reprise/reprise/examples/approval"
	"github.com/reprise/reprise/runtime"
	"github.com/reprise/reprise/services/host"
)

// get fetches a UI page with c and returns its status and body.
func get(t *testing.T, c *http.Client, u string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(testContext(t), http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// post submits a form with c (no redirects followed) and returns the
// status, the body and the Location header.
func post(t *testing.T, c *http.Client, u string, form url.Values, header http.Header) (int, string, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(testContext(t), http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body), resp.Header.Get("Location")
}

// browserlessClient keeps cookies like a browser and does not follow
// redirects, so tests see them.
func browserlessClient(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func TestPagesCarryAStrictContentSecurityPolicy(t *testing.T) {
	n := startNode(t, nil)
	for _, path := range []string{"", "instance?id=nope", "start", "static/app.js"} {
		resp, err := http.Get(n.url + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		csp := resp.Header.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: Content-Security-Policy %q lacks %q", path, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
			t.Errorf("%s: Content-Security-Policy %q allows inline or eval", path, csp)
		}
		if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("%s: X-Content-Type-Options %q", path, got)
		}
	}
}

func TestActionsRefuseForgedRequests(t *testing.T) {
	n := startNode(t, nil)
	n.start(t, approval.Name, "req-1", approval.Request{Requester: "ann", Amount: 1, Timeout: "1h"})
	n.awaitStatus(t, "req-1", api.StatusRunning)
	c := browserlessClient(t)
	code, body := get(t, c, n.url+"instance?id=req-1")
	if code != http.StatusOK {
		t.Fatalf("instance page: %d", code)
	}
	m := csrfField.FindStringSubmatch(body)
	if m == nil {
		t.Fatal("no CSRF token in the action forms")
	}
	token := m[1]
	terminate := url.Values{"op": {"terminate"}, "id": {"req-1"}, "reason": {"forged"}, "confirm": {"yes"}}

	t.Run("no token", func(t *testing.T) {
		if code, body, _ := post(t, c, n.url+"action", terminate, nil); code != http.StatusForbidden || !strings.Contains(body, "CSRF token") {
			t.Fatalf("%d %s", code, body)
		}
	})
	t.Run("another token", func(t *testing.T) {
		f := url.Values{"csrf": {strings.Repeat("A", len(token))}}
		for k, v := range terminate {
			f[k] = v
		}
		if code, _, _ := post(t, c, n.url+"action", f, nil); code != http.StatusForbidden {
			t.Fatalf("status %d", code)
		}
	})
	t.Run("token without the cookie", func(t *testing.T) {
		f := url.Values{"csrf": {token}}
		for k, v := range terminate {
			f[k] = v
		}
		if code, _, _ := post(t, http.DefaultClient, n.url+"action", f, nil); code != http.StatusForbidden {
			t.Fatalf("status %d", code)
		}
	})
	t.Run("cross-origin", func(t *testing.T) {
		f := url.Values{"csrf": {token}}
		for k, v := range terminate {
			f[k] = v
		}
		h := http.Header{"Sec-Fetch-Site": {"cross-site"}, "Origin": {"https://evil.example"}}
		if code, body, _ := post(t, c, n.url+"action", f, h); code != http.StatusForbidden || !strings.Contains(body, "cross-origin") {
			t.Fatalf("%d %s", code, body)
		}
	})
	st, err := n.client.Status(testContext(t), "req-1")
	if err != nil || st.Status != api.StatusRunning {
		t.Fatalf("after forged terminates: %v, %v", st, err)
	}

	t.Run("the real form asks for confirmation, then acts", func(t *testing.T) {
		f := url.Values{"csrf": {token}, "op": {"terminate"}, "id": {"req-1"}, "reason": {"by the test"}}
		code, body, _ := post(t, c, n.url+"action", f, nil)
		if code != http.StatusOK || !strings.Contains(body, `id="confirm-summary"`) {
			t.Fatalf("%d %s", code, body)
		}
		if st, err := n.client.Status(testContext(t), "req-1"); err != nil || st.Status != api.StatusRunning {
			t.Fatalf("terminated before the confirmation: %v, %v", st, err)
		}
		f.Set("confirm", "yes")
		code, _, loc := post(t, c, n.url+"action", f, nil)
		if code != http.StatusSeeOther || loc != "/instance?done=terminate&id=req-1" && loc != "/instance?id=req-1&done=terminate" {
			t.Fatalf("%d, location %q", code, loc)
		}
		n.awaitStatus(t, "req-1", api.StatusTerminated)
	})
}

func TestBadActionInputIsRefusedWithTheReason(t *testing.T) {
	n := startNode(t, nil)
	c := browserlessClient(t)
	_, body := get(t, c, n.url+"start")
	token := csrfField.FindStringSubmatch(body)[1]
	for _, tc := range []struct {
		name string
		form url.Values
		code int
		want string
	}{
		{"payload not JSON", url.Values{"op": {"raise"}, "id": {"x"}, "event": {"e"}, "payload": {"{nope"}}, http.StatusBadRequest, "the payload is not valid JSON"},
		{"no event name", url.Values{"op": {"raise"}, "id": {"x"}}, http.StatusBadRequest, "the event name is required"},
		{"unknown op", url.Values{"op": {"explode"}, "id": {"x"}}, http.StatusBadRequest, "unknown action &#34;explode&#34;"},
		{"unknown orchestration", url.Values{"op": {"start"}, "name": {"nope"}, "confirm": {"yes"}}, http.StatusBadRequest, "start failed: unknown_orchestration: "},
		{"invalid id", url.Values{"op": {"terminate"}, "id": {"a\x01b"}, "confirm": {"yes"}}, http.StatusBadRequest, "terminate failed: invalid_instance_id: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.form.Set("csrf", token)
			code, body, _ := post(t, c, n.url+"action", tc.form, nil)
			if code != tc.code || !strings.Contains(body, tc.want) {
				t.Fatalf("%d, want %d with %q in\n%s", code, tc.code, tc.want, body)
			}
		})
	}
}

func TestReadOnlyOffersAndAcceptsNoAction(t *testing.T) {
	n := startNode(t, func(c *host.Config) { c.UIReadOnly = true })
	n.start(t, approval.Name, "req-1", approval.Request{Requester: "ann", Amount: 1, Timeout: "1h"})
	n.awaitStatus(t, "req-1", api.StatusRunning)
	c := browserlessClient(t)
	code, body := get(t, c, n.url+"instance?id=req-1")
	if code != http.StatusOK || strings.Contains(body, "<form method=\"post\"") || !strings.Contains(body, `id="read-only"`) {
		t.Fatalf("read-only instance page %d has action forms or no read-only badge:\n%s", code, body)
	}
	code, body, _ = post(t, c, n.url+"action", url.Values{"op": {"terminate"}, "id": {"req-1"}, "confirm": {"yes"}}, nil)
	if code != http.StatusForbidden || !strings.Contains(body, "read-only") {
		t.Fatalf("%d %s", code, body)
	}
	if st, err := n.client.Status(testContext(t), "req-1"); err != nil || st.Status != api.StatusRunning {
		t.Fatalf("%v, %v", st, err)
	}
}

func TestPagesEscapeWhatTheyShow(t *testing.T) {
	n := startNode(t, nil)
	evil := `</pre><script>alert("x")</script>`
	id := `id-<b>&"'`
	n.start(t, approval.Name, id, approval.Request{Requester: evil, Amount: 1, Timeout: "1h"})
	n.awaitStatus(t, id, api.StatusRunning)
	for _, page := range []string{"instance?id=" + url.QueryEscape(id), "?name=approval"} {
		_, body := get(t, http.DefaultClient, n.url+page)
		if strings.Contains(body, "<script>alert") || strings.Contains(body, "<b>&") {
			t.Fatalf("%s renders markup unescaped:\n%s", page, body)
		}
	}
	_, body := get(t, http.DefaultClient, n.url+"instance?id="+url.QueryEscape(id))
	if !strings.Contains(body, `&lt;/pre&gt;&lt;script&gt;alert(\&#34;x\&#34;)&lt;/script&gt;`) {
		t.Fatalf("the input is not shown as escaped text:\n%s", body)
	}
}

func TestListPagesThroughEveryInstanceOnce(t *testing.T) {
	n := startNode(t, nil)
	want := map[string]bool{}
	for _, id := range []string{"a-1", "a-2", "a-3", "b-1", "b-2", "a-4", "a-5"} {
		n.run(t, "hello", id, id)
		want[id] = true
	}
	rowID := regexp.MustCompile(`<tr data-id="([^"]+)">`)
	next := regexp.MustCompile(`<a href="([^"]+)" id="next">`)
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"?limit=3", []string{"a-1", "a-2", "a-3", "a-4", "a-5", "b-1", "b-2"}},
		{"?limit=2&id=a-", []string{"a-1", "a-2", "a-3", "a-4", "a-5"}},
		{"?limit=2&id=b-&status=Completed", []string{"b-1", "b-2"}},
		{"?status=Running", nil},
	} {
		t.Run(tc.query, func(t *testing.T) {
			var got []string
			page := n.url + tc.query
			for pages := 0; page != ""; pages++ {
				if pages > 10 {
					t.Fatalf("paging does not end: %v", got)
				}
				code, body := get(t, http.DefaultClient, page)
				if code != http.StatusOK {
					t.Fatalf("%s: %d\n%s", page, code, body)
				}
				for _, m := range rowID.FindAllStringSubmatch(body, -1) {
					got = append(got, m[1])
				}
				page = ""
				if m := next.FindStringSubmatch(body); m != nil {
					page = n.url + strings.TrimPrefix(strings.ReplaceAll(m[1], "&amp;", "&"), "./")
				}
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Fatalf("pages list %v, want %v", got, tc.want)
			}
		})
	}
	_, body := get(t, http.DefaultClient, n.url+"?id=a-")
	if !strings.Contains(body, `data-status="Completed">5<`) || !strings.Contains(body, `data-status="">5<`) {
		t.Fatalf("counts of the a- prefix are not 5:\n%s", body)
	}
	if code, body := get(t, http.DefaultClient, n.url+"?status=Bogus"); code != http.StatusBadRequest || !strings.Contains(body, "unknown status") {
		t.Fatalf("%d %s", code, body)
	}
}

func TestEventStreamForwardsStatusChanges(t *testing.T) {
	n := startNode(t, nil)
	n.start(t, approval.Name, "req-1", approval.Request{Requester: "ann", Amount: 1, Timeout: "1h"})
	n.awaitStatus(t, "req-1", api.StatusRunning)
	ctx, cancel := context.WithCancel(testContext(t))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, n.url+"events?id=req-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	lines := bufio.NewScanner(resp.Body)
	// next returns the data of the next status event.
	next := func() string {
		t.Helper()
		event := ""
		for lines.Scan() {
			line := lines.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: ") && event == "status":
				return strings.TrimPrefix(line, "data: ")
			}
		}
		t.Fatalf("stream ended: %v", lines.Err())
		return ""
	}
	if first := next(); !strings.Contains(first, `"status":"Running"`) {
		t.Fatalf("first event %s, want the current status", first)
	}
	if err := n.client.RaiseEvent(testContext(t), "req-1", approval.EventDecision, approval.Decision{Approved: false}); err != nil {
		t.Fatal(err)
	}
	for {
		data := next()
		if strings.Contains(data, `"status":"Completed"`) {
			break
		}
	}
}

// registerFamily registers "family": its first execution calls hello as
// the child fam-child, starts hello as fam-started (fire and forget) and
// continues as new; the second completes.
func registerFamily(reg *runtime.Registry) error {
	return runtime.RegisterOrchestration(reg, "family", func(ctx *runtime.OrchestrationContext, round int) (string, error) {
		if round > 0 {
			return "done", nil
		}
		var greeting string
		if err := ctx.CallSubOrchestration("hello", "kid", runtime.WithInstanceID("fam-child")).Await(&greeting); err != nil {
			return "", err
		}
		if err := ctx.StartOrchestration("hello", "fam-started", "other"); err != nil {
			return "", err
		}
		ctx.ContinueAsNew(round + 1)
		return "", nil
	})
}

func TestInstancePageLinksFamilyAndExecutions(t *testing.T) {
	n := startNode(t, nil, registerFamily)
	if st := n.run(t, "family", "fam", 0); st.Status != api.StatusCompleted || st.Partition != 1 {
		t.Fatalf("family ended %s in execution %d", st.Status, st.Partition)
	}
	_, body := get(t, http.DefaultClient, n.url+"instance?id=fam")
	for _, want := range []string{
		`<a href="instance?id=fam&amp;partition=0">execution 0</a>`,
		`<li class="active"><a href="instance?id=fam&amp;partition=1">execution 1</a>`,
	} {
		if !strings.Contains(body, want) {
			t.Fatalf("current execution page lacks %s:\n%s", want, body)
		}
	}
	_, body = get(t, http.DefaultClient, n.url+"instance?id=fam&partition=0")
	for _, want := range []string{
		`<a href="instance?id=fam-child">fam-child</a> <span class="muted">hello, sub-orchestration</span>`,
		`<a href="instance?id=fam-started">fam-started</a> <span class="muted">hello, started, fire and forget</span>`,
		`<g class="row child ok">`,
		"Timeline of execution 0",
	} {
		if !strings.Contains(body, want) {
			t.Fatalf("first execution page lacks %s:\n%s", want, body)
		}
	}
	_, body = get(t, http.DefaultClient, n.url+"instance?id=fam-child")
	if !strings.Contains(body, `<a href="instance?id=fam" id="parent">fam</a>`) {
		t.Fatalf("child page does not link its parent:\n%s", body)
	}
	if code, body := get(t, http.DefaultClient, n.url+"instance?id=fam&partition=7"); code != http.StatusBadRequest || !strings.Contains(body, "not an execution") {
		t.Fatalf("%d %s", code, body)
	}
}

func TestSuspendAndResumeFromTheForms(t *testing.T) {
	n := startNode(t, nil)
	n.start(t, approval.Name, "req-1", approval.Request{Requester: "ann", Amount: 1, Timeout: "1h"})
	n.awaitStatus(t, "req-1", api.StatusRunning)
	c := browserlessClient(t)
	act := func(op string) {
		t.Helper()
		_, body := get(t, c, n.url+"instance?id=req-1")
		if !strings.Contains(body, `id="`+op+`-form"`) {
			t.Fatalf("no %s form:\n%s", op, body)
		}
		token := csrfField.FindStringSubmatch(body)[1]
		f := url.Values{"csrf": {token}, "op": {op}, "id": {"req-1"}, "reason": {"test"}, "confirm": {"yes"}}
		if code, body, _ := post(t, c, n.url+"action", f, nil); code != http.StatusSeeOther {
			t.Fatalf("%s: %d %s", op, code, body)
		}
	}
	act("suspend")
	n.awaitStatus(t, "req-1", api.StatusSuspended)
	if _, body := get(t, c, n.url+"instance?id=req-1"); strings.Contains(body, `id="suspend-form"`) {
		t.Fatal("a suspended instance is offered suspend")
	}
	act("resume")
	n.awaitStatus(t, "req-1", api.StatusRunning)
}

// TestScheduledInstanceShowsItsStartAndOffersTerminateAndPurge: a start with
// a start time is listed under Scheduled, its page shows when it starts and
// offers terminate and purge (raise and suspend would be dropped); purge
// from the form deletes it.
func TestScheduledInstanceShowsItsStartAndOffersTerminateAndPurge(t *testing.T) {
	n := startNode(t, nil)
	at := time.Now().Add(time.Hour).UTC()
	if _, err := n.client.Start(testContext(t), approval.Name, approval.Request{Requester: "ann", Amount: 1, Timeout: "1h"},
		client.WithID("later-1"), client.WithStartAt(at)); err != nil {
		t.Fatal(err)
	}
	n.awaitStatus(t, "later-1", api.StatusScheduled)
	c := browserlessClient(t)
	_, body := get(t, c, n.url+"?status=Scheduled")
	if !strings.Contains(body, "later-1") {
		t.Fatalf("the Scheduled list does not show later-1:\n%s", body)
	}
	_, body = get(t, c, n.url+"instance?id=later-1")
	if !strings.Contains(body, `id="scheduled-at"`) || !strings.Contains(body, at.Format("2006-01-02")) {
		t.Fatalf("the page does not show the start time:\n%s", body)
	}
	for form, want := range map[string]bool{"terminate": true, "purge": true, "raise": false, "suspend": false} {
		if got := strings.Contains(body, `id="`+form+`-form"`); got != want {
			t.Errorf("%s form offered: %v, want %v", form, got, want)
		}
	}
	token := csrfField.FindStringSubmatch(body)[1]
	f := url.Values{"csrf": {token}, "op": {"purge"}, "id": {"later-1"}, "confirm": {"yes"}}
	if code, body, _ := post(t, c, n.url+"action", f, nil); code != http.StatusSeeOther {
		t.Fatalf("purge: %d %s", code, body)
	}
	if _, err := n.client.Status(testContext(t), "later-1"); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("status after purge: %v, want not found", err)
	}
}
