//go:build unix

package e2e

import (
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// ---------------------------------------------------------------------------
// 6. Capacity under concurrent redemptions

func TestE2ECapacityExact(t *testing.T) {
	t.Parallel()
	const capacity, attempts = 20, 200
	be := newBackend(t)
	g := startGateway(t, t.TempDir(), be, gatewayConfig{Capacity: capacity})
	code := g.link(t, "market")
	c := newClient(t)
	form := url.Values{"code": {code}}.Encode()
	hdr := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}

	results, errs := all(attempts, func(i int) (reply, error) {
		return c.send(http.MethodPost, g.url("/_anon/open/market"), hdr, form)
	})

	var admitted []session
	tokens := map[string]bool{}
	full := 0
	for i, r := range results {
		if errs[i] != nil {
			t.Fatalf("redemption %d: %v", i, errs[i])
		}
		switch r.Status {
		case http.StatusSeeOther:
			s := sessionFrom(t, "market", r)
			tokens[s.token] = true
			admitted = append(admitted, s)
		case http.StatusServiceUnavailable:
			full++
			retryAfter(t, r)
			if len(r.Header.Values("Set-Cookie")) != 0 {
				t.Error("a 503 set a cookie")
			}
		default:
			t.Errorf("redemption %d: status %d %s", i, r.Status, r.Body)
		}
	}
	if len(admitted) != capacity || full != attempts-capacity {
		t.Fatalf("%d admitted and %d turned away, want exactly %d and %d", len(admitted), full, capacity, attempts-capacity)
	}
	if len(tokens) != capacity {
		t.Errorf("%d distinct session tokens, want %d", len(tokens), capacity)
	}

	rep := g.capacity(t)
	if rep.Capacity != capacity || rep.Active != capacity || rep.PerApp["market"] != capacity || rep.Peak != capacity {
		t.Errorf("capacity route = %+v, want capacity, active and peak %d", rep, capacity)
	}
	var printed capacityReport
	if out := g.mustCLI(t, "capacity"); json.Unmarshal([]byte(out), &printed) != nil || printed.Active != capacity || printed.Capacity != capacity {
		t.Errorf("capacity verb printed %s, want active and capacity %d", out, capacity)
	}
	_, samples := g.metrics(t)
	wantMetric(t, samples, "caddy_anonymous_access_links_rejected_total", map[string]string{"tenant": e2eTenant, "reason": "capacity"}, attempts-capacity)
	wantMetric(t, samples, "caddy_anonymous_access_sessions_started_total", map[string]string{"tenant": e2eTenant, "app": "market", "kind": "link"}, capacity)
	wantMetric(t, samples, "caddy_anonymous_access_sessions_active", map[string]string{"tenant": e2eTenant, "app": "market"}, capacity)
	wantMetric(t, samples, "caddy_anonymous_access_capacity", map[string]string{"tenant": e2eTenant}, capacity)

	r := g.redeem(t, newClient(t), http.MethodPost, "market", url.Values{"code": {code}})
	wantStatus(t, "redemption when full", r, http.StatusServiceUnavailable)
	retryAfter(t, r)
	for _, s := range []session{admitted[0], admitted[capacity-1]} {
		got := c.do(t, http.MethodGet, g.url(marketEntry), s.cookieHeader(), "")
		wantStatus(t, "an admitted session when full", got, http.StatusOK)
	}
}

// ---------------------------------------------------------------------------
// 7. Reload

