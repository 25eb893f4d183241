package api

import (
	"encoding/json"
	"testing"
)

// FuzzCheckMembersFastPath: checkMembers' fast path (topLevelKeys) decides
// every well-formed body as decoding the member names does: same refusal,
// same message, or both accept. (A malformed one is refused either way:
// json.Unmarshal runs after checkMembers.)
func FuzzCheckMembersFastPath(f *testing.F) {
	for _, seed := range []string{`{}`, ` { } `, `{"id":"x"}`, `{"id":"a","id":"b"}`, `{"ID":1}`, `{"Id":1,"id":2}`,
		`{"name":"n","input":{"a":[1,{"b":"}"}],"c":"\""},"start_at":"2030-01-01T00:00:00Z"}`, `{"i\u0064":"x","id":"y"}`,
		`{"id":"x",}`, `{"id" "x"}`, `{"id":"x"`, `{"input":[1,2],"input":3}`, `{"STARTAT":1}`, `{"start_At":1}`,
		"{\"\u212aey\":1}", `{"id":"x"} {}`, `[]`, `{"a":{"b":{"c":[[[]]]}}}`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var fast, slow StartRequest
		got := checkMembers(body, &fast)
		want := checkMembersDecoding(body, &slow)
		if _, ok := topLevelKeys(body); !ok || !json.Valid(body) {
			return // checkMembersDecoding itself, or refused by json.Unmarshal
		}
		if (got == nil) != (want == nil) || got != nil && got.Error() != want.Error() {
			t.Fatalf("checkMembers(%q) = %v, decoding the names: %v", body, got, want)
		}
	})
}

// BenchmarkDecodeStartRequest is the API server's decoding of a start.
func BenchmarkDecodeStartRequest(b *testing.B) {
	body := []byte(`{"name":"hello","id":"bench-000123","input":"world"}`)
	b.ReportAllocs()
	for b.Loop() {
		var req StartRequest
		if err := DecodeRequest(body, &req); err != nil {
			b.Fatal(err)
		}
	}
}
