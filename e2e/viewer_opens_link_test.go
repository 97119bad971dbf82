//go:build unix

package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// ---------------------------------------------------------------------------
// 1. Opening a link

func TestE2EOpenLink(t *testing.T) {
	t.Parallel()
	be := newBackend(t)
	g := startGateway(t, t.TempDir(), be, gatewayConfig{})
	code := g.link(t, "market")
	c := newClient(t)

	t.Run("landing page is the same for every app id", func(t *testing.T) {
		var first []byte
		for _, app := range []string{"market", "no-such-app", "ops", "x", "%3Cscript%3E", "a/b", strings.Repeat("m", 100)} {
			r := c.do(t, http.MethodGet, g.url("/_anon/open/"+app), acceptHeader(true), "")
			wantStatus(t, "landing "+app, r, http.StatusOK)
			if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
				t.Errorf("landing %s: Content-Type %q", app, ct)
			}
			if cc := r.Header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
				t.Errorf("landing %s: Cache-Control %q", app, cc)
			}
			if csp := r.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
				t.Errorf("landing %s: Content-Security-Policy %q, want a strict one", app, csp)
			}
			if rp := r.Header.Get("Referrer-Policy"); rp != "no-referrer" {
				t.Errorf("landing %s: Referrer-Policy %q, want no-referrer", app, rp)
			}
			if len(r.Header.Values("Set-Cookie")) != 0 {
				t.Errorf("landing %s sets a cookie", app)
			}
			if bytes.Contains(r.Body, []byte(code)) {
				t.Errorf("landing %s contains the access code", app)
			}
			if first == nil {
				first = r.Body
			} else if !bytes.Equal(first, r.Body) {
				t.Errorf("landing page for %q differs from the one for market", app)
			}
		}
		if len(first) == 0 {
			t.Error("empty landing page")
		}
	})

	redemptions := 0
	cases := []struct {
		name     string
		method   string
		extra    url.Values
		location string
		embed    bool
	}{
		{"POST link", http.MethodPost, nil, marketEntry, false},
		{"GET ?code= link", http.MethodGet, nil, marketEntry, false},
		{"POST embed", http.MethodPost, url.Values{"embed": {"1"}}, marketEntry, true},
		{"GET ?code= embed", http.MethodGet, url.Values{"embed": {"1"}}, marketEntry, true},
		{"POST object in scope", http.MethodPost, url.Values{"object": {"/dashboards/market-2024.html?region=eu"}}, "/dashboards/market-2024.html?region=eu", false},
		{"GET embed object in scope", http.MethodGet, url.Values{"embed": {"1"}, "object": {"/assets/chart.svg"}}, "/assets/chart.svg", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			form := url.Values{"code": {code}}
			for k, v := range tc.extra {
				form[k] = v
			}
			r := g.redeem(t, c, tc.method, "market", form)
			wantStatus(t, "redeem", r, http.StatusSeeOther)
			redemptions++
			loc := r.Header.Get("Location")
			if loc != tc.location {
				t.Errorf("Location = %q, want %q", loc, tc.location)
			}
			if u, err := url.Parse(loc); err != nil || strings.Contains(loc, code) || u.Query().Has("code") {
				t.Errorf("Location %q carries the code", loc)
			}
			if cc := r.Header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
				t.Errorf("Cache-Control = %q, want no-store", cc)
			}
			if rp := r.Header.Get("Referrer-Policy"); rp != "no-referrer" {
				t.Errorf("Referrer-Policy = %q, want no-referrer", rp)
			}
			s := sessionFrom(t, "market", r)
			ck := s.cookie
			if !ck.HttpOnly || !ck.Secure || ck.Path != "/" || ck.Domain != "" {
				t.Errorf("cookie %q: want HttpOnly, Secure, Path=/ and no Domain", r.Header.Get("Set-Cookie"))
			}
			wantSameSite := http.SameSiteLaxMode
			if tc.embed {
				wantSameSite = http.SameSiteNoneMode
			}
			if ck.SameSite != wantSameSite || ck.Partitioned != tc.embed {
				t.Errorf("cookie %q: SameSite=%v Partitioned=%v, want SameSite=%v Partitioned=%v",
					r.Header.Get("Set-Cookie"), ck.SameSite, ck.Partitioned, wantSameSite, tc.embed)
			}
			if strings.Contains(ck.Value, code) {
				t.Error("the session token contains the access code")
			}

			got := c.do(t, http.MethodGet, g.url(loc), s.cookieHeader(), "")
			wantStatus(t, "GET "+loc+" with the session", got, http.StatusOK)
			wantCSP := "frame-ancestors 'self'"
			if tc.embed {
				wantCSP = "frame-ancestors 'self' http://embedder.example"
			}
			if csp := got.Header.Get("Content-Security-Policy"); csp != wantCSP {
				t.Errorf("Content-Security-Policy = %q, want %q", csp, wantCSP)
			}
			path, _, _ := strings.Cut(loc, "?")
			if want := "backend GET " + path; string(got.Body) != want {
				t.Errorf("body %q, want %q", got.Body, want)
			}
			if seen := be.last(t); seen.RequestURI != loc {
				t.Errorf("backend saw %q, want %q", seen.RequestURI, loc)
			}
		})
	}

	t.Run("object outside scope is refused", func(t *testing.T) {
		before := g.capacity(t).Active
		for _, obj := range []string{
			"/secret.html",
			"/assets/private/key.json", // denied
			opsEntry,                   // another app's scope
			"//evil.example/dashboards/market.html",
			"https://evil.example/",
			"/dashboards/../secret.html",
			"/dashboards/market.html#x",
			`\evil.example`,
			"javascript:alert(1)",
		} {
			for _, method := range []string{http.MethodPost, http.MethodGet} {
				r := g.redeem(t, c, method, "market", url.Values{"code": {code}, "object": {obj}})
				if r.Status < 400 || r.Status >= 500 {
					t.Errorf("%s object=%q: status %d, want a 4xx refusal", method, obj, r.Status)
				}
				if r.Header.Get("Location") != "" || len(r.Header.Values("Set-Cookie")) != 0 {
					t.Errorf("%s object=%q: redirected or set a cookie", method, obj)
				}
			}
		}
		if after := g.capacity(t).Active; after != before {
			t.Errorf("refused objects took capacity: active %d -> %d", before, after)
		}
	})

	t.Run("embed-code verb", func(t *testing.T) {
		out := strings.TrimSpace(g.mustCLI(t, "embed-code", "market", "--object", "/assets/chart.svg"))
		if !strings.HasPrefix(out, "<iframe ") || !strings.Contains(out, `title="Market trends"`) {
			t.Fatalf("embed-code printed %q, want an iframe titled with the app name", out)
		}
		_, rest, _ := strings.Cut(out, `src="`)
		src, _, _ := strings.Cut(rest, `"`)
		u, err := url.Parse(strings.ReplaceAll(src, "&amp;", "&"))
		if err != nil || u.Path != "/_anon/open/market" || u.RawQuery != "" {
			t.Fatalf("embed-code src %q: want the open path with everything in the fragment", src)
		}
		frag, _ := url.ParseQuery(u.Fragment)
		if frag.Get("code") != code || frag.Get("embed") != "1" || frag.Get("object") != "/assets/chart.svg" {
			t.Fatalf("embed-code fragment %q, want code, embed=1 and the object", u.Fragment)
		}
		// What the landing page's script posts.
		r := g.redeem(t, c, http.MethodPost, "market", frag)
		wantStatus(t, "redeem the embed code", r, http.StatusSeeOther)
		redemptions++
		if loc := r.Header.Get("Location"); loc != "/assets/chart.svg" {
			t.Errorf("Location = %q, want the object", loc)
		}
		if ck := sessionFrom(t, "market", r).cookie; ck.SameSite != http.SameSiteNoneMode || !ck.Partitioned {
			t.Errorf("embed cookie %q: want SameSite=None; Partitioned", r.Header.Get("Set-Cookie"))
		}
	})

	t.Run("session info", func(t *testing.T) {
		s := g.open(t, c, "market", code)
		redemptions++
		r := c.do(t, http.MethodGet, g.url("/_anon/session"), s.cookieHeader(), "")
		wantStatus(t, "session info", r, http.StatusOK)
		var info struct {
			Sessions []struct {
				App       string    `json:"app"`
				ExpiresAt time.Time `json:"expires_at"`
			} `json:"sessions"`
		}
		if err := json.Unmarshal(r.Body, &info); err != nil {
			t.Fatalf("session info %s: %v", r.Body, err)
		}
		if len(info.Sessions) != 1 || info.Sessions[0].App != "market" {
			t.Fatalf("session info = %s, want one market session", r.Body)
		}
		if left := time.Until(info.Sessions[0].ExpiresAt); left < 14*time.Minute || left > 16*time.Minute {
			t.Errorf("session expires in %v, want about 15 minutes", left)
		}
		if bytes.Contains(r.Body, []byte(s.jti)) || bytes.Contains(r.Body, []byte(code)) {
			t.Error("session info reveals the session id or the access code")
		}
	})

	t.Run("each redemption is one live session", func(t *testing.T) {
		rep := g.capacity(t)
		if rep.Active != redemptions || rep.PerApp["market"] != redemptions {
			t.Errorf("capacity = %+v, want %d active market sessions", rep, redemptions)
		}
	})
}

