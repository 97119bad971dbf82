package caddymodule

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/anonaccess/caddy-anonymous-access/metrics"
	"github.com/anonaccess/caddy-anonymous-access/policy"
)

// maxAPIBody caps management API request bodies.
const maxAPIBody = 64 << 10

// apiRequest is one management API call: the caller, as the management
// API sees them, and the path's named segments.
type apiRequest struct {
	w      http.ResponseWriter
	r      *http.Request
	user   policy.TenantUser
	params map[string]string
	// status is the success status; 200 unless the endpoint says.
	status int
}

// apiRoute is one endpoint: a method and a path pattern whose {name}
// segments become params.
type apiRoute struct {
	method, pattern string
	serve           func(h *Handler, a *apiRequest) (any, error)
}

var apiRoutes []apiRoute

func init() {
	apiRoutes = []apiRoute{
		{"GET", "/me", (*Handler).apiMe},
		{"GET", "/roles", (*Handler).apiRoles},
		{"POST", "/roles", (*Handler).apiCreateRole},
		{"PUT", "/roles/user-default", (*Handler).apiSetUserDefault},
		{"PUT", "/roles/{role}", (*Handler).apiUpdateRole},
		{"PUT", "/users/{user}/roles", (*Handler).apiAssignRoles},
		{"GET", "/spaces", (*Handler).apiSpaces},
		{"POST", "/spaces", (*Handler).apiCreateSpace},
		{"GET", "/spaces/{space}/members", (*Handler).apiMembers},
		{"PUT", "/spaces/{space}/members/{user}", (*Handler).apiSetMember},
		{"DELETE", "/spaces/{space}/members/{user}", (*Handler).apiRemoveMember},
		{"POST", "/spaces/{space}/apps", (*Handler).apiPublish},
		{"GET", "/apps/{app}", (*Handler).apiApp},
		{"PUT", "/apps/{app}", (*Handler).apiEditApp},
		{"DELETE", "/apps/{app}", (*Handler).apiDeleteApp},
		{"PUT", "/apps/{app}/anonymous-access", (*Handler).apiSetAnonymousAccess},
		{"POST", "/apps/{app}/anonymous-access/reset-code", (*Handler).apiResetCode},
		{"GET", "/apps/{app}/link", (*Handler).apiLink},
		{"GET", "/apps/{app}/embed-code", (*Handler).apiEmbedCode},
		{"GET", "/capacity", (*Handler).apiCapacity},
		{"GET", "/audit", (*Handler).apiAudit},
	}
}

// match finds the route for a path below /api/v1, its params, and the
// methods the path allows (for 405).
func match(method, path string) (*apiRoute, map[string]string, []string) {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	var allow []string
	for i := range apiRoutes {
		rt := &apiRoutes[i]
		pat := strings.Split(strings.Trim(rt.pattern, "/"), "/")
		if len(pat) != len(segs) {
			continue
		}
		params := map[string]string{}
		ok := true
		for j, p := range pat {
			if strings.HasPrefix(p, "{") {
				params[p[1:len(p)-1]] = segs[j]
			} else if p != segs[j] {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		if rt.method == method || method == http.MethodHead && rt.method == http.MethodGet {
			return rt, params, nil
		}
		allow = append(allow, rt.method)
	}
	return nil, nil, allow
}

// errNoIdentity is the management API's answer when no identity is
// configured: without one nobody can be told apart.
var errNoIdentity = errors.New("the management API is off: the gateway configuration has no identity setting")

var (
	errNoRoute         = errors.New("no such endpoint")
	errNotJSON         = errors.New("the request body must be JSON (Content-Type: application/json)")
	errAPIBodyTooLarge = fmt.Errorf("the request body is over %d KiB", maxAPIBody>>10)
	errMethod          = errors.New("method not allowed on this endpoint")
	errUnexpectedBody  = errors.New("this endpoint takes no request body")
)

// serveAPI serves the management API under {prefix}/api/v1.
func (h *Handler) serveAPI(w http.ResponseWriter, r *http.Request, sub string) {
	hdr := w.Header()
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Content-Type-Options", "nosniff")
	if err := policy.CheckPath(r.URL.Path, r.URL.RawPath); err != nil {
		writeAPIError(w, http.StatusBadRequest, err)
		return
	}
	if h.identify == nil {
		writeAPIError(w, http.StatusNotFound, errNoIdentity)
		return
	}
	rt, params, allow := match(r.Method, sub)
	if rt == nil {
		if len(allow) > 0 {
			hdr.Set("Allow", strings.Join(allow, ", "))
			writeAPIError(w, http.StatusMethodNotAllowed, errMethod)
			return
		}
		writeAPIError(w, http.StatusNotFound, errNoRoute)
		return
	}
	if crossSite(r) {
		writeAPIError(w, http.StatusForbidden, errCrossSite)
		return
	}
	for name, v := range params {
		if err := checkParam(name, v); err != nil {
			writeAPIError(w, http.StatusBadRequest, err)
			return
		}
	}
	user, err := h.identify.identify(r)
	if err != nil {
		if ce := h.logger.Check(zap.InfoLevel, "management API: identity refused"); ce != nil {
			ce.Write(zap.Error(err), zap.String("path", r.URL.Path))
		}
		hdr.Set("WWW-Authenticate", `Bearer realm="anonymous-access"`)
		writeAPIError(w, http.StatusUnauthorized, policy.ErrUnauthenticated)
		return
	}
	from, _ := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string)
	a := &apiRequest{w: w, r: r, params: params,
		user: h.tenant.tenant.As(policy.Caller{User: user, From: from})}
	out, err := rt.serve(h, a)
	if err != nil {
		status := statusOf(err)
		if status == http.StatusInternalServerError {
			h.logger.Error("management API", zap.String("path", r.URL.Path), zap.Error(err))
		}
		writeAPIError(w, status, err)
		return
	}
	if out == nil {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	hdr.Set("Content-Type", "application/json")
	w.WriteHeader(cmp.Or(a.status, http.StatusOK))
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // embed codes stay readable; the type is JSON
	_ = enc.Encode(out)
}

// errCrossSite refuses a change asked for by another site's page.
var errCrossSite = errors.New("cross-site requests may not change anything")

// crossSite reports a change (any method but GET and HEAD) sent by a
// browser from another site's page. Bearer tokens cannot be forged that
// way, but an identity header set by forward_auth from a cookie can: a
// form on any site could otherwise reset a code with the user's cookie.
// Browsers say where a request comes from in Sec-Fetch-Site and Origin.
func crossSite(r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return false
	}
	switch r.Header.Get("Sec-Fetch-Site") {
	case "cross-site", "same-site":
		return true
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		return err != nil || u.Host != r.Host
	}
	return false
}

// checkParam refuses malformed ids in the path before anything looks
// them up, so they get 400 rather than 404.
func checkParam(name, v string) error {
	switch name {
	case "user":
		return policy.ValidateUserID("user", v)
	case "role":
		return policy.ValidateRoleName(v)
	}
	return policy.ValidateID(name, v)
}

// decode reads a JSON body into v: at most 64 KiB, no unknown fields,
// nothing after the value.
func (a *apiRequest) decode(v any) error {
	ct := a.r.Header.Get("Content-Type")
	if mt, _, _ := strings.Cut(ct, ";"); !strings.EqualFold(strings.TrimSpace(mt), "application/json") {
		return errNotJSON
	}
	body, err := io.ReadAll(http.MaxBytesReader(a.w, a.r.Body, maxAPIBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return errAPIBodyTooLarge
		}
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badJSON(err)
	}
	if dec.More() {
		return &policy.InvalidError{Field: "body", Reason: "must be one JSON value"}
	}
	return nil
}

// noBody refuses a body where none is expected, so a client that sends
// one by mistake learns it was ignored.
func (a *apiRequest) noBody() error {
	if a.r.ContentLength > 0 {
		return errUnexpectedBody
	}
	return nil
}

// badJSON words a decoding error without echoing the input.
func badJSON(err error) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		return &policy.InvalidError{Field: typeErr.Field, Reason: "must be a JSON " + jsonKind(typeErr.Type.Kind().String())}
	case errors.As(err, &syntaxErr):
		return &policy.InvalidError{Field: "body", Reason: "malformed JSON at byte " + strconv.FormatInt(syntaxErr.Offset, 10)}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return &policy.InvalidError{Field: "body", Reason: "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")}
	case errors.Is(err, io.EOF):
		return &policy.InvalidError{Field: "body", Reason: "a JSON object is required"}
	}
	return &policy.InvalidError{Field: "body", Reason: "malformed JSON"}
}

