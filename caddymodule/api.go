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
// API sees them, and the request, whose PathValue has the path's ids.
type apiRequest struct {
	w    http.ResponseWriter
	r    *http.Request
	user policy.TenantUser
	// status is the success status; 200 unless the endpoint says.
	status int
}

// apiRoute is one endpoint: a ServeMux pattern below {prefix}/api/v1 and
// what serves it.
type apiRoute struct {
	pattern string
	serve   func(h *Handler, a *apiRequest) (any, error)
}

var apiRoutes []apiRoute

func init() {
	apiRoutes = []apiRoute{
		{"GET /me", (*Handler).apiMe},
		{"GET /roles", (*Handler).apiRoles},
		{"POST /roles", (*Handler).apiCreateRole},
		{"PUT /roles/user-default", (*Handler).apiSetUserDefault},
		{"PUT /roles/{role}", (*Handler).apiUpdateRole},
		{"PUT /users/{user}/roles", (*Handler).apiAssignRoles},
		{"GET /spaces", (*Handler).apiSpaces},
		{"POST /spaces", (*Handler).apiCreateSpace},
		{"GET /spaces/{space}/members", (*Handler).apiMembers},
		{"PUT /spaces/{space}/members/{user}", (*Handler).apiSetMember},
		{"DELETE /spaces/{space}/members/{user}", (*Handler).apiRemoveMember},
		{"POST /spaces/{space}/apps", (*Handler).apiPublish},
		{"GET /apps/{app}", (*Handler).apiApp},
		{"PUT /apps/{app}", (*Handler).apiEditApp},
		{"DELETE /apps/{app}", (*Handler).apiDeleteApp},
		{"PUT /apps/{app}/anonymous-access", (*Handler).apiSetAnonymousAccess},
		{"POST /apps/{app}/anonymous-access/reset-code", (*Handler).apiResetCode},
		{"GET /apps/{app}/link", (*Handler).apiLink},
		{"GET /apps/{app}/embed-code", (*Handler).apiEmbedCode},
		{"GET /capacity", (*Handler).apiCapacity},
		{"GET /audit", (*Handler).apiAudit},
	}
}

// apiMux routes the management API's endpoints under the handler's prefix.
func (h *Handler) apiMux() *http.ServeMux {
	mux := http.NewServeMux()
	for _, rt := range apiRoutes {
		method, path, _ := strings.Cut(rt.pattern, " ")
		mux.Handle(method+" "+h.Prefix+"/api/v1"+path, h.apiEndpoint(rt.serve))
	}
	return mux
}

// apiPathValues are the names of the API's path segments: each is checked
// before anything looks it up, so a malformed id gets 400 rather than 404.
var apiPathValues = [...]string{"app", "role", "space", "user"}

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
func (h *Handler) serveAPI(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Content-Type-Options", "nosniff")
	if h.identify == nil {
		writeAPIError(w, http.StatusNotFound, errNoIdentity)
		return
	}
	if err := unrouted(h.api, w, r); err != nil {
		if err == errNotFound {
			err = errNoRoute
		}
		writeAPIError(w, statusOf(err), err)
		return
	}
	h.api.ServeHTTP(w, r)
}

// apiEndpoint checks what every endpoint needs (a same-site change, well
// formed ids, an identity), calls serve and writes its answer.
func (h *Handler) apiEndpoint(serve func(h *Handler, a *apiRequest) (any, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if crossSite(r) {
			writeAPIError(w, http.StatusForbidden, errCrossSite)
			return
		}
		for _, name := range apiPathValues {
			if v := r.PathValue(name); v != "" {
				if err := checkPathValue(name, v); err != nil {
					writeAPIError(w, http.StatusBadRequest, err)
					return
				}
			}
		}
		user, err := h.identify.identify(r)
		if err != nil {
			if ce := h.logger.Check(zap.InfoLevel, "management API: identity refused"); ce != nil {
				ce.Write(zap.Error(err), zap.String("path", r.URL.Path))
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="anonymous-access"`)
			writeAPIError(w, http.StatusUnauthorized, policy.ErrUnauthenticated)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			if err := h.tenant.tenant.AllowChange(user); err != nil {
				f := refusalOf(err)
				setRetryAfter(w, f.retryAfter(err))
				writeAPIError(w, f.status, err)
				return
			}
		}
		from, _ := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string)
		a := &apiRequest{w: w, r: r, user: h.tenant.tenant.As(policy.Caller{User: user, From: from})}
		out, err := serve(h, a)
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
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(cmp.Or(a.status, http.StatusOK))
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false) // embed codes stay readable; the type is JSON
		_ = enc.Encode(out)
	})
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

// checkPathValue refuses a malformed id in the path.
func checkPathValue(name, v string) error {
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

// statusOf is the HTTP status of an error: its refusal's, 500 for an
// error nobody planned for.
func statusOf(err error) int {
	if f := refusalOf(err); f != nil {
		return f.status
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
	http.StatusTooManyRequests:       "too_many_requests",
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
