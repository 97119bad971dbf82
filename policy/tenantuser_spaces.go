package policy

import (
	"context"
	"encoding/json"
	"strings"
)

// SpaceView is a space as a tenant user sees it: the caller's role in it,
// what they may do in it and, when listed with them, its apps.
type SpaceView struct {
	Space
	// Role is the caller's space role; empty when they are not a member
	// (a tenant admin looking).
	Role SpaceRole `json:"role,omitempty"`
	// Can tells, for each space action, whether the caller may do it, so
	// a user interface can leave out what would be refused.
	Can map[Action]bool `json:"can"`
	// Apps are the space's apps with what the caller may do with each.
	Apps []AppView `json:"apps,omitempty"`
}

// spaceActions are the actions shown on a space: managing its members
// (and seeing the "Anonymous access" member among them), publishing an app
// to it, and turning its apps' anonymous access on or off from the members
// view.
var spaceActions = []Action{ActManageMembers, ActSeeAnonymousMember, ActPublishApp, ActSetAnonymousAccess}

// newSpaceView says what s may do in sp: anonymous access only in a
// managed space, as for each of its apps.
func newSpaceView(sp Space, s Subject) SpaceView {
	v := SpaceView{Space: sp, Role: s.SpaceRole, Can: make(map[Action]bool, len(spaceActions))}
	for _, act := range spaceActions {
		ok := Allowed(s, act)
		if act == ActSetAnonymousAccess {
			ok = ok && sp.Type == SpaceManaged
		}
		v.Can[act] = ok
	}
	return v
}

// Member is one entry of a space's members list: a user with a space
// role, or the "Anonymous access" member with the apps it can reach.
type Member struct {
	// Type is "user" or "anonymous".
	Type string    `json:"type"`
	User string    `json:"user,omitempty"`
	Role SpaceRole `json:"role,omitempty"`
	// Name is "Anonymous access" for the anonymous member.
	Name string `json:"name,omitempty"`
	// Apps are the apps of the space anonymous users can reach now.
	Apps []App `json:"apps,omitempty"`
}

// MarshalJSON writes the anonymous member's apps even when there are
// none, and a user's never.
func (m Member) MarshalJSON() ([]byte, error) {
	type plain Member
	if m.Type != "anonymous" {
		return json.Marshal(plain(m))
	}
	return json.Marshal(struct {
		plain
		Apps []App `json:"apps"`
	}{plain(m), m.Apps})
}

// AnonymousMemberName is how anonymous users appear among a space's
// members.
const AnonymousMemberName = "Anonymous access"

// Spaces lists the spaces the caller is a member of (every space for a
// tenant admin) with their apps.
func (u TenantUser) Spaces(ctx context.Context) ([]SpaceView, error) {
	_, m, err := u.subject(ctx, nil)
	if err != nil {
		return nil, err
	}
	all, err := u.t.allSpaces(ctx)
	if err != nil {
		return nil, err
	}
	admins := u.t.cfg.Load().Admins
	apps := u.t.Apps()
	out := []SpaceView{}
	for _, sp := range all {
		s := m.Subject(u.User, admins, &sp)
		if !Allowed(s, ActViewSpace) {
			continue
		}
		v := newSpaceView(sp, s)
		v.Apps = []AppView{}
		for _, a := range apps {
			if a.Space == sp.ID {
				v.Apps = append(v.Apps, newAppView(a, sp, s))
			}
		}
		out = append(out, v)
	}
	return out, nil
}

