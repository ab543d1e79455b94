package api

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/provider"
	"github.com/wagate/wagate/core/session"
)

// Channel routes (docs/api.md, "Channels"), in WAHA's paths and bodies: WhatsApp
// channels (newsletters), listed, created, deleted, followed, muted and previewed.
// Each is an immediate call to the session's provider through session.Call, not
// queued. Posting is a send: POST /api/sendText (and the other sends) with the
// channel's id as chatId.

// Bounds of the channel routes.
const (
	// maxChannelName and maxChannelDescription bound a new channel's texts
	// (WhatsApp's own limits are 100 and 2048 characters).
	maxChannelName        = 100
	maxChannelDescription = 2048
	// maxChannelInvite bounds an invite code (WhatsApp's are 22 characters).
	maxChannelInvite = 64
	// defaultChannelPreview and maxChannelPreview are the preview's limit.
	defaultChannelPreview = 10
	maxChannelPreview     = 100
)

// createChannelBody is WAHA's CreateChannelRequest.
type createChannelBody struct {
	// Name is 1 to 100 characters.
	Name string `json:"name"`
	// Description is at most 2048 characters.
	Description string `json:"description,omitempty"`
	// Picture is optional: {url} or {mimetype, data}, image/* (WhatsApp takes JPEG).
	Picture *mediaFile `json:"picture,omitempty"`
}

// channelRoutes are the routes of channels.
func (s *Server) channelRoutes() []route {
	const ch = "/api/{session}/channels"
	doc := func(summary string, resp any) routeDoc {
		return routeDoc{summary: summary, tag: "channels", response: resp}
	}
	ack := func(summary string) routeDoc { return doc(summary, contactsResult{}) }
	return []route{
		{method: "GET", path: ch, auth: authTenant, handle: s.listChannels,
			doc: routeDoc{summary: "List the channels the session owns, admins or follows", tag: "channels", response: []provider.Channel{},
				query: []string{"role: OWNER, ADMIN or SUBSCRIBER (default: all)"}}},
		{method: "POST", path: ch, auth: authTenant, handle: s.createChannel,
			doc: routeDoc{summary: "Create a channel owned by the session", tag: "channels", request: createChannelBody{}, response: provider.Channel{}, status: http.StatusCreated}},
		{method: "GET", path: ch + "/{id}", auth: authTenant, handle: s.getChannel,
			doc: doc("One channel, by id (…@newsletter), invite code or invite link", provider.Channel{})},
		{method: "DELETE", path: ch + "/{id}", auth: authTenant, handle: s.channelAction(deleteChannel),
			doc: ack("Delete a channel the session owns")},
		{method: "POST", path: ch + "/{id}/follow", auth: authTenant, handle: s.channelAction(followChannel),
			doc: ack("Follow a channel")},
		{method: "POST", path: ch + "/{id}/unfollow", auth: authTenant, handle: s.channelAction(unfollowChannel),
			doc: ack("Unfollow a channel")},
		{method: "POST", path: ch + "/{id}/mute", auth: authTenant, handle: s.channelAction(muteChannel(true)),
			doc: ack("Mute a followed channel")},
		{method: "POST", path: ch + "/{id}/unmute", auth: authTenant, handle: s.channelAction(muteChannel(false)),
			doc: ack("Unmute a followed channel")},
		{method: "GET", path: ch + "/{id}/messages/preview", auth: authTenant, handle: s.previewChannel,
			doc: routeDoc{summary: "A channel's latest posts, newest first, with view counts", tag: "channels", response: []provider.ChannelMessage{},
				query: []string{"limit: 1 to 100, default 10", "downloadMedia: true or false, accepted and ignored (media is never downloaded)"}}},
	}
}

// callChannels runs fn on the session's Channels; an unknown channel is 404
// channel_not_found.
func callChannels[T any](s *Server, c *fasthttp.RequestCtx, r *request, fn func(context.Context, provider.Channels) (T, error)) (T, error) {
	v, err := session.Call(r.ctx, s.d.Sessions, r.tenant(), sessionName(c), provider.CapChannels, fn)
	if errors.Is(err, provider.ErrInvalidPicture) {
		return v, unprocessable("invalid_picture", err.Error(), d("field", "picture"))
	}
	if err != nil {
		return v, s.providerFailure(notFoundAs(err, "channel_not_found"))
	}
	return v, nil
}

