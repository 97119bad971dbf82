//go:build unix

package e2e

// The operator's tools as the tests use them: the CLI verbs of the built
// binary and the admin API's routes.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// cli runs `caddy anonymous-access <args> --address <admin>`.
func (g *gateway) cli(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	argv := append(append([]string{"anonymous-access"}, args...), "--address", g.admin)
	cmd := exec.CommandContext(ctx, caddyBin, argv...)
	cmd.Dir = g.dir
	cmd.Env = g.env()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("caddy %s: %v\n%s", strings.Join(argv, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

func (g *gateway) mustCLI(t *testing.T, args ...string) string {
	t.Helper()
	out, err := g.cli(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// link runs the link verb, checks the link's shape (the code only in the
// fragment) and returns the access code.
func (g *gateway) link(t *testing.T, app string) string {
	t.Helper()
	out := g.mustCLI(t, "link", app)
	line := strings.TrimSuffix(out, "\n")
	if strings.Contains(line, "\n") {
		t.Fatalf("link printed more than one line: %q", out)
	}
	u, err := url.Parse(line)
	if err != nil {
		t.Fatalf("link %q: %v", line, err)
	}
	if want := g.url("/_anon/open/" + app); u.Scheme+"://"+u.Host+u.Path != want || u.RawQuery != "" {
		t.Fatalf("link = %q, want %s#code=...", line, want)
	}
	frag, err := url.ParseQuery(u.Fragment)
	if err != nil || frag.Get("code") == "" {
		t.Fatalf("link %q has no code in its fragment", line)
	}
	return frag.Get("code")
}

// linkURL is an app's public link as the gateway hands it out.
func (g *gateway) linkURL(t *testing.T, app string) string {
	t.Helper()
	return g.url("/_anon/open/" + app + "#code=" + g.link(t, app))
}

// adminGet fetches a path of the admin endpoint.
func (g *gateway) adminGet(t *testing.T, path string) []byte {
	t.Helper()
	resp, err := adminClient.Get("http://" + g.admin + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET admin %s: %d %s", path, resp.StatusCode, b)
	}
	return b
}

// adminStatus fetches an admin path and returns its status.
func adminStatus(t *testing.T, g *gateway, path string) int {
	t.Helper()
	resp, err := adminClient.Get("http://" + g.admin + path)
	if err != nil {
		t.Fatalf("admin %s: %v", path, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// capacityReport is the JSON of the capacity admin route.
type capacityReport struct {
	Tenant   string         `json:"tenant"`
	Capacity int            `json:"capacity"`
	Active   int            `json:"active"`
	Peak     int            `json:"peak"`
	PerApp   map[string]int `json:"per_app"`
}

func (g *gateway) capacity(t *testing.T) capacityReport {
	t.Helper()
	var rep capacityReport
	if b := g.adminGet(t, "/anonymous-access/capacity"); json.Unmarshal(b, &rep) != nil {
		t.Fatalf("capacity: %s", b)
	}
	return rep
}

// appState is the part of an app object the tests look at.
type appState struct {
	ID              string   `json:"id"`
	Scope           []string `json:"scope"`
	AnonymousAccess bool     `json:"anonymous_access"`
}

func (g *gateway) apps(t *testing.T) map[string]appState {
	t.Helper()
	var list []appState
	if b := g.adminGet(t, "/anonymous-access/apps"); json.Unmarshal(b, &list) != nil {
		t.Fatalf("apps: %s", b)
	}
	out := map[string]appState{}
	for _, a := range list {
		out[a.ID] = a
	}
	return out
}

// embedCode is an app's embed code from the admin API.
func (g *gateway) embedCode(t *testing.T, app string) string {
	t.Helper()
	var out struct{ HTML string }
	if err := json.Unmarshal(g.adminGet(t, "/anonymous-access/apps/"+app+"/embed-code"), &out); err != nil || out.HTML == "" {
		t.Fatalf("embed code of %s: %v", app, err)
	}
	return out.HTML
}
