package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/anonaccess/caddy-anonymous-access/policy"
)

// sameEntry compares audit entries, their times as instants: a store may
// give back another location than the one written.
func sameEntry(a, b policy.AuditEntry) bool {
	if !a.Time.Equal(b.Time) {
		return false
	}
	a.Time, b.Time = time.Time{}, time.Time{}
	return a == b
}

// auditLog reads a page and checks what every page must be: at most limit
// entries, IDs below before and strictly decreasing.
func auditLog(t *testing.T, st policy.Store, before uint64, limit int) []policy.AuditEntry {
	t.Helper()
	page, err := st.AuditLog(context.Background(), before, limit)
	must(t, err)
	if len(page) > max(limit, 0) {
		t.Fatalf("AuditLog(%d, %d) returned %d entries", before, limit, len(page))
	}
	for i, e := range page {
		if before != 0 && e.ID >= before {
			t.Fatalf("AuditLog(%d, %d) returned ID %d, not below before", before, limit, e.ID)
		}
		if i > 0 && e.ID >= page[i-1].ID {
			t.Fatalf("AuditLog(%d, %d) IDs not newest first: %d after %d", before, limit, e.ID, page[i-1].ID)
		}
	}
	return page
}

// wantLog checks that a page is the given entries, oldest first, in
// reverse.
func wantLog(t *testing.T, page, oldestFirst []policy.AuditEntry) {
	t.Helper()
	ok := len(page) == len(oldestFirst)
	for i := 0; ok && i < len(page); i++ {
		ok = sameEntry(page[i], oldestFirst[len(oldestFirst)-1-i])
	}
	if !ok {
		t.Fatalf("audit log\n %+v\nwant, newest first, the reverse of\n %+v", page, oldestFirst)
	}
}

func testAuditLog(t *testing.T, b Backing) {
	ctx := context.Background()
	st := b.Open("acme", newClock().Now)
	if page := auditLog(t, st, 0, 10); len(page) != 0 {
		t.Fatalf("fresh store's audit log: %+v", page)
	}
	const n = 25
	var entries []policy.AuditEntry
	for i := range n {
		e := auditEntry(i, fmt.Sprintf("user-%d", i%3))
		got, err := st.AppendAudit(ctx, e)
		must(t, err)
		if i > 0 && got.ID <= entries[i-1].ID {
			t.Fatalf("audit ID %d after %d: IDs must increase", got.ID, entries[i-1].ID)
		}
		e.ID = got.ID
		if !sameEntry(got, e) {
			t.Fatalf("AppendAudit returned %+v, want %+v with its ID", got, e)
		}
		entries = append(entries, got)
	}
	id := func(i int) uint64 { return entries[i].ID }

	wantLog(t, auditLog(t, st, 0, 10), entries[n-10:])
	wantLog(t, auditLog(t, st, 0, 1000), entries)
	// Paging by the last ID of each page walks the whole log once.
	var all []policy.AuditEntry
	pages := 0
	for before := uint64(0); ; pages++ {
		page := auditLog(t, st, before, 10)
		if len(page) == 0 {
			break
		}
		all = append(all, page...)
		before = page[len(page)-1].ID
	}
	if pages != 3 {
		t.Fatalf("%d entries in %d pages of 10, want 3", n, pages)
	}
	wantLog(t, all, entries)

	wantLog(t, auditLog(t, st, id(10), 3), entries[7:10])
	wantLog(t, auditLog(t, st, id(10), 100), entries[:10])
	wantLog(t, auditLog(t, st, id(1), 100), entries[:1])
	wantLog(t, auditLog(t, st, id(0), 100), nil)
	wantLog(t, auditLog(t, st, id(n-1)+1, 2), entries[n-2:])
	wantLog(t, auditLog(t, st, id(n-1)+1000, 1), entries[n-1:])
	wantLog(t, auditLog(t, st, 0, 1), entries[n-1:])
	wantLog(t, auditLog(t, st, 0, 0), nil)

	// The store assigns the ID, whatever the caller put there.
	bogus := auditEntry(n, "user-0")
	bogus.ID = id(n-1) + 1000
	got, err := st.AppendAudit(ctx, bogus)
	must(t, err)
	if got.ID <= id(n-1) || got.ID == bogus.ID {
		t.Fatalf("AppendAudit of an entry with ID %d returned ID %d, want the next after %d", bogus.ID, got.ID, id(n-1))
	}
	if page := auditLog(t, st, 0, 1); len(page) != 1 || page[0].ID != got.ID {
		t.Fatalf("newest entry %+v, want ID %d", page, got.ID)
	}
}

// testAuditConcurrent appends from many callers at once: every entry gets
// its own ID and is kept.
func testAuditConcurrent(t *testing.T, b Backing) {
	ctx := context.Background()
	st := b.Open("acme", newClock().Now)
	const callers, each = 16, 8
	var (
		mu    sync.Mutex
		byID  = map[uint64]policy.AuditEntry{}
		dupID uint64
	)
	errs := make(chan error, callers*each)
	var wg sync.WaitGroup
	ready := make(chan struct{})
	for c := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-ready
			for i := range each {
				got, err := st.AppendAudit(ctx, auditEntry(c*each+i, fmt.Sprintf("caller-%02d", c)))
				if err != nil {
					errs <- err
					continue
				}
				mu.Lock()
				if _, dup := byID[got.ID]; dup {
					dupID = got.ID
				}
				byID[got.ID] = got
				mu.Unlock()
			}
		}()
	}
	close(ready)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent AppendAudit: %v", err)
	}
	if dupID != 0 {
		t.Fatalf("two concurrent appends got ID %d", dupID)
	}
	page := auditLog(t, st, 0, 1000)
	if len(page) != callers*each {
		t.Fatalf("audit log holds %d entries after %d appends", len(page), callers*each)
	}
	for _, e := range page {
		if want, ok := byID[e.ID]; !ok || !sameEntry(e, want) {
			t.Fatalf("audit log entry %+v, but AppendAudit returned %+v for its ID", e, want)
		}
	}
}
