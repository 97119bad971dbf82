package policy

import "slices"

// Action is something a tenant user asks to do through the management API.
type Action string

// The actions the permission rules decide.
const (
	// ActSetAnonymousAccess turns an app's anonymous access on or off,
	// from the sharing dialog or from the space's members view.
	ActSetAnonymousAccess Action = "set_anonymous_access"
	// ActResetCode gives an app a new access code.
	ActResetCode Action = "reset_code"
	// ActCopyLink reads an app's link.
	ActCopyLink Action = "copy_link"
	// ActCopyEmbedCode reads an app's embed code.
	ActCopyEmbedCode Action = "copy_embed_code"
	// ActSeeAnonymousMember shows "Anonymous access" among a space's
	// members, with the apps it can reach.
	ActSeeAnonymousMember Action = "see_anonymous_member"
	// ActManageRoles sets Public link creation on User Default and custom
	// roles, creates roles and assigns them to users.
	ActManageRoles Action = "manage_roles"
	// ActViewCapacity reads the tenant's capacity and usage.
	ActViewCapacity Action = "view_capacity"
	// ActViewAudit reads the audit log.
	ActViewAudit Action = "view_audit"
	// ActCreateManagedSpace creates a managed space.
	ActCreateManagedSpace Action = "create_managed_space"
	// ActCreateSpace creates a shared or personal space.
	ActCreateSpace Action = "create_space"
	// ActViewSpace reads a space, its apps and its members.
	ActViewSpace Action = "view_space"
	// ActManageMembers adds, changes and removes a space's members.
	ActManageMembers Action = "manage_members"
	// ActPublishApp publishes a new app to a space.
	ActPublishApp Action = "publish_app"
	// ActEditApp edits or deletes an app published through the API.
	ActEditApp Action = "edit_app"
)

// everyAction lists every action, so that a test can check its table
// covers them all.
var everyAction = []Action{
	ActSetAnonymousAccess, ActResetCode, ActCopyLink, ActCopyEmbedCode,
	ActSeeAnonymousMember, ActManageRoles, ActViewCapacity, ActViewAudit,
	ActCreateManagedSpace, ActCreateSpace, ActViewSpace, ActManageMembers,
	ActPublishApp, ActEditApp,
}

// Subject is everything the permission rules look at for one user and,
// where the action concerns one, one space.
type Subject struct {
	TenantAdmin    bool
	AnalyticsAdmin bool
	// PublicLinkCreation is the user's effective permission: allowed when
	// User Default or any custom role of theirs allows it.
	PublicLinkCreation bool
	// SpaceRole is the user's role in the space concerned; empty when
	// they are not a member.
	SpaceRole SpaceRole
}

// managesSpace reports owner or can_manage.
func (s Subject) managesSpace() bool {
	return s.SpaceRole == SpaceOwner || s.SpaceRole == SpaceCanManage
}

// Allowed decides whether a subject may do an action. Being a tenant or
// analytics admin grants no space role and no Public link creation:
// sharing content anonymously is decided by whoever manages the space,
// under the tenant's permission, admins included.
func Allowed(s Subject, a Action) bool {
	switch a {
	case ActSetAnonymousAccess, ActResetCode, ActCopyEmbedCode:
		return s.PublicLinkCreation && s.managesSpace()
	case ActCopyLink:
		return s.SpaceRole.Valid()
	case ActSeeAnonymousMember, ActManageMembers, ActEditApp:
		return s.managesSpace()
	case ActManageRoles, ActViewAudit:
		return s.TenantAdmin
	case ActViewCapacity, ActCreateManagedSpace:
		return s.TenantAdmin || s.AnalyticsAdmin
	case ActCreateSpace:
		return true
	case ActViewSpace:
		return s.SpaceRole.Valid() || s.TenantAdmin
	case ActPublishApp:
		return s.managesSpace() || s.SpaceRole == SpaceCanContribute
	}
	return false
}

// Subject computes a user's subject from the access model, the tenant's
// configured admins and the space concerned (nil for tenant-wide actions).
func (m AccessModel) Subject(user string, admins Admins, space *Space) Subject {
	var s Subject
	roles := m.Users[user]
	s.TenantAdmin = admins.Tenant[user] || slices.Contains(roles, RoleTenantAdmin)
	s.AnalyticsAdmin = admins.Analytics[user] || slices.Contains(roles, RoleAnalyticsAdmin)
	s.PublicLinkCreation = m.UserDefault == GrantAllowed
	for _, r := range roles {
		if m.Roles[r].PublicLinkCreation == GrantAllowed {
			s.PublicLinkCreation = true
		}
	}
	if space != nil {
		if space.Owner == user {
			s.SpaceRole = SpaceOwner
		} else {
			s.SpaceRole = m.Members[space.ID][user]
		}
	}
	return s
}

// Admins are the tenant and analytics admins bootstrapped from the
// configuration; more can be assigned through the management API.
type Admins struct {
	Tenant    map[string]bool
	Analytics map[string]bool
}
