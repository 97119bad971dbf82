package caddymodule

import (
	"net/http"
	"strconv"

	"github.com/anonaccess/caddy-anonymous-access/policy"
)

// The management API's endpoints. Each decodes its input, calls the
// domain as the signed-in user and returns what is written as JSON (nil
// for 204 No Content).

func (h *Handler) apiMe(a *apiRequest) (any, error) {
	return a.user.Me(a.r.Context())
}

func (h *Handler) apiRoles(a *apiRequest) (any, error) {
	return a.user.Roles(a.r.Context())
}

// permissionBody sets Public link creation on a role.
type permissionBody struct {
	PublicLinkCreation policy.Grant `json:"public_link_creation"`
}

func (h *Handler) apiSetUserDefault(a *apiRequest) (any, error) {
	var b permissionBody
	if err := a.decode(&b); err != nil {
		return nil, err
	}
	return nil, a.user.SetUserDefault(a.r.Context(), b.PublicLinkCreation)
}

func (h *Handler) apiCreateRole(a *apiRequest) (any, error) {
	var b policy.Role
	if err := a.decode(&b); err != nil {
		return nil, err
	}
	if err := a.user.CreateRole(a.r.Context(), b); err != nil {
		return nil, err
	}
	a.status = http.StatusCreated
	return roleOf(a, b.Name)
}

// roleBody changes a custom role, named in the path; a field left out
// stays as it is.
type roleBody struct {
	Description        *string      `json:"description"`
	PublicLinkCreation policy.Grant `json:"public_link_creation"`
}

func (h *Handler) apiUpdateRole(a *apiRequest) (any, error) {
	var b roleBody
	if err := a.decode(&b); err != nil {
		return nil, err
	}
	name := a.r.PathValue("role")
	if _, err := a.user.UpdateRole(a.r.Context(), name, policy.RoleChange{Description: b.Description, PublicLinkCreation: b.PublicLinkCreation}); err != nil {
		return nil, err
	}
	return roleOf(a, name)
}

func roleOf(a *apiRequest, name string) (any, error) {
	roles, err := a.user.Roles(a.r.Context())
	if err != nil {
		return nil, err
	}
	for _, r := range roles {
		if r.Name == name {
			return r, nil
		}
	}
	return nil, policy.ErrUnknownRole
}

// rolesBody assigns tenant roles to a user.
type rolesBody struct {
	Roles []string `json:"roles"`
}

func (h *Handler) apiAssignRoles(a *apiRequest) (any, error) {
	var b rolesBody
	if err := a.decode(&b); err != nil {
		return nil, err
	}
	if b.Roles == nil {
		return nil, &policy.InvalidError{Field: "roles", Reason: "is required (an empty list removes every role)"}
	}
	user := a.r.PathValue("user")
	roles, err := a.user.AssignRoles(a.r.Context(), user, b.Roles)
	if err != nil {
		return nil, err
	}
	return map[string]any{"user": user, "roles": roles}, nil
}

func (h *Handler) apiSpaces(a *apiRequest) (any, error) {
	return a.user.Spaces(a.r.Context())
}

// spaceBody creates a space.
type spaceBody struct {
	ID   string           `json:"id"`
	Name string           `json:"name"`
	Type policy.SpaceType `json:"type"`
}

func (h *Handler) apiCreateSpace(a *apiRequest) (any, error) {
	var b spaceBody
	if err := a.decode(&b); err != nil {
		return nil, err
	}
	a.status = http.StatusCreated
	return a.user.CreateSpace(a.r.Context(), policy.Space{ID: b.ID, Name: b.Name, Type: b.Type})
}

func (h *Handler) apiMembers(a *apiRequest) (any, error) {
	return a.user.Members(a.r.Context(), a.r.PathValue("space"))
}

// memberBody sets a member's space role.
type memberBody struct {
	Role policy.SpaceRole `json:"role"`
}

func (h *Handler) apiSetMember(a *apiRequest) (any, error) {
	var b memberBody
	if err := a.decode(&b); err != nil {
		return nil, err
	}
	return a.user.SetMember(a.r.Context(), a.r.PathValue("space"), a.r.PathValue("user"), b.Role)
}

func (h *Handler) apiRemoveMember(a *apiRequest) (any, error) {
	if err := a.noBody(); err != nil {
		return nil, err
	}
	return nil, a.user.RemoveMember(a.r.Context(), a.r.PathValue("space"), a.r.PathValue("user"))
}

