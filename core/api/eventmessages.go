package api

import (
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/valyala/fasthttp"

	"github.com/wagate/wagate/core/ids"
	"github.com/wagate/wagate/core/provider"
)

// Limits of an event message, in characters.
const (
	maxEventName        = 255
	maxEventDescription = 2048
	maxEventPlace       = 255
)

// eventMessageBody is WAHA's EventMessageRequest: POST /api/{session}/events.
type eventMessageBody struct {
	// ChatID is the chat invited: a user or a group.
	ChatID string `json:"chatId"`
	// ReplyTo is the provider id of a message to quote.
	ReplyTo string `json:"reply_to,omitempty"`
	// Event is the invite.
	Event *eventBody `json:"event"`
}

// eventBody is WAHA's EventMessage.
type eventBody struct {
	// Name is the title, 1 to 255 characters.
	Name string `json:"name"`
	// Description is optional, at most 2048 characters.
	Description string `json:"description,omitempty"`
	// StartTime is when it begins, Unix seconds, required; EndTime when it ends,
	// after StartTime.
	StartTime int64  `json:"startTime"`
	EndTime   *int64 `json:"endTime,omitempty"`
	// Location is where, by name (at most 255 characters).
	Location *provider.EventLocation `json:"location,omitempty"`
	// ExtraGuestsAllowed lets invitees bring guests.
	ExtraGuestsAllowed bool `json:"extraGuestsAllowed,omitempty"`
}

func (s *Server) eventMessageRoutes() []route {
	return []route{
		{method: "POST", path: "/api/{session}/events", auth: authTenant, handle: s.sendEventMessage,
			doc: routeDoc{summary: "Queue an event invite (name, start and end, place) that invitees answer going or not", tag: "sending",
				request: eventMessageBody{}, response: sendAnswer{}, status: http.StatusAccepted,
				description: "Queued like sendText: durable before the 202, Idempotency-Key honoured. See docs/api.md, \"Event messages\"."}},
	}
}

func (s *Server) sendEventMessage(c *fasthttp.RequestCtx, r *request) error {
	var b eventMessageBody
	if err := decodeJSON(c, &b); err != nil {
		return err
	}
	msg, err := b.outbound()
	if err != nil {
		return err
	}
	return s.submit(c, r, outbound{session: sessionName(c), msg: msg})
}

// eventTimeBounds: an event starts after 2000 and before 2100, which keeps the Unix
// seconds of every transport in range and catches milliseconds passed for seconds.
var eventTimeBounds = [2]int64{time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).Unix(), time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC).Unix()}

// outbound checks an event message and returns it to queue.
func (b eventMessageBody) outbound() (provider.Outbound, error) {
	chat, err := requiredChat(b.ChatID, "chatId")
	if err != nil {
		return provider.Outbound{}, err
	}
	bad := func(field, msg string) (provider.Outbound, error) {
		return provider.Outbound{}, badRequest("invalid_event", msg, d("field", field))
	}
	e := b.Event
	if e == nil {
		return bad("event", "event is required: {name, startTime, endTime?, description?, location?, extraGuestsAllowed?}")
	}
	text := func(v string, max int, required bool) bool {
		return (!required || strings.TrimSpace(v) != "") && utf8.ValidString(v) && utf8.RuneCountInString(v) <= max && !strings.ContainsRune(v, 0)
	}
	switch {
	case !text(e.Name, maxEventName, true):
		return bad("event.name", "event.name must be 1 to 255 characters of text")
	case !text(e.Description, maxEventDescription, false):
		return bad("event.description", "event.description must be at most 2048 characters of text")
	case e.StartTime < eventTimeBounds[0] || e.StartTime >= eventTimeBounds[1]:
		return bad("event.startTime", "event.startTime must be Unix seconds between 2000 and 2100")
	case e.EndTime != nil && (*e.EndTime <= e.StartTime || *e.EndTime >= eventTimeBounds[1]):
		return bad("event.endTime", "event.endTime must be Unix seconds after startTime")
	case e.Location != nil && !text(e.Location.Name, maxEventPlace, true):
		return bad("event.location.name", "event.location.name must be 1 to 255 characters of text")
	}
	inv := &provider.EventInvite{Name: e.Name, Description: e.Description, StartTime: e.StartTime,
		ExtraGuestsAllowed: e.ExtraGuestsAllowed}
	if e.EndTime != nil {
		inv.EndTime = *e.EndTime
	}
	if e.Location != nil {
		inv.Location = &provider.EventLocation{Name: e.Location.Name}
	}
	return provider.Outbound{ID: ids.New(ids.Message), ChatID: chat, Kind: provider.KindEvent, Text: e.Name, ReplyTo: b.ReplyTo,
		Event: inv}, nil
}
