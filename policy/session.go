package policy

import (
	"context"
	"strings"
	"time"
)

// Kind is how an anonymous session started.
type Kind string

// Session kinds. KindRenewal is only used to count sessions started by a
// page reload after expiry; the renewed session keeps its original kind.
const (
	KindLink    Kind = "link"
	KindEmbed   Kind = "embed"
	KindRenewal Kind = "renewal"
)

// sessionIDBytes is the entropy of a session id (128 bits).
const sessionIDBytes = 16

// Session is one temporary anonymous session of one app.
type Session struct {
	// ID is the session id (the token's jti). It is a secret like the
	// token: never logged nor sent upstream; Ref is used instead.
	ID      string
	App     string
	Kind    Kind
	Version uint64
	// IssuedAt and ExpiresAt bound the session (session_ttl apart).
	IssuedAt  time.Time
	ExpiresAt time.Time
	// RenewUntil is the last moment a page load may start a new session
	// from this one's token (renewal_window after it was minted).
	RenewUntil time.Time
}

// NewSessionID returns a fresh random session id.
func NewSessionID() string { return randomToken(sessionIDBytes) }

// Redemption asks to open an app link or embed code.
type Redemption struct {
	App  string
	Code string
	Kind Kind
	// Object is an optional path (with query) inside the app's scope to
	// land on instead of the entry.
	Object string
	// Client identifies the caller (its IP) for failure rate limiting,
	// kept in memory only, and for client_sessions, where stores keep a
	// keyed hash of it, never the address.
	Client string
}

// Opened is a started session.
type Opened struct {
	Session Session
	// Token is the signed session token for the cookie.
	Token string
	// Location is where the browser goes next: the entry or the object.
	Location string
}

// current returns the app of a session if the session still stands: the
// app is served, on, and at the version the session was started with
// (turning it off or resetting its code moves the version).
func (v *appView) current(sess Session) *appState {
	a := v.apps[sess.App]
	if a == nil || !a.rec.AnonymousAccess || a.rec.Version != sess.Version {
		return nil
	}
	return a
}

// checkObject accepts an embed code's object: a clean path, with an
// optional query, inside the app's scope and not denied.
func (a *appState) checkObject(object string) error {
	p, _, _ := strings.Cut(object, "?")
	if CheckPath(p, "") != nil || strings.ContainsAny(object, "#\\") || !a.access.Covers(p) {
		return invalid("object", "must be a path inside the app's scope")
	}
	return nil
}

// Redeem checks an access code and starts a session through capacity
// admission. An unknown app, a wrong code and an app that is off all give
// ErrDenied, after the same work, so callers learn nothing from which.
func (t *Tenant) Redeem(ctx context.Context, r Redemption) (Opened, error) {
	now := t.now()
	if ok, wait := t.limiter.Check(r.Client, now); !ok {
		return Opened{}, &RetryError{Err: ErrRateLimited, RetryAfter: wait}
	}
	app := t.view.Load().apps[r.App]
	var digest [32]byte
	on := app != nil && app.rec.AnonymousAccess
	if on {
		digest = app.codeDigest
	}
	good := digestMatches(r.Code, digest, on) && validCodeSyntax(r.Code)
	if !good {
		t.limiter.Fail(r.Client, now)
		return Opened{}, ErrDenied
	}
	if r.Kind != KindEmbed {
		r.Kind = KindLink
	}
	location := app.rec.Entry
	if r.Object != "" {
		if err := app.checkObject(r.Object); err != nil {
			return Opened{}, err
		}
		location = r.Object
	}
	o, err := t.start(ctx, app, r.Kind, r.Client, nil, now, now.Add(t.cfg.Load().RenewalWindow))
	o.Location = location
	return o, err
}

