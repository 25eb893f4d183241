package ui

import (
	"strings"
	"testing"
)

func TestRowsEscapeEveryValue(t *testing.T) {
	evil := `"><script>x</script>&'`
	h := string(historyRows([]eventRow{{Seq: 1, When: evil, Offset: evil, Kind: evil, Name: evil, Class: evil,
		Decision: evil, Attempt: 2, InstanceID: evil, FireAt: evil, Reason: evil, Failure: evil,
		Data: evil + evil, Preview: evil}}))
	tl := string(timelineRows([]tlRow{{Kind: evil, State: evil, Label: evil, Title: evil, Link: evil},
		{Kind: evil, State: evil, Label: evil, Title: evil, Point: true}}))
	for name, out := range map[string]string{"history": h, "timeline": tl} {
		if strings.Contains(out, evil) || strings.Contains(out, "<script>") || strings.Contains(out, "&'") {
			t.Errorf("%s rows write a value unescaped:\n%s", name, out)
		}
		if !strings.Contains(out, "&lt;script&gt;x&lt;/script&gt;") {
			t.Errorf("%s rows lose the value:\n%s", name, out)
		}
	}
	// A link's id is query-escaped, then HTML-escaped.
	if !strings.Contains(tl, `href="instance?id=%22%3E%3Cscript%3Ex%3C%2Fscript%3E%26%27"`) {
		t.Errorf("timeline link not escaped as a query value:\n%s", tl)
	}
}
