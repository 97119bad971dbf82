package caddymodule

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/anonaccess/caddy-anonymous-access/metrics"
	"github.com/anonaccess/caddy-anonymous-access/policy"
)

// maxRedeemForm caps the body of a link redemption: a code and two small
// fields.
const maxRedeemForm = 4 << 10

var errNotFound = errors.New("not found")

// serveOpen is an app link: the landing page without a code, a redemption
// with one.
func (h *Handler) serveOpen(w http.ResponseWriter, r *http.Request) error {
	noStore(w)
	app := r.PathValue("app")
	var code, object string
	var embed bool
	if r.Method == http.MethodPost {
		var err error
		if code, object, embed, err = readRedeemForm(r); err != nil {
			return h.refuse(w, r, err)
		}
	} else {
		q := r.URL.Query()
		if !q.Has("code") {
			h.writeLanding(w, r)
			return nil
		}
		code, object, embed = q.Get("code"), q.Get("object"), q.Get("embed") == "1"
	}
	if err := checkRedemptionSource(r); err != nil {
		return h.refuse(w, r, err)
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
		return h.refuse(w, r, err)
	}
	metrics.SessionsStarted.WithLabelValues(t.Name(), app, string(kind)).Inc()
	if ce := h.logger.Check(zap.DebugLevel, "anonymous session started"); ce != nil {
		ce.Write(zap.String("tenant", t.Name()), zap.String("app", app), zap.String("kind", string(kind)))
	}
	setSessionCookie(w, opened)
	w.Header().Set("Location", opened.Location)
	w.WriteHeader(http.StatusSeeOther)
	return nil
}

// serveLandingOnly answers a path below an app link with the landing page,
// and refuses a code sent there as it refuses any wrong code.
func (h *Handler) serveLandingOnly(w http.ResponseWriter, r *http.Request) error {
	noStore(w)
	if r.Method == http.MethodPost || r.URL.Query().Has("code") {
		return h.refuse(w, r, policy.ErrDenied)
	}
	h.writeLanding(w, r)
	return nil
}

// errForeignRedemption refuses a redemption another site's page made on
// the viewer's behalf.
var errForeignRedemption = errors.New("links open only from the gateway's own page or a person's navigation")

// checkRedemptionSource lets a code be redeemed only by our own landing
// page (a POST from the same origin, by Fetch Metadata or by Origin) or by
// a person's navigation to a link carrying the code (a GET that loads a
// page, or a frame of the gateway's own origin). Another
// site's page cannot spend a viewer's capacity, or a tenant's, by posting
// codes from their browser or pulling links with <img> and fetch. Clients
// that send no Fetch Metadata (scripts, curl) are not browsers and are
// let through; the failure limiter and client_sessions bound them.
func checkRedemptionSource(r *http.Request) error {
	if r.Method == http.MethodPost {
		if crossSite(r) {
			return errForeignRedemption
		}
		return nil
	}
	switch r.Header.Get("Sec-Fetch-Dest") {
	case "", "document":
		return nil
	case "iframe":
		// Embed codes open the landing page, which posts the code from
		// the gateway's own origin; an iframe that carries ?code= on
		// another site's page would only spend capacity.
		switch r.Header.Get("Sec-Fetch-Site") {
		case "", "none", "same-origin":
			return nil
		}
	}
	return errForeignRedemption
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

// serveSession tells the caller about its own live sessions.
func (h *Handler) serveSession(w http.ResponseWriter, r *http.Request) error {
	noStore(w)
	sessions := []policy.SessionInfo{}
	eachSessionCookie(r.Header, func(_, token string) bool {
		if info, ok := h.tenant.tenant.Describe(token); ok {
			sessions = append(sessions, info)
		}
		return true
	})
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(map[string]any{"sessions": sessions})
}
