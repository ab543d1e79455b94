package api

import (
	"cmp"
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/provider"
	"github.com/wagate/wagate/core/session"
)

// Limits of the contacts routes (docs/api.md, "Contacts").
const (
	// maxContactsPage bounds one page of GET /api/contacts/all; it is also the page
	// size when limit is left out (WAHA answers everything then; page past 1,000).
	maxContactsPage = 1000
	// maxContactsOffset bounds offset on every paged route of contacts and LIDs.
	maxContactsOffset = 1_000_000
)

// contactsDefaultSession is the session of a contacts route that names none, as in WAHA.
const contactsDefaultSession = "default"

// contactBody is POST /api/contacts/block and /unblock (WAHA's ContactRequest).
type contactBody struct {
	// Session is the session whose block list changes; default "default".
	Session string `json:"session,omitempty"`
	// ContactID is the contact: digits, @c.us, @s.whatsapp.net or @lid.
	ContactID string `json:"contactId"`
}

// contactsResult is WAHA's Result: the answer of the routes that change something.
type contactsResult struct {
	Success bool `json:"success"`
}

// aboutAnswer is GET /api/contacts/about: null when the contact has none or hides it.
type aboutAnswer struct {
	About *string `json:"about"`
}

// pictureAnswer is GET /api/contacts/profile-picture: null when the contact has no
// picture or hides it.
type pictureAnswer struct {
	ProfilePictureURL *string `json:"profilePictureURL"`
}

// contactSessionsAnswer is GET /api/contacts/{chatId}/sessions: which of the tenant's
// sessions talk with the contact, from the gateway's own records (core/route).
type contactSessionsAnswer struct {
	ChatID chatid.ID `json:"chatId"`
	// Sticky is the session that last exchanged a message with the contact, which the
	// default route policy picks for a send that names no session; null when none.
	Sticky *stickyAnswer `json:"sticky"`
	// Sessions are the tenant's sessions that received from or sent to the contact,
	// by name.
	Sessions []contactSession `json:"sessions"`
}

type stickyAnswer struct {
	Session string    `json:"session"`
	At      time.Time `json:"at,omitzero"`
}

type contactSession struct {
	Session string        `json:"session"`
	Status  session.State `json:"status"`
	// LastInbound is when the contact last wrote to the session; absent when never.
	LastInbound time.Time `json:"lastInbound,omitzero"`
	// LastOutbound is when the session last sent to the contact (the transport took
	// the message); absent when never.
	LastOutbound time.Time `json:"lastOutbound,omitzero"`
}

