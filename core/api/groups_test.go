package api

import (
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// FuzzGroupsRequests feeds arbitrary group ids, invite codes and bodies to the decoding
// and checks of the group routes: every answer is success or a 4xx with a code, never
// a panic, and what is accepted is within the documented bounds.
func FuzzGroupsRequests(f *testing.F) {
	f.Add("120363000000000001@g.us", "AbCdEf123", []byte(`{"name":"Team","participants":[{"id":"15550000002"}]}`))
	f.Add("15550000002@c.us", "https://chat.whatsapp.com/x", []byte(`{"participants":[{"id":"1@g.us"}]}`))
	f.Add("%00", "a b", []byte(`{"subject":"\u0000"}`))
	f.Add("", "", []byte(`{"description":"`+strings.Repeat("d", 2049)+`"}`))
	f.Add("1@g.us", "-_", []byte(`{"name":" ","participants":"x"}`))
	f.Fuzz(func(t *testing.T, id, code string, body []byte) {
		var c fasthttp.RequestCtx
		c.Request.Header.SetContentType("application/json")
		c.Request.SetBody(body)
		c.SetUserValue("id", id)

		g, err := groupPathID(&c)
		checkClientError(t, "group id", err)
		if err == nil && !g.IsGroup() {
			t.Fatalf("accepted %q as a group id: %v", id, g)
		}
		got, err := inviteCode(code, "code")
		checkClientError(t, "invite code", err)
		if err == nil && (got == "" || len(got) > maxInviteCode || strings.Contains(got, "/")) {
			t.Fatalf("accepted invite code %q from %q", got, code)
		}

		var cb createGroupBody
		if err := decodeJSON(&c, &cb); err == nil {
			checkClientError(t, "name", checkGroupText(cb.Name, maxGroupSubject, true, "invalid_name", "name"))
			ids, err := parseParticipants(cb.Participants, false)
			checkClientError(t, "participants", err)
			if err == nil && len(ids) != len(cb.Participants) {
				t.Fatalf("%d participants parsed from %d", len(ids), len(cb.Participants))
			}
		} else {
			checkClientError(t, "create body", err)
		}
		var pb participantsBody
		if err := decodeJSON(&c, &pb); err == nil {
			_, err := parseParticipants(pb.Participants, true)
			checkClientError(t, "participants", err)
		} else {
			checkClientError(t, "participants body", err)
		}
		var sb subjectBody
		if err := decodeJSON(&c, &sb); err == nil {
			checkClientError(t, "subject", checkGroupText(sb.Subject, maxGroupSubject, true, "invalid_subject", "subject"))
		} else {
			checkClientError(t, "subject body", err)
		}
		var db descriptionBody
		if err := decodeJSON(&c, &db); err == nil {
			checkClientError(t, "description", checkGroupText(db.Description, maxGroupDescription, false, "invalid_description", "description"))
		} else {
			checkClientError(t, "description body", err)
		}
	})
}
