package caddymodule

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/anonaccess/caddy-anonymous-access/metrics"
	"github.com/anonaccess/caddy-anonymous-access/policy"
)

// refusal is how the gateway answers one reason for turning a request
// away: its status, the stable code scripts branch on, the counter it
// adds to, when to try again and what a person reads. Every answer of an
// error by this package comes from the table below.
type refusal struct {
	status int
	// code is the JSON "error" of the anonymous surface; the management
	// API's codes are per status (apiErrorCodes), its documented contract.
	code string
	// message is the JSON "message"; empty means the error's own text,
	// which for an InvalidError names the field at fault.
	message string
	// counter, when set, counts the refusal with reason as its label.
	counter *prometheus.CounterVec
	reason  string
	// retry is the Retry-After: how long before trying again may help.
	retry time.Duration
	// page words the refusal for a person; empty means the status text
	// and the message.
	page pageText
}

// Retry-After values: capacity frees as sessions end, which a person can
// wait for; a store outage is usually shorter.
const (
	retryCapacity = 30 * time.Second
	retryStore    = 5 * time.Second
)

var (
	refuseNoSession = &refusal{status: http.StatusUnauthorized, code: "no_session", message: policy.ErrNoSession.Error(),
		counter: metrics.RequestsDenied, reason: metrics.ReasonNoSession,
		page: pageText{"Open the shared link first", "This page is only available through a shared link.", "Open the link you were given to view it."}}
	refuseBadRequest = &refusal{status: http.StatusBadRequest, code: "bad_request"}
	refuseNotFound   = &refusal{status: http.StatusNotFound, code: "not_found"}
	refuseConflict   = &refusal{status: http.StatusConflict, code: "conflict"}
	refuseMethod     = &refusal{status: http.StatusMethodNotAllowed, code: "method_not_allowed"}
	refuseInternal   = &refusal{status: http.StatusInternalServerError, code: "internal", message: "internal error"}
)

// refusals maps each sentinel, matched with errors.Is, to its answer.
var refusals = []struct {
	err error
	*refusal
}{
	// Opening a link.
	{policy.ErrDenied, &refusal{status: http.StatusForbidden, code: "invalid_link",
		counter: metrics.LinksRejected, reason: metrics.ReasonInvalid,
		page: pageText{"This link is not valid", "The link may have been turned off, or replaced by a new one.", "Ask the person who shared it for a current link."}}},
	{policy.ErrCapacityFull, &refusal{status: http.StatusServiceUnavailable, code: "capacity_full",
		counter: metrics.LinksRejected, reason: metrics.ReasonCapacity, retry: retryCapacity,
		page: pageText{"Too many viewers right now", "This content has reached its limit of simultaneous anonymous viewers.", "Please try again in a little while."}}},
	{policy.ErrRateLimited, &refusal{status: http.StatusTooManyRequests, code: "rate_limited",
		counter: metrics.LinksRejected, reason: metrics.ReasonRateLimited,
		page: pageText{"Too many attempts", "There were too many attempts with invalid links from your network.", "Please wait a moment before trying again."}}},
	{policy.ErrClientLimit, &refusal{status: http.StatusTooManyRequests, code: "client_limit",
		counter: metrics.LinksRejected, reason: metrics.ReasonClientLimit,
		page: pageText{"Too many open sessions from your network", "Your network already has as many shared sessions open as one network may.", "A new one can start as soon as one of them ends."}}},
	{errForeignRedemption, &refusal{status: http.StatusForbidden, code: "cross_site",
		counter: metrics.LinksRejected, reason: metrics.ReasonCrossSite,
		page: pageText{"This link cannot be opened from here", "Shared links open when you follow them yourself, not from inside another site's page.", "Open the link directly in your browser's address bar."}}},
	{policy.ErrStoreUnavailable, &refusal{status: http.StatusServiceUnavailable, code: "store_unavailable", retry: retryStore,
		page: pageText{"Temporarily unavailable", "Shared content cannot be opened right now.", "Please try again in a few seconds."}}},

	// A protected request.
	{policy.ErrNoSession, refuseNoSession},
	{policy.ErrInvalidToken, refuseNoSession},
	{policy.ErrExpired, &refusal{status: http.StatusUnauthorized, code: "session_expired",
		counter: metrics.RequestsDenied, reason: metrics.ReasonExpired,
		page: pageText{"Your session has ended", "Anonymous sessions last a limited time.", "Open the shared link again to continue."}}},
	{policy.ErrRevoked, &refusal{status: http.StatusUnauthorized, code: "session_revoked",
		counter: metrics.RequestsDenied, reason: metrics.ReasonRevoked,
		page: pageText{"This link is no longer valid", "Sharing of this content was turned off, or its link was replaced.", "Ask the person who shared it for a current link."}}},
	{policy.ErrOutOfScope, &refusal{status: http.StatusForbidden, code: "not_shared",
		counter: metrics.RequestsDenied, reason: metrics.ReasonScope,
		page: pageText{"Not shared", "This page is not part of the content that was shared with you.", ""}}},
	{policy.ErrMethodNotAllowed, &refusal{status: http.StatusMethodNotAllowed, code: "method_not_allowed",
		counter: metrics.RequestsDenied, reason: metrics.ReasonMethod}},
	{policy.ErrBadPath, &refusal{status: http.StatusBadRequest, code: "bad_path",
		counter: metrics.RequestsDenied, reason: metrics.ReasonScope}},
	{errBodyTooLarge, &refusal{status: http.StatusRequestEntityTooLarge, code: "too_large"}},
	{errBodyUnreadable, refuseBadRequest},

	// The gateway's own pages and the management API.
	{errNotFound, refuseNotFound},
	{errMethod, refuseMethod},
	{errBadForm, refuseBadRequest},
	{errUIUnavailable, refuseInternal},
	{errNoIdentity, refuseNotFound},
	{errNoRoute, refuseNotFound},
	{errCrossSite, &refusal{status: http.StatusForbidden, code: "cross_site"}},
	{policy.ErrUnauthenticated, &refusal{status: http.StatusUnauthorized, code: "unauthorized"}},
	{policy.ErrForbidden, &refusal{status: http.StatusForbidden, code: "forbidden"}},
	{policy.ErrTooManyChanges, &refusal{status: http.StatusTooManyRequests, code: "too_many_requests"}},
	{policy.ErrUnknownApp, refuseNotFound},
	{policy.ErrUnknownSpace, refuseNotFound},
	{policy.ErrUnknownRole, refuseNotFound},
	{policy.ErrNotMember, refuseNotFound},
	{policy.ErrOff, refuseConflict},
	{policy.ErrNotManaged, refuseConflict},
	{policy.ErrAppExists, refuseConflict},
	{policy.ErrSpaceExists, refuseConflict},
	{policy.ErrRoleExists, refuseConflict},
	{policy.ErrProvisioned, refuseConflict},
	{policy.ErrOwner, refuseConflict},
	{errAPIBodyTooLarge, &refusal{status: http.StatusRequestEntityTooLarge, code: "too_large"}},
	{errNotJSON, &refusal{status: http.StatusUnsupportedMediaType, code: "unsupported_media_type"}},
	{errUnexpectedBody, refuseBadRequest},
}

