//go:build unix

package e2e

// The tenant users' web UI at /_anon/ui/, driven in headless Chromium
// against the real Caddy binary, with real signed tokens typed into the
// sign-in form. Setup that is not what a test is about goes through the
// management API or the CLI.
//
// This file: a tenant user shares an app from the sharing dialog, or is
// shown why they cannot, and turns sharing off from a space's members.

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/golang-jwt/jwt/v5"
)

const (
	noPermissionReason = "You need the Public link creation permission and the owner or can_manage role in this space to share it."
	noEmbedReason      = "Copying the embed code needs the Public link creation permission and the owner or can_manage role in this space."
)

// TestBrowserSharingDialog: bob (Publishers, can_manage) turns sharing on
// from the dialog, the link opens the dashboard in a private window, a
// reset replaces the link, the old one is refused and the new one works.
func TestBrowserSharingDialog(t *testing.T) {
	g, c := startWithPublishers(t)
	g.mustCLI(t, "disable", "market")

	tab := newBrowser(t)
	browse(t, tab, "sizing the page for the README", chromedp.EmulateViewport(1280, 800))
	uiGrantClipboard(t, tab, g.url(""))
	uiSignIn(t, tab, g, "bob")
	if text := pageText(t, tab); !strings.Contains(text, "Publishers") || !strings.Contains(text, "Allowed") {
		t.Fatalf("bob's summary lacks his role or permission:\n%s", text)
	}

	var on bool
	browse(t, tab, "opening the sharing dialog",
		chromedp.Click(button("Share Market trends"), chromedp.BySearch),
		chromedp.WaitVisible(openDialog("Share Market trends"), chromedp.BySearch),
		chromedp.WaitVisible(labelled("Anyone with the link"), chromedp.BySearch),
		chromedp.Evaluate(`document.querySelector('#share [role=switch]').checked`, &on))
	if on {
		t.Fatal("the switch shows on for an app that is off")
	}
	browse(t, tab, "turning sharing on", chromedp.Click(labelled("Anyone with the link"), chromedp.BySearch))
	link := uiWaitValue(t, tab, "App link", "#code=", "")
	if !strings.HasPrefix(link, g.url("/_anon/open/market#code=")) {
		t.Fatalf("App link = %q", link)
	}
	if embed := uiWaitValue(t, tab, "Embed code", "<iframe", ""); !strings.Contains(embed, "#code="+codeOf(t, link)+"&amp;embed=1") {
		t.Fatalf("the embed code does not carry the link's code: %s", embed)
	}
	var a appJSON
	decodeJSON(t, g.api(t, c, "bob", "GET", "/apps/market", ""), &a)
	if !a.AnonymousAccess {
		t.Fatal("the switch is on but the API says market is off")
	}
	screenshot(t, tab, "sharing-dialog")

	browse(t, tab, "copying the link",
		chromedp.Click(button("Copy link"), chromedp.BySearch),
		chromedp.WaitVisible(inOpenDialog("*", "Copied"), chromedp.BySearch))
	if got := uiClipboard(t, tab); got != link {
		t.Fatalf("clipboard = %q, want the link", got)
	}

	// Embed options re-fetch the code; the API's refusal of an object
	// outside the scope shows in the dialog's alert.
	browse(t, tab, "asking for an object outside the scope",
		chromedp.SendKeys(labelled("Object path"), "/reports/sales/index.html"+kb.Tab, chromedp.BySearch),
		chromedp.WaitVisible(`//dialog[@open]//*[@role="alert" and contains(., "inside the app's scope")]`, chromedp.BySearch))
	browse(t, tab, "asking for another object and size",
		uiClear("Object path"),
		chromedp.SendKeys(labelled("Object path"), "/dashboards/market-2024.html"+kb.Tab, chromedp.BySearch),
		chromedp.SendKeys(labelled("Width"), "800"+kb.Tab, chromedp.BySearch))
	embed := uiWaitValue(t, tab, "Embed code", `width="800"`, "")
	if !strings.Contains(embed, "&amp;object=%2Fdashboards%2Fmarket-2024.html") {
		t.Fatalf("the embed code lacks the object: %s", embed)
	}
	if n := uiCountX(t, tab, `//dialog[@open]//*[@role="alert" and normalize-space()!=""]`); n != 0 {
		t.Error("the alert stayed after a good answer")
	}

	viewer := newBrowser(t)
	if at := uiOpenLink(t, viewer, link, backendPage(marketEntry)); at != g.url(marketEntry) {
		t.Fatalf("the link landed on %s, want the entry", at)
	}

	browse(t, tab, "resetting the access code",
		chromedp.Click(inOpenDialog("summary", "Settings"), chromedp.BySearch),
		chromedp.Click(button("Reset access code"), chromedp.BySearch),
		chromedp.Click(button("Yes, reset the code"), chromedp.BySearch))
	newLink := uiWaitValue(t, tab, "App link", "#code=", link)
	if codeOf(t, newLink) == codeOf(t, link) {
		t.Fatal("the reset kept the code")
	}
	uiOpenLink(t, newBrowser(t), link, `//h1[normalize-space()="This link is not valid"]`)
	uiOpenLink(t, newBrowser(t), newLink, backendPage(marketEntry))
}

