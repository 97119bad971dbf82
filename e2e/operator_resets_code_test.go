//go:build unix

package e2e

// An operator resets an app's access code, turns sharing off and on again
// with the CLI.

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestE2ECodeResetAndDisable: reset code, disable, enable through the CLI.
func TestE2ECodeResetAndDisable(t *testing.T) {
	t.Parallel()
	be := newBackend(t)
	g := startGateway(t, t.TempDir(), be, gatewayConfig{})
	c := newClient(t)

	code1 := g.link(t, "market")
	s1 := g.open(t, c, "market", code1)
	wantStatus(t, "first session", getWith(t, c, g, s1, marketEntry), http.StatusOK)

	var code2 string
	var s2 session
	if !t.Run("reset-code", func(t *testing.T) {
		out := g.mustCLI(t, "reset-code", "market")
		code2 = g.link(t, "market")
		if code2 == code1 {
			t.Fatal("reset-code kept the access code")
		}
		if strings.Contains(out, code1) || strings.Contains(out, code2) {
			t.Errorf("reset-code printed an access code: %s", out)
		}
		r := g.redeem(t, c, http.MethodPost, "market", url.Values{"code": {code1}})
		wantStatus(t, "old link after reset", r, http.StatusForbidden)
		r = getWith(t, c, g, s1, marketEntry)
		wantStatus(t, "live session after reset", r, http.StatusUnauthorized)
		wantErrorBody(t, "live session after reset", r, false)
		s2 = g.open(t, c, "market", code2)
		wantStatus(t, "session from the new link", getWith(t, c, g, s2, marketEntry), http.StatusOK)
	}) {
		return
	}

	if !t.Run("disable", func(t *testing.T) {
		out := g.mustCLI(t, "disable", "market")
		var app appState
		if err := json.Unmarshal([]byte(out), &app); err != nil || app.ID != "market" || app.AnonymousAccess {
			t.Errorf("disable printed %s, want the app with anonymous_access false", out)
		}
		wantStatus(t, "live session after disable", getWith(t, c, g, s2, marketEntry), http.StatusUnauthorized)
		r := g.redeem(t, c, http.MethodPost, "market", url.Values{"code": {code2}})
		wantStatus(t, "link after disable", r, http.StatusForbidden)
		for _, verb := range []string{"link", "embed-code"} {
			if out, err := g.cli(verb, "market"); err == nil || strings.Contains(out, "http") {
				t.Errorf("%s while off: err=%v, output %q; want a failure", verb, err, out)
			}
		}
		if rep := g.capacity(t); rep.PerApp["market"] != 0 {
			t.Errorf("sessions of a turned-off app still count: %+v", rep)
		}
		if g.apps(t)["market"].AnonymousAccess {
			t.Error("apps reports market on after disable")
		}
	}) {
		return
	}

	t.Run("enable", func(t *testing.T) {
		g.mustCLI(t, "enable", "market")
		code3 := g.link(t, "market")
		s3 := g.open(t, c, "market", code3)
		wantStatus(t, "session from a fresh link", getWith(t, c, g, s3, marketEntry), http.StatusOK)
		wantStatus(t, "session ended by disable stays ended", getWith(t, c, g, s2, marketEntry), http.StatusUnauthorized)
		wantStatus(t, "session ended by reset stays ended", getWith(t, c, g, s1, marketEntry), http.StatusUnauthorized)
		out := g.mustCLI(t, "apps")
		for _, secret := range []string{code1, code2, code3} {
			if strings.Contains(out, secret) {
				t.Error("apps printed an access code")
			}
		}
		if !g.apps(t)["market"].AnonymousAccess {
			t.Error("apps reports market off after enable")
		}
	})
}
