package policy

import (
	"slices"
	"strings"
)

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

// AllFrameAncestors is the union of every app's embed origins, for the
// landing page, which is the same for every app.
func (t *Tenant) AllFrameAncestors() string {
	set := map[string]bool{}
	var out []string
	add := func(o string) {
		if !set[o] {
			set[o] = true
			out = append(out, o)
		}
	}
	for _, o := range t.cfg.Load().EmbedOrigins {
		add(o)
	}
	for _, a := range t.view.Load().apps {
		for _, o := range a.rec.EmbedOrigins {
			add(o)
		}
	}
	slices.Sort(out)
	return frameAncestors(out)
}
