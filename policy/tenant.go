package policy

import (
	"cmp"
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/ristretto/v2"
)

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
	changes *FailureLimiter // tenant users' changes, per user
	// feedDown is set while a shared store's change feed has been down
	// longer than the grace period: the view may be stale, so live
	// sessions are refused (fail closed) until it is back.
	feedDown atomic.Bool
	stop     context.CancelFunc
	done     chan struct{}
	sampled  chan struct{}
	swept    chan struct{} // closed when sweepHeld returns
	history  usageHistory
	probe    storeProbe

	mu         sync.Mutex // serialises view rebuilds and registrations
	registered map[any]*registration
	seq        uint64
}

// appView is an immutable snapshot of the tenant's apps, swapped whole.
type appView struct {
	apps map[string]*appState
	// spaces are the provisioned spaces in force.
	spaces map[string]Space
}

type appState struct {
	rec               AppRecord
	codeDigest        [32]byte
	access            Access
	frameAncestorsCSP string
	// inc is the app's current incarnation while it is on.
	inc *incarnation
	// lock forces the app's locked query parameters; nil without any.
	lock *paramLock
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
	// FeedGrace is how long live sessions keep working on a view that a
	// shared store's change feed no longer keeps current. Default
	// DefaultFeedGrace.
	FeedGrace time.Duration
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
		changes:    NewFailureLimiter(ChangesPerMinute, time.Minute),
		registered: make(map[any]*registration),
	}
	cfg := TenantConfig{}.WithDefaults()
	t.cfg.Store(&cfg)
	t.view.Store(&appView{apps: map[string]*appState{}})
	t.done = make(chan struct{})
	ctx, stop := context.WithCancel(context.Background())
	t.stop = stop
	t.sampled, t.swept = make(chan struct{}), make(chan struct{})
	go t.sampleUsage(ctx)
	go t.sweepHeld(ctx)
	if w, ok := opts.Store.(Watcher); ok {
		grace := opts.FeedGrace
		if grace <= 0 {
			grace = DefaultFeedGrace
		}
		go t.follow(ctx, w, grace)
	} else {
		close(t.done)
	}
	return t, nil
}

// Name returns the tenant id.
func (t *Tenant) Name() string { return t.name }

// Issuer is the issuer of this tenant's session tokens.
func (t *Tenant) Issuer() string { return "anonymous-access/" + t.name }

// Config returns the current configuration.
func (t *Tenant) Config() TenantConfig { return *t.cfg.Load() }

// Close releases the token cache.
func (t *Tenant) Close() {
	t.stop()
	<-t.done
	<-t.sampled
	<-t.swept
	t.cache.Close()
}

// Registration is what one handler instance configures for its tenant:
// settings, signing key, and provisioned spaces and apps.
type Registration struct {
	Config TenantConfig
	// SigningKey is the configured key; empty means the one kept in the
	// store (generated the first time), so restarts and reloads keep
	// sessions valid.
	SigningKey []byte
	Spaces     []Space
	Apps       []ProvisionedApp
}

// ProvisionedApp is an app from the operator's configuration.
type ProvisionedApp struct {
	App
	// InitiallyOn is the anonymous-access state when the app is created;
	// afterwards the stored state wins.
	InitiallyOn bool
}

// registration is a validated Registration in force.
type registration struct {
	seq    uint64
	cfg    TenantConfig
	signer *Signer
	spaces map[string]Space
	apps   map[string]App
}

