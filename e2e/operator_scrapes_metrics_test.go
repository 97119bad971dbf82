//go:build unix

package e2e

// An operator scrapes the usage metrics.

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestE2EMetrics: the metrics count what happened and hold no secret.
func TestE2EMetrics(t *testing.T) {
	t.Parallel()
	be := newBackend(t)
	g := startGateway(t, t.TempDir(), be, gatewayConfig{Capacity: 50})
	c := newClient(t)
	marketCode, salesCode := g.link(t, "market"), g.link(t, "sales")
	var sessions []session
	for range 2 {
		sessions = append(sessions, g.open(t, c, "market", marketCode))
	}
	r := g.redeem(t, c, http.MethodPost, "market", url.Values{"code": {marketCode}, "embed": {"1"}})
	wantStatus(t, "embed", r, http.StatusSeeOther)
	sessions = append(sessions, sessionFrom(t, "market", r))
	sessions = append(sessions, g.open(t, c, "sales", salesCode))
	wantStatus(t, "wrong code", g.redeem(t, c, http.MethodPost, "market", url.Values{"code": {"wrong"}}), http.StatusForbidden)

	protected := 0
	for _, step := range []struct {
		method, path string
		hdr          http.Header
		want         int
	}{
		{http.MethodGet, marketEntry, sessions[0].cookieHeader(), http.StatusOK},
		{http.MethodGet, "/assets/app.js", sessions[2].cookieHeader(), http.StatusOK},
		{http.MethodGet, marketEntry, nil, http.StatusUnauthorized},
		{http.MethodGet, "/secret.html", sessions[0].cookieHeader(), http.StatusForbidden},
		{http.MethodPost, marketEntry, sessions[0].cookieHeader(), http.StatusMethodNotAllowed},
	} {
		wantStatus(t, step.method+" "+step.path, c.do(t, step.method, g.url(step.path), step.hdr, ""), step.want)
		protected++
	}
	g.mustCLI(t, "reset-code", "sales")
	newSalesCode := g.link(t, "sales")
	wantStatus(t, "session after reset", getWith(t, c, g, sessions[3], salesEntry), http.StatusUnauthorized)
	protected++

	text, samples := g.metrics(t)
	tenant := map[string]string{"tenant": e2eTenant}
	wantMetric(t, samples, "caddy_anonymous_access_sessions_active", map[string]string{"tenant": e2eTenant, "app": "market"}, 3)
	wantMetric(t, samples, "caddy_anonymous_access_capacity", tenant, 50)
	wantMetric(t, samples, "caddy_anonymous_access_sessions_started_total", map[string]string{"tenant": e2eTenant, "app": "market", "kind": "link"}, 2)
	wantMetric(t, samples, "caddy_anonymous_access_sessions_started_total", map[string]string{"tenant": e2eTenant, "app": "market", "kind": "embed"}, 1)
	wantMetric(t, samples, "caddy_anonymous_access_sessions_started_total", map[string]string{"tenant": e2eTenant, "app": "sales", "kind": "link"}, 1)
	wantMetric(t, samples, "caddy_anonymous_access_links_rejected_total", map[string]string{"tenant": e2eTenant, "reason": "invalid"}, 1)
	for reason, n := range map[string]float64{"no_session": 1, "scope": 1, "method": 1, "revoked": 1} {
		wantMetric(t, samples, "caddy_anonymous_access_requests_denied_total", map[string]string{"tenant": e2eTenant, "reason": reason}, n)
	}
	wantMetric(t, samples, "caddy_anonymous_access_access_code_resets_total", map[string]string{"tenant": e2eTenant, "app": "sales"}, 1)
	if n, ok := metricValue(samples, "caddy_anonymous_access_check_duration_seconds_count", nil); !ok || n < float64(protected) {
		t.Errorf("check_duration_seconds_count = %v (present %v), want at least %d", n, ok, protected)
	}
	if _, ok := metricValue(samples, "caddy_anonymous_access_check_duration_seconds_bucket", map[string]string{"le": "+Inf"}); !ok {
		t.Error("check_duration_seconds is not a histogram")
	}

	secrets := []string{marketCode, salesCode, newSalesCode}
	for _, s := range sessions {
		secrets = append(secrets, s.token, s.jti)
	}
	for _, secret := range secrets {
		if strings.Contains(text, secret) {
			t.Errorf("the metrics output contains a code, token or session id")
		}
	}
	for _, s := range samples {
		for k, v := range s.labels {
			if strings.Contains(v, c.ip) {
				t.Errorf("%s{%s=%q} holds the client IP", s.name, k, v)
			}
		}
	}
}
