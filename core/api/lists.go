package api

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/wagate/wagate/core/audience"
	"github.com/wagate/wagate/core/chatid"
)

// Contact list routes (docs/campaigns.md, "Audiences"): a tenant's lists, their
// streamed imports, paging and export. Served when Deps.Audience is set.

// importTimeout is the handler deadline of an import: a body of server.max_body_bytes
// may hold many rows, each batch of 1000 a transaction.
const importTimeout = 10 * time.Minute

// defaultListPage is the contacts page size when limit is absent.
const defaultListPage = 100

// createListRequest is the body of POST /api/lists.
type createListRequest struct {
	Name string `json:"name"`
}

// listContactsPage is the answer of GET /api/lists/{listId}/contacts.
type listContactsPage struct {
	Contacts []audience.Contact `json:"contacts"`
	// Next is the cursor of the next page, "" on the last.
	Next string `json:"next"`
}

// listRoutes are the routes of contact lists.
func (s *Server) listRoutes() []route {
	if s.d.Audience == nil {
		return nil
	}
	const l = "/api/lists"
	doc := func(summary string, req, resp any) routeDoc {
		return routeDoc{summary: summary, tag: "lists", request: req, response: resp}
	}
	page := []string{"limit: 1..1000 (default 100)", "cursor: the next of the previous page"}
	return []route{
		{method: http.MethodPost, path: l, auth: authTenant, handle: s.createList,
			doc: routeDoc{summary: "Create a contact list", tag: "lists", request: createListRequest{}, response: audience.List{}, status: http.StatusCreated}},
		{method: http.MethodGet, path: l, auth: authTenant, handle: s.listLists,
			doc: doc("The tenant's contact lists, newest first", nil, []audience.List{})},
		{method: http.MethodGet, path: l + "/{listId}", auth: authTenant, handle: s.getList,
			doc: doc("A contact list", nil, audience.List{})},
		{method: http.MethodDelete, path: l + "/{listId}", auth: authTenant, handle: s.deleteList,
			doc: doc("Delete a list and its contacts (409 list_in_use while a campaign uses it)", nil, contactsResult{})},
		{method: http.MethodPost, path: l + "/{listId}/import", auth: authTenant, handle: s.importList, timeout: importTimeout,
			doc: routeDoc{summary: "Import contacts into a list (CSV, JSON array or NDJSON), streamed; bad rows are reported", tag: "lists",
				description: "Body: `text/csv` (a header row; the phone column is the first named phone, chatId, number or whatsapp; `name`; " +
					"other columns are attributes), `application/json` (an array of `{chatId, name?, attrs?}`) or `application/x-ndjson` " +
					"(one such object per line). Bounded by server.max_body_bytes. See docs/campaigns.md.",
				response: audience.ImportReport{}}},
		{method: http.MethodGet, path: l + "/{listId}/contacts", auth: authTenant, handle: s.listListContacts,
			doc: routeDoc{summary: "The contacts of a list, in chat id order", tag: "lists", response: listContactsPage{}, query: page}},
		{method: http.MethodGet, path: l + "/{listId}/export", auth: authTenant, handle: s.exportList,
			doc: routeDoc{summary: "The list as CSV: chatId,name,<columns...> (what the import reads back)", tag: "lists", contentType: "text/csv"}},
		{method: http.MethodDelete, path: l + "/{listId}/contacts/{chatId}", auth: authTenant, handle: s.removeListContact,
			doc: doc("Remove a contact from a list", nil, contactsResult{})},
	}
}

// mapAudienceError maps the errors of core/audience.
func mapAudienceError(err error) *Error {
	switch {
	case errors.Is(err, audience.ErrListNotFound):
		return notFound("list_not_found", "no such list")
	case errors.Is(err, audience.ErrListInUse):
		return conflict("list_in_use", "a campaign that is not finished uses this list")
	case errors.Is(err, audience.ErrTooManyLists):
		return conflict("too_many_lists", "the tenant has as many lists as campaigns.max_lists allows; delete one first")
	case errors.Is(err, audience.ErrInvalidName):
		return badRequest("invalid_name", "name must be 1 to 100 characters of text", d("field", "name"))
	case errors.Is(err, audience.ErrOptOutNotFound):
		return notFound("optout_not_found", "the chat is not on the opt-out list")
	case errors.Is(err, audience.ErrInvalidCursor):
		return badRequest("invalid_cursor", "cursor must be the next of a previous page (a chat id)", d("field", "cursor"))
	case errors.Is(err, audience.ErrInvalidChat):
		return badRequest("invalid_chat_id", err.Error())
	}
	return nil
}

// audienceChat reads a contact's chat id as the audience routes take it (a phone or a
// user or LID chat id; audience.ParseChat).
func audienceChat(s, field string) (chatid.ID, error) {
	if s == "" {
		return chatid.ID{}, badRequest("invalid_chat_id", field+" is required", d("field", field))
	}
	id, err := audience.ParseChat(s)
	if err != nil {
		return chatid.ID{}, badRequest("invalid_chat_id", err.Error(), d("field", field))
	}
	return id, nil
}

