//go:build unix

package e2e

// A client guessing access codes is slowed down; others are not.

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestE2ERateLimit: the failure rate limit.
func TestE2ERateLimit(t *testing.T) {
	t.Parallel()
	g := startGateway(t, t.TempDir(), newBackend(t), gatewayConfig{})
	code := g.link(t, "market")
	guesser := newClient(t)
	wrong := url.Values{"code": {strings.Repeat("Z", len(code))}}

	failures, limited := 0, 0
	var first429 reply
	for range 100 {
		r := g.redeem(t, guesser, http.MethodPost, "market", wrong)
		if r.Status == http.StatusForbidden {
			failures++
			continue
		}
		wantStatus(t, "guess", r, http.StatusTooManyRequests)
		first429 = r
		limited++
		break
	}
	if limited == 0 {
		t.Fatalf("%d wrong codes from one client and no 429", failures)
	}
	if failures == 0 {
		t.Fatal("the first wrong code was already rate limited")
	}
	retryAfter(t, first429)
	wantErrorBody(t, "429", first429, false)

	t.Run("a limited client cannot try the right code either", func(t *testing.T) {
		for _, form := range []url.Values{{"code": {code}}, wrong} {
			r := g.redeem(t, guesser, http.MethodPost, "market", form)
			wantStatus(t, "attempt while limited", r, http.StatusTooManyRequests)
			retryAfter(t, r)
			if len(r.Header.Values("Set-Cookie")) != 0 {
				t.Error("a rate-limited attempt set a cookie")
			}
			limited++
		}
	})

	t.Run("another client is not limited", func(t *testing.T) {
		g.open(t, newClient(t), "market", code)
	})

	t.Run("metrics count refusals by reason", func(t *testing.T) {
		_, samples := g.metrics(t)
		wantMetric(t, samples, "caddy_anonymous_access_links_rejected_total", map[string]string{"tenant": e2eTenant, "reason": "invalid"}, float64(failures))
		wantMetric(t, samples, "caddy_anonymous_access_links_rejected_total", map[string]string{"tenant": e2eTenant, "reason": "rate_limited"}, float64(limited))
	})
}
