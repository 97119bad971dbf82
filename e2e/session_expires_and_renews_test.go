//go:build unix

package e2e

// A session ends after session_ttl; a page reload may start a new one.

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestE2EExpiryAndRenewal: session expiry and renewal (session_ttl
// shortened to 3s).
func TestE2EExpiryAndRenewal(t *testing.T) {
	t.Parallel()
	be := newBackend(t)
	// Token expiry has a resolution of one second: a 3s session lives
	// at least 2s, time enough for the steps that need it alive.
	g := startGateway(t, t.TempDir(), be, gatewayConfig{SessionTTL: "3s", Capacity: 2})
	c := newClient(t)
	code := g.link(t, "market")
	renewed, kept := g.open(t, c, "market", code), g.open(t, c, "market", code)
	wantStatus(t, "fresh session", fetchWith(t, c, g, renewed), http.StatusOK)

	deadline := time.Now().Add(15 * time.Second)
	for _, s := range []session{renewed, kept} {
		waitExpired(t, c, g, s, deadline)
	}
	if rep := g.capacity(t); rep.Active != 0 {
		t.Errorf("expired sessions still count: %+v", rep)
	}

	n := be.count()
	r := loadPageWith(t, c, g, renewed)
	wantStatus(t, "page load with an expired session", r, http.StatusOK)
	if be.count() != n+1 {
		t.Error("the renewed page load did not reach the backend")
	}
	fresh := sessionFrom(t, "market", r)
	if fresh.jti == renewed.jti || fresh.token == renewed.token {
		t.Error("renewal kept the old session id")
	}
	if fresh.cookie.SameSite != http.SameSiteLaxMode || !fresh.cookie.HttpOnly || !fresh.cookie.Secure {
		t.Errorf("renewed cookie %q", r.Header.Get("Set-Cookie"))
	}
	wantStatus(t, "renewed session", fetchWith(t, c, g, fresh), http.StatusOK)
	if rep := g.capacity(t); rep.Active != 1 {
		t.Errorf("after one renewal: %+v, want 1 active", rep)
	}
	_, samples := g.metrics(t)
	wantMetric(t, samples, "caddy_anonymous_access_sessions_started_total", map[string]string{"tenant": e2eTenant, "app": "market", "kind": "renewal"}, 1)

	// Renewal goes through capacity admission like a new visitor.
	g.open(t, c, "market", code)
	n = be.count()
	r = loadPageWith(t, c, g, kept)
	wantStatus(t, "renewal when capacity is full", r, http.StatusServiceUnavailable)
	retryAfter(t, r)
	if len(r.Header.Values("Set-Cookie")) != 0 || be.count() != n {
		t.Error("a renewal past capacity started a session or reached the backend")
	}

	g.mustCLI(t, "reset-code", "market")
	n = be.count()
	r = loadPageWith(t, c, g, kept)
	wantStatus(t, "page load with an expired session after reset-code", r, http.StatusUnauthorized)
	set := r.Header.Values("Set-Cookie")
	if len(set) != 1 || !strings.HasPrefix(set[0], cookiePrefix+"market=;") || !strings.Contains(set[0], "Max-Age=0") || be.count() != n {
		t.Errorf("a token from before reset-code: Set-Cookie %q (want only the dead cookie cleared)", set)
	}
}

// fetchWith is a script's fetch of the entry with s, which never renews a
// session.
func fetchWith(t *testing.T, c *client, g *gateway, s session) reply {
	t.Helper()
	return c.do(t, http.MethodGet, g.url(marketEntry), mergeHeaders(s.cookieHeader(),
		http.Header{"Accept": {"application/json"}, "Sec-Fetch-Dest": {"empty"}}), "")
}

// loadPageWith is a page load of the entry with s, which may renew it.
func loadPageWith(t *testing.T, c *client, g *gateway, s session) reply {
	t.Helper()
	return c.do(t, http.MethodGet, g.url(marketEntry), mergeHeaders(s.cookieHeader(),
		http.Header{"Accept": {"text/html"}, "Sec-Fetch-Dest": {"document"}, "Sec-Fetch-Mode": {"navigate"}}), "")
}

// waitExpired fetches with s until it is refused as expired, which it must
// be by deadline, and checks the refusal started no new session.
func waitExpired(t *testing.T, c *client, g *gateway, s session, deadline time.Time) {
	t.Helper()
	for {
		r := fetchWith(t, c, g, s)
		if r.Status == http.StatusUnauthorized {
			wantErrorBody(t, "expired session", r, false)
			if len(r.Header.Values("Set-Cookie")) != 0 {
				t.Error("a fetch with an expired session started a new one")
			}
			return
		}
		wantStatus(t, "session before expiry", r, http.StatusOK)
		if time.Now().After(deadline) {
			t.Fatal("a 3s session still works after 15s")
		}
		select {
		case <-time.After(50 * time.Millisecond):
		case <-t.Context().Done():
			t.Fatal(t.Context().Err())
		}
	}
}
