//go:build unix

package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// ---------------------------------------------------------------------------
// 3. Refusals

func TestE2ERefusals(t *testing.T) {
	t.Parallel()
	be := newBackend(t)
	g := startGateway(t, t.TempDir(), be, gatewayConfig{})
	marketCode := g.link(t, "market")
	opsCode := g.link(t, "ops")
	g.mustCLI(t, "disable", "ops")
	owner := newClient(t)
	market := g.open(t, owner, "market", marketCode)

	t.Run("unknown app, wrong code and turned-off app look the same", func(t *testing.T) {
		attempts := []struct{ name, app, code string }{
			{"unknown app with a real code", "no-such-app", marketCode},
			{"unknown app", "no-such-app", strings.Repeat("A", len(marketCode))},
			{"impossible app id", strings.Repeat("m", 100), marketCode},
			{"wrong code", "market", strings.Repeat("B", len(marketCode))},
			{"malformed code", "market", "not a code!"},
			{"empty code", "market", ""},
			{"other app's code", "sales", marketCode},
			{"turned-off app with its real code", "ops", opsCode},
		}
		for _, html := range []bool{false, true} {
			var ref reply
			for i, a := range attempts {
				for _, method := range []string{http.MethodPost, http.MethodGet} {
					// A fresh client each time: the failure rate limit is
					// per client and is tested on its own.
					c := newClient(t)
					form := url.Values{"code": {a.code}}
					var r reply
					if method == http.MethodGet {
						r = c.do(t, method, g.url("/_anon/open/"+a.app+"?"+form.Encode()), acceptHeader(html), "")
					} else {
						r = c.do(t, method, g.url("/_anon/open/"+a.app), mergeHeaders(acceptHeader(html),
							http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}), form.Encode())
					}
					what := fmt.Sprintf("%s %s (html=%v)", method, a.name, html)
					wantStatus(t, what, r, http.StatusForbidden)
					wantErrorBody(t, what, r, html)
					if len(r.Header.Values("Set-Cookie")) != 0 || r.Header.Get("Location") != "" {
						t.Errorf("%s: set a cookie or redirected", what)
					}
					if i == 0 && method == http.MethodPost {
						ref = r
						continue
					}
					if !bytes.Equal(r.Body, ref.Body) || r.Header.Get("Content-Type") != ref.Header.Get("Content-Type") {
						t.Errorf("%s: answer differs from %q: %q vs %q", what, attempts[0].name, r.Body, ref.Body)
					}
				}
			}
		}
	})

	t.Run("protected requests", func(t *testing.T) {
		none := http.Header{}
		cases := []struct {
			name   string
			method string
			path   string
			cookie http.Header
			want   int
		}{
			{"no cookie", http.MethodGet, marketEntry, none, http.StatusUnauthorized},
			{"invalid token", http.MethodGet, marketEntry, http.Header{"Cookie": {market.cookie.Name + "=eyJhbGciOiJub25lIn0.e30."}}, http.StatusUnauthorized},
			{"tampered token", http.MethodGet, marketEntry, http.Header{"Cookie": {market.cookie.Name + "=" + market.token + "x"}}, http.StatusUnauthorized},
			{"oversized token", http.MethodGet, marketEntry, http.Header{"Cookie": {market.cookie.Name + "=" + strings.Repeat("e", 16<<10)}}, http.StatusUnauthorized},
			{"out of scope", http.MethodGet, "/secret.html", market.cookieHeader(), http.StatusForbidden},
			{"scope is case-sensitive", http.MethodGet, "/Dashboards/market.html", market.cookieHeader(), http.StatusForbidden},
			{"dir scope never matches a sibling", http.MethodGet, "/assetsx/app.js", market.cookieHeader(), http.StatusForbidden},
			{"another app's scope", http.MethodGet, opsEntry, market.cookieHeader(), http.StatusForbidden},
			{"denied path inside scope", http.MethodGet, "/assets/private/key.json", market.cookieHeader(), http.StatusForbidden},
			{"POST on a GET/HEAD app", http.MethodPost, marketEntry, market.cookieHeader(), http.StatusMethodNotAllowed},
			{"DELETE on a GET/HEAD app", http.MethodDelete, "/assets/app.js", market.cookieHeader(), http.StatusMethodNotAllowed},
		}
		n := be.count()
		for _, tc := range cases {
			for _, html := range []bool{false, true} {
				what := fmt.Sprintf("%s (html=%v)", tc.name, html)
				r := owner.do(t, tc.method, g.url(tc.path), mergeHeaders(acceptHeader(html), tc.cookie), "")
				if r.Status != tc.want {
					t.Errorf("%s: status %d, want %d; body %s", what, r.Status, tc.want, r.Body)
					continue
				}
				wantErrorBody(t, what, r, html)
			}
		}
		if be.count() != n {
			t.Errorf("the backend saw %d refused requests", be.count()-n)
		}
		r := owner.do(t, http.MethodGet, g.url("/assets/app.js"), market.cookieHeader(), "")
		wantStatus(t, "control: a request in scope", r, http.StatusOK)
	})

	sales := g.open(t, owner, "sales", g.link(t, "sales"))
	const bodyLimit = 1 << 20
	t.Run("request bodies are capped", func(t *testing.T) {
		r := owner.do(t, http.MethodPost, g.url("/reports/sales/query"), sales.cookieHeader(), strings.Repeat("q", 1024))
		wantStatus(t, "control: a small POST on an app that allows POST", r, http.StatusOK)
		n := be.count()
		r = owner.do(t, http.MethodPost, g.url("/reports/sales/query"), sales.cookieHeader(), strings.Repeat("q", bodyLimit+1))
		wantStatus(t, "POST of 1 MiB + 1 byte", r, http.StatusRequestEntityTooLarge)
		if be.count() != n {
			t.Error("an oversized body with Content-Length reached the backend")
		}
	})

	// Without Content-Length (chunked) the cap can only apply while
	// streaming; the refusal must still be a 413 from the gateway, not a
	// truncated request to the backend answered with 502.
	t.Run("chunked bodies over the cap are refused before the backend", func(t *testing.T) {
		n := be.count()
		body := io.MultiReader(strings.NewReader(strings.Repeat("q", bodyLimit+64<<10))) // no length: chunked
		req, err := http.NewRequest(http.MethodPost, g.url("/reports/sales/query"), body)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Cookie", sales.cookie.Name+"="+sales.token)
		req.Close = true // its own connection: the server may answer before the body is sent
		resp, err := owner.hc.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusRequestEntityTooLarge {
				t.Errorf("chunked POST over the cap: status %d, want 413", resp.StatusCode)
			}
		} else {
			// The server may close while the body is still being sent.
			t.Logf("chunked POST over the cap: %v", err)
		}
		if be.count() != n {
			t.Error("the oversized request reached the backend (its body cut short by the cap)")
		}
	})

	t.Run("path tricks never reach the backend", func(t *testing.T) {
		cookie := map[string]string{"Cookie": market.cookie.Name + "=" + market.token}
		if status, body := rawRequest(t, g.site, http.MethodGet, "/assets/app.js", cookie); status != http.StatusOK {
			t.Fatalf("control: raw request in scope: %d %s", status, body)
		}
		n := be.count()
		for _, target := range []string{
			"/dashboards/../secret.html",
			"/dashboards/market.html/../../secret.html",
			"/assets/../secret.html",
			"/assets/../assets/private/key.json",
			"/assets/%2e%2e/secret.html",
			"/assets/%2E%2E/secret.html",
			"/assets/.%2e/secret.html",
			"/assets/%2e./secret.html",
			"/assets/..%2fsecret.html",
			"/assets%2f..%2fsecret.html",
			"/assets/x%2F..%2F..%2Fsecret.html",
			"/assets/private%2fkey.json",
			"/assets/./private/key.json",
			"/assets/%2e/private/key.json",
			"//assets/app.js",
			"/assets//private/key.json",
			"//evil.example/assets/app.js",
			`/assets/..\secret.html`,
			"/assets/..%5csecret.html",
			"/assets/%00/../secret.html",
		} {
			status, body := rawRequest(t, g.site, http.MethodGet, target, cookie)
			if status < 400 || status >= 500 {
				t.Errorf("GET %s: status %d, want a 4xx refusal; body %.100s", target, status, body)
			}
			if got := be.count(); got != n {
				t.Errorf("GET %s reached the backend as %q", target, be.last(t).RequestURI)
				n = got
			}
		}
	})
}

