package ui

import (
	"html/template"
	"net/url"
	"strconv"
	"strings"
)

// The history table and the timeline have a row per event or call, up to
// thousands on one page; html/template spends most of a page's time on
// them (a reflective call per value). So their rows are written here, and
// the safety rule stays the same: every string from the API goes through
// esc (HTML-escaped for text and quoted attributes) or, in a link, through
// url.QueryEscape first; only constant markup is written raw.

// esc escapes s for HTML text and double-quoted attribute values.
func esc(b *strings.Builder, s string) { b.WriteString(template.HTMLEscapeString(s)) }

// instanceHref writes the link to an instance page, escaped.
func instanceHref(b *strings.Builder, id string) {
	b.WriteString(`instance?id=`)
	esc(b, url.QueryEscape(id))
}

// historyRows renders the history table's rows.
func historyRows(rows []eventRow) template.HTML {
	var b strings.Builder
	b.Grow(len(rows) * 300)
	for i := range rows {
		r := &rows[i]
		b.WriteString(`<tr class="`)
		esc(&b, r.Class)
		b.WriteString(`"><td class="num">`)
		b.WriteString(strconv.FormatUint(r.Seq, 10))
		b.WriteString(`</td><td title="`)
		esc(&b, r.When)
		b.WriteString(`">`)
		esc(&b, r.Offset)
		b.WriteString(`</td><td>`)
		esc(&b, r.Kind)
		b.WriteString(`</td><td>`)
		esc(&b, r.Name)
		b.WriteString(`</td><td>`)
		if r.Decision != "" {
			b.WriteString(`<span class="tag">decision `)
			esc(&b, r.Decision)
			b.WriteString(`</span>`)
		}
		if r.Attempt != 0 {
			b.WriteString(` <span class="tag">attempt `)
			b.WriteString(strconv.Itoa(r.Attempt))
			b.WriteString(`</span>`)
		}
		if r.InstanceID != "" {
			b.WriteString(` <a href="`)
			instanceHref(&b, r.InstanceID)
			b.WriteString(`">`)
			esc(&b, r.InstanceID)
			b.WriteString(`</a>`)
		}
		if r.FireAt != "" {
			b.WriteString(` <span class="tag">fires `)
			esc(&b, r.FireAt)
			b.WriteString(`</span>`)
		}
		if r.Reason != "" {
			b.WriteString(` <span class="reason">`)
			esc(&b, r.Reason)
			b.WriteString(`</span>`)
		}
		if r.Failure != "" {
			b.WriteString(` <span class="failure">`)
			esc(&b, r.Failure)
			b.WriteString(`</span>`)
		}
		switch {
		case r.Data == "":
		case r.Data == r.Preview:
			b.WriteString(` <code class="data">`)
			esc(&b, r.Data)
			b.WriteString(`</code>`)
		default:
			b.WriteString(`<details><summary><code class="data">`)
			esc(&b, r.Preview)
			b.WriteString(`</code></summary><pre class="json data">`)
			esc(&b, r.Data)
			b.WriteString(`</pre></details>`)
		}
		b.WriteString("</td></tr>\n")
	}
	return template.HTML(b.String()) // #nosec: every value above is escaped
}

// timelineRows renders the timeline's rows as SVG groups.
func timelineRows(rows []tlRow) template.HTML {
	var b strings.Builder
	b.Grow(len(rows) * 350)
	num := func(n int) { b.WriteString(strconv.Itoa(n)) }
	for i := range rows {
		r := &rows[i]
		class := r.Kind + " " + r.State
		b.WriteString(`<g class="row `)
		esc(&b, class)
		b.WriteString(`"><title>`)
		esc(&b, r.Title)
		b.WriteString(`</title>`)
		if r.Link != "" {
			b.WriteString(`<a href="`)
			instanceHref(&b, r.Link)
			b.WriteString(`">`)
		}
		b.WriteString(`<text class="label" x="8" y="`)
		num(r.TextY)
		b.WriteString(`">`)
		esc(&b, r.Label)
		b.WriteString(`</text>`)
		if r.Link != "" {
			b.WriteString(`</a>`)
		}
		if r.Point {
			b.WriteString(`<circle class="point `)
			esc(&b, class)
			b.WriteString(`" cx="`)
			num(r.X)
			b.WriteString(`" cy="`)
			num(r.CY)
			b.WriteString(`" r="5"/>`)
		} else {
			b.WriteString(`<rect class="bar `)
			esc(&b, class)
			b.WriteString(`" x="`)
			num(r.X)
			b.WriteString(`" y="`)
			num(r.BarY)
			b.WriteString(`" width="`)
			num(r.W)
			b.WriteString(`" height="`)
			num(tlBarH)
			b.WriteString(`" rx="2"/>`)
		}
		b.WriteString("</g>\n")
	}
	return template.HTML(b.String()) // #nosec: every value above is escaped
}