// contactRoutes are the routes of contacts, the session's own profile (profile.go)
// and LIDs (lids.go).
func (s *Server) contactRoutes() []route {
	routes := []route{
		{method: "GET", path: "/api/contacts/all", auth: authTenant, handle: s.listContacts,
			doc: routeDoc{summary: "All contacts of a session, sorted and paged", tag: "contacts", response: []provider.ContactInfo{},
				query: []string{"session: default \"default\"", "sortBy: id or name", "sortOrder: asc (default) or desc",
					"limit: 1 to 1000, default 1000", "offset: default 0"}}},
		{method: "GET", path: "/api/contacts", auth: authTenant, handle: s.getContact,
			doc: routeDoc{summary: "One contact's basic info (answers even for a number not on WhatsApp: see check-exists)", tag: "contacts",
				response: provider.ContactInfo{}, query: []string{"session: default \"default\"", "contactId: digits, @c.us or @lid"}}},
		{method: "GET", path: "/api/{session}/contacts/{id}", auth: authTenant, handle: s.getSessionContact,
			doc: routeDoc{summary: "One contact's basic info (WAHA's session-scoped form of GET /api/contacts)", tag: "contacts",
				response: provider.ContactInfo{}}},
		{method: "GET", path: "/api/contacts/check-exists", auth: authTenant, handle: s.checkExists,
			doc: routeDoc{summary: "Whether a phone number is registered on WhatsApp", tag: "contacts",
				response: provider.NumberStatus{}, query: []string{"session: default \"default\"", "phone: digits with country code"}}},
		{method: "GET", path: "/api/contacts/about", auth: authTenant, handle: s.contactAbout,
			doc: routeDoc{summary: "A contact's about text (null when none or hidden)", tag: "contacts",
				response: aboutAnswer{}, query: []string{"session: default \"default\"", "contactId"}}},
		{method: "GET", path: "/api/contacts/profile-picture", auth: authTenant, handle: s.contactPicture,
			doc: routeDoc{summary: "A contact's profile picture URL (null when none or hidden)", tag: "contacts",
				response: pictureAnswer{}, query: []string{"session: default \"default\"", "contactId",
					"refresh: true asks WhatsApp again instead of the 24-hour cache"}}},
		{method: "POST", path: "/api/contacts/block", auth: authTenant, handle: s.blockContact(true),
			doc: routeDoc{summary: "Block a contact", tag: "contacts", request: contactBody{}, response: contactsResult{}}},
		{method: "POST", path: "/api/contacts/unblock", auth: authTenant, handle: s.blockContact(false),
			doc: routeDoc{summary: "Unblock a contact", tag: "contacts", request: contactBody{}, response: contactsResult{}}},
	}
	if s.d.Contacts != nil {
		routes = append(routes, route{method: "GET", path: "/api/contacts/{chatId}/sessions", auth: authTenant, handle: s.contactSessions,
			doc: routeDoc{summary: "The tenant's sessions that talk with a contact: the sticky route, last inbound and outbound per session", tag: "contacts",
				response: contactSessionsAnswer{}}})
	}
	return append(append(routes, s.profileRoutes()...), s.lidRoutes()...)
}

// contactsSessionQuery returns the session named by the query (WAHA's default "default").
func contactsSessionQuery(c *fasthttp.RequestCtx) (string, error) {
	name := string(c.QueryArgs().Peek("session"))
	if name == "" {
		return contactsDefaultSession, nil
	}
	if !session.ValidName(name) {
		return "", badRequest("invalid_session_name", "session must be 1-64 of A-Z, a-z, 0-9, '_' and '-'", d("field", "session"))
	}
	return name, nil
}

// parseContactID parses a contact's id: a user by number or by LID.
func parseContactID(s, field string) (chatid.ID, error) {
	if s == "" {
		return chatid.ID{}, badRequest("invalid_contact_id", field+" is required", d("field", field))
	}
	id, err := chatid.Parse(s)
	if err != nil {
		return chatid.ID{}, badRequest("invalid_contact_id", err.Error(), d("field", field))
	}
	if id.Server != chatid.User && id.Server != chatid.LID {
		return chatid.ID{}, badRequest("invalid_contact_id", field+" must be a user (digits, @c.us or @lid), not "+id.String(), d("field", field))
	}
	return id, nil
}

// contactTarget reads the session and contactId of a contact query.
func contactTarget(c *fasthttp.RequestCtx) (string, chatid.ID, error) {
	name, err := contactsSessionQuery(c)
	if err != nil {
		return "", chatid.ID{}, err
	}
	id, err := parseContactID(string(c.QueryArgs().Peek("contactId")), "contactId")
	return name, id, err
}

// contactsPageParam reads an optional non-negative integer query parameter of at most max;
// def when absent.
func contactsPageParam(c *fasthttp.RequestCtx, name string, def, min, max int) (int, error) {
	raw := c.QueryArgs().Peek(name)
	if len(raw) == 0 {
		return def, nil
	}
	n, err := strconv.Atoi(string(raw))
	if err != nil || n < min || n > max || len(raw) > 10 {
		return 0, badRequest("invalid_pagination", name+" must be an integer from "+strconv.Itoa(min)+" to "+strconv.Itoa(max),
			d("field", name, "min", min, "max", max))
	}
	return n, nil
}

// contactsPage is the sorting and paging of GET /api/contacts/all.
type contactsPage struct {
	sortBy        string // "id" or "name"
	desc          bool
	limit, offset int
}

