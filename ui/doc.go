// Package ui is Reprise's web UI: a list of instances with filters and
// counts per status, an instance page with its status, payloads, parent,
// children, executions and history (as a table and as a timeline drawn as
// server-side SVG), live updates over server-sent events, and actions (start,
// raise, terminate, suspend, resume, purge) behind a confirmation step.
//
// It works only through the public NATS subject API, through package client
// and the notification subjects of package api, so it runs inside
// the orchestrator (-ui-addr) or as its own process against any deployment
// ("reprise ui"). It knows nothing of the runtime, the provider or the
// server's internals.
//
// Pages are rendered with html/template (every string escaped) from assets
// embedded in the binary; there is no JavaScript build step, and the read
// pages work without JavaScript (the small script in static/app.js only adds
// live updates). Actions are POST forms protected by a double-submit CSRF
// token and an Origin check; every response carries a strict
// Content-Security-Policy that allows no inline script or style.
package ui
