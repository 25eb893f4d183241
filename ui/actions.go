package ui

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/reprise/reprise/client"
)

// maxFormBytes bounds an action's form: a payload of the API's largest
// size (4 MiB) encoded, plus the other fields.
const maxFormBytes = 16 << 20

// Operations of the action form.
const (
	opStart     = "start"
	opRaise     = "raise"
	opTerminate = "terminate"
	opSuspend   = "suspend"
	opResume    = "resume"
	opPurge     = "purge"
)

// hiddenField carries a field of the first form into the confirmation.
type hiddenField struct{ Name, Value string }

type confirmView struct {
	page
	Op string
	ID string
	// Summary says what will happen; Payload shows the JSON sent.
	Summary string
	Payload string
	Reason  string
	Fields  []hiddenField
	Back    string
}

type startView struct {
	page
	Orchestrations []string
	Name, ID       string
	Input          string
}

type errorView struct {
	page
	Back string
}

func (h *Handler) startPage(w http.ResponseWriter, r *http.Request) {
	v := &startView{page: h.newPage(w, r, "Start an instance"), Orchestrations: h.opts.Orchestrations,
		Name: r.URL.Query().Get("name")}
	h.render(w, http.StatusOK, "start", v)
}

// action runs one action. A form first gets a confirmation page that
// repeats its fields with confirm=yes; only that second POST acts.
func (h *Handler) action(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, back, msg string) {
		v := &errorView{page: h.newPage(w, r, "Action failed"), Back: back}
		v.Err = msg
		h.render(w, status, "error", v)
	}
	if h.opts.ReadOnly {
		fail(http.StatusForbidden, "./", "this UI is read-only: actions are disabled")
		return
	}
	if err := http.NewCrossOriginProtection().Check(r); err != nil {
		fail(http.StatusForbidden, "./", "refused a cross-origin request: "+err.Error())
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		fail(http.StatusBadRequest, "./", "malformed form: "+err.Error())
		return
	}
	if !checkCSRF(r) {
		fail(http.StatusForbidden, "./", "the form's CSRF token does not match this browser's: reload the page and try again")
		return
	}
	f := r.PostForm
	op, id := f.Get("op"), f.Get("id")
	back := "instance?" + url.Values{"id": {id}}.Encode()
	v := &confirmView{page: h.newPage(w, r, "Confirm "+op), Op: op, ID: id, Back: back}
	keep := func(names ...string) {
		for _, n := range names {
			v.Fields = append(v.Fields, hiddenField{n, f.Get(n)})
		}
	}
	keep("op", "id")
	payload, err := jsonField(f.Get("payload"), "payload")
	if op == opStart {
		payload, err = jsonField(f.Get("input"), "input")
	}
	if err != nil {
		fail(http.StatusBadRequest, back, err.Error())
		return
	}
	reason := strings.TrimSpace(f.Get("reason"))
	v.Reason = reason
	switch op {
	case opStart:
		name := strings.TrimSpace(f.Get("name"))
		if name == "" {
			fail(http.StatusBadRequest, "start", "the orchestration name is required")
			return
		}
		v.Back = "start?" + url.Values{"name": {name}}.Encode()
		v.Summary = fmt.Sprintf("Start a new instance of %q", name)
		if id != "" {
			v.Summary += fmt.Sprintf(" with id %q", id)
		}
		keep("name", "input")
	case opRaise:
		event := strings.TrimSpace(f.Get("event"))
		if event == "" {
			fail(http.StatusBadRequest, back, "the event name is required")
			return
		}
		v.Summary = fmt.Sprintf("Raise event %q on instance %q", event, id)
		keep("event", "payload")
	case opTerminate, opSuspend, opResume:
		v.Summary = fmt.Sprintf("%s instance %q", strings.ToUpper(op[:1])+op[1:], id)
		keep("reason")
	case opPurge:
		v.Summary = fmt.Sprintf("Purge instance %q: delete its status and history for good", id)
	default:
		fail(http.StatusBadRequest, "./", fmt.Sprintf("unknown action %q", op))
		return
	}
	if op != opStart && id == "" {
		fail(http.StatusBadRequest, "./", "no instance id given")
		return
	}
	v.Payload = prettyJSON(payload)
	if f.Get("confirm") != "yes" {
		h.render(w, http.StatusOK, "confirm", v)
		return
	}

	ctx := r.Context()
	var payloadArg any
	if payload != nil {
		payloadArg = payload
	}
	next := back + "&done=" + op
	switch op {
	case opStart:
		var opts []client.StartOption
		if id != "" {
			opts = append(opts, client.WithID(id))
		}
		id, err = h.client.Start(ctx, strings.TrimSpace(f.Get("name")), payloadArg, opts...)
		next = "instance?" + url.Values{"id": {id}, "done": {op}}.Encode()
	case opRaise:
		err = h.client.RaiseEvent(ctx, id, strings.TrimSpace(f.Get("event")), payloadArg)
	case opTerminate:
		err = h.client.Terminate(ctx, id, reason)
	case opSuspend:
		err = h.client.Suspend(ctx, id, reason)
	case opResume:
		err = h.client.Resume(ctx, id, reason)
	case opPurge:
		err = h.client.Purge(ctx, id)
		next = "./?purged=" + url.QueryEscape(id)
	}
	if err != nil {
		h.log.Info("ui: action failed", "op", op, "id", id, "err", err)
		fail(errorStatus(err), v.Back, op+" failed: "+apiMessage(err))
		return
	}
	h.log.Info("ui: action", "op", op, "id", id)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// jsonField parses an optional JSON field; empty means absent.
func jsonField(s, what string) (json.RawMessage, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	if !json.Valid([]byte(s)) {
		var v any
		err := json.Unmarshal([]byte(s), &v)
		return nil, fmt.Errorf("the %s is not valid JSON: %v", what, err)
	}
	return json.RawMessage(s), nil
}
