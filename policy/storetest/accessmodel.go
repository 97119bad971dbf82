package storetest

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"testing"

	"github.com/anonaccess/caddy-anonymous-access/policy"
)

// ensureMaps gives m the maps a fn adds to. The contract promises an empty
// model, not which of its maps are allocated.
func ensureMaps(m *policy.AccessModel) {
	if m.Roles == nil {
		m.Roles = map[string]policy.Role{}
	}
	if m.Users == nil {
		m.Users = map[string][]string{}
	}
	if m.Members == nil {
		m.Members = map[string]map[string]policy.SpaceRole{}
	}
}

func emptyModel(m policy.AccessModel) bool {
	return m.UserDefault == "" && len(m.Roles) == 0 && len(m.Users) == 0 && len(m.Members) == 0
}

// sampleModel has something in every part of a model.
func sampleModel() policy.AccessModel {
	return policy.AccessModel{
		UserDefault: policy.GrantAllowed,
		Roles: map[string]policy.Role{
			"Publishers": {Name: "Publishers", Description: "May share apps", PublicLinkCreation: policy.GrantAllowed},
			"Readers":    {Name: "Readers", PublicLinkCreation: policy.GrantDenied},
		},
		Users: map[string][]string{
			"alice": {policy.RoleTenantAdmin, "Publishers"},
			"bob":   {"Readers"},
		},
		Members: map[string]map[string]policy.SpaceRole{
			"stats": {"bob": policy.SpaceCanView, "carol": policy.SpaceCanManage},
			"team":  {"alice": policy.SpaceCanOperate},
		},
	}
}

// wantModel compares models, taking an absent map and an empty one as the
// same.
func wantModel(t *testing.T, got, want policy.AccessModel) {
	t.Helper()
	if !reflect.DeepEqual(got.Clone(), want.Clone()) {
		t.Fatalf("access model\n %+v\nwant\n %+v", got, want)
	}
}

func storedModel(t *testing.T, st policy.Store) policy.AccessModel {
	t.Helper()
	m, err := st.AccessModel(context.Background())
	must(t, err)
	return m
}

func testAccessModel(t *testing.T, b Backing) {
	ctx := context.Background()
	st := b.Open("acme", newClock().Now)
	if m := storedModel(t, st); !emptyModel(m) {
		t.Fatalf("fresh store's access model: %+v, want an empty one", m)
	}
	got, err := st.UpdateAccessModel(ctx, func(m *policy.AccessModel) error {
		if !emptyModel(*m) {
			return fmt.Errorf("fn got %+v on a fresh store, not an empty model", *m)
		}
		*m = sampleModel()
		return nil
	})
	must(t, err)
	wantModel(t, got, sampleModel())
	wantModel(t, storedModel(t, st), sampleModel())

	// What a caller got holds no reference to what is stored.
	got.Users["alice"][0] = "mutated"
	got.Roles["Evil"] = policy.Role{Name: "Evil"}
	got.Members["stats"]["mallory"] = policy.SpaceOwner
	read := storedModel(t, st)
	read.Users["bob"][0] = "mutated"
	delete(read.Members, "team")
	wantModel(t, storedModel(t, st), sampleModel())

	// A failing fn stores nothing, whatever it did to its copy, and its
	// error comes back unchanged.
	_, err = st.UpdateAccessModel(ctx, func(m *policy.AccessModel) error {
		m.UserDefault = policy.GrantDenied
		delete(m.Roles, "Publishers")
		m.Users["alice"][1] = "Readers"
		m.Users["mallory"] = []string{policy.RoleTenantAdmin}
		m.Members["stats"]["mallory"] = policy.SpaceCanManage
		return errRefused
	})
	if err != errRefused {
		t.Fatalf("UpdateAccessModel with a failing fn: %v, want the fn's error unchanged", err)
	}
	wantModel(t, storedModel(t, st), sampleModel())

	// The next fn gets the stored model, untouched by the failed one.
	want := sampleModel()
	delete(want.Users, "bob")
	want.Members["stats"]["dave"] = policy.SpaceHasRestrictedView
	got, err = st.UpdateAccessModel(ctx, func(m *policy.AccessModel) error {
		if !reflect.DeepEqual(m.Clone(), sampleModel().Clone()) {
			return fmt.Errorf("fn got %+v, not the stored model", *m)
		}
		delete(m.Users, "bob")
		m.Members["stats"]["dave"] = policy.SpaceHasRestrictedView
		return nil
	})
	must(t, err)
	wantModel(t, got, want)
	wantModel(t, storedModel(t, st), want)
}

// testAccessModelConcurrent has many tenant admins change the model at
// once, each adding its own users: none is lost. Every update also appends
// to one shared list, which must then hold each update exactly once: an
// fn retried on a copy it had already changed would add twice.
func testAccessModelConcurrent(t *testing.T, b Backing) {
	ctx := context.Background()
	st := b.Open("acme", newClock().Now)
	const workers, each = 16, 4
	errs := make(chan error, workers*each)
	var wg sync.WaitGroup
	ready := make(chan struct{})
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-ready
			role := fmt.Sprintf("role-%02d", w)
			for i := range each {
				user := fmt.Sprintf("user-%02d-%d", w, i)
				_, err := st.UpdateAccessModel(ctx, func(m *policy.AccessModel) error {
					ensureMaps(m)
					m.Roles[role] = policy.Role{Name: role, PublicLinkCreation: policy.GrantAllowed}
					m.Users[user] = []string{role}
					m.Users["log"] = append(m.Users["log"], user)
					if m.Members["stats"] == nil {
						m.Members["stats"] = map[string]policy.SpaceRole{}
					}
					m.Members["stats"][user] = policy.SpaceCanView
					return nil
				})
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	close(ready)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent UpdateAccessModel: %v", err)
	}
	m := storedModel(t, st)
	if len(m.Roles) != workers || len(m.Users) != workers*each+1 || len(m.Members["stats"]) != workers*each {
		t.Fatalf("after %d concurrent updates: %d roles, %d users, %d members (updates lost)",
			workers*each, len(m.Roles), len(m.Users)-1, len(m.Members["stats"]))
	}
	seen := map[string]bool{}
	for _, user := range m.Users["log"] {
		if seen[user] {
			t.Fatalf("update of %s applied twice: %q", user, m.Users["log"])
		}
		seen[user] = true
	}
	for w := range workers {
		for i := range each {
			user := fmt.Sprintf("user-%02d-%d", w, i)
			if want := fmt.Sprintf("role-%02d", w); !reflect.DeepEqual(m.Users[user], []string{want}) || !seen[user] ||
				m.Members["stats"][user] != policy.SpaceCanView {
				t.Fatalf("update of %s lost: roles %q, member %q, logged %v", user, m.Users[user], m.Members["stats"][user], seen[user])
			}
		}
	}
}
