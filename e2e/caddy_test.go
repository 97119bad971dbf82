//go:build unix

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
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

// ---------------------------------------------------------------------------
// The backend

// seenRequest is one request as the backend received it.
type seenRequest struct {
	Method     string
	RequestURI string
	Path       string
	RawQuery   string
	Header     http.Header
	Body       string
}

// backend is the real upstream behind reverse_proxy. It records every
// request and answers "backend <method> <path>".
type backend struct {
	srv  *httptest.Server
	mu   sync.Mutex
	seen []seenRequest
}

func newBackend(t *testing.T) *backend {
	b := &backend{}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Recorded on arrival, so that a request whose body never
		// completes still counts as having reached the backend.
		b.mu.Lock()
		i := len(b.seen)
		b.seen = append(b.seen, seenRequest{
			Method: r.Method, RequestURI: r.RequestURI, Path: r.URL.Path, RawQuery: r.URL.RawQuery,
			Header: r.Header.Clone(),
		})
		b.mu.Unlock()
		body, _ := io.ReadAll(r.Body)
		b.mu.Lock()
		b.seen[i].Body = string(body)
		b.mu.Unlock()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "backend %s %s", r.Method, r.URL.Path)
	}))
	t.Cleanup(b.srv.Close)
	return b
}

func (b *backend) addr() string { return strings.TrimPrefix(b.srv.URL, "http://") }

func (b *backend) requests() []seenRequest {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]seenRequest(nil), b.seen...)
}

func (b *backend) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.seen)
}

func (b *backend) last(t *testing.T) seenRequest {
	t.Helper()
	all := b.requests()
	if len(all) == 0 {
		t.Fatal("the backend saw no request")
	}
	return all[len(all)-1]
}

// ---------------------------------------------------------------------------
// A Caddy process

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
	if cfg.AccessLog {
		g.accessLog = filepath.Join(dir, "access.log")
	}
	for _, d := range []string{"home", "data", "config"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := g.writeCaddyfile(cfg); err != nil {
		t.Fatal(err)
	}
	g.cmd = exec.Command(caddyBin, "run", "--config", g.caddyfile)
	g.cmd.Dir = dir
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
	return g
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
		ours = []byte("http://" + g.site)
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
		resp, err = adminClient.Get("http://" + g.site + "/_anon/open/probe")
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

func (g *gateway) url(path string) string { return "http://" + g.site + path }

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
	if want := "http://" + g.site + "/_anon/open/" + app; u.Scheme+"://"+u.Host+u.Path != want || u.RawQuery != "" {
		t.Fatalf("link = %q, want %s#code=...", line, want)
	}
	frag, err := url.ParseQuery(u.Fragment)
	if err != nil || frag.Get("code") == "" {
		t.Fatalf("link %q has no code in its fragment", line)
	}
	return frag.Get("code")
}

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
