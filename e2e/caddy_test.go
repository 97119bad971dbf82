//go:build unix

package e2e

// End-to-end tests: the real Caddy binary with this plugin, built once in
// TestMain, in front of a real backend (httptest) through reverse_proxy,
// driven over HTTP, through the admin API and with the CLI verbs. Every
// Caddy process gets its own ports (site and admin), HOME, XDG directories
// and bolt file, so the tests run in parallel without sharing state.
//
// This file builds the binary and runs Caddy processes (gateways).

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/template"
	"time"

	"github.com/anonaccess/caddy-anonymous-access/policy/redisstore/redistest"
)

const (
	modulePath   = "github.com/anonaccess/caddy-anonymous-access"
	cookiePrefix = "__Host-anon_"
	marketEntry  = "/dashboards/market.html"
	salesEntry   = "/reports/sales/index.html"
	opsEntry     = "/ops/index.html"
	e2eTenant    = "e2e"
)

// caddyBin is the Caddy build with this plugin, shared by every test.
var caddyBin string

// pluginRoot is the directory of the plugin's module (the repository
// root): the binary is built there, with the plugin's own go.mod, and
// screenshots go under it.
var pluginRoot string

// adminClient talks to admin endpoints and probes readiness. It keeps no
// connection open to a process that a test is about to stop.
var adminClient = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// probeClient asks a site whether it serves yet. It accepts any
// certificate: readiness is all it checks, and the tests of a site over
// TLS verify the chain with clients of their own.
var probeClient = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
	DisableKeepAlives: true,
	TLSClientConfig:   &tls.Config{InsecureSkipVerify: true},
}}

func TestMain(m *testing.M) {
	os.Exit(runWithCaddy(m))
}

func runWithCaddy(m *testing.M) int {
	dir, err := os.MkdirTemp("", "anon-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	root, err := moduleDir(modulePath)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: finding the plugin's module:", err)
		return 1
	}
	bin := filepath.Join(dir, "caddy")
	build := exec.Command("go", "build", "-o", bin, modulePath+"/xcaddy")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: building caddy: %v\n%s", err, out)
		return 1
	}
	caddyBin, pluginRoot = bin, root
	return m.Run()
}

// moduleDir is where the module path's source is, as this module's
// go.mod resolves it: the replace directive makes it the repository
// root, so the tests run the plugin as it is in the working tree.
func moduleDir(path string) (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", path).Output()
	if err != nil {
		return "", fmt.Errorf("go list -m %s: %w", path, err)
	}
	dir := strings.TrimSpace(string(out))
	if dir == "" {
		return "", fmt.Errorf("go list -m %s: no directory", path)
	}
	return dir, nil
}

// freePort returns a port no other server of this test binary gets.
func freePort(t *testing.T) int { return redistest.FreePort(t) }

// gatewayConfig is what varies in testdata/Caddyfile.tmpl.
type gatewayConfig struct {
	Capacity int
	// SessionTTL overrides session_ttl when set.
	SessionTTL string
	// Debug logs at DEBUG level to stderr.
	Debug bool
	// AccessLog writes an access log next to the state file.
	AccessLog bool
	// WithoutOps leaves the ops app out.
	WithoutOps bool
	// ExtraScope is appended to the market app's scope.
	ExtraScope string
	// BrokenTransport names a missing client certificate, which makes
	// reverse_proxy fail to provision after anonymous_access did.
	BrokenTransport string
	// RedisURL, when set, keeps the tenant's state in Redis (storage
	// redis <url>) instead of the bolt file: cluster mode.
	RedisURL string
	// IdentityKey names a PEM public key file for identity jwt; without
	// it the tokens are checked with idpSecret.
	IdentityKey string
	// IdentityHeader switches identity to a trusted header.
	IdentityHeader string
	// ExtraEmbedOrigins is appended to embed_origins (with a leading
	// space).
	ExtraEmbedOrigins string
	// ErrorPages sets error_pages (builtin or caddy).
	ErrorPages string
	// PublishedMethods sets published_apps' methods: the most an app
	// tenant users publish may allow (without it, GET HEAD).
	PublishedMethods string
	// Routes, when set, replaces the site's reverse_proxy: the rest of
	// the site as an operator lays it out (handle blocks, route, respond,
	// file_server, rewrites, handle_errors), inserted as it is.
	Routes string
}

type caddyfileData struct {
	gatewayConfig
	Admin, Site, Backend, Bolt, AccessLog string
	IdentitySecret, IdentityIssuer        string
}

var caddyfileTemplate = sync.OnceValues(func() (*template.Template, error) {
	return template.ParseFiles(filepath.Join("testdata", "Caddyfile.tmpl"))
})

// gateway is one running Caddy process.
type gateway struct {
	dir       string
	cfg       gatewayConfig
	backend   *backend
	admin     string
	site      string
	origin    string // as viewers reach the site: http://<site>, or https://localhost:<port> over TLS
	caddyfile string
	bolt      string
	accessLog string

	cmd      *exec.Cmd
	stdout   redistest.LogBuffer
	stderr   redistest.LogBuffer
	exited   chan struct{}
	waitErr  error
	stopOnce sync.Once
}

