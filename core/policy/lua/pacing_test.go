package lua

import (
	"testing"
	"time"

	"github.com/wagate/wagate/core/policy"
)

// The pacing fields of a candidate reach Lua (last_inbound_ms, chat_sent_hour,
// first_contact, first_contacts_day, paused_until_ms, pause_reason), zero values too.
func TestPacingInputs(t *testing.T) {
	p := open(t, `
function rate(msg, s)
  return {action = "reject", reason = s.last_inbound_ms .. "|" .. s.chat_sent_hour .. "|" .. tostring(s.first_contact) ..
    "|" .. s.first_contacts_day .. "|" .. s.paused_until_ms .. "|" .. s.pause_reason}
end`, "")
	for _, c := range []struct {
		cand policy.Candidate
		want string
	}{
		{policy.Candidate{Session: "s1", LastInbound: time.UnixMilli(4000), ChatSentHour: 2, FirstContact: true,
			FirstContactsDay: 7, PausedUntil: time.UnixMilli(5000), PauseReason: "temporary_ban"}, "4000|2|true|7|5000|temporary_ban"},
		{policy.Candidate{Session: "s1"}, "0|0|false|0|0|"},
	} {
		r, err := p.Rate(ctx, policy.RateInput{Now: time.UnixMilli(9000), Session: c.cand})
		if err != nil || r.Reason != c.want {
			t.Errorf("got %q, %v; want %q", r.Reason, err, c.want)
		}
	}
}
