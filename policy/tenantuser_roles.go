package policy

import (
	"context"
	"slices"
	"strings"
)

// RoleView is a tenant role as tenant admins see it.
type RoleView struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	// PublicLinkCreation is empty for tenant_admin and analytics_admin,
	// which do not carry the permission.
	PublicLinkCreation Grant `json:"public_link_creation,omitempty"`
	// Builtin roles are User Default, tenant_admin and analytics_admin.
	Builtin bool `json:"builtin"`
	// Users assigned the role through the management API (User Default:
	// none, since everyone has it).
	Users []string `json:"users"`
	// ConfiguredUsers are admins named in the gateway configuration, who
	// cannot be unassigned through the API.
	ConfiguredUsers []string `json:"configured_users,omitempty"`
}

// ValidateRoleName checks a custom role's name: 1 to 64 letters, digits,
// spaces, '.', '-' and '_', starting with a letter or digit, and none of
// the built-in names.
func ValidateRoleName(name string) error {
	if name == "" || len(name) > 64 {
		return invalid("name", "must be 1 to 64 characters")
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || strings.IndexByte(" .-_", c) < 0) {
			return invalid("name", "must be letters, digits, spaces, '.', '-' or '_', starting with a letter or digit")
		}
	}
	if strings.HasSuffix(name, " ") {
		return invalid("name", "must not end with a space")
	}
	if strings.EqualFold(name, RoleUserDefault) || name == RoleTenantAdmin || name == RoleAnalyticsAdmin {
		return invalid("name", "is a built-in role")
	}
	return nil
}

