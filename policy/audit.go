package policy

import "time"

// AuditRetention is how many audit entries a store keeps per tenant; the
// oldest go first.
const AuditRetention = 100_000

// The actions of audit entries.
const (
	AuditPublishApp            = "publish_app"
	AuditEditApp               = "edit_app"
	AuditDeleteApp             = "delete_app"
	AuditSetAnonymousAccess    = "set_anonymous_access"
	AuditResetCode             = "reset_code"
	AuditSetPublicLinkCreation = "set_public_link_creation"
	AuditCreateRole            = "create_role"
	AuditUpdateRole            = "update_role"
	AuditAssignRoles           = "assign_roles"
	AuditCreateSpace           = "create_space"
	AuditSetMember             = "set_member"
	AuditRemoveMember          = "remove_member"
)

// auditLabels say each audit action in words, for people reading the log.
var auditLabels = map[string]string{
	AuditPublishApp:            "Published an app",
	AuditEditApp:               "Edited an app",
	AuditDeleteApp:             "Deleted an app",
	AuditSetAnonymousAccess:    "Set anonymous access",
	AuditResetCode:             "Reset the access code",
	AuditSetPublicLinkCreation: "Set Public link creation",
	AuditCreateRole:            "Created a role",
	AuditUpdateRole:            "Changed a role",
	AuditAssignRoles:           "Assigned roles",
	AuditCreateSpace:           "Created a space",
	AuditSetMember:             "Set a member",
	AuditRemoveMember:          "Removed a member",
}

// AuditLabel says an audit action in words. An action this version does
// not know (written by a newer instance sharing the store) is said as it
// is stored.
func AuditLabel(action string) string {
	if l, ok := auditLabels[action]; ok {
		return l
	}
	return action
}

// OperatorActor is the actor of changes made on the operator's admin
// endpoint, where no tenant user signs in.
const OperatorActor = "operator (admin API)"

// OnOff is the audit value of an anonymous-access state.
func OnOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}

// AuditEntry records one change made through the management API: who did
// what, when, from where. It never holds an access code, a token or a
// session id.
type AuditEntry struct {
	// ID increases with every entry of a tenant; pages are asked for
	// before an ID.
	ID     uint64    `json:"id"`
	Time   time.Time `json:"time"`
	Actor  string    `json:"actor"`
	From   string    `json:"from,omitempty"`
	Action string    `json:"action"`
	Space  string    `json:"space,omitempty"`
	App    string    `json:"app,omitempty"`
	User   string    `json:"user,omitempty"`
	Role   string    `json:"role,omitempty"`
	// Value is the new value, when the action sets one: "on", "off",
	// "allowed", a space role, a list of roles.
	Value string `json:"value,omitempty"`
}

// AuditView is an audit entry as the management API returns it: the
// entry as stored, and its action in words. The label is not stored, so
// old entries read with the words of the version that answers.
type AuditView struct {
	AuditEntry
	// Label is AuditLabel(Action).
	Label string `json:"label"`
}
