//go:build unix

package e2e

// Helpers of the web UI's browser tests. Controls are found the way a
// person finds them, by their label or their text (XPath through
// chromedp.BySearch), so a test fails when a label changes or goes
// missing, not only when the behaviour does.

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// xq quotes s as an XPath string literal.
func xq(s string) string {
	if strings.Contains(s, `"`) {
		return "'" + s + "'"
	}
	return `"` + s + `"`
}

// labelled is the form control that a <label for> names exactly text.
func labelled(text string) string {
	return `//*[(self::input or self::textarea or self::select) and @id=//label[normalize-space()=` + xq(text) + `]/@for]`
}

// labelledJS is labelled for scripts: a JavaScript expression for the
// control that a <label for> names (its text trimmed), undefined when
// there is none.
func labelledJS(text string) string {
	return `(() => {
		const l = [...document.querySelectorAll('label')].find((l) => l.textContent.trim() === ` + js(text) + `);
		return l && document.getElementById(l.htmlFor);
	})()`
}

// button is the button whose text or aria-label is exactly text.
func button(text string) string {
	return `//button[normalize-space()=` + xq(text) + ` or @aria-label=` + xq(text) + `]`
}

// openDialog is the open dialog whose accessible name (aria-labelledby)
// is name.
func openDialog(name string) string {
	return `//dialog[@open and @aria-labelledby=//*[normalize-space()=` + xq(name) + `]/@id]`
}

// inOpenDialog is an element with exactly text inside the open dialog.
func inOpenDialog(tag, text string) string {
	return `//dialog[@open]//` + tag + `[normalize-space()=` + xq(text) + `]`
}

// backendPage is the body of the backend's answer for path, as Chromium
// shows a text/plain response.
func backendPage(path string) string {
	return `//pre[normalize-space()=` + xq("backend GET "+path) + `]`
}

// startWithPublishers is the common setup: a gateway in which alice (a
// configured tenant admin) has created the Publishers role, which allows
// Public link creation, given it to bob and made him can_manage in the
// provisioned space stats. It returns the gateway and alice's client.
func startWithPublishers(t *testing.T) (*gateway, *client) {
	t.Helper()
	return startWithPublishersIn(t, gatewayConfig{})
}

// startWithPublishersIn is startWithPublishers on a gateway run with cfg.
func startWithPublishersIn(t *testing.T, cfg gatewayConfig) (*gateway, *client) {
	t.Helper()
	g := startGateway(t, t.TempDir(), newBackend(t), cfg)
	c := newClient(t)
	wantAPI(t, "creating Publishers", g.api(t, c, "alice", "POST", "/roles", `{"name":"Publishers","description":"May share apps anonymously","public_link_creation":"allowed"}`), 201)
	wantAPI(t, "giving bob Publishers", g.api(t, c, "alice", "PUT", "/users/bob/roles", `{"roles":["Publishers"]}`), 200)
	wantAPI(t, "bob as can_manage", g.api(t, c, "alice", "PUT", "/spaces/stats/members/bob", `{"role":"can_manage"}`), 200)
	return g, c
}

// uiSignIn opens the web UI in tab and signs in with user's token, typed
// into the "Access token" field, then waits for the user's summary.
func uiSignIn(t *testing.T, tab context.Context, g *gateway, user string) {
	t.Helper()
	token := idpToken(t, user, nil)
	browse(t, tab, "signing in as "+user,
		chromedp.Navigate(g.url("/_anon/ui")),
		chromedp.WaitVisible(labelled("Access token"), chromedp.BySearch),
		chromedp.SendKeys(labelled("Access token"), token, chromedp.BySearch),
		chromedp.Click(button("Sign in"), chromedp.BySearch),
		chromedp.WaitVisible(`//dd[@id="me-user" and normalize-space()=`+xq(user)+`]`, chromedp.BySearch),
	)
}

// uiWaitValue waits until the control labelled label has a value that
// contains want and differs from not, and returns it.
func uiWaitValue(t *testing.T, tab context.Context, label, want, not string) string {
	t.Helper()
	var v string
	browse(t, tab, fmt.Sprintf("waiting for %q to hold %q", label, want), chromedp.Poll(fmt.Sprintf(`(() => {
		const f = %s;
		return f && f.value.includes(%s) && f.value !== %s ? f.value : false;
	})()`, labelledJS(label), js(want), js(not)), &v, chromedp.WithPollingTimeout(15*time.Second)))
	return v
}

// uiChoose picks an option of the select labelled label, as choosing it
// with the mouse or keyboard would: the value changes and a change event
// fires.
func uiChoose(t *testing.T, tab context.Context, label, value string) {
	t.Helper()
	var ok bool
	browse(t, tab, fmt.Sprintf("choosing %s in %q", value, label),
		chromedp.WaitVisible(labelled(label), chromedp.BySearch),
		chromedp.Evaluate(fmt.Sprintf(`(() => {
			const s = %s;
			if (!s || ![...s.options].some((o) => o.value === %s)) return false;
			s.focus();
			s.value = %s;
			s.dispatchEvent(new Event('input', { bubbles: true }));
			s.dispatchEvent(new Event('change', { bubbles: true }));
			return true;
		})()`, labelledJS(label), js(value), js(value)), &ok))
	if !ok {
		t.Fatalf("no select labelled %q with an option %q", label, value)
	}
}

