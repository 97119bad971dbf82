package policy

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/ristretto/v2"
)

// TenantConfig is the part of a tenant's behaviour set by configuration.
// It may change on every config reload while sessions go on.
type TenantConfig struct {
	// Capacity is the maximum number of concurrent anonymous sessions.
	Capacity int
	// SessionTTL is how long one anonymous session lives (15 minutes).
	SessionTTL time.Duration
	// RenewalWindow bounds how long after a session was minted a page
	// load may start a new one from its token.
	RenewalWindow time.Duration
	// PublicURL is the origin links and embed codes are built on.
	PublicURL string
	// Prefix is the path under which the gateway's endpoints live.
	Prefix string
	// EmbedOrigins are the default frame-ancestors of embed sessions.
	EmbedOrigins []string
}

// Tenant is the running state of one tenant: its configuration, an
// in-memory view of its apps kept current on every change, the session
// token signer and a cache of verified tokens in front of the store.
type Tenant struct {
	name    string
	store   Store
	now     func() time.Time
	cfg     atomic.Pointer[TenantConfig]
	signer  atomic.Pointer[Signer]
	view    atomic.Pointer[appView]
	cache   *ristretto.Cache[string, *Verified]
	limiter *FailureLimiter

	mu         sync.Mutex // serialises view rebuilds and registrations
	registered map[any][]string
}

// appView is an immutable snapshot of the tenant's apps, swapped whole.
type appView struct {
	apps map[string]*appState
}

type appState struct {
	rec            AppRecord
	access         Access
	frameAncestors string
}

// Verified is a session token that passed verification, as cached.
type Verified struct {
	token   string
	exp     int64
	Session Session
	// Ref is the session's pseudonymous reference for the backend.
	Ref string
}

// TenantOptions are the fixed parts of a tenant.
type TenantOptions struct {
	// Name is the tenant id, also the token issuer's suffix.
	Name string
	// Store keeps the tenant's state.
	Store Store
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// FailuresAllowed per FailureWindow and client before 429.
	FailuresAllowed int
	FailureWindow   time.Duration
	// CacheBytes bounds the verified-token cache.
	CacheBytes int64
}

