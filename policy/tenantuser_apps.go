package policy

import "context"

// AppView is an app as a tenant user sees it, with what they may do with
// it, so a user interface can leave out what is not permitted.
type AppView struct {
	App
	// Can tells, for each app action, whether the caller may do it.
	Can map[Action]bool `json:"can"`
	// CanWhenOn tells, for copying the link and the embed code, what Can
	// would say were anonymous access on: while it is off, Can says no to
	// everyone, and a sharing dialog still has to know what to offer once
	// the switch is turned.
	CanWhenOn map[Action]bool `json:"can_when_on"`
}

// appActions are the actions shown on an app.
var appActions = []Action{ActSetAnonymousAccess, ActResetCode, ActCopyLink, ActCopyEmbedCode, ActEditApp}

// copyActions are the actions that wait for anonymous access to be on.
var copyActions = []Action{ActCopyLink, ActCopyEmbedCode}

// newAppView says what s may do with a, an app of sp, now and were its
// anonymous access on.
func newAppView(a App, sp Space, s Subject) AppView {
	on := a
	on.AnonymousAccess = true
	return AppView{App: a, Can: appCan(a, sp, s, appActions), CanWhenOn: appCan(on, sp, s, copyActions)}
}

// appCan decides acts for s on a, an app of sp: copying only while it is
// on, turning it on only in a managed space, editing only what the API
// published.
func appCan(a App, sp Space, s Subject, acts []Action) map[Action]bool {
	can := make(map[Action]bool, len(acts))
	for _, act := range acts {
		ok := Allowed(s, act)
		switch act {
		case ActSetAnonymousAccess:
			ok = ok && (sp.Type == SpaceManaged || a.AnonymousAccess)
		case ActCopyLink, ActCopyEmbedCode:
			ok = ok && a.AnonymousAccess
		case ActEditApp:
			ok = ok && !a.Provisioned && (!a.AnonymousAccess || Allowed(s, ActSetAnonymousAccess))
		}
		can[act] = ok
	}
	return can
}

// forApp finds an app and checks the caller may do acts on it, in the
// app's space.
func (u TenantUser) forApp(ctx context.Context, id string, acts ...Action) (App, Space, Subject, error) {
	a, err := u.t.App(id)
	if err != nil {
		return App{}, Space{}, Subject{}, err
	}
	sp, err := u.t.space(ctx, a.Space)
	if err != nil {
		return App{}, Space{}, Subject{}, err
	}
	s, _, err := u.require(ctx, &sp, acts...)
	return a, sp, s, err
}

// App returns an app to members of its space and to tenant admins.
func (u TenantUser) App(ctx context.Context, id string) (AppView, error) {
	a, sp, s, err := u.forApp(ctx, id, ActViewSpace)
	if err != nil {
		return AppView{}, err
	}
	return newAppView(a, sp, s), nil
}

// Publish creates an app in a space. It starts with anonymous access off
// and its own access code.
func (u TenantUser) Publish(ctx context.Context, space string, a App) (AppView, error) {
	a.Space, a.Provisioned, a.AnonymousAccess = space, false, false
	a.Normalize()
	if err := u.t.checkPublished(a); err != nil {
		return AppView{}, err
	}
	sp, err := u.t.space(ctx, space)
	if err != nil {
		return AppView{}, err
	}
	s, _, err := u.require(ctx, &sp, ActPublishApp)
	if err != nil {
		return AppView{}, err
	}
	if err := u.t.store.CreateApp(ctx, AppRecord{App: a, Code: NewAccessCode(), Version: newVersion()}); err != nil {
		return AppView{}, err
	}
	if err := u.t.afterChange(ctx, a.ID, false); err != nil {
		return AppView{}, err
	}
	u.record(ctx, AuditEntry{Action: AuditPublishApp, Space: space, App: a.ID})
	return newAppView(a, sp, s), nil
}

// checkPublished validates an app a tenant user publishes or edits, within
// the operator's bounds.
func (t *Tenant) checkPublished(a App) error {
	if err := a.Validate(); err != nil {
		return err
	}
	cfg := t.cfg.Load()
	return cfg.Published.check(a, cfg.EmbedOrigins)
}

