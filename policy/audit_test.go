package policy_test

import (
	"testing"

	"github.com/anonaccess/caddy-anonymous-access/policy"
)

// TestAuditLabel says every audit action in words, and an action it does
// not know as it is stored.
func TestAuditLabel(t *testing.T) {
	for action, want := range map[string]string{
		policy.AuditPublishApp:            "Published an app",
		policy.AuditEditApp:               "Edited an app",
		policy.AuditDeleteApp:             "Deleted an app",
		policy.AuditSetAnonymousAccess:    "Set anonymous access",
		policy.AuditResetCode:             "Reset the access code",
		policy.AuditSetPublicLinkCreation: "Set Public link creation",
		policy.AuditCreateRole:            "Created a role",
		policy.AuditUpdateRole:            "Changed a role",
		policy.AuditAssignRoles:           "Assigned roles",
		policy.AuditCreateSpace:           "Created a space",
		policy.AuditSetMember:             "Set a member",
		policy.AuditRemoveMember:          "Removed a member",
		"rotate_link":                     "rotate_link",
		"":                                "",
	} {
		if got := policy.AuditLabel(action); got != want {
			t.Errorf("AuditLabel(%q) = %q, want %q", action, got, want)
		}
	}
}
