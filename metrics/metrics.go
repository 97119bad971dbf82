// Package metrics holds the Prometheus collectors of anonymous access. They
// are created once per process and registered into every Caddy metrics
// registry, so counters survive config reloads and never register twice.
package metrics

import (
	"errors"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

const namespace = "caddy_anonymous_access"

// Label values for the reason and kind labels. They are the only values
// ever used, so label cardinality stays bounded; ids of apps and tenants
// are validated short identifiers. No code, token, IP or session id is
// ever a label.
const (
	ReasonInvalid     = "invalid"
	ReasonCapacity    = "capacity"
	ReasonRateLimited = "rate_limited"
	ReasonCrossSite   = "cross_site"
	ReasonClientLimit = "client_limit"

	ReasonNoSession = "no_session"
	ReasonExpired   = "expired"
	ReasonScope     = "scope"
	ReasonMethod    = "method"
	ReasonRevoked   = "revoked"
)

var (
	// SessionsStarted counts sessions started, by kind (link, embed, renewal).
	SessionsStarted = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: namespace + "_sessions_started_total",
		Help: "Anonymous sessions started, by tenant, app and kind (link, embed, renewal).",
	}, []string{"tenant", "app", "kind"})
	// LinksRejected counts link redemptions turned away.
	LinksRejected = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: namespace + "_links_rejected_total",
		Help: "Link and embed code redemptions refused, by tenant and reason (invalid, capacity, rate_limited, client_limit, cross_site, ...).",
	}, []string{"tenant", "reason"})
	// RequestsDenied counts protected requests refused.
	RequestsDenied = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: namespace + "_requests_denied_total",
		Help: "Protected requests refused, by tenant and reason (no_session, expired, scope, method, revoked).",
	}, []string{"tenant", "reason"})
	// CodeResets counts access code resets.
	CodeResets = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: namespace + "_access_code_resets_total",
		Help: "Access code resets, by tenant and app.",
	}, []string{"tenant", "app"})
	// StreamsClosed counts requests still in flight (WebSockets, event
	// streams, long responses) that the gateway ended because their
	// session was revoked or its time was up.
	StreamsClosed = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: namespace + "_streams_closed_total",
		Help: "Requests in flight (WebSockets, event streams, long responses) closed by the gateway, by tenant and reason (revoked, expired).",
	}, []string{"tenant", "reason"})
	// CheckDuration observes the per-request session check.
	CheckDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    namespace + "_check_duration_seconds",
		Help:    "Time spent checking a protected request's anonymous session.",
		Buckets: []float64{1e-7, 2.5e-7, 5e-7, 1e-6, 2.5e-6, 5e-6, 1e-5, 5e-5, 1e-4, 1e-3},
	})

	activeDesc = prometheus.NewDesc(namespace+"_sessions_active",
		"Anonymous sessions alive now, by tenant and app.", []string{"tenant", "app"}, nil)
	capacityDesc = prometheus.NewDesc(namespace+"_capacity",
		"Maximum concurrent anonymous sessions of the tenant.", []string{"tenant"}, nil)
	storeUpDesc = prometheus.NewDesc(namespace+"_store_up",
		"Whether the tenant's state store answers and, for a shared store, its change feed is connected (1) or not (0).", []string{"tenant"}, nil)
)

// TenantUsage is what the usage collector reads from one tenant at scrape
// time.
type TenantUsage struct {
	Tenant   string
	Capacity int
	Active   map[string]int
	StoreUp  bool
}

var (
	sourceMu sync.RWMutex
	source   func() []TenantUsage
)

// SetUsageSource sets the function read at scrape time for the active
// sessions and capacity gauges.
func SetUsageSource(f func() []TenantUsage) {
	sourceMu.Lock()
	source = f
	sourceMu.Unlock()
}

type usageCollector struct{}

func (usageCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- activeDesc
	ch <- capacityDesc
	ch <- storeUpDesc
}

func (usageCollector) Collect(ch chan<- prometheus.Metric) {
	sourceMu.RLock()
	f := source
	sourceMu.RUnlock()
	if f == nil {
		return
	}
	for _, u := range f() {
		ch <- prometheus.MustNewConstMetric(capacityDesc, prometheus.GaugeValue, float64(u.Capacity), u.Tenant)
		up := 0.0
		if u.StoreUp {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(storeUpDesc, prometheus.GaugeValue, up, u.Tenant)
		for app, n := range u.Active {
			ch <- prometheus.MustNewConstMetric(activeDesc, prometheus.GaugeValue, float64(n), u.Tenant, app)
		}
	}
}

var collectors = []prometheus.Collector{
	SessionsStarted, LinksRejected, RequestsDenied, CodeResets, StreamsClosed, CheckDuration, usageCollector{},
}

// Register adds every collector to reg. Collectors already registered there
// (a second handler in the same config) are fine; a nil registry is a
// no-op.
func Register(reg prometheus.Registerer) error {
	if reg == nil {
		return nil
	}
	for _, c := range collectors {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return err
			}
		}
	}
	return nil
}
