package policy_test

import (
	"context"
	"errors"
	"testing"

	"github.com/anonaccess/caddy-anonymous-access/policy"
)

// TestPublishedAppsStayWithinTheOperatorsBounds checks what a tenant user
// may publish and edit through the API: within published_apps, or
// read-only and framed only by the handler's origins without it.
func TestPublishedAppsStayWithinTheOperatorsBounds(t *testing.T) {
	app := func(mut func(*policy.App)) policy.App {
		a := policy.App{ID: "sales", Entry: "/dashboards/sales.html", Scope: []string{"/dashboards/sales*"}}
		mut(&a)
		return a
	}
	bounded := policy.PublishBounds{Roots: []string{"/dashboards/*", "/api/ds/query"}, Methods: []string{"GET", "POST"},
		EmbedOrigins: []string{"https://news.example.net"}}
	for _, tc := range []struct {
		name   string
		bounds policy.PublishBounds
		app    policy.App
		ok     bool
	}{
		{"defaults: read-only", policy.PublishBounds{}, app(func(*policy.App) {}), true},
		{"defaults: POST refused", policy.PublishBounds{}, app(func(a *policy.App) { a.Methods = []string{"GET", "POST"} }), false},
		{"defaults: the handler's origin", policy.PublishBounds{}, app(func(a *policy.App) { a.EmbedOrigins = []string{"https://www.example.org"} }), true},
		{"defaults: another origin", policy.PublishBounds{}, app(func(a *policy.App) { a.EmbedOrigins = []string{"https://evil.example"} }), false},
		{"wildcard origin", policy.PublishBounds{EmbedOrigins: []string{"https://*.example.org"}}, app(func(a *policy.App) { a.EmbedOrigins = []string{"https://*.example.org"} }), false},
		{"within roots", bounded, app(func(a *policy.App) {
			a.Scope = append(a.Scope, "/api/ds/query")
			a.Deny = []string{"/dashboards/sales/admin*"}
		}), true},
		{"scope outside the roots", bounded, app(func(a *policy.App) { a.Scope = append(a.Scope, "/api/admin/*") }), false},
		{"a prefix wider than its root", bounded, app(func(a *policy.App) { a.Scope = append(a.Scope, "/api/ds/query*") }), false},
		{"POST within bounds", bounded, app(func(a *policy.App) { a.Methods = []string{"GET", "HEAD", "POST"} }), true},
		{"DELETE beyond bounds", bounded, app(func(a *policy.App) { a.Methods = []string{"GET", "DELETE"} }), false},
		{"defaults: an allow rule for POST", policy.PublishBounds{}, app(func(a *policy.App) {
			a.Allow = []policy.AllowRule{{Methods: []string{"POST"}, Paths: []string{"/dashboards/sales/query"}}}
		}), false},
		{"an allow rule within bounds", bounded, app(func(a *policy.App) {
			a.Scope = append(a.Scope, "/api/ds/query")
			a.Allow = []policy.AllowRule{{Methods: []string{"POST"}, Paths: []string{"/api/ds/query"}}}
		}), true},
		{"the bounded origin", bounded, app(func(a *policy.App) { a.EmbedOrigins = []string{"https://news.example.net"} }), true},
		{"the handler's origin under other bounds", bounded, app(func(a *policy.App) { a.EmbedOrigins = []string{"https://www.example.org"} }), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newUserFixture(t)
			ctx := context.Background()
			f.config.EmbedOrigins = []string{"https://www.example.org"}
			f.config.Published = tc.bounds
			must(t, f.t.Register(ctx, f, f.registration()))
			_, err := f.as("olivia").Publish(ctx, "stats", tc.app)
			var inv *policy.InvalidError
			if tc.ok != (err == nil) || (err != nil && !errors.As(err, &inv)) {
				t.Fatalf("publish: %v, want ok=%v", err, tc.ok)
			}
			if tc.ok {
				return
			}
			_, err = f.as("olivia").Publish(ctx, "stats", app(func(*policy.App) {}))
			must(t, err)
			if _, err := f.as("olivia").Edit(ctx, "sales", tc.app); !errors.As(err, &inv) {
				t.Fatalf("edit past the bounds: %v", err)
			}
		})
	}
}

func TestWildcardOrigins(t *testing.T) {
	for o, ok := range map[string]bool{
		"https://www.example.org":  true,
		"https://*.example.org":    true,
		"https://*":                false,
		"*":                        false,
		"https://*.org.*":          false,
		"https://www.*.example":    false,
		"https://*.":               false,
		"http://localhost:8080":    true,
		"https://*example.org":     false,
		"https://example.org:*":    false,
		"https://**.example.org":   false,
		"https://*.*.example.org":  false,
		"'self'":                   true,
		"https://a.example.org, *": false,
	} {
		if err := policy.ValidateOrigin(o); (err == nil) != ok {
			t.Errorf("%q: %v, want ok=%v", o, err, ok)
		}
	}
}