func TestE2EReloadKeepsState(t *testing.T) {
	t.Parallel()
	be := newBackend(t)
	g := startGateway(t, t.TempDir(), be, gatewayConfig{Capacity: 10})
	c := newClient(t)
	get := func(s session, path string) int {
		return c.do(t, http.MethodGet, g.url(path), s.cookieHeader(), "").Status
	}

	market1 := g.open(t, c, "market", g.link(t, "market"))
	salesCode := g.link(t, "sales")
	sales := g.open(t, c, "sales", salesCode)
	g.mustCLI(t, "disable", "sales")
	g.mustCLI(t, "reset-code", "market")
	marketCode := g.link(t, "market")
	market2 := g.open(t, c, "market", marketCode)
	opsCode := g.link(t, "ops")
	ops := g.open(t, c, "ops", opsCode)
	_, before := g.metrics(t)
	startedLabels := map[string]string{"tenant": e2eTenant, "app": "market", "kind": "link"}
	startedBefore, _ := metricValue(before, "caddy_anonymous_access_sessions_started_total", startedLabels)
	if startedBefore != 2 {
		t.Fatalf("sessions_started_total before reload = %v, want 2", startedBefore)
	}

	if got := get(market2, "/extra.html"); got != http.StatusForbidden {
		t.Fatalf("GET /extra.html before it is in scope: %d", got)
	}

	cfg := g.cfg
	cfg.Capacity = 11
	cfg.ExtraScope = " /extra.html"
	if err := g.reload(cfg); err != nil {
		t.Fatal(err)
	}
	if got := get(market2, "/extra.html"); got != http.StatusOK {
		t.Errorf("GET /extra.html after the reload put it in scope: %d, want 200", got)
	}
	rep := g.capacity(t)
	if rep.Capacity != 11 {
		t.Fatalf("capacity after reload = %d, want 11 (did the reload apply?)", rep.Capacity)
	}
	if rep.Active != 2 || rep.PerApp["market"] != 1 || rep.PerApp["ops"] != 1 {
		t.Errorf("live sessions after reload = %+v, want market 1 and ops 1", rep)
	}

	if got := get(market2, marketEntry); got != http.StatusOK {
		t.Errorf("live session after reload: %d, want 200", got)
	}
	if got := get(ops, opsEntry); got != http.StatusOK {
		t.Errorf("live ops session after reload: %d, want 200", got)
	}
	if got := get(market1, marketEntry); got != http.StatusUnauthorized {
		t.Errorf("session ended by reset came back after reload: %d", got)
	}
	if got := get(sales, salesEntry); got != http.StatusUnauthorized {
		t.Errorf("session ended by disable came back after reload: %d", got)
	}
	if code := g.link(t, "market"); code != marketCode {
		t.Error("reload changed the access code")
	}
	if code := g.link(t, "ops"); code != opsCode {
		t.Error("reload changed an untouched access code")
	}
	if _, err := g.cli("link", "sales"); err == nil {
		t.Error("reload turned sales back on (link verb works)")
	}
	if g.apps(t)["sales"].AnonymousAccess {
		t.Error("reload turned sales back on (apps route)")
	}
	r := g.redeem(t, c, http.MethodPost, "sales", url.Values{"code": {salesCode}})
	wantStatus(t, "turned-off app after reload", r, http.StatusForbidden)

	t.Run("an app removed from the configuration stops", func(t *testing.T) {
		cfg := g.cfg
		cfg.WithoutOps = true
		if err := g.reload(cfg); err != nil {
			t.Fatal(err)
		}
		if got := get(ops, opsEntry); got != http.StatusUnauthorized {
			t.Errorf("session of a removed app: %d, want 401", got)
		}
		if _, err := g.cli("link", "ops"); err == nil {
			t.Error("link verb works for a removed app")
		}
		r := g.redeem(t, c, http.MethodPost, "ops", url.Values{"code": {opsCode}})
		wantStatus(t, "link of a removed app", r, http.StatusForbidden)
		if got := get(market2, marketEntry); got != http.StatusOK {
			t.Errorf("live market session after removing ops: %d", got)
		}
	})

	_, after := g.metrics(t)
	wantMetric(t, after, "caddy_anonymous_access_sessions_started_total", startedLabels, startedBefore)
	wantMetric(t, after, "caddy_anonymous_access_access_code_resets_total", map[string]string{"tenant": e2eTenant, "app": "market"}, 1)
	wantMetric(t, after, "caddy_anonymous_access_capacity", map[string]string{"tenant": e2eTenant}, 11)
	g.open(t, c, "market", marketCode)
	_, later := g.metrics(t)
	wantMetric(t, later, "caddy_anonymous_access_sessions_started_total", startedLabels, startedBefore+1)
}

// A reload that fails must leave the running configuration as it was:
// Caddy keeps the old config, so the gateway must too.
func TestE2EFailedReloadKeepsRunningConfig(t *testing.T) {
	t.Parallel()
	be := newBackend(t)
	dir := t.TempDir()
	g := startGateway(t, dir, be, gatewayConfig{Capacity: 10})
	c := newClient(t)
	market := g.open(t, c, "market", g.link(t, "market"))
	scopeBefore := g.apps(t)["market"].Scope

	bad := g.cfg
	bad.Capacity = 3
	bad.ExtraScope = " /secret.html"
	bad.BrokenTransport = filepath.Join(dir, "missing-client-cert.pem")
	if err := g.reload(bad); err == nil {
		t.Fatal("a reload with a missing client certificate succeeded")
	}

	if rep := g.capacity(t); rep.Capacity != 10 {
		t.Errorf("after a failed reload the capacity is %d, want the running config's 10", rep.Capacity)
	}
	if scope := g.apps(t)["market"].Scope; strings.Join(scope, " ") != strings.Join(scopeBefore, " ") {
		t.Errorf("after a failed reload market's scope is %q, want the running config's %q", scope, scopeBefore)
	}
	n := be.count()
	r := c.do(t, http.MethodGet, g.url("/secret.html"), market.cookieHeader(), "")
	if r.Status != http.StatusForbidden || be.count() != n {
		t.Errorf("after a failed reload GET /secret.html (outside the running scope): %d, backend reached: %v; want 403",
			r.Status, be.count() != n)
	}
	wantStatus(t, "live session after a failed reload", c.do(t, http.MethodGet, g.url(marketEntry), market.cookieHeader(), ""), http.StatusOK)
}

// ---------------------------------------------------------------------------
// 8. Restart

