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

// adminMux routes the operator's endpoints.
var adminMux = func() *http.ServeMux {
	mux := http.NewServeMux()
	const p = "/anonymous-access"
	mux.Handle("GET "+p+"/apps", adminEndpoint(adminApps))
	mux.Handle("GET "+p+"/capacity", adminEndpoint(adminCapacity))
	mux.Handle("POST "+p+"/apps/{app}/enable", adminEndpoint(adminSetAnonymousAccess(true)))
	mux.Handle("POST "+p+"/apps/{app}/disable", adminEndpoint(adminSetAnonymousAccess(false)))
	mux.Handle("POST "+p+"/apps/{app}/reset-code", adminEndpoint(adminResetCode))
	mux.Handle("GET "+p+"/apps/{app}/link", adminEndpoint(adminLink))
	mux.Handle("GET "+p+"/apps/{app}/embed-code", adminEndpoint(adminEmbedCode))
	return mux
}()

func (a *AdminAPI) serve(w http.ResponseWriter, r *http.Request) error {
	if err := unrouted(adminMux, w, r); err != nil {
		return caddy.APIError{HTTPStatus: statusOf(err), Err: err}
	}
	return serveEndpoint(adminMux, w, r)
}

// adminEndpoint gives an operator endpoint the tenant it acts on (the only
// one running, or ?tenant=) as the operator at the admin client's address.
func adminEndpoint(serve func(w http.ResponseWriter, r *http.Request, op policy.Operator) error) http.Handler {
	return endpoint(func(w http.ResponseWriter, r *http.Request) error {
		t, err := pickTenant(r.URL.Query().Get("tenant"))
		if err != nil {
			return err
		}
		if err := serve(w, r, t.AsOperator(adminClient(r))); err != nil {
			var apiErr caddy.APIError
			if errors.As(err, &apiErr) {
				return err
			}
			return caddy.APIError{HTTPStatus: statusOf(err), Err: err}
		}
		return nil
	})
}

func adminApps(w http.ResponseWriter, _ *http.Request, op policy.Operator) error {
	return writeJSON(w, op.Apps())
}

func adminCapacity(w http.ResponseWriter, r *http.Request, op policy.Operator) error {
	rep, err := op.Capacity(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, rep)
}

func adminSetAnonymousAccess(on bool) func(http.ResponseWriter, *http.Request, policy.Operator) error {
	return func(w http.ResponseWriter, r *http.Request, op policy.Operator) error {
		got, err := op.SetAnonymousAccess(r.Context(), r.PathValue("app"), on)
		if err != nil {
			return err
		}
		return writeJSON(w, got)
	}
}

func adminResetCode(w http.ResponseWriter, r *http.Request, op policy.Operator) error {
	got, err := op.ResetCode(r.Context(), r.PathValue("app"))
	if err != nil {
		return err
	}
	countReset(op.Tenant(), got.ID)
	return writeJSON(w, got)
}

func adminLink(w http.ResponseWriter, r *http.Request, op policy.Operator) error {
	u, err := op.Link(r.PathValue("app"))
	if err != nil {
		return err
	}
	return writeJSON(w, map[string]string{"url": u})
}

func adminEmbedCode(w http.ResponseWriter, r *http.Request, op policy.Operator) error {
	q := r.URL.Query()
	html, u, err := op.EmbedCode(r.PathValue("app"), policy.LinkOptions{Object: q.Get("object"), Width: q.Get("width"), Height: q.Get("height")})
	if err != nil {
		return err
	}
	return writeJSON(w, map[string]string{"html": html, "url": u})
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

func writeJSON(w http.ResponseWriter, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	return json.NewEncoder(w).Encode(v)
}

// Interface guards
var (
	_ caddy.AdminRouter = (*AdminAPI)(nil)
)
