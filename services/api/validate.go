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