// Edit replaces the definition of an app published through the API. The
// id, space and anonymous-access state stay; while anonymous access is on
// the change alters what anonymous users reach, so it needs what turning
// it on needs.
func (u TenantUser) Edit(ctx context.Context, id string, def App) (AppView, error) {
	a, sp, s, err := u.forApp(ctx, id, ActEditApp)
	if err != nil {
		return AppView{}, err
	}
	def.ID, def.Space, def.Provisioned = id, a.Space, false
	def.Normalize()
	if err := u.t.checkPublished(def); err != nil {
		return AppView{}, err
	}
	rec, err := u.t.store.UpdateApp(ctx, id, func(r *AppRecord) error {
		if r.Provisioned {
			return ErrProvisioned
		}
		if r.AnonymousAccess && !Allowed(s, ActSetAnonymousAccess) {
			return ErrForbidden
		}
		def.AnonymousAccess = r.AnonymousAccess
		r.App = def
		return nil
	})
	if err != nil {
		return AppView{}, err
	}
	if err := u.t.afterChange(ctx, id, false); err != nil {
		return AppView{}, err
	}
	u.record(ctx, AuditEntry{Action: AuditEditApp, Space: a.Space, App: id})
	return newAppView(rec.App, sp, s), nil
}

// Delete removes an app published through the API and ends its sessions.
func (u TenantUser) Delete(ctx context.Context, id string) error {
	a, _, s, err := u.forApp(ctx, id, ActEditApp)
	if err != nil {
		return err
	}
	if _, err := u.t.store.DeleteApp(ctx, id, func(r AppRecord) error {
		if r.Provisioned {
			return ErrProvisioned
		}
		if r.AnonymousAccess && !Allowed(s, ActSetAnonymousAccess) {
			return ErrForbidden
		}
		return nil
	}); err != nil {
		return err
	}
	if err := u.t.afterChange(ctx, id, true); err != nil {
		return err
	}
	u.record(ctx, AuditEntry{Action: AuditDeleteApp, Space: a.Space, App: id})
	return nil
}

// SetAnonymousAccess turns an app's anonymous access on or off, as the
// sharing dialog's switch and the members view's "Turn off" do.
func (u TenantUser) SetAnonymousAccess(ctx context.Context, id string, on bool) (AppView, error) {
	_, sp, s, err := u.forApp(ctx, id, ActSetAnonymousAccess)
	if err != nil {
		return AppView{}, err
	}
	a, err := u.t.setAnonymousAccess(ctx, id, on)
	if err != nil {
		return AppView{}, err
	}
	u.record(ctx, AuditEntry{Action: AuditSetAnonymousAccess, Space: a.Space, App: id, Value: OnOff(on)})
	return newAppView(a, sp, s), nil
}

// ResetCode gives an app a new access code, killing every old link and
// embed code.
func (u TenantUser) ResetCode(ctx context.Context, id string) (AppView, error) {
	_, sp, s, err := u.forApp(ctx, id, ActResetCode)
	if err != nil {
		return AppView{}, err
	}
	a, err := u.t.resetCode(ctx, id)
	if err != nil {
		return AppView{}, err
	}
	u.record(ctx, AuditEntry{Action: AuditResetCode, Space: a.Space, App: id})
	return newAppView(a, sp, s), nil
}

// Link returns an app's link while its anonymous access is on.
func (u TenantUser) Link(ctx context.Context, id string) (string, error) {
	if _, _, _, err := u.forApp(ctx, id, ActCopyLink); err != nil {
		return "", err
	}
	return u.t.Link(id)
}

// EmbedCode returns an app's embed code while its anonymous access is on.
func (u TenantUser) EmbedCode(ctx context.Context, id string, opts LinkOptions) (html, url string, err error) {
	if _, _, _, err := u.forApp(ctx, id, ActCopyEmbedCode); err != nil {
		return "", "", err
	}
	return u.t.EmbedCode(id, opts)
}
