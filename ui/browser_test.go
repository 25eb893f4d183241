package ui_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/reprise/reprise/api"
	"github.com/reprise/reprise/examples/approval"
	"github.com/reprise/reprise/examples/saga"
)

// requireBrowserEnv makes a missing Chromium a test failure instead of a
// skip (CI sets it: .ci/run installs Chromium).
const requireBrowserEnv = "REPRISE_REQUIRE_BROWSER"

// chromiumEnv names a Chromium (or Chrome) binary other than the ones on
// the PATH.
const chromiumEnv = "REPRISE_CHROMIUM"

func notifySubject(id string) string { return api.NotifySubject(api.DefaultPrefix, id) }

// findChromium returns the browser binary, or skips the test (fails it when
// REPRISE_REQUIRE_BROWSER is set).
func findChromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv(chromiumEnv); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "no Chromium found (install Debian's chromium package: apt-get install -y chromium, or set " +
		chromiumEnv + " to a Chromium binary)"
	if os.Getenv(requireBrowserEnv) != "" {
		t.Fatalf("%s, and %s is set", msg, requireBrowserEnv)
	}
	t.Skipf("%s; set %s=1 to make this a failure", msg, requireBrowserEnv)
	return ""
}

// browser is a headless Chromium tab.
type browser struct {
	t   *testing.T
	ctx context.Context
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	path := findChromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // CI runs as root, where Chromium's sandbox refuses to start
		chromedp.DisableGPU,
		chromedp.WindowSize(1280, 900),
		chromedp.UserDataDir(t.TempDir()),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	// The first Run starts the browser; it lives as long as ctx.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start %s: %v", path, err)
	}
	return &browser{t: t, ctx: ctx}
}

// do runs actions, failing the test on an error. Each call is bounded so a
// hung page fails instead of stalling the suite.
func (b *browser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, testTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, testTimeout)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

func (b *browser) count(sel string) int {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, testTimeout)
	defer cancel()
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int]("document.querySelectorAll("+jsString(sel)+").length"))
	if err != nil {
		b.t.Fatalf("count %s: %v", sel, err)
	}
	return n
}

func (b *browser) eval(expr string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, testTimeout)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string]("String("+expr+")"))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return s
}

// screenshot saves the whole page as name.png in the test's artifact
// directory (kept with go test -artifacts; see the README's Web UI section).
func (b *browser) screenshot(name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, testTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(b.t.ArtifactDir(), name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot %s", path)
}

func jsString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(s) + `"`
}

// statusIs waits until the instance page shows the status.
func statusIs(s string) chromedp.Action[chromedp.Void] {
	return chromedp.WaitVisible(chromedp.CSS(`#status[data-status="` + s + `"]`))
}

