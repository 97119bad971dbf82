package caddymodule

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func TestPrivateCacheControl(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want string
	}{
		{nil, "private"},
		{[]string{"public, max-age=3600"}, "private, max-age=3600"},
		{[]string{"s-maxage=600, max-age=60, public"}, "private, max-age=60"},
		{[]string{"S-MaxAge=600", "Public", "no-cache"}, "private, no-cache"},
		{[]string{"private, no-store"}, "private, no-store"},
		{[]string{`private="Set-Cookie", must-revalidate`}, "private, must-revalidate"},
		{[]string{"max-age=5, proxy-revalidate"}, "private, max-age=5, proxy-revalidate"},
	} {
		if got := privateCacheControl(tc.in); got != tc.want {
			t.Errorf("%q: %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestLooksLike(t *testing.T) {
	for name, want := range map[string]bool{
		"X-Anonymous-App":     true,
		"x-anonymous-app":     true,
		"X_Anonymous_App":     true,
		"X_ANONYMOUS-APP":     true,
		"X-Anonymous-Apps":    false,
		"X-Anonymous-Ap":      false,
		"X.Anonymous.App":     false,
		"X-Anonymous-Session": false,
	} {
		if got := looksLike(name, headerApp); got != want {
			t.Errorf("%q: %v, want %v", name, got, want)
		}
	}
}

// TestProtectedResponsesArePrivate checks that a backend's public caching
// never reaches a shared cache, whichever way the backend writes.
func TestProtectedResponsesArePrivate(t *testing.T) {
	f := newHandler(t, 10)
	c := f.open(t, url.Values{"code": {f.code(t)}})
	for _, tc := range []struct {
		name  string
		write func(w http.ResponseWriter)
	}{
		{"WriteHeader", func(w http.ResponseWriter) { w.WriteHeader(http.StatusOK) }},
		{"Write", func(w http.ResponseWriter) { _, _ = w.Write([]byte("x")) }},
		{"Flush", func(w http.ResponseWriter) { _ = http.NewResponseController(w).Flush() }},
		{"ReadFrom", func(w http.ResponseWriter) { _, _ = w.(io.ReaderFrom).ReadFrom(strings.NewReader("x")) }},
	} {
		w := httptest.NewRecorder()
		err := f.h.ServeHTTP(w, get("/d/market.html", c), caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			w.Header().Set("Cache-Control", "public, s-maxage=600, max-age=60")
			tc.write(w)
			return nil
		}))
		if err != nil || w.Header().Get("Cache-Control") != "private, max-age=60" {
			t.Errorf("%s: %v, Cache-Control %q", tc.name, err, w.Header().Get("Cache-Control"))
		}
	}
}

// TestLookAlikeHeadersNeverReachTheBackend checks that a client cannot
// smuggle its own X-Anonymous-App under another spelling.
func TestLookAlikeHeadersNeverReachTheBackend(t *testing.T) {
	f := newHandler(t, 10)
	c := f.open(t, url.Values{"code": {f.code(t)}})
	r := get("/d/market.html", c)
	r.Header["X_Anonymous_App"] = []string{"admin"}
	r.Header["x-anonymous-app"] = []string{"admin"}
	r.Header["X_ANONYMOUS_SESSION"] = []string{"forged"}
	r.Header.Set("X-Anonymous-Session", "forged")
	r.Header.Set("X-HTTP-Method-Override", "DELETE")
	r.Header["X_Http_Method"] = []string{"DELETE"}
	if w := f.serve(r); w.Code != http.StatusOK {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	up := f.seen[len(f.seen)-1].Header
	for name, vals := range up {
		if looksLike(name, headerApp) && (name != headerApp || len(vals) != 1 || vals[0] != "market") {
			t.Errorf("backend got %s: %q", name, vals)
		}
		if looksLike(name, headerSession) && (name != headerSession || len(vals) != 1 || vals[0] == "forged") {
			t.Errorf("backend got %s: %q", name, vals)
		}
	}
	for name := range up {
		if looksLike(name, "X-HTTP-Method-Override") || looksLike(name, "X-HTTP-Method") {
			t.Errorf("backend got a method override %s", name)
		}
	}
	if up.Get(headerApp) != "market" || up.Get(headerSession) == "" {
		t.Errorf("gateway headers missing: %v", up)
	}
}

// TestSessionEndingBeforeTheAnswerIsARefusal checks that a request whose
// session is revoked while the backend has not answered yet gets the
// session's refusal, not the 502 of a cancelled upstream request.
func TestSessionEndingBeforeTheAnswerIsARefusal(t *testing.T) {
	f := newHandler(t, 10)
	c := f.open(t, url.Values{"code": {f.code(t)}})
	w := httptest.NewRecorder()
	err := f.h.ServeHTTP(w, get("/d/market.html", c), caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		if _, err := f.h.tenant.tenant.AsOperator("192.0.2.9").ResetCode(r.Context(), "market"); err != nil {
			t.Fatal(err)
		}
		<-r.Context().Done()
		return caddyhttp.Error(http.StatusBadGateway, r.Context().Err())
	}))
	if err != nil || w.Code != http.StatusUnauthorized || !strings.Contains(w.Body.String(), "session_revoked") {
		t.Fatalf("%v: %d %s", err, w.Code, w.Body)
	}
}
