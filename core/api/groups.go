package api

import (
	"cmp"
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/valyala/fasthttp"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/provider"
	"github.com/wagate/wagate/core/session"
)

// Group routes (docs/api.md, "Groups"), in WAHA's paths and bodies. Each is an
// immediate call to the session's provider through session.Call, not queued; messages
// to a group are sends like any other (chatId …@g.us).

// Limits of the group routes, WhatsApp's own where it has one.
const (
	// maxGroupSubject is WhatsApp's limit on a group's name, in characters.
	maxGroupSubject = 100
	// maxGroupDescription is WhatsApp's limit on a group's description.
	maxGroupDescription = 2048
	// maxGroupChange bounds the participants of one create, add, remove, promote or
	// demote (WhatsApp's group size).
	maxGroupChange = 1024
	// maxInviteCode bounds an invite code (WhatsApp's are 22 characters).
	maxInviteCode = 64
	// maxGroupsPage is the largest page of GET /api/{session}/groups, and its size
	// when limit is left out.
	maxGroupsPage = 1000
)

// groupParticipantRef is WAHA's Participant: {id}.
type groupParticipantRef struct {
	ID string `json:"id"`
}

// createGroupBody is WAHA's CreateGroupRequest.
type createGroupBody struct {
	Name         string                `json:"name"`
	Participants []groupParticipantRef `json:"participants"`
}

// participantsBody is WAHA's ParticipantsRequest.
type participantsBody struct {
	Participants []groupParticipantRef `json:"participants"`
	// NotifyParticipants is accepted as WAHA documents it; WhatsApp notifies the
	// participants either way.
	NotifyParticipants *bool `json:"notifyParticipants,omitempty"`
}

// subjectBody is WAHA's SubjectRequest; descriptionBody its DescriptionRequest.
type subjectBody struct {
	Subject string `json:"subject"`
}

type descriptionBody struct {
	Description string `json:"description"`
}

// adminsOnlyBody is WAHA's SettingsSecurityChangeInfo (the PUT body and the GET answer
// of the two security settings).
type adminsOnlyBody struct {
	AdminsOnly bool `json:"adminsOnly"`
}

// joinGroupBody is WAHA's JoinGroupRequest: a code or a full invite link.
type joinGroupBody struct {
	Code string `json:"code"`
}

// joinGroupAnswer is WAHA's JoinGroupResponse.
type joinGroupAnswer struct {
	ID chatid.ID `json:"id"`
}

// participantsAnswer is the answer of add, remove, promote and demote: WAHA answers
// the group's participants; we add each requested participant's outcome.
type participantsAnswer struct {
	Success bool                         `json:"success"`
	Results []provider.ParticipantResult `json:"results"`
}

