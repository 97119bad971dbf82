package policy

import (
	"errors"
	"testing"
)

func TestValidateID(t *testing.T) {
	good := []string{"a", "market", "q3-2026_report", "9lives"}
	bad := []string{"", "-a", "_a", "Market", "a/b", "..", "a.b", "a b", "a\x00", "a\n", string(make([]byte, 65))}
	for _, id := range good {
		if err := ValidateID("id", id); err != nil {
			t.Errorf("ValidateID(%q) = %v", id, err)
		}
	}
	for _, id := range bad {
		if ValidateID("id", id) == nil {
			t.Errorf("ValidateID(%q) accepted", id)
		}
	}
}

func TestAppValidate(t *testing.T) {
	base := func() App {
		a := App{ID: "market", Space: "stats", Entry: "/d/market.html", Scope: []string{"/d/*"}}
		a.Normalize()
		return a
	}
	if err := base().Validate(); err != nil {
		t.Fatalf("valid app: %v", err)
	}
	dashboard := base()
	dashboard.Entry = "/d/market.html?orgId=1&var-region=emea&kiosk"
	dashboard.Allow = []AllowRule{{Methods: []string{"post"}, Paths: []string{"/d/query"}}}
	dashboard.Params = map[string]string{"var-region": "emea"}
	dashboard.Normalize()
	if err := dashboard.Validate(); err != nil {
		t.Fatalf("an entry with a query, an allow rule and params: %v", err)
	}
	if got := base().Methods; len(got) != 2 || got[0] != "GET" || got[1] != "HEAD" {
		t.Fatalf("default methods %v, want GET HEAD", got)
	}
	tests := map[string]func(*App){
		"entry outside scope":   func(a *App) { a.Entry = "/e/x" },
		"entry denied":          func(a *App) { a.Deny = []string{"/d/market.html"} },
		"entry with dots":       func(a *App) { a.Entry = "/d/../d/market.html" },
		"entry with a fragment": func(a *App) { a.Entry = "/d/market.html?x=1#top" },
		"entry query, space":    func(a *App) { a.Entry = "/d/market.html?x=a b" },
		"entry query outside":   func(a *App) { a.Entry = "/e/x?d/market.html" },
		"allow outside scope":   func(a *App) { a.Allow = []AllowRule{{Methods: []string{"POST"}, Paths: []string{"/api/*"}}} },
		"allow without paths":   func(a *App) { a.Allow = []AllowRule{{Methods: []string{"POST"}}} },
		"allow unknown method":  func(a *App) { a.Allow = []AllowRule{{Methods: []string{"BREW"}, Paths: []string{"/d/q"}}} },
		"param without a name":  func(a *App) { a.Params = map[string]string{"": "x"} },
		"no scope":              func(a *App) { a.Scope = nil },
		"bad scope":             func(a *App) { a.Scope = []string{"d/*"} },
		"star in middle":        func(a *App) { a.Scope = []string{"/d/*/x"} },
		"bad deny":              func(a *App) { a.Deny = []string{"x"} },
		"unknown method":        func(a *App) { a.Methods = []string{"BREW"} },
		"bad id":                func(a *App) { a.ID = "../x" },
		"bad space":             func(a *App) { a.Space = "a/b" },
		"control char in name":  func(a *App) { a.Name = "a\x07" },
		"bad embed origin":      func(a *App) { a.EmbedOrigins = []string{"https://a.example/path"} },
		"origin with space":     func(a *App) { a.EmbedOrigins = []string{"https://a.example 'unsafe-inline'"} },
	}
	for name, mutate := range tests {
		a := base()
		mutate(&a)
		var inv *InvalidError
		if err := a.Validate(); !errors.As(err, &inv) {
			t.Errorf("%s: got %v, want an InvalidError", name, err)
		}
	}
}

// CodeMatches compares a presented code with an app's code as a
// redemption does.
func CodeMatches(presented, actual string) bool {
	return digestMatches(presented, codeDigest(actual), actual != "")
}

func TestAccessCode(t *testing.T) {
	a, b := NewAccessCode(), NewAccessCode()
	if a == b {
		t.Fatal("two codes are equal")
	}
	if len(a) < 22 || !validCodeSyntax(a) { // 22 base64 characters hold 128 bits
		t.Fatalf("code %q is too short or not URL-safe", a)
	}
	if !CodeMatches(a, a) || CodeMatches(a, b) || CodeMatches(a[:len(a)-1], a) || CodeMatches("", "") || CodeMatches(a, "") {
		t.Fatal("CodeMatches is wrong")
	}
	for _, s := range []string{"", "a b", "a#b", "a%20", string(make([]byte, 129))} {
		if validCodeSyntax(s) {
			t.Errorf("validCodeSyntax(%q) accepted", s)
		}
	}
}
