package caddymodule

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/anonaccess/caddy-anonymous-access/policy"
	"github.com/anonaccess/caddy-anonymous-access/policy/redisstore/redistest"
)

// wantHealth checks one health answer: its status, body and headers.
func wantHealth(t *testing.T, w *httptest.ResponseRecorder, status int, body string) {
	t.Helper()
	if w.Code != status || w.Body.String() != body+"\n" {
		t.Fatalf("health: %d %q, want %d %s", w.Code, w.Body, status, body)
	}
	if w.Header().Get("Cache-Control") != "no-store" || w.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("health headers %v", w.Header())
	}
	if retry := w.Header().Get("Retry-After"); (status == http.StatusServiceUnavailable) != (retry == "5") {
		t.Fatalf("health %d with Retry-After %q", status, retry)
	}
}

func TestHealthEmbeddedStore(t *testing.T) {
	f := newHandler(t, 10)
	// No session needed, and none is started.
	w := f.serve(get("/_anon/healthz", nil))
	wantHealth(t, w, http.StatusOK, `{"store":"up"}`)
	if len(w.Result().Cookies()) != 0 || len(f.seen) != 0 {
		t.Fatalf("health set cookies %v or reached the backend %d times", w.Result().Cookies(), len(f.seen))
	}
	if w := f.serve(httptest.NewRequest("HEAD", "/_anon/healthz", nil)); w.Code != http.StatusOK {
		t.Fatalf("HEAD: %d", w.Code)
	}
	w = f.serve(httptest.NewRequest("POST", "/_anon/healthz", nil))
	if w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != "GET, HEAD" {
		t.Fatalf("POST: %d Allow %q", w.Code, w.Header().Get("Allow"))
	}
}

func TestHealthUnderTheConfiguredPrefix(t *testing.T) {
	f := newHandler(t, 10, func(h *Handler) { h.Prefix = "/gw" })
	wantHealth(t, f.serve(get("/gw/healthz", nil)), http.StatusOK, `{"store":"up"}`)
	// Elsewhere the path is protected content like any other.
	if w := f.serve(get("/_anon/healthz", nil)); w.Code != http.StatusUnauthorized {
		t.Fatalf("/_anon/healthz with prefix /gw: %d", w.Code)
	}
}

// TestHealthRedisDown kills a real redis-server under the handler: the
// health check says down at once (no session could start), and up again
// once the server is back, with no help.
func TestHealthRedisDown(t *testing.T) {
	srv := redistest.Start(t)
	f := newHandler(t, 10, func(h *Handler) {
		h.Storage = &Storage{Type: "redis", Redis: &RedisStorage{URL: srv.URL()}}
	})
	health := func() *httptest.ResponseRecorder {
		// Each look is a new probe, past the reuse of the last answer.
		f.clock.Advance(policy.StoreProbeInterval)
		return f.serve(get("/_anon/healthz", nil))
	}
	// The change feed connects in the background.
	eventually(t, "up with Redis running", func() bool { return health().Code == http.StatusOK })
	wantHealth(t, health(), http.StatusOK, `{"store":"up"}`)

	srv.Kill()
	wantHealth(t, health(), http.StatusServiceUnavailable, `{"store":"down"}`)

	srv.Restart()
	eventually(t, "up after the restart", func() bool { return health().Code == http.StatusOK })
	wantHealth(t, health(), http.StatusOK, `{"store":"up"}`)
}

// eventually polls cond for up to five seconds: a real Redis client
// reconnects on its own schedule.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 5 s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
