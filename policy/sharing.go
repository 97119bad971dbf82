package policy

import (
	"context"
	"errors"
	"slices"
	"strings"
)

// Apps returns the apps served by this tenant, sorted by id.
func (t *Tenant) Apps() []App {
	view := t.view.Load()
	out := make([]App, 0, len(view.apps))
	for _, a := range view.apps {
		out = append(out, a.rec.App)
	}
	slices.SortFunc(out, func(a, b App) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// App returns one served app.
func (t *Tenant) App(id string) (App, error) {
	a := t.view.Load().apps[id]
	if a == nil {
		return App{}, ErrUnknownApp
	}
	return a.rec.App, nil
}

// setAnonymousAccess turns an app's anonymous access on or off. Turning it
// off ends every live session of the app on its next request, and makes
// every held token useless for renewal, by moving the app's version.
// TenantUser and Operator call it after their checks and record it.
func (t *Tenant) setAnonymousAccess(ctx context.Context, id string, on bool) (App, error) {
	if _, err := t.App(id); err != nil {
		return App{}, err
	}
	if on {
		if err := t.requireManaged(ctx, id); err != nil {
			return App{}, err
		}
	}
	rec, err := t.store.UpdateApp(ctx, id, func(r *AppRecord) error {
		if r.AnonymousAccess && !on {
			r.Version++
		}
		r.AnonymousAccess = on
		return nil
	})
	if err != nil {
		return App{}, err
	}
	return rec.App, t.afterChange(ctx, id, !on)
}

// resetCode gives an app a new access code: every old link and embed code
// stops working and every live session ends on its next request.
func (t *Tenant) resetCode(ctx context.Context, id string) (App, error) {
	if _, err := t.App(id); err != nil {
		return App{}, err
	}
	rec, err := t.store.UpdateApp(ctx, id, func(r *AppRecord) error {
		r.Code = NewAccessCode()
		r.Version++
		return nil
	})
	if err != nil {
		return App{}, err
	}
	return rec.App, t.afterChange(ctx, id, true)
}

func (t *Tenant) requireManaged(ctx context.Context, id string) error {
	a, _ := t.App(id)
	sp, err := t.space(ctx, a.Space)
	if errors.Is(err, ErrUnknownSpace) || err == nil && sp.Type != SpaceManaged {
		return ErrNotManaged
	}
	return err
}

func (t *Tenant) afterChange(ctx context.Context, id string, endSessions bool) error {
	var errs []error
	if err := t.Refresh(ctx); err != nil {
		errs = append(errs, err)
	}
	if endSessions {
		if err := t.store.EndSessions(ctx, id); err != nil {
			errs = append(errs, err)
		}
	}
	// The change is stored; an instance that misses the notice rereads
	// the state when its change feed reconnects.
	_ = t.notify(ctx)
	return errors.Join(errs...)
}

// Link returns an app's public link. It exists only while the app's
// anonymous access is on.
func (t *Tenant) Link(id string) (string, error) {
	a, err := t.liveApp(id)
	if err != nil {
		return "", err
	}
	cfg := t.cfg.Load()
	return AppLink(cfg.PublicURL, cfg.Prefix, id, a.rec.Code), nil
}

// EmbedCode returns an app's embed code (an iframe snippet) and the URL
// inside it. It exists only while the app's anonymous access is on.
func (t *Tenant) EmbedCode(id string, opts LinkOptions) (html, url string, err error) {
	if err := opts.Validate(); err != nil {
		return "", "", err
	}
	a, err := t.liveApp(id)
	if err != nil {
		return "", "", err
	}
	if opts.Object != "" {
		if err := a.checkObject(opts.Object); err != nil {
			return "", "", err
		}
	}
	cfg := t.cfg.Load()
	url = EmbedURL(cfg.PublicURL, cfg.Prefix, id, a.rec.Code, opts.Object)
	return EmbedHTML(url, a.rec.Name, opts), url, nil
}

func (t *Tenant) liveApp(id string) (*appState, error) {
	a := t.view.Load().apps[id]
	if a == nil {
		return nil, ErrUnknownApp
	}
	if !a.rec.AnonymousAccess {
		return nil, ErrOff
	}
	return a, nil
}
