package policy

import (
	"slices"
	"strings"
)

// AllowRule grants more methods on some paths of an app's scope: a
// dashboard that queries with POST stays read-only everywhere but its
// query endpoint.
type AllowRule struct {
	Methods []string `json:"methods"`
	Paths   []string `json:"paths"`
}

type compiledRule struct {
	methods MethodSet
	paths   PathSet
}

// allows reports whether an allow rule grants method on path. Only asked
// once the app's own methods said no, so apps without rules pay nothing.
func (ac Access) allows(method, path string) bool {
	for _, r := range ac.allow {
		if r.methods.Allows(method) && r.paths.Match(path) {
			return true
		}
	}
	return false
}

// normalizeAllow upper-cases the rules' methods into slices of their own.
func (a *App) normalizeAllow() {
	if len(a.Allow) == 0 {
		return
	}
	rules := make([]AllowRule, len(a.Allow))
	for i, r := range a.Allow {
		rules[i] = AllowRule{Methods: make([]string, len(r.Methods)), Paths: r.Paths}
		for j, m := range r.Methods {
			rules[i].Methods[j] = strings.ToUpper(m)
		}
	}
	a.Allow = rules
}

// validateAllow checks each rule: known methods and paths that lie inside
// the scope, since a rule never widens what is reachable.
func (a App) validateAllow() error {
	for _, r := range a.Allow {
		if len(r.Methods) == 0 || len(r.Paths) == 0 {
			return invalid("allow", "each rule names methods and paths")
		}
		for _, m := range r.Methods {
			if !knownMethods[m] {
				return invalid("allow", "unknown HTTP method "+m)
			}
		}
		for _, p := range r.Paths {
			if err := ValidatePattern(p); err != nil {
				return invalid("allow", err.(*InvalidError).Reason)
			}
			if !slices.ContainsFunc(a.Scope, func(s string) bool { return patternWithin(p, s) }) {
				return invalid("allow", p+" must lie inside the scope")
			}
		}
	}
	return nil
}