// start admits a new session for client, through the tenant's capacity
// and the client's share of it, in one step of the store. renews is the
// expired session it replaces, if any. renewUntil bounds its renewals: it
// counts from the redemption of the link and is carried unchanged from
// session to session, so reloading the page cannot stretch one redemption
// forever.
func (t *Tenant) start(ctx context.Context, app *appState, kind Kind, client string, renews *Renewal, now, renewUntil time.Time) (Opened, error) {
	cfg := t.cfg.Load()
	signer := t.signer.Load()
	if signer == nil {
		return Opened{}, ErrInvalidToken
	}
	sess := Session{
		ID:         NewSessionID(),
		App:        app.rec.ID,
		Kind:       kind,
		Version:    app.rec.Version,
		IssuedAt:   now,
		ExpiresAt:  now.Add(cfg.SessionTTL),
		RenewUntil: renewUntil,
	}
	key, _ := ParseSessionKey(sess.ID)
	a := Admission{
		Session:     SessionRecord{Key: key, App: sess.App, ExpiresAt: sess.ExpiresAt.Unix()},
		Capacity:    cfg.Capacity,
		ClientLimit: cfg.clientLimit(),
		Renews:      renews,
	}
	if a.ClientLimit > 0 {
		a.Client = signer.clients.of(client)
	}
	v, err := t.store.AdmitSession(ctx, a, now)
	if err != nil {
		return Opened{}, ErrStoreUnavailable
	}
	switch v.Outcome {
	case Admitted:
	case ClientFull:
		// Instances' clocks may differ by a second or two: never less
		// than a second, so there is always a wait to show.
		return Opened{}, &RetryError{Err: ErrClientLimit, RetryAfter: max(time.Unix(v.ClientFreeAt, 0).Sub(now), time.Second)}
	case AlreadyRenewed:
		// Another tab, or someone replaying the cookie, renewed this
		// token first: it has ended like any expired session.
		return Opened{}, ErrExpired
	default:
		return Opened{}, ErrCapacityFull
	}
	token, err := signer.Mint(sess)
	if err != nil {
		return Opened{}, err
	}
	return Opened{Session: sess, Token: token}, nil
}

// authorize is the per-request check of one token against view: is it a
// live session of an app that is still on, at the same version, whose
// scope and methods cover this request? path must already have passed
// CheckPath. Verified tokens come from a cache keyed by the whole token, so
// a live session costs no parsing; the app's state always comes from the
// view, so a cache can never bring back a session that was turned off or
// reset. It also gives the app that granted. Callers go through
// CheckCookies, which offers every cookie of a request.
func (t *Tenant) authorize(view *appView, token, method, path string) (*Verified, *appState, error) {
	v, err := t.verify(token)
	if err != nil {
		return nil, nil, err
	}
	if t.now().Unix() >= v.exp {
		return v, nil, ErrExpired
	}
	if t.feedDown.Load() {
		return v, nil, ErrStoreUnavailable
	}
	app := view.current(v.Session)
	if app == nil {
		return v, nil, ErrRevoked
	}
	return v, app, app.access.Allow(method, path)
}

func (t *Tenant) verify(token string) (*Verified, error) {
	if v, ok := t.cache.Get(token); ok && v.token == token {
		return v, nil
	}
	signer := t.signer.Load()
	if signer == nil {
		return nil, ErrInvalidToken
	}
	sess, err := signer.Verify(token)
	if err != nil {
		return nil, err
	}
	v := &Verified{token: token, exp: sess.ExpiresAt.Unix(), Session: sess, Ref: signer.Ref(sess.ID)}
	if ttl := sess.ExpiresAt.Sub(t.now()); ttl > 0 {
		t.cache.SetWithTTL(token, v, int64(len(token))+256, ttl)
	}
	return v, nil
}

// Renew starts a new session for client from an expired token on a page
// load of method and path: the token's signature, app and version must
// still be good, its renewal window open, and the page inside the app's
// scope. The new session has a new id and passes capacity and the
// client's limit like any other. A token renews once: replaying it (a
// second tab, a copied cookie) gets ErrExpired, on every instance.
func (t *Tenant) Renew(ctx context.Context, token, method, path, client string) (Opened, error) {
	now := t.now()
	signer := t.signer.Load()
	if signer == nil {
		return Opened{}, ErrInvalidToken
	}
	old, err := signer.VerifyForRenewal(token, now)
	if err != nil {
		return Opened{}, err
	}
	app := t.view.Load().current(old)
	if app == nil {
		return Opened{}, ErrRevoked
	}
	if err := app.access.Allow(method, path); err != nil {
		return Opened{}, err
	}
	key, ok := ParseSessionKey(old.ID)
	if !ok {
		return Opened{}, ErrInvalidToken
	}
	renews := &Renewal{Key: key, Until: old.RenewUntil.Unix()}
	return t.start(ctx, app, old.Kind, client, renews, now, old.RenewUntil)
}

// SessionInfo describes a live session to its holder.
type SessionInfo struct {
	App       string    `json:"app"`
	Kind      Kind      `json:"kind"`
	ExpiresAt time.Time `json:"expires_at"`
}

// Describe reports the live session behind a token, if any.
func (t *Tenant) Describe(token string) (SessionInfo, bool) {
	v, err := t.verify(token)
	if err != nil || t.now().Unix() >= v.exp {
		return SessionInfo{}, false
	}
	if t.view.Load().current(v.Session) == nil {
		return SessionInfo{}, false
	}
	return SessionInfo{App: v.Session.App, Kind: v.Session.Kind, ExpiresAt: v.Session.ExpiresAt.UTC()}, true
}