func parseContactsPage(c *fasthttp.RequestCtx) (contactsPage, error) {
	p := contactsPage{sortBy: "id"}
	switch v := string(c.QueryArgs().Peek("sortBy")); v {
	case "", "id":
	case "name":
		p.sortBy = "name"
	default:
		return p, badRequest("invalid_sort", "sortBy must be id or name", d("field", "sortBy"))
	}
	switch v := string(c.QueryArgs().Peek("sortOrder")); v {
	case "", "asc":
	case "desc":
		p.desc = true
	default:
		return p, badRequest("invalid_sort", "sortOrder must be asc or desc", d("field", "sortOrder"))
	}
	var err error
	if p.limit, err = contactsPageParam(c, "limit", maxContactsPage, 1, maxContactsPage); err != nil {
		return p, err
	}
	if p.offset, err = contactsPageParam(c, "offset", 0, 0, maxContactsOffset); err != nil {
		return p, err
	}
	return p, nil
}

// apply sorts list (by id, or by name: the address-book name, else the push name,
// case-insensitively, then id) and returns the page.
func (p contactsPage) apply(list []provider.ContactInfo) []provider.ContactInfo {
	key := func(ci provider.ContactInfo) string { return "" }
	if p.sortBy == "name" {
		key = func(ci provider.ContactInfo) string { return strings.ToLower(cmp.Or(ci.Name, ci.Pushname)) }
	}
	slices.SortFunc(list, func(a, b provider.ContactInfo) int {
		c := cmp.Or(strings.Compare(key(a), key(b)), strings.Compare(a.ID.String(), b.ID.String()))
		if p.desc {
			return -c
		}
		return c
	})
	start := min(p.offset, len(list))
	return list[start:min(start+p.limit, len(list))]
}

func (s *Server) listContacts(c *fasthttp.RequestCtx, r *request) error {
	name, err := contactsSessionQuery(c)
	if err != nil {
		return err
	}
	page, err := parseContactsPage(c)
	if err != nil {
		return err
	}
	list, err := session.Call(r.ctx, s.d.Sessions, r.tenant(), name, provider.CapContacts,
		func(ctx context.Context, p provider.Contacts) ([]provider.ContactInfo, error) {
			return p.ListContacts(ctx)
		})
	if err != nil {
		return s.providerFailure(err)
	}
	return writeJSON(c, http.StatusOK, page.apply(list))
}

func (s *Server) getContact(c *fasthttp.RequestCtx, r *request) error {
	name, id, err := contactTarget(c)
	if err != nil {
		return err
	}
	return s.answerContact(c, r, name, id)
}

func (s *Server) getSessionContact(c *fasthttp.RequestCtx, r *request) error {
	id, err := parseContactID(pathParam(c, "id"), "id")
	if err != nil {
		return err
	}
	return s.answerContact(c, r, sessionName(c), id)
}

func (s *Server) answerContact(c *fasthttp.RequestCtx, r *request, name string, id chatid.ID) error {
	info, err := session.Call(r.ctx, s.d.Sessions, r.tenant(), name, provider.CapContacts,
		func(ctx context.Context, p provider.Contacts) (provider.ContactInfo, error) {
			return p.GetContact(ctx, id)
		})
	if err != nil {
		return s.providerFailure(notFoundAs(err, "contact_not_found"))
	}
	return writeJSON(c, http.StatusOK, info)
}

func (s *Server) checkExists(c *fasthttp.RequestCtx, r *request) error {
	name, err := contactsSessionQuery(c)
	if err != nil {
		return err
	}
	raw := string(c.QueryArgs().Peek("phone"))
	phone, err := chatid.Parse(raw)
	if raw == "" || err != nil || phone.Server != chatid.User {
		return badRequest("invalid_phone", "phone must be a phone number with country code, 5 to 15 digits (like 15551234567)", d("field", "phone"))
	}
	st, err := session.Call(r.ctx, s.d.Sessions, r.tenant(), name, provider.CapContacts,
		func(ctx context.Context, p provider.Contacts) (provider.NumberStatus, error) {
			return p.CheckNumber(ctx, phone.Local)
		})
	if err != nil {
		return s.providerFailure(err)
	}
	return writeJSON(c, http.StatusOK, st)
}

