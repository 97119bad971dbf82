package policy

// Authorize checks one token as CheckCookies does for each cookie, for
// tests of the domain that look at a single session.
func (t *Tenant) Authorize(token, method, path string) (*Verified, error) {
	v, _, err := t.authorize(t.view.Load(), token, method, path)
	return v, err
}