func TestE2ERestartKeepsState(t *testing.T) {
	t.Parallel()
	be := newBackend(t)
	dir := t.TempDir()
	g1 := startGateway(t, dir, be, gatewayConfig{})
	c := newClient(t)
	code := g1.link(t, "market")
	link := g1.open(t, c, "market", code)
	r := g1.redeem(t, c, http.MethodPost, "market", url.Values{"code": {code}, "embed": {"1"}})
	wantStatus(t, "embed", r, http.StatusSeeOther)
	embed := sessionFrom(t, "market", r)
	g1.mustCLI(t, "disable", "ops")
	salesOld := g1.link(t, "sales")
	g1.mustCLI(t, "reset-code", "sales")
	salesNew := g1.link(t, "sales")
	// The last session starts right before SIGTERM: the store must
	// still write it.
	last := g1.open(t, c, "market", code)
	if err := g1.stop(); err != nil {
		t.Fatalf("SIGTERM: %v\n%s", err, g1.stderr.String())
	}
	g2 := startGateway(t, dir, be, gatewayConfig{})

	if got := g2.link(t, "market"); got != code {
		t.Error("the access code changed across a restart")
	}
	for _, s := range []session{link, embed, last} {
		got := c.do(t, http.MethodGet, g2.url(marketEntry), s.cookieHeader(), "")
		wantStatus(t, "session from before the restart", got, http.StatusOK)
	}
	rep := g2.capacity(t)
	if rep.Active != 3 || rep.PerApp["market"] != 3 || rep.Peak < 3 {
		t.Errorf("after restart the capacity route reports %+v, want the 3 live market sessions", rep)
	}
	if _, err := g2.cli("link", "ops"); err == nil {
		t.Error("a turned-off app is on again after restart")
	}
	if got := g2.link(t, "sales"); got != salesNew {
		t.Error("a reset access code is not the one in use after restart")
	}
	r = g2.redeem(t, c, http.MethodPost, "sales", url.Values{"code": {salesOld}})
	wantStatus(t, "code from before a reset, after restart", r, http.StatusForbidden)
}

// ---------------------------------------------------------------------------
// Session expiry and renewal (session_ttl shortened to 3s)

func TestE2EExpiryAndRenewal(t *testing.T) {
	t.Parallel()
	be := newBackend(t)
	// Token expiry has a resolution of one second: a 3s session lives
	// at least 2s, time enough for the steps that need it alive.
	g := startGateway(t, t.TempDir(), be, gatewayConfig{SessionTTL: "3s", Capacity: 2})
	c := newClient(t)
	code := g.link(t, "market")
	renewed, kept := g.open(t, c, "market", code), g.open(t, c, "market", code)
	// A script's fetch never renews; a page load may.
	fetch := func(s session) reply {
		return c.do(t, http.MethodGet, g.url(marketEntry), mergeHeaders(s.cookieHeader(),
			http.Header{"Accept": {"application/json"}, "Sec-Fetch-Dest": {"empty"}}), "")
	}
	page := func(s session) reply {
		return c.do(t, http.MethodGet, g.url(marketEntry), mergeHeaders(s.cookieHeader(),
			http.Header{"Accept": {"text/html"}, "Sec-Fetch-Dest": {"document"}, "Sec-Fetch-Mode": {"navigate"}}), "")
	}
	wantStatus(t, "fresh session", fetch(renewed), http.StatusOK)

	deadline := time.Now().Add(15 * time.Second)
	for _, s := range []session{renewed, kept} {
		for {
			r := fetch(s)
			if r.Status == http.StatusUnauthorized {
				wantErrorBody(t, "expired session", r, false)
				if len(r.Header.Values("Set-Cookie")) != 0 {
					t.Error("a fetch with an expired session started a new one")
				}
				break
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
	if rep := g.capacity(t); rep.Active != 0 {
		t.Errorf("expired sessions still count: %+v", rep)
	}

	n := be.count()
	r := page(renewed)
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
	wantStatus(t, "renewed session", fetch(fresh), http.StatusOK)
	if rep := g.capacity(t); rep.Active != 1 {
		t.Errorf("after one renewal: %+v, want 1 active", rep)
	}
	_, samples := g.metrics(t)
	wantMetric(t, samples, "caddy_anonymous_access_sessions_started_total", map[string]string{"tenant": e2eTenant, "app": "market", "kind": "renewal"}, 1)

	// Renewal goes through capacity admission like a new visitor.
	g.open(t, c, "market", code)
	n = be.count()
	r = page(kept)
	wantStatus(t, "renewal when capacity is full", r, http.StatusServiceUnavailable)
	retryAfter(t, r)
	if len(r.Header.Values("Set-Cookie")) != 0 || be.count() != n {
		t.Error("a renewal past capacity started a session or reached the backend")
	}

	g.mustCLI(t, "reset-code", "market")
	n = be.count()
	r = page(kept)
	wantStatus(t, "page load with an expired session after reset-code", r, http.StatusUnauthorized)
	if len(r.Header.Values("Set-Cookie")) != 0 || be.count() != n {
		t.Error("a token from before reset-code started a new session")
	}
}
