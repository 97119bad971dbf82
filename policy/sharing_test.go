package policy_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/anonaccess/caddy-anonymous-access/policy"
)

func TestResetAndTurnOffEndSessions(t *testing.T) {
	ctx := context.Background()
	for _, action := range []string{"reset", "off", "off-on"} {
		t.Run(action, func(t *testing.T) {
			f := newFixture(t, 10)
			oldCode := f.code(t, "market")
			o := f.open1(t)
			switch action {
			case "reset":
				if _, err := f.t.AsOperator("192.0.2.9").ResetCode(ctx, "market"); err != nil {
					t.Fatal(err)
				}
			case "off":
				if _, err := f.t.AsOperator("192.0.2.9").SetAnonymousAccess(ctx, "market", false); err != nil {
					t.Fatal(err)
				}
			case "off-on":
				_, _ = f.t.AsOperator("192.0.2.9").SetAnonymousAccess(ctx, "market", false)
				if _, err := f.t.AsOperator("192.0.2.9").SetAnonymousAccess(ctx, "market", true); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := f.t.Authorize(o.Token, "GET", "/dash/market.html"); err != policy.ErrRevoked {
				t.Fatalf("live session after %s: got %v, want ErrRevoked", action, err)
			}
			f.clock.Advance(20 * time.Minute)
			if _, err := f.t.Renew(ctx, o.Token, "GET", "/dash/market.html", ""); err != policy.ErrRevoked {
				t.Fatalf("renewal after %s: got %v, want ErrRevoked", action, err)
			}
			if u, _ := f.t.Capacity(ctx); u.Active != 0 {
				t.Fatalf("ended sessions still counted: %d", u.Active)
			}
			_, err := f.t.Redeem(ctx, policy.Redemption{App: "market", Code: oldCode})
			switch action {
			case "reset", "off":
				if err != policy.ErrDenied {
					t.Fatalf("old code after %s: got %v, want ErrDenied", action, err)
				}
			case "off-on":
				if err != nil {
					t.Fatalf("same code after off and on: %v", err)
				}
			}
		})
	}
}

func TestOnlyManagedSpacesShare(t *testing.T) {
	f := newFixture(t, 10)
	if _, err := f.t.AsOperator("192.0.2.9").SetAnonymousAccess(context.Background(), "notes", true); err != policy.ErrNotManaged {
		t.Fatalf("got %v, want ErrNotManaged", err)
	}
	if _, err := f.t.Link("notes"); err != policy.ErrOff {
		t.Fatalf("link of an app that is off: got %v, want ErrOff", err)
	}
	if _, err := f.t.AsOperator("192.0.2.9").SetAnonymousAccess(context.Background(), "ghost", true); err != policy.ErrUnknownApp {
		t.Fatalf("unknown app: got %v", err)
	}
}

func TestLinkAndEmbedCode(t *testing.T) {
	f := newFixture(t, 10)
	link, err := f.t.Link("market")
	if err != nil {
		t.Fatal(err)
	}
	code := f.code(t, "market")
	if want := "https://share.example.com/_anon/open/market#code=" + code; link != want {
		t.Fatalf("link %q, want %q", link, want)
	}
	html, url, err := f.t.EmbedCode("market", policy.LinkOptions{Object: "/dash/market-2.html", Width: "800", Height: "50%"})
	if err != nil {
		t.Fatal(err)
	}
	if url != link+"&embed=1&object=%2Fdash%2Fmarket-2.html" {
		t.Fatalf("embed url %q", url)
	}
	for _, want := range []string{`<iframe src="`, `title="Market trends"`, `width="800"`, `height="50%"`, `referrerpolicy="no-referrer"`, `&amp;embed=1`} {
		if !strings.Contains(html, want) {
			t.Errorf("embed code %q lacks %q", html, want)
		}
	}
	if _, _, err := f.t.EmbedCode("market", policy.LinkOptions{Object: "/elsewhere"}); err == nil {
		t.Fatal("embed object outside the scope accepted")
	}
}
