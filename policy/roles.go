package policy

import (
	"maps"
	"slices"
)

// Grant is the value of a tenant permission on a role.
type Grant string

// The values of a permission.
const (
	GrantAllowed Grant = "allowed"
	GrantDenied  Grant = "denied"
)

// Valid reports whether g is allowed or denied.
func (g Grant) Valid() bool { return g == GrantAllowed || g == GrantDenied }

// The built-in tenant roles. Any other role name is a custom role.
const (
	RoleTenantAdmin    = "tenant_admin"
	RoleAnalyticsAdmin = "analytics_admin"
	// RoleUserDefault is the role every user has. It carries Public link
	// creation for everyone and cannot be assigned or removed.
	RoleUserDefault = "User Default"
)

// Role is a custom tenant role: a name, a description and its Public link
// creation permission. Users get it through role assignments.
type Role struct {
	Name               string `json:"name"`
	Description        string `json:"description"`
	PublicLinkCreation Grant  `json:"public_link_creation"`
}

// SpaceRole is what a member may do in a space.
type SpaceRole string

// The space roles.
const (
	SpaceOwner             SpaceRole = "owner"
	SpaceCanManage         SpaceRole = "can_manage"
	SpaceCanContribute     SpaceRole = "can_contribute"
	SpaceCanView           SpaceRole = "can_view"
	SpaceHasRestrictedView SpaceRole = "has_restricted_view"
	SpaceCanOperate        SpaceRole = "can_operate"
)

// SpaceRoles lists every space role, strongest first.
var SpaceRoles = []SpaceRole{SpaceOwner, SpaceCanManage, SpaceCanContribute, SpaceCanView, SpaceHasRestrictedView, SpaceCanOperate}

// Valid reports whether r is one of the six space roles.
func (r SpaceRole) Valid() bool { return slices.Contains(SpaceRoles, r) }

// AccessModel is who may do what in a tenant, as the store keeps it: the
// User Default role's Public link creation, the custom roles, the roles
// assigned to each user, and the members of each space with their space
// role. A space's owner is kept on the space, not among its members.
type AccessModel struct {
	// UserDefault is Public link creation for every user. Empty means
	// denied.
	UserDefault Grant `json:"user_default"`
	// Roles are the custom roles by name.
	Roles map[string]Role `json:"roles"`
	// Users maps a user id to the names of the tenant roles assigned to
	// them: custom roles, tenant_admin, analytics_admin.
	Users map[string][]string `json:"users"`
	// Members maps a space id to its members' space roles by user id.
	Members map[string]map[string]SpaceRole `json:"members"`
}

// Clone returns a deep copy, so an update can be retried on fresh state.
func (m AccessModel) Clone() AccessModel {
	out := AccessModel{UserDefault: m.UserDefault, Roles: maps.Clone(m.Roles), Users: make(map[string][]string, len(m.Users)), Members: make(map[string]map[string]SpaceRole, len(m.Members))}
	if out.Roles == nil {
		out.Roles = map[string]Role{}
	}
	for u, rs := range m.Users {
		out.Users[u] = slices.Clone(rs)
	}
	for s, ms := range m.Members {
		out.Members[s] = maps.Clone(ms)
	}
	return out
}

// ensureMaps makes the model's maps writable, whatever a store decoded.
func (m *AccessModel) ensureMaps() {
	if m.Roles == nil {
		m.Roles = map[string]Role{}
	}
	if m.Users == nil {
		m.Users = map[string][]string{}
	}
	if m.Members == nil {
		m.Members = map[string]map[string]SpaceRole{}
	}
}
