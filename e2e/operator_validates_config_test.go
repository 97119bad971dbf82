//go:build unix

package e2e

// An operator checks a configuration with `caddy validate` while Caddy
// runs on it, before reloading.

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// validate runs `caddy validate` on file with g's environment.
func (g *gateway) validate(t *testing.T, file string) (string, time.Duration, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, caddyBin, "validate", "--config", file)
	cmd.Dir, cmd.Env = g.dir, g.env()
	start := time.Now()
	out, err := cmd.CombinedOutput()
	return string(out), time.Since(start), err
}

// TestE2EValidateWhileRunning: validating the running configuration passes
// without waiting for the bolt file the running Caddy holds and without
// touching its state; a broken configuration is refused with its reason.
func TestE2EValidateWhileRunning(t *testing.T) {
	t.Parallel()
	be := newBackend(t)
	g := startGateway(t, t.TempDir(), be, gatewayConfig{})
	code := g.link(t, "market")

	out, took, err := g.validate(t, g.caddyfile)
	if err != nil || !strings.Contains(out, "Valid configuration") {
		t.Fatalf("validating the running config: %v\n%s", err, out)
	}
	// The store's lock wait is 5 s: a validation that opened the file
	// would have waited for it and failed.
	if took > 4*time.Second {
		t.Errorf("validation took %v", took)
	}

	running, err := os.ReadFile(g.caddyfile)
	if err != nil {
		t.Fatal(err)
	}
	broken := filepath.Join(g.dir, "Caddyfile.broken")
	bad := strings.Replace(string(running), "entry /dashboards/market.html", "entry /elsewhere/market.html", 1)
	if bad == string(running) {
		t.Fatal("the template's market entry moved; update this test")
	}
	if err := os.WriteFile(broken, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	out, _, err = g.validate(t, broken)
	if err == nil || !strings.Contains(out, "entry") {
		t.Fatalf("validating a broken config: %v\n%s", err, out)
	}

	alive(t, g)
	if got := g.link(t, "market"); got != code {
		t.Error("validation changed the running state")
	}
}
