package api

import (
	"errors"
	"slices"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/event"
	"github.com/wagate/wagate/core/provider"
)

func TestContactsPageApply(t *testing.T) {
	contact := func(phone, name, push string) provider.ContactInfo {
		return provider.ContactInfo{ID: chatid.MustParse(phone), Name: name, Pushname: push}
	}
	all := func() []provider.ContactInfo {
		return []provider.ContactInfo{
			contact("15550000003", "", "bob"),
			contact("15550000001", "Carol", "c"),
			contact("15550000002", "", "Alice"),
		}
	}
	ids := func(list []provider.ContactInfo) []string {
		var out []string
		for _, c := range list {
			out = append(out, c.ID.Local[len(c.ID.Local)-1:])
		}
		return out
	}
	for _, tc := range []struct {
		name string
		page contactsPage
		want []string
	}{
		{"id", contactsPage{sortBy: "id", limit: 10}, []string{"1", "2", "3"}},
		{"id desc", contactsPage{sortBy: "id", desc: true, limit: 10}, []string{"3", "2", "1"}},
		// name: the address-book name, else the push name, case-insensitively.
		{"name", contactsPage{sortBy: "name", limit: 10}, []string{"2", "3", "1"}},
		{"name desc", contactsPage{sortBy: "name", desc: true, limit: 10}, []string{"1", "3", "2"}},
		{"limit", contactsPage{sortBy: "id", limit: 2}, []string{"1", "2"}},
		{"offset", contactsPage{sortBy: "id", limit: 2, offset: 2}, []string{"3"}},
		{"past the end", contactsPage{sortBy: "id", limit: 2, offset: 9}, nil},
	} {
		if got := ids(tc.page.apply(all())); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// The notification's name is the event constant.
func TestContactUpdateEventName(t *testing.T) {
	if got := (provider.ContactUpdate{}).EventName(); got != event.ContactUpdate {
		t.Fatalf("ContactUpdate.EventName() = %q, want %q", got, event.ContactUpdate)
	}
}

// checkClientError fails unless err is nil or an *Error with a 4xx status.
func checkClientError(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	var e *Error
	if !errors.As(err, &e) || e.Status < 400 || e.Status > 499 || e.Code == "" {
		t.Fatalf("%s: %v is not a 4xx API error", what, err)
	}
}

// FuzzContactsRequests feeds arbitrary queries and bodies to the decoding and checks
// of the contacts, profile and LID routes: every answer is success or a 4xx with a
// code, never a panic.
func FuzzContactsRequests(f *testing.F) {
	f.Add("session=a&sortBy=name&sortOrder=desc&limit=10&offset=2", []byte(`{"session":"a","contactId":"15550000001@c.us"}`))
	f.Add("contactId=123456789012345@lid&refresh=true", []byte(`{"name":"Ana"}`))
	f.Add("limit=-1&offset=99999999999", []byte(`{"status":"x\ny"}`))
	f.Add("session=%00&phone=+15551234567", []byte(`{"file":{"mimetype":"image/jpeg","data":"/9j/4AAQ"}}`))
	f.Add("sortBy=&limit=1001", []byte(`{"file":{"url":"https://example.com/p.jpg","data":"x"}}`))
	f.Add("contactId=120363000000000001@g.us", []byte(`null`))
	f.Fuzz(func(t *testing.T, query string, body []byte) {
		var c fasthttp.RequestCtx
		c.Request.SetRequestURI("/api/contacts/all?" + query)
		c.Request.Header.SetContentType("application/json")
		c.Request.SetBody(body)

		_, err := parseContactsPage(&c)
		checkClientError(t, "page", err)
		_, _, err = contactTarget(&c)
		checkClientError(t, "contact", err)
		_, err = contactsPageParam(&c, "limit", defaultLIDsPage, 1, maxLIDsPage)
		checkClientError(t, "lids limit", err)

		var cb contactBody
		if err := decodeJSON(&c, &cb); err == nil {
			_, err = parseContactID(cb.ContactID, "contactId")
			checkClientError(t, "contactId", err)
		} else {
			checkClientError(t, "contact body", err)
		}
		var nb profileNameBody
		if err := decodeJSON(&c, &nb); err == nil {
			checkClientError(t, "name", checkProfileText(nb.Name, maxPushNameLen, "invalid_name", "name"))
		} else {
			checkClientError(t, "name body", err)
		}
		var sb profileStatusBody
		if err := decodeJSON(&c, &sb); err == nil {
			checkClientError(t, "status", checkProfileText(sb.Status, maxAboutLen, "invalid_status", "status"))
		} else {
			checkClientError(t, "status body", err)
		}
		var pb profilePictureBody
		if err := decodeJSON(&c, &pb); err == nil {
			m, err := checkMedia(pb.File, "image/")
			checkClientError(t, "picture", err)
			if err == nil && (m == nil || (m.URL == "") == (len(m.Data) == 0)) {
				t.Fatalf("picture accepted without exactly one of url and data: %+v", m)
			}
		} else {
			checkClientError(t, "picture body", err)
		}
	})
}
