package caddymodule

import (
	"net/http/httptest"
	"strings"
	"testing"
)

// TestPagesCarryTheirOwnAppsFrameAncestors checks that the landing page
// and refusal pages of an app may be framed by that app's embed origins
// only: never the union of every app's, which would tell anyone where
// every app is embedded, and the handler's default for an unknown app.
func TestPagesCarryTheirOwnAppsFrameAncestors(t *testing.T) {
	f := newHandler(t, 10, func(h *Handler) {
		h.Apps = append(h.Apps, AppConfig{ID: "news", Space: "stats", Entry: "/n/index.html", Scope: []string{"/n/*"},
			EmbedOrigins: []string{"https://news.example.net"}, Anonymous: true})
	})
	for _, tc := range []struct {
		path, accept, want string
	}{
		{"/_anon/open/news", "text/html", "frame-ancestors 'self' https://news.example.net"},
		{"/_anon/open/market", "text/html", "frame-ancestors 'self' https://www.example.org"},
		{"/_anon/open/nope", "text/html", "frame-ancestors 'self' https://www.example.org"},
		{"/_anon/open/news?code=wrong", "text/html", "frame-ancestors 'self' https://news.example.net"},
		{"/n/index.html", "text/html", "frame-ancestors 'self' https://www.example.org"},
	} {
		r := httptest.NewRequest("GET", tc.path, nil)
		r.Header.Set("Accept", tc.accept)
		csp := f.serve(r).Header().Get("Content-Security-Policy")
		if !strings.HasSuffix(csp, "; "+tc.want) {
			t.Errorf("%s: %q, want it to end in %q", tc.path, csp, tc.want)
		}
	}
}
