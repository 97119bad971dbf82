package caddymodule

import (
	"context"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
)

// TestValidateWhileRunning checks what `caddy validate` does with a
// configuration whose bolt file a running handler holds: it checks the
// configuration without opening the store (no wait for the lock, no write
// to state others share), and still refuses a bad one.
func TestValidateWhileRunning(t *testing.T) {
	running := newHandler(t, 10)
	validatingOnly = func() bool { return true }
	t.Cleanup(func() { validatingOnly = func() bool { return false } })
	for _, tc := range []struct {
		name string
		edit func(*Handler)
		err  string
	}{
		{"the running config", func(*Handler) {}, ""},
		{"an entry outside its scope", func(h *Handler) { h.Apps[0].Entry = "/elsewhere.html" }, "entry"},
		{"a wildcard origin", func(h *Handler) { h.EmbedOrigins = []string{"https://*"} }, "wildcards"},
		{"published_apps with a bad method", func(h *Handler) { h.PublishedApps = &PublishedApps{Methods: []string{"BREW"}} }, "BREW"},
	} {
		h := &Handler{
			Tenant: running.h.Tenant, Capacity: 10, PublicURL: "https://share.example.com",
			Storage: &Storage{Path: running.h.Storage.Path},
			Spaces:  []SpaceConfig{{ID: "stats", Type: "managed"}},
			Apps: []AppConfig{{ID: "market", Space: "stats", Entry: "/d/market.html",
				Scope: []string{"/d/market*"}, Anonymous: true}},
		}
		tc.edit(h)
		ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
		err := h.Provision(ctx)
		cancel()
		if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.err)
		}
		if h.tenant != nil {
			t.Errorf("%s: validation opened the store", tc.name)
		}
		_ = h.Cleanup()
	}
}
