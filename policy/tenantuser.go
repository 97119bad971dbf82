package policy

import (
	"context"
	"slices"
	"strconv"
	"strings"
)

// Caller is a signed-in tenant user making a management request.
type Caller struct {
	// User is the user id from the identity provider.
	User string
	// From is the client's address, for the audit log.
	From string
}

// TenantUser is the management API as one tenant user may use it. Every
// method decides the permission rules on state read from the store at
// that moment, then acts, then records the change in the audit log.
type TenantUser struct {
	t *Tenant
	Caller
}

// As returns the management API for a caller.
func (t *Tenant) As(c Caller) TenantUser { return TenantUser{t: t, Caller: c} }

// record stores an audit entry and tells the configured OnAudit hook. A
// change already made stays made when its entry cannot be stored; the hook
// still gets the entry (and the error) for the structured log.
func (t *Tenant) record(ctx context.Context, e AuditEntry) {
	e.Time = t.now().UTC()
	stored, err := t.store.AppendAudit(ctx, e)
	if err == nil {
		e = stored
	}
	if hook := t.cfg.Load().OnAudit; hook != nil {
		hook(e, err)
	}
}

func (u TenantUser) record(ctx context.Context, e AuditEntry) {
	e.Actor, e.From = u.User, u.From
	u.t.record(ctx, e)
}

// subject reads the access model and computes the caller's subject for
// space (nil for tenant-wide actions).
func (u TenantUser) subject(ctx context.Context, space *Space) (Subject, AccessModel, error) {
	m, err := u.t.store.AccessModel(ctx)
	if err != nil {
		return Subject{}, AccessModel{}, err
	}
	return m.Subject(u.User, u.t.cfg.Load().Admins, space), m, nil
}

// require fails with ErrForbidden unless the caller may do every action.
func (u TenantUser) require(ctx context.Context, space *Space, acts ...Action) (Subject, AccessModel, error) {
	s, m, err := u.subject(ctx, space)
	if err != nil {
		return s, m, err
	}
	for _, a := range acts {
		if !Allowed(s, a) {
			return s, m, ErrForbidden
		}
	}
	return s, m, nil
}

// space finds a space: the configuration's definition while it is in
// force, else the stored one.
func (t *Tenant) space(ctx context.Context, id string) (Space, error) {
	if sp, ok := t.view.Load().spaces[id]; ok {
		return sp, nil
	}
	all, err := t.store.Spaces(ctx)
	if err != nil {
		return Space{}, err
	}
	for _, sp := range all {
		if sp.ID == id {
			return sp, nil
		}
	}
	return Space{}, ErrUnknownSpace
}

// allSpaces lists every space, configuration definitions winning, by id.
func (t *Tenant) allSpaces(ctx context.Context) ([]Space, error) {
	stored, err := t.store.Spaces(ctx)
	if err != nil {
		return nil, err
	}
	view := t.view.Load().spaces
	out := make([]Space, 0, len(stored))
	for _, sp := range stored {
		if def, ok := view[sp.ID]; ok {
			sp = def
		}
		out = append(out, sp)
	}
	slices.SortFunc(out, func(a, b Space) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// Me is what a signed-in user is and may do tenant-wide.
type Me struct {
	User string `json:"user"`
	// TenantRoles are the user's tenant roles, built-in and custom.
	TenantRoles []string `json:"tenant_roles"`
	// PublicLinkCreation is the user's effective permission.
	PublicLinkCreation Grant `json:"public_link_creation"`
	// Permissions tells, for each tenant-wide action, whether the user
	// may do it.
	Permissions map[Action]bool `json:"permissions"`
	// Spaces are the spaces the user is a member of, with their role.
	Spaces []SpaceView `json:"spaces"`
}

// Me describes the caller.
func (u TenantUser) Me(ctx context.Context) (Me, error) {
	s, m, err := u.subject(ctx, nil)
	if err != nil {
		return Me{}, err
	}
	me := Me{User: u.User, TenantRoles: []string{}, PublicLinkCreation: GrantDenied, Permissions: map[Action]bool{}, Spaces: []SpaceView{}}
	if s.TenantAdmin {
		me.TenantRoles = append(me.TenantRoles, RoleTenantAdmin)
	}
	if s.AnalyticsAdmin {
		me.TenantRoles = append(me.TenantRoles, RoleAnalyticsAdmin)
	}
	for _, r := range m.Users[u.User] {
		if _, ok := m.Roles[r]; ok {
			me.TenantRoles = append(me.TenantRoles, r)
		}
	}
	if s.PublicLinkCreation {
		me.PublicLinkCreation = GrantAllowed
	}
	for _, a := range []Action{ActManageRoles, ActViewCapacity, ActViewAudit, ActCreateManagedSpace, ActCreateSpace} {
		me.Permissions[a] = Allowed(s, a)
	}
	spaces, err := u.t.allSpaces(ctx)
	if err != nil {
		return Me{}, err
	}
	for _, sp := range spaces {
		if in := m.Subject(u.User, u.t.cfg.Load().Admins, &sp); in.SpaceRole != "" {
			me.Spaces = append(me.Spaces, newSpaceView(sp, in))
		}
	}
	return me, nil
}

// Capacity reports the tenant's capacity and use to tenant and analytics
// admins.
func (u TenantUser) Capacity(ctx context.Context) (CapacityReport, error) {
	if _, _, err := u.require(ctx, nil, ActViewCapacity); err != nil {
		return CapacityReport{}, err
	}
	return u.t.Capacity(ctx)
}

// AuditPage is a page of the audit log, newest first.
type AuditPage struct {
	Entries []AuditView `json:"entries"`
	// NextBefore asks for the next, older page; 0 when this page was not
	// full, so there is none.
	NextBefore uint64 `json:"next_before,omitempty"`
}

// Sizes of a page of the audit log.
const (
	DefaultAuditPage = 100
	MaxAuditPage     = 1000
)

var errAuditLimit = invalid("limit", "must be a whole number from 1 to "+strconv.Itoa(MaxAuditPage))

// AuditLimit reads the size of an audit page asked for in text: the
// default when empty, else a whole number from 1 to MaxAuditPage.
func AuditLimit(s string) (int, error) {
	if s == "" {
		return DefaultAuditPage, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > MaxAuditPage {
		return 0, errAuditLimit
	}
	return n, nil
}

// AuditLog returns a page of the audit log to tenant admins: at most limit
// entries (1 to MaxAuditPage, DefaultAuditPage when 0) before an entry id
// (0 for the newest).
func (u TenantUser) AuditLog(ctx context.Context, before uint64, limit int) (AuditPage, error) {
	if limit == 0 {
		limit = DefaultAuditPage
	}
	if limit < 0 || limit > MaxAuditPage {
		return AuditPage{}, errAuditLimit
	}
	if _, _, err := u.require(ctx, nil, ActViewAudit); err != nil {
		return AuditPage{}, err
	}
	out, err := u.t.store.AuditLog(ctx, before, limit)
	if err != nil {
		return AuditPage{}, err
	}
	page := AuditPage{Entries: make([]AuditView, len(out))}
	for i, e := range out {
		page.Entries[i] = AuditView{AuditEntry: e, Label: AuditLabel(e.Action)}
	}
	if n := len(out); n == limit {
		page.NextBefore = out[n-1].ID
	}
	return page, nil
}

// updateAccess changes the access model atomically in the store.
func (t *Tenant) updateAccess(ctx context.Context, fn func(*AccessModel) error) (AccessModel, error) {
	return t.store.UpdateAccessModel(ctx, func(m *AccessModel) error {
		m.ensureMaps()
		return fn(m)
	})
}
