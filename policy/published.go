package policy

import (
	"slices"
	"strings"
)

// PublishBounds are the operator's bounds on the apps tenant users publish
// or edit through the management API. Apps from the configuration are the
// operator's own and are not bounded.
type PublishBounds struct {
	// Roots are patterns every scope and deny pattern must lie under;
	// empty means any path.
	Roots []string
	// Methods are the most such an app may allow; empty means GET and
	// HEAD: published apps are read-only unless the operator says so.
	Methods []string
	// EmbedOrigins are the origins such an app may list; empty means the
	// handler's own embed_origins.
	EmbedOrigins []string
}

// check refuses an app a tenant user may not publish under b; defaults are
// the handler's embed origins.
func (b PublishBounds) check(a App, defaults []string) error {
	patterns := slices.Concat(a.Scope, a.Deny)
	allowed := slices.Clone(a.Methods)
	for _, r := range a.Allow {
		patterns = append(patterns, r.Paths...)
		allowed = append(allowed, r.Methods...)
	}
	for _, p := range patterns {
		if len(b.Roots) > 0 && !slices.ContainsFunc(b.Roots, func(root string) bool { return patternWithin(p, root) }) {
			return invalid("scope", "must lie under "+strings.Join(b.Roots, " ")+" (the gateway's published_apps)")
		}
	}
	methods := b.Methods
	if len(methods) == 0 {
		methods = []string{"GET", "HEAD"}
	}
	for _, m := range allowed {
		if !slices.Contains(methods, m) && !(m == "HEAD" && slices.Contains(methods, "GET")) {
			return invalid("methods", "may only be "+strings.Join(methods, " ")+" (the gateway's published_apps)")
		}
	}
	origins := b.EmbedOrigins
	if len(origins) == 0 {
		origins = defaults
	}
	for _, o := range a.EmbedOrigins {
		if strings.Contains(o, "*") {
			return invalid("embed_origins", "wildcard origins are set only in the gateway configuration")
		}
		if !slices.Contains(origins, o) {
			return invalid("embed_origins", "may only be origins the gateway's published_apps allows")
		}
	}
	return nil
}

// patternWithin reports whether every path pattern p matches is matched by
// root too: p is root itself, or lies under root's directory or prefix.
func patternWithin(p, root string) bool {
	if pre, ok := strings.CutSuffix(root, "*"); ok {
		return strings.HasPrefix(p, pre)
	}
	return p == root
}

// Validate checks the bounds themselves: patterns, methods and origins.
func (b PublishBounds) Validate() error {
	for _, p := range b.Roots {
		if err := ValidatePattern(p); err != nil {
			return invalid("published_apps scope", err.(*InvalidError).Reason)
		}
	}
	for _, m := range b.Methods {
		if !knownMethods[m] {
			return invalid("published_apps methods", "unknown HTTP method "+m)
		}
	}
	for _, o := range b.EmbedOrigins {
		if err := ValidateOrigin(o); err != nil {
			return err
		}
	}
	return nil
}
