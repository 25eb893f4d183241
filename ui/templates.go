package ui

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/reprise/reprise/api"
)

// pageNames are the templates in templates/, each rendered inside
// layout.html.
var pageNames = []string{"list", "instance", "start", "confirm", "error"}

func parseTemplates() (map[string]*template.Template, error) {
	funcs := template.FuncMap{
		"statusClass": statusClass,
		"when":        formatTime,
		"ago":         formatAgo,
		"pretty":      prettyJSON,
		"dur":         formatDuration,
		// The long row lists, written in rows.go.
		"historyRows":  historyRows,
		"timelineRows": timelineRows,
		"rfc":          func(t time.Time) string { return t.Format(time.RFC3339Nano) },
	}
	layout, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("ui: parse layout: %w", err)
	}
	pages := make(map[string]*template.Template, len(pageNames))
	for _, name := range pageNames {
		t, err := template.Must(layout.Clone()).ParseFS(templateFS, "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("ui: parse %s: %w", name, err)
		}
		pages[name] = t
	}
	return pages, nil
}

// page is what every page's layout shows.
type page struct {
	Title    string
	ReadOnly bool
	// Events is the server-sent events URL the page listens to for live
	// updates (empty: none).
	Events string
	CSRF   string
	// Flash reports a finished action.
	Flash string
	// Err is an error to show, as the API stated it.
	Err string
}

// render executes the named page into a buffer first, so that a template
// error becomes a 500 instead of half a page.
func (h *Handler) render(w http.ResponseWriter, status int, name string, data any) {
	var buf bytes.Buffer
	if err := h.pages[name].ExecuteTemplate(&buf, "layout.html", data); err != nil {
		h.log.Error("ui: render", "page", name, "err", err)
		http.Error(w, "internal error rendering the page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func statusClass(s api.Status) string {
	return "status-" + strings.ToLower(string(s))
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05.000Z")
}

// formatAgo renders the time since t, coarsely.
func formatAgo(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	d := time.Since(t)
	switch {
	case d < time.Second:
		return "just now"
	case d < time.Minute:
		return strconv.Itoa(int(d.Seconds())) + "s ago"
	case d < 24*time.Hour:
		return d.Truncate(time.Minute).String() + " ago"
	}
	return strconv.Itoa(int(d.Hours()/24)) + "d ago"
}

func formatDuration(d time.Duration) string {
	switch {
	case d < 0:
		return "-" + formatDuration(-d)
	case d < time.Millisecond:
		return strconv.FormatInt(d.Microseconds(), 10) + "µs"
	case d < 10*time.Millisecond:
		return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64) + "ms"
	case d < time.Second:
		return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
	case d < time.Minute:
		return strconv.FormatFloat(d.Seconds(), 'f', 2, 64) + "s"
	}
	return d.Truncate(time.Second).String()
}

// compactJSON renders a JSON value on one line, and a short preview of
// it; anything else is shown as is.
func compactJSON(raw json.RawMessage) (full, preview string) {
	if len(raw) == 0 {
		return "", ""
	}
	var buf bytes.Buffer
	full = string(raw)
	if json.Compact(&buf, raw) == nil {
		full = string(unescapeHTML(buf.Bytes()))
	}
	return full, shorten(full, previewChars)
}

// previewChars is the length of a payload's preview in the history table.
const previewChars = 100

// prettyJSON indents a JSON value for display; anything else is shown as
// is. The template escapes the result.
func prettyJSON(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return string(raw)
	}
	return string(unescapeHTML(buf.Bytes()))
}

// unescapeHTML turns the escapes \u003c, \u003e and \u0026 that Go's
// encoder writes for <, > and & back into the characters, so a payload
// reads as it was sent; the page's template escapes them for HTML. Other
// escapes are kept. b is valid JSON, so a backslash always starts an
// escape.
func unescapeHTML(b []byte) []byte {
	if !bytes.Contains(b, []byte(`\u00`)) {
		return b
	}
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' || i+1 >= len(b) {
			out = append(out, b[i])
			continue
		}
		if b[i+1] == 'u' && i+5 < len(b) {
			switch strings.ToLower(string(b[i+2 : i+6])) {
			case "003c":
				out, i = append(out, '<'), i+5
				continue
			case "003e":
				out, i = append(out, '>'), i+5
				continue
			case "0026":
				out, i = append(out, '&'), i+5
				continue
			}
		}
		out = append(out, b[i], b[i+1])
		i++
	}
	return out
}
