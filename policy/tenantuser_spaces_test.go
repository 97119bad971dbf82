package policy

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestSpaceViewCan decides a space's "can" for every space role (and a
// tenant admin who is no member), with Public link creation allowed or
// denied, in a managed and a shared space, against a table written out
// by hand from DESIGN.md's matrix.
func TestSpaceViewCan(t *testing.T) {
	const (
		members = "manage_members see_anonymous_member "
		publish = "publish_app "
		share   = "set_anonymous_access "
	)
	for _, tc := range []struct {
		role   SpaceRole
		admin  bool
		plc    bool
		typ    SpaceType
		allows string
	}{
		{SpaceOwner, false, true, SpaceManaged, members + publish + share},
		{SpaceOwner, false, false, SpaceManaged, members + publish},
		{SpaceOwner, false, true, SpaceShared, members + publish},
		{SpaceOwner, false, true, SpacePersonal, members + publish},
		{SpaceCanManage, false, true, SpaceManaged, members + publish + share},
		{SpaceCanManage, false, false, SpaceManaged, members + publish},
		{SpaceCanManage, false, true, SpaceShared, members + publish},
		{SpaceCanContribute, false, true, SpaceManaged, publish},
		{SpaceCanContribute, false, false, SpaceShared, publish},
		{SpaceCanView, false, true, SpaceManaged, ""},
		{SpaceHasRestrictedView, false, true, SpaceManaged, ""},
		{SpaceCanOperate, false, true, SpaceManaged, ""},
		{SpaceCanView, true, true, SpaceManaged, ""},
		{"", true, true, SpaceManaged, ""},
	} {
		s := Subject{SpaceRole: tc.role, TenantAdmin: tc.admin, PublicLinkCreation: tc.plc}
		v := newSpaceView(Space{ID: "stats", Type: tc.typ, Owner: "olivia"}, s)
		if v.Role != tc.role {
			t.Errorf("%+v: role %q", tc, v.Role)
		}
		for _, act := range []Action{ActManageMembers, ActSeeAnonymousMember, ActPublishApp, ActSetAnonymousAccess} {
			want := strings.Contains(" "+tc.allows, " "+string(act)+" ")
			got, listed := v.Can[act]
			if !listed || got != want {
				t.Errorf("role %q, tenant admin %v, public link creation %v, %s space: can[%s] = %v (listed %v), want %v",
					tc.role, tc.admin, tc.plc, tc.typ, act, got, listed, want)
			}
		}
	}
}

// TestSpaceViewJSON checks "can" is written for every space, with the
// actions' names as keys, and apps only where they are listed.
func TestSpaceViewJSON(t *testing.T) {
	v := newSpaceView(Space{ID: "stats", Type: SpaceManaged}, Subject{SpaceRole: SpaceCanView})
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	want := `"role":"can_view","can":{"manage_members":false,"publish_app":false,"see_anonymous_member":false,"set_anonymous_access":false}}`
	if !strings.HasSuffix(string(raw), want) {
		t.Fatalf("space JSON:\n got %s\nwant …%s", raw, want)
	}
}
