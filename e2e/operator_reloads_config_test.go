//go:build unix

package e2e

// An operator reloads the configuration: state survives, a failed reload
// changes nothing.

import (
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
)

// TestE2EReloadKeepsState: a reload keeps codes, switches, sessions and
// metrics, and applies the new scope and capacity.
func TestE2EReloadKeepsState(t *testing.T) {
	t.Parallel()
	be := newBackend(t)
	g := startGateway(t, t.TempDir(), be, gatewayConfig{Capacity: 10})
	c := newClient(t)
	st := startReloadState(t, g, c)
	_, before := g.metrics(t)
	startedLabels := map[string]string{"tenant": e2eTenant, "app": "market", "kind": "link"}
	startedBefore, _ := metricValue(before, "caddy_anonymous_access_sessions_started_total", startedLabels)
	if startedBefore != 2 {
		t.Fatalf("sessions_started_total before reload = %v, want 2", startedBefore)
	}

	if got := getWith(t, c, g, st.market2, "/extra.html").Status; got != http.StatusForbidden {
		t.Fatalf("GET /extra.html before it is in scope: %d", got)
	}

	cfg := g.cfg
	cfg.Capacity = 11
	cfg.ExtraScope = " /extra.html"
	if err := g.reload(cfg); err != nil {
		t.Fatal(err)
	}
	if got := getWith(t, c, g, st.market2, "/extra.html").Status; got != http.StatusOK {
		t.Errorf("GET /extra.html after the reload put it in scope: %d, want 200", got)
	}
	rep := g.capacity(t)
	if rep.Capacity != 11 {
		t.Fatalf("capacity after reload = %d, want 11 (did the reload apply?)", rep.Capacity)
	}
	if rep.Active != 2 || rep.PerApp["market"] != 1 || rep.PerApp["ops"] != 1 {
		t.Errorf("live sessions after reload = %+v, want market 1 and ops 1", rep)
	}
	wantStateKept(t, g, c, st)

	t.Run("an app removed from the configuration stops", func(t *testing.T) {
		cfg := g.cfg
		cfg.WithoutOps = true
		if err := g.reload(cfg); err != nil {
			t.Fatal(err)
		}
		if got := getWith(t, c, g, st.ops, opsEntry).Status; got != http.StatusUnauthorized {
			t.Errorf("session of a removed app: %d, want 401", got)
		}
		if _, err := g.cli("link", "ops"); err == nil {
			t.Error("link verb works for a removed app")
		}
		r := g.redeem(t, c, http.MethodPost, "ops", url.Values{"code": {st.opsCode}})
		wantStatus(t, "link of a removed app", r, http.StatusForbidden)
		if got := getWith(t, c, g, st.market2, marketEntry).Status; got != http.StatusOK {
			t.Errorf("live market session after removing ops: %d", got)
		}
	})

	_, after := g.metrics(t)
	wantMetric(t, after, "caddy_anonymous_access_sessions_started_total", startedLabels, startedBefore)
	wantMetric(t, after, "caddy_anonymous_access_access_code_resets_total", map[string]string{"tenant": e2eTenant, "app": "market"}, 1)
	wantMetric(t, after, "caddy_anonymous_access_capacity", map[string]string{"tenant": e2eTenant}, 11)
	g.open(t, c, "market", st.marketCode)
	_, later := g.metrics(t)
	wantMetric(t, later, "caddy_anonymous_access_sessions_started_total", startedLabels, startedBefore+1)
}

// reloadState is what a reload must keep: sessions ended by a reset
// (market1) and by turning an app off (sales), live ones (market2, ops),
// a reset code and an untouched one.
type reloadState struct {
	market1, market2, sales, ops   session
	marketCode, salesCode, opsCode string
}

// startReloadState makes that state on g: it opens market, sales and
// ops, turns sales off and resets market's code.
func startReloadState(t *testing.T, g *gateway, c *client) reloadState {
	t.Helper()
	var st reloadState
	st.market1 = g.open(t, c, "market", g.link(t, "market"))
	st.salesCode = g.link(t, "sales")
	st.sales = g.open(t, c, "sales", st.salesCode)
	g.mustCLI(t, "disable", "sales")
	g.mustCLI(t, "reset-code", "market")
	st.marketCode = g.link(t, "market")
	st.market2 = g.open(t, c, "market", st.marketCode)
	st.opsCode = g.link(t, "ops")
	st.ops = g.open(t, c, "ops", st.opsCode)
	return st
}

// wantStateKept checks, after a reload, that live sessions still work,
// ended ones stay ended, codes are the same and sales stays off.
func wantStateKept(t *testing.T, g *gateway, c *client, st reloadState) {
	t.Helper()
	if got := getWith(t, c, g, st.market2, marketEntry).Status; got != http.StatusOK {
		t.Errorf("live session after reload: %d, want 200", got)
	}
	if got := getWith(t, c, g, st.ops, opsEntry).Status; got != http.StatusOK {
		t.Errorf("live ops session after reload: %d, want 200", got)
	}
	if got := getWith(t, c, g, st.market1, marketEntry).Status; got != http.StatusUnauthorized {
		t.Errorf("session ended by reset came back after reload: %d", got)
	}
	if got := getWith(t, c, g, st.sales, salesEntry).Status; got != http.StatusUnauthorized {
		t.Errorf("session ended by disable came back after reload: %d", got)
	}
	if code := g.link(t, "market"); code != st.marketCode {
		t.Error("reload changed the access code")
	}
	if code := g.link(t, "ops"); code != st.opsCode {
		t.Error("reload changed an untouched access code")
	}
	if _, err := g.cli("link", "sales"); err == nil {
		t.Error("reload turned sales back on (link verb works)")
	}
	if g.apps(t)["sales"].AnonymousAccess {
		t.Error("reload turned sales back on (apps route)")
	}
	r := g.redeem(t, c, http.MethodPost, "sales", url.Values{"code": {st.salesCode}})
	wantStatus(t, "turned-off app after reload", r, http.StatusForbidden)
}

// TestE2EFailedReloadKeepsRunningConfig: a reload that fails must leave the
// running configuration as it was: Caddy keeps the old config, so the
// gateway must too.
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
	r := getWith(t, c, g, market, "/secret.html")
	if r.Status != http.StatusForbidden || be.count() != n {
		t.Errorf("after a failed reload GET /secret.html (outside the running scope): %d, backend reached: %v; want 403",
			r.Status, be.count() != n)
	}
	wantStatus(t, "live session after a failed reload", getWith(t, c, g, market, marketEntry), http.StatusOK)
}
