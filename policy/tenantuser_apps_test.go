package policy

import (
	"testing"
)

// TestAppViewCanWhenOn decides what each space role (and a tenant admin
// who is no member), with Public link creation allowed or denied, could
// copy once an app is shared, against a table written out by hand from
// DESIGN.md's matrix; and that "can" says the same only while it is on.
func TestAppViewCanWhenOn(t *testing.T) {
	for _, tc := range []struct {
		role        SpaceRole
		admin, plc  bool
		link, embed bool
	}{
		{role: SpaceOwner, plc: true, link: true, embed: true},
		{role: SpaceOwner, link: true},
		{role: SpaceCanManage, plc: true, link: true, embed: true},
		{role: SpaceCanManage, link: true},
		{role: SpaceCanContribute, plc: true, link: true},
		{role: SpaceCanView, plc: true, link: true},
		{role: SpaceCanView, link: true},
		{role: SpaceHasRestrictedView, plc: true, link: true},
		{role: SpaceCanOperate, link: true},
		{role: "", admin: true, plc: true},
	} {
		s := Subject{SpaceRole: tc.role, TenantAdmin: tc.admin, PublicLinkCreation: tc.plc}
		for _, typ := range []SpaceType{SpaceManaged, SpaceShared} {
			sp := Space{ID: "stats", Type: typ, Owner: "olivia"}
			for _, on := range []bool{false, true} {
				for _, provisioned := range []bool{false, true} {
					a := App{ID: "market", Space: "stats", AnonymousAccess: on, Provisioned: provisioned}
					v := newAppView(a, sp, s)
					what := func(act Action) string {
						return string(tc.role) + " (plc " + OnOff(tc.plc) + ", " + string(typ) + ", sharing " + OnOff(on) + "): " + string(act)
					}
					if len(v.CanWhenOn) != 2 {
						t.Errorf("%s: can_when_on lists %v, want copy_link and copy_embed_code", what(""), v.CanWhenOn)
					}
					for act, want := range map[Action]bool{ActCopyLink: tc.link, ActCopyEmbedCode: tc.embed} {
						if got, listed := v.CanWhenOn[act]; !listed || got != want {
							t.Errorf("%s: can_when_on = %v (listed %v), want %v", what(act), got, listed, want)
						}
						if got := v.Can[act]; got != (want && on) {
							t.Errorf("%s: can = %v, want %v", what(act), got, want && on)
						}
					}
				}
			}
		}
	}
}
