//go:build unix

package e2e

// An anonymous viewer opens an app link or embed code and gets a session.

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestE2EOpenLinkLandingPage: the page at a link's address is the same for
// every app id, strict, uncached, and holds no code and no cookie.
func TestE2EOpenLinkLandingPage(t *testing.T) {
	t.Parallel()
	g := startGateway(t, t.TempDir(), newBackend(t), gatewayConfig{})
	code := g.link(t, "market")
	c := newClient(t)

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
}

// openCase is one way of redeeming market's code.
type openCase struct {
	name     string
	method   string
	extra    url.Values
	location string
	embed    bool
}

// TestE2EOpenLink: each way of redeeming a code (POST or GET, link or
// embed, an object in scope) redirects without the code, with the cookie
// of its kind, to a page the session reaches; each is one live session.
func TestE2EOpenLink(t *testing.T) {
	t.Parallel()
	be := newBackend(t)
	g := startGateway(t, t.TempDir(), be, gatewayConfig{})
	code := g.link(t, "market")
	c := newClient(t)

	redemptions := 0
	for _, tc := range []openCase{
		{"POST link", http.MethodPost, nil, marketEntry, false},
		{"GET ?code= link", http.MethodGet, nil, marketEntry, false},
		{"POST embed", http.MethodPost, url.Values{"embed": {"1"}}, marketEntry, true},
		{"GET ?code= embed", http.MethodGet, url.Values{"embed": {"1"}}, marketEntry, true},
		{"POST object in scope", http.MethodPost, url.Values{"object": {"/dashboards/market-2024.html?region=eu"}}, "/dashboards/market-2024.html?region=eu", false},
		{"GET embed object in scope", http.MethodGet, url.Values{"embed": {"1"}, "object": {"/assets/chart.svg"}}, "/assets/chart.svg", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			form := url.Values{"code": {code}}
			for k, v := range tc.extra {
				form[k] = v
			}
			r := g.redeem(t, c, tc.method, "market", form)
			wantStatus(t, "redeem", r, http.StatusSeeOther)
			redemptions++
			s := wantRedirectWithSession(t, r, code, tc)
			wantServedWithSession(t, g, be, c, s, r.Header.Get("Location"), tc.embed)
		})
	}

	rep := g.capacity(t)
	if rep.Active != redemptions || rep.PerApp["market"] != redemptions {
		t.Errorf("capacity = %+v, want %d active market sessions", rep, redemptions)
	}
}

// wantRedirectWithSession checks a redemption's 303: to the case's page
// without the code, uncached, and a session cookie of the case's kind.
func wantRedirectWithSession(t *testing.T, r reply, code string, tc openCase) session {
	t.Helper()
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
	return s
}

// wantServedWithSession checks that s reaches loc on the backend, framable
// by the embed origins only when it is an embed's.
func wantServedWithSession(t *testing.T, g *gateway, be *backend, c *client, s session, loc string, embed bool) {
	t.Helper()
	got := getWith(t, c, g, s, loc)
	wantStatus(t, "GET "+loc+" with the session", got, http.StatusOK)
	wantCSP := "frame-ancestors 'self'"
	if embed {
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
}

// TestE2EOpenLinkObjectOutsideScope: an object outside the app's scope is
// refused, whatever its disguise, and takes no capacity.
func TestE2EOpenLinkObjectOutsideScope(t *testing.T) {
	t.Parallel()
	g := startGateway(t, t.TempDir(), newBackend(t), gatewayConfig{})
	code := g.link(t, "market")
	c := newClient(t)

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
}

// TestE2EOpenEmbedCode: the embed-code verb prints an iframe whose address
// carries everything in its fragment; posted as the landing page's script
// does, it starts one embed session on the object.
func TestE2EOpenEmbedCode(t *testing.T) {
	t.Parallel()
	g := startGateway(t, t.TempDir(), newBackend(t), gatewayConfig{})
	code := g.link(t, "market")
	c := newClient(t)

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
	if loc := r.Header.Get("Location"); loc != "/assets/chart.svg" {
		t.Errorf("Location = %q, want the object", loc)
	}
	if ck := sessionFrom(t, "market", r).cookie; ck.SameSite != http.SameSiteNoneMode || !ck.Partitioned {
		t.Errorf("embed cookie %q: want SameSite=None; Partitioned", r.Header.Get("Set-Cookie"))
	}
	if rep := g.capacity(t); rep.Active != 1 || rep.PerApp["market"] != 1 {
		t.Errorf("capacity = %+v, want 1 active market session", rep)
	}
}

// TestE2ESessionInfo: a session's holder can read which app it is for and
// when it ends, never its id or the code.
func TestE2ESessionInfo(t *testing.T) {
	t.Parallel()
	g := startGateway(t, t.TempDir(), newBackend(t), gatewayConfig{})
	code := g.link(t, "market")
	c := newClient(t)

	s := g.open(t, c, "market", code)
	r := getWith(t, c, g, s, "/_anon/session")
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
	if rep := g.capacity(t); rep.Active != 1 || rep.PerApp["market"] != 1 {
		t.Errorf("capacity = %+v, want 1 active market session", rep)
	}
}
