package api

import (
	"unicode"
	"unicode/utf8"
)

// Limits.
const (
	// MaxInstanceIDLen is the longest instance id, in bytes.
	MaxInstanceIDLen = 256
	// DefaultMaxPayloadBytes is the default limit on an input or event
	// payload (1 MiB).
	DefaultMaxPayloadBytes = 1 << 20
)

// ValidateInstanceID checks an instance id: 1 to [MaxInstanceIDLen] bytes of
// valid UTF-8, printable characters only (spaces allowed, control characters
// not). The error is an *Error with [CodeInvalidInstanceID].
func ValidateInstanceID(id string) error {
	if id == "" {
		return Errorf(CodeInvalidInstanceID, "instance id is empty")
	}
	if len(id) > MaxInstanceIDLen {
		return Errorf(CodeInvalidInstanceID, "instance id is %d bytes, the limit is %d", len(id), MaxInstanceIDLen)
	}
	if !utf8.ValidString(id) {
		return Errorf(CodeInvalidInstanceID, "instance id %q is not valid UTF-8", id)
	}
	for i, r := range id {
		if !unicode.IsPrint(r) {
			return Errorf(CodeInvalidInstanceID, "instance id %q has a non-printable character %U at byte %d", id, r, i)
		}
	}
	return nil
}

// CheckPayload checks that a payload of n bytes (what names it in the
// message, e.g. "input") fits limit. The error is an *Error with
// [CodePayloadTooLarge].
func CheckPayload(what string, n, limit int) error {
	if n > limit {
		return Errorf(CodePayloadTooLarge, "%s is %d bytes, the limit is %d", what, n, limit)
	}
	return nil
}

// MaxReasonBytes bounds the reason of a terminate, suspend or resume.
const MaxReasonBytes = 4096

// String field limits. Every string field of a request is valid UTF-8 (a
// body that is not is refused whole, see [CheckBody]); the rules below add
// lengths and characters per field, and the server, the submit path and the
// Go client apply the same functions.
const (
	// MaxRequestIDLen is the longest request id, in bytes.
	MaxRequestIDLen = 128
	// MaxNameLen is the longest orchestration name, version or event name,
	// in bytes.
	MaxNameLen = 256
	// MaxCursorLen is the longest list cursor, in bytes.
	MaxCursorLen = 1024
)

// ValidateRequestID checks the request id of a raise, terminate, suspend or
// resume: 1 to [MaxRequestIDLen] bytes of ASCII letters, digits, '-', '_',
// '.' and ':' (a UUID fits). Empty means "none" and is checked by the
// caller. The error is an *Error with [CodeBadRequest].
func ValidateRequestID(id string) error {
	if id == "" {
		return Errorf(CodeBadRequest, "request_id is empty")
	}
	if len(id) > MaxRequestIDLen {
		return Errorf(CodeBadRequest, "request_id is %d bytes, the limit is %d", len(id), MaxRequestIDLen)
	}
	for i := 0; i < len(id); i++ {
		if !requestIDByte(id[i]) {
			return Errorf(CodeBadRequest, "request_id %q has the character %q at byte %d: allowed are ASCII letters, digits, '-', '_', '.' and ':'", id, id[i], i)
		}
	}
	return nil
}

func requestIDByte(c byte) bool {
	return c == '-' || c == '_' || c == '.' || c == ':' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// ValidateName checks a name-like field (an orchestration name, version or
// event name) called field in messages: at most [MaxNameLen] bytes of
// printable UTF-8 (spaces allowed; control and format characters not).
// An empty value passes; required fields check emptiness themselves. The
// error is an *Error with [CodeBadRequest].
func ValidateName(field, v string) error {
	if len(v) > MaxNameLen {
		return Errorf(CodeBadRequest, "%s is %d bytes, the limit is %d", field, len(v), MaxNameLen)
	}
	if !utf8.ValidString(v) {
		return Errorf(CodeBadRequest, "%s %q is not valid UTF-8", field, v)
	}
	for i, r := range v {
		if !unicode.IsPrint(r) {
			return Errorf(CodeBadRequest, "%s %q has a non-printable character %U at byte %d", field, v, r, i)
		}
	}
	return nil
}

// ValidateReason checks the reason of a terminate, suspend or resume: at
// most [MaxReasonBytes] bytes of UTF-8 text, printable characters plus
// newline and tab. The error is an *Error with [CodeBadRequest].
func ValidateReason(v string) error {
	if len(v) > MaxReasonBytes {
		return Errorf(CodeBadRequest, "reason is %d bytes, the limit is %d", len(v), MaxReasonBytes)
	}
	if !utf8.ValidString(v) {
		return Errorf(CodeBadRequest, "reason is not valid UTF-8")
	}
	for i, r := range v {
		if r != '\n' && r != '\t' && !unicode.IsPrint(r) {
			return Errorf(CodeBadRequest, "reason has a non-printable character %U at byte %d (newline and tab are allowed)", r, i)
		}
	}
	return nil
}

// ValidateCursor checks a list cursor's shape: at most [MaxCursorLen]
// bytes of printable ASCII. (Whether the server made it is checked when it
// is used.) The error is an *Error with [CodeBadRequest].
func ValidateCursor(v string) error {
	if len(v) > MaxCursorLen {
		return Errorf(CodeBadRequest, "cursor is %d bytes, the limit is %d", len(v), MaxCursorLen)
	}
	for i := 0; i < len(v); i++ {
		if v[i] < 0x21 || v[i] > 0x7e {
			return Errorf(CodeBadRequest, "malformed cursor: byte %d is %q; pass next_cursor of a previous reply unchanged", i, v[i])
		}
	}
	return nil
}
