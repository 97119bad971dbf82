//go:build unix

package e2e

// Nothing leaks sideways: no shared cache keeps protected content, no
// forged gateway header and no path a backend reads otherwise reaches the
// backend, another site cannot spend a link, and a dead cookie of one app
// never stands in the way of another app's session.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestE2EProtectedResponsesArePrivate: a backend's public and s-maxage
// never reach the client, its other directives do; the gateway's own
// answers are no-store.
func TestE2EProtectedResponsesArePrivate(t *testing.T) {
	t.Parallel()
	sb := newStreamBackend(t)
	g := startGateway(t, t.TempDir(), sb.backend, gatewayConfig{})
	c := newClient(t)
	market := g.open(t, c, "market", g.link(t, "market"))

	for backendCC, want := range map[string]string{
		"public, s-maxage=600, max-age=60":     "private, max-age=60",
		"public":                               "private",
		"S-MaxAge=600, must-revalidate":        "private, must-revalidate",
		"no-cache, Public":                     "private, no-cache",
		"private, max-age=5, stale-if-error=9": "private, max-age=5, stale-if-error=9",
		"":                                     "private",
	} {
		path := marketEntry + "?" + url.Values{"cache-control": {backendCC}}.Encode()
		r := getWith(t, c, g, market, path)
		wantStatus(t, "backend Cache-Control "+backendCC, r, http.StatusOK)
		if got := strings.Join(r.Header.Values("Cache-Control"), ", "); got != want {
			t.Errorf("backend answered Cache-Control %q: the client got %q, want %q", backendCC, got, want)
		}
	}
	events, resp := openEvents(t, c, g, marketEvents, market.cookieHeader())
	if got := resp.Header.Get("Cache-Control"); resp.StatusCode != http.StatusOK || got != "private, no-cache" {
		t.Errorf("event stream: %d with Cache-Control %q, want 200 %q", resp.StatusCode, got, "private, no-cache")
	}
	events.wantAlive(t)
	r := c.do(t, http.MethodGet, g.url(marketEntry), nil, "")
	if got := r.Header.Get("Cache-Control"); r.Status != http.StatusUnauthorized || got != "no-store" {
		t.Errorf("a refusal: %d with Cache-Control %q, want 401 no-store", r.Status, got)
	}
}

// TestE2EForgedGatewayHeadersNeverReachTheBackend: request headers a
// backend could read as the gateway's (any case, '_' for '-') are dropped;
// only the gateway's own X-Anonymous-App and X-Anonymous-Session go up.
func TestE2EForgedGatewayHeadersNeverReachTheBackend(t *testing.T) {
	t.Parallel()
	be := newBackend(t)
	g := startGateway(t, t.TempDir(), be, gatewayConfig{})
	market := g.open(t, newClient(t), "market", g.link(t, "market"))
	forgedHeaders := map[string]string{
		"X_Anonymous_App":     "admin",
		"x-anonymous-app":     "admin",
		"X-ANONYMOUS-SESSION": "forged",
		"x_anonymous_session": "forged",
		"X-Anonymous_App":     "admin",
	}

	n := be.count()
	if status, body := rawRequest(t, g.site, http.MethodGet, marketEntry, forgedHeaders); status != http.StatusUnauthorized {
		t.Errorf("forged gateway headers without a session: %d %s, want 401", status, body)
	}
	if be.count() != n {
		t.Fatal("a request with forged gateway headers and no session reached the backend")
	}

	forgedHeaders["Cookie"] = market.cookie.Name + "=" + market.token
	if status, body := rawRequest(t, g.site, http.MethodGet, marketEntry, forgedHeaders); status != http.StatusOK {
		t.Fatalf("forged gateway headers with a session: %d %s", status, body)
	}
	seen := be.last(t)
	var apps, sessions []string
	for name, vals := range seen.Header {
		switch strings.ReplaceAll(strings.ToLower(name), "_", "-") {
		case "x-anonymous-app":
			apps = append(apps, vals...)
		case "x-anonymous-session":
			sessions = append(sessions, vals...)
		}
		for _, v := range vals {
			if v == "admin" || v == "forged" {
				t.Errorf("the backend got the forged header %s: %s", name, v)
			}
		}
	}
	if len(apps) != 1 || apps[0] != "market" || len(sessions) != 1 || sessions[0] == "" {
		t.Errorf("the backend got X-Anonymous-App %q and X-Anonymous-Session %q, want only the gateway's", apps, sessions)
	}
}

