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

// Time returns when an id made by New was made (millisecond precision).
func Time(id string) (time.Time, bool) {
	_, u, ok := strings.Cut(id, "_")
	if !ok {
		return time.Time{}, false
	}
	v, err := ulid.ParseStrict(u)
	if err != nil {
		return time.Time{}, false
	}
	return ulid.Time(v.Time()), true
}