// NewTenant opens a tenant on its store.
func NewTenant(opts TenantOptions) (*Tenant, error) {
	if err := ValidateID("tenant", opts.Name); err != nil {
		return nil, err
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.FailuresAllowed <= 0 {
		opts.FailuresAllowed = 10
	}
	if opts.FailureWindow <= 0 {
		opts.FailureWindow = time.Minute
	}
	if opts.CacheBytes <= 0 {
		opts.CacheBytes = 64 << 20
	}
	cache, err := ristretto.NewCache(&ristretto.Config[string, *Verified]{
		NumCounters:        1 << 20,
		MaxCost:            opts.CacheBytes,
		BufferItems:        64,
		IgnoreInternalCost: true,
	})
	if err != nil {
		return nil, err
	}
	t := &Tenant{
		name:       opts.Name,
		store:      opts.Store,
		now:        opts.Now,
		cache:      cache,
		limiter:    NewFailureLimiter(opts.FailuresAllowed, opts.FailureWindow),
		registered: make(map[any][]string),
	}
	t.cfg.Store(&TenantConfig{Capacity: 100, SessionTTL: 15 * time.Minute, RenewalWindow: 12 * time.Hour})
	t.view.Store(&appView{apps: map[string]*appState{}})
	return t, nil
}

// Name returns the tenant id.
func (t *Tenant) Name() string { return t.name }

// Issuer is the issuer of this tenant's session tokens.
func (t *Tenant) Issuer() string { return "anonymous-access/" + t.name }

// Config returns the current configuration.
func (t *Tenant) Config() TenantConfig { return *t.cfg.Load() }

// Close releases the token cache.
func (t *Tenant) Close() { t.cache.Close() }

// Configure applies a configuration and the signing key: the configured
// one when given, else the one kept in the store (generated the first
// time), so that restarts and reloads keep sessions valid.
func (t *Tenant) Configure(ctx context.Context, cfg TenantConfig, configuredKey []byte) error {
	if cfg.Capacity < 0 {
		return invalid("capacity", "must not be negative")
	}
	if cfg.SessionTTL <= 0 {
		return invalid("session_ttl", "must be positive")
	}
	if cfg.RenewalWindow < cfg.SessionTTL {
		return invalid("renewal_window", "must be at least session_ttl")
	}
	for _, o := range cfg.EmbedOrigins {
		if err := ValidateOrigin(o); err != nil {
			return err
		}
	}
	key := configuredKey
	if len(key) == 0 {
		var err error
		if key, err = t.store.SigningKey(ctx, NewSigningKey()); err != nil {
			return err
		}
	}
	signer, err := NewSigner(key, t.Issuer(), t.now)
	if err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if old := t.signer.Load(); old != nil && !slices.Equal(old.key, key) {
		t.cache.Clear()
	}
	t.signer.Store(signer)
	t.cfg.Store(&cfg)
	return t.rebuildLocked(ctx)
}

// ProvisionedApp is an app from the operator's configuration.
type ProvisionedApp struct {
	App
	// InitiallyOn is the anonymous-access state when the app is created;
	// afterwards the stored state wins.
	InitiallyOn bool
}

// Provision creates or updates the configured spaces and apps, and
// registers them for registrant (one handler instance). A provisioned app
// is served only while some live registrant configures it, so removing it
// from the configuration stops it at the next reload.
func (t *Tenant) Provision(ctx context.Context, registrant any, spaces []Space, apps []ProvisionedApp) error {
	known := map[string]SpaceType{}
	stored, err := t.store.Spaces(ctx)
	if err != nil {
		return err
	}
	for _, s := range stored {
		known[s.ID] = s.Type
	}
	for _, s := range spaces {
		s.Provisioned = true
		if err := s.Validate(); err != nil {
			return err
		}
		known[s.ID] = s.Type
	}
	ids := make([]string, 0, len(apps))
	apps = slices.Clone(apps)
	for i := range apps {
		a := &apps[i]
		a.App.Normalize()
		a.Provisioned = true
		if err := a.App.Validate(); err != nil {
			return errors.New("app " + a.ID + ": " + err.Error())
		}
		typ, ok := known[a.Space]
		if !ok {
			return errors.New("app " + a.ID + ": " + ErrUnknownSpace.Error() + " " + a.Space)
		}
		if a.InitiallyOn && typ != SpaceManaged {
			return errors.New("app " + a.ID + ": " + ErrNotManaged.Error())
		}
		ids = append(ids, a.ID)
	}
	for _, s := range spaces {
		s.Provisioned = true
		if err := t.store.PutSpace(ctx, s); err != nil {
			return err
		}
	}
	for _, a := range apps {
		rec := AppRecord{App: a.App, Code: NewAccessCode(), Version: 1}
		rec.Provisioned = true
		rec.AnonymousAccess = a.InitiallyOn
		if _, err := t.store.EnsureApp(ctx, rec); err != nil {
			return err
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.registered[registrant] = ids
	return t.rebuildLocked(ctx)
}

// Unregister forgets a registrant's provisioned apps.
func (t *Tenant) Unregister(registrant any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.registered, registrant)
	_ = t.rebuildLocked(context.Background())
}

// Refresh reloads the app view from the store.
func (t *Tenant) Refresh(ctx context.Context) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.rebuildLocked(ctx)
}

func (t *Tenant) rebuildLocked(ctx context.Context) error {
	recs, err := t.store.Apps(ctx)
	if err != nil {
		return err
	}
	live := map[string]bool{}
	for _, ids := range t.registered {
		for _, id := range ids {
			live[id] = true
		}
	}
	cfg := t.cfg.Load()
	apps := make(map[string]*appState, len(recs))
	for _, r := range recs {
		if r.Provisioned && !live[r.ID] {
			continue
		}
		origins := r.EmbedOrigins
		if len(origins) == 0 {
			origins = cfg.EmbedOrigins
		}
		apps[r.ID] = &appState{rec: r, access: NewAccess(r.App), frameAncestors: frameAncestors(origins)}
	}
	t.view.Store(&appView{apps: apps})
	return nil
}

func frameAncestors(origins []string) string {
	if len(origins) == 0 {
		return "'self'"
	}
	return "'self' " + strings.Join(origins, " ")
}

// FrameAncestors returns the CSP frame-ancestors source list for embed
// sessions of an app.
func (t *Tenant) FrameAncestors(app string) string {
	if a := t.view.Load().apps[app]; a != nil {
		return a.frameAncestors
	}
	return "'none'"
}

// AllFrameAncestors is the union of every app's embed origins, for the
// landing page, which is the same for every app.
func (t *Tenant) AllFrameAncestors() string {
	set := map[string]bool{}
	var out []string
	add := func(o string) {
		if !set[o] {
			set[o] = true
			out = append(out, o)
		}
	}
	for _, o := range t.cfg.Load().EmbedOrigins {
		add(o)
	}
	for _, a := range t.view.Load().apps {
		for _, o := range a.rec.EmbedOrigins {
			add(o)
		}
	}
	slices.Sort(out)
	return frameAncestors(out)
}