// TestE2EPathsABackendReadsOtherwiseAreRefused: ';' path parameters and
// double encoding are 400 bad_path before the scope check, and never
// reach the backend.
func TestE2EPathsABackendReadsOtherwiseAreRefused(t *testing.T) {
	t.Parallel()
	be := newBackend(t)
	g := startGateway(t, t.TempDir(), be, gatewayConfig{})
	market := g.open(t, newClient(t), "market", g.link(t, "market"))
	hdr := map[string]string{"Cookie": market.cookie.Name + "=" + market.token, "Accept": "application/json"}
	if status, body := rawRequest(t, g.site, http.MethodGet, marketEntry, hdr); status != http.StatusOK {
		t.Fatalf("control: %s with a session: %d %s", marketEntry, status, body)
	}

	n := be.count()
	for _, target := range []string{
		"/dashboards/market.html;x=1",
		"/dashboards/market.html;",
		"/dashboards/%3Bx",
		"/dashboards/market.html%3bx=1",
		"/dashboards/%252e%252e/secret",
		"/dashboards/market%252ehtml",
		"/assets/%25",
	} {
		status, body := rawRequest(t, g.site, http.MethodGet, target, hdr)
		var e struct{ Error string }
		_ = json.Unmarshal([]byte(body), &e)
		if status != http.StatusBadRequest || e.Error != "bad_path" {
			t.Errorf("GET %s: %d %s, want 400 bad_path", target, status, body)
		}
		if got := be.count(); got != n {
			t.Errorf("GET %s reached the backend as %q", target, be.last(t).RequestURI)
			n = got
		}
	}
}

// TestE2ERedemptionsComeFromOurPagesOrNavigation: a POST sent by another
// site's page and a GET ?code= pulled as an image, a script, a fetch or in
// another site's iframe are 403 cross_site with no cookie and no session;
// our own page's POST and a person's navigation redeem.
func TestE2ERedemptionsComeFromOurPagesOrNavigation(t *testing.T) {
	t.Parallel()
	g := startGateway(t, t.TempDir(), newBackend(t), gatewayConfig{})
	code := g.link(t, "market")
	form := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Accept": {"application/json"}}
	post := func(site string) reply {
		return newClient(t).do(t, http.MethodPost, g.url("/_anon/open/market"),
			mergeHeaders(form, http.Header{"Sec-Fetch-Site": {site}, "Sec-Fetch-Mode": {"navigate"}}), url.Values{"code": {code}}.Encode())
	}
	get := func(dest string, site ...string) reply {
		return newClient(t).do(t, http.MethodGet, g.url("/_anon/open/market?"+url.Values{"code": {code}}.Encode()),
			http.Header{"Sec-Fetch-Dest": {dest}, "Sec-Fetch-Site": {append(site, "cross-site")[0]}, "Accept": {"application/json"}}, "")
	}

	refused := map[string]reply{
		"POST from a cross-site page": post("cross-site"), "POST from a same-site page": post("same-site"),
		"GET ?code= as an image": get("image"), "GET ?code= as a script": get("script"), "GET ?code= as a fetch": get("empty"),
		"GET ?code= in another site's iframe": get("iframe"),
	}
	for what, r := range refused {
		wantStatus(t, what, r, http.StatusForbidden)
		wantErrorBody(t, what, r, false)
		if got := errorCode(r); got != "cross_site" {
			t.Errorf("%s: error %q, want cross_site", what, got)
		}
		if len(r.Header.Values("Set-Cookie")) != 0 || r.Header.Get("Location") != "" {
			t.Errorf("%s: Set-Cookie %q, Location %q; want neither", what, r.Header.Values("Set-Cookie"), r.Header.Get("Location"))
		}
	}
	if rep := g.capacity(t); rep.Active != 0 {
		t.Errorf("refused redemptions started sessions: %+v", rep)
	}
	for what, r := range map[string]reply{
		"POST from our landing page": post("same-origin"), "GET ?code= as a page load": get("document"), "GET ?code= in our own iframe": get("iframe", "same-origin"),
	} {
		wantStatus(t, what, r, http.StatusSeeOther)
		sessionFrom(t, "market", r)
	}
	_, samples := g.metrics(t)
	wantMetric(t, samples, "caddy_anonymous_access_links_rejected_total", map[string]string{"tenant": e2eTenant, "reason": "cross_site"}, float64(len(refused)))
}

