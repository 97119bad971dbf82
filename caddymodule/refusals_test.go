package caddymodule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/anonaccess/caddy-anonymous-access/policy"
)

// TestEveryPolicyErrorHasARefusal checks that no sentinel of the domain
// falls through to a 500, wrapped or not.
func TestEveryPolicyErrorHasARefusal(t *testing.T) {
	for _, err := range []error{
		policy.ErrDenied, policy.ErrCapacityFull, policy.ErrRateLimited, policy.ErrNoSession,
		policy.ErrExpired, policy.ErrRevoked, policy.ErrInvalidToken, policy.ErrOutOfScope,
		policy.ErrMethodNotAllowed, policy.ErrBadPath, policy.ErrUnknownApp, policy.ErrUnknownSpace,
		policy.ErrNotManaged, policy.ErrOff, policy.ErrAppExists, policy.ErrSpaceExists,
		policy.ErrRoleExists, policy.ErrUnknownRole, policy.ErrNotMember, policy.ErrProvisioned,
		policy.ErrOwner, policy.ErrForbidden, policy.ErrUnauthenticated, policy.ErrStoreUnavailable,
		&policy.RetryError{Err: policy.ErrRateLimited, RetryAfter: time.Second}, &policy.InvalidError{Field: "f", Reason: "r"},
		policy.ErrClientLimit, &policy.RetryError{Err: policy.ErrClientLimit, RetryAfter: time.Minute},
	} {
		for _, e := range []error{err, fmt.Errorf("wrapped: %w", err)} {
			f := refusalOf(e)
			if f == nil || f.status < 400 || f.status > 503 || f.code == "" {
				t.Errorf("%v: no refusal (%+v)", e, f)
			}
		}
	}
	if refusalOf(errors.New("disk on fire")) != nil {
		t.Error("an unplanned error has a refusal instead of 500")
	}
}

// TestRefusalAnswers checks the status, JSON code, Retry-After and counter
// of each kind of refusal as a script sees it.
func TestRefusalAnswers(t *testing.T) {
	for _, tc := range []struct {
		err         error
		status      int
		code, retry string
	}{
		{policy.ErrDenied, 403, "invalid_link", ""},
		{policy.ErrCapacityFull, 503, "capacity_full", "30"},
		{policy.ErrStoreUnavailable, 503, "store_unavailable", "5"},
		{&policy.RetryError{Err: policy.ErrRateLimited, RetryAfter: 1500 * time.Millisecond}, 429, "rate_limited", "2"},
		{&policy.RetryError{Err: policy.ErrClientLimit, RetryAfter: 14 * time.Minute}, 429, "client_limit", "840"},
		{policy.ErrInvalidToken, 401, "no_session", ""},
		{policy.ErrRevoked, 401, "session_revoked", ""},
		{&policy.InvalidError{Field: "object", Reason: "must be a path inside the app's scope"}, 400, "bad_request", ""},
		{errors.New("disk on fire"), 500, "internal", ""},
	} {
		f := newHandler(t, 1)
		w := httptest.NewRecorder()
		r := httptest.NewRequest("POST", "/_anon/open/market", nil)
		if err := f.h.refuse(w, r, tc.err); err != nil {
			t.Fatalf("%v: builtin pages returned %v", tc.err, err)
		}
		var body struct{ Error, Message string }
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
			t.Fatalf("%v: %s", tc.err, w.Body)
		}
		if w.Code != tc.status || body.Error != tc.code || w.Header().Get("Retry-After") != tc.retry ||
			w.Header().Get("Cache-Control") != "no-store" {
			t.Errorf("%v: %d %+v Retry-After %q %v", tc.err, w.Code, body, w.Header().Get("Retry-After"), w.Header())
		}
		if strings.Contains(w.Body.String(), "disk on fire") {
			t.Errorf("an internal error's details reached the client: %s", w.Body)
		}
	}
}

// TestErrorPagesCaddy checks that with error_pages caddy a refusal is
// returned to Caddy as a HandlerError with the placeholders a
// handle_errors route renders, and nothing is written by the handler.
func TestErrorPagesCaddy(t *testing.T) {
	f := newHandler(t, 1)
	f.h.ErrorPages = errorPagesCaddy
	c := f.open(t, url.Values{"code": {f.code(t)}})
	for _, tc := range []struct {
		r              *http.Request
		status         int
		reason, retry  string
		retryAfterHead string
	}{
		{get("/d/market.html", nil, "Accept", "text/html"), 401, "no_session", "0", ""},
		{get("/d/internal.html", c), 403, "not_shared", "0", ""},
		{get("/_anon/open/market?code=wrong", nil), 403, "invalid_link", "0", ""},
		{get("/_anon/open/market?code="+f.code(t), nil), 503, "capacity_full", "30", "30"},
		{get("/_anon/nowhere", nil), 404, "not_found", "0", ""},
	} {
		repl := caddy.NewReplacer()
		r := tc.r.WithContext(context.WithValue(tc.r.Context(), caddy.ReplacerCtxKey, repl))
		w := httptest.NewRecorder()
		err := f.h.ServeHTTP(w, r, caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error {
			t.Fatalf("%s reached the backend", r.URL)
			return nil
		}))
		var he caddyhttp.HandlerError
		if !errors.As(err, &he) || he.StatusCode != tc.status {
			t.Fatalf("%s: returned %v, want a HandlerError %d", r.URL, err, tc.status)
		}
		reason, _ := repl.GetString("http.anonymous_access.reason")
		retry, _ := repl.Get("http.anonymous_access.retry_after")
		if reason != tc.reason || fmt.Sprint(retry) != tc.retry || w.Header().Get("Retry-After") != tc.retryAfterHead {
			t.Errorf("%s: reason %q retry %v Retry-After %q", r.URL, reason, retry, w.Header().Get("Retry-After"))
		}
		if w.Body.Len() != 0 || w.Header().Get("Cache-Control") != "no-store" {
			t.Errorf("%s: the handler wrote %q with %v", r.URL, w.Body, w.Header())
		}
		if strings.Contains(fmt.Sprint(err), f.code(t)) {
			t.Errorf("%s: the error carries the access code", r.URL)
		}
	}
}
