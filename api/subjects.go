package api

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
)

// DefaultPrefix is the subject prefix used when none is configured.
const DefaultPrefix = "reprise"

// Verb names one request/reply operation of the API.
type Verb string

// The request/reply verbs.
const (
	VerbStart     Verb = "start"
	VerbRaise     Verb = "raise"
	VerbTerminate Verb = "terminate"
	VerbSuspend   Verb = "suspend"
	VerbResume    Verb = "resume"
	VerbStatus    Verb = "status"
	VerbWait      Verb = "wait"
	VerbList      Verb = "list"
	VerbHistory   Verb = "history"
	VerbPurge     Verb = "purge"
	VerbCluster   Verb = "cluster"
)

// Verbs returns every request/reply verb, in documentation order.
func Verbs() []Verb {
	return []Verb{VerbStart, VerbRaise, VerbTerminate, VerbSuspend, VerbResume,
		VerbStatus, VerbWait, VerbList, VerbHistory, VerbPurge, VerbCluster}
}

// ValidatePrefix reports whether prefix can start every subject and stream
// name: 1 to 64 characters from [A-Za-z0-9_-].
func ValidatePrefix(prefix string) error {
	if prefix == "" || len(prefix) > 64 {
		return fmt.Errorf("api: prefix %q must be 1 to 64 characters", prefix)
	}
	for _, r := range prefix {
		ok := r == '-' || r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9')
		if !ok {
			return fmt.Errorf("api: prefix %q may only contain letters, digits, '-' and '_'", prefix)
		}
	}
	return nil
}

// Subject is the request/reply subject of verb: <prefix>.api.<verb>.
func Subject(prefix string, v Verb) string { return prefix + ".api." + string(v) }

// SubjectWildcard matches every request/reply subject: <prefix>.api.*.
func SubjectWildcard(prefix string) string { return prefix + ".api.*" }

// SubmitSubject is where a plain (fire-and-forget) publish of a
// [StartRequest] starts an instance durably: <prefix>.submit.start.
func SubmitSubject(prefix string) string { return prefix + ".submit.start" }

// SubmitStream is the JetStream stream capturing <prefix>.submit.>, created
// by the orchestrator: <prefix>_submit.
func SubmitStream(prefix string) string { return prefix + "_submit" }

// SubmitStreamSubjects is the subject space of [SubmitStream].
func SubmitStreamSubjects(prefix string) []string { return []string{prefix + ".submit.>"} }

// DeadLetterSubject receives a [DeadLetter] for every invalid submission:
// <prefix>.deadletter.submit.
func DeadLetterSubject(prefix string) string { return prefix + ".deadletter.submit" }

// DeadLetterStream is the JetStream stream capturing <prefix>.deadletter.>
// so dead letters can be inspected: <prefix>_deadletter.
func DeadLetterStream(prefix string) string { return prefix + "_deadletter" }

// DeadLetterStreamSubjects is the subject space of [DeadLetterStream].
func DeadLetterStreamSubjects(prefix string) []string { return []string{prefix + ".deadletter.>"} }

// NotifyWildcard matches every status-change notification:
// <prefix>.notify.*.
func NotifyWildcard(prefix string) string { return prefix + ".notify.*" }

// maxRawToken bounds the instance ids whose notify token is their plain
// base64url encoding; longer ids use a hash token.
const maxRawToken = 96

// NotifySubject is where the [InstanceStatus] of instance id is published
// after each commit that changes its status: <prefix>.notify.<token>.
//
// The token is the base64url encoding (no padding) of the id when the id is
// at most 96 bytes, and otherwise "h" followed by the base64url encoding of
// the id's SHA-256 (44 characters). A short id whose plain token equals a
// long id's hash token would need a SHA-256 preimage. Raw ids never appear in
// subjects, so ids with '.', '*', '>' or spaces are safe.
func NotifySubject(prefix, id string) string { return prefix + ".notify." + NotifyToken(id) }

// NotifyToken is the subject token of instance id used by [NotifySubject].
func NotifyToken(id string) string {
	if len(id) <= maxRawToken {
		return base64.RawURLEncoding.EncodeToString([]byte(id))
	}
	sum := sha256.Sum256([]byte(id))
	return "h" + base64.RawURLEncoding.EncodeToString(sum[:])
}