// TestE2EARevokedCookieNeverBlocksAnotherAppsSession: the cookie of an
// app whose code was reset is refused and cleared; a request carrying it
// and a live session of another app is served, and the dead cookie is
// cleared there too when it was read.
func TestE2EARevokedCookieNeverBlocksAnotherAppsSession(t *testing.T) {
	t.Parallel()
	be := newBackend(t)
	g := startGateway(t, t.TempDir(), be, gatewayConfig{})
	c := newClient(t)
	market := g.open(t, c, "market", g.link(t, "market"))
	sales := g.open(t, c, "sales", g.link(t, "sales"))
	g.mustCLI(t, "reset-code", "sales")

	r := c.do(t, http.MethodGet, g.url(marketEntry), mergeHeaders(cookiesOf(sales), acceptHeader(false)), "")
	wantStatus(t, "the reset session alone", r, http.StatusUnauthorized)
	if cleared, _ := setCookies(t, r); errorCode(r) != "session_revoked" || len(cleared) != 1 || cleared[0] != "sales" {
		t.Errorf("the reset session alone: error %q, cleared %q; want session_revoked and sales cleared", errorCode(r), cleared)
	}
	for _, order := range [][]session{{sales, market}, {market, sales}} {
		r := c.do(t, http.MethodGet, g.url(marketEntry), cookiesOf(order...), "")
		what := fmt.Sprintf("cookies %s then %s", order[0].app, order[1].app)
		wantStatus(t, what, r, http.StatusOK)
		if got := be.last(t).Header.Get("X-Anonymous-App"); got != "market" {
			t.Errorf("%s: the backend got X-Anonymous-App %q", what, got)
		}
		cleared, started := setCookies(t, r)
		if len(started) != 0 {
			t.Errorf("%s: started %d sessions, want none", what, len(started))
		}
		// The live cookie ends the check: a dead cookie after it is not
		// read, so it is cleared only when it comes first.
		if order[0] == sales && (len(cleared) != 1 || cleared[0] != "sales") {
			t.Errorf("%s: cleared %q, want sales cleared", what, cleared)
		}
	}
}

// TestE2EARevokedCookieNeverBlocksAnotherAppsRenewal: with session_ttl
// 3s, a page load carrying the expired cookie of an app whose code was
// reset and the expired cookie of another app clears the first and
// renews the second, in either order.
func TestE2EARevokedCookieNeverBlocksAnotherAppsRenewal(t *testing.T) {
	t.Parallel()
	be := newBackend(t)
	g := startGateway(t, t.TempDir(), be, gatewayConfig{SessionTTL: "3s"})
	c := newClient(t)
	marketCode := g.link(t, "market")
	first, second := g.open(t, c, "market", marketCode), g.open(t, c, "market", marketCode)
	sales := g.open(t, c, "sales", g.link(t, "sales"))
	deadline := time.Now().Add(15 * time.Second)
	for _, s := range []session{first, second, sales} {
		waitUntil(t, deadline, s.app+" session expired", func() (bool, string) {
			r := c.do(t, http.MethodGet, g.url(entryOf(s.app)), mergeHeaders(s.cookieHeader(), acceptHeader(false)), "")
			return r.Status == http.StatusUnauthorized && errorCode(r) == "session_expired", fmt.Sprintf("%d %s", r.Status, r.Body)
		})
	}
	g.mustCLI(t, "reset-code", "sales")

	for _, order := range [][]session{{sales, first}, {second, sales}} {
		what := fmt.Sprintf("page load with expired cookies %s then %s", order[0].app, order[1].app)
		n := be.count()
		r := c.do(t, http.MethodGet, g.url(marketEntry), mergeHeaders(cookiesOf(order...),
			http.Header{"Accept": {"text/html"}, "Sec-Fetch-Dest": {"document"}, "Sec-Fetch-Mode": {"navigate"}}), "")
		wantStatus(t, what, r, http.StatusOK)
		if be.count() != n+1 || be.last(t).Header.Get("X-Anonymous-App") != "market" {
			t.Errorf("%s: the renewed page load did not reach the backend as market's", what)
		}
		cleared, started := setCookies(t, r)
		if len(cleared) != 1 || cleared[0] != "sales" || len(started) != 1 || started[0].app != "market" {
			t.Fatalf("%s: cleared %q, started %d sessions; want sales cleared and market renewed", what, cleared, len(started))
		}
		wantStatus(t, what+": the renewed session", getWith(t, c, g, started[0], marketEntry), http.StatusOK)
	}
}

func entryOf(app string) string {
	return map[string]string{"market": marketEntry, "sales": salesEntry, "ops": opsEntry}[app]
}

// cookiesOf is one Cookie header carrying the sessions' cookies in order.
func cookiesOf(sessions ...session) http.Header {
	var parts []string
	for _, s := range sessions {
		parts = append(parts, s.cookie.Name+"="+s.token)
	}
	return http.Header{"Cookie": {strings.Join(parts, "; ")}}
}

// setCookies sorts a reply's session cookies into the apps whose cookie
// it clears (Max-Age=0) and the sessions it starts.
func setCookies(t *testing.T, r reply) (cleared []string, started []session) {
	t.Helper()
	for _, line := range r.Header.Values("Set-Cookie") {
		ck, err := http.ParseSetCookie(line)
		if err != nil || !strings.HasPrefix(ck.Name, cookiePrefix) {
			t.Fatalf("Set-Cookie %q: %v", line, err)
		}
		app := strings.TrimPrefix(ck.Name, cookiePrefix)
		if ck.MaxAge < 0 && ck.Value == "" && strings.Contains(line, "Max-Age=0") {
			cleared = append(cleared, app)
			continue
		}
		started = append(started, session{app: app, cookie: ck, token: ck.Value, jti: tokenID(t, ck.Value)})
	}
	return cleared, started
}