// ---------------------------------------------------------------------------
// 4. Failure rate limit

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

// ---------------------------------------------------------------------------
// 5. Reset code, disable, enable through the CLI

func TestE2ECodeResetAndDisable(t *testing.T) {
	t.Parallel()
	be := newBackend(t)
	g := startGateway(t, t.TempDir(), be, gatewayConfig{})
	c := newClient(t)
	get := func(s session) reply {
		return c.do(t, http.MethodGet, g.url(marketEntry), s.cookieHeader(), "")
	}

	code1 := g.link(t, "market")
	s1 := g.open(t, c, "market", code1)
	wantStatus(t, "first session", get(s1), http.StatusOK)

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
		r = get(s1)
		wantStatus(t, "live session after reset", r, http.StatusUnauthorized)
		wantErrorBody(t, "live session after reset", r, false)
		s2 = g.open(t, c, "market", code2)
		wantStatus(t, "session from the new link", get(s2), http.StatusOK)
	}) {
		return
	}

	if !t.Run("disable", func(t *testing.T) {
		out := g.mustCLI(t, "disable", "market")
		var app appState
		if err := json.Unmarshal([]byte(out), &app); err != nil || app.ID != "market" || app.AnonymousAccess {
			t.Errorf("disable printed %s, want the app with anonymous_access false", out)
		}
		wantStatus(t, "live session after disable", get(s2), http.StatusUnauthorized)
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
		wantStatus(t, "session from a fresh link", get(s3), http.StatusOK)
		wantStatus(t, "session ended by disable stays ended", get(s2), http.StatusUnauthorized)
		wantStatus(t, "session ended by reset stays ended", get(s1), http.StatusUnauthorized)
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