func jsonKind(goKind string) string {
	switch goKind {
	case "slice", "array":
		return "array"
	case "map", "struct":
		return "object"
	case "bool":
		return "boolean"
	case "string":
		return "string"
	}
	return "number"
}

// statusOf maps a domain error to an HTTP status.
func statusOf(err error) int {
	var inv *policy.InvalidError
	switch {
	case errors.Is(err, policy.ErrUnauthenticated):
		return http.StatusUnauthorized
	case errors.Is(err, policy.ErrForbidden):
		return http.StatusForbidden
	case errors.Is(err, policy.ErrUnknownApp), errors.Is(err, policy.ErrUnknownSpace),
		errors.Is(err, policy.ErrUnknownRole), errors.Is(err, policy.ErrNotMember):
		return http.StatusNotFound
	case errors.Is(err, policy.ErrOff), errors.Is(err, policy.ErrNotManaged),
		errors.Is(err, policy.ErrAppExists), errors.Is(err, policy.ErrSpaceExists),
		errors.Is(err, policy.ErrRoleExists), errors.Is(err, policy.ErrProvisioned),
		errors.Is(err, policy.ErrOwner):
		return http.StatusConflict
	case errors.Is(err, policy.ErrStoreUnavailable):
		return http.StatusServiceUnavailable
	case errors.Is(err, errAPIBodyTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, errNotJSON):
		return http.StatusUnsupportedMediaType
	case errors.As(err, &inv), errors.Is(err, errUnexpectedBody), errors.Is(err, policy.ErrBadPath):
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}

// apiErrorCodes are the short, stable "error" values of API errors.
var apiErrorCodes = map[int]string{
	http.StatusBadRequest:            "bad_request",
	http.StatusUnauthorized:          "unauthorized",
	http.StatusForbidden:             "forbidden",
	http.StatusNotFound:              "not_found",
	http.StatusMethodNotAllowed:      "method_not_allowed",
	http.StatusConflict:              "conflict",
	http.StatusRequestEntityTooLarge: "too_large",
	http.StatusUnsupportedMediaType:  "unsupported_media_type",
	http.StatusServiceUnavailable:    "unavailable",
	http.StatusInternalServerError:   "internal",
}

// writeAPIError answers {"error": code, "message": text}. Domain errors
// never carry a code, token or session id; an internal error's details go
// to the log only.
func writeAPIError(w http.ResponseWriter, status int, err error) {
	msg := err.Error()
	if status == http.StatusInternalServerError {
		msg = "internal error"
	}
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", strconv.Itoa(int(retryStore.Seconds())))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": apiErrorCodes[status], "message": msg})
}

// countReset keeps the resets metric for resets through the API.
func countReset(tenant, app string) { metrics.CodeResets.WithLabelValues(tenant, app).Inc() }
