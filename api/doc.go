// Package api is Reprise's wire API over NATS: the subject names (functions
// of a configurable prefix), the JSON request and reply bodies, the error
// codes, the status-change notification subject and the validation rules a
// server applies to outside input.
//
// Every request/reply verb lives on <prefix>.api.<verb> (see [Subject]). A
// reply is either the verb's success body or an [ErrorReply]:
//
//	{"error":{"code":"invalid_instance_id","message":"..."}}
//
// A fire-and-forget start is a plain publish of a [StartRequest] to
// [SubmitSubject], captured by the JetStream stream [SubmitStream] and so
// durable once JetStream acknowledged it. An invalid submission is
// republished to [DeadLetterSubject] as a [DeadLetter].
//
// After each commit that changes an instance's status, the orchestrator
// publishes the [InstanceStatus] on [NotifySubject].
//
// This package is the contract shared by the server (services/orchestrator),
// the Go client, the CLI and clients in other languages. It must not import
// the runtime or any provider: it knows JSON shapes and names, not engines.
package api
