package policy

import "strings"

// The frame-ancestors of the gateway's responses: who may show an app in
// an iframe.

func frameAncestors(origins []string) string {
	if len(origins) == 0 {
		return "'self'"
	}
	return "'self' " + strings.Join(origins, " ")
}

// FrameAncestors returns the Content-Security-Policy that says who may
// frame a session's pages: for an embed session the app's embed origins
// (or the gateway's), for a link session only the site itself, so a shared
// link cannot be framed by a page that was not given the embed code.
func (t *Tenant) FrameAncestors(v *Verified) string {
	if v.Session.Kind != KindEmbed {
		return "frame-ancestors 'self'"
	}
	if a := t.view.Load().apps[v.Session.App]; a != nil {
		return a.frameAncestorsCSP
	}
	return "frame-ancestors 'none'"
}

// AppFrameAncestors is the Content-Security-Policy directive for the
// gateway's own pages about app: its landing page and refusal pages, which
// an embed shows inside the app's iframe. An app the tenant does not serve
// gets the handler's default, as an app without origins of its own does,
// so the header tells nothing about which apps exist; and no page carries
// the union of every app's origins, which would tell any visitor where
// every app is embedded.
func (t *Tenant) AppFrameAncestors(app string) string {
	if a := t.view.Load().apps[app]; a != nil {
		return a.frameAncestorsCSP
	}
	return "frame-ancestors " + frameAncestors(t.cfg.Load().EmbedOrigins)
}