// ---------------------------------------------------------------------------
// 2. What the backend sees

func TestE2EBackendNeverSeesSecrets(t *testing.T) {
	t.Parallel()
	be := newBackend(t)
	g := startGateway(t, t.TempDir(), be, gatewayConfig{})
	marketCode, salesCode := g.link(t, "market"), g.link(t, "sales")
	c := newClient(t)

	postMarket := g.open(t, c, "market", marketCode)
	r := g.redeem(t, c, http.MethodGet, "market", url.Values{"code": {marketCode}})
	wantStatus(t, "GET ?code=", r, http.StatusSeeOther)
	getMarket := sessionFrom(t, "market", r)
	sales := g.open(t, c, "sales", salesCode)
	sessions := []session{postMarket, getMarket, sales}

	forged := func(cookie ...string) http.Header {
		h := http.Header{}
		h["X-Anonymous-App"] = []string{"ops", "sales"}
		h["X-Anonymous-Session"] = []string{"forged-session"}
		h["x-anonymous-session"] = []string{"forged-lowercase"}
		h["X_Anonymous_Session"] = []string{"forged-underscore"}
		h["X_Anonymous_App"] = []string{"forged-underscore-app"}
		h["Cookie"] = cookie
		return h
	}
	type exchange struct {
		sess   session
		method string
		path   string
		hdr    http.Header
		body   string
		// cookies the backend must still get
		keep []string
	}
	exchanges := []exchange{
		{postMarket, http.MethodGet, marketEntry, forged("theme=dark; " + postMarket.cookie.Name + "=" + postMarket.token + "; lang=en"), "", []string{"theme", "lang"}},
		{getMarket, http.MethodGet, "/assets/app.js?v=3", forged(getMarket.cookie.Name + "=" + getMarket.token), "", nil},
		// Two Cookie lines, the other app's cookie too.
		{postMarket, http.MethodHead, "/dashboards/market.html", forged("theme=dark", sales.cookie.Name+"="+sales.token+"; "+postMarket.cookie.Name+"="+postMarket.token), "", []string{"theme"}},
		{sales, http.MethodPost, "/reports/sales/query", mergeHeaders(forged("a=1; "+sales.cookie.Name+"="+sales.token+"; "+postMarket.cookie.Name+"="+postMarket.token),
			http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}), "q=revenue", []string{"a"}},
		{sales, http.MethodGet, salesEntry, forged(sales.cookie.Name + `="` + sales.token + `"`), "", nil},
	}
	refs := map[string]string{} // jti -> X-Anonymous-Session seen
	for _, ex := range exchanges {
		n := be.count()
		got := c.do(t, ex.method, g.url(ex.path), ex.hdr, ex.body)
		wantStatus(t, ex.method+" "+ex.path, got, http.StatusOK)
		if be.count() != n+1 {
			t.Fatalf("%s %s: backend saw %d requests, want 1", ex.method, ex.path, be.count()-n)
		}
		seen := be.last(t)
		if seen.Body != ex.body {
			t.Errorf("%s %s: backend body %q, want %q", ex.method, ex.path, seen.Body, ex.body)
		}
		var apps, sessRefs []string
		for name, vals := range seen.Header {
			switch strings.ReplaceAll(strings.ToLower(name), "_", "-") {
			case "x-anonymous-app":
				apps = append(apps, vals...)
			case "x-anonymous-session":
				sessRefs = append(sessRefs, vals...)
			}
		}
		if len(apps) != 1 || apps[0] != ex.sess.app {
			t.Errorf("%s %s: backend saw X-Anonymous-App %q, want exactly [%s]", ex.method, ex.path, apps, ex.sess.app)
		}
		if len(sessRefs) != 1 || sessRefs[0] == "" || strings.Contains(sessRefs[0], "forged") {
			t.Fatalf("%s %s: backend saw X-Anonymous-Session %q, want one gateway value", ex.method, ex.path, sessRefs)
		}
		ref := sessRefs[0]
		if pa, ps := seen.Header.Get("X-Placeholder-App"), seen.Header.Get("X-Placeholder-Session"); pa != ex.sess.app || ps != ref {
			t.Errorf("placeholders {http.anonymous_access.app}=%q {http.anonymous_access.session}=%q, want %q and %q", pa, ps, ex.sess.app, ref)
		}
		if ref == ex.sess.jti || strings.Contains(ref, ex.sess.jti) || strings.Contains(ex.sess.jti, ref) {
			t.Errorf("X-Anonymous-Session %q is the session id", ref)
		}
		if prev, ok := refs[ex.sess.jti]; ok && prev != ref {
			t.Errorf("one session, two references: %q and %q", prev, ref)
		}
		refs[ex.sess.jti] = ref
		cookies := map[string]bool{}
		for _, line := range seen.Header.Values("Cookie") {
			for _, part := range strings.Split(line, ";") {
				name, _, _ := strings.Cut(strings.TrimSpace(part), "=")
				cookies[name] = true
			}
		}
		for _, name := range ex.keep {
			if !cookies[name] {
				t.Errorf("%s %s: the client's cookie %q did not reach the backend (Cookie %q)", ex.method, ex.path, name, seen.Header.Values("Cookie"))
			}
		}
	}
	distinct := map[string]bool{}
	for _, ref := range refs {
		distinct[ref] = true
	}
	if len(distinct) != len(sessions) {
		t.Errorf("want one distinct X-Anonymous-Session per session, got %v", refs)
	}

	t.Run("refused requests never reach the backend", func(t *testing.T) {
		n := be.count()
		for _, hdr := range []http.Header{forged(), forged("theme=dark"), forged(postMarket.cookie.Name + "=forged.token.value")} {
			r := c.do(t, http.MethodGet, g.url(marketEntry), hdr, "")
			wantStatus(t, "forged headers without a session", r, http.StatusUnauthorized)
		}
		r := c.do(t, http.MethodGet, g.url("/secret.html"), forged(postMarket.cookie.Name+"="+postMarket.token), "")
		wantStatus(t, "out of scope", r, http.StatusForbidden)
		if be.count() != n {
			t.Errorf("the backend saw %d refused requests", be.count()-n)
		}
	})

	t.Run("no secret anywhere in what the backend saw", func(t *testing.T) {
		secrets := map[string]string{"market access code": marketCode, "sales access code": salesCode}
		for i, s := range sessions {
			secrets[fmt.Sprintf("session %d token", i)] = s.token
			secrets[fmt.Sprintf("session %d id (jti)", i)] = s.jti
		}
		for _, seen := range be.requests() {
			var parts []string
			parts = append(parts, seen.RequestURI, seen.Path, seen.RawQuery, seen.Body)
			for name, vals := range seen.Header {
				parts = append(parts, name)
				parts = append(parts, vals...)
			}
			all := strings.Join(parts, "\n")
			for what, secret := range secrets {
				if strings.Contains(all, secret) {
					t.Errorf("backend request %s %s carries the %s", seen.Method, seen.RequestURI, what)
				}
			}
			if strings.Contains(all, cookiePrefix) {
				t.Errorf("backend request %s %s carries a gateway cookie", seen.Method, seen.RequestURI)
			}
		}
	})
}
