//go:build unix

package e2e

// What an anonymous viewer is refused: bad links, requests outside the
// session's app, oversized bodies and path tricks; none of it reaches the
// backend.

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestE2ERefusedLinksLookTheSame: an unknown app, a wrong code and a
// turned-off app get one and the same answer, as JSON and as a page.
func TestE2ERefusedLinksLookTheSame(t *testing.T) {
	t.Parallel()
	g := startGateway(t, t.TempDir(), newBackend(t), gatewayConfig{})
	marketCode := g.link(t, "market")
	opsCode := g.link(t, "ops")
	g.mustCLI(t, "disable", "ops")

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
}

// TestE2ERefusedRequests: requests without a valid session, outside the
// app's scope or with a method it does not allow are refused with the
// right status and error body, before the backend.
func TestE2ERefusedRequests(t *testing.T) {
	t.Parallel()
	be := newBackend(t)
	g := startGateway(t, t.TempDir(), be, gatewayConfig{})
	owner := newClient(t)
	market := g.open(t, owner, "market", g.link(t, "market"))

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
	r := getWith(t, owner, g, market, "/assets/app.js")
	wantStatus(t, "control: a request in scope", r, http.StatusOK)
}

// TestE2ERequestBodiesAreCapped: a body over 1 MiB is refused with 413
// before the backend, with or without Content-Length.
func TestE2ERequestBodiesAreCapped(t *testing.T) {
	t.Parallel()
	be := newBackend(t)
	g := startGateway(t, t.TempDir(), be, gatewayConfig{})
	owner := newClient(t)
	sales := g.open(t, owner, "sales", g.link(t, "sales"))
	const bodyLimit = 1 << 20

	t.Run("with Content-Length", func(t *testing.T) {
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
	t.Run("chunked", func(t *testing.T) {
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
}

// TestE2EPathTricksNeverReachTheBackend: dot segments, encoded slashes and
// backslashes sent as they are never take a session outside its scope.
func TestE2EPathTricksNeverReachTheBackend(t *testing.T) {
	t.Parallel()
	be := newBackend(t)
	g := startGateway(t, t.TempDir(), be, gatewayConfig{})
	market := g.open(t, newClient(t), "market", g.link(t, "market"))

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
		"/assets//private/key.json", // merged, then denied
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
	// Doubled slashes, which single-page dashboards build, are merged,
	// and the merged path is what is checked and forwarded.
	if status, body := rawRequest(t, g.site, http.MethodGet, "//assets//app.js", cookie); status != 200 || be.last(t).RequestURI != "/assets/app.js" {
		t.Errorf("GET //assets//app.js: %d %.100s, forwarded as %q", status, body, be.last(t).RequestURI)
	}
}
