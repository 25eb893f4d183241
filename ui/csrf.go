package ui

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
)

// csrfCookie holds the browser's CSRF token. Every action form carries the
// same token in a hidden field (the double-submit pattern): a page of
// another origin can make the browser send the cookie but cannot read it to
// fill the field. Cross-origin POSTs are also refused outright by
// http.CrossOriginProtection (Sec-Fetch-Site and Origin).
const csrfCookie = "reprise_csrf"

// csrfToken returns the request's token, setting a new cookie when it has
// none (or a malformed one).
func csrfToken(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(csrfCookie); err == nil && validToken(c.Value) {
		return c.Value
	}
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	tok := base64.RawURLEncoding.EncodeToString(b)
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: tok, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	return tok
}

func validToken(s string) bool {
	b, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil && len(b) == 32
}

// checkCSRF reports whether the posted form's token matches the cookie.
func checkCSRF(r *http.Request) bool {
	c, err := r.Cookie(csrfCookie)
	if err != nil || !validToken(c.Value) {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostFormValue("csrf"))) == 1
}

// newPage starts a page's view data: title, mode and CSRF token.
func (h *Handler) newPage(w http.ResponseWriter, r *http.Request, title string) page {
	p := page{Title: title, ReadOnly: h.opts.ReadOnly}
	if !h.opts.ReadOnly {
		p.CSRF = csrfToken(w, r)
	}
	return p
}