// groupRoutes are the routes of groups.
func (s *Server) groupRoutes() []route {
	const g = "/api/{session}/groups"
	doc := func(summary string, req, resp any) routeDoc {
		return routeDoc{summary: summary, tag: "groups", request: req, response: resp}
	}
	return []route{
		{method: "POST", path: g, auth: authTenant, handle: s.createGroup,
			doc: routeDoc{summary: "Create a group with the session as its owner", tag: "groups", request: createGroupBody{},
				response: provider.GroupInfo{}, status: http.StatusCreated}},
		{method: "GET", path: g, auth: authTenant, handle: s.listGroups,
			doc: routeDoc{summary: "List the session's groups", tag: "groups", response: []provider.GroupInfo{},
				query: []string{"sortBy: id or subject", "sortOrder: asc or desc", "limit: 1..1000 (default 1000)", "offset",
					"exclude: participants leaves the participant lists out"}}},
		{method: "GET", path: g + "/count", auth: authTenant, handle: s.countGroups,
			doc: doc("Count the session's groups", nil, countAnswer{})},
		{method: "GET", path: g + "/join-info", auth: authTenant, handle: s.groupJoinInfo,
			doc: routeDoc{summary: "The group an invite code or link leads to, without joining", tag: "groups",
				response: provider.GroupInfo{}, query: []string{"code: the invite code or https://chat.whatsapp.com/ link"}}},
		{method: "POST", path: g + "/join", auth: authTenant, handle: s.joinGroup,
			doc: doc("Join a group by invite code or link", joinGroupBody{}, joinGroupAnswer{})},
		{method: "GET", path: g + "/{id}", auth: authTenant, handle: s.getGroup,
			doc: doc("Get a group", nil, provider.GroupInfo{})},
		{method: "POST", path: g + "/{id}/leave", auth: authTenant, handle: s.leaveGroup,
			doc: doc("Leave a group", nil, contactsResult{})},
		{method: "PUT", path: g + "/{id}/subject", auth: authTenant, handle: s.setGroupSubject,
			doc: doc("Set a group's name", subjectBody{}, contactsResult{})},
		{method: "PUT", path: g + "/{id}/description", auth: authTenant, handle: s.setGroupDescription,
			doc: doc("Set a group's description (empty removes it)", descriptionBody{}, contactsResult{})},
		{method: "PUT", path: g + "/{id}/settings/security/info-admin-only", auth: authTenant, handle: s.setGroupSetting(provider.SettingInfoAdminOnly),
			doc: doc("Let only admins edit the group's info", adminsOnlyBody{}, contactsResult{})},
		{method: "GET", path: g + "/{id}/settings/security/info-admin-only", auth: authTenant, handle: s.getGroupSetting(provider.SettingInfoAdminOnly),
			doc: doc("Whether only admins edit the group's info", nil, adminsOnlyBody{})},
		{method: "PUT", path: g + "/{id}/settings/security/messages-admin-only", auth: authTenant, handle: s.setGroupSetting(provider.SettingMessagesAdminOnly),
			doc: doc("Let only admins send messages", adminsOnlyBody{}, contactsResult{})},
		{method: "GET", path: g + "/{id}/settings/security/messages-admin-only", auth: authTenant, handle: s.getGroupSetting(provider.SettingMessagesAdminOnly),
			doc: doc("Whether only admins send messages", nil, adminsOnlyBody{})},
		{method: "GET", path: g + "/{id}/invite-code", auth: authTenant, handle: s.groupInviteCode(false),
			doc: doc("The group's invite link (admins)", nil, "")},
		{method: "POST", path: g + "/{id}/invite-code/revoke", auth: authTenant, handle: s.groupInviteCode(true),
			doc: doc("Replace the group's invite link; the old one stops working (admins)", nil, "")},
		{method: "GET", path: g + "/{id}/picture", auth: authTenant, handle: s.groupPicture,
			doc: routeDoc{summary: "The URL of the group's picture (null when none)", tag: "groups", response: groupPictureAnswer{},
				query: []string{"refresh: true asks WhatsApp again instead of the 24-hour cache"}}},
		{method: "PUT", path: g + "/{id}/picture", auth: authTenant, handle: s.setGroupPicture,
			doc: doc("Set the group's picture (file by url or base64 data; admins once info-admin-only)", profilePictureBody{}, contactsResult{})},
		{method: "DELETE", path: g + "/{id}/picture", auth: authTenant, handle: s.deleteGroupPicture,
			doc: doc("Remove the group's picture", nil, contactsResult{})},
		{method: "GET", path: g + "/{id}/participants", auth: authTenant, handle: s.groupParticipants,
			doc: doc("The group's participants and their roles", nil, []provider.GroupParticipant{})},
		{method: "POST", path: g + "/{id}/participants/add", auth: authTenant, handle: s.changeParticipants(provider.ParticipantAdd),
			doc: doc("Add participants (admins)", participantsBody{}, participantsAnswer{})},
		{method: "POST", path: g + "/{id}/participants/remove", auth: authTenant, handle: s.changeParticipants(provider.ParticipantRemove),
			doc: doc("Remove participants (admins)", participantsBody{}, participantsAnswer{})},
		{method: "POST", path: g + "/{id}/admin/promote", auth: authTenant, handle: s.changeParticipants(provider.ParticipantPromote),
			doc: doc("Make participants admins (admins)", participantsBody{}, participantsAnswer{})},
		{method: "POST", path: g + "/{id}/admin/demote", auth: authTenant, handle: s.changeParticipants(provider.ParticipantDemote),
			doc: doc("Make admins plain participants (admins)", participantsBody{}, participantsAnswer{})},
	}
}

// groupPathID reads the {id} of a group route: a group chat id (…@g.us).
func groupPathID(c *fasthttp.RequestCtx) (chatid.ID, error) {
	raw := pathParam(c, "id")
	id, err := chatid.Parse(raw)
	if err != nil || !id.IsGroup() {
		return chatid.ID{}, badRequest("invalid_group_id", "id must be a group id (digits@g.us)", d("field", "id"))
	}
	return id, nil
}

