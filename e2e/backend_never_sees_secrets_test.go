//go:build unix

package e2e

// The backend gets the gateway's headers and the client's own cookies,
// never a code, token, session id or forged header.

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestE2EBackendNeverSeesSecrets: what the backend sees of sessions
// started by POST and by GET, of two apps, sent with forged gateway
// headers and several cookies.
func TestE2EBackendNeverSeesSecrets(t *testing.T) {
	t.Parallel()
	be := newBackend(t)
	g := startGateway(t, t.TempDir(), be, gatewayConfig{})
	marketCode, salesCode := g.link(t, "market"), g.link(t, "sales")
	c := newClient(t)

	postMarket := g.open(t, c, "market", marketCode)
	r := g.redeem(t, c, http.MethodGet, "market", url.Values{"code": {marketCode}})
	wantStatus(t, "GET ?code=", r, http.StatusSeeOther)
	getMarket := sessionFrom(t, "market", r)
	sales := g.open(t, c, "sales", salesCode)
	sessions := []session{postMarket, getMarket, sales}

	refs := map[string]string{} // jti -> X-Anonymous-Session seen
	for _, ex := range []backendExchange{
		{postMarket, http.MethodGet, marketEntry, forged("theme=dark; " + postMarket.cookie.Name + "=" + postMarket.token + "; lang=en"), "", []string{"theme", "lang"}},
		{getMarket, http.MethodGet, "/assets/app.js?v=3", forged(getMarket.cookie.Name + "=" + getMarket.token), "", nil},
		// Two Cookie lines, the other app's cookie too.
		{postMarket, http.MethodHead, "/dashboards/market.html", forged("theme=dark", sales.cookie.Name+"="+sales.token+"; "+postMarket.cookie.Name+"="+postMarket.token), "", []string{"theme"}},
		{sales, http.MethodPost, "/reports/sales/query", mergeHeaders(forged("a=1; "+sales.cookie.Name+"="+sales.token+"; "+postMarket.cookie.Name+"="+postMarket.token),
			http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}), "q=revenue", []string{"a"}},
		{sales, http.MethodGet, salesEntry, forged(sales.cookie.Name + `="` + sales.token + `"`), "", nil},
	} {
		ref := wantBackendSaw(t, g, be, c, ex)
		if prev, ok := refs[ex.sess.jti]; ok && prev != ref {
			t.Errorf("one session, two references: %q and %q", prev, ref)
		}
		refs[ex.sess.jti] = ref
	}
	distinct := map[string]bool{}
	for _, ref := range refs {
		distinct[ref] = true
	}
	if len(distinct) != len(sessions) {
		t.Errorf("want one distinct X-Anonymous-Session per session, got %v", refs)
	}

	t.Run("refused requests never reach the backend", func(t *testing.T) {
		n := be.count()
		for _, hdr := range []http.Header{forged(), forged("theme=dark"), forged(postMarket.cookie.Name + "=forged.token.value")} {
			r := c.do(t, http.MethodGet, g.url(marketEntry), hdr, "")
			wantStatus(t, "forged headers without a session", r, http.StatusUnauthorized)
		}
		r := c.do(t, http.MethodGet, g.url("/secret.html"), forged(postMarket.cookie.Name+"="+postMarket.token), "")
		wantStatus(t, "out of scope", r, http.StatusForbidden)
		if be.count() != n {
			t.Errorf("the backend saw %d refused requests", be.count()-n)
		}
	})

	t.Run("no secret anywhere in what the backend saw", func(t *testing.T) {
		secrets := map[string]string{"market access code": marketCode, "sales access code": salesCode}
		for i, s := range sessions {
			secrets[fmt.Sprintf("session %d token", i)] = s.token
			secrets[fmt.Sprintf("session %d id (jti)", i)] = s.jti
		}
		wantNoSecretAtBackend(t, be, secrets)
	})
}

// forged is a request's headers with the given Cookie lines and forged
// copies of the gateway's headers, in several spellings.
func forged(cookie ...string) http.Header {
	h := http.Header{}
	h["X-Anonymous-App"] = []string{"ops", "sales"}
	h["X-Anonymous-Session"] = []string{"forged-session"}
	h["x-anonymous-session"] = []string{"forged-lowercase"}
	h["X_Anonymous_Session"] = []string{"forged-underscore"}
	h["X_Anonymous_App"] = []string{"forged-underscore-app"}
	h["Cookie"] = cookie
	return h
}

