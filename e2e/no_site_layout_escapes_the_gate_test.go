//go:build unix

package e2e

// However the operator lays the site out (handle blocks, route, a
// top-level respond, file_server), every path of it is behind the gate;
// and the path rewrites of the site run before the check, which decides
// on the path that is forwarded.

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// siteLayout is a site written one way, with what its in-scope paths
// answer to a session of the market app.
type siteLayout struct {
	name string
	// routes is the site after anonymous_access; %[1]s is the backend's
	// address, %[2]s a directory of files.
	routes string
	// served maps an in-scope path to a part of its answer.
	served map[string]string
	// ws is a WebSocket path the layout proxies, if any.
	ws string
}

var siteLayouts = []siteLayout{
	{name: "handle blocks", ws: "/ws", routes: `
	handle /ws* {
		reverse_proxy %[1]s
	}
	handle /dashboards/* {
		reverse_proxy %[1]s
	}
	handle {
		respond "handle fallback"
	}`, served: map[string]string{marketEntry: "backend GET " + marketEntry, "/assets/app.js": "handle fallback"}},
	{name: "route", routes: `
	route {
		header X-Layout route
		reverse_proxy /dashboards/* %[1]s
		respond "route fallback"
	}`, served: map[string]string{marketEntry: "backend GET " + marketEntry, "/assets/app.js": "route fallback"}},
	{name: "top-level respond", routes: `
	respond /x "respond x"
	respond /dashboards/market/hello "respond hello"
	reverse_proxy %[1]s`, served: map[string]string{"/dashboards/market/hello": "respond hello", marketEntry: "backend GET " + marketEntry}},
	{name: "file_server", routes: `
	root * %[2]s
	file_server`, served: map[string]string{marketEntry: "market file", "/assets/app.js": "app file"}},
}

// siteFiles are the files the file_server layout serves.
var siteFiles = map[string]string{
	"dashboards/market.html": "market file",
	"assets/app.js":          "app file",
	"secret.html":            "secret file",
	"x":                      "x file",
	"index.html":             "index file",
}

// TestE2ENoSiteLayoutEscapesTheGate: for each layout, without a session
// every path is 401 and nothing reaches the backend or is served from
// disk; with a session its in-scope paths work and the rest is 403.
func TestE2ENoSiteLayoutEscapesTheGate(t *testing.T) {
	t.Parallel()
	root := writeSiteFiles(t)
	for _, layout := range siteLayouts {
		t.Run(layout.name, func(t *testing.T) {
			sb := newStreamBackend(t)
			g := startGateway(t, t.TempDir(), sb.backend, gatewayConfig{
				ExtraScope: " /ws*",
				Routes:     fmt.Sprintf(layout.routes, sb.addr(), root),
			})
			c := newClient(t)
			wantAllRefusedWithoutSession(t, g, sb, c, layout)
			market := g.open(t, c, "market", g.link(t, "market"))
			for path, want := range layout.served {
				r := getWith(t, c, g, market, path)
				wantStatus(t, layout.name+": "+path+" with a session", r, http.StatusOK)
				if !strings.Contains(string(r.Body), want) {
					t.Errorf("%s: %s with a session answered %q, want %q in it", layout.name, path, r.Body, want)
				}
			}
			for _, path := range []string{"/secret.html", "/x", "/"} {
				r := c.do(t, http.MethodGet, g.url(path), mergeHeaders(market.cookieHeader(), acceptHeader(false)), "")
				wantStatus(t, layout.name+": "+path+" (out of scope) with a session", r, http.StatusForbidden)
				if got := errorCode(r); got != "not_shared" {
					t.Errorf("%s: %s out of scope: error %q, want not_shared", layout.name, path, got)
				}
			}
			if layout.ws != "" {
				openWebSocket(t, c, g, market, layout.ws)
			}
		})
	}
}