// refusalOf finds the answer to err: its row, a 400 for bad input, or
// nil for an error nobody planned for (a bug or an I/O failure).
func refusalOf(err error) *refusal {
	for i := range refusals {
		if errors.Is(err, refusals[i].err) {
			return refusals[i].refusal
		}
	}
	var inv *policy.InvalidError
	if errors.As(err, &inv) {
		return refuseBadRequest
	}
	return nil
}

// retryAfter is how long the caller should wait: the rate limiter's or
// the client limit's own figure when it gave one, the row's otherwise.
func (f *refusal) retryAfter(err error) time.Duration {
	var re *policy.RetryError
	if errors.As(err, &re) {
		return re.RetryAfter
	}
	return f.retry
}

// messageOf is the JSON "message" of err: never a code, token or session
// id, since err is a sentinel or an InvalidError naming a field.
func (f *refusal) messageOf(err error) string {
	if f.message != "" {
		return f.message
	}
	return err.Error()
}

// count adds the refusal to its counter, if it has one.
func (f *refusal) count(tenant string) {
	if f.counter != nil {
		f.counter.WithLabelValues(tenant, f.reason).Inc()
	}
}

// errInternal stands in for an error nobody planned for, whose details go
// to the log only.
var errInternal = errors.New("internal error")

// Error page modes: the handler's own pages, or Caddy's handle_errors.
const (
	errorPagesBuiltin = "builtin"
	errorPagesCaddy   = "caddy"
)

// refuse answers err: counted, logged at debug level without any secret,
// with its Retry-After, then shown by the builtin pages or, with
// error_pages caddy, handed to the site's handle_errors routes with the
// placeholders {http.anonymous_access.reason} and
// {http.anonymous_access.retry_after} set.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, err error) error {
	f := refusalOf(err)
	if f == nil {
		h.logger.Error("anonymous access: unexpected error", zap.String("path", r.URL.Path), zap.Error(err))
		f, err = refuseInternal, errInternal
	}
	f.count(h.Tenant)
	if ce := h.logger.Check(zap.DebugLevel, "anonymous request refused"); ce != nil {
		ce.Write(zap.String("tenant", h.Tenant), zap.String("reason", f.code), zap.Int("status", f.status))
	}
	noStore(w)
	retry := 0
	if d := f.retryAfter(err); d > 0 {
		retry = setRetryAfter(w, d)
	}
	if h.ErrorPages == errorPagesCaddy {
		if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
			repl.Set("http.anonymous_access.reason", f.code)
			repl.Set("http.anonymous_access.retry_after", retry)
		}
		return caddyhttp.Error(f.status, err)
	}
	h.writePage(w, r, f, err, retry)
	return nil
}

// setRetryAfter sets Retry-After in whole seconds, at least one, and
// returns them.
func setRetryAfter(w http.ResponseWriter, d time.Duration) int {
	secs := max(1, int((d+time.Second-1)/time.Second))
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	return secs
}

// noStore keeps a gateway answer out of every cache and its address out of
// the next page's Referer.
func noStore(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
}
