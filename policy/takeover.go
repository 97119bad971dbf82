package policy

import "context"

// ConfigActor is the actor of changes the operator's configuration makes
// to the store as it is loaded.
const ConfigActor = "operator (configuration)"

// AuditTakeOverApp is the audit action of the configuration taking over an
// app of the same id that a tenant user had published.
const AuditTakeOverApp = "take_over_app"

// recordTakeOver audits the configuration taking over an app a tenant user
// had published: before is the store's apps before provisioning, got what
// provisioning stored.
func (t *Tenant) recordTakeOver(ctx context.Context, before []AppRecord, got AppRecord) {
	for _, old := range before {
		if old.ID == got.ID && !old.Provisioned {
			t.record(ctx, AuditEntry{Actor: ConfigActor, Action: AuditTakeOverApp, Space: got.Space, App: got.ID,
				Value: "was published in space " + old.Space})
			return
		}
	}
}

// retireDropped marks the provisioned apps that no configuration in force
// has any more (defs) as retired, so that a configuration adding one back
// takes it over with a new version and code: a session or link of the
// dropped app never comes back with it. Called only while some
// configuration is in force: a process shutting down retires nothing.
func (t *Tenant) retireDropped(ctx context.Context, recs []AppRecord, defs map[string]App) {
	for i, r := range recs {
		if _, live := defs[r.ID]; !r.Provisioned || r.Retired || live {
			continue
		}
		got, err := t.store.UpdateApp(ctx, r.ID, func(a *AppRecord) error {
			a.Retired = true
			return nil
		})
		if err == nil {
			recs[i] = got
		}
	}
}
