package policy

import (
	"fmt"
	"strings"
	"testing"
)

// TestPermissionMatrix decides every action for every tenant role, every
// space role (and none) and Public link creation allowed or denied, from
// an access model built the way the management API builds it, against the
// table in DESIGN.md ("Management API").
func TestPermissionMatrix(t *testing.T) {
	// Who may: any listed space role, or any listed tenant role; "*"
	// means everyone; plc means Public link creation must also be allowed.
	table := map[Action]struct {
		space, tenant string
		plc           bool
	}{
		ActSetAnonymousAccess: {space: "owner can_manage", plc: true},
		ActResetCode:          {space: "owner can_manage", plc: true},
		ActCopyEmbedCode:      {space: "owner can_manage", plc: true},
		ActCopyLink:           {space: "owner can_manage can_contribute can_view has_restricted_view can_operate"},
		ActSeeAnonymousMember: {space: "owner can_manage"},
		ActManageMembers:      {space: "owner can_manage"},
		ActEditApp:            {space: "owner can_manage"},
		ActPublishApp:         {space: "owner can_manage can_contribute"},
		ActViewSpace:          {space: "owner can_manage can_contribute can_view has_restricted_view can_operate", tenant: "tenant_admin"},
		ActManageRoles:        {tenant: "tenant_admin"},
		ActViewAudit:          {tenant: "tenant_admin"},
		ActViewCapacity:       {tenant: "tenant_admin analytics_admin"},
		ActCreateManagedSpace: {tenant: "tenant_admin analytics_admin"},
		ActCreateSpace:        {space: "*"},
	}
	if len(table) != len(everyAction) {
		t.Fatalf("the table covers %d actions, policy has %d", len(table), len(everyAction))
	}
	tenantRoles := []string{"none", "Viewers", RoleTenantAdmin, RoleAnalyticsAdmin}
	spaceRoles := append([]SpaceRole{""}, SpaceRoles...)
	// Public link creation reaches a user through User Default or through
	// a custom role; both ways are tried.
	plcs := []string{"denied", "user-default", "custom-role"}
	space := &Space{ID: "stats", Type: SpaceManaged, Owner: "olivia"}
	cases := 0
	for _, tr := range tenantRoles {
		for _, sr := range spaceRoles {
			for _, plc := range plcs {
				user := "u"
				if sr == SpaceOwner {
					user = "olivia"
				}
				m := AccessModel{UserDefault: GrantDenied, Roles: map[string]Role{
					"Viewers":    {Name: "Viewers", PublicLinkCreation: GrantDenied},
					"Publishers": {Name: "Publishers", PublicLinkCreation: GrantAllowed},
				}, Users: map[string][]string{}, Members: map[string]map[string]SpaceRole{"stats": {}}}
				if tr != "none" {
					m.Users[user] = append(m.Users[user], tr)
				}
				switch plc {
				case "user-default":
					m.UserDefault = GrantAllowed
				case "custom-role":
					m.Users[user] = append(m.Users[user], "Publishers")
				}
				if sr != "" && sr != SpaceOwner {
					m.Members["stats"][user] = sr
				}
				s := m.Subject(user, Admins{}, space)
				for _, act := range everyAction {
					rule := table[act]
					want := rule.space == "*" ||
						(sr != "" && strings.Contains(" "+rule.space+" ", " "+string(sr)+" ")) ||
						(tr != "none" && strings.Contains(" "+rule.tenant+" ", " "+tr+" "))
					if rule.plc && plc == "denied" {
						want = false
					}
					if got := Allowed(s, act); got != want {
						t.Errorf("tenant role %s, space role %q, public link creation %s, %s: allowed=%v, want %v", tr, sr, plc, act, got, want)
					}
					cases++
				}
			}
		}
	}
	if cases != 4*7*3*len(everyAction) {
		t.Fatalf("decided %d cases", cases)
	}
}

// TestConfiguredAdmins checks that admins named in the configuration are
// admins without any assignment, and get no Public link creation from it.
func TestConfiguredAdmins(t *testing.T) {
	m := AccessModel{}
	admins := Admins{Tenant: map[string]bool{"alice": true}, Analytics: map[string]bool{"carol": true}}
	for _, tc := range []struct {
		user              string
		manage, capacity  bool
		publicLinkCreated bool
	}{
		{"alice", true, true, false},
		{"carol", false, true, false},
		{"bob", false, false, false},
	} {
		s := m.Subject(tc.user, admins, nil)
		got := fmt.Sprint(Allowed(s, ActManageRoles), Allowed(s, ActViewCapacity), s.PublicLinkCreation)
		want := fmt.Sprint(tc.manage, tc.capacity, tc.publicLinkCreated)
		if got != want {
			t.Errorf("%s: manage roles, view capacity, public link creation = %s, want %s", tc.user, got, want)
		}
	}
}

func TestValidateUserID(t *testing.T) {
	for _, ok := range []string{"alice", "bob@example.com", "auth0|1234", "A.B-c_d+e:f"} {
		if err := ValidateUserID("user", ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "a/b", "..", "a..b", ".hidden", "a b", "a\x00b", "a\nb", "a%2fb", "é", strings.Repeat("x", 129)} {
		if err := ValidateUserID("user", bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestValidateRoleName(t *testing.T) {
	for _, ok := range []string{"Publishers", "Data team 2", "ops-east_1.b"} {
		if err := ValidateRoleName(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", " lead", "trail ", "a/b", "User Default", "user default", "tenant_admin", "analytics_admin", "x\ty", strings.Repeat("r", 65)} {
		if err := ValidateRoleName(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
