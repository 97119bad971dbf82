//go:build unix

package e2e

// A tenant user behind forward_auth reaches the web UI without signing in.

import (
	"net/http"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// TestBrowserHeaderIdentity: behind forward_auth (identity header) there
// is no sign-in form and no Sign out: the header names the user. The test
// sets the header as the proxy in front would.
func TestBrowserHeaderIdentity(t *testing.T) {
	g := startGateway(t, t.TempDir(), newBackend(t), gatewayConfig{IdentityHeader: "Remote-User"})
	wantAPI(t, "dora as can_view", g.apiWith(t, newClient(t), http.Header{"Remote-User": {"alice"}},
		"PUT", "/spaces/stats/members/dora", `{"role":"can_view"}`), 200)

	tab := newBrowser(t)
	browse(t, tab, "opening the UI as dora",
		network.SetExtraHTTPHeaders(network.Headers{"Remote-User": "dora"}),
		chromedp.Navigate(g.url("/_anon/ui/")),
		chromedp.WaitVisible(`//dd[@id="me-user" and normalize-space()="dora"]`, chromedp.BySearch),
		chromedp.WaitVisible(button("Share Market trends"), chromedp.BySearch))
	if n := uiVisibleX(t, tab, labelled("Access token")+` | `+button("Sign out")); n != 0 {
		t.Errorf("header identity shows a sign-in form or Sign out (%d)", n)
	}
}
