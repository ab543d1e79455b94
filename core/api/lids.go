package api

import (
	"context"
	"net/http"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/provider"
	"github.com/wagate/wagate/core/session"
)

// Limits of the LID routes.
const (
	// defaultLIDsPage is the page size when limit is left out (WAHA's).
	defaultLIDsPage = 100
	// maxLIDsPage bounds one page.
	maxLIDsPage = 1000
)

// lidAnswer is one LID pair of the lookups, WAHA's LidToPhoneNumber: the side the
// session does not know is null.
type lidAnswer struct {
	LID *chatid.ID `json:"lid"`
	PN  *chatid.ID `json:"pn"`
}

// countAnswer is WAHA's CountResponse.
type countAnswer struct {
	Count int `json:"count"`
}

func (s *Server) lidRoutes() []route {
	return []route{
		{method: "GET", path: "/api/{session}/lids", auth: authTenant, handle: s.listLIDs,
			doc: routeDoc{summary: "Known LID to phone number pairs, ordered by LID", tag: "contacts", response: []provider.LIDPair{},
				query: []string{"limit: 1 to 1000, default 100", "offset: default 0"}}},
		{method: "GET", path: "/api/{session}/lids/count", auth: authTenant, handle: s.countLIDs,
			doc: routeDoc{summary: "How many LID pairs the session knows", tag: "contacts", response: countAnswer{}}},
		{method: "GET", path: "/api/{session}/lids/{lid}", auth: authTenant, handle: s.phoneForLID,
			doc: routeDoc{summary: "The phone number of a LID (pn null when unknown)", tag: "contacts", response: lidAnswer{}}},
		{method: "GET", path: "/api/{session}/lids/pn/{phone}", auth: authTenant, handle: s.lidForPhone,
			doc: routeDoc{summary: "The LID of a phone number (lid null when unknown)", tag: "contacts", response: lidAnswer{}}},
	}
}

func (s *Server) listLIDs(c *fasthttp.RequestCtx, r *request) error {
	limit, err := contactsPageParam(c, "limit", defaultLIDsPage, 1, maxLIDsPage)
	if err != nil {
		return err
	}
	offset, err := contactsPageParam(c, "offset", 0, 0, maxContactsOffset)
	if err != nil {
		return err
	}
	pairs, err := session.Call(r.ctx, s.d.Sessions, r.tenant(), sessionName(c), provider.CapLIDs,
		func(ctx context.Context, p provider.LIDs) ([]provider.LIDPair, error) {
			return p.ListLIDs(ctx, offset, limit)
		})
	if err != nil {
		return s.providerFailure(err)
	}
	if pairs == nil {
		pairs = []provider.LIDPair{}
	}
	return writeJSON(c, http.StatusOK, pairs)
}

func (s *Server) countLIDs(c *fasthttp.RequestCtx, r *request) error {
	n, err := session.Call(r.ctx, s.d.Sessions, r.tenant(), sessionName(c), provider.CapLIDs,
		func(ctx context.Context, p provider.LIDs) (int, error) { return p.CountLIDs(ctx) })
	if err != nil {
		return s.providerFailure(err)
	}
	return writeJSON(c, http.StatusOK, countAnswer{Count: n})
}

// phoneForLID takes the LID with or without "@lid", as WAHA does.
func (s *Server) phoneForLID(c *fasthttp.RequestCtx, r *request) error {
	raw := pathParam(c, "lid")
	if !strings.Contains(raw, "@") {
		raw += "@lid"
	}
	lid, err := chatid.Parse(raw)
	if err != nil || lid.Server != chatid.LID {
		return badRequest("invalid_lid", "lid must be 5 to 20 digits, optionally ending in @lid", d("field", "lid"))
	}
	pn, err := session.Call(r.ctx, s.d.Sessions, r.tenant(), sessionName(c), provider.CapLIDs,
		func(ctx context.Context, p provider.LIDs) (chatid.ID, error) { return p.PhoneForLID(ctx, lid) })
	if err != nil {
		return s.providerFailure(err)
	}
	answer := lidAnswer{LID: &lid}
	if !pn.IsZero() {
		answer.PN = &pn
	}
	return writeJSON(c, http.StatusOK, answer)
}

// lidForPhone takes a phone number or its chat id; given a LID, it answers it back
// with pn null, as WAHA does.
func (s *Server) lidForPhone(c *fasthttp.RequestCtx, r *request) error {
	id, err := chatid.Parse(pathParam(c, "phone"))
	if err != nil || (id.Server != chatid.User && id.Server != chatid.LID) {
		return badRequest("invalid_phone", "phone must be a phone number (digits or @c.us) or a LID", d("field", "phone"))
	}
	if id.Server == chatid.LID {
		if _, err := s.d.Sessions.Get(r.ctx, r.tenant(), sessionName(c)); err != nil {
			return err
		}
		return writeJSON(c, http.StatusOK, lidAnswer{LID: &id})
	}
	lid, err := session.Call(r.ctx, s.d.Sessions, r.tenant(), sessionName(c), provider.CapLIDs,
		func(ctx context.Context, p provider.LIDs) (chatid.ID, error) { return p.LIDForPhone(ctx, id) })
	if err != nil {
		return s.providerFailure(err)
	}
	answer := lidAnswer{PN: &id}
	if !lid.IsZero() {
		answer.LID = &lid
	}
	return writeJSON(c, http.StatusOK, answer)
}
