package policy

// ChangesPerMinute bounds the changes one tenant user makes through the
// management API: more than any person or script managing a tenant needs,
// and few enough that nobody can push the audit log's history out (its
// newest AuditRetention entries) in less than half a day.
const ChangesPerMinute = 120

// AllowChange counts one change by user and refuses it past
// ChangesPerMinute. The count lives in the same fixed-memory table as the
// failure limiter's, under a key no address can take.
func (t *Tenant) AllowChange(user string) error {
	now, key := t.now(), "user:"+user
	if ok, wait := t.changes.Check(key, now); !ok {
		return &RetryError{Err: ErrTooManyChanges, RetryAfter: wait}
	}
	t.changes.Fail(key, now)
	return nil
}