// Register validates a handler's configuration, creates the stored state
// of its new spaces and apps, and puts it in force. Caddy provisions a new
// config while the old one still runs and throws it away if any part
// fails, so nothing here overwrites what the running config relies on:
// settings and definitions live in the registration, in memory; the most
// recent registration still alive is in force. Provisioned apps are served
// only while some live registration defines them, so removing one from the
// configuration stops it at the next reload.
func (t *Tenant) Register(ctx context.Context, registrant any, r Registration) error {
	reg, err := t.validate(ctx, r)
	if err != nil {
		return err
	}
	for _, sp := range reg.spaces {
		if err := t.store.PutSpace(ctx, sp); err != nil {
			return err
		}
	}
	before, err := t.store.Apps(ctx)
	if err != nil {
		return err
	}
	for _, pa := range r.Apps {
		rec := AppRecord{App: reg.apps[pa.ID], Code: NewAccessCode(), Version: newVersion()}
		rec.AnonymousAccess = pa.InitiallyOn
		got, err := t.store.EnsureApp(ctx, rec)
		if err != nil {
			return err
		}
		t.recordTakeOver(ctx, before, got)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.seq++
	reg.seq = t.seq
	t.registered[registrant] = reg
	return t.rebuildLocked(ctx)
}

func (t *Tenant) validate(ctx context.Context, r Registration) (*registration, error) {
	stored, err := t.store.Spaces(ctx)
	if err != nil {
		return nil, err
	}
	types := map[string]SpaceType{}
	for _, sp := range stored {
		types[sp.ID] = sp.Type
	}
	reg, err := checkRegistration(r, types)
	if err != nil {
		return nil, err
	}
	key := r.SigningKey
	if len(key) == 0 {
		if key, err = t.store.SigningKey(ctx, NewSigningKey()); err != nil {
			return nil, err
		}
	}
	if reg.signer, err = NewSigner(key, t.Issuer(), t.now); err != nil {
		return nil, err
	}
	return reg, nil
}

// ValidateRegistration checks a configuration on its own, without a store:
// what `caddy validate` can say of it while another process holds the
// state. Spaces created through the API are not known here, so an app in
// one of them is not refused for it.
func ValidateRegistration(r Registration) error {
	if len(r.SigningKey) > 0 && len(r.SigningKey) < MinSigningKeyLen {
		return invalid("signing_key", "must be at least 32 bytes")
	}
	_, err := checkRegistration(r, nil)
	return err
}

// checkRegistration checks what a registration says by itself; types are
// the stored spaces' types, nil when they cannot be known.
func checkRegistration(r Registration, types map[string]SpaceType) (*registration, error) {
	cfg := r.Config
	if cfg.Capacity < 0 {
		return nil, invalid("capacity", "must not be negative")
	}
	if cfg.SessionTTL <= 0 {
		return nil, invalid("session_ttl", "must be positive")
	}
	if cfg.RenewalWindow < cfg.SessionTTL {
		return nil, invalid("renewal_window", "must be at least session_ttl")
	}
	for _, o := range cfg.EmbedOrigins {
		if err := ValidateOrigin(o); err != nil {
			return nil, err
		}
	}
	if err := cfg.Published.Validate(); err != nil {
		return nil, err
	}
	known := types != nil
	if !known {
		types = map[string]SpaceType{}
	}
	reg := &registration{cfg: cfg, spaces: map[string]Space{}, apps: map[string]App{}}
	for _, sp := range r.Spaces {
		sp.Provisioned = true
		if sp.Type == "" {
			sp.Type = SpaceManaged
		}
		if err := sp.Validate(); err != nil {
			return nil, err
		}
		reg.spaces[sp.ID] = sp
		types[sp.ID] = sp.Type
	}
	for _, pa := range r.Apps {
		a := pa.App
		a.Normalize()
		a.Provisioned = true
		a.AnonymousAccess = false
		if err := a.Validate(); err != nil {
			return nil, errors.New("app " + a.ID + ": " + err.Error())
		}
		typ, ok := types[a.Space]
		if !ok && known {
			return nil, errors.New("app " + a.ID + ": " + ErrUnknownSpace.Error() + " " + a.Space)
		}
		if ok && pa.InitiallyOn && typ != SpaceManaged {
			return nil, errors.New("app " + a.ID + ": " + ErrNotManaged.Error())
		}
		reg.apps[a.ID] = a
	}
	return reg, nil
}

// Unregister takes a registrant's configuration out of force.
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

// inForce lists live registrations, oldest first.
func (t *Tenant) inForce() []*registration {
	regs := make([]*registration, 0, len(t.registered))
	for _, r := range t.registered {
		regs = append(regs, r)
	}
	slices.SortFunc(regs, func(a, b *registration) int { return cmp.Compare(a.seq, b.seq) })
	return regs
}

func (t *Tenant) rebuildLocked(ctx context.Context) error {
	regs := t.inForce()
	defs := map[string]App{}
	spaces := map[string]Space{}
	for _, r := range regs {
		maps.Copy(defs, r.apps)
		maps.Copy(spaces, r.spaces)
	}
	if n := len(regs); n > 0 {
		latest := regs[n-1]
		t.cfg.Store(&latest.cfg)
		if old := t.signer.Load(); old != nil && !slices.Equal(old.key, latest.signer.key) {
			t.cache.Clear()
		}
		t.signer.Store(latest.signer)
	}
	recs, err := t.store.Apps(ctx)
	if err != nil {
		return err
	}
	if len(regs) > 0 {
		t.retireDropped(ctx, recs, defs)
	}
	cfg := t.cfg.Load()
	apps := make(map[string]*appState, len(recs))
	for _, r := range recs {
		if r.Provisioned {
			def, live := defs[r.ID]
			if !live {
				continue
			}
			// The definition in force is the configuration's; the
			// store contributes the state.
			def.AnonymousAccess = r.AnonymousAccess
			r.App = def
		}
		origins := r.EmbedOrigins
		if len(origins) == 0 {
			origins = cfg.EmbedOrigins
		}
		apps[r.ID] = &appState{rec: r, codeDigest: codeDigest(r.Code), access: NewAccess(r.App), frameAncestorsCSP: "frame-ancestors " + frameAncestors(origins), lock: newParamLock(r.Params)}
	}
	next := &appView{apps: apps, spaces: spaces}
	prev := t.view.Load()
	next.adoptIncarnations(prev)
	t.view.Store(next)
	prev.endIncarnations(next)
	return nil
}
