package storetest

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// breakEnv names the defect the reference store runs with, in the child
// processes of TestSuiteCatchesDefects.
const breakEnv = "STORETEST_BREAK"

// TestReferenceStore runs the suite against the in-memory reference store:
// the suite passes a correct store. With breakEnv set it runs a defective
// one instead, and is expected to fail.
func TestReferenceStore(t *testing.T) {
	broken := os.Getenv(breakEnv)
	Run(t, func(t *testing.T) Backing {
		b := &memBacking{tenants: map[string]*memTenant{}, broken: broken}
		return Backing{Open: b.open, Restart: b.restart}
	})
}

// TestSuiteCatchesDefects runs the suite against deliberately broken
// stores, each in a child process, and checks that the subtest meant to
// catch the defect fails.
func TestSuiteCatchesDefects(t *testing.T) {
	if os.Getenv(breakEnv) != "" {
		t.Skip("in a child process")
	}
	defects := map[string]string{
		"ensure-overwrites":          "EnsureApp",
		"update-keeps-failed":        "UpdateApp",
		"update-racy":                "UpdateAppConcurrent",
		"signing-key-replaced":       "SigningKey",
		"admit-racy":                 "AdmitSessionExact",
		"client-racy":                "ClientLimitExact",
		"client-keeps-ended":         "ClientLimitFrees",
		"renew-twice":                "RenewOnce",
		"expiry-late":                "SessionExpiry",
		"end-every-app":              "EndSessions",
		"shared-tenants":             "TenantsIsolated",
		"forget-sessions-on-restart": "Durable",
	}
	for defect, subtest := range defects {
		t.Run(defect, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(os.Args[0], "-test.run=^TestReferenceStore$", "-test.count=1", "-test.v")
			cmd.Env = append(os.Environ(), breakEnv+"="+defect)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the suite passed a store with defect %q:\n%s", defect, out)
			}
			if want := "--- FAIL: TestReferenceStore/" + subtest + " "; !strings.Contains(string(out), want) {
				t.Fatalf("defect %q: subtest %s did not fail:\n%s", defect, subtest, out)
			}
		})
	}
}
