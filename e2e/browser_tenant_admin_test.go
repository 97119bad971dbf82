//go:build unix

package e2e

// A tenant admin in the web UI: permissions, roles, capacity and the
// audit log.

import (
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserAdministration: alice sets Public link creation on User
// Default, creates and assigns a role, and sees capacity, the chart and
// the audit log.
func TestBrowserAdministration(t *testing.T) {
	g, c := startWithPublishers(t) // so that the audit log has entries
	for _, app := range []string{"market", "sales", "ops"} {
		g.open(t, newClient(t), app, g.link(t, app))
	}

	tab := newBrowser(t)
	browse(t, tab, "sizing the page for the README", chromedp.EmulateViewport(1280, 800))
	uiSignIn(t, tab, g, "alice")
	browse(t, tab, "opening Administration",
		chromedp.Click(`//nav//a[normalize-space()="Administration"]`, chromedp.BySearch),
		chromedp.WaitVisible(`//h1[normalize-space()="Administration"]`, chromedp.BySearch))
	screenshot(t, tab, "ui-administration")
	uiChoose(t, tab, "Public link creation for User Default", "allowed")
	browse(t, tab, "saving User Default", chromedp.WaitVisible(
		`//*[@role="status" and normalize-space()="Saved: Public link creation is Allowed for User Default."]`, chromedp.BySearch))
	var roles []roleJSON
	decodeJSON(t, g.api(t, c, "alice", "GET", "/roles", ""), &roles)
	if roles[0].Name != "User Default" || roles[0].PublicLinkCreation != "allowed" {
		t.Fatalf("User Default after the UI set it: %+v", roles[0])
	}

	browse(t, tab, "creating a role",
		chromedp.SendKeys(labelled("Name"), "Analysts", chromedp.BySearch),
		chromedp.SendKeys(labelled("Description"), "Read the dashboards", chromedp.BySearch))
	uiChoose(t, tab, "Public link creation", "allowed")
	browse(t, tab, "creating a role",
		chromedp.Click(button("Create role"), chromedp.BySearch),
		chromedp.WaitVisible(`//table//th[normalize-space()="Analysts"]`, chromedp.BySearch),
		chromedp.SendKeys(labelled("User id"), "erin", chromedp.BySearch),
		chromedp.Click(labelled("Analysts"), chromedp.BySearch),
		chromedp.Click(button("Save roles"), chromedp.BySearch),
		chromedp.WaitVisible(`//*[@role="status" and normalize-space()="Saved: erin has Analysts."]`, chromedp.BySearch))
	decodeJSON(t, g.api(t, c, "alice", "GET", "/roles", ""), &roles)
	i := slices.IndexFunc(roles, func(r roleJSON) bool { return r.Name == "Analysts" })
	if i < 0 || roles[i].PublicLinkCreation != "allowed" || strings.Join(roles[i].Users, ",") != "erin" {
		t.Fatalf("the role created in the UI is not in GET /roles as made: %+v", roles)
	}

	// A reload keeps the sign-in (the token is in sessionStorage) and
	// shows the audit log with the changes just made.
	var stats map[string]string
	var chart string
	browse(t, tab, "reading capacity and the audit log",
		chromedp.Reload(),
		chromedp.WaitVisible(`//h1[normalize-space()="Administration"]`, chromedp.BySearch),
		chromedp.WaitVisible(`//section[@id="capacity"]//*[name()="svg" and @role="img"]`, chromedp.BySearch),
		chromedp.WaitVisible(`//section[@id="audit"]//td[normalize-space()="Created a role"]`, chromedp.BySearch),
		chromedp.Evaluate(`Object.fromEntries([...document.querySelectorAll('#capacity .stat')]
			.map((s) => [s.querySelector('dt').textContent, s.querySelector('dd').textContent]))`, &stats),
		chromedp.AttributeValue(`#capacity svg[role=img]`, "aria-label", &chart, nil, chromedp.ByQuery))
	if stats["Capacity"] != "100" || stats["Active now"] != "3" || stats["Peak"] != "3" {
		t.Errorf("capacity numbers: %v, want capacity 100, 3 active, peak 3", stats)
	}
	if !strings.HasPrefix(chart, "Active anonymous sessions over the last hour") || !strings.Contains(chart, "now 3") {
		t.Errorf("chart label = %q", chart)
	}
	if n := uiCountX(t, tab, `//*[@id="audit"]//tbody//tr`); n < 6 {
		t.Errorf("the audit log shows %d rows, want the 6 changes made", n)
	}
	browse(t, tab, "scrolling to capacity",
		chromedp.Evaluate(`document.getElementById('capacity').scrollIntoView({ block: 'start' })`, nil))
	screenshot(t, tab, "capacity")
}
