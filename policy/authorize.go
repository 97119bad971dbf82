package policy

import (
	"errors"
	"slices"
)

// Decision is what the session cookies of one protected request add up to.
type Decision struct {
	// Granted is the session that covers the request, or nil.
	Granted *Verified
	// Refusal is why no session covered it: the most specific reason
	// any cookie gave, ErrNoSession when there was none.
	Refusal error
	// Renewable is an expired token whose app is still on at its version
	// and covers the request: a page load may start a new session from
	// it, whatever the other cookies say.
	Renewable string
	// App is the app of the session the refusal concerns, when its token
	// was genuine: the refusal page is framed as that app's pages are.
	App string
	// lock holds the granting app's locked query parameters, if any.
	lock *paramLock
	// Revoked are the sessions whose cookies can never be used again
	// (their app was turned off, reset or replaced): the caller clears
	// them so they are not sent, and refused, on every request.
	Revoked []Session
}

// LockedQuery is the query string to forward for a granted request whose
// query is raw: raw itself (ok false) unless the app locks parameters.
func (d *Decision) LockedQuery(raw string) (q string, ok bool) {
	if d.lock == nil {
		return raw, false
	}
	return d.lock.apply(raw), true
}

// refusalRanks orders the reasons a cookie can be refused, least specific
// first: with several session cookies, the request is answered with the
// most specific one, so a stale cookie of another app never hides that
// the page is out of scope or the store is down.
var refusalRanks = [...]error{
	ErrInvalidToken,
	ErrExpired,
	ErrRevoked,
	ErrOutOfScope,
	ErrMethodNotAllowed,
	ErrStoreUnavailable,
}

func refusalRank(err error) int {
	for i, e := range refusalRanks {
		if errors.Is(err, e) {
			return i + 1
		}
	}
	return 0
}

// maxCookieApps bounds the session cookies one request may make us check:
// one per app, and no more than this many apps, so a request stuffed with
// forged cookies costs about what a normal one does.
const maxCookieApps = 16

// CookieCheck decides a protected request from its session cookies,
// offered one at a time in the order the request carries them. It lives on
// the caller's stack: checking a request allocates nothing.
type CookieCheck struct {
	Decision
	t            *Tenant
	view         *appView
	method, path string
	examined     [maxCookieApps]string
	n, best      int
}

// CheckCookies starts the check of a protected request of method and path,
// which must already have passed CheckPath.
func (t *Tenant) CheckCookies(method, path string) CookieCheck {
	return CookieCheck{Decision: Decision{Refusal: ErrNoSession}, t: t, view: t.view.Load(), method: method, path: path}
}

// Offer checks one session cookie, app being the app its name gives. Only
// the first cookie of an app the tenant serves is examined, and a token
// stands only under its own app's name. It reports whether more cookies
// may change the decision: false once one granted the request.
func (c *CookieCheck) Offer(app, token string) bool {
	if c.view.apps[app] == nil || c.n == len(c.examined) || slices.Contains(c.examined[:c.n], app) {
		return true
	}
	c.examined[c.n] = app
	c.n++
	v, granting, err := c.t.authorize(c.view, token, c.method, c.path)
	if err == nil && v.Session.App == app {
		// Dead cookies seen before the one that granted are still
		// cleared, or the browser would send them on every request.
		c.Decision = Decision{Granted: v, lock: granting.lock, Revoked: c.Revoked}
		return false
	}
	err = c.judge(app, token, v, err)
	if rk := refusalRank(err); rk > c.best {
		c.Refusal, c.best = err, rk
		if rk > refusalRank(ErrInvalidToken) {
			c.App = app
		}
	}
	return true
}

// judge ranks one cookie's refusal on its own: an expired session is
// renewable only if its own app still stands and covers the request (and
// revoked if its app does not); a revoked one is to be cleared.
func (c *CookieCheck) judge(app, token string, v *Verified, err error) error {
	var sess Session
	switch {
	case v != nil:
		sess = v.Session
	case err == ErrExpired:
		// An expired token is not cached: read it as a renewal would.
		s, rerr := c.t.signer.Load().VerifyForRenewal(token, c.t.now())
		if rerr != nil {
			return rerr
		}
		sess = s
	default:
		return ErrInvalidToken
	}
	if sess.App != app {
		return ErrInvalidToken
	}
	if err == ErrExpired {
		a := c.view.current(sess)
		if a == nil {
			err = ErrRevoked
		} else if c.Renewable == "" && a.access.Allow(c.method, c.path) == nil {
			c.Renewable = token
		}
	}
	if err == ErrRevoked {
		c.Revoked = append(c.Revoked, sess)
	}
	return err
}
