package boltstore

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/anonaccess/caddy-anonymous-access/policy"
	"github.com/anonaccess/caddy-anonymous-access/policy/storetest"
)

// fileBacking is one state file for one subtest of the store suite.
type fileBacking struct {
	t      *testing.T
	path   string
	db     *DB
	stores []*Store
}

func (f *fileBacking) open(tenant string, now func() time.Time) policy.Store {
	st, err := f.db.Tenant(tenant, now)
	if err != nil {
		f.t.Fatal(err)
	}
	f.stores = append(f.stores, st)
	return st
}

// close closes the tenants, which writes their pending sessions, and then
// the file: a graceful stop.
func (f *fileBacking) close() {
	for _, st := range f.stores {
		if err := st.Close(); err != nil {
			f.t.Error(err)
		}
	}
	f.stores = nil
	if err := f.db.Close(); err != nil {
		f.t.Error(err)
	}
}

func (f *fileBacking) restart() {
	f.close()
	db, err := Open(f.path, time.Second)
	if err != nil {
		f.t.Fatal(err)
	}
	f.db = db
}

func TestStoreSuite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Backing {
		f := &fileBacking{t: t, path: filepath.Join(t.TempDir(), "state.db")}
		db, err := Open(f.path, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		f.db = db
		t.Cleanup(f.close)
		return storetest.Backing{Open: f.open, Restart: f.restart}
	})
}
