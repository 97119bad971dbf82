package caddymodule

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/anonaccess/caddy-anonymous-access/policy/policytest"
)

// handlerFixture is one provisioned handler in front of a next handler
// that records what it was given, with an injected clock.
type handlerFixture struct {
	h     *Handler
	clock *policytest.Clock
	seen  []*http.Request
	mu    sync.Mutex
}

// newHandler provisions the fixture's handler with capacity, after
// applying configure to it.
func newHandler(t *testing.T, capacity int, configure ...func(*Handler)) *handlerFixture {
	t.Helper()
	f := &handlerFixture{clock: policytest.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))}
	name := strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))
	if len(name) > 60 {
		name = name[:60]
	}
	f.h = &Handler{
		Tenant: name, Capacity: capacity, PublicURL: "https://share.example.com",
		Storage:      &Storage{Path: filepath.Join(t.TempDir(), "state.db")},
		EmbedOrigins: []string{"https://www.example.org"},
		Spaces:       []SpaceConfig{{ID: "stats", Type: "managed"}},
		Apps: []AppConfig{{ID: "market", Space: "stats", Name: "Market", Entry: "/d/market.html",
			Scope: []string{"/d/market*", "/assets/*"}, Deny: []string{"/assets/secret/*"}, Anonymous: true}},
		now: f.clock.Now,
	}
	for _, c := range configure {
		c(f.h)
	}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	if err := f.h.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.h.Cleanup() })
	return f
}

func (f *handlerFixture) serve(r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		f.mu.Lock()
		f.seen = append(f.seen, r.Clone(context.Background()))
		f.mu.Unlock()
		_, err := io.WriteString(w, "content of "+r.URL.Path)
		return err
	})
	if err := f.h.ServeHTTP(w, r, next); err != nil {
		w.Code = 599
	}
	return w
}

func (f *handlerFixture) code(t *testing.T) string {
	t.Helper()
	link, err := f.h.tenant.tenant.Link("market")
	if err != nil {
		t.Fatal(err)
	}
	return link[strings.Index(link, "#code=")+len("#code="):]
}

