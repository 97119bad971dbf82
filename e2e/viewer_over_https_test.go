//go:build unix

package e2e

// An anonymous viewer over HTTPS with HTTP/2, as browsers reach a
// production gateway: Caddy's `tls internal`, a client that trusts only
// that CA and speaks HTTP/2.

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// salesApp is a second app beside the README's market recipe.
const salesApp = `
		app sales {
			space stats
			entry /reports/sales/index.html
			scope /reports/sales/*
			anonymous on
		}`

// TestE2EViewerOverHTTP2: over HTTPS the link prints with its https
// origin; redemptions and protected requests are HTTP/2; the session
// cookies are __Host-, Secure, HttpOnly, SameSite=Lax for a link and
// SameSite=None; Partitioned for an embed; two apps' cookies, which HTTP/2
// sends as separate header fields, each open their own app, and neither
// reaches the backend.
func TestE2EViewerOverHTTP2(t *testing.T) {
	t.Parallel()
	be := newBackend(t)
	g := startSite(t, site{TLS: true, Apps: recipe(t, "market") + salesApp, Routes: "reverse_proxy " + be.addr()})
	c := newTLSClient(t, g)

	code := g.link(t, "market")
	if !strings.HasPrefix(g.linkURL(t, "market"), "https://localhost:") {
		t.Fatalf("link %s, want the https origin", g.linkURL(t, "market"))
	}
	wantHTTP2(t, "the landing page", c.do(t, http.MethodGet, g.url("/_anon/open/market"), acceptHeader(true), ""), http.StatusOK)
	wantHTTP2(t, "no session", c.do(t, http.MethodGet, g.url(marketEntry), acceptHeader(false), ""), http.StatusUnauthorized)

	r := g.redeem(t, c, http.MethodPost, "market", url.Values{"code": {code}})
	wantHTTP2(t, "the redemption", r, http.StatusSeeOther)
	market := wantRedirectWithSession(t, r, code, openCase{location: marketEntry})
	r = g.redeem(t, c, http.MethodPost, "market", url.Values{"code": {code}, "embed": {"1"}})
	wantHTTP2(t, "the embed's redemption", r, http.StatusSeeOther)
	wantRedirectWithSession(t, r, code, openCase{location: marketEntry, embed: true})
	wantHTTP2(t, "the entry with the session", getWith(t, c, g, market, marketEntry), http.StatusOK)
	wantHTTP2(t, "an asset with the session", getWith(t, c, g, market, "/assets/chart.js"), http.StatusOK)
	wantHTTP2(t, "out of scope with the session", getWith(t, c, g, market, "/dashboards/internal.html"), http.StatusForbidden)

	r = g.redeem(t, c, http.MethodPost, "sales", url.Values{"code": {g.link(t, "sales")}})
	wantHTTP2(t, "the sales redemption", r, http.StatusSeeOther)
	sales := sessionFrom(t, "sales", r)
	both := http.Header{"Cookie": {"theme=dark; " + market.cookie.Name + "=" + market.token + "; " + sales.cookie.Name + "=" + sales.token}}
	for app, path := range map[string]string{"market": marketEntry, "sales": salesEntry} {
		r := c.do(t, http.MethodGet, g.url(path), both, "")
		wantHTTP2(t, path+" with both cookies", r, http.StatusOK)
		if want := "backend GET " + path; string(r.Body) != want {
			t.Errorf("%s with both cookies: %q, want %q", path, r.Body, want)
		}
		seen := be.last(t)
		if got := seen.Header.Get("Cookie"); got != "theme=dark" {
			t.Errorf("%s: the backend got Cookie %q, want only the site's own theme=dark", path, got)
		}
		if got := seen.Header.Get("X-Anonymous-App"); got != app {
			t.Errorf("%s: the backend got X-Anonymous-App %q, want %q", path, got, app)
		}
	}
}

// wantHTTP2 checks a reply's status and that it came over HTTP/2.
func wantHTTP2(t *testing.T, what string, r reply, status int) {
	t.Helper()
	wantStatus(t, what, r, status)
	if r.Proto != "HTTP/2.0" {
		t.Errorf("%s: %s, want HTTP/2.0", what, r.Proto)
	}
}
