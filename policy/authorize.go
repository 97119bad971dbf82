package policy

import (
	"errors"
	"iter"
)

// Decision is what the session tokens of one protected request add up to.
type Decision struct {
	// Granted is the session that covers the request, or nil.
	Granted *Verified
	// Refusal is why no session covered it: the most specific reason
	// any token gave, ErrNoSession when there was none.
	Refusal error
	// Renewable is an expired token that may start a new session if the
	// request is a page load: set only when no token was refused for a
	// more specific reason (a revoked or out-of-scope session is not
	// renewed by reloading the page).
	Renewable string
}

// refusalRanks orders the reasons a token can be refused, least specific
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

// AuthorizeRequest checks the session tokens a protected request carries
// (one per app) against method and path, which must already have passed
// CheckPath. The first token that covers the request grants it.
func (t *Tenant) AuthorizeRequest(tokens iter.Seq[string], method, path string) Decision {
	d := Decision{Refusal: ErrNoSession}
	best := 0
	for token := range tokens {
		v, err := t.Authorize(token, method, path)
		if err == nil {
			return Decision{Granted: v}
		}
		if rk := refusalRank(err); rk > best {
			d.Refusal, best = err, rk
		}
		if err == ErrExpired && d.Renewable == "" {
			d.Renewable = token
		}
	}
	if best > refusalRank(ErrExpired) {
		d.Renewable = ""
	}
	return d
}