// appBody is an app definition as tenant users publish or edit it.
type appBody struct {
	ID           string   `json:"id"`
	Name         string   `json:"name"`
	Entry        string   `json:"entry"`
	Scope        []string `json:"scope"`
	Methods      []string `json:"methods"`
	Deny         []string `json:"deny"`
	EmbedOrigins []string `json:"embed_origins"`
	Allow        []struct {
		Methods []string `json:"methods"`
		Paths   []string `json:"paths"`
	} `json:"allow"`
	Params map[string]string `json:"params"`
}

func (b appBody) app() policy.App {
	a := policy.App{ID: b.ID, Name: b.Name, Entry: b.Entry, Scope: b.Scope, Methods: b.Methods, Deny: b.Deny,
		EmbedOrigins: b.EmbedOrigins, Params: b.Params}
	for _, r := range b.Allow {
		a.Allow = append(a.Allow, policy.AllowRule{Methods: r.Methods, Paths: r.Paths})
	}
	return a
}

func (h *Handler) apiPublish(a *apiRequest) (any, error) {
	var b appBody
	if err := a.decode(&b); err != nil {
		return nil, err
	}
	a.status = http.StatusCreated
	return a.user.Publish(a.r.Context(), a.r.PathValue("space"), b.app())
}

func (h *Handler) apiApp(a *apiRequest) (any, error) {
	return a.user.App(a.r.Context(), a.r.PathValue("app"))
}

func (h *Handler) apiEditApp(a *apiRequest) (any, error) {
	var b appBody
	if err := a.decode(&b); err != nil {
		return nil, err
	}
	if b.ID != "" && b.ID != a.r.PathValue("app") {
		return nil, &policy.InvalidError{Field: "id", Reason: "cannot be changed"}
	}
	return a.user.Edit(a.r.Context(), a.r.PathValue("app"), b.app())
}

func (h *Handler) apiDeleteApp(a *apiRequest) (any, error) {
	if err := a.noBody(); err != nil {
		return nil, err
	}
	return nil, a.user.Delete(a.r.Context(), a.r.PathValue("app"))
}

// accessBody turns anonymous access on or off.
type accessBody struct {
	Enabled *bool `json:"enabled"`
}

func (h *Handler) apiSetAnonymousAccess(a *apiRequest) (any, error) {
	var b accessBody
	if err := a.decode(&b); err != nil {
		return nil, err
	}
	if b.Enabled == nil {
		return nil, &policy.InvalidError{Field: "enabled", Reason: "is required: true or false"}
	}
	return a.user.SetAnonymousAccess(a.r.Context(), a.r.PathValue("app"), *b.Enabled)
}

func (h *Handler) apiResetCode(a *apiRequest) (any, error) {
	if err := a.noBody(); err != nil {
		return nil, err
	}
	v, err := a.user.ResetCode(a.r.Context(), a.r.PathValue("app"))
	if err == nil {
		countReset(h.Tenant, v.ID)
	}
	return v, err
}

func (h *Handler) apiLink(a *apiRequest) (any, error) {
	u, err := a.user.Link(a.r.Context(), a.r.PathValue("app"))
	if err != nil {
		return nil, err
	}
	return map[string]string{"url": u}, nil
}

func (h *Handler) apiEmbedCode(a *apiRequest) (any, error) {
	q := a.r.URL.Query()
	html, u, err := a.user.EmbedCode(a.r.Context(), a.r.PathValue("app"), policy.LinkOptions{Object: q.Get("object"), Width: q.Get("width"), Height: q.Get("height")})
	if err != nil {
		return nil, err
	}
	return map[string]string{"html": html, "url": u}, nil
}

func (h *Handler) apiCapacity(a *apiRequest) (any, error) {
	return a.user.Capacity(a.r.Context())
}

func (h *Handler) apiAudit(a *apiRequest) (any, error) {
	q := a.r.URL.Query()
	var before uint64
	var err error
	if s := q.Get("before"); s != "" {
		if before, err = strconv.ParseUint(s, 10, 64); err != nil {
			return nil, &policy.InvalidError{Field: "before", Reason: "must be an audit entry id"}
		}
	}
	limit, err := policy.AuditLimit(q.Get("limit"))
	if err != nil {
		return nil, err
	}
	return a.user.AuditLog(a.r.Context(), before, limit)
}