// TestBrowserSharingDialogShowsWhatTheLinkOpens: bob publishes an app
// through the API with an entry that has a query string, an allow rule
// and a locked parameter (published_apps allows POST here); its row and
// its sharing dialog show them read-only, as a list under "What the link
// opens", and a provisioned app without either shows neither.
func TestBrowserSharingDialogShowsWhatTheLinkOpens(t *testing.T) {
	g, c := startWithPublishersIn(t, gatewayConfig{PublishedMethods: "GET HEAD POST"})
	wantAPI(t, "bob publishes live", g.api(t, c, "bob", "POST", "/spaces/stats/apps", `{"id":"live","name":"Live sales",
		"entry":"/d/abc/sales?orgId=1&kiosk","scope":["/d/abc*","/api/ds/query"],
		"allow":[{"methods":["POST"],"paths":["/api/ds/query"]}],"params":{"var-region":"emea"}}`), 201)

	tab := newBrowser(t)
	uiSignIn(t, tab, g, "bob")
	opens := func(item string) string {
		return `//dialog[@open]//section[@aria-labelledby=//h3[normalize-space()="What the link opens"]/@id]//li[normalize-space()=` + xq(item) + `]`
	}
	browse(t, tab, "opening the sharing dialog of Live sales",
		chromedp.WaitVisible(`//li[.//button[@aria-label="Share Live sales"]]//code[normalize-space()="/d/abc/sales?orgId=1&kiosk"]`, chromedp.BySearch),
		chromedp.Click(button("Share Live sales"), chromedp.BySearch),
		chromedp.WaitVisible(openDialog("Share Live sales"), chromedp.BySearch),
		chromedp.WaitVisible(opens("Opens at /d/abc/sales?orgId=1&kiosk"), chromedp.BySearch),
		chromedp.WaitVisible(opens("Covers /d/abc*, /api/ds/query"), chromedp.BySearch),
		chromedp.WaitVisible(opens("Viewers may use GET, HEAD"), chromedp.BySearch),
		chromedp.WaitVisible(opens("Also POST on /api/ds/query"), chromedp.BySearch),
		chromedp.WaitVisible(opens("Locked filter: var-region = emea"), chromedp.BySearch))
	uiCheckLayout(t, tab, "sharing dialog of an app with rules")

	browse(t, tab, "opening the sharing dialog of Market trends",
		chromedp.KeyEvent(kb.Escape),
		chromedp.WaitNotPresent(`//dialog[@open]`, chromedp.BySearch),
		chromedp.Click(button("Share Market trends"), chromedp.BySearch),
		chromedp.WaitVisible(openDialog("Share Market trends"), chromedp.BySearch),
		chromedp.WaitVisible(opens("Opens at "+marketEntry), chromedp.BySearch))
	for what, xpath := range map[string]string{
		"an allow rule":  `//dialog[@open]//li[starts-with(normalize-space(), "Also ")]`,
		"a locked param": `//dialog[@open]//li[starts-with(normalize-space(), "Locked filter")]`,
	} {
		if n := uiCountX(t, tab, xpath); n != 0 {
			t.Errorf("Market trends' dialog shows %s it does not have (%d)", what, n)
		}
	}
}

