package policy

import "context"

// Operator is the admin API and CLI as the gateway's operator uses them on
// Caddy's admin endpoint: no tenant permissions apply, and every change is
// recorded in the audit log as made by OperatorActor.
type Operator struct {
	t *Tenant
	// From is the admin client's address, for the audit log.
	From string
}

// AsOperator returns the operator's API for a request from an admin client
// at from.
func (t *Tenant) AsOperator(from string) Operator { return Operator{t: t, From: from} }

func (o Operator) record(ctx context.Context, action string, a App, value string) {
	o.t.record(ctx, AuditEntry{Actor: OperatorActor, From: o.From, Action: action, Space: a.Space, App: a.ID, Value: value})
}

// Apps returns every served app, sorted by id.
func (o Operator) Apps() []App { return o.t.Apps() }

// SetAnonymousAccess turns an app's anonymous access on or off.
func (o Operator) SetAnonymousAccess(ctx context.Context, id string, on bool) (App, error) {
	a, err := o.t.setAnonymousAccess(ctx, id, on)
	if err != nil {
		return App{}, err
	}
	o.record(ctx, AuditSetAnonymousAccess, a, OnOff(a.AnonymousAccess))
	return a, nil
}

// ResetCode gives an app a new access code, killing every old link and
// embed code.
func (o Operator) ResetCode(ctx context.Context, id string) (App, error) {
	a, err := o.t.resetCode(ctx, id)
	if err != nil {
		return App{}, err
	}
	o.record(ctx, AuditResetCode, a, "")
	return a, nil
}

// Link returns an app's link while its anonymous access is on.
func (o Operator) Link(id string) (string, error) { return o.t.Link(id) }

// EmbedCode returns an app's embed code while its anonymous access is on.
func (o Operator) EmbedCode(id string, opts LinkOptions) (html, url string, err error) {
	return o.t.EmbedCode(id, opts)
}

// Capacity reports the tenant's capacity and use.
func (o Operator) Capacity(ctx context.Context) (CapacityReport, error) { return o.t.Capacity(ctx) }

// Tenant is the name of the tenant the operator acts on.
func (o Operator) Tenant() string { return o.t.Name() }