// pageQuery reads the limit and cursor of a paged audience route.
func pageQuery(c *fasthttp.RequestCtx) (int, string, error) {
	limit, err := contactsPageParam(c, "limit", defaultListPage, 1, audience.MaxPage)
	if err != nil {
		return 0, "", err
	}
	cursor := string(c.QueryArgs().Peek("cursor"))
	if cursor != "" {
		id, err := audience.ParseChat(cursor)
		if err != nil || id.String() != cursor {
			return 0, "", badRequest("invalid_cursor", "cursor must be the next of a previous page (a chat id)", d("field", "cursor"))
		}
	}
	return limit, cursor, nil
}

func (s *Server) createList(c *fasthttp.RequestCtx, r *request) error {
	var b createListRequest
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	l, err := s.d.Audience.CreateList(r.ctx, r.tenant(), b.Name)
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusCreated, l)
}

func (s *Server) listLists(c *fasthttp.RequestCtx, r *request) error {
	ls, err := s.d.Audience.Lists(r.ctx, r.tenant())
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, ls)
}

func (s *Server) getList(c *fasthttp.RequestCtx, r *request) error {
	l, err := s.d.Audience.GetList(r.ctx, r.tenant(), pathParam(c, "listId"))
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, l)
}

func (s *Server) deleteList(c *fasthttp.RequestCtx, r *request) error {
	if err := s.d.Audience.DeleteList(r.ctx, r.tenant(), pathParam(c, "listId")); err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, contactsResult{Success: true})
}

// importFormat reads the format of an import body from its Content-Type.
func importFormat(ct []byte) (audience.Format, error) {
	mt, _, err := mime.ParseMediaType(string(ct))
	if err == nil {
		switch strings.ToLower(mt) {
		case "text/csv":
			return audience.CSV, nil
		case contentTypeJSON:
			return audience.JSON, nil
		case "application/x-ndjson":
			return audience.NDJSON, nil
		}
	}
	return 0, newError(http.StatusUnsupportedMediaType, "unsupported_media_type",
		"Content-Type must be text/csv, application/json or application/x-ndjson", d("contentType", string(ct)))
}

func (s *Server) importList(c *fasthttp.RequestCtx, r *request) error {
	format, err := importFormat(c.Request.Header.ContentType())
	if err != nil {
		return err
	}
	// The importer reads the body row by row. This server does not stream request
	// bodies (StreamRequestBody is off), so fasthttp has read the body, bounded by
	// server.max_body_bytes, before the handler runs; a server that streams would hand
	// its stream here instead.
	var body io.Reader = bytes.NewReader(c.Request.Body())
	if rs := c.RequestBodyStream(); rs != nil {
		body = rs
	}
	rep, err := s.d.Audience.Import(r.ctx, r.tenant(), pathParam(c, "listId"), format, body)
	if err != nil {
		return err
	}
	r.log.Info("list imported", "tenant", r.tenant(), "list", pathParam(c, "listId"),
		"imported", rep.Imported, "duplicates", rep.Duplicates, "invalid", rep.Invalid)
	return writeJSON(c, http.StatusOK, rep)
}

func (s *Server) listListContacts(c *fasthttp.RequestCtx, r *request) error {
	limit, cursor, err := pageQuery(c)
	if err != nil {
		return err
	}
	cs, next, err := s.d.Audience.Contacts(r.ctx, r.tenant(), pathParam(c, "listId"), cursor, limit)
	if err != nil {
		return err
	}
	if cs == nil {
		cs = []audience.Contact{}
	}
	return writeJSON(c, http.StatusOK, listContactsPage{Contacts: cs, Next: next})
}

func (s *Server) exportList(c *fasthttp.RequestCtx, r *request) error {
	tenantID, id := r.tenant(), pathParam(c, "listId")
	if _, err := s.d.Audience.GetList(r.ctx, tenantID, id); err != nil {
		return err
	}
	c.SetStatusCode(http.StatusOK)
	c.SetContentType("text/csv; charset=utf-8")
	c.Response.Header.Set("Content-Disposition", `attachment; filename="`+id+`.csv"`)
	log := r.log
	// Streamed after the handler returns, page by page: a large list is never held
	// whole. An error then can only cut the body short; it is logged.
	c.SetBodyStreamWriter(func(w *bufio.Writer) {
		if err := s.d.Audience.Export(s.baseCtx, tenantID, id, w); err != nil {
			log.Warn("list export cut short", "tenant", tenantID, "list", id, "err", err)
		}
	})
	return nil
}

func (s *Server) removeListContact(c *fasthttp.RequestCtx, r *request) error {
	chat, err := audienceChat(pathParam(c, "chatId"), "chatId")
	if err != nil {
		return err
	}
	if err := s.d.Audience.RemoveContact(r.ctx, r.tenant(), pathParam(c, "listId"), chat); err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, contactsResult{Success: true})
}