// Roles lists the tenant roles with their Public link creation and users.
func (u TenantUser) Roles(ctx context.Context) ([]RoleView, error) {
	_, m, err := u.require(ctx, nil, ActManageRoles)
	if err != nil {
		return nil, err
	}
	admins := u.t.cfg.Load().Admins
	holders := func(role string) []string {
		out := []string{}
		for user, rs := range m.Users {
			if slices.Contains(rs, role) {
				out = append(out, user)
			}
		}
		slices.Sort(out)
		return out
	}
	grant := m.UserDefault
	if grant == "" {
		grant = GrantDenied
	}
	out := []RoleView{
		{Name: RoleUserDefault, Description: "Every user of the tenant", PublicLinkCreation: grant, Builtin: true, Users: []string{}},
		{Name: RoleTenantAdmin, Description: "Manages roles, permissions and capacity; reads the audit log", Builtin: true, Users: holders(RoleTenantAdmin), ConfiguredUsers: sortedKeys(admins.Tenant)},
		{Name: RoleAnalyticsAdmin, Description: "Reads capacity and usage; creates managed spaces", Builtin: true, Users: holders(RoleAnalyticsAdmin), ConfiguredUsers: sortedKeys(admins.Analytics)},
	}
	for _, name := range sortedKeys(m.Roles) {
		r := m.Roles[name]
		out = append(out, RoleView{Name: r.Name, Description: r.Description, PublicLinkCreation: r.PublicLinkCreation, Users: holders(name)})
	}
	return out, nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// SetUserDefault sets Public link creation on the User Default role,
// which every user has.
func (u TenantUser) SetUserDefault(ctx context.Context, g Grant) error {
	if !g.Valid() {
		return invalid("public_link_creation", `must be "allowed" or "denied"`)
	}
	if _, _, err := u.require(ctx, nil, ActManageRoles); err != nil {
		return err
	}
	if _, err := u.t.updateAccess(ctx, func(m *AccessModel) error {
		m.UserDefault = g
		return nil
	}); err != nil {
		return err
	}
	u.record(ctx, AuditEntry{Action: AuditSetPublicLinkCreation, Role: RoleUserDefault, Value: string(g)})
	return nil
}

// CreateRole creates a custom role.
func (u TenantUser) CreateRole(ctx context.Context, r Role) error {
	if err := checkRole(&r); err != nil {
		return err
	}
	if _, _, err := u.require(ctx, nil, ActManageRoles); err != nil {
		return err
	}
	if _, err := u.t.updateAccess(ctx, func(m *AccessModel) error {
		for name := range m.Roles {
			if strings.EqualFold(name, r.Name) {
				return ErrRoleExists
			}
		}
		m.Roles[r.Name] = r
		return nil
	}); err != nil {
		return err
	}
	u.record(ctx, AuditEntry{Action: AuditCreateRole, Role: r.Name, Value: string(r.PublicLinkCreation)})
	return nil
}

// RoleChange is a change of a custom role: what is nil or empty stays.
type RoleChange struct {
	Description        *string
	PublicLinkCreation Grant
}

// UpdateRole changes a custom role's description or Public link creation.
func (u TenantUser) UpdateRole(ctx context.Context, name string, c RoleChange) (Role, error) {
	if c.PublicLinkCreation != "" && !c.PublicLinkCreation.Valid() {
		return Role{}, invalid("public_link_creation", `must be "allowed" or "denied"`)
	}
	if c.Description != nil {
		if err := validateName("description", *c.Description); err != nil {
			return Role{}, err
		}
	}
	if _, _, err := u.require(ctx, nil, ActManageRoles); err != nil {
		return Role{}, err
	}
	var r Role
	if _, err := u.t.updateAccess(ctx, func(m *AccessModel) error {
		var ok bool
		if r, ok = m.Roles[name]; !ok {
			return ErrUnknownRole
		}
		if c.Description != nil {
			r.Description = *c.Description
		}
		if c.PublicLinkCreation != "" {
			r.PublicLinkCreation = c.PublicLinkCreation
		}
		m.Roles[name] = r
		return nil
	}); err != nil {
		return Role{}, err
	}
	u.record(ctx, AuditEntry{Action: AuditUpdateRole, Role: name, Value: string(r.PublicLinkCreation)})
	return r, nil
}

func checkRole(r *Role) error {
	if err := ValidateRoleName(r.Name); err != nil {
		return err
	}
	if err := validateName("description", r.Description); err != nil {
		return err
	}
	if r.PublicLinkCreation == "" {
		r.PublicLinkCreation = GrantDenied
	}
	if !r.PublicLinkCreation.Valid() {
		return invalid("public_link_creation", `must be "allowed" or "denied"`)
	}
	return nil
}

// AssignRoles replaces the tenant roles assigned to a user: custom roles,
// tenant_admin and analytics_admin. Admins named in the configuration stay
// admins whatever is assigned here. It returns the roles as stored: sorted,
// each once.
func (u TenantUser) AssignRoles(ctx context.Context, user string, roles []string) ([]string, error) {
	if err := ValidateUserID("user", user); err != nil {
		return nil, err
	}
	if len(roles) > 100 {
		return nil, invalid("roles", "at most 100 roles")
	}
	if _, _, err := u.require(ctx, nil, ActManageRoles); err != nil {
		return nil, err
	}
	roles = append([]string{}, roles...)
	slices.Sort(roles)
	roles = slices.Compact(roles)
	if _, err := u.t.updateAccess(ctx, func(m *AccessModel) error {
		for _, r := range roles {
			if _, ok := m.Roles[r]; !ok && r != RoleTenantAdmin && r != RoleAnalyticsAdmin {
				return invalid("roles", "unknown role "+quoteName(r))
			}
		}
		if len(roles) == 0 {
			delete(m.Users, user)
		} else {
			m.Users[user] = roles
		}
		return nil
	}); err != nil {
		return nil, err
	}
	u.record(ctx, AuditEntry{Action: AuditAssignRoles, User: user, Value: strings.Join(roles, ",")})
	return roles, nil
}

// quoteName quotes a name from a request for an error message, cut short
// and with anything unprintable replaced, so it cannot forge log lines.
func quoteName(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return `"` + strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '"' {
			return '?'
		}
		return r
	}, s) + `"`
}
