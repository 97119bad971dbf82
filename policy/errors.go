// Package policy is the domain of anonymous access: apps and spaces, access
// codes, anonymous sessions and their tokens, the tenant's capacity of
// concurrent sessions, and the Store that keeps them. It knows nothing of
// Caddy or HTTP, so every rule can be read, tested and benchmarked alone.
package policy

import (
	"errors"
	"time"
)

// Errors returned by the domain. None of them ever carries an access code,
// a token or a session id, so they are safe to log and to show to clients.
var (
	// ErrDenied is the single answer to an unknown app, a wrong access
	// code or an app whose anonymous access is off: one error, so a caller
	// cannot learn which of the three it was.
	ErrDenied = errors.New("this link is not valid")
	// ErrCapacityFull means the tenant's capacity of concurrent anonymous
	// sessions is reached.
	ErrCapacityFull = errors.New("anonymous capacity reached, try again shortly")
	// ErrRateLimited means a client failed too many times recently.
	ErrRateLimited = errors.New("too many failed attempts, try again later")
	// ErrClientLimit means the client (an IPv4 address, an IPv6 /64)
	// already holds as many live sessions as one client may.
	ErrClientLimit = errors.New("too many open sessions from this network, try again later")

	// ErrNoSession means a protected request carried no session.
	ErrNoSession = errors.New("no anonymous session")
	// ErrExpired means the session's 15 minutes are over.
	ErrExpired = errors.New("anonymous session expired")
	// ErrRevoked means the app was turned off or its access code reset
	// since the session started.
	ErrRevoked = errors.New("anonymous session ended: the link was turned off or reset")
	// ErrInvalidToken means a session token failed verification.
	ErrInvalidToken = errors.New("invalid session token")
	// ErrOutOfScope means the path is outside the app's scope or denied.
	ErrOutOfScope = errors.New("path not shared with anonymous users")
	// ErrMethodNotAllowed means the app does not allow the request method.
	ErrMethodNotAllowed = errors.New("method not allowed for anonymous users")
	// ErrBadPath means the path holds dot segments, encoded slashes or
	// other constructs that could be read differently by the backend.
	ErrBadPath = errors.New("malformed request path")

	// ErrUnknownApp means no app has the given id (operator and tenant
	// APIs only; anonymous callers get ErrDenied instead).
	ErrUnknownApp = errors.New("unknown app")
	// ErrUnknownSpace means no space has the given id.
	ErrUnknownSpace = errors.New("unknown space")
	// ErrNotManaged means the app's space is not a managed space, and only
	// apps in managed spaces can have anonymous access.
	ErrNotManaged = errors.New("anonymous access needs an app in a managed space")
	// ErrOff means an app link or embed code was asked for while the app's
	// anonymous access is off.
	ErrOff = errors.New("anonymous access is off for this app")
	// ErrAppExists means an app with that id already exists.
	ErrAppExists = errors.New("an app with this id already exists")
	// ErrSpaceExists means a space with that id already exists.
	ErrSpaceExists = errors.New("a space with this id already exists")
	// ErrRoleExists means a role with that name already exists.
	ErrRoleExists = errors.New("a role with this name already exists")
	// ErrUnknownRole means no tenant role has the given name.
	ErrUnknownRole = errors.New("unknown role")
	// ErrNotMember means the user is not a member of the space.
	ErrNotMember = errors.New("not a member of this space")
	// ErrProvisioned means an app or space comes from the operator's
	// configuration and can be changed only there (its anonymous access
	// excepted).
	ErrProvisioned = errors.New("provisioned in the gateway configuration; change it there")
	// ErrOwner means the change would take the space's owner away; the
	// owner is set when the space is created.
	ErrOwner = errors.New("the space owner is set when the space is created and cannot be changed here")
	// ErrForbidden means the user is not permitted to do this.
	ErrForbidden = errors.New("not permitted")
	// ErrUnauthenticated means the request carries no valid identity.
	ErrUnauthenticated = errors.New("sign-in required: no valid identity")
	// ErrTooManyChanges means a tenant user made more changes through the
	// management API in the last minute than ChangesPerMinute.
	ErrTooManyChanges = errors.New("too many changes in a minute: wait a little")

	// ErrStoreUnavailable means the store cannot be reached; callers fail
	// closed.
	ErrStoreUnavailable = errors.New("state store unavailable")
)

// RetryError is a refusal that ends by itself: Err (ErrRateLimited,
// ErrClientLimit, ErrTooManyChanges) with the time until trying again may
// succeed.
type RetryError struct {
	Err        error
	RetryAfter time.Duration
}

func (e *RetryError) Error() string { return e.Err.Error() }

// Unwrap lets errors.Is match Err.
func (e *RetryError) Unwrap() error { return e.Err }

// InvalidError reports bad input: a malformed id, path or setting. Its
// message names the field, never a secret.
type InvalidError struct {
	Field  string
	Reason string
}

func (e *InvalidError) Error() string { return e.Field + ": " + e.Reason }

func invalid(field, reason string) error { return &InvalidError{Field: field, Reason: reason} }
