// Package client is the Go client of a Reprise deployment: it starts and
// controls orchestration instances through the NATS subject API that the
// orchestrator service answers (see package
// github.com/reprise/reprise/api for the subjects and JSON shapes).
//
//	nc, _ := nats.Connect(nats.DefaultURL)
//	c := client.New(nc)
//	id, err := c.Start(ctx, "hello", "world")
//	st, err := c.Wait(ctx, id)
//	greeting, err := client.Output[string](st)
//
// Every method is a request/reply on <prefix>.api.<verb>. Failures the
// server reports come back as an *[APIError] that matches one of the
// sentinel errors ([ErrNotFound], [ErrAlreadyExists], ...) with errors.Is;
// a missing server is [ErrUnavailable]. A request is checked locally by the
// rules the server applies (package api), so an invalid one fails the same
// way without a round trip.
//
// Requests answered "unavailable" (or not answered at all, when no server
// listens) are sent again with backoff ([WithRetries]). Raise, terminate,
// suspend and resume carry a request id ([WithRequestID]; random when not
// given), so they are also retried after a lost reply and recorded once.
// History and list replies come in pages; [Client.History] and
// [Client.Instances] follow them.
//
// The package owns only the wire: it must not know the runtime, a provider
// or how the server stores anything. Values cross it as JSON.
package client
