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
