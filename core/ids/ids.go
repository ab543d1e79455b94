// Package ids makes the gateway's identifiers: a type prefix and a ULID, so ids sort by
// creation time, are unique across restarts and nodes, and say what they name
// ("msg_01JD...", "evt_01JD...").
package ids

import (
	"strings"
	"time"

	"github.com/oklog/ulid/v2"
)

// Prefixes of the identifiers the gateway hands out.
const (
	Message  = "msg"
	Event    = "evt"
	Key      = "key"
	Request  = "req"
	Webhook  = "whk"
	Delivery = "dlv"
)

// New returns prefix + "_" + a new ULID (26 characters). Safe for concurrent use;
// ids made within one millisecond still sort in creation order.
func New(prefix string) string {
	return prefix + "_" + ulid.Make().String()
}

// Low is the mark of a low-priority id (NewLow): after the prefix's "_", before the
// ULID. '~' sorts after every character of a ULID, so in a key range of one prefix the
// low-priority ids all come after the others, each group in creation order.
const Low = "~"

// NewLow returns prefix + "_~" + a new ULID: an id that sorts after every id New makes
// with the same prefix, earlier or later. The queue sends a session's messages in id
// order, so a message with a NewLow id (a campaign's) waits for every message with a
// New id (an interactive send) queued for the same session.
func NewLow(prefix string) string {
	return prefix + "_" + Low + ulid.Make().String()
}

// IsLow reports whether id was made by NewLow.
func IsLow(id string) bool {
	_, u, ok := strings.Cut(id, "_")
	return ok && strings.HasPrefix(u, Low)
}

// Time returns when an id made by New or NewLow was made (millisecond precision).
func Time(id string) (time.Time, bool) {
	_, u, ok := strings.Cut(id, "_")
	if !ok {
		return time.Time{}, false
	}
	u = strings.TrimPrefix(u, Low)
	v, err := ulid.ParseStrict(u)
	if err != nil {
		return time.Time{}, false
	}
	return ulid.Time(v.Time()), true
}
