package api

import (
	"cmp"
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/provider"
	"github.com/wagate/wagate/core/queue"
	"github.com/wagate/wagate/core/session"
)

// Chat routes (docs/api.md, "Chats"): read receipts, archive, unread, pin, delete,
// star. Each is an immediate call to the session's provider through session.Call, not
// queued.

// Limits of the chat routes.
const (
	// maxSeenMessages bounds messageIds of one sendSeen.
	maxSeenMessages = 1000
	// maxSeenIDLen bounds one message id (WAHA's serialized form included).
	maxSeenIDLen = 256
)

// sendSeenBody is WAHA's SendSeenRequest: POST /api/sendSeen.
type sendSeenBody struct {
	Session string `json:"session,omitempty"`
	ChatID  string `json:"chatId"`
	// MessageID and MessageIDs name the messages read (WAHA's serialized ids,
	// "false_<chat>_<id>", or the bare id); none marks every unread message of the chat.
	MessageID  string   `json:"messageId,omitempty"`
	MessageIDs []string `json:"messageIds,omitempty"`
	// Participant is the author of the messages in a group.
	Participant string `json:"participant,omitempty"`
}

// starBody is WAHA's MessageStarRequest: PUT /api/star.
type starBody struct {
	Session   string `json:"session,omitempty"`
	ChatID    string `json:"chatId"`
	MessageID string `json:"messageId"`
	Star      bool   `json:"star"`
}

// readBody is POST /api/{session}/chats/{chatId}/messages/read (optional body).
type readBody struct {
	MessageIDs []string `json:"messageIds,omitempty"`
}

// chatRoutes are the routes of chats.
func (s *Server) chatRoutes() []route {
	return []route{
		{method: "POST", path: "/api/sendSeen", auth: authTenant, handle: s.sendSeen,
			doc: routeDoc{summary: "Mark a chat's messages read: their senders see the read receipt (immediate, not queued)", tag: "chats",
				request: sendSeenBody{}, response: contactsResult{}}},
		{method: "POST", path: "/api/{session}/chats/{chatId}/messages/read", auth: authTenant, handle: s.readChat,
			doc: routeDoc{summary: "Mark a chat's messages read", tag: "chats", request: readBody{}, response: contactsResult{}}},
		{method: "POST", path: "/api/{session}/chats/{chatId}/archive", auth: authTenant, handle: s.chatFlag(flagArchive),
			doc: routeDoc{summary: "Archive a chat", tag: "chats", response: contactsResult{}}},
		{method: "POST", path: "/api/{session}/chats/{chatId}/unarchive", auth: authTenant, handle: s.chatFlag(flagUnarchive),
			doc: routeDoc{summary: "Unarchive a chat", tag: "chats", response: contactsResult{}}},
		{method: "POST", path: "/api/{session}/chats/{chatId}/unread", auth: authTenant, handle: s.chatFlag(flagUnread),
			doc: routeDoc{summary: "Mark a chat unread", tag: "chats", response: contactsResult{}}},
		{method: "POST", path: "/api/{session}/chats/{chatId}/pin", auth: authTenant, handle: s.chatFlag(flagPin),
			doc: routeDoc{summary: "Pin a chat", tag: "chats", response: contactsResult{}}},
		{method: "POST", path: "/api/{session}/chats/{chatId}/unpin", auth: authTenant, handle: s.chatFlag(flagUnpin),
			doc: routeDoc{summary: "Unpin a chat", tag: "chats", response: contactsResult{}}},
		{method: "DELETE", path: "/api/{session}/chats/{chatId}", auth: authTenant, handle: s.chatFlag(flagDelete),
			doc: routeDoc{summary: "Delete a chat from the session's devices", tag: "chats", response: contactsResult{}}},
		{method: "GET", path: "/api/{session}/chats", auth: authTenant, handle: s.listChats,
			doc: routeDoc{summary: "The session's chats, newest activity first, each with its last message", tag: "chats", response: []chatSummary{},
				query: []string{"sortBy: conversationTimestamp (default), id or name", "sortOrder: desc or asc", "limit: 1..1000 (default 1000)", "offset"}}},
		{method: "GET", path: "/api/{session}/chats/overview", auth: authTenant, handle: s.chatsOverview,
			doc: routeDoc{summary: "The session's chats, newest first, with name and last message", tag: "chats", response: []chatSummary{},
				query: []string{"limit: 1..1000 (default 1000)", "offset", "ids: only these chats (repeated or comma-separated)"}}},
		{method: "PUT", path: "/api/star", auth: authTenant, handle: s.star,
			doc: routeDoc{summary: "Star or unstar a message", tag: "chats", request: starBody{}, response: contactsResult{}}},
	}
}