// open redeems the link and returns the session cookie.
func (f *handlerFixture) open(t *testing.T, form url.Values) *http.Cookie {
	t.Helper()
	r := httptest.NewRequest("POST", "/_anon/open/market", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := f.serve(r)
	if w.Code != http.StatusSeeOther {
		t.Fatalf("open: %d %s", w.Code, w.Body)
	}
	cookies := w.Result().Cookies()
	if len(cookies) != 1 {
		t.Fatalf("open set %d cookies", len(cookies))
	}
	return cookies[0]
}

func get(path string, c *http.Cookie, hdr ...string) *http.Request {
	r := httptest.NewRequest("GET", path, nil)
	if c != nil {
		r.AddCookie(c)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	return r
}

func TestOpenSetsCookieAndRedirects(t *testing.T) {
	f := newHandler(t, 10)
	c := f.open(t, url.Values{"code": {f.code(t)}})
	if c.Name != "__Host-anon_market" || !c.HttpOnly || !c.Secure || c.Path != "/" || c.SameSite != http.SameSiteLaxMode || c.Partitioned {
		t.Fatalf("link cookie %+v", c)
	}
	if c.MaxAge != int((12 * time.Hour).Seconds()) {
		t.Fatalf("cookie Max-Age %d, want the renewal window", c.MaxAge)
	}
	e := f.open(t, url.Values{"code": {f.code(t)}, "embed": {"1"}})
	if e.SameSite != http.SameSiteNoneMode || !e.Partitioned || !e.Secure {
		t.Fatalf("embed cookie %+v", e)
	}
	w := f.serve(get("/d/market.html", e))
	if w.Code != 200 || w.Header().Get("Content-Security-Policy") != "frame-ancestors 'self' https://www.example.org" {
		t.Fatalf("embed session response %d, CSP %q", w.Code, w.Header().Get("Content-Security-Policy"))
	}
	w = f.serve(get("/d/market.html", c))
	if w.Code != 200 || w.Header().Get("Content-Security-Policy") != "frame-ancestors 'self'" {
		t.Fatalf("link session response %d, CSP %q", w.Code, w.Header().Get("Content-Security-Policy"))
	}
}

func TestForwardedRequestIsClean(t *testing.T) {
	f := newHandler(t, 10)
	c := f.open(t, url.Values{"code": {f.code(t)}})
	r := get("/d/market.html", c, "X-Anonymous-App", "forged", "X-Anonymous-Session", "forged")
	r.AddCookie(&http.Cookie{Name: "theme", Value: "dark"})
	r.AddCookie(&http.Cookie{Name: "__Host-anon_other", Value: "x"})
	if w := f.serve(r); w.Code != 200 {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	got := f.seen[len(f.seen)-1]
	if got.Header.Get("X-Anonymous-App") != "market" || len(got.Header.Values("X-Anonymous-App")) != 1 {
		t.Fatalf("X-Anonymous-App %q", got.Header.Values("X-Anonymous-App"))
	}
	ref := got.Header.Get("X-Anonymous-Session")
	if ref == "" || ref == "forged" || strings.Contains(c.Value, ref) {
		t.Fatalf("X-Anonymous-Session %q", ref)
	}
	if ck := got.Header.Get("Cookie"); ck != "theme=dark" {
		t.Fatalf("backend got cookies %q, want only theme=dark", ck)
	}
}

func TestExpiryAndReloadStartsNewSession(t *testing.T) {
	f := newHandler(t, 10)
	c := f.open(t, url.Values{"code": {f.code(t)}})
	f.clock.Advance(15*time.Minute - time.Second)
	if w := f.serve(get("/assets/app.js", c)); w.Code != 200 {
		t.Fatalf("before expiry: %d", w.Code)
	}
	f.clock.Advance(time.Second)
	// A script's fetch after expiry gets 401 JSON and no new session.
	w := f.serve(get("/assets/data.json", c, "Sec-Fetch-Dest", "empty", "Accept", "application/json"))
	if w.Code != http.StatusUnauthorized || !strings.Contains(w.Body.String(), `"error":"session_expired"`) || len(w.Result().Cookies()) != 0 {
		t.Fatalf("fetch after expiry: %d %s %v", w.Code, w.Body, w.Result().Cookies())
	}
	// A page load starts a new session through capacity admission.
	w = f.serve(get("/d/market.html", c, "Sec-Fetch-Dest", "document", "Accept", "text/html"))
	if w.Code != 200 {
		t.Fatalf("reload after expiry: %d %s", w.Code, w.Body)
	}
	fresh := w.Result().Cookies()
	if len(fresh) != 1 || fresh[0].Value == c.Value {
		t.Fatalf("reload did not set a new session cookie: %v", fresh)
	}
	if w := f.serve(get("/assets/data.json", fresh[0])); w.Code != 200 {
		t.Fatalf("new session: %d", w.Code)
	}
	rep, _ := f.h.tenant.tenant.Capacity(context.Background())
	if rep.Active != 1 {
		t.Fatalf("active %d, want 1 (the expired one freed its slot)", rep.Active)
	}
	// Past the renewal window nothing renews.
	f.clock.Advance(13 * time.Hour)
	w = f.serve(get("/d/market.html", fresh[0], "Sec-Fetch-Dest", "document", "Accept", "text/html"))
	if w.Code != http.StatusUnauthorized || !strings.Contains(w.Body.String(), "Your session has ended") || strings.Contains(w.Body.String(), "Start a new session") {
		t.Fatalf("after the renewal window: %d %s", w.Code, w.Body)
	}
}

// TestExpiredCookieRenewsOnce: two tabs reloading on one expired cookie, or
// someone replaying a copied one, start one session, not two.
func TestExpiredCookieRenewsOnce(t *testing.T) {
	f := newHandler(t, 10)
	c := f.open(t, url.Values{"code": {f.code(t)}})
	f.clock.Advance(16 * time.Minute)
	reload := func() *httptest.ResponseRecorder {
		return f.serve(get("/d/market.html", c, "Sec-Fetch-Dest", "document", "Accept", "text/html"))
	}
	if w := reload(); w.Code != 200 || len(w.Result().Cookies()) != 1 {
		t.Fatalf("the first reload: %d %v", w.Code, w.Result().Cookies())
	}
	w := reload()
	if w.Code != http.StatusUnauthorized || !strings.Contains(w.Body.String(), "Your session has ended") || len(w.Result().Cookies()) != 0 {
		t.Fatalf("the same expired cookie again: %d %v %s", w.Code, w.Result().Cookies(), w.Body)
	}
	if rep, _ := f.h.tenant.tenant.Capacity(context.Background()); rep.Active != 1 {
		t.Fatalf("active %d, want the one renewal", rep.Active)
	}
}

// TestSessionEndedPageOffersANewSession: a form sent after the session
// expired gets the "session ended" page, whose one link loads the page
// again, and that page load starts a new session.
func TestSessionEndedPageOffersANewSession(t *testing.T) {
	f := newHandler(t, 10)
	c := f.open(t, url.Values{"code": {f.code(t)}})
	f.clock.Advance(16 * time.Minute)
	r := get("/d/market.html", c, "Sec-Fetch-Dest", "document", "Accept", "text/html")
	r.Method = http.MethodPost
	w := f.serve(r)
	if w.Code != http.StatusUnauthorized || !strings.Contains(w.Body.String(), `<a class="button" href="">Start a new session</a>`) {
		t.Fatalf("a form after expiry: %d %s", w.Code, w.Body)
	}
	if w := f.serve(get("/d/market.html", c, "Sec-Fetch-Dest", "document", "Accept", "text/html")); w.Code != 200 || len(w.Result().Cookies()) != 1 {
		t.Fatalf("the page load the link makes: %d %v", w.Code, w.Result().Cookies())
	}
}

func TestReloadAfterResetDoesNotRenew(t *testing.T) {
	f := newHandler(t, 10)
	c := f.open(t, url.Values{"code": {f.code(t)}})
	if _, err := f.h.tenant.tenant.AsOperator("192.0.2.9").ResetCode(context.Background(), "market"); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(20 * time.Minute)
	w := f.serve(get("/d/market.html", c, "Sec-Fetch-Dest", "document", "Accept", "text/html"))
	cleared := w.Result().Cookies()
	if w.Code != http.StatusUnauthorized || len(cleared) != 1 || cleared[0].Name != c.Name || cleared[0].MaxAge >= 0 || !strings.Contains(w.Body.String(), "no longer valid") {
		t.Fatalf("reload after reset: %d %v %s", w.Code, cleared, w.Body)
	}
}

func TestReloadAtCapacityIsTurnedAwayPolitely(t *testing.T) {
	f := newHandler(t, 1)
	c := f.open(t, url.Values{"code": {f.code(t)}})
	f.clock.Advance(16 * time.Minute)
	f.open(t, url.Values{"code": {f.code(t)}}) // someone else takes the slot
	w := f.serve(get("/d/market.html", c, "Sec-Fetch-Dest", "document", "Accept", "text/html"))
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") != "30" || !strings.Contains(w.Body.String(), "Too many viewers") ||
		!strings.Contains(w.Body.String(), `data-seconds="30"`) || !strings.Contains(w.Body.String(), `<meta http-equiv="refresh" content="30">`) {
		t.Fatalf("reload at capacity: %d %q %s", w.Code, w.Header().Get("Retry-After"), w.Body)
	}
}

func TestDenials(t *testing.T) {
	f := newHandler(t, 10)
	c := f.open(t, url.Values{"code": {f.code(t)}})
	tests := []struct {
		name, method, target string
		cookie               *http.Cookie
		status               int
		body                 string
	}{
		{"no session", "GET", "/d/market.html", nil, 401, `{"error":"no_session","message":"no anonymous session"}`},
		{"out of scope", "GET", "/d/internal.html", c, 403, `{"error":"not_shared","message":"path not shared with anonymous users"}`},
		{"denied", "GET", "/assets/secret/k", c, 403, `{"error":"not_shared","message":"path not shared with anonymous users"}`},
		{"method", "DELETE", "/d/market.html", c, 405, `{"error":"method_not_allowed","message":"method not allowed for anonymous users"}`},
		{"dot dot", "GET", "/d/market.html/../internal.html", c, 400, `{"error":"bad_path","message":"malformed request path"}`},
		{"encoded dot dot", "GET", "/d/%2e%2e/internal.html", c, 400, `{"error":"bad_path","message":"malformed request path"}`},
		{"encoded slash", "GET", "/d/market.html%2f..%2finternal.html", c, 400, `{"error":"bad_path","message":"malformed request path"}`},
		{"double slash", "GET", "//d/market.html", c, 400, `{"error":"bad_path","message":"malformed request path"}`},
		{"garbage cookie", "GET", "/d/market.html", &http.Cookie{Name: "__Host-anon_market", Value: "x.y.z"}, 401, `{"error":"no_session","message":"no anonymous session"}`},
		{"gateway 404", "GET", "/_anon/nothing", c, 404, `{"error":"not_found","message":"not found"}`},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(tt.method, "http://share.example.com/", nil)
		r.URL, _ = url.ParseRequestURI(tt.target)
		r.RequestURI = tt.target
		if tt.cookie != nil {
			r.AddCookie(tt.cookie)
		}
		before := len(f.seen)
		w := f.serve(r)
		if w.Code != tt.status || strings.TrimSpace(w.Body.String()) != tt.body {
			t.Errorf("%s: %d %s, want %d %s", tt.name, w.Code, w.Body, tt.status, tt.body)
		}
		if len(f.seen) != before {
			t.Errorf("%s: reached the backend", tt.name)
		}
	}
	// Browsers get a page.
	w := f.serve(get("/d/internal.html", c, "Accept", "text/html,application/xhtml+xml"))
	if w.Code != 403 || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/html") || !strings.Contains(w.Body.String(), "<h1>Not shared</h1>") {
		t.Fatalf("HTML denial: %d %q %s", w.Code, w.Header().Get("Content-Type"), w.Body)
	}
}

func TestLandingPageIsTheSameForEveryApp(t *testing.T) {
	f := newHandler(t, 10)
	a := f.serve(get("/_anon/open/market", nil))
	b := f.serve(get("/_anon/open/does-not-exist", nil))
	if a.Code != 200 || b.Code != 200 || a.Body.String() != b.Body.String() {
		t.Fatalf("landing pages differ: %d %d", a.Code, b.Code)
	}
	csp := a.Header().Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'sha256-", "form-action 'self'", "frame-ancestors 'self' https://www.example.org"} {
		if !strings.Contains(csp, want) {
			t.Errorf("landing CSP %q lacks %q", csp, want)
		}
	}
	if a.Header().Get("Cache-Control") != "no-store" || a.Header().Get("Referrer-Policy") != "no-referrer" {
		t.Fatalf("landing headers %v", a.Header())
	}
	if !strings.Contains(a.Body.String(), `<label for="code">Access code</label>`) {
		t.Fatal("landing page has no form for clients without script")
	}
	if !strings.Contains(a.Body.String(), landingJS) || cspHash(landingJS) == "" || !strings.Contains(csp, cspHash(landingJS)) {
		t.Fatal("the landing script is not allowed by its own CSP hash")
	}
}

func TestSessionEndpoint(t *testing.T) {
	f := newHandler(t, 10)
	c := f.open(t, url.Values{"code": {f.code(t)}})
	w := f.serve(get("/_anon/session", c))
	want := `{"sessions":[{"app":"market","kind":"link","expires_at":"2026-03-01T12:15:00Z"}]}`
	if w.Code != 200 || strings.TrimSpace(w.Body.String()) != want {
		t.Fatalf("session: %d %s", w.Code, w.Body)
	}
	f.clock.Advance(15 * time.Minute)
	w = f.serve(get("/_anon/session", c))
	if strings.TrimSpace(w.Body.String()) != `{"sessions":[]}` {
		t.Fatalf("after expiry: %s", w.Body)
	}
}

func TestRedeemFormParsing(t *testing.T) {
	f := newHandler(t, 10)
	code := f.code(t)
	tests := []struct {
		name, contentType, body string
		status                  int
		location                string
	}{
		{"plain", "application/x-www-form-urlencoded", "code=" + code, 303, "/d/market.html"},
		{"with charset", "application/x-www-form-urlencoded; charset=utf-8", "embed=1&code=" + code, 303, "/d/market.html"},
		{"escaped object", "application/x-www-form-urlencoded", "code=" + code + "&object=%2Fd%2Fmarket-q3.html%3Ftab%3D2", 303, "/d/market-q3.html?tab=2"},
		{"unknown fields ignored", "application/x-www-form-urlencoded", "utm=x&code=" + code, 303, "/d/market.html"},
		{"multipart", "multipart/form-data; boundary=x", "--x--", 400, ""},
		{"no content type", "", "code=" + code, 400, ""},
		{"bad escape", "application/x-www-form-urlencoded", "code=%zz", 400, ""},
		{"too big", "application/x-www-form-urlencoded", "code=" + code + "&pad=" + strings.Repeat("a", 5000), 400, ""},
		{"wrong code", "application/x-www-form-urlencoded", "code=nope", 403, ""},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("POST", "/_anon/open/market", strings.NewReader(tt.body))
		if tt.contentType != "" {
			r.Header.Set("Content-Type", tt.contentType)
		}
		w := f.serve(r)
		if w.Code != tt.status || w.Header().Get("Location") != tt.location {
			t.Errorf("%s: %d %q, want %d %q (%s)", tt.name, w.Code, w.Header().Get("Location"), tt.status, tt.location, w.Body)
		}
	}
}
