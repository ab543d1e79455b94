package session

import (
	"slices"
	"strconv"

	"github.com/wagate/wagate/core/event"
	"github.com/wagate/wagate/core/provider"
)

// WAHA's WAMessageAck: the number and name message.ack carries as ack and ackName.
const (
	AckError   = -1
	AckPending = 0
	AckServer  = 1
	AckDevice  = 2
	AckRead    = 3
	AckPlayed  = 4
)

// wahaAcks maps each status of a message to WAHA's ack. queued and sending (the
// queue's own statuses, core/queue) are PENDING: not yet on WhatsApp's server; an
// unknown status is PENDING too.
var wahaAcks = map[string]struct {
	n    int
	name string
}{
	"queued":                      {AckPending, "PENDING"},
	"sending":                     {AckPending, "PENDING"},
	string(provider.AckSent):      {AckServer, "SERVER"},
	string(provider.AckDelivered): {AckDevice, "DEVICE"},
	string(provider.AckRead):      {AckRead, "READ"},
	string(provider.AckPlayed):    {AckPlayed, "PLAYED"},
	string(provider.AckFailed):    {AckError, "ERROR"},
}

// WAHAAck returns WAHA's ack number and name of a message status.
func WAHAAck(status string) (int, string) {
	if a, ok := wahaAcks[status]; ok {
		return a.n, a.name
	}
	return AckPending, "PENDING"
}

// NewAckPayload is the payload of message.ack for a message of that status: every
// publisher of message.ack builds it here, so ack and ackName always match status.
func NewAckPayload(id, providerID, chatID, status, errText string) AckPayload {
	n, name := WAHAAck(status)
	return AckPayload{ID: id, ProviderID: providerID, ChatID: chatID, Status: status, Ack: n, AckName: name, Error: errText}
}

// AppendJSON implements event.Appender: message.ack is published at every status change
// of every message, and its values (ids, chat ids, statuses) are nearly always plain.
func (p AckPayload) AppendJSON(b []byte) ([]byte, bool) {
	n := 0
	for _, s := range [...]string{p.ID, p.ProviderID, p.ChatID, p.Status, p.AckName, p.Error} {
		if !event.PlainJSON(s) {
			return b, false
		}
		n += len(s)
	}
	b = slices.Grow(b, n+96)
	b = append(b, `{"id":"`...)
	b = append(b, p.ID...)
	b = append(b, `","providerId":"`...)
	b = append(b, p.ProviderID...)
	b = append(b, `","chatId":"`...)
	b = append(b, p.ChatID...)
	b = append(b, `","status":"`...)
	b = append(b, p.Status...)
	b = append(b, `","ack":`...)
	b = strconv.AppendInt(b, int64(p.Ack), 10)
	b = append(b, `,"ackName":"`...)
	b = append(b, p.AckName...)
	b = append(b, '"')
	if p.Error != "" {
		b = append(b, `,"error":"`...)
		b = append(b, p.Error...)
		b = append(b, '"')
	}
	return append(b, '}'), true
}

var _ event.Appender = AckPayload{}
