//go:build unix

package e2e

// Gateways whose apps and routes a test writes itself
// (testdata/site.Caddyfile.tmpl): a real backend behind its own app block,
// the README's recipes as they are printed, a site over HTTPS.

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"text/template"
)

// site is what a test writes into testdata/site.Caddyfile.tmpl.
type site struct {
	// TLS serves the site at https://localhost:<port> with tls internal,
	// over HTTP/1.1 and HTTP/2.
	TLS bool
	// Apps are app blocks, inside anonymous_access.
	Apps string
	// Routes is the rest of the site: reverse_proxy, file_server, ….
	Routes string
}

type siteData struct {
	site
	Admin, Origin, Bolt string
	HTTPPort            int
}

var siteTemplate = sync.OnceValues(func() (*template.Template, error) {
	return template.ParseFiles(filepath.Join("testdata", "site.Caddyfile.tmpl"))
})

// startSite runs Caddy on a site laid out by s, with its own ports,
// directories and bolt file, and waits until it serves.
func startSite(t *testing.T, s site) *gateway {
	t.Helper()
	dir := t.TempDir()
	port := freePort(t)
	g := &gateway{
		dir:       dir,
		admin:     fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		site:      fmt.Sprintf("127.0.0.1:%d", port),
		caddyfile: filepath.Join(dir, "Caddyfile"),
		bolt:      filepath.Join(dir, "state.db"),
		exited:    make(chan struct{}),
	}
	g.origin = "http://" + g.site
	if s.TLS {
		g.origin = fmt.Sprintf("https://localhost:%d", port)
	}
	tmpl, err := siteTemplate()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	err = tmpl.Execute(&buf, siteData{site: s, Admin: g.admin, Origin: g.origin, Bolt: g.bolt, HTTPPort: freePort(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(g.caddyfile, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	g.run(t)
	return g
}

// newTLSClient is a client of g's site over TLS (its own loopback address,
// no redirects followed, no cookie jar) that trusts only the CA of g's
// Caddy, read from its data directory, and speaks HTTP/2 like a browser.
func newTLSClient(t *testing.T, g *gateway) *client {
	t.Helper()
	root, err := os.ReadFile(filepath.Join(g.dir, "data", "caddy", "pki", "authorities", "local", "root.crt"))
	if err != nil {
		t.Fatalf("the root of Caddy's local CA: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(root) {
		t.Fatal("the root of Caddy's local CA is not PEM")
	}
	c := newClient(t)
	tr := c.hc.Transport.(*http.Transport)
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	// A transport with its own dialer speaks HTTP/2 only when asked.
	tr.ForceAttemptHTTP2 = true
	return c
}

// recipe is the block `app <id> { … }` printed in the README's Recipes
// section, as the tests run it: what the README recommends is what was
// tested.
func recipe(t *testing.T, id string) string {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join(pluginRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n## Recipes\n")
	if !ok {
		t.Fatal("README.md has no Recipes section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	block := appBlock(section, id)
	if block == "" {
		t.Fatalf("README.md's Recipes have no block app %s", id)
	}
	return block
}

// appBlock finds `app <id> {` in text and returns the lines up to the
// brace that closes it, at the same indentation.
func appBlock(text, id string) string {
	lines := strings.Split(text, "\n")
	for i, line := range lines {
		if strings.TrimSpace(line) != "app "+id+" {" {
			continue
		}
		indent := line[:len(line)-len(strings.TrimLeft(line, " \t"))]
		for j := i + 1; j < len(lines); j++ {
			if lines[j] == indent+"}" {
				return strings.Join(lines[i:j+1], "\n")
			}
		}
	}
	return ""
}

// withoutComments is a Caddyfile block without its comments, blank lines
// and indentation, for comparing two copies of it.
func withoutComments(block string) string {
	var out []string
	for _, line := range strings.Split(block, "\n") {
		if i := strings.Index(line, "#"); i >= 0 {
			line = line[:i]
		}
		if line = strings.Join(strings.Fields(line), " "); line != "" {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}
