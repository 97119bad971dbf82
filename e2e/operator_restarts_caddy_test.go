//go:build unix

package e2e

// An operator restarts Caddy: codes, switches and sessions survive.

import (
	"net/http"
	"net/url"
	"testing"
)

// TestE2ERestartKeepsState: a restart keeps codes, switches and sessions.
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
		got := getWith(t, c, g2, s, marketEntry)
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
