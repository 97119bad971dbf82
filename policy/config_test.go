package policy_test

import (
	"testing"
	"time"

	"github.com/anonaccess/caddy-anonymous-access/policy"
)

// TestConfigDefaults fills what is unset and keeps what is set.
func TestConfigDefaults(t *testing.T) {
	got := policy.TenantConfig{Prefix: "share/"}.WithDefaults()
	if got.Capacity != 100 || got.ClientSessions != 10 || got.SessionTTL != 15*time.Minute || got.RenewalWindow != 12*time.Hour || got.Prefix != "/share" {
		t.Fatalf("defaults %+v", got)
	}
	set := policy.TenantConfig{Capacity: 5, ClientSessions: policy.NoClientLimit, SessionTTL: time.Minute, RenewalWindow: time.Hour, Prefix: "/_s"}
	if got := set.WithDefaults(); got.Capacity != 5 || got.ClientSessions != policy.NoClientLimit || got.SessionTTL != time.Minute || got.RenewalWindow != time.Hour || got.Prefix != "/_s" {
		t.Fatalf("set values changed: %+v", got)
	}
}
