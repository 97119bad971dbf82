//go:build unix

package e2e

// No code, token or session id reaches the process or access log.

import (
	"bytes"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
)

// TestE2ELogsKeepSecrets: the logs hold no secret.
func TestE2ELogsKeepSecrets(t *testing.T) {
	t.Parallel()
	be := newBackend(t)
	g := startGateway(t, t.TempDir(), be, gatewayConfig{Debug: true, AccessLog: true, Capacity: 3})
	c := newClient(t)
	var secrets []string
	var sessions []session
	marketCode := g.link(t, "market")
	secrets = append(secrets, marketCode)

	c.do(t, http.MethodGet, g.url("/_anon/open/market"), acceptHeader(true), "")
	sessions = append(sessions, g.open(t, c, "market", marketCode))
	for _, extra := range []url.Values{{"embed": {"1"}}, {"object": {"/assets/chart.svg"}}} {
		form := url.Values{"code": {marketCode}}
		for k, v := range extra {
			form[k] = v
		}
		r := g.redeem(t, c, http.MethodGet, "market", form)
		wantStatus(t, "GET ?code=", r, http.StatusSeeOther)
		sessions = append(sessions, sessionFrom(t, "market", r))
	}
	wantStatus(t, "capacity full", g.redeem(t, c, http.MethodPost, "market", url.Values{"code": {marketCode}}), http.StatusServiceUnavailable)
	wantStatus(t, "wrong code", g.redeem(t, c, http.MethodGet, "market", url.Values{"code": {strings.Repeat("Q", len(marketCode))}}), http.StatusForbidden)
	wantStatus(t, "bad object", g.redeem(t, c, http.MethodPost, "market", url.Values{"code": {marketCode}, "object": {"/secret.html"}}), http.StatusBadRequest)
	for _, s := range sessions {
		wantStatus(t, "protected", getWith(t, c, g, s, marketEntry+"?x=1"), http.StatusOK)
		wantStatus(t, "denied", getWith(t, c, g, s, "/secret.html"), http.StatusForbidden)
		wantStatus(t, "session info", getWith(t, c, g, s, "/_anon/session"), http.StatusOK)
	}
	g.mustCLI(t, "reset-code", "market")
	wantStatus(t, "revoked", getWith(t, c, g, sessions[0], marketEntry), http.StatusUnauthorized)
	newCode := g.link(t, "market")
	secrets = append(secrets, newCode)
	g.mustCLI(t, "embed-code", "market")
	g.mustCLI(t, "disable", "market")
	wantStatus(t, "off", g.redeem(t, c, http.MethodPost, "market", url.Values{"code": {newCode}}), http.StatusForbidden)
	g.mustCLI(t, "enable", "market")
	sessions = append(sessions, g.open(t, c, "market", newCode))
	for _, s := range sessions {
		secrets = append(secrets, s.token, s.jti)
	}
	g.mustCLI(t, "capacity")
	g.metrics(t)

	// Stop first, so that every log line is written.
	if err := g.stop(); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	processLog := g.stderr.String() + g.stdout.String()
	if !strings.Contains(processLog, `"level":"debug"`) || !strings.Contains(processLog, "anonymous") {
		t.Fatalf("the process log has no debug lines of the plugin; is logging set up?\n%.2000s", processLog)
	}
	accessLog, err := os.ReadFile(g.accessLog)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(accessLog, []byte("/_anon/open/market")) {
		t.Fatalf("the access log did not record the redemptions:\n%.2000s", accessLog)
	}
	for name, text := range map[string]string{"process log (stderr)": processLog, "access log": string(accessLog)} {
		for _, secret := range secrets {
			if i := strings.Index(text, secret); i >= 0 {
				start := strings.LastIndexByte(text[:i], '\n') + 1
				end := i + strings.IndexByte(text[i:]+"\n", '\n')
				t.Errorf("the %s holds a code, token or session id:\n%s", name, text[start:end])
			}
		}
	}
}