// callGroups runs fn on the session's Groups, with the group routes' error answers.
// An unknown group (or invite, for the invite routes) is 404 group_not_found
// (invite_not_found).
func callGroups[T any](s *Server, c *fasthttp.RequestCtx, r *request, fn func(context.Context, provider.Groups) (T, error)) (T, error) {
	return callGroupsAs(s, c, r, "group_not_found", fn)
}

func callGroupsAs[T any](s *Server, c *fasthttp.RequestCtx, r *request, notFoundCode string, fn func(context.Context, provider.Groups) (T, error)) (T, error) {
	v, err := session.Call(r.ctx, s.d.Sessions, r.tenant(), sessionName(c), provider.CapGroups, fn)
	if err != nil {
		return v, s.providerFailure(notFoundAs(err, notFoundCode))
	}
	return v, nil
}

// doGroups is callGroups for operations that answer {success: true}.
func (s *Server) doGroups(c *fasthttp.RequestCtx, r *request, fn func(context.Context, provider.Groups) error) error {
	if _, err := callGroups(s, c, r, func(ctx context.Context, p provider.Groups) (struct{}, error) { return struct{}{}, fn(ctx, p) }); err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, contactsResult{Success: true})
}

// checkGroupText checks a subject or description: valid UTF-8 of at most max
// characters, no NUL; required refuses "".
func checkGroupText(v string, max int, required bool, code, field string) error {
	n := utf8.RuneCountInString(v)
	if !utf8.ValidString(v) || strings.ContainsRune(v, 0) || n > max || (required && strings.TrimSpace(v) == "") {
		what := "at most"
		if required {
			what = "1 to"
		}
		return badRequest(code, field+" must be "+what+" "+strconv.Itoa(max)+" characters of text", d("field", field, "limit", max))
	}
	return nil
}

// parseParticipants reads a participants list: 1..maxGroupChange users (required) or
// 0..maxGroupChange (create).
func parseParticipants(list []groupParticipantRef, required bool) ([]chatid.ID, error) {
	if (required && len(list) == 0) || len(list) > maxGroupChange {
		return nil, badRequest("invalid_participants", "participants must list 1 to 1024 users as {\"id\": ...}", d("field", "participants", "limit", maxGroupChange))
	}
	ids := make([]chatid.ID, len(list))
	for i, p := range list {
		id, err := parseContactID(p.ID, "participants")
		if err != nil {
			return nil, badRequest("invalid_participants", "participants["+strconv.Itoa(i)+"].id: "+err.(*Error).Message, d("field", "participants", "index", i))
		}
		ids[i] = id
	}
	return ids, nil
}

// inviteCode reads an invite code or link ("https://chat.whatsapp.com/<code>").
func inviteCode(raw, field string) (string, error) {
	code := strings.TrimPrefix(strings.TrimPrefix(raw, "https://chat.whatsapp.com/"), "http://chat.whatsapp.com/")
	if code == "" || len(code) > maxInviteCode || strings.ContainsFunc(code, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-')
	}) {
		return "", badRequest("invalid_invite_code", field+" must be an invite code or a https://chat.whatsapp.com/ link", d("field", field))
	}
	return code, nil
}

func (s *Server) createGroup(c *fasthttp.RequestCtx, r *request) error {
	var b createGroupBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	if err := checkGroupText(b.Name, maxGroupSubject, true, "invalid_name", "name"); err != nil {
		return err
	}
	ids, err := parseParticipants(b.Participants, false)
	if err != nil {
		return err
	}
	info, err := callGroups(s, c, r, func(ctx context.Context, p provider.Groups) (provider.GroupInfo, error) {
		return p.CreateGroup(ctx, b.Name, ids)
	})
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusCreated, info)
}