// parseChannelID reads a channel id: a chat id on the newsletter server.
func parseChannelID(v, field string) (chatid.ID, error) {
	id, err := chatid.Parse(v)
	if err != nil || !id.IsNewsletter() {
		return chatid.ID{}, badRequest("invalid_channel_id", field+" must be a channel id such as 120363123456789012@newsletter", d("field", field))
	}
	return id, nil
}

// channelRef is the {id} of GET channels/{id}: a channel id, or an invite code
// (bare, or as its link https://www.whatsapp.com/channel/CODE).
type channelRef struct {
	id   chatid.ID
	code string
}

// parseChannelRef reads a channelRef.
func parseChannelRef(v, field string) (channelRef, error) {
	if strings.Contains(v, "@") {
		id, err := parseChannelID(v, field)
		return channelRef{id: id}, err
	}
	code := v
	for _, prefix := range []string{"https://www.whatsapp.com/channel/", "https://whatsapp.com/channel/", "whatsapp.com/channel/"} {
		if rest, ok := strings.CutPrefix(v, prefix); ok {
			code = strings.TrimSuffix(rest, "/")
			break
		}
	}
	if code == "" || len(code) > maxChannelInvite || strings.ContainsFunc(code, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
	}) {
		return channelRef{}, badRequest("invalid_channel_id", field+" must be a channel id (…@newsletter), an invite code or an invite link https://www.whatsapp.com/channel/CODE", d("field", field))
	}
	return channelRef{code: code}, nil
}

// channelPathID reads the {id} of a channel route that takes a channel id.
func channelPathID(c *fasthttp.RequestCtx) (chatid.ID, error) {
	return parseChannelID(pathParam(c, "id"), "id")
}

// parseChannelRole reads the role query of the list: "" (all), OWNER, ADMIN or
// SUBSCRIBER.
func parseChannelRole(v string) (provider.ChannelRole, error) {
	switch r := provider.ChannelRole(v); r {
	case "", provider.ChannelOwner, provider.ChannelAdmin, provider.ChannelSubscriber:
		return r, nil
	}
	return "", badRequest("invalid_role", "role must be OWNER, ADMIN or SUBSCRIBER", d("param", "role"))
}

// parse checks a create body and returns the picture, nil when none.
func (b createChannelBody) parse() (*provider.Media, error) {
	if err := checkGroupText(b.Name, maxChannelName, true, "invalid_name", "name"); err != nil {
		return nil, err
	}
	if err := checkGroupText(b.Description, maxChannelDescription, false, "invalid_description", "description"); err != nil {
		return nil, err
	}
	if b.Picture == nil {
		return nil, nil
	}
	media, err := checkMedia(b.Picture, "image/")
	if err != nil {
		e := err.(*Error)
		field, _ := e.Details["field"].(string)
		return nil, badRequest("invalid_picture", e.Message, d("field", "picture"+strings.TrimPrefix(field, "file")))
	}
	media.Filename = ""
	return media, nil
}

// parseChannelPreview reads the preview's query: limit (default 10, 1 to 100) and
// downloadMedia (true or false, ignored).
func parseChannelPreview(args *fasthttp.Args) (int, error) {
	limit := defaultChannelPreview
	if v := args.Peek("limit"); len(v) > 0 {
		n, err := strconv.Atoi(string(v))
		if err != nil || n < 1 || n > maxChannelPreview {
			return 0, badRequest("invalid_limit", "limit must be 1 to "+strconv.Itoa(maxChannelPreview), d("param", "limit", "limit", maxChannelPreview))
		}
		limit = n
	}
	switch string(args.Peek("downloadMedia")) {
	case "", "true", "false":
	default:
		return 0, badRequest("invalid_download_media", "downloadMedia must be true or false", d("param", "downloadMedia"))
	}
	return limit, nil
}