// wantAllRefusedWithoutSession requests every path the layout knows of
// without a session: each is 401 no_session, none reaches the backend,
// and no answer carries what the layout would serve.
func wantAllRefusedWithoutSession(t *testing.T, g *gateway, sb *streamBackend, c *client, layout siteLayout) {
	t.Helper()
	paths := []string{"/secret.html", "/x", "/", "/index.html", "/ws", "/dashboards/market/hello"}
	for path := range layout.served {
		paths = append(paths, path)
	}
	n := sb.count()
	for _, path := range paths {
		for _, method := range []string{http.MethodGet, http.MethodHead, http.MethodPost} {
			r := c.do(t, method, g.url(path), acceptHeader(false), "")
			what := fmt.Sprintf("%s: %s %s without a session", layout.name, method, path)
			wantStatus(t, what, r, http.StatusUnauthorized)
			if method == http.MethodGet && errorCode(r) != "no_session" {
				t.Errorf("%s: error %q, want no_session", what, errorCode(r))
			}
			for _, content := range append(append(mapValues(layout.served), mapValues(siteFiles)...), "respond x", "fallback", "backend ") {
				if strings.Contains(string(r.Body), content) {
					t.Errorf("%s: the answer carries %q", what, content)
				}
			}
		}
	}
	if layout.ws != "" {
		_, resp, err := dialWebSocket(t, c, g, layout.ws, acceptHeader(false))
		wantRefusedUpgrade(t, layout.name+": WebSocket without a session", resp, err, http.StatusUnauthorized, "no_session")
	}
	if got := sb.count(); got != n {
		t.Errorf("%s: the backend saw %d requests without a session, first %s", layout.name, got-n, sb.requests()[n].RequestURI)
	}
}

func mapValues(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

func writeSiteFiles(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for name, content := range siteFiles {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// TestE2ERewritesRunBeforeTheCheck: uri strip_prefix and rewrite run
// before the gate, so it decides on the path that is forwarded: a path
// rewritten into the scope is served, one rewritten out of it is 403 and
// never reaches the backend, whatever the path that was sent.
func TestE2ERewritesRunBeforeTheCheck(t *testing.T) {
	t.Parallel()
	be := newBackend(t)
	g := startGateway(t, t.TempDir(), be, gatewayConfig{Routes: fmt.Sprintf(`
	uri strip_prefix /analytics
	rewrite /dashboards/market-old.html /secret.html
	rewrite /pub/market /dashboards/market.html
	reverse_proxy %s`, be.addr())})
	c := newClient(t)

	n := be.count()
	for _, path := range []string{"/analytics/dashboards/market.html", "/pub/market", "/analytics/secret.html"} {
		r := c.do(t, http.MethodGet, g.url(path), acceptHeader(false), "")
		wantStatus(t, path+" without a session", r, http.StatusUnauthorized)
	}
	if be.count() != n {
		t.Fatalf("the backend saw %d requests without a session", be.count()-n)
	}

	market := g.open(t, c, "market", g.link(t, "market"))
	for sent, forwarded := range map[string]string{
		"/analytics/dashboards/market.html": marketEntry,
		"/analytics/assets/app.js":          "/assets/app.js",
		"/pub/market":                       marketEntry,
	} {
		r := getWith(t, c, g, market, sent)
		wantStatus(t, sent+" rewritten into the scope", r, http.StatusOK)
		if got := be.last(t).Path; got != forwarded {
			t.Errorf("%s reached the backend as %s, want %s", sent, got, forwarded)
		}
	}
	n = be.count()
	for _, sent := range []string{"/analytics/secret.html", "/dashboards/market-old.html"} {
		r := c.do(t, http.MethodGet, g.url(sent), mergeHeaders(market.cookieHeader(), acceptHeader(false)), "")
		wantStatus(t, sent+" rewritten out of the scope", r, http.StatusForbidden)
		if got := errorCode(r); got != "not_shared" {
			t.Errorf("%s: error %q, want not_shared", sent, got)
		}
	}
	if be.count() != n {
		t.Errorf("a request rewritten out of the scope reached the backend as %s", be.last(t).RequestURI)
	}
}
