package session

import "github.com/wagate/wagate/core/provider"

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
