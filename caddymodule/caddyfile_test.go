package caddymodule

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestUnmarshalCaddyfile(t *testing.T) {
	d := caddyfile.NewTestDispenser(`anonymous_access {
		tenant acme
		capacity 5
		client_sessions 0
		session_ttl 10m
		renewal_window 1h
		prefix /_s
		storage bolt /tmp/x.db
		signing_key {env.KEY}
		embed_origins https://a.example https://b.example
		public_url https://share.example.com
		space stats {
			type managed
			name "Public statistics"
			owner alice
		}
		app market {
			space stats
			name "Market trends"
			entry /d/m.html
			scope /d/m* /assets/*
			methods GET
			deny /assets/x/*
			anonymous on
		}
	}`)
	var h Handler
	if err := h.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	want := Handler{
		Tenant: "acme", Capacity: 5, ClientSessions: new(int), SessionTTL: caddy.Duration(10 * 60e9), RenewalWindow: caddy.Duration(3600e9),
		Prefix: "/_s", Storage: &Storage{Type: "bolt", Path: "/tmp/x.db"}, SigningKey: "{env.KEY}",
		EmbedOrigins: []string{"https://a.example", "https://b.example"}, PublicURL: "https://share.example.com",
		Spaces: []SpaceConfig{{ID: "stats", Type: "managed", Name: "Public statistics", Owner: "alice"}},
		Apps: []AppConfig{{ID: "market", Space: "stats", Name: "Market trends", Entry: "/d/m.html",
			Scope: []string{"/d/m*", "/assets/*"}, Methods: []string{"GET"}, Deny: []string{"/assets/x/*"}, Anonymous: true}},
	}
	if !reflect.DeepEqual(h, want) {
		t.Fatalf("got  %+v\nwant %+v", h, want)
	}
}

func TestUnmarshalCaddyfileErrors(t *testing.T) {
	tests := map[string]struct {
		input, wantErr string // wantErr: fragments separated by |
	}{
		"unknown":            {"anonymous_access {\n tenant a\n colour blue\n}", "Testfile:3|unknown subdirective \"colour\""},
		"duplicate":          {"anonymous_access {\n capacity 1\n capacity 2\n}", "Testfile:3|duplicate subdirective \"capacity\""},
		"argument":           {"anonymous_access extra {\n}", "Testfile:1"},
		"capacity not int":   {"anonymous_access {\n capacity many\n}", "Testfile:2|capacity must be a whole number"},
		"capacity zero":      {"anonymous_access {\n capacity 0\n}", "Testfile:2"},
		"capacity two args":  {"anonymous_access {\n capacity 1 2\n}", "Testfile:2"},
		"client_sessions":    {"anonymous_access {\n client_sessions -1\n}", "Testfile:2|client_sessions must be a whole number of sessions, 0 for no limit"},
		"client_sessions 2":  {"anonymous_access {\n client_sessions\n}", "Testfile:2"},
		"ttl":                {"anonymous_access {\n session_ttl soon\n}", "Testfile:2|session_ttl must be a positive duration"},
		"ttl negative":       {"anonymous_access {\n renewal_window -1h\n}", "Testfile:2"},
		"prefix":             {"anonymous_access {\n prefix anon\n}", "Testfile:2|prefix must start with /"},
		"prefix empty":       {"anonymous_access {\n prefix \"\"\n}", "Testfile:2|prefix must start with /"},
		"redis flag arg":     {"anonymous_access {\n storage redis {\n  url redis://x\n  tls yes\n }\n}", "Testfile:4|tls takes no argument"},
		"storage":            {"anonymous_access {\n storage s3 bucket\n}", "Testfile:2|unknown storage \"s3\""},
		"redis no address":   {"anonymous_access {\n storage redis {\n  db 1\n }\n}", "needs a URL"},
		"redis unknown":      {"anonymous_access {\n storage redis {\n  url redis://x\n  colour red\n }\n}", "Testfile:4|unknown subdirective \"colour\" in storage redis"},
		"redis duplicate":    {"anonymous_access {\n storage redis {\n  url redis://x\n  url redis://y\n }\n}", "Testfile:4|duplicate subdirective \"url\""},
		"redis bad db":       {"anonymous_access {\n storage redis {\n  url redis://x\n  db one\n }\n}", "Testfile:4|db must be"},
		"redis args":         {"anonymous_access {\n storage redis a b\n}", "Testfile:2"},
		"bolt block":         {"anonymous_access {\n storage bolt {\n  path x\n }\n}", "Testfile:3|storage bolt takes no block"},
		"storage args":       {"anonymous_access {\n storage bolt a b\n}", "Testfile:2"},
		"storage none":       {"anonymous_access {\n storage\n}", "Testfile:2"},
		"embed none":         {"anonymous_access {\n embed_origins\n}", "Testfile:2"},
		"space type":         {"anonymous_access {\n space s {\n  type public\n }\n}", "Testfile:3|space type: must be managed, shared or personal: \"public\""},
		"space unknown":      {"anonymous_access {\n space s {\n  colour x\n }\n}", "Testfile:3|unknown subdirective \"colour\" in space \"s\""},
		"space duplicate":    {"anonymous_access {\n space s {\n }\n space s {\n }\n}", "Testfile:4|duplicate space \"s\""},
		"space dup sub":      {"anonymous_access {\n space s {\n  name a\n  name b\n }\n}", "Testfile:4"},
		"app unknown":        {"anonymous_access {\n app a {\n  space s\n  entry /x\n  scope /x\n  colour x\n }\n}", "Testfile:6|unknown subdirective \"colour\" in app \"a\""},
		"app anonymous":      {"anonymous_access {\n app a {\n  anonymous yes\n }\n}", "Testfile:3|anonymous must be on or off"},
		"app incomplete":     {"anonymous_access {\n app a {\n  space s\n }\n}", "needs space, entry and scope"},
		"app duplicate":      {"anonymous_access {\n app a {\n  space s\n  entry /x\n  scope /x\n }\n app a {\n }\n}", "Testfile:7|duplicate app \"a\""},
		"app dup sub":        {"anonymous_access {\n app a {\n  scope /x\n  scope /y\n }\n}", "Testfile:4"},
		"app no id":          {"anonymous_access {\n app {\n }\n}", "Testfile:2"},
		"app scope none":     {"anonymous_access {\n app a {\n  scope\n }\n}", "Testfile:3"},
		"public_url missing": {"anonymous_access {\n public_url\n}", "Testfile:2"},
		"identity none":      {"anonymous_access {\n identity\n}", "Testfile:2|identity needs a type"},
		"identity unknown":   {"anonymous_access {\n identity ldap\n}", "Testfile:2|unknown identity type \"ldap\""},
		"identity header":    {"anonymous_access {\n identity header\n}", "Testfile:2|header's name"},
		"identity header 2":  {"anonymous_access {\n identity header A B\n}", "Testfile:2"},
		"jwt two keys":       {"anonymous_access {\n identity jwt {\n  hmac_secret s\n  public_key k.pem\n  issuer i\n  audience a\n }\n}", "Testfile:7|exactly one of hmac_secret and public_key"},
		"jwt no key":         {"anonymous_access {\n identity jwt {\n  issuer i\n  audience a\n }\n}", "exactly one of hmac_secret and public_key"},
		"jwt no issuer":      {"anonymous_access {\n identity jwt {\n  hmac_secret s\n  audience a\n }\n}", "Testfile:5|issuer: is required"},
		"jwt unknown":        {"anonymous_access {\n identity jwt {\n  hmac_secret s\n  algorithm HS256\n }\n}", "Testfile:4|unknown subdirective \"algorithm\" in identity jwt"},
		"jwt duplicate":      {"anonymous_access {\n identity jwt {\n  issuer a\n  issuer b\n }\n}", "Testfile:4|duplicate subdirective \"issuer\""},
		"identity twice":     {"anonymous_access {\n identity header A\n identity header B\n}", "Testfile:3|duplicate subdirective \"identity\""},
		"admins none":        {"anonymous_access {\n tenant_admins\n}", "Testfile:2"},
	}
	for name, tt := range tests {
		var h Handler
		err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.input))
		for _, want := range strings.Split(tt.wantErr, "|") {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s: got error %v, want one containing %q", name, err, want)
			}
		}
	}
}

