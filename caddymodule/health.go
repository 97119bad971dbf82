package caddymodule

import (
	"encoding/json"
	"net/http"

	"go.uber.org/zap"
)

// serveHealth answers a load balancer's health check: 200 {"store":"up"}
// while the tenant's store is up, 503 {"store":"down"} with Retry-After
// while it is not: then this instance either turns new visitors away or
// may miss changes made on other instances. It needs no session and says
// nothing about apps.
func (h *Handler) serveHealth(w http.ResponseWriter, r *http.Request) error {
	noStore(w)
	w.Header().Set("Content-Type", "application/json")
	state, status := "up", http.StatusOK
	if err := h.tenant.tenant.StoreHealth(r.Context()); err != nil {
		state, status = "down", http.StatusServiceUnavailable
		setRetryAfter(w, retryStore)
		if ce := h.logger.Check(zap.DebugLevel, "anonymous access: store down"); ce != nil {
			ce.Write(zap.String("tenant", h.Tenant), zap.Error(err))
		}
	}
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(map[string]string{"store": state})
}
