package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"

	"github.com/anonaccess/caddy-anonymous-access/policy"
)

func init() {
	caddy.RegisterModule(AdminAPI{})
}

// AdminAPI adds the operator routes under /anonymous-access/ to Caddy's admin
// endpoint. The admin endpoint is the operator's: no tenant permissions
// apply here.
type AdminAPI struct{}

// CaddyModule returns the Caddy module information.
func (AdminAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "admin.api.anonymous_access",
		New: func() caddy.Module { return new(AdminAPI) },
	}
}

// Routes returns the admin routes.
func (a *AdminAPI) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{{Pattern: "/anonymous-access/", Handler: caddy.AdminHandlerFunc(a.serve)}}
}

func (a *AdminAPI) serve(w http.ResponseWriter, r *http.Request) error {
	t, err := pickTenant(r.URL.Query().Get("tenant"))
	if err != nil {
		return err
	}
	op := t.AsOperator(adminClient(r))
	parts := strings.Split(strings.Trim(strings.TrimPrefix(r.URL.Path, "/anonymous-access/"), "/"), "/")
	switch {
	case len(parts) == 1 && parts[0] == "apps":
		if err := requireMethod(r, http.MethodGet); err != nil {
			return err
		}
		return writeJSON(w, op.Apps())
	case len(parts) == 1 && parts[0] == "capacity":
		if err := requireMethod(r, http.MethodGet); err != nil {
			return err
		}
		rep, err := op.Capacity(r.Context())
		if err != nil {
			return apiError(err)
		}
		return writeJSON(w, rep)
	case len(parts) == 3 && parts[0] == "apps":
		return a.serveApp(w, r, op, t.Name(), parts[1], parts[2])
	}
	return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: errNotFound}
}

func (a *AdminAPI) serveApp(w http.ResponseWriter, r *http.Request, op policy.Operator, tenant, app, verb string) error {
	switch verb {
	case "enable", "disable":
		if err := requireMethod(r, http.MethodPost); err != nil {
			return err
		}
		got, err := op.SetAnonymousAccess(r.Context(), app, verb == "enable")
		if err != nil {
			return apiError(err)
		}
		return writeJSON(w, got)
	case "reset-code":
		if err := requireMethod(r, http.MethodPost); err != nil {
			return err
		}
		got, err := op.ResetCode(r.Context(), app)
		if err != nil {
			return apiError(err)
		}
		countReset(tenant, app)
		return writeJSON(w, got)
	case "link":
		if err := requireMethod(r, http.MethodGet); err != nil {
			return err
		}
		u, err := op.Link(app)
		if err != nil {
			return apiError(err)
		}
		return writeJSON(w, map[string]string{"url": u})
	case "embed-code":
		if err := requireMethod(r, http.MethodGet); err != nil {
			return err
		}
		q := r.URL.Query()
		html, u, err := op.EmbedCode(app, policy.LinkOptions{Object: q.Get("object"), Width: q.Get("width"), Height: q.Get("height")})
		if err != nil {
			return apiError(err)
		}
		return writeJSON(w, map[string]string{"html": html, "url": u})
	}
	return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: errNotFound}
}

// adminClient is the admin client's address, for the audit log.
func adminClient(r *http.Request) string {
	from, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return from
}

func pickTenant(name string) (*policy.Tenant, error) {
	all := runningTenants()
	names := make([]string, 0, len(all))
	for _, t := range all {
		if t.Name() == name {
			return t, nil
		}
		names = append(names, t.Name())
	}
	switch {
	case name != "":
		return nil, caddy.APIError{HTTPStatus: http.StatusNotFound, Err: fmt.Errorf("no running tenant %q", name)}
	case len(all) == 0:
		return nil, caddy.APIError{HTTPStatus: http.StatusNotFound, Err: errors.New("no anonymous_access handler is running")}
	case len(all) > 1:
		return nil, caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: fmt.Errorf("several tenants are running (%s): add ?tenant=", strings.Join(names, ", "))}
	}
	return all[0], nil
}

func requireMethod(r *http.Request, m string) error {
	if r.Method != m {
		return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed, Err: fmt.Errorf("method %s not allowed", r.Method)}
	}
	return nil
}

func apiError(err error) error {
	return caddy.APIError{HTTPStatus: statusOf(err), Err: err}
}

func writeJSON(w http.ResponseWriter, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	return json.NewEncoder(w).Encode(v)
}

// Interface guards
var (
	_ caddy.AdminRouter = (*AdminAPI)(nil)
)
