package api

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"time"
	"unicode/utf8"
)

// DecodeRequest decodes a request body into v, a pointer to one of this
// package's request structs, with the rules every server applies to outside
// input. The body must be:
//
//   - one JSON object (anything else is refused, as is trailing data);
//   - valid UTF-8, with no unpaired surrogate escape (\ud800): Go's JSON
//     decoder would silently turn either into U+FFFD, so two different ids
//     could become one;
//   - free of duplicate members and of members that differ from a known
//     member only in letter case ("ID" for "id"): Go's decoder would take
//     the last one or match case-insensitively, so what was meant is
//     ambiguous.
//
// Unknown members are ignored. Every failure is an *Error with
// [CodeBadRequest] naming what was wrong.
func DecodeRequest(data []byte, v any) error {
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) == 0 {
		return Errorf(CodeBadRequest, "empty request: the body must be a JSON object")
	}
	if trimmed[0] != '{' {
		return Errorf(CodeBadRequest, "malformed request: the body must be a JSON object")
	}
	if !utf8.Valid(data) {
		return Errorf(CodeBadRequest, "the body is not valid UTF-8 (first bad byte at offset %d)", firstInvalidUTF8(data))
	}
	if err := checkSurrogates(data); err != nil {
		return err
	}
	if err := checkMembers(data, v); err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return Errorf(CodeBadRequest, "malformed JSON: %v", err)
	}
	return nil
}

func firstInvalidUTF8(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return -1
}

// checkSurrogates refuses \uXXXX escapes that encode half of a surrogate
// pair without the other half. It scans string literals only; the body's
// JSON syntax is checked when it is decoded.
func checkSurrogates(b []byte) error {
	inString := false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if !inString {
			if c == '"' {
				inString = true
			}
			continue
		}
		switch c {
		case '"':
			inString = false
		case '\\':
			if i+1 >= len(b) {
				return nil
			}
			if b[i+1] != 'u' {
				i++ // skip the escaped character
				continue
			}
			r, ok := hex4(b, i+2)
			if !ok {
				return nil // malformed escape: the decoder reports it
			}
			switch {
			case r >= 0xdc00 && r <= 0xdfff:
				return Errorf(CodeBadRequest, "the body has an unpaired surrogate escape \\u%04x at offset %d", r, i)
			case r >= 0xd800 && r <= 0xdbff:
				var lo rune
				ok := i+11 < len(b) && b[i+6] == '\\' && b[i+7] == 'u'
				if ok {
					lo, ok = hex4(b, i+8)
				}
				if !ok || lo < 0xdc00 || lo > 0xdfff {
					return Errorf(CodeBadRequest, "the body has an unpaired surrogate escape \\u%04x at offset %d", r, i)
				}
				i += 11
			default:
				i += 5
			}
		}
	}
	return nil
}

