// Package ids makes the gateway's identifiers: a type prefix and a ULID, so ids sort by
// creation time, are unique across restarts and nodes, and say what they name
// ("msg_01JD...", "evt_01JD...").
package ids

import "github.com/oklog/ulid/v2"

// Prefixes of the identifiers the gateway hands out.
const (
	Message = "msg"
	Event   = "evt"
	Key     = "key"
	Request = "req"
)

// New returns prefix + "_" + a new ULID (26 characters). Safe for concurrent use;
// ids made within one millisecond still sort in creation order.
func New(prefix string) string {
	return prefix + "_" + ulid.Make().String()
}