// parseMessageID reads a message id: WAHA's serialized "<fromMe>_<chat>_<id>[_<participant>]"
// or a bare id. It returns the bare id and, for the serialized form, whether the session
// sent it.
func parseMessageID(s, field string) (id string, fromMe bool, err error) {
	if s == "" || len(s) > maxSeenIDLen || strings.ContainsAny(s, "/ \t\r\n") {
		return "", false, badRequest("invalid_message_id", field+" must be a message id of 1 to 256 characters", d("field", field))
	}
	if rest, ok := strings.CutPrefix(s, "true_"); ok {
		fromMe, s = true, rest
	} else if rest, ok := strings.CutPrefix(s, "false_"); ok {
		s = rest
	} else {
		return s, false, nil
	}
	parts := strings.Split(s, "_")
	if len(parts) < 2 || parts[1] == "" {
		return "", false, badRequest("invalid_message_id", field+" is not a serialized message id (fromMe_chat_id)", d("field", field))
	}
	return parts[1], fromMe, nil
}

func (s *Server) sendSeen(c *fasthttp.RequestCtx, r *request) error {
	var b sendSeenBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	name, err := bodySession(b.Session)
	if err != nil {
		return err
	}
	chat, err := requiredChat(b.ChatID, "chatId")
	if err != nil {
		return err
	}
	if len(b.MessageIDs) > maxSeenMessages {
		return badRequest("too_many_messages", "messageIds holds at most 1000 ids", d("field", "messageIds", "limit", maxSeenMessages))
	}
	var ids []string
	raws := b.MessageIDs
	if b.MessageID != "" {
		raws = append(raws, b.MessageID)
	}
	for _, raw := range raws {
		id, _, err := parseMessageID(raw, "messageIds")
		if err != nil {
			return err
		}
		ids = append(ids, id)
	}
	var sender chatid.ID
	if b.Participant != "" {
		if sender, err = parseContactID(b.Participant, "participant"); err != nil {
			return err
		}
	}
	return s.markRead(c, r, name, chat, ids, sender)
}

func (s *Server) markRead(c *fasthttp.RequestCtx, r *request, name string, chat chatid.ID, ids []string, sender chatid.ID) error {
	err := session.Do(r.ctx, s.d.Sessions, r.tenant(), name, provider.CapChats, func(ctx context.Context, p provider.Chats) error {
		return p.MarkRead(ctx, chat, ids, sender)
	})
	if err != nil {
		return s.providerFailure(notFoundAs(err, "chat_not_found"))
	}
	return writeJSON(c, http.StatusOK, contactsResult{Success: true})
}

func (s *Server) readChat(c *fasthttp.RequestCtx, r *request) error {
	chat, err := requiredChat(pathParam(c, "chatId"), "chatId")
	if err != nil {
		return err
	}
	var b readBody
	if err := decodeOptionalJSON(c, &b); err != nil {
		return err
	}
	if len(b.MessageIDs) > maxSeenMessages {
		return badRequest("too_many_messages", "messageIds holds at most 1000 ids", d("field", "messageIds", "limit", maxSeenMessages))
	}
	ids := make([]string, 0, len(b.MessageIDs))
	for _, raw := range b.MessageIDs {
		id, _, err := parseMessageID(raw, "messageIds")
		if err != nil {
			return err
		}
		ids = append(ids, id)
	}
	return s.markRead(c, r, sessionName(c), chat, ids, chatid.ID{})
}

// Chat flag operations of chatFlag.
const (
	flagArchive = iota
	flagUnarchive
	flagUnread
	flagPin
	flagUnpin
	flagDelete
)

func (s *Server) chatFlag(op int) handlerFunc {
	return func(c *fasthttp.RequestCtx, r *request) error {
		chat, err := requiredChat(pathParam(c, "chatId"), "chatId")
		if err != nil {
			return err
		}
		err = session.Do(r.ctx, s.d.Sessions, r.tenant(), sessionName(c), provider.CapChats, func(ctx context.Context, p provider.Chats) error {
			switch op {
			case flagArchive, flagUnarchive:
				return p.Archive(ctx, chat, op == flagArchive)
			case flagUnread:
				return p.MarkUnread(ctx, chat)
			case flagPin, flagUnpin:
				return p.Pin(ctx, chat, op == flagPin)
			}
			return p.DeleteChat(ctx, chat)
		})
		if err != nil {
			return s.providerFailure(notFoundAs(err, "chat_not_found"))
		}
		return writeJSON(c, http.StatusOK, contactsResult{Success: true})
	}
}