// TestBrowserNoPermissionNoToggle: dora, can_view without Public link
// creation, sees why she cannot share, has no switch, no embed code and no
// reset, and can still copy the link of an app that is on; among the
// space's members she can neither add nor remove anyone, nor see
// "Anonymous access".
func TestBrowserNoPermissionNoToggle(t *testing.T) {
	g := startGateway(t, t.TempDir(), newBackend(t), gatewayConfig{})
	c := newClient(t)
	wantAPI(t, "dora as can_view", g.api(t, c, "alice", "PUT", "/spaces/stats/members/dora", `{"role":"can_view"}`), 200)

	tab := newBrowser(t)
	uiGrantClipboard(t, tab, g.url(""))
	expired := idpToken(t, "dora", func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Hour).Unix() })
	browse(t, tab, "signing in with an expired token",
		chromedp.Navigate(g.url("/_anon/ui/")),
		chromedp.SendKeys(labelled("Access token"), expired, chromedp.BySearch),
		chromedp.Click(button("Sign in"), chromedp.BySearch),
		chromedp.WaitVisible(`//*[@role="alert" and contains(., "The access token was not accepted")]`, chromedp.BySearch),
		chromedp.WaitVisible(labelled("Access token"), chromedp.BySearch))
	uiSignIn(t, tab, g, "dora")
	browse(t, tab, "opening the sharing dialog",
		chromedp.WaitVisible(`//dd[@id="me-plc" and normalize-space()="Denied"]`, chromedp.BySearch),
		chromedp.Click(button("Share Market trends"), chromedp.BySearch),
		chromedp.WaitVisible(openDialog("Share Market trends"), chromedp.BySearch),
		chromedp.WaitVisible(inOpenDialog("p", noPermissionReason), chromedp.BySearch))
	link := uiWaitValue(t, tab, "App link", "#code=", "")
	// She could copy the link once sharing is on, not the embed code: the
	// dialog says why, as the API's can_when_on tells it.
	browse(t, tab, "reading why there is no embed code", chromedp.WaitVisible(inOpenDialog("p", noEmbedReason), chromedp.BySearch))
	for what, xpath := range map[string]string{
		"an Anyone with the link switch": labelled("Anyone with the link"),
		"any switch":                     `//dialog[@open]//input[@role="switch" or @type="checkbox"]`,
		"Settings":                       inOpenDialog("summary", "Settings"),
		"Reset access code":              button("Reset access code"),
		"an embed code":                  labelled("Embed code"),
		"Copy embed code":                button("Copy embed code"),
	} {
		if n := uiCountX(t, tab, xpath); n != 0 {
			t.Errorf("dora's dialog has %s (%d × %s)", what, n, xpath)
		}
	}
	browse(t, tab, "copying the link",
		chromedp.Click(button("Copy link"), chromedp.BySearch),
		chromedp.WaitVisible(inOpenDialog("*", "Copied"), chromedp.BySearch))
	if got := uiClipboard(t, tab); got != link {
		t.Fatalf("clipboard = %q, want %q", got, link)
	}

	browse(t, tab, "opening the members of stats",
		chromedp.KeyEvent(kb.Escape),
		chromedp.WaitNotPresent(`//dialog[@open]`, chromedp.BySearch),
		chromedp.Click(`//a[normalize-space()="Members of Public statistics"]`, chromedp.BySearch),
		chromedp.WaitVisible(`//li[.//*[normalize-space()="dora"] and .//*[normalize-space()="Can view"]]`, chromedp.BySearch))
	for what, xpath := range map[string]string{
		"an Add member button":        button("Add member"),
		"a Remove button":             `//button[normalize-space()="Remove"]`,
		"the Anonymous access member": `//li[contains(@class,"anonymous")]`,
		"a Turn off button":           `//button[normalize-space()="Turn off"]`,
	} {
		if n := uiCountX(t, tab, xpath); n != 0 {
			t.Errorf("dora's members view has %s (%d × %s)", what, n, xpath)
		}
	}
}