// uiOpenLink opens an app link in tab as a visitor would (the landing page
// redeems the code from the fragment) and waits for an element of the
// page it ends on; it returns that page's address.
func uiOpenLink(t *testing.T, tab context.Context, link, landsOn string) string {
	t.Helper()
	var at string
	browse(t, tab, "opening "+strings.SplitN(link, "#", 2)[0],
		chromedp.Navigate(link),
		chromedp.WaitVisible(landsOn, chromedp.BySearch),
		chromedp.Location(&at))
	return at
}

// uiGrantClipboard lets pages of origin use the clipboard without asking,
// so a test can read back what "Copy" put there.
func uiGrantClipboard(t *testing.T, tab context.Context, origin string) {
	t.Helper()
	browse(t, tab, "granting the clipboard", chromedp.ActionFunc(func(ctx context.Context) error {
		return browser.GrantPermissions([]browser.PermissionType{
			browser.PermissionTypeClipboardReadWrite, browser.PermissionTypeClipboardSanitizedWrite,
		}).WithOrigin(origin).Do(cdp.WithExecutor(ctx, chromedp.FromContext(ctx).Browser))
	}))
}

// uiClipboard reads the clipboard's text in tab.
func uiClipboard(t *testing.T, tab context.Context) string {
	t.Helper()
	var text string
	browse(t, tab, "reading the clipboard", chromedp.Evaluate(`navigator.clipboard.readText()`, &text,
		func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }))
	return text
}

// uiCountX counts the nodes an XPath expression matches in tab.
func uiCountX(t *testing.T, tab context.Context, xpath string) int {
	t.Helper()
	var n int
	browse(t, tab, "counting "+xpath, chromedp.Evaluate(
		`document.evaluate(`+js("count("+xpath+")")+`, document, null, XPathResult.NUMBER_TYPE, null).numberValue`, &n))
	return n
}

// uiVisibleX counts the nodes an XPath expression matches in tab that are
// rendered (not hidden, not inside something hidden).
func uiVisibleX(t *testing.T, tab context.Context, xpath string) int {
	t.Helper()
	var n int
	browse(t, tab, "looking for "+xpath, chromedp.Evaluate(`(() => {
		const r = document.evaluate(`+js(xpath)+`, document, null, XPathResult.ORDERED_NODE_SNAPSHOT_TYPE, null);
		let n = 0;
		for (let i = 0; i < r.snapshotLength; i++) if (r.snapshotItem(i).checkVisibility()) n++;
		return n;
	})()`, &n))
	return n
}

// uiClear empties the control labelled label without events, as selecting
// its text before typing over it would.
func uiClear(label string) chromedp.Action {
	return chromedp.Evaluate(labelledJS(label)+`.value = ''`, nil)
}

// uiUnlabelled lists the controls of the page that have no accessible
// name: no <label for>, aria-label or aria-labelledby, nor, for a button,
// text.
const uiUnlabelled = `[...document.querySelectorAll('input, select, textarea, button')]
	.filter((e) => e.type !== 'hidden')
	.filter((e) => {
		const byLabel = [...(e.labels || [])].map((l) => l.textContent.trim()).join(' ');
		const byRef = (e.getAttribute('aria-labelledby') || '').split(/\s+/)
			.map((id) => (document.getElementById(id)?.textContent || '').trim()).join(' ').trim();
		const byText = e.tagName === 'BUTTON' ? e.textContent.trim() : '';
		return !(byLabel || (e.getAttribute('aria-label') || '').trim() || byRef || byText);
	})
	.map((e) => e.outerHTML.slice(0, 160))`

// uiWidths reports horizontal overflow: the page's scroll width against
// the viewport, and the open dialog's against its own box.
const uiWidths = `({
	page: document.documentElement.scrollWidth,
	viewport: window.innerWidth,
	dialog: document.getElementById('share').open ? document.getElementById('share').scrollWidth : 0,
	dialogBox: document.getElementById('share').open ? document.getElementById('share').clientWidth : 0,
})`

type uiWidthReport struct {
	Page, Viewport, Dialog, DialogBox int
}

// uiCheckLayout fails when the page scrolls sideways or a control has no
// accessible name.
func uiCheckLayout(t *testing.T, tab context.Context, where string) {
	t.Helper()
	var w uiWidthReport
	var unlabelled []string
	browse(t, tab, "measuring "+where, chromedp.Evaluate(uiWidths, &w), chromedp.Evaluate(uiUnlabelled, &unlabelled))
	if w.Page > w.Viewport {
		t.Errorf("%s: the page scrolls sideways: %d px wide in a %d px viewport", where, w.Page, w.Viewport)
	}
	if w.Dialog > w.DialogBox {
		t.Errorf("%s: the dialog scrolls sideways: %d px of content in %d px", where, w.Dialog, w.DialogBox)
	}
	for _, e := range unlabelled {
		t.Errorf("%s: control without an accessible name: %s", where, e)
	}
}