func (s *Server) star(c *fasthttp.RequestCtx, r *request) error {
	var b starBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	name, err := bodySession(b.Session)
	if err != nil {
		return err
	}
	chat, err := requiredChat(b.ChatID, "chatId")
	if err != nil {
		return err
	}
	id, fromMe, err := parseMessageID(b.MessageID, "messageId")
	if err != nil {
		return err
	}
	err = session.Do(r.ctx, s.d.Sessions, r.tenant(), name, provider.CapChats, func(ctx context.Context, p provider.Chats) error {
		return p.Star(ctx, chat, id, fromMe, b.Star)
	})
	if err != nil {
		return s.providerFailure(notFoundAs(err, "message_not_found"))
	}
	return writeJSON(c, http.StatusOK, contactsResult{Success: true})
}

// The chat list: GET /api/{session}/chats and /chats/overview.
//
// The list is the gateway's history of the session (every chat it sent to or received
// from, as GET .../chats/{chatId}/messages has them), newest activity first, with
// what the provider knows beside it when the session is WORKING: the contact's or
// group's name and the chat's flags. A chat never touched through the gateway (history
// on the phone before linking) is not in it.

// maxChatsPage is the largest page of the chat list, and its size when limit is left
// out.
const maxChatsPage = 1000

// chatSummary is one chat of the list: WAHA's ChatSummary (id, name, picture,
// lastMessage) with NOWEB's conversationTimestamp and the chat's flags.
type chatSummary struct {
	ID   string  `json:"id"`
	Name *string `json:"name"`
	// Picture is WAHA's field; the list does not fetch pictures (null): GET
	// /api/contacts/profile-picture does.
	Picture *string `json:"picture"`
	// ConversationTimestamp is the last message's time, Unix seconds.
	ConversationTimestamp int64 `json:"conversationTimestamp"`
	// LastMessage is the chat's newest message, as the message routes answer it.
	LastMessage  queue.Message `json:"lastMessage"`
	Archived     bool          `json:"archived"`
	Pinned       bool          `json:"pinned"`
	MarkedUnread bool          `json:"markedUnread"`
}

// lastAt is when a chat's last message happened: a received message's own time, else
// when the gateway accepted it.
func lastAt(m queue.Message) time.Time {
	if !m.Timestamp.IsZero() {
		return m.Timestamp
	}
	return m.CreatedAt
}

// chatList reads the session's chats, their names and flags, newest first.
func (s *Server) chatList(c *fasthttp.RequestCtx, r *request) ([]chatSummary, error) {
	name := sessionName(c)
	if _, err := s.d.Sessions.Get(r.ctx, r.tenant(), name); err != nil {
		return nil, err
	}
	chats, _, err := s.d.Queue.Chats(r.ctx, r.tenant(), name)
	if err != nil {
		return nil, err
	}
	names := s.chatNames(r, name)
	flags, _ := session.Call(r.ctx, s.d.Sessions, r.tenant(), name, provider.CapChats, func(ctx context.Context, p provider.ChatStater) (map[chatid.ID]provider.ChatState, error) {
		return p.ChatStates(ctx)
	})
	out := make([]chatSummary, len(chats))
	for i, ch := range chats {
		out[i] = chatSummary{ID: ch.Chat, LastMessage: ch.Last, ConversationTimestamp: lastAt(ch.Last).Unix()}
		if n, ok := names[ch.Chat]; ok {
			out[i].Name = &n
		}
		if id, err := chatid.Parse(ch.Chat); err == nil {
			st := flags[id]
			out[i].Archived, out[i].Pinned, out[i].MarkedUnread = st.Archived, st.Pinned, st.MarkedUnread
		}
	}
	slices.SortFunc(out, func(a, b chatSummary) int {
		return cmp.Or(-lastAt(a.LastMessage).Compare(lastAt(b.LastMessage)), strings.Compare(a.ID, b.ID))
	})
	return out, nil
}

// chatNames returns the names the provider knows: contacts' (saved name, else push
// name) and groups' subjects. It is best effort: a session not WORKING, or a provider
// without contacts or groups, names nothing.
func (s *Server) chatNames(r *request, name string) map[string]string {
	key := r.tenant() + "/" + name
	if names, ok := s.names.get(key, time.Now()); ok {
		return names
	}
	names := map[string]string{}
	contacts, errContacts := session.Call(r.ctx, s.d.Sessions, r.tenant(), name, provider.CapContacts, func(ctx context.Context, p provider.Contacts) ([]provider.ContactInfo, error) {
		return p.ListContacts(ctx)
	})
	for _, ct := range contacts {
		if n := cmp.Or(ct.Name, ct.Pushname); n != "" {
			names[ct.ID.String()] = n
		}
	}
	groups, errGroups := session.Call(r.ctx, s.d.Sessions, r.tenant(), name, provider.CapGroups, func(ctx context.Context, p provider.Groups) ([]provider.GroupInfo, error) {
		return p.ListGroups(ctx)
	})
	for _, g := range groups {
		names[g.ID.String()] = g.Subject
	}
	if errContacts == nil && errGroups == nil {
		s.names.put(key, names, time.Now())
	}
	return names
}

