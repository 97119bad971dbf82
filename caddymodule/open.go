package caddymodule

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/anonaccess/caddy-anonymous-access/metrics"
	"github.com/anonaccess/caddy-anonymous-access/policy"
)

// maxRedeemForm caps the body of a link redemption: a code and two small
// fields.
const maxRedeemForm = 4 << 10

// Retry-After values: capacity frees as sessions end, which a person can
// wait for; a store outage is usually shorter.
const (
	retryCapacity = 30 * time.Second
	retryStore    = 5 * time.Second
)

var errNotFound = errors.New("not found")

func (h *Handler) serveGateway(w http.ResponseWriter, r *http.Request) error {
	sub := r.URL.Path[len(h.Prefix):]
	switch {
	case strings.HasPrefix(sub, "/open/"):
		h.serveOpen(w, r, sub[len("/open/"):])
	case sub == "/session":
		h.serveSession(w, r)
	case strings.HasPrefix(sub, "/api/v1/"):
		h.serveAPI(w, r, sub[len("/api/v1"):])
	case sub == "/ui" || strings.HasPrefix(sub, "/ui/"):
		h.serveUI(w, r, sub)
	default:
		h.writeError(w, r, http.StatusNotFound, errNotFound)
	}
	return nil
}

// serveOpen is an app link: the landing page without a code, a redemption
// with one.
func (h *Handler) serveOpen(w http.ResponseWriter, r *http.Request, app string) {
	noStore(w)
	var code, object string
	var embed bool
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		q := r.URL.Query()
		if !q.Has("code") {
			h.writeLanding(w, r)
			return
		}
		code, object, embed = q.Get("code"), q.Get("object"), q.Get("embed") == "1"
	case http.MethodPost:
		var err error
		if code, object, embed, err = readRedeemForm(r); err != nil {
			h.writeError(w, r, http.StatusBadRequest, errBadForm)
			return
		}
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		h.writeError(w, r, http.StatusMethodNotAllowed, policy.ErrMethodNotAllowed)
		return
	}
	kind := policy.KindLink
	if embed {
		kind = policy.KindEmbed
	}
	client, _ := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string)
	t := h.tenant.tenant
	opened, err := t.Redeem(r.Context(), policy.Redemption{
		App: app, Code: code, Kind: kind, Object: object, Client: client,
	})
	if err != nil {
		h.refuseOpen(w, r, err, false)
		return
	}
	metrics.SessionsStarted.WithLabelValues(t.Name(), app, string(kind)).Inc()
	if ce := h.logger.Check(zap.DebugLevel, "anonymous session started"); ce != nil {
		ce.Write(zap.String("tenant", t.Name()), zap.String("app", app), zap.String("kind", string(kind)))
	}
	setSessionCookie(w, opened, time.Duration(h.RenewalWindow))
	w.Header().Set("Location", opened.Location)
	w.WriteHeader(http.StatusSeeOther)
}

var errBadForm = errors.New("malformed form: send code (and optionally embed, object) as application/x-www-form-urlencoded, at most 4 KiB")

var formBuffers = sync.Pool{New: func() any { b := make([]byte, maxRedeemForm+1); return &b }}

// readRedeemForm reads the small form of a redemption. It is parsed here
// rather than by ParseForm, whose maps and media-type parsing are a large
// part of a redemption's cost; only the three known fields are kept.
func readRedeemForm(r *http.Request) (code, object string, embed bool, err error) {
	ct, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";")
	if !strings.EqualFold(strings.TrimSpace(ct), "application/x-www-form-urlencoded") {
		return "", "", false, errBadForm
	}
	bp := formBuffers.Get().(*[]byte)
	defer formBuffers.Put(bp)
	n, err := io.ReadFull(r.Body, *bp)
	if err != io.ErrUnexpectedEOF && err != io.EOF || n > maxRedeemForm {
		return "", "", false, errBadForm
	}
	body := string((*bp)[:n])
	for body != "" {
		var pair string
		pair, body, _ = strings.Cut(body, "&")
		key, val, _ := strings.Cut(pair, "=")
		if strings.ContainsAny(val, "%+") {
			if val, err = url.QueryUnescape(val); err != nil {
				return "", "", false, errBadForm
			}
		}
		switch key {
		case "code":
			code = val
		case "object":
			object = val
		case "embed":
			embed = val == "1"
		}
	}
	return code, object, embed, nil
}

// refuseOpen answers a redemption or renewal that did not start a session.
func (h *Handler) refuseOpen(w http.ResponseWriter, r *http.Request, err error, renewal bool) {
	noStore(w)
	var rl *policy.RateLimitedError
	switch {
	case errors.As(err, &rl):
		metrics.LinksRejected.WithLabelValues(h.Tenant, metrics.ReasonRateLimited).Inc()
		setRetryAfter(w, rl.RetryAfter)
		h.writeError(w, r, http.StatusTooManyRequests, policy.ErrRateLimited)
	case errors.Is(err, policy.ErrCapacityFull):
		metrics.LinksRejected.WithLabelValues(h.Tenant, metrics.ReasonCapacity).Inc()
		setRetryAfter(w, retryCapacity)
		h.writeError(w, r, http.StatusServiceUnavailable, policy.ErrCapacityFull)
	case errors.Is(err, policy.ErrStoreUnavailable):
		setRetryAfter(w, retryStore)
		h.writeError(w, r, http.StatusServiceUnavailable, policy.ErrStoreUnavailable)
	case renewal:
		h.denyProtected(w, r, err)
	default:
		var inv *policy.InvalidError
		if errors.As(err, &inv) {
			h.writeError(w, r, http.StatusBadRequest, err)
			return
		}
		metrics.LinksRejected.WithLabelValues(h.Tenant, metrics.ReasonInvalid).Inc()
		h.writeError(w, r, http.StatusForbidden, policy.ErrDenied)
	}
}

func setRetryAfter(w http.ResponseWriter, d time.Duration) {
	secs := int((d + time.Second - 1) / time.Second)
	if secs < 1 {
		secs = 1
	}
	w.Header().Set("Retry-After", strconv.Itoa(secs))
}

func noStore(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
}

// serveSession tells the caller about its own live sessions.
func (h *Handler) serveSession(w http.ResponseWriter, r *http.Request) {
	noStore(w)
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		h.writeError(w, r, http.StatusMethodNotAllowed, policy.ErrMethodNotAllowed)
		return
	}
	sessions := []policy.SessionInfo{}
	eachSessionCookie(r.Header, func(token string) bool {
		if info, ok := h.tenant.tenant.Describe(token); ok {
			sessions = append(sessions, info)
		}
		return true
	})
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"sessions": sessions})
}