// backendExchange is a request made with a session.
type backendExchange struct {
	sess   session
	method string
	path   string
	hdr    http.Header
	body   string
	// cookies the backend must still get
	keep []string
}

// wantBackendSaw sends ex and checks that the backend got it once, with
// its body, the gateway's own headers and placeholders for the session's
// app, and the client's cookies in keep. It returns the session reference
// the backend saw.
func wantBackendSaw(t *testing.T, g *gateway, be *backend, c *client, ex backendExchange) string {
	t.Helper()
	n := be.count()
	got := c.do(t, ex.method, g.url(ex.path), ex.hdr, ex.body)
	wantStatus(t, ex.method+" "+ex.path, got, http.StatusOK)
	if be.count() != n+1 {
		t.Fatalf("%s %s: backend saw %d requests, want 1", ex.method, ex.path, be.count()-n)
	}
	seen := be.last(t)
	if seen.Body != ex.body {
		t.Errorf("%s %s: backend body %q, want %q", ex.method, ex.path, seen.Body, ex.body)
	}
	var apps, sessRefs []string
	for name, vals := range seen.Header {
		switch strings.ReplaceAll(strings.ToLower(name), "_", "-") {
		case "x-anonymous-app":
			apps = append(apps, vals...)
		case "x-anonymous-session":
			sessRefs = append(sessRefs, vals...)
		}
	}
	if len(apps) != 1 || apps[0] != ex.sess.app {
		t.Errorf("%s %s: backend saw X-Anonymous-App %q, want exactly [%s]", ex.method, ex.path, apps, ex.sess.app)
	}
	if len(sessRefs) != 1 || sessRefs[0] == "" || strings.Contains(sessRefs[0], "forged") {
		t.Fatalf("%s %s: backend saw X-Anonymous-Session %q, want one gateway value", ex.method, ex.path, sessRefs)
	}
	ref := sessRefs[0]
	if pa, ps := seen.Header.Get("X-Placeholder-App"), seen.Header.Get("X-Placeholder-Session"); pa != ex.sess.app || ps != ref {
		t.Errorf("placeholders {http.anonymous_access.app}=%q {http.anonymous_access.session}=%q, want %q and %q", pa, ps, ex.sess.app, ref)
	}
	if ref == ex.sess.jti || strings.Contains(ref, ex.sess.jti) || strings.Contains(ex.sess.jti, ref) {
		t.Errorf("X-Anonymous-Session %q is the session id", ref)
	}
	cookies := map[string]bool{}
	for _, line := range seen.Header.Values("Cookie") {
		for _, part := range strings.Split(line, ";") {
			name, _, _ := strings.Cut(strings.TrimSpace(part), "=")
			cookies[name] = true
		}
	}
	for _, name := range ex.keep {
		if !cookies[name] {
			t.Errorf("%s %s: the client's cookie %q did not reach the backend (Cookie %q)", ex.method, ex.path, name, seen.Header.Values("Cookie"))
		}
	}
	return ref
}

// wantNoSecretAtBackend fails if any request the backend saw carries one
// of secrets (by what it is) or a gateway cookie.
func wantNoSecretAtBackend(t *testing.T, be *backend, secrets map[string]string) {
	t.Helper()
	for _, seen := range be.requests() {
		var parts []string
		parts = append(parts, seen.RequestURI, seen.Path, seen.RawQuery, seen.Body)
		for name, vals := range seen.Header {
			parts = append(parts, name)
			parts = append(parts, vals...)
		}
		all := strings.Join(parts, "\n")
		for what, secret := range secrets {
			if strings.Contains(all, secret) {
				t.Errorf("backend request %s %s carries the %s", seen.Method, seen.RequestURI, what)
			}
		}
		if strings.Contains(all, cookiePrefix) {
			t.Errorf("backend request %s %s carries a gateway cookie", seen.Method, seen.RequestURI)
		}
	}
}