// chatNameTTL is how long the chat list reuses a session's contact and group names:
// listing the groups is a round trip to WhatsApp (whatsmeow), too slow for every page.
// A rename shows in the list at most this late.
const chatNameTTL = 30 * time.Second

// maxNameCaches bounds the sessions whose names are cached; past it the cache starts
// over.
const maxNameCaches = 1024

// nameCache holds each session's chat names (by "tenant/session") for chatNameTTL.
type nameCache struct {
	mu      sync.Mutex
	entries map[string]cachedNames
}

type cachedNames struct {
	names map[string]string
	at    time.Time
}

func (c *nameCache) get(key string, now time.Time) (map[string]string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok || now.Sub(e.at) >= chatNameTTL {
		return nil, false
	}
	return e.names, true
}

func (c *nameCache) put(key string, names map[string]string, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil || len(c.entries) >= maxNameCaches {
		c.entries = map[string]cachedNames{}
	}
	c.entries[key] = cachedNames{names: names, at: now}
}

// chatsPage reads limit and offset of the chat list.
func chatsPage(c *fasthttp.RequestCtx) (limit, offset int, err error) {
	if limit, err = contactsPageParam(c, "limit", maxChatsPage, 1, maxChatsPage); err != nil {
		return 0, 0, err
	}
	offset, err = contactsPageParam(c, "offset", 0, 0, maxContactsOffset)
	return limit, offset, err
}

func pageOf[T any](list []T, limit, offset int) []T {
	start := min(offset, len(list))
	page := list[start:min(start+limit, len(list))]
	if page == nil {
		page = []T{}
	}
	return page
}

// listChats is GET /api/{session}/chats: sortBy conversationTimestamp (the default),
// id or name; sortOrder desc (the default for conversationTimestamp) or asc.
func (s *Server) listChats(c *fasthttp.RequestCtx, r *request) error {
	q := c.QueryArgs()
	by := string(q.Peek("sortBy"))
	switch by {
	case "", "conversationTimestamp", "id", "name":
	default:
		return badRequest("invalid_sort", "sortBy must be conversationTimestamp, id or name", d("field", "sortBy"))
	}
	order := string(q.Peek("sortOrder"))
	switch order {
	case "", "asc", "desc":
	default:
		return badRequest("invalid_sort", "sortOrder must be asc or desc", d("field", "sortOrder"))
	}
	limit, offset, err := chatsPage(c)
	if err != nil {
		return err
	}
	list, err := s.chatList(c, r)
	if err != nil {
		return err
	}
	// list is newest first; other orders sort it again, ties by id.
	switch by {
	case "id":
		slices.SortStableFunc(list, func(a, b chatSummary) int { return strings.Compare(a.ID, b.ID) })
	case "name":
		slices.SortStableFunc(list, func(a, b chatSummary) int {
			return cmp.Or(strings.Compare(strings.ToLower(deref(a.Name)), strings.ToLower(deref(b.Name))), strings.Compare(a.ID, b.ID))
		})
	}
	byTime := by == "" || by == "conversationTimestamp"
	if wantDesc := order == "desc" || (order == "" && byTime); wantDesc != byTime { // byTime sorts desc, the others asc
		slices.Reverse(list)
	}
	return writeJSON(c, http.StatusOK, pageOf(list, limit, offset))
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// chatsOverview is GET /api/{session}/chats/overview: newest first, limit and offset,
// and ids (repeated or comma-separated) to keep only those chats.
func (s *Server) chatsOverview(c *fasthttp.RequestCtx, r *request) error {
	limit, offset, err := chatsPage(c)
	if err != nil {
		return err
	}
	var only map[string]bool
	for _, v := range c.QueryArgs().PeekMulti("ids") {
		for raw := range strings.SplitSeq(string(v), ",") {
			id, err := chatid.Parse(raw)
			if err != nil {
				return badRequest("invalid_chat_id", "ids: "+err.Error(), d("field", "ids"))
			}
			if only == nil {
				only = map[string]bool{}
			}
			if len(only) == maxChatsPage {
				return badRequest("invalid_chat_id", "ids may name at most 1000 chats", d("field", "ids", "limit", maxChatsPage))
			}
			only[id.String()] = true
		}
	}
	list, err := s.chatList(c, r)
	if err != nil {
		return err
	}
	if only != nil {
		list = slices.DeleteFunc(list, func(ch chatSummary) bool { return !only[ch.ID] })
	}
	return writeJSON(c, http.StatusOK, pageOf(list, limit, offset))
}
