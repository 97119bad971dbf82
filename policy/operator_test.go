package policy_test

import (
	"context"
	"testing"

	"github.com/anonaccess/caddy-anonymous-access/policy"
)

// TestOperatorChangesAreAudited checks that the operator's changes need no
// tenant permission and are recorded as the operator's, from the admin
// client's address, while what fails or only reads records nothing.
func TestOperatorChangesAreAudited(t *testing.T) {
	f := newFixture(t, 10)
	ctx := context.Background()
	op := f.t.AsOperator("203.0.113.7")
	oldCode := f.code(t, "market")
	if a, err := op.SetAnonymousAccess(ctx, "market", false); err != nil || a.AnonymousAccess {
		t.Fatalf("disable: %+v, %v", a, err)
	}
	if _, err := op.SetAnonymousAccess(ctx, "ghost", true); err != policy.ErrUnknownApp {
		t.Fatalf("enable an unknown app: %v", err)
	}
	if _, err := op.SetAnonymousAccess(ctx, "notes", true); err != policy.ErrNotManaged {
		t.Fatalf("enable an app of a shared space: %v", err)
	}
	if a, err := op.SetAnonymousAccess(ctx, "market", true); err != nil || !a.AnonymousAccess {
		t.Fatalf("enable: %+v, %v", a, err)
	}
	if _, err := op.ResetCode(ctx, "market"); err != nil {
		t.Fatal(err)
	}
	if f.code(t, "market") == oldCode {
		t.Fatal("the code did not change")
	}
	if _, err := op.Link("market"); err != nil {
		t.Fatal(err)
	}
	log, err := f.store.AuditLog(ctx, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []policy.AuditEntry{
		{Action: policy.AuditResetCode},
		{Action: policy.AuditSetAnonymousAccess, Value: "on"},
		{Action: policy.AuditSetAnonymousAccess, Value: "off"},
	}
	if len(log) != len(want) {
		t.Fatalf("audit log %+v, want %d entries", log, len(want))
	}
	for i, e := range log {
		w := want[i]
		if e.Actor != policy.OperatorActor || e.From != "203.0.113.7" || e.Action != w.Action ||
			e.Space != "stats" || e.App != "market" || e.Value != w.Value || e.Time.IsZero() {
			t.Errorf("entry %d: %+v, want the operator's %s %q of stats/market", i, e, w.Action, w.Value)
		}
	}
}