func hex4(b []byte, at int) (rune, bool) {
	if at+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[at : at+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// checkMembers walks the top-level members of the object in data: no
// member twice, none that matches a member of v's struct only when letter
// case is ignored.
func checkMembers(data []byte, v any) error {
	keys, ok := topLevelKeys(data)
	if !ok {
		return checkMembersDecoding(data, v)
	}
	var known map[string]string
	for i, k := range keys {
		for _, prev := range keys[:i] {
			if bytes.Equal(prev, k) {
				return Errorf(CodeBadRequest, "member %q appears twice", k)
			}
		}
		if !foldable(k) {
			continue // lower case: it matches a member name exactly or not at all
		}
		if known == nil {
			known = memberNames(v)
		}
		if exact, ok := known[strings.ToLower(string(k))]; ok && exact != string(k) {
			return Errorf(CodeBadRequest, "unknown member %q: member names are case-sensitive; did you mean %q?", k, exact)
		}
	}
	return nil
}

// foldable reports whether strings.ToLower may change name: it has an
// upper-case ASCII letter or a byte outside ASCII. The member names of the
// request structs are lower case (TestRequestMemberNamesAreLowerCase), so a
// name that lower-casing leaves as it is matches one of them exactly or
// not at all.
func foldable(name []byte) bool {
	for _, c := range name {
		if c >= 'A' && c <= 'Z' || c >= 0x80 {
			return true
		}
	}
	return false
}

// topLevelKeys returns the member names of the object in data as they are
// written, for checkMembers' fast path; ok is false when a name has an
// escape or the body is not what a well-formed object looks like (then
// checkMembersDecoding decodes the names and reports what is wrong). It
// finds the names only: json.Unmarshal checks the syntax afterwards.
func topLevelKeys(data []byte) (keys [][]byte, ok bool) {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return nil, false
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return nil, true
	}
	for {
		if i >= len(data) || data[i] != '"' {
			return nil, false
		}
		end := i + 1
		for end < len(data) && data[end] != '"' {
			if data[end] == '\\' {
				return nil, false
			}
			end++
		}
		if end >= len(data) {
			return nil, false
		}
		keys = append(keys, data[i+1:end])
		i = skipSpace(data, end+1)
		if i >= len(data) || data[i] != ':' {
			return nil, false
		}
		// Skip the value: up to the ',' or '}' at this depth.
		depth, inString := 0, false
		for i++; ; i++ {
			if i >= len(data) {
				return nil, false
			}
			c := data[i]
			if inString {
				switch c {
				case '\\':
					i++
				case '"':
					inString = false
				}
				continue
			}
			switch c {
			case '"':
				inString = true
			case '{', '[':
				depth++
			case ']':
				depth--
			case '}':
				if depth == 0 {
					return keys, true
				}
				depth--
			case ',':
				if depth == 0 {
					i = skipSpace(data, i+1)
					goto next
				}
			}
		}
	next:
	}
}

func skipSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\r' || data[i] == '\n') {
		i++
	}
	return i
}

// checkMembersDecoding is checkMembers by decoding the names (escapes
// included), and the error for a body topLevelKeys could not read.
func checkMembersDecoding(data []byte, v any) error {
	known := memberNames(v)
	dec := json.NewDecoder(bytes.NewReader(data))
	if _, err := dec.Token(); err != nil { // '{'
		return Errorf(CodeBadRequest, "malformed JSON: %v", err)
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return Errorf(CodeBadRequest, "malformed JSON: %v", err)
		}
		key, _ := tok.(string)
		if seen[key] {
			return Errorf(CodeBadRequest, "member %q appears twice", key)
		}
		seen[key] = true
		if exact, ok := known[strings.ToLower(key)]; ok && exact != key {
			return Errorf(CodeBadRequest, "unknown member %q: member names are case-sensitive; did you mean %q?", key, exact)
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return Errorf(CodeBadRequest, "malformed JSON: %v", err)
		}
	}
	return nil
}

// memberNames maps the lower-cased JSON member names of the struct v points
// to (and of its embedded structs) to their exact spelling.
func memberNames(v any) map[string]string {
	out := map[string]string{}
	t := reflect.TypeOf(v)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		return out
	}
	var walk func(reflect.Type)
	walk = func(t reflect.Type) {
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
				walk(f.Type)
				continue
			}
			if name == "-" || !f.IsExported() {
				continue
			}
			if name == "" {
				name = f.Name
			}
			out[strings.ToLower(name)] = name
		}
	}
	walk(t)
	return out
}

// Start times a start request may name: from the Unix epoch to
// [MaxStartAt]. Later times cannot be held as nanoseconds since the epoch
// with room to spare (int64 ends in April 2262).
var (
	MinStartAt = time.Unix(0, 0).UTC()
	MaxStartAt = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
)

// CheckStartAt checks a start request's start_at (the zero time means
// absent). The error is an *Error with [CodeBadRequest].
func CheckStartAt(t time.Time) error {
	if t.IsZero() {
		return nil
	}
	if t.Before(MinStartAt) || !t.Before(MaxStartAt) {
		return Errorf(CodeBadRequest, "start_at %s is out of range: it must be from %s to before %s",
			t.Format(time.RFC3339Nano), MinStartAt.Format(time.RFC3339), MaxStartAt.Format(time.RFC3339))
	}
	return nil
}
