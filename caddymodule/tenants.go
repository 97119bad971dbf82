package caddymodule

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/anonaccess/caddy-anonymous-access/metrics"
	"github.com/anonaccess/caddy-anonymous-access/policy"
	"github.com/anonaccess/caddy-anonymous-access/policy/bolt"
)

// Shared state outlives any one config: Caddy provisions the new config
// before cleaning up the old one, so both hold references across a reload
// and the tenant (its sessions, its cache, its open file) carries over.
var (
	tenants   = caddy.NewUsagePool() // tenant key -> *tenantHandle
	boltFiles = caddy.NewUsagePool() // file path -> *boltFile
)

func init() {
	metrics.SetUsageSource(tenantUsage)
}

// tenantHandle is one tenant's running state and the store it owns.
type tenantHandle struct {
	tenant  *policy.Tenant
	store   *bolt.Store
	boltKey string
}

// Destruct closes the tenant when its last handler is cleaned up.
func (t *tenantHandle) Destruct() error {
	t.tenant.Close()
	err := t.store.Close()
	_, derr := boltFiles.Delete(t.boltKey)
	return errors.Join(err, derr)
}

type boltFile struct{ db *bolt.DB }

func (b *boltFile) Destruct() error { return b.db.Close() }

// lockTimeout bounds the wait for a state file held by another process.
const lockTimeout = 5 * time.Second

func openTenant(name string, st *Storage, now func() time.Time) (*tenantHandle, string, error) {
	if st.Type != "bolt" {
		return nil, "", fmt.Errorf("anonymous_access: unknown storage %q", st.Type)
	}
	path := st.Path
	if path == "" {
		path = filepath.Join(caddy.AppDataDir(), "anonymous_access", "state.db")
	}
	path, err := filepath.Abs(path)
	if err != nil {
		return nil, "", err
	}
	key := "bolt:" + path + "|" + name
	v, _, err := tenants.LoadOrNew(key, func() (caddy.Destructor, error) {
		fv, _, err := boltFiles.LoadOrNew(path, func() (caddy.Destructor, error) {
			db, err := bolt.Open(path, lockTimeout)
			if err != nil {
				return nil, err
			}
			return &boltFile{db: db}, nil
		})
		if err != nil {
			return nil, err
		}
		store, err := fv.(*boltFile).db.Tenant(name, now)
		if err != nil {
			_, _ = boltFiles.Delete(path)
			return nil, err
		}
		t, err := policy.NewTenant(policy.TenantOptions{Name: name, Store: store, Now: now})
		if err != nil {
			_ = store.Close()
			_, _ = boltFiles.Delete(path)
			return nil, err
		}
		return &tenantHandle{tenant: t, store: store, boltKey: path}, nil
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
	slices.SortFunc(out, func(a, b *policy.Tenant) int {
		switch {
		case a.Name() < b.Name():
			return -1
		case a.Name() > b.Name():
			return 1
		}
		return 0
	})
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
		rep, err := t.Capacity(contextBackground())
		if err != nil {
			continue
		}
		out = append(out, metrics.TenantUsage{Tenant: t.Name(), Capacity: rep.Capacity, Active: rep.PerApp})
	}
	return out
}