func (s *Server) listGroups(c *fasthttp.RequestCtx, r *request) error {
	q := c.QueryArgs()
	bySubject, desc := false, false
	switch v := string(q.Peek("sortBy")); v {
	case "", "id":
	case "subject":
		bySubject = true
	default:
		return badRequest("invalid_sort", "sortBy must be id or subject", d("field", "sortBy"))
	}
	switch v := string(q.Peek("sortOrder")); v {
	case "", "asc":
	case "desc":
		desc = true
	default:
		return badRequest("invalid_sort", "sortOrder must be asc or desc", d("field", "sortOrder"))
	}
	limit, err := contactsPageParam(c, "limit", maxGroupsPage, 1, maxGroupsPage)
	if err != nil {
		return err
	}
	offset, err := contactsPageParam(c, "offset", 0, 0, maxContactsOffset)
	if err != nil {
		return err
	}
	noParticipants := false
	for _, v := range q.PeekMulti("exclude") {
		for f := range strings.SplitSeq(string(v), ",") {
			switch f {
			case "participants":
				noParticipants = true
			case "":
			default:
				return badRequest("invalid_exclude", "exclude may only name participants", d("field", "exclude"))
			}
		}
	}
	list, err := callGroups(s, c, r, func(ctx context.Context, p provider.Groups) ([]provider.GroupInfo, error) {
		return p.ListGroups(ctx)
	})
	if err != nil {
		return err
	}
	slices.SortFunc(list, func(a, b provider.GroupInfo) int {
		k := 0
		if bySubject {
			k = strings.Compare(strings.ToLower(a.Subject), strings.ToLower(b.Subject))
		}
		k = cmp.Or(k, strings.Compare(a.ID.String(), b.ID.String()))
		if desc {
			return -k
		}
		return k
	})
	start := min(offset, len(list))
	page := list[start:min(start+limit, len(list))]
	if noParticipants {
		for i := range page {
			page[i].Participants = nil
		}
	}
	if page == nil {
		page = []provider.GroupInfo{}
	}
	return writeJSON(c, http.StatusOK, page)
}

func (s *Server) countGroups(c *fasthttp.RequestCtx, r *request) error {
	list, err := callGroups(s, c, r, func(ctx context.Context, p provider.Groups) ([]provider.GroupInfo, error) {
		return p.ListGroups(ctx)
	})
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, countAnswer{Count: len(list)})
}

func (s *Server) groupJoinInfo(c *fasthttp.RequestCtx, r *request) error {
	code, err := inviteCode(string(c.QueryArgs().Peek("code")), "code")
	if err != nil {
		return err
	}
	info, err := callGroupsAs(s, c, r, "invite_not_found", func(ctx context.Context, p provider.Groups) (provider.GroupInfo, error) {
		return p.GroupInviteInfo(ctx, code)
	})
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, info)
}

func (s *Server) joinGroup(c *fasthttp.RequestCtx, r *request) error {
	var b joinGroupBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	code, err := inviteCode(b.Code, "code")
	if err != nil {
		return err
	}
	id, err := callGroupsAs(s, c, r, "invite_not_found", func(ctx context.Context, p provider.Groups) (chatid.ID, error) {
		return p.JoinGroup(ctx, code)
	})
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, joinGroupAnswer{ID: id})
}

// groupInfo reads the {id} group of the route.
func (s *Server) groupInfo(c *fasthttp.RequestCtx, r *request) (provider.GroupInfo, error) {
	id, err := groupPathID(c)
	if err != nil {
		return provider.GroupInfo{}, err
	}
	return callGroups(s, c, r, func(ctx context.Context, p provider.Groups) (provider.GroupInfo, error) {
		return p.GroupInfo(ctx, id)
	})
}

func (s *Server) getGroup(c *fasthttp.RequestCtx, r *request) error {
	info, err := s.groupInfo(c, r)
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, info)
}

func (s *Server) groupParticipants(c *fasthttp.RequestCtx, r *request) error {
	info, err := s.groupInfo(c, r)
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, info.Participants)
}

func (s *Server) leaveGroup(c *fasthttp.RequestCtx, r *request) error {
	id, err := groupPathID(c)
	if err != nil {
		return err
	}
	return s.doGroups(c, r, func(ctx context.Context, p provider.Groups) error { return p.LeaveGroup(ctx, id) })
}

func (s *Server) setGroupSubject(c *fasthttp.RequestCtx, r *request) error {
	id, err := groupPathID(c)
	if err != nil {
		return err
	}
	var b subjectBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	if err := checkGroupText(b.Subject, maxGroupSubject, true, "invalid_subject", "subject"); err != nil {
		return err
	}
	return s.doGroups(c, r, func(ctx context.Context, p provider.Groups) error { return p.SetGroupSubject(ctx, id, b.Subject) })
}

func (s *Server) setGroupDescription(c *fasthttp.RequestCtx, r *request) error {
	id, err := groupPathID(c)
	if err != nil {
		return err
	}
	var b descriptionBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	if err := checkGroupText(b.Description, maxGroupDescription, false, "invalid_description", "description"); err != nil {
		return err
	}
	return s.doGroups(c, r, func(ctx context.Context, p provider.Groups) error {
		return p.SetGroupDescription(ctx, id, b.Description)
	})
}

