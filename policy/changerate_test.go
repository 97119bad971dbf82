package policy_test

import (
	"errors"
	"testing"
	"time"

	"github.com/anonaccess/caddy-anonymous-access/policy"
)

// TestChangesPerMinute checks that one tenant user cannot make more than
// ChangesPerMinute changes in a minute, and that others are not held back.
func TestChangesPerMinute(t *testing.T) {
	f := newFixture(t, 10)
	for i := range policy.ChangesPerMinute {
		if err := f.t.AllowChange("eve"); err != nil {
			t.Fatalf("change %d: %v", i+1, err)
		}
	}
	err := f.t.AllowChange("eve")
	var cl *policy.RetryError
	if !errors.Is(err, policy.ErrTooManyChanges) || !errors.As(err, &cl) || cl.RetryAfter <= 0 || cl.RetryAfter > time.Minute {
		t.Fatalf("one change too many: %v", err)
	}
	if err := f.t.AllowChange("alice"); err != nil {
		t.Fatalf("another user: %v", err)
	}
	if err := f.t.AllowChange("192.0.2.1"); err != nil {
		t.Fatalf("a user whose id looks like an address: %v", err)
	}
	f.clock.Advance(time.Minute)
	if err := f.t.AllowChange("eve"); err != nil {
		t.Fatalf("the next minute: %v", err)
	}
}
