package caddymodule

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/anonaccess/caddy-anonymous-access/metrics"
	"github.com/anonaccess/caddy-anonymous-access/policy"
)

// Shared state outlives any one config: Caddy provisions the new config
// before cleaning up the old one, so both hold references across a reload
// and the tenant (its sessions, its cache, its open file) carries over.
var tenants = caddy.NewUsagePool() // tenant key -> *tenantHandle

func init() {
	metrics.SetUsageSource(tenantUsage)
}

// tenantHandle is one tenant's running state and what it holds open.
type tenantHandle struct {
	tenant  *policy.Tenant
	release func() error // closes the store and lets go of its file or client
}

// Destruct closes the tenant when its last handler is cleaned up.
func (t *tenantHandle) Destruct() error {
	t.tenant.Close()
	return t.release()
}

// openTenant takes the tenant's shared state from the pool, opening it on
// first use. st must be resolved.
func openTenant(name string, st *Storage, now func() time.Time) (*tenantHandle, string, error) {
	storeKey, err := st.key()
	if err != nil {
		return nil, "", err
	}
	key := storeKey + "|" + name
	v, _, err := tenants.LoadOrNew(key, func() (caddy.Destructor, error) {
		store, release, err := st.open(storeKey, name, now)
		if err != nil {
			return nil, err
		}
		t, err := policy.NewTenant(policy.TenantOptions{Name: name, Store: store, Now: now})
		if err != nil {
			return nil, errors.Join(err, release())
		}
		return &tenantHandle{tenant: t, release: release}, nil
	})
	if err != nil {
		return nil, "", err
	}
	return v.(*tenantHandle), key, nil
}

// runningTenants lists the tenants of the running configs, sorted by name.
func runningTenants() []*policy.Tenant {
	var out []*policy.Tenant
	tenants.Range(func(_, v any) bool {
		out = append(out, v.(*tenantHandle).tenant)
		return true
	})
	slices.SortFunc(out, func(a, b *policy.Tenant) int { return strings.Compare(a.Name(), b.Name()) })
	return out
}

func tenantUsage() []metrics.TenantUsage {
	var out []metrics.TenantUsage
	seen := map[string]bool{}
	for _, t := range runningTenants() {
		if seen[t.Name()] {
			continue
		}
		seen[t.Name()] = true
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		rep, err := t.CheckStore(ctx)
		cancel()
		out = append(out, metrics.TenantUsage{Tenant: t.Name(), Capacity: t.Config().Capacity, Active: rep.PerApp, StoreUp: err == nil})
	}
	return out
}
