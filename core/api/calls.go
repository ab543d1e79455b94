package api

import (
	"context"
	"net/http"

	"github.com/valyala/fasthttp"

	"github.com/wagate/wagate/core/provider"
	"github.com/wagate/wagate/core/session"
)

// Call routes (docs/api.md, "Calls"): reject an incoming call. Calls themselves arrive
// as call.received, call.accepted and call.rejected events.

// maxCallID bounds a call id (WhatsApp's are 32 hex characters).
const maxCallID = 128

// rejectCallBody is WAHA's RejectCallRequest.
type rejectCallBody struct {
	// From is the caller; ID the call's id, both from call.received.
	From string `json:"from"`
	ID   string `json:"id"`
}

func (s *Server) callRoutes() []route {
	return []route{
		{method: "POST", path: "/api/{session}/calls/reject", auth: authTenant, handle: s.rejectCall,
			doc: routeDoc{summary: "Reject an incoming call (from and id of its call.received)", tag: "calls",
				request: rejectCallBody{}, response: contactsResult{}}},
	}
}

func (s *Server) rejectCall(c *fasthttp.RequestCtx, r *request) error {
	var b rejectCallBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	from, err := parseContactID(b.From, "from")
	if err != nil {
		return err
	}
	if err := checkOpaqueID(b.ID, "id", maxCallID, "invalid_call_id"); err != nil {
		return err
	}
	err = session.Do(r.ctx, s.d.Sessions, r.tenant(), sessionName(c), provider.CapCalls, func(ctx context.Context, p provider.Calls) error {
		return p.RejectCall(ctx, from, b.ID)
	})
	if err != nil {
		return s.providerFailure(notFoundAs(err, "call_not_found"))
	}
	return writeJSON(c, http.StatusOK, contactsResult{Success: true})
}