func (s *Server) setGroupSetting(setting provider.GroupSetting) handlerFunc {
	return func(c *fasthttp.RequestCtx, r *request) error {
		id, err := groupPathID(c)
		if err != nil {
			return err
		}
		var b adminsOnlyBody
		if err := decodeJSON(c, &b); err != nil {
			return err
		}
		return s.doGroups(c, r, func(ctx context.Context, p provider.Groups) error {
			return p.SetGroupSetting(ctx, id, setting, b.AdminsOnly)
		})
	}
}

func (s *Server) getGroupSetting(setting provider.GroupSetting) handlerFunc {
	return func(c *fasthttp.RequestCtx, r *request) error {
		info, err := s.groupInfo(c, r)
		if err != nil {
			return err
		}
		on := info.InfoAdminOnly
		if setting == provider.SettingMessagesAdminOnly {
			on = info.MessagesAdminOnly
		}
		return writeJSON(c, http.StatusOK, adminsOnlyBody{AdminsOnly: on})
	}
}

// groupInviteCode answers the invite link as a JSON string, as WAHA does.
func (s *Server) groupInviteCode(reset bool) handlerFunc {
	return func(c *fasthttp.RequestCtx, r *request) error {
		id, err := groupPathID(c)
		if err != nil {
			return err
		}
		code, err := callGroups(s, c, r, func(ctx context.Context, p provider.Groups) (string, error) {
			return p.InviteCode(ctx, id, reset)
		})
		if err != nil {
			return err
		}
		return writeJSON(c, http.StatusOK, provider.InviteLink(code))
	}
}

func (s *Server) changeParticipants(action provider.ParticipantAction) handlerFunc {
	return func(c *fasthttp.RequestCtx, r *request) error {
		id, err := groupPathID(c)
		if err != nil {
			return err
		}
		var b participantsBody
		if err := decodeJSON(c, &b); err != nil {
			return err
		}
		ids, err := parseParticipants(b.Participants, true)
		if err != nil {
			return err
		}
		results, err := callGroups(s, c, r, func(ctx context.Context, p provider.Groups) ([]provider.ParticipantResult, error) {
			return p.UpdateParticipants(ctx, id, ids, action)
		})
		if err != nil {
			return err
		}
		return writeJSON(c, http.StatusOK, participantsAnswer{Success: true, Results: results})
	}
}

// groupPictureAnswer is GET .../groups/{id}/picture (WAHA's ProfilePictureResponse).
type groupPictureAnswer struct {
	// URL is where the picture can be downloaded; null when the group has none.
	URL *string `json:"url"`
}

func (s *Server) groupPicture(c *fasthttp.RequestCtx, r *request) error {
	id, err := groupPathID(c)
	if err != nil {
		return err
	}
	refresh, err := refreshQuery(c)
	if err != nil {
		return err
	}
	answer, err := callGroups(s, c, r, func(ctx context.Context, p provider.Groups) (groupPictureAnswer, error) {
		url, err := p.GroupPictureURL(ctx, id, refresh)
		if url == "" {
			return groupPictureAnswer{}, err
		}
		return groupPictureAnswer{URL: &url}, err
	})
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, answer)
}

// setGroupPicture takes WAHA's ProfilePictureRequest {file}; a picture the transport
// refuses is 422 invalid_picture, as for the profile picture.
func (s *Server) setGroupPicture(c *fasthttp.RequestCtx, r *request) error {
	id, err := groupPathID(c)
	if err != nil {
		return err
	}
	var b profilePictureBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	media, err := checkMedia(b.File, "image/")
	if err != nil {
		return err
	}
	media.Filename = ""
	return s.changeGroupPicture(c, r, func(ctx context.Context, p provider.Groups) error { return p.SetGroupPicture(ctx, id, *media) })
}

func (s *Server) deleteGroupPicture(c *fasthttp.RequestCtx, r *request) error {
	id, err := groupPathID(c)
	if err != nil {
		return err
	}
	return s.changeGroupPicture(c, r, func(ctx context.Context, p provider.Groups) error { return p.DeleteGroupPicture(ctx, id) })
}

func (s *Server) changeGroupPicture(c *fasthttp.RequestCtx, r *request, fn func(context.Context, provider.Groups) error) error {
	err := session.Do(r.ctx, s.d.Sessions, r.tenant(), sessionName(c), provider.CapGroups, fn)
	if err := pictureError(err); err != nil {
		return err
	}
	if err != nil {
		return s.providerFailure(notFoundAs(err, "group_not_found"))
	}
	return writeJSON(c, http.StatusOK, contactsResult{Success: true})
}