// TestBrowserMembersTurnOff: bob opens the members of stats, finds
// "Anonymous access" with Market trends and turns it off.
func TestBrowserMembersTurnOff(t *testing.T) {
	g, c := startWithPublishers(t)

	tab := newBrowser(t)
	uiSignIn(t, tab, g, "bob")
	const anonymousRow = `//li[contains(@class,"anonymous") and .//*[normalize-space()="Anonymous access"]]`
	browse(t, tab, "opening the members of stats",
		chromedp.Click(`//a[normalize-space()="Members of Public statistics"]`, chromedp.BySearch),
		chromedp.WaitVisible(`//h1[normalize-space()="Public statistics"]`, chromedp.BySearch),
		chromedp.WaitVisible(`//li[.//*[normalize-space()="alice"] and .//*[normalize-space()="Owner"]]`, chromedp.BySearch),
		chromedp.WaitVisible(`//li[.//*[normalize-space()="bob"] and .//*[normalize-space()="Can manage"]]`, chromedp.BySearch),
		chromedp.WaitVisible(anonymousRow+`//li[contains(normalize-space(),"Market trends")]`, chromedp.BySearch))
	// As can_manage he may add and remove members, but not the owner.
	for xpath, want := range map[string]int{
		button("Add member"):   1,
		button("Remove bob"):   1,
		button("Remove alice"): 0,
	} {
		if n := uiVisibleX(t, tab, xpath); n != want {
			t.Errorf("bob's members view shows %d × %s, want %d", n, xpath, want)
		}
	}
	browse(t, tab, "turning off Market trends",
		chromedp.Click(anonymousRow+button("Turn off Market trends"), chromedp.BySearch),
		chromedp.WaitNotPresent(button("Turn off Market trends"), chromedp.BySearch),
		chromedp.WaitVisible(`//*[@role="status" and contains(., "Anonymous access to Market trends is off")]`, chromedp.BySearch))
	screenshot(t, tab, "ui-members")
	for id, want := range map[string]bool{"market": false, "sales": true} {
		var a appJSON
		decodeJSON(t, g.api(t, c, "bob", "GET", "/apps/"+id, ""), &a)
		if a.AnonymousAccess != want {
			t.Errorf("%s: anonymous_access = %v, want %v", id, a.AnonymousAccess, want)
		}
	}
}

// TestBrowserMobileLayout: at 390×844 the apps page and the sharing dialog
// fit the width, and every control has an accessible name.
func TestBrowserMobileLayout(t *testing.T) {
	g, _ := startWithPublishers(t)

	tab := newBrowser(t)
	browse(t, tab, "emulating a phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	uiSignIn(t, tab, g, "bob")
	browse(t, tab, "listing apps", chromedp.WaitVisible(button("Share Sales report"), chromedp.BySearch))
	uiCheckLayout(t, tab, "apps page")
	browse(t, tab, "opening the sharing dialog",
		chromedp.Click(button("Share Market trends"), chromedp.BySearch),
		chromedp.WaitVisible(openDialog("Share Market trends"), chromedp.BySearch))
	uiWaitValue(t, tab, "Embed code", "<iframe", "")
	uiWaitValue(t, tab, "App link", "#code=", "")
	browse(t, tab, "opening Settings", chromedp.Click(inOpenDialog("summary", "Settings"), chromedp.BySearch),
		chromedp.WaitVisible(button("Reset access code"), chromedp.BySearch))
	uiCheckLayout(t, tab, "sharing dialog")
	browse(t, tab, "scrolling to the top of the dialog", chromedp.ScrollIntoView("#share-title", chromedp.ByQuery))
	screenshot(t, tab, "sharing-dialog-mobile")
}

// TestBrowserShareKeyboard: the Share button opens the dialog with Enter,
// focus moves into it, Space works the switch, Escape closes it and focus
// returns to the Share button.
func TestBrowserShareKeyboard(t *testing.T) {
	g, c := startWithPublishers(t)

	tab := newBrowser(t)
	uiSignIn(t, tab, g, "bob")
	var inside, back bool
	browse(t, tab, "opening the dialog with Enter",
		chromedp.Focus(button("Share Market trends"), chromedp.BySearch),
		chromedp.KeyEvent("\r"),
		chromedp.WaitVisible(openDialog("Share Market trends"), chromedp.BySearch),
		chromedp.Evaluate(`document.getElementById('share').contains(document.activeElement)`, &inside))
	if !inside {
		t.Fatal("focus did not move into the dialog")
	}
	browse(t, tab, "turning sharing off with Space",
		chromedp.Focus(labelled("Anyone with the link"), chromedp.BySearch),
		chromedp.KeyEvent(" "),
		chromedp.WaitVisible(`//dialog[@open]//*[@role="status" and starts-with(normalize-space(), "Sharing is off")]`, chromedp.BySearch))
	var a appJSON
	decodeJSON(t, g.api(t, c, "bob", "GET", "/apps/market", ""), &a)
	if a.AnonymousAccess {
		t.Fatal("Space on the switch did not turn market off")
	}
	browse(t, tab, "closing with Escape",
		chromedp.KeyEvent(kb.Escape),
		chromedp.WaitNotPresent(`//dialog[@open]`, chromedp.BySearch),
		chromedp.Poll(`document.activeElement === document.querySelector('button[aria-label="Share Market trends"]')`, &back),
		chromedp.WaitVisible(`//li[.//button[@aria-label="Share Market trends"]]//*[normalize-space()="Members only"]`, chromedp.BySearch))
}