// confirmForm submits the form with the fields set and then confirms on
// the confirmation page.
func (b *browser) confirmForm(form string, fields map[string]string) {
	b.t.Helper()
	var steps []chromedp.Action[chromedp.Void]
	for name, value := range fields {
		steps = append(steps, chromedp.SetValue(chromedp.CSS(form+` [name="`+name+`"]`), value))
	}
	steps = append(steps,
		chromedp.Click(chromedp.CSS(form+` button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("confirm-summary")),
	)
	b.do("submit "+form, steps...)
	b.do("confirm "+form, chromedp.Click(chromedp.ID("confirm")), chromedp.WaitNotPresent(chromedp.ID("confirm")))
}

// TestBrowser drives the UI in headless Chromium against a real
// orchestrator running the examples.
func TestBrowser(t *testing.T) {
	b := newBrowser(t)
	n := startNode(t, nil)

	// A finished saga, one that fails at its last step and compensates,
	// hello, and approvals waiting for a decision (one with markup in its
	// input and a payload that must render as text).
	order := saga.Order{Item: "book", Quantity: 2, Amount: 25}
	n.run(t, saga.Name, "order-1001", order)
	failing := order
	failing.FailAt = saga.StepShip
	n.run(t, saga.Name, "order-1002", failing)
	n.run(t, "hello", "greet-1", "world")
	n.start(t, approval.Name, "approval-raise", approval.Request{Requester: "ann", Amount: 250, Timeout: "1h"})
	n.start(t, approval.Name, "approval-live", approval.Request{Requester: "bob", Amount: 90, Timeout: "1h"})
	n.start(t, approval.Name, "approval-terminate", approval.Request{Requester: "cy", Amount: 10, Timeout: "1h"})
	xss := `<script>document.title="pwned"</script><img src=x onerror="document.title='pwned'">`
	n.start(t, approval.Name, "approval-xss", approval.Request{Requester: xss, Amount: 1, Timeout: "1h"})
	for _, id := range []string{"approval-raise", "approval-live", "approval-terminate", "approval-xss"} {
		n.awaitStatus(t, id, api.StatusRunning)
	}

	t.Run("find an instance by filter", func(t *testing.T) {
		b := &browser{t: t, ctx: b.ctx}
		b.do("open the list", chromedp.Navigate(n.url), chromedp.WaitVisible(chromedp.ID("instances")))
		if got := b.count("#instances tbody tr"); got != 7 {
			t.Fatalf("list shows %d instances, want 7", got)
		}
		if got := b.text(`#counts [data-status="Running"]`); got != "4" {
			t.Fatalf("Running count %q, want 4", got)
		}
		if got := b.text(`#counts [data-status="Completed"]`); got != "3" {
			t.Fatalf("Completed count %q, want 3", got)
		}
		b.screenshot("list")

		b.do("filter by name", chromedp.SetValue(chromedp.CSS(`#filters [name="name"]`), saga.Name),
			chromedp.Click(chromedp.CSS(`#filters button`)),
			chromedp.WaitVisible(chromedp.CSS(`#filters [name="name"][value="saga"]`)))
		if got := b.count("#instances tbody tr"); got != 2 {
			t.Fatalf("name filter shows %d instances, want the 2 sagas", got)
		}
		b.do("filter by id prefix", chromedp.SetValue(chromedp.CSS(`#filters [name="id"]`), "order-1002"),
			chromedp.Click(chromedp.CSS(`#filters button`)),
			chromedp.WaitVisible(chromedp.CSS(`#filters [name="id"][value="order-1002"]`)))
		if got := b.count("#instances tbody tr"); got != 1 {
			t.Fatalf("id prefix filter shows %d instances, want 1", got)
		}
		b.do("filter by status", chromedp.Navigate(n.url+"?status=Running"), chromedp.WaitVisible(chromedp.ID("instances")))
		if got := b.count("#instances tbody tr"); got != 4 {
			t.Fatalf("status filter shows %d instances, want the 4 approvals", got)
		}

		// The list refreshes itself when an instance changes.
		b.do("open the list", chromedp.Navigate(n.url+"?name=hello"), chromedp.WaitVisible(chromedp.ID("instances")),
			chromedp.WaitVisible(chromedp.ID("live-indicator")))
		b.eval("window.reloadMark = 'same page'")
		n.run(t, "hello", "greet-2", "again")
		b.do("the new instance appears", chromedp.WaitVisible(chromedp.CSS(`#instances tr[data-id="greet-2"]`)))
		if got := b.eval("window.reloadMark"); got != "same page" {
			t.Fatalf("the list reloaded (mark %q) instead of refreshing live", got)
		}
	})

	t.Run("saga timeline has one bar per activity", func(t *testing.T) {
		b := &browser{t: t, ctx: b.ctx}
		b.do("open the list", chromedp.Navigate(n.url+"?name=saga"), chromedp.WaitVisible(chromedp.ID("instances")))
		b.do("open order-1001", chromedp.Click(chromedp.CSS(`#instances tr[data-id="order-1001"] a`)),
			statusIs("Completed"), chromedp.WaitVisible(chromedp.ID("timeline")))
		if got := b.count("#timeline rect.bar.activity"); got != 3 {
			t.Fatalf("timeline of the saga has %d activity bars, want 3 (reserve, charge, ship)", got)
		}
		if got := b.count("#timeline rect.bar.activity.failed"); got != 0 {
			t.Fatalf("%d failed bars in a saga that shipped", got)
		}
		if !strings.Contains(b.text("#output"), `"outcome": "shipped"`) {
			t.Fatalf("output %q", b.text("#output"))
		}
		b.screenshot("saga")

		b.do("open order-1002", chromedp.Navigate(n.url+"instance?id=order-1002"), statusIs("Completed"))
		// reserve, charge, ship (failed), then refund and release.
		if got, failed := b.count("#timeline rect.bar.activity"), b.count("#timeline rect.bar.activity.failed"); got != 5 || failed != 1 {
			t.Fatalf("compensating saga: %d activity bars, %d failed; want 5 and 1", got, failed)
		}
		b.screenshot("saga-compensated")
	})

	t.Run("raise from the form and watch the status change", func(t *testing.T) {
		b := &browser{t: t, ctx: b.ctx}
		b.do("open approval-raise", chromedp.Navigate(n.url+"instance?id=approval-raise"), statusIs("Running"))
		b.confirmForm("#raise-form", map[string]string{"event": approval.EventDecision, "payload": `{"approved": true, "by": "<b>dee</b>"}`})
		b.do("completed", statusIs("Completed"))
		if got := b.text("#flash"); got != "Event raised." {
			t.Fatalf("flash %q", got)
		}
		if out := b.text("#output"); !strings.Contains(out, `"by": "<b>dee</b>"`) || !strings.Contains(out, `"outcome": "approved"`) {
			t.Fatalf("output %q", out)
		}
		if got := b.count("#live b"); got != 0 {
			t.Fatalf("the payload's <b> became %d elements", got)
		}
		b.screenshot("approval-raised")
	})

	t.Run("an open instance updates live", func(t *testing.T) {
		b := &browser{t: t, ctx: b.ctx}
		b.do("open approval-live", chromedp.Navigate(n.url+"instance?id=approval-live"), statusIs("Running"),
			chromedp.WaitVisible(chromedp.ID("live-indicator")))
		// A mark on the window survives a live update but not a reload.
		b.eval("window.reloadMark = 'same page'")
		if err := n.client.RaiseEvent(testContext(t), "approval-live", approval.EventDecision, approval.Decision{Approved: false, By: "eve"}); err != nil {
			t.Fatal(err)
		}
		b.do("completed", statusIs("Completed"))
		if got := b.eval("window.reloadMark"); got != "same page" {
			t.Fatalf("the page reloaded (mark %q) instead of updating live", got)
		}
		if !strings.Contains(b.text("#output"), `"outcome": "rejected"`) {
			t.Fatalf("output %q", b.text("#output"))
		}
	})

	t.Run("terminate from the form", func(t *testing.T) {
		b := &browser{t: t, ctx: b.ctx}
		b.do("open approval-terminate", chromedp.Navigate(n.url+"instance?id=approval-terminate"), statusIs("Running"))
		b.confirmForm("#terminate-form", map[string]string{"reason": "cancelled from the UI"})
		b.do("terminated", statusIs("Terminated"))
		if got := b.text("#error-text"); !strings.Contains(got, "cancelled from the UI") {
			t.Fatalf("error %q does not carry the reason", got)
		}
		// Finished: the actions are now only purge.
		b.do("purge offered", chromedp.WaitVisible(chromedp.ID("purge-form")))
		if got := b.count("#raise-form, #terminate-form, #suspend-form, #resume-form"); got != 0 {
			t.Fatalf("%d actions of a running instance still offered", got)
		}
	})

	t.Run("markup in a payload renders as text", func(t *testing.T) {
		b := &browser{t: t, ctx: b.ctx}
		b.do("open approval-xss", chromedp.Navigate(n.url+"instance?id=approval-xss"), statusIs("Running"))
		if in := b.text("#input"); !strings.Contains(in, `<script>document.title=\"pwned\"</script>`) {
			t.Fatalf("input %q does not show the script as text", in)
		}
		if got := b.count("#live script, #live img"); got != 0 {
			t.Fatalf("the input's markup became %d elements", got)
		}
		if title := b.eval("document.title"); title == "pwned" {
			t.Fatal("the input's script ran")
		}
		// The list shows the same instance; the raise form echoes a payload
		// on its confirmation page.
		b.do("confirm page", chromedp.SetValue(chromedp.CSS(`#raise-form [name="event"]`), "x"),
			chromedp.SetValue(chromedp.CSS(`#raise-form [name="payload"]`), `"`+strings.ReplaceAll(xss, `"`, `\"`)+`"`),
			chromedp.Click(chromedp.CSS(`#raise-form button`)), chromedp.WaitVisible(chromedp.ID("confirm-payload")))
		if got := b.count("main script, main img"); got != 0 {
			t.Fatalf("the payload's markup became %d elements on the confirmation page", got)
		}
		if title := b.eval("document.title"); title == "pwned" {
			t.Fatal("the payload's script ran")
		}
	})

	t.Run("API errors are shown as the API states them", func(t *testing.T) {
		b := &browser{t: t, ctx: b.ctx}
		b.do("open the start page", chromedp.Navigate(n.url+"start"), chromedp.WaitVisible(chromedp.ID("start-form")))
		b.confirmForm("#start-form", map[string]string{"name": "no-such-orchestration"})
		b.do("error page", chromedp.WaitVisible(chromedp.ID("error")))
		if got := b.text("#error"); !strings.HasPrefix(got, "start failed: unknown_orchestration: ") {
			t.Fatalf("error %q, want the API's unknown_orchestration", got)
		}
		b.do("open the start page", chromedp.Navigate(n.url+"start"), chromedp.WaitVisible(chromedp.ID("start-form")))
		b.confirmForm("#start-form", map[string]string{"name": "hello", "id": "order-1001"})
		b.do("error page", chromedp.WaitVisible(chromedp.ID("error")))
		if got := b.text("#error"); !strings.HasPrefix(got, "start failed: already_exists: ") {
			t.Fatalf("error %q, want the API's already_exists", got)
		}
		b.do("unknown instance", chromedp.Navigate(n.url+"instance?id=no-such-instance"), chromedp.WaitVisible(chromedp.ID("error")))
		if got := b.text("#error"); !strings.HasPrefix(got, "not_found: ") {
			t.Fatalf("error %q, want the API's not_found", got)
		}
	})

	t.Run("start and purge from the forms", func(t *testing.T) {
		b := &browser{t: t, ctx: b.ctx}
		b.do("open the start page", chromedp.Navigate(n.url+"start"), chromedp.WaitVisible(chromedp.ID("start-form")))
		b.confirmForm("#start-form", map[string]string{"name": "hello", "id": "greet-ui", "input": `"browser"`})
		b.do("completed", statusIs("Completed"))
		if got := b.text("#output"); got != `"Hello, browser!"` {
			t.Fatalf("output %q", got)
		}
		b.confirmForm("#purge-form", nil)
		b.do("back on the list", chromedp.WaitVisible(chromedp.ID("flash")))
		if got := b.text("#flash"); got != `Purged "greet-ui".` {
			t.Fatalf("flash %q", got)
		}
		if _, err := n.client.Status(testContext(t), "greet-ui"); err == nil {
			t.Fatal("greet-ui still exists after the purge")
		}
	})
}