func (s *Server) contactAbout(c *fasthttp.RequestCtx, r *request) error {
	name, id, err := contactTarget(c)
	if err != nil {
		return err
	}
	answer, err := session.Call(r.ctx, s.d.Sessions, r.tenant(), name, provider.CapContacts,
		func(ctx context.Context, p provider.Contacts) (aboutAnswer, error) {
			about, ok, err := p.About(ctx, id)
			if !ok {
				return aboutAnswer{}, err
			}
			return aboutAnswer{About: &about}, err
		})
	if err != nil {
		return s.providerFailure(notFoundAs(err, "contact_not_found"))
	}
	return writeJSON(c, http.StatusOK, answer)
}

// refreshQuery reads the refresh query parameter of the picture routes: true asks
// the transport again instead of answering from its cache.
func refreshQuery(c *fasthttp.RequestCtx) (bool, error) {
	switch string(c.QueryArgs().Peek("refresh")) {
	case "", "false", "0":
		return false, nil
	case "true", "1":
		return true, nil
	}
	return false, badRequest("invalid_refresh", "refresh must be true or false", d("field", "refresh"))
}

func (s *Server) contactPicture(c *fasthttp.RequestCtx, r *request) error {
	name, id, err := contactTarget(c)
	if err != nil {
		return err
	}
	refresh, err := refreshQuery(c)
	if err != nil {
		return err
	}
	answer, err := session.Call(r.ctx, s.d.Sessions, r.tenant(), name, provider.CapContacts,
		func(ctx context.Context, p provider.Contacts) (pictureAnswer, error) {
			url, err := p.ProfilePictureURL(ctx, id, refresh)
			if url == "" {
				return pictureAnswer{}, err
			}
			return pictureAnswer{ProfilePictureURL: &url}, err
		})
	if err != nil {
		return s.providerFailure(notFoundAs(err, "contact_not_found"))
	}
	return writeJSON(c, http.StatusOK, answer)
}

func (s *Server) blockContact(block bool) handlerFunc {
	return func(c *fasthttp.RequestCtx, r *request) error {
		var b contactBody
		if err := decodeJSON(c, &b); err != nil {
			return err
		}
		name := cmp.Or(b.Session, contactsDefaultSession)
		if !session.ValidName(name) {
			return badRequest("invalid_session_name", "session must be 1-64 of A-Z, a-z, 0-9, '_' and '-'", d("field", "session"))
		}
		id, err := parseContactID(b.ContactID, "contactId")
		if err != nil {
			return err
		}
		err = session.Do(r.ctx, s.d.Sessions, r.tenant(), name, provider.CapContacts, func(ctx context.Context, p provider.Contacts) error {
			if block {
				return p.Block(ctx, id)
			}
			return p.Unblock(ctx, id)
		})
		if err != nil {
			return s.providerFailure(notFoundAs(err, "contact_not_found"))
		}
		return writeJSON(c, http.StatusOK, contactsResult{Success: true})
	}
}

func (s *Server) contactSessions(c *fasthttp.RequestCtx, r *request) error {
	chat, err := chatid.Parse(pathParam(c, "chatId"))
	if err != nil {
		return badRequest("invalid_chat_id", err.Error(), d("field", "chatId"))
	}
	last, talk, err := s.d.Contacts.Contact(r.tenant(), chat.String())
	if err != nil {
		return err
	}
	sessions, err := s.d.Sessions.List(r.ctx, r.tenant())
	if err != nil {
		return err
	}
	answer := contactSessionsAnswer{ChatID: chat, Sessions: []contactSession{}}
	for _, info := range sessions {
		if info.Name == last.Session {
			answer.Sticky = &stickyAnswer{Session: last.Session, At: last.At}
		}
		if t, ok := talk[info.Name]; ok {
			answer.Sessions = append(answer.Sessions, contactSession{Session: info.Name, Status: info.Status,
				LastInbound: t.LastInbound, LastOutbound: t.LastOutbound})
		}
	}
	slices.SortFunc(answer.Sessions, func(a, b contactSession) int { return strings.Compare(a.Session, b.Session) })
	return writeJSON(c, http.StatusOK, answer)
}
