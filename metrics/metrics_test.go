package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestRegisterIsReloadSafe registers into a registry twice (two handlers in
// one config) and into a fresh one (a reload): no error, and counters keep
// their values.
func TestRegisterIsReloadSafe(t *testing.T) {
	first := prometheus.NewRegistry()
	if err := Register(first); err != nil {
		t.Fatal(err)
	}
	if err := Register(first); err != nil {
		t.Fatalf("second registration into the same registry: %v", err)
	}
	SessionsStarted.WithLabelValues("t", "a", "link").Add(3)
	reload := prometheus.NewRegistry()
	if err := Register(reload); err != nil {
		t.Fatalf("registration into a new registry: %v", err)
	}
	if got := testutil.ToFloat64(SessionsStarted.WithLabelValues("t", "a", "link")); got != 3 {
		t.Fatalf("counter after reload %v, want 3", got)
	}
	if err := Register(nil); err != nil {
		t.Fatal(err)
	}
}

func TestUsageCollector(t *testing.T) {
	SetUsageSource(func() []TenantUsage {
		return []TenantUsage{{Tenant: "acme", Capacity: 50, Active: map[string]int{"market": 7}, StoreUp: true}}
	})
	defer SetUsageSource(nil)
	reg := prometheus.NewRegistry()
	if err := Register(reg); err != nil {
		t.Fatal(err)
	}
	want := `
# HELP caddy_anonymous_access_capacity Maximum concurrent anonymous sessions of the tenant.
# TYPE caddy_anonymous_access_capacity gauge
caddy_anonymous_access_capacity{tenant="acme"} 50
# HELP caddy_anonymous_access_sessions_active Anonymous sessions alive now, by tenant and app.
# TYPE caddy_anonymous_access_sessions_active gauge
caddy_anonymous_access_sessions_active{app="market",tenant="acme"} 7
# HELP caddy_anonymous_access_store_up Whether the tenant's state store answers and, for a shared store, its change feed is connected (1) or not (0).
# TYPE caddy_anonymous_access_store_up gauge
caddy_anonymous_access_store_up{tenant="acme"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"caddy_anonymous_access_capacity", "caddy_anonymous_access_sessions_active", "caddy_anonymous_access_store_up"); err != nil {
		t.Fatal(err)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Fatalf("metric names and help break Prometheus conventions: %v %v", problems, err)
	}
}
