//go:build unix

package e2e

// With error_pages caddy the site's own handle_errors renders every
// refusal, from the status and the placeholders the gateway sets.

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestE2EErrorPagesCaddy: refusals of requests and of redemptions reach
// the site's handle_errors with {http.error.status_code},
// {http.anonymous_access.reason} and {http.anonymous_access.retry_after};
// the gateway's Retry-After and no-store headers stay on the answer, and
// nothing refused reaches the backend.
func TestE2EErrorPagesCaddy(t *testing.T) {
	t.Parallel()
	be := newBackend(t)
	g := startGateway(t, t.TempDir(), be, gatewayConfig{Capacity: 1, ErrorPages: "caddy", Routes: fmt.Sprintf(`
	reverse_proxy %s
	handle_errors {
		respond "{http.error.status_code} {http.anonymous_access.reason} {http.anonymous_access.retry_after}" {http.error.status_code}
	}`, be.addr())})
	c := newClient(t)
	code := g.link(t, "market")
	form := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}

	r := c.do(t, http.MethodGet, g.url(marketEntry), nil, "")
	wantOwnErrorPage(t, "no session", r, "401 no_session 0")
	r = c.do(t, http.MethodPost, g.url("/_anon/open/market"), form, url.Values{"code": {strings.Repeat("B", len(code))}}.Encode())
	wantOwnErrorPage(t, "wrong code", r, "403 invalid_link 0")

	market := g.open(t, c, "market", code) // capacity 1: now full
	wantStatus(t, "control: in scope with a session", getWith(t, c, g, market, marketEntry), http.StatusOK)
	n := be.count()
	r = c.do(t, http.MethodPost, g.url("/_anon/open/market"), form, url.Values{"code": {code}}.Encode())
	wantOwnErrorPage(t, "capacity full", r, "503 capacity_full 30")
	if got := r.Header.Get("Retry-After"); got != "30" {
		t.Errorf("capacity full: Retry-After %q, want 30", got)
	}
	r = c.do(t, http.MethodGet, g.url("/secret.html"), market.cookieHeader(), "")
	wantOwnErrorPage(t, "out of scope", r, "403 not_shared 0")
	r = c.do(t, http.MethodDelete, g.url(marketEntry), market.cookieHeader(), "")
	wantOwnErrorPage(t, "method", r, "405 method_not_allowed 0")
	if status, body := rawRequest(t, g.site, http.MethodGet, "/dashboards/market.html;x=1", map[string]string{"Cookie": market.cookie.Name + "=" + market.token}); status != http.StatusBadRequest || body != "400 bad_path 0" {
		t.Errorf("path parameter: %d %q, want 400 %q", status, body, "400 bad_path 0")
	}
	g.mustCLI(t, "reset-code", "market")
	r = getWith(t, c, g, market, marketEntry)
	wantOwnErrorPage(t, "session after reset-code", r, "401 session_revoked 0")
	if be.count() != n {
		t.Errorf("the backend saw %d refused requests", be.count()-n)
	}
}

// wantOwnErrorPage checks a refusal rendered by the site's handle_errors:
// the status and body it gives, no-store, no session cookie and nothing
// of the gateway's own pages.
func wantOwnErrorPage(t *testing.T, what string, r reply, want string) {
	t.Helper()
	var status int
	fmt.Sscanf(want, "%d", &status)
	if r.Status != status || string(r.Body) != want {
		t.Errorf("%s: %d %q, want %d %q", what, r.Status, r.Body, status, want)
	}
	if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("%s: Cache-Control %q, want no-store", what, cc)
	}
	for _, line := range r.Header.Values("Set-Cookie") {
		if strings.HasPrefix(line, cookiePrefix) && !strings.Contains(line, "Max-Age=0") {
			t.Errorf("%s: a session cookie was set: %q", what, line)
		}
	}
}
