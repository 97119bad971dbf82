package caddymodule

import (
	"bytes"
	"errors"
	"io"
	"net/http"
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

// denial ranks why a request was refused: with several session cookies
// the most specific reason wins.
type denial struct {
	err     error
	rank    int
	expired string // a token that may be renewed on a page load
}

func rankOf(err error) int {
	switch err {
	case policy.ErrStoreUnavailable:
		return 6
	case policy.ErrMethodNotAllowed:
		return 5
	case policy.ErrOutOfScope:
		return 4
	case policy.ErrRevoked:
		return 3
	case policy.ErrExpired:
		return 2
	case policy.ErrInvalidToken:
		return 1
	}
	return 0
}

func (h *Handler) serveProtected(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	start := time.Now()
	t := h.tenant.tenant
	r.Header.Del(headerApp)
	r.Header.Del(headerSession)
	if err := policy.CheckPath(r.URL.Path, r.URL.RawPath); err != nil {
		h.deny(w, r, http.StatusBadRequest, err, metrics.ReasonScope)
		return nil
	}
	var granted *policy.Verified
	d := denial{err: policy.ErrNoSession}
	eachSessionCookie(r.Header, func(token string) bool {
		v, err := t.Authorize(token, r.Method, r.URL.Path)
		if err == nil {
			granted = v
			return false
		}
		if rk := rankOf(err); rk > d.rank {
			d.err, d.rank = err, rk
		}
		if err == policy.ErrExpired && d.expired == "" {
			d.expired = token
		}
		return true
	})
	if granted == nil && d.expired != "" && d.rank <= rankOf(policy.ErrExpired) && isPageLoad(r) {
		var ok bool
		if granted, ok = h.renew(w, r, d.expired); !ok {
			return nil
		}
	}
	metrics.CheckDuration.Observe(time.Since(start).Seconds())
	if granted == nil {
		h.denyProtected(w, r, d.err)
		return nil
	}
	return h.forward(w, r, next, granted)
}

// renew starts a new session from an expired token on a top-level page
// load. It writes the refusal itself and returns false when it cannot.
func (h *Handler) renew(w http.ResponseWriter, r *http.Request, token string) (*policy.Verified, bool) {
	t := h.tenant.tenant
	opened, err := t.Renew(r.Context(), token, r.Method, r.URL.Path)
	if err != nil {
		h.refuseOpen(w, r, err, true)
		return nil, false
	}
	metrics.SessionsStarted.WithLabelValues(t.Name(), opened.Session.App, string(policy.KindRenewal)).Inc()
	if ce := h.logger.Check(zap.DebugLevel, "anonymous session renewed"); ce != nil {
		ce.Write(zap.String("tenant", t.Name()), zap.String("app", opened.Session.App))
	}
	setSessionCookie(w, opened, time.Duration(h.RenewalWindow))
	v, err := t.Authorize(opened.Token, r.Method, r.URL.Path)
	if err != nil {
		h.denyProtected(w, r, err)
		return nil, false
	}
	return v, true
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

func (h *Handler) forward(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, v *policy.Verified) error {
	if status, err := capBody(r); err != nil {
		h.writeError(w, r, status, err)
		return nil
	}
	stripSessionCookies(r.Header)
	r.Header[headerApp] = []string{v.Session.App}
	r.Header[headerSession] = []string{v.Ref}
	if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		repl.Set("http.anonymous_access.app", v.Session.App)
		repl.Set("http.anonymous_access.session", v.Ref)
	}
	w.Header().Set("Content-Security-Policy", h.tenant.tenant.FrameAncestors(v))
	return next.ServeHTTP(w, r)
}

// capBody refuses an anonymous request body over maxAnonymousBody before
// the backend sees any of it. A declared length is checked as it is (the
// server reads no more than it); a body of unknown length (chunked) is
// read here, up to the cap, rather than cut off mid-stream.
func capBody(r *http.Request) (int, error) {
	if r.ContentLength > maxAnonymousBody {
		return http.StatusRequestEntityTooLarge, errBodyTooLarge
	}
	if r.ContentLength >= 0 || r.Body == nil || r.Body == http.NoBody {
		return 0, nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxAnonymousBody+1))
	if err != nil {
		return http.StatusBadRequest, errBodyUnreadable
	}
	if len(body) > maxAnonymousBody {
		return http.StatusRequestEntityTooLarge, errBodyTooLarge
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	r.TransferEncoding = nil
	return 0, nil
}

var (
	errBodyTooLarge   = errors.New("request body too large")
	errBodyUnreadable = errors.New("request body could not be read")
)

func (h *Handler) denyProtected(w http.ResponseWriter, r *http.Request, err error) {
	switch err {
	case policy.ErrStoreUnavailable:
		setRetryAfter(w, retryStore)
		h.writeError(w, r, http.StatusServiceUnavailable, err)
	case policy.ErrMethodNotAllowed:
		h.deny(w, r, http.StatusMethodNotAllowed, err, metrics.ReasonMethod)
	case policy.ErrOutOfScope:
		h.deny(w, r, http.StatusForbidden, err, metrics.ReasonScope)
	case policy.ErrRevoked:
		h.deny(w, r, http.StatusUnauthorized, err, metrics.ReasonRevoked)
	case policy.ErrExpired:
		h.deny(w, r, http.StatusUnauthorized, err, metrics.ReasonExpired)
	default:
		h.deny(w, r, http.StatusUnauthorized, policy.ErrNoSession, metrics.ReasonNoSession)
	}
}

func (h *Handler) deny(w http.ResponseWriter, r *http.Request, status int, err error, reason string) {
	metrics.RequestsDenied.WithLabelValues(h.Tenant, reason).Inc()
	if ce := h.logger.Check(zap.DebugLevel, "anonymous request denied"); ce != nil {
		ce.Write(zap.String("tenant", h.Tenant), zap.String("reason", reason), zap.Int("status", status))
	}
	h.writeError(w, r, status, err)
}