// CreateSpace creates a space with the caller as its owner. Managed
// spaces, where apps can be shared anonymously, are created by tenant and
// analytics admins.
func (u TenantUser) CreateSpace(ctx context.Context, sp Space) (SpaceView, error) {
	sp.Owner, sp.Provisioned = u.User, false
	if sp.Name == "" {
		sp.Name = sp.ID
	}
	if err := sp.Validate(); err != nil {
		return SpaceView{}, err
	}
	act := ActCreateSpace
	if sp.Type == SpaceManaged {
		act = ActCreateManagedSpace
	}
	_, m, err := u.require(ctx, nil, act)
	if err != nil {
		return SpaceView{}, err
	}
	if err := u.t.store.CreateSpace(ctx, sp); err != nil {
		return SpaceView{}, err
	}
	_ = u.t.notify(ctx)
	u.record(ctx, AuditEntry{Action: AuditCreateSpace, Space: sp.ID, Value: string(sp.Type)})
	v := newSpaceView(sp, m.Subject(u.User, u.t.cfg.Load().Admins, &sp))
	v.Apps = []AppView{}
	return v, nil
}

// Members lists a space's members, owner first, then by user id; owners
// and managers also see the "Anonymous access" member.
func (u TenantUser) Members(ctx context.Context, space string) ([]Member, error) {
	sp, err := u.t.space(ctx, space)
	if err != nil {
		return nil, err
	}
	s, m, err := u.require(ctx, &sp, ActViewSpace)
	if err != nil {
		return nil, err
	}
	out := []Member{}
	if sp.Owner != "" {
		out = append(out, Member{Type: "user", User: sp.Owner, Role: SpaceOwner})
	}
	for _, user := range sortedKeys(m.Members[space]) {
		if user != sp.Owner {
			out = append(out, Member{Type: "user", User: user, Role: m.Members[space][user]})
		}
	}
	if Allowed(s, ActSeeAnonymousMember) {
		anon := Member{Type: "anonymous", Name: AnonymousMemberName, Apps: []App{}}
		for _, a := range u.t.Apps() {
			if a.Space == space && a.AnonymousAccess {
				anon.Apps = append(anon.Apps, a)
			}
		}
		out = append(out, anon)
	}
	return out, nil
}

// SetMember adds a user to a space or changes their space role, and
// returns the member as stored. The owner is set when the space is created
// and is not changed here.
func (u TenantUser) SetMember(ctx context.Context, space, user string, role SpaceRole) (Member, error) {
	if err := ValidateUserID("user", user); err != nil {
		return Member{}, err
	}
	if !role.Valid() {
		return Member{}, invalid("role", "must be one of "+spaceRoleList())
	}
	sp, err := u.t.space(ctx, space)
	if err != nil {
		return Member{}, err
	}
	if role == SpaceOwner || user == sp.Owner {
		return Member{}, ErrOwner
	}
	if _, _, err := u.require(ctx, &sp, ActManageMembers); err != nil {
		return Member{}, err
	}
	m, err := u.t.updateAccess(ctx, func(m *AccessModel) error {
		if m.Members[space] == nil {
			m.Members[space] = map[string]SpaceRole{}
		}
		m.Members[space][user] = role
		return nil
	})
	if err != nil {
		return Member{}, err
	}
	u.record(ctx, AuditEntry{Action: AuditSetMember, Space: space, User: user, Value: string(role)})
	return Member{Type: "user", User: user, Role: m.Members[space][user]}, nil
}

// RemoveMember takes a user out of a space.
func (u TenantUser) RemoveMember(ctx context.Context, space, user string) error {
	if err := ValidateUserID("user", user); err != nil {
		return err
	}
	sp, err := u.t.space(ctx, space)
	if err != nil {
		return err
	}
	if user == sp.Owner {
		return ErrOwner
	}
	if _, _, err := u.require(ctx, &sp, ActManageMembers); err != nil {
		return err
	}
	if _, err := u.t.updateAccess(ctx, func(m *AccessModel) error {
		if _, ok := m.Members[space][user]; !ok {
			return ErrNotMember
		}
		delete(m.Members[space], user)
		return nil
	}); err != nil {
		return err
	}
	u.record(ctx, AuditEntry{Action: AuditRemoveMember, Space: space, User: user})
	return nil
}

func spaceRoleList() string {
	names := make([]string, 0, len(SpaceRoles))
	for _, r := range SpaceRoles[1:] { // the owner is not assigned
		names = append(names, string(r))
	}
	return strings.Join(names, ", ")
}