// startGateway runs Caddy with state under dir (HOME, XDG directories,
// bolt file), on fresh ports, and waits until it serves.
func startGateway(t *testing.T, dir string, be *backend, cfg gatewayConfig) *gateway {
	t.Helper()
	if cfg.Capacity == 0 {
		cfg.Capacity = 100
	}
	g := &gateway{
		dir:       dir,
		cfg:       cfg,
		backend:   be,
		admin:     fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		site:      fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		caddyfile: filepath.Join(dir, "Caddyfile"),
		bolt:      filepath.Join(dir, "state.db"),
		exited:    make(chan struct{}),
	}
	g.origin = "http://" + g.site
	if cfg.AccessLog {
		g.accessLog = filepath.Join(dir, "access.log")
	}
	if err := g.writeCaddyfile(cfg); err != nil {
		t.Fatal(err)
	}
	g.run(t)
	return g
}

// run starts Caddy on g's Caddyfile, with HOME and XDG directories under
// g's directory, and waits until it serves; the test's cleanup stops it.
func (g *gateway) run(t *testing.T) {
	t.Helper()
	for _, d := range []string{"home", "data", "config"} {
		if err := os.MkdirAll(filepath.Join(g.dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	g.cmd = exec.Command(caddyBin, "run", "--config", g.caddyfile)
	g.cmd.Dir = g.dir
	g.cmd.Env = g.env()
	g.cmd.Stdout = &g.stdout
	g.cmd.Stderr = &g.stderr
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		g.waitErr = g.cmd.Wait()
		close(g.exited)
	}()
	t.Cleanup(func() {
		if err := g.stop(); err != nil {
			t.Errorf("stopping caddy: %v\n%s", err, g.stderr.String())
		}
	})
	g.waitReady(t)
}

func (g *gateway) writeCaddyfile(cfg gatewayConfig) error {
	tmpl, err := caddyfileTemplate()
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	err = tmpl.Execute(&buf, caddyfileData{
		gatewayConfig: cfg, Admin: g.admin, Site: g.site, Backend: g.backend.addr(),
		Bolt: g.bolt, AccessLog: g.accessLog, IdentitySecret: idpSecret, IdentityIssuer: idpIssuer,
	})
	if err != nil {
		return err
	}
	return os.WriteFile(g.caddyfile, buf.Bytes(), 0o600)
}

// env is the environment of this gateway's processes (server and CLI):
// its own HOME and XDG directories, no proxies.
func (g *gateway) env() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch strings.ToUpper(k) {
		case "HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY":
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		"HOME="+filepath.Join(g.dir, "home"),
		"XDG_DATA_HOME="+filepath.Join(g.dir, "data"),
		"XDG_CONFIG_HOME="+filepath.Join(g.dir, "config"),
	)
}

// waitReady polls until the admin endpoint serves this process's config
// (its bolt path, or with Redis its site address, proves it is ours) and
// the site answers the landing page.
func (g *gateway) waitReady(t *testing.T) {
	t.Helper()
	ours := []byte(g.bolt)
	if g.cfg.RedisURL != "" {
		ours = []byte(g.origin)
	}
	ready := func() bool {
		resp, err := adminClient.Get("http://" + g.admin + "/config/")
		if err != nil {
			return false
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !bytes.Contains(b, ours) {
			return false
		}
		resp, err = probeClient.Get(g.url("/_anon/open/probe"))
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	deadline := time.Now().Add(30 * time.Second)
	for !ready() {
		if time.Now().After(deadline) {
			t.Fatalf("caddy not ready after 30s\n%s", g.stderr.String())
		}
		select {
		case <-g.exited:
			t.Fatalf("caddy exited before it was ready: %v\n%s", g.waitErr, g.stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// stop ends the process gracefully (SIGTERM, so the store flushes) and
// waits for it. It reports a process that had to be killed or that exited
// with an error.
func (g *gateway) stop() error {
	var err error
	g.stopOnce.Do(func() {
		select {
		case <-g.exited:
			err = fmt.Errorf("caddy had already exited: %v", g.waitErr)
			return
		default:
		}
		_ = g.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-g.exited:
			err = g.waitErr
		case <-time.After(20 * time.Second):
			_ = g.cmd.Process.Kill()
			<-g.exited
			err = errors.New("caddy did not stop within 20s of SIGTERM")
		}
	})
	return err
}

func (g *gateway) url(path string) string { return g.origin + path }

// reload writes cfg to the Caddyfile and runs `caddy reload`.
func (g *gateway) reload(cfg gatewayConfig) error {
	if err := g.writeCaddyfile(cfg); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, caddyBin, "reload", "--config", g.caddyfile, "--address", g.admin)
	cmd.Dir = g.dir
	cmd.Env = g.env()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("caddy reload: %v\n%s", err, out)
	}
	g.cfg = cfg
	return nil
}

// alive fails the test if g's process has exited.
func alive(t *testing.T, g *gateway) {
	t.Helper()
	select {
	case <-g.exited:
		t.Fatalf("caddy at %s exited: %v\n%s", g.site, g.waitErr, g.stderr.String())
	default:
	}
}
