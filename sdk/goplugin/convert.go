package goplugin

import (
	"time"

	"github.com/wagate/wagate/sdk/goplugin/policypb"
)

// fromMillis is a wire time: Unix milliseconds, 0 for the zero time.
func fromMillis(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

func message(m *policypb.Message) Message {
	if m == nil {
		return Message{}
	}
	return Message{ID: m.Id, Tenant: m.Tenant, Session: m.Session, ChatID: m.ChatId, Kind: m.Kind,
		Text: m.Text, Attempts: int(m.Attempts), CreatedAt: fromMillis(m.CreatedMs)}
}

func candidate(c *policypb.Candidate) Candidate {
	if c == nil {
		return Candidate{}
	}
	return Candidate{Session: c.Session, Provider: c.Provider, State: c.State,
		QueueDepth: int(c.QueueDepth), SentMinute: int(c.SentMinute), SentHour: int(c.SentHour),
		SentDay: int(c.SentDay), LinkedAt: fromMillis(c.LinkedMs),
		LastContact: fromMillis(c.LastContactMs), LastSentAt: fromMillis(c.LastSentMs)}
}

func candidates(cs []*policypb.Candidate) []Candidate {
	if len(cs) == 0 {
		return nil
	}
	out := make([]Candidate, len(cs))
	for i, c := range cs {
		out[i] = candidate(c)
	}
	return out
}

func sendError(e *policypb.Error) Error {
	if e == nil {
		return Error{}
	}
	return Error{Code: e.Code, Message: e.Message, Retryable: e.Retryable}
}

func event(e *policypb.Event) Event {
	if e == nil {
		return Event{}
	}
	ev := Event{ID: e.Id, Timestamp: e.Timestamp, Event: e.Event, Session: e.Session, Tenant: e.Tenant, Payload: e.Payload,
		Engine: e.Engine, Metadata: e.Metadata}
	if me := e.Me; me != nil {
		ev.Me = &Me{ID: me.Id, PushName: me.PushName}
	}
	if env := e.Environment; env != nil {
		ev.Environment = &Environment{Version: env.Version, Engine: env.Engine, Tier: env.Tier}
	}
	return ev
}

// eventPB is the event a transform returns; its session context is not sent back (the
// host keeps its own).
func eventPB(e *Event) *policypb.Event {
	return &policypb.Event{Id: e.ID, Timestamp: e.Timestamp, Event: e.Event, Session: e.Session, Tenant: e.Tenant, Payload: e.Payload}
}
