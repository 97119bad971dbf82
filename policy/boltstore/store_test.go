package boltstore

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/anonaccess/caddy-anonymous-access/policy"
)

func openStore(t *testing.T, path string, now func() time.Time) (*DB, *Store) {
	t.Helper()
	db, err := Open(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	st, err := db.Tenant("acme", now)
	if err != nil {
		t.Fatal(err)
	}
	return db, st
}

func closeStore(t *testing.T, db *DB, st *Store) {
	t.Helper()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestAppStateSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	db, st := openStore(t, path, nil)
	if err := st.PutSpace(ctx, policy.Space{ID: "stats", Type: policy.SpaceManaged}); err != nil {
		t.Fatal(err)
	}
	rec := policy.AppRecord{App: policy.App{ID: "market", Name: "v1", Space: "stats"}, Code: "code-1", Version: 1}
	if _, err := st.EnsureApp(ctx, rec); err != nil {
		t.Fatal(err)
	}
	got, err := st.UpdateApp(ctx, "market", func(r *policy.AppRecord) error {
		r.Code, r.Version, r.AnonymousAccess = "code-2", 2, true
		return nil
	})
	if err != nil || got.Code != "code-2" {
		t.Fatalf("update: %v %+v", err, got)
	}
	// A failing update changes nothing.
	boom := errors.New("boom")
	if _, err := st.UpdateApp(ctx, "market", func(r *policy.AppRecord) error { r.Code = "lost"; return boom }); err != boom {
		t.Fatalf("got %v, want the callback's error", err)
	}
	if _, err := st.UpdateApp(ctx, "ghost", func(*policy.AppRecord) error { return nil }); err != policy.ErrUnknownApp {
		t.Fatalf("unknown app: %v", err)
	}
	key, err := st.SigningKey(ctx, []byte("first-key"))
	if err != nil || string(key) != "first-key" {
		t.Fatalf("signing key %q %v", key, err)
	}
	closeStore(t, db, st)

	db, st = openStore(t, path, nil)
	defer closeStore(t, db, st)
	// Provisioning again with a new definition keeps the secret state.
	rec.Name, rec.Code, rec.Version, rec.AnonymousAccess = "v2", "fresh", 1, false
	got, err = st.EnsureApp(ctx, rec)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "v2" || got.Code != "code-2" || got.Version != 2 || !got.AnonymousAccess {
		t.Fatalf("after reopen and re-provision: %+v", got)
	}
	if key, _ := st.SigningKey(ctx, []byte("second-key")); string(key) != "first-key" {
		t.Fatalf("signing key replaced: %q", key)
	}
	spaces, _ := st.Spaces(ctx)
	if len(spaces) != 1 || spaces[0].Type != policy.SpaceManaged {
		t.Fatalf("spaces %+v", spaces)
	}
}

func sessionRec(i byte, app string, exp time.Time) policy.SessionRecord {
	var k policy.SessionKey
	k[0], k[15] = i, 0xEE
	return policy.SessionRecord{Key: k, App: app, ExpiresAt: exp.Unix()}
}

func TestSessionsSurviveReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	db, st := openStore(t, path, clock)
	for i := byte(0); i < 5; i++ {
		app := "market"
		if i >= 3 {
			app = "sales"
		}
		a := policy.Admission{Session: sessionRec(i, app, now.Add(time.Duration(10+i)*time.Minute)), Capacity: 10}
		if v, err := st.AdmitSession(ctx, a, now); v.Outcome != policy.Admitted || err != nil {
			t.Fatalf("admit %d: %v %v", i, v, err)
		}
	}
	if v, _ := st.AdmitSession(ctx, policy.Admission{Session: sessionRec(9, "x", now.Add(time.Hour)), Capacity: 5}, now); v.Outcome == policy.Admitted {
		t.Fatal("admitted past capacity")
	}
	if err := st.EndSessions(ctx, "sales"); err != nil {
		t.Fatal(err)
	}
	closeStore(t, db, st)

	db, st = openStore(t, path, clock)
	u, _ := st.Usage(ctx, now)
	if u.Active != 3 || u.PerApp["market"] != 3 || u.PerApp["sales"] != 0 || u.Peak != 5 {
		t.Fatalf("after reopen: %+v, want 3 market sessions and peak 5", u)
	}
	closeStore(t, db, st)

	// Ten and a half minutes later the first session has expired; after an hour
	// every batch is gone from the file.
	now = now.Add(10*time.Minute + 30*time.Second)
	db, st = openStore(t, path, clock)
	if u, _ := st.Usage(ctx, now); u.Active != 2 {
		t.Fatalf("after 10.5 minutes: %+v, want 2", u)
	}
	closeStore(t, db, st)
	now = now.Add(time.Hour)
	db, st = openStore(t, path, clock)
	defer closeStore(t, db, st)
	if u, _ := st.Usage(ctx, now); u.Active != 0 {
		t.Fatalf("after an hour: %+v", u)
	}
	if err := st.Flush(); err != nil {
		t.Fatal(err)
	}
	var batches int
	_ = st.view(func(tb *bbolt.Bucket) error {
		batches = tb.Bucket(bucketSessions).Stats().KeyN + tb.Bucket(bucketEnded).Stats().KeyN
		return nil
	})
	if batches != 0 {
		t.Fatalf("%d expired batches left in the file", batches)
	}
}

func TestSecondOpenTimesOut(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	db, err := Open(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// bbolt's lock is per open file description, so a second Open in the
	// same process waits like another process would.
	_, err = Open(path, 50*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "locked by another process") {
		t.Fatalf("second open: %v", err)
	}
}