// TestAdaptGolden adapts each testdata/adapt/*.caddyfile to JSON and compares
// with the .json beside it (go test -run TestAdaptGolden -update rewrites).
func TestAdaptGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/adapt/*.caddyfile")
	if len(files) == 0 {
		t.Fatal("no golden files")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			in, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			out, warnings, err := caddyconfig.GetAdapter("caddyfile").Adapt(in, map[string]any{"filename": f})
			if err != nil {
				t.Fatal(err)
			}
			if len(warnings) > 0 {
				t.Fatalf("warnings: %v", warnings)
			}
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, out, "", "\t"); err != nil {
				t.Fatal(err)
			}
			pretty.WriteByte('\n')
			golden := strings.TrimSuffix(f, ".caddyfile") + ".json"
			if *update {
				if err := os.WriteFile(golden, pretty.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(pretty.Bytes(), want) {
				t.Fatalf("adapted JSON differs from %s:\n%s", golden, pretty.String())
			}
		})
	}
}

// TestExampleCaddyfileAdapts keeps the demo configuration valid.
func TestExampleCaddyfileAdapts(t *testing.T) {
	in, err := os.ReadFile("../Caddyfile.example")
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt(in, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(out, []byte(`"handler":"anonymous_access"`)) {
		t.Fatalf("the example has no anonymous_access handler: %s", out)
	}
}

// TestDirectiveOrderProtectsEveryLayout checks that however a site is laid
// out, every handler that could serve content runs after anonymous_access,
// and path rewrites before it, so the check sees what is forwarded.
func TestDirectiveOrderProtectsEveryLayout(t *testing.T) {
	for _, f := range []string{"layout-handle", "layout-rewrite", "full"} {
		in, err := os.ReadFile("testdata/adapt/" + f + ".caddyfile")
		if err != nil {
			t.Fatal(err)
		}
		out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt(in, nil)
		if err != nil {
			t.Fatal(err)
		}
		var cfg struct {
			Apps struct {
				HTTP struct {
					Servers map[string]struct {
						Routes []struct {
							Handle []struct {
								Routes []struct {
									Handle []struct {
										Handler string `json:"handler"`
									} `json:"handle"`
								} `json:"routes"`
							} `json:"handle"`
						} `json:"routes"`
					} `json:"servers"`
				} `json:"http"`
			} `json:"apps"`
		}
		if err := json.Unmarshal(out, &cfg); err != nil {
			t.Fatal(err)
		}
		var order []string
		for _, r := range cfg.Apps.HTTP.Servers["srv0"].Routes[0].Handle[0].Routes {
			for _, h := range r.Handle {
				order = append(order, h.Handler)
			}
		}
		gate := slices.Index(order, "anonymous_access")
		for i, h := range order {
			switch {
			case h == "rewrite" && i > gate:
				t.Errorf("%s: a rewrite runs after the check: %v", f, order)
			case h != "rewrite" && h != "anonymous_access" && i < gate:
				t.Errorf("%s: %s runs before the check: %v", f, h, order)
			}
		}
		if gate < 0 {
			t.Errorf("%s: no anonymous_access: %v", f, order)
		}
	}
}
