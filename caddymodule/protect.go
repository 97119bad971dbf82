package caddymodule

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/anonaccess/caddy-anonymous-access/metrics"
	"github.com/anonaccess/caddy-anonymous-access/policy"
)

// maxAnonymousBody caps request bodies of anonymous requests (for apps that
// allow a method with a body): dashboards send small queries, never
// uploads.
const maxAnonymousBody = 1 << 20

// ServeHTTP implements caddyhttp.MiddlewareHandler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	p := r.URL.Path
	if strings.HasPrefix(p, h.Prefix) && (len(p) == len(h.Prefix) || p[len(h.Prefix)] == '/') {
		return h.serveGateway(w, r)
	}
	return h.serveProtected(w, r, next)
}

func (h *Handler) serveProtected(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	start := time.Now()
	t := h.tenant.tenant
	dropGatewayHeaders(r.Header)
	mergeSlashes(r.URL)
	if err := policy.CheckPath(r.URL.Path, r.URL.RawPath); err != nil {
		return h.refuse(w, r, err)
	}
	c := t.CheckCookies(r.Method, r.URL.Path)
	eachSessionCookie(r.Header, c.Offer)
	d := &c.Decision
	for _, s := range d.Revoked {
		clearSessionCookie(w, s)
	}
	if d.Granted == nil && d.Renewable != "" && isPageLoad(r) {
		return h.renew(w, r, next, d.Renewable)
	}
	metrics.CheckDuration.Observe(time.Since(start).Seconds())
	if d.Granted == nil {
		// The refusal page is framed as the pages of the session's app.
		r.SetPathValue("app", d.App)
		return h.refuse(w, r, d.Refusal)
	}
	return h.forward(w, r, next, d)
}

// renew starts a new session from an expired token on a top-level page
// load and forwards the request under it.
func (h *Handler) renew(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, token string) error {
	t := h.tenant.tenant
	client, _ := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string)
	opened, err := t.Renew(r.Context(), token, r.Method, r.URL.Path, client)
	if err != nil {
		return h.refuse(w, r, err)
	}
	metrics.SessionsStarted.WithLabelValues(t.Name(), opened.Session.App, string(policy.KindRenewal)).Inc()
	if ce := h.logger.Check(zap.DebugLevel, "anonymous session renewed"); ce != nil {
		ce.Write(zap.String("tenant", t.Name()), zap.String("app", opened.Session.App))
	}
	setSessionCookie(w, opened)
	c := t.CheckCookies(r.Method, r.URL.Path)
	c.Offer(opened.Session.App, opened.Token)
	if c.Granted == nil {
		return h.refuse(w, r, c.Refusal)
	}
	return h.forward(w, r, next, &c.Decision)
}

// isPageLoad tells a top-level or iframe page load from a script's fetch,
// so only a person reloading the page starts a new session.
func isPageLoad(r *http.Request) bool {
	if r.Method != http.MethodGet {
		return false
	}
	switch r.Header.Get("Sec-Fetch-Dest") {
	case "document", "iframe":
		return true
	case "":
		return strings.Contains(r.Header.Get("Accept"), "text/html")
	}
	return false
}

// forward passes a granted request on: the gateway's cookies out, its own
// headers and the app's locked query parameters in, the response private
// and held to the session's life.
func (h *Handler) forward(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, d *policy.Decision) error {
	v := d.Granted
	if err := capBody(r); err != nil {
		return h.refuse(w, r, err)
	}
	if q, ok := d.LockedQuery(r.URL.RawQuery); ok {
		r.URL.RawQuery = q
		r.RequestURI = r.URL.RequestURI()
		if err := lockForm(r, d); err != nil {
			return h.refuse(w, r, err)
		}
	}
	stripSessionCookies(r.Header)
	r.Header[headerApp] = []string{v.Session.App}
	r.Header[headerSession] = []string{v.Ref}
	if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		repl.Set("http.anonymous_access.app", v.Session.App)
		repl.Set("http.anonymous_access.session", v.Ref)
	}
	w.Header().Set("Content-Security-Policy", h.tenant.tenant.FrameAncestors(v))
	// The request lives only as long as its session: a WebSocket, an
	// event stream or a long download is cut when the session is revoked
	// or its time is up, not left running on a check made at its start.
	ctx, release := h.tenant.tenant.Hold(r.Context(), v)
	defer release()
	// Deferred: reverse_proxy ends a response it cut mid-stream with
	// panic(http.ErrAbortHandler), which skips whatever follows the call.
	defer h.countStreamEnd(ctx)
	pw := &privateResponse{ResponseWriterWrapper: caddyhttp.ResponseWriterWrapper{ResponseWriter: w}}
	err := next.ServeHTTP(pw, r.WithContext(ctx))
	if err != nil && !pw.done {
		// The session ended before the backend answered: say so, rather
		// than the 502 of a cancelled upstream request.
		if cause := context.Cause(ctx); errors.Is(cause, policy.ErrRevoked) || errors.Is(cause, policy.ErrExpired) {
			return h.refuse(w, r, cause)
		}
	}
	return err
}

// countStreamEnd counts a request the gateway ended before it was done.
func (h *Handler) countStreamEnd(ctx context.Context) {
	if ctx.Err() == nil {
		return
	}
	switch cause := context.Cause(ctx); {
	case errors.Is(cause, policy.ErrRevoked):
		metrics.StreamsClosed.WithLabelValues(h.Tenant, metrics.ReasonRevoked).Inc()
	case errors.Is(cause, policy.ErrExpired):
		metrics.StreamsClosed.WithLabelValues(h.Tenant, metrics.ReasonExpired).Inc()
	}
}

// lockForm applies an app's locked parameters to a form body too: most
// backends (Go's ParseForm, PHP, Prometheus) read a form field from the
// body before the query string, so a locked filter would otherwise be
// one POST away. Only urlencoded forms are rewritten; other bodies are
// the backend's to read (the README says what that means).
func lockForm(r *http.Request, d *policy.Decision) error {
	ct, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";")
	if r.Body == nil || r.Body == http.NoBody || !strings.EqualFold(strings.TrimSpace(ct), "application/x-www-form-urlencoded") {
		return nil
	}
	body, err := readBody(r)
	if err != nil {
		return err
	}
	locked, _ := d.LockedQuery(string(body))
	setBody(r, []byte(locked))
	r.Header.Set("Content-Length", strconv.Itoa(len(locked)))
	return nil
}

// capBody refuses an anonymous request body over maxAnonymousBody before
// the backend sees any of it. A declared length is checked as it is (the
// server reads no more than it); a body of unknown length (chunked) is
// read here, up to the cap, rather than cut off mid-stream.
func capBody(r *http.Request) error {
	if r.ContentLength > maxAnonymousBody {
		return errBodyTooLarge
	}
	if r.ContentLength >= 0 || r.Body == nil || r.Body == http.NoBody {
		return nil
	}
	body, err := readBody(r)
	if err != nil {
		return err
	}
	setBody(r, body)
	return nil
}

// readBody reads an anonymous request's body, at most maxAnonymousBody.
func readBody(r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxAnonymousBody+1))
	if err != nil {
		return nil, errBodyUnreadable
	}
	if len(body) > maxAnonymousBody {
		return nil, errBodyTooLarge
	}
	return body, nil
}

// setBody makes body the request's, with its exact length.
func setBody(r *http.Request, body []byte) {
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	r.TransferEncoding = nil
}

var (
	errBodyTooLarge   = errors.New("request body too large")
	errBodyUnreadable = errors.New("request body could not be read")
)