// sortChannels orders channels by id.
func sortChannels(list []provider.Channel) []provider.Channel {
	slices.SortFunc(list, func(a, b provider.Channel) int { return strings.Compare(a.ID.String(), b.ID.String()) })
	if list == nil {
		list = []provider.Channel{}
	}
	return list
}

func (s *Server) listChannels(c *fasthttp.RequestCtx, r *request) error {
	role, err := parseChannelRole(string(c.QueryArgs().Peek("role")))
	if err != nil {
		return err
	}
	list, err := callChannels(s, c, r, func(ctx context.Context, p provider.Channels) ([]provider.Channel, error) {
		return p.ListChannels(ctx)
	})
	if err != nil {
		return err
	}
	if role != "" {
		list = slices.DeleteFunc(list, func(ch provider.Channel) bool { return ch.Role != role })
	}
	return writeJSON(c, http.StatusOK, sortChannels(list))
}

func (s *Server) createChannel(c *fasthttp.RequestCtx, r *request) error {
	var b createChannelBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	picture, err := b.parse()
	if err != nil {
		return err
	}
	ch, err := callChannels(s, c, r, func(ctx context.Context, p provider.Channels) (provider.Channel, error) {
		return p.CreateChannel(ctx, b.Name, b.Description, picture)
	})
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusCreated, ch)
}

func (s *Server) getChannel(c *fasthttp.RequestCtx, r *request) error {
	ref, err := parseChannelRef(pathParam(c, "id"), "id")
	if err != nil {
		return err
	}
	ch, err := callChannels(s, c, r, func(ctx context.Context, p provider.Channels) (provider.Channel, error) {
		if ref.code != "" {
			return p.ChannelByInvite(ctx, ref.code)
		}
		return p.Channel(ctx, ref.id)
	})
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, ch)
}

// The operations of the channelAction routes.
func followChannel(ctx context.Context, p provider.Channels, id chatid.ID) error {
	return p.FollowChannel(ctx, id)
}

func unfollowChannel(ctx context.Context, p provider.Channels, id chatid.ID) error {
	return p.UnfollowChannel(ctx, id)
}

func deleteChannel(ctx context.Context, p provider.Channels, id chatid.ID) error {
	return p.DeleteChannel(ctx, id)
}

func muteChannel(on bool) func(context.Context, provider.Channels, chatid.ID) error {
	return func(ctx context.Context, p provider.Channels, id chatid.ID) error { return p.MuteChannel(ctx, id, on) }
}

// channelAction is a route that runs fn on the path's channel and answers WAHA's
// {"success": true}.
func (s *Server) channelAction(fn func(context.Context, provider.Channels, chatid.ID) error) handlerFunc {
	return func(c *fasthttp.RequestCtx, r *request) error {
		id, err := channelPathID(c)
		if err != nil {
			return err
		}
		if _, err := callChannels(s, c, r, func(ctx context.Context, p provider.Channels) (struct{}, error) {
			return struct{}{}, fn(ctx, p, id)
		}); err != nil {
			return err
		}
		return writeJSON(c, http.StatusOK, contactsResult{Success: true})
	}
}

func (s *Server) previewChannel(c *fasthttp.RequestCtx, r *request) error {
	id, err := channelPathID(c)
	if err != nil {
		return err
	}
	limit, err := parseChannelPreview(c.QueryArgs())
	if err != nil {
		return err
	}
	posts, err := callChannels(s, c, r, func(ctx context.Context, p provider.Channels) ([]provider.ChannelMessage, error) {
		return p.ChannelMessages(ctx, id, limit)
	})
	if err != nil {
		return err
	}
	if len(posts) > limit {
		posts = posts[:limit]
	}
	if posts == nil {
		posts = []provider.ChannelMessage{}
	}
	for i := range posts {
		if posts[i].Reactions == nil {
			posts[i].Reactions = map[string]int{}
		}
	}
	return writeJSON(c, http.StatusOK, posts)
}
