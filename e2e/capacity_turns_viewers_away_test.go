//go:build unix

package e2e

// The tenant's capacity admits exactly that many concurrent viewers.

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
)

// TestE2ECapacityExact: capacity under concurrent redemptions.
func TestE2ECapacityExact(t *testing.T) {
	t.Parallel()
	const capacity, attempts = 20, 200
	be := newBackend(t)
	g := startGateway(t, t.TempDir(), be, gatewayConfig{Capacity: capacity})
	code := g.link(t, "market")
	c := newClient(t)
	rush := redeemAtOnce(t, code, attempts, func(int) (*client, *gateway) { return c, g }, func(_ int, r reply) {
		if len(r.Header.Values("Set-Cookie")) != 0 {
			t.Error("a 503 set a cookie")
		}
	})
	rush.wantExactly(t, capacity, attempts, "")
	admitted := rush.admitted

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
		wantStatus(t, "an admitted session when full", getWith(t, c, g, s, marketEntry), http.StatusOK)
	}
}
