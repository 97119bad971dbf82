package caddymodule

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/anonaccess/caddy-anonymous-access/policy"
)

// cookiePrefix starts the name of every session cookie, one per app. The
// __Host- prefix makes browsers refuse the cookie unless it is Secure, has
// Path=/ and no Domain, so a sibling subdomain cannot plant one.
const cookiePrefix = "__Host-anon_"

// The headers the gateway sets on forwarded requests. Client copies are
// always removed first.
const (
	headerApp     = "X-Anonymous-App"
	headerSession = "X-Anonymous-Session"
)

// setSessionCookie adds the cookie of a new session to the response. The
// token inside expires after session_ttl, but the cookie lives until the
// end of the renewal window (counted from the redemption of the link) so a
// page load after expiry can start a new session from it. The header is written directly: the name is a validated app id and
// the value a JWT (base64url and dots), so net/http's byte-by-byte
// sanitising of both, a measurable part of a redemption, adds nothing.
func setSessionCookie(w http.ResponseWriter, o policy.Opened) {
	var b strings.Builder
	b.Grow(len(cookiePrefix) + len(o.Session.App) + len(o.Token) + 96)
	b.WriteString(cookiePrefix)
	b.WriteString(o.Session.App)
	b.WriteByte('=')
	b.WriteString(o.Token)
	b.WriteString("; Path=/; Max-Age=")
	b.WriteString(strconv.Itoa(int(o.Session.RenewUntil.Sub(o.Session.IssuedAt) / time.Second)))
	b.WriteString("; HttpOnly; Secure")
	if o.Session.Kind == policy.KindEmbed {
		// Inside a third-party iframe only a partitioned, SameSite=None
		// cookie survives the browser's third-party cookie blocking.
		b.WriteString("; SameSite=None; Partitioned")
	} else {
		b.WriteString("; SameSite=Lax")
	}
	w.Header().Add("Set-Cookie", b.String())
}

// eachSessionCookie calls fn with the app and value of every gateway
// cookie in the request, in order, until fn returns false.
func eachSessionCookie(h http.Header, fn func(app, value string) bool) {
	for _, line := range h["Cookie"] {
		for len(line) > 0 {
			var part string
			part, line, _ = strings.Cut(line, ";")
			part = strings.TrimLeft(part, " \t")
			if !strings.HasPrefix(part, cookiePrefix) {
				continue
			}
			name, val, ok := strings.Cut(part[len(cookiePrefix):], "=")
			if !ok {
				continue
			}
			if !fn(name, strings.Trim(val, "\"")) {
				return
			}
		}
	}
}

// clearSessionCookie tells the browser to drop a session's cookie, one
// that can never be used again. An embed's cookie is partitioned, and only
// a partitioned Set-Cookie reaches it.
func clearSessionCookie(w http.ResponseWriter, s policy.Session) {
	attrs := "; SameSite=Lax"
	if s.Kind == policy.KindEmbed {
		attrs = "; SameSite=None; Partitioned"
	}
	w.Header().Add("Set-Cookie", cookiePrefix+s.App+"=; Path=/; Max-Age=0; HttpOnly; Secure"+attrs)
}

// stripSessionCookies removes the gateway's cookies from the request so the
// backend never sees a session token.
func stripSessionCookies(h http.Header) {
	lines := h["Cookie"]
	if len(lines) == 0 {
		return
	}
	kept := make([]string, 0, 4)
	for _, line := range lines {
		for len(line) > 0 {
			var part string
			part, line, _ = strings.Cut(line, ";")
			part = strings.TrimSpace(part)
			if part == "" || strings.HasPrefix(part, cookiePrefix) {
				continue
			}
			kept = append(kept, part)
		}
	}
	if len(kept) == 0 {
		h.Del("Cookie")
		return
	}
	h["Cookie"] = []string{strings.Join(kept, "; ")}
}
