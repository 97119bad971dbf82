package policy

import (
	"context"
	"time"
)

// Store keeps a tenant's state: spaces, apps with their access codes and
// versions, the signing key and the live sessions that count against
// capacity. Implementations make every read-modify-write atomic and every
// state write durable before returning; the embedded store may write
// session admissions behind (at most boltstore.FlushInterval), which a crash
// can forget.
type Store interface {
	// Spaces returns every space of the tenant.
	Spaces(ctx context.Context) ([]Space, error)
	// PutSpace creates or replaces a space.
	PutSpace(ctx context.Context, s Space) error
	// Apps returns every app of the tenant with its secret state.
	Apps(ctx context.Context) ([]AppRecord, error)
	// EnsureApp stores rec if no app has its id; otherwise it stores
	// Reprovisioned(stored, rec), in one atomic step. It returns what is
	// stored afterwards.
	EnsureApp(ctx context.Context, rec AppRecord) (AppRecord, error)
	// UpdateApp applies fn to the stored app atomically and durably. fn
	// may be called more than once (optimistic retries) and must only
	// change the record. It returns ErrUnknownApp when there is none, or
	// fn's error unchanged.
	UpdateApp(ctx context.Context, id string, fn func(*AppRecord) error) (AppRecord, error)
	// SigningKey returns the tenant's stored signing key, storing
	// candidate first when there is none.
	SigningKey(ctx context.Context, candidate []byte) ([]byte, error)

	// AdmitSession records a new live session at now if the tenant has
	// fewer than a.Capacity live sessions, the client fewer than
	// a.ClientLimit (when above 0), and the session it renews (if any) was
	// not renewed before; all of it atomically, in one step, so that
	// concurrent admissions on any number of instances never exceed either
	// limit nor renew one session twice. A session already live is
	// admitted again without taking a second slot. The error is the
	// store's own failure only; a refusal is in the Verdict.
	AdmitSession(ctx context.Context, a Admission, now time.Time) (Verdict, error)
	// EndSessions forgets every live session of an app.
	EndSessions(ctx context.Context, app string) error
	// Usage reports the live sessions at now.
	Usage(ctx context.Context, now time.Time) (Usage, error)

	// CreateSpace stores a new space, or returns ErrSpaceExists when a
	// space has its id.
	CreateSpace(ctx context.Context, s Space) error
	// CreateApp stores a new app, or returns ErrAppExists when an app has
	// its id.
	CreateApp(ctx context.Context, rec AppRecord) error
	// DeleteApp removes an app atomically if check, called on the stored
	// app, returns nil; it returns ErrUnknownApp when there is none, or
	// check's error unchanged. check may be called more than once.
	DeleteApp(ctx context.Context, id string, check func(AppRecord) error) (AppRecord, error)
	// AccessModel returns the tenant's roles, role assignments and space
	// members; an empty model when none is stored.
	AccessModel(ctx context.Context) (AccessModel, error)
	// UpdateAccessModel applies fn to the stored model atomically and
	// durably. fn may be called more than once, each time on a fresh copy,
	// and must only change the model. It returns fn's error unchanged.
	UpdateAccessModel(ctx context.Context, fn func(*AccessModel) error) (AccessModel, error)
	// AppendAudit stores an audit entry durably with the next ID of the
	// tenant, keeping the newest AuditRetention entries, and returns it.
	AppendAudit(ctx context.Context, e AuditEntry) (AuditEntry, error)
	// AuditLog returns at most limit entries with an ID below before
	// (every ID when before is 0), newest first.
	AuditLog(ctx context.Context, before uint64, limit int) ([]AuditEntry, error)
}

// Watcher is implemented by stores that several gateway instances share.
// The tenant keeps its in-memory view of apps current through it, so the
// per-request path never asks the store.
type Watcher interface {
	// Watch calls onChange after every change made by any instance (an
	// app turned on or off, a code reset, an app or space written), and
	// once more after every reconnection, since changes may have been
	// missed meanwhile. It blocks until ctx is done.
	Watch(ctx context.Context, onChange func()) error
	// Notify tells every instance that the tenant's state changed.
	Notify(ctx context.Context) error
	// Healthy reports whether the change feed is connected now, and since
	// when it has not been, when it is not.
	Healthy() (ok bool, downSince time.Time)
}
