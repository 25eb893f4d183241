package ui

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/reprise/reprise/api"
	"github.com/reprise/reprise/client"
)

// List page bounds.
const (
	// defaultPageSize is the instances a list page shows.
	defaultPageSize = 50
	maxPageSize     = 500
	// maxScan bounds the instances one page or one count reads from the
	// API; counts above it are shown as "at least".
	maxScan = 10_000
)

// listFilter is the list page's query.
type listFilter struct {
	Status   api.Status
	Name     string
	Parent   string
	IDPrefix string
	Cursor   string
	Limit    int
}

// query encodes f as the list page's query string, with status replaced.
func (f listFilter) query(status api.Status, cursor string) string {
	q := url.Values{}
	if status != "" {
		q.Set("status", string(status))
	}
	if f.Name != "" {
		q.Set("name", f.Name)
	}
	if f.Parent != "" {
		q.Set("parent", f.Parent)
	}
	if f.IDPrefix != "" {
		q.Set("id", f.IDPrefix)
	}
	if f.Limit != defaultPageSize {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	if len(q) == 0 {
		return "./"
	}
	return "./?" + q.Encode()
}

type statusCount struct {
	Status api.Status
	// N counts the instances of the status among those scanned.
	N int
	// AtLeast marks a count cut off by maxScan.
	AtLeast bool
	URL     string
	Active  bool
}

type listView struct {
	page
	Filter   listFilter
	Statuses []api.Status
	Counts   []statusCount
	All      statusCount
	Rows     []client.InstanceStatus
	// NextURL is the next page (empty on the last).
	NextURL  string
	FirstURL string
	// Scanned reports a page cut short by maxScan while looking for ids
	// with the prefix.
	Scanned bool
}

func parseListFilter(r *http.Request) (listFilter, string) {
	q := r.URL.Query()
	f := listFilter{
		Status:   api.Status(q.Get("status")),
		Name:     strings.TrimSpace(q.Get("name")),
		Parent:   strings.TrimSpace(q.Get("parent")),
		IDPrefix: strings.TrimSpace(q.Get("id")),
		Cursor:   q.Get("cursor"),
		Limit:    defaultPageSize,
	}
	if f.Status != "" && !f.Status.Valid() {
		return f, "unknown status " + strconv.Quote(string(f.Status))
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxPageSize {
			return f, "limit " + strconv.Quote(v) + " is not a number from 1 to " + strconv.Itoa(maxPageSize)
		}
		f.Limit = n
	}
	return f, ""
}

func (h *Handler) listPage(w http.ResponseWriter, r *http.Request) {
	f, bad := parseListFilter(r)
	v := &listView{
		page:     h.newPage(w, r, "Instances"),
		Filter:   f,
		Statuses: api.Statuses()[1:], // the engine never stores Pending
		FirstURL: f.query(f.Status, ""),
	}
	v.Events = "events"
	if id := r.URL.Query().Get("purged"); id != "" {
		v.Flash = "Purged " + strconv.Quote(id) + "."
	}
	if bad != "" {
		v.Err = bad
		h.render(w, http.StatusBadRequest, "list", v)
		return
	}
	ctx := r.Context()
	if err := h.count(ctx, v); err != nil {
		v.Err = apiMessage(err)
		h.render(w, errorStatus(err), "list", v)
		return
	}
	if err := h.fillPage(ctx, v); err != nil {
		v.Err = apiMessage(err)
		h.render(w, errorStatus(err), "list", v)
		return
	}
	h.render(w, http.StatusOK, "list", v)
}

// count fills the counts per status of the instances matching the filter
// other than status, reading at most maxScan of them.
func (h *Handler) count(ctx context.Context, v *listView) error {
	f := v.Filter
	counts := map[api.Status]int{}
	total, atLeast := 0, false
	q := client.ListQuery{Name: f.Name, Parent: f.Parent, Limit: api.MaxListLimit}
	for {
		page, err := h.client.List(ctx, q)
		if err != nil {
			return err
		}
		for _, st := range page.Instances {
			if strings.HasPrefix(st.ID, f.IDPrefix) {
				counts[st.Status]++
				total++
			}
		}
		if page.NextCursor == "" || page.NextCursor == q.Cursor {
			break
		}
		if total >= maxScan {
			atLeast = true
			break
		}
		q.Cursor = page.NextCursor
	}
	for _, s := range v.Statuses {
		v.Counts = append(v.Counts, statusCount{Status: s, N: counts[s], AtLeast: atLeast,
			URL: f.query(s, ""), Active: f.Status == s})
	}
	v.All = statusCount{N: total, AtLeast: atLeast, URL: f.query("", ""), Active: f.Status == ""}
	return nil
}

// fillPage reads one page of instances from the filter's cursor. The API
// filters by status, name and parent; the id prefix is applied here, reading
// further pages until the page is full (or maxScan instances were read).
func (h *Handler) fillPage(ctx context.Context, v *listView) error {
	f := v.Filter
	q := client.ListQuery{Status: f.Status, Name: f.Name, Parent: f.Parent, Cursor: f.Cursor}
	scanned := 0
	for {
		// Without a prefix, ask for exactly what is missing so the next
		// cursor loses nothing; with one, a page may run over its size.
		q.Limit = f.Limit - len(v.Rows)
		if f.IDPrefix != "" {
			q.Limit = api.MaxListLimit
		}
		page, err := h.client.List(ctx, q)
		if err != nil {
			return err
		}
		scanned += len(page.Instances)
		for _, st := range page.Instances {
			if strings.HasPrefix(st.ID, f.IDPrefix) {
				v.Rows = append(v.Rows, st)
			}
		}
		if page.NextCursor == "" || page.NextCursor == q.Cursor {
			return nil
		}
		q.Cursor = page.NextCursor
		if len(v.Rows) >= f.Limit || scanned >= maxScan {
			v.Scanned = len(v.Rows) < f.Limit
			v.NextURL = f.query(f.Status, q.Cursor)
			return nil
		}
	}
}
