package api_test

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/reprise/reprise/api"
)

func TestDecodeRequestRefusesWhatJSONWouldRewrite(t *testing.T) {
	for _, c := range []struct {
		body, mention string
	}{
		{"{\"id\":\"a\xffb\"}", "not valid UTF-8"},
		{`{"id":"a\ud800"}`, "surrogate"},
		{`{"id":"a\udfffb"}`, "surrogate"},
		{`{"id":"a\ud800\ud800"}`, "surrogate"},
		{`{"id":"a","id":"b"}`, "appears twice"},
		{`{"Id":"a"}`, `did you mean "id"`},
		{`{"id":"a"} x`, "malformed JSON"},
		{` `, "empty request"},
		{`[1]`, "JSON object"},
	} {
		var req api.StatusRequest
		err := api.DecodeRequest([]byte(c.body), &req)
		if !api.IsCode(err, api.CodeBadRequest) || !strings.Contains(err.Error(), c.mention) {
			t.Errorf("DecodeRequest(%q) = %v, want bad_request mentioning %q", c.body, err, c.mention)
		}
	}
	for _, body := range []string{`{"id":"\ud83d\ude00"}`, `{"id":"\\ud800"}`, `{"id":"x","unknown":{"ID":1,"id":2}}`, ` {"id":"é"}`} {
		var req api.StatusRequest
		if err := api.DecodeRequest([]byte(body), &req); err != nil {
			t.Errorf("DecodeRequest(%q) = %v, want success", body, err)
		}
	}
	// Embedded structs' members count (the internal list request embeds
	// ListRequest).
	var wrapped struct {
		api.ListRequest
		Shard int `json:"shard"`
	}
	if err := api.DecodeRequest([]byte(`{"Status":"Running","shard":1}`), &wrapped); !api.IsCode(err, api.CodeBadRequest) {
		t.Errorf("a wrongly-cased embedded member: %v", err)
	}
}

// FuzzDecodeRequest: whatever DecodeRequest accepts is valid UTF-8 that the
// standard decoder decodes the same way; whatever it refuses is a
// bad_request; it never panics.
func FuzzDecodeRequest(f *testing.F) {
	for _, seed := range []string{`{"id":"x"}`, `{"id":"\ud800"}`, "{\"id\":\"\xff\"}", `{"id":"a","id":"b"}`, `{"ID":1}`,
		`{"name":"n","input":{"a":"\ud83d\ude00"},"start_at":"2030-01-01T00:00:00Z"}`, `{"id":"\\u"}`, `{"id":"\u`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var req api.StartRequest
		err := api.DecodeRequest(body, &req)
		if err != nil {
			if !api.IsCode(err, api.CodeBadRequest) {
				t.Fatalf("DecodeRequest(%q) = %v, want bad_request", body, err)
			}
			return
		}
		if !utf8.Valid(body) {
			t.Fatalf("DecodeRequest accepted bytes that are not UTF-8: %q", body)
		}
		var plain api.StartRequest
		if err := json.Unmarshal(body, &plain); err != nil {
			t.Fatalf("DecodeRequest accepted %q, which json.Unmarshal refuses: %v", body, err)
		}
		if strings.ContainsRune(req.ID+req.Name+req.Version, utf8.RuneError) && !strings.Contains(string(body), "\ufffd") && !strings.Contains(strings.ToLower(string(body)), `\ufffd`) {
			t.Fatalf("DecodeRequest(%q) produced U+FFFD that the body did not hold: %+v", body, req)
		}
	})
}
