package whatsmeow

import (
	"errors"
	"testing"

	"go.mau.fi/whatsmeow/types"

	"github.com/wagate/wagate/core/chatid"
)

func TestToJID(t *testing.T) {
	good := []struct {
		in   string
		want types.JID
	}{
		{"15551234567", types.NewJID("15551234567", types.DefaultUserServer)},
		{"+15551234567", types.NewJID("15551234567", types.DefaultUserServer)},
		{"15551234567@c.us", types.NewJID("15551234567", types.DefaultUserServer)},
		{"15551234567@s.whatsapp.net", types.NewJID("15551234567", types.DefaultUserServer)},
		{"120363012345678901@g.us", types.NewJID("120363012345678901", types.GroupServer)},
		{"15551234567-1612345678@g.us", types.NewJID("15551234567-1612345678", types.GroupServer)},
		{"123456789012345@lid", types.NewJID("123456789012345", types.HiddenUserServer)},
		{"120363123456789012345@g.us", types.NewJID("120363123456789012345", types.GroupServer)},
		{"120363000000000001@newsletter", types.NewJID("120363000000000001", types.NewsletterServer)},
		{"status@broadcast", types.StatusBroadcastJID},
		{"1612345678@broadcast", types.NewJID("1612345678", types.BroadcastServer)},
	}
	for _, c := range good {
		got, err := ParseJID(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseJID(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
		if got.String() != c.want.String() {
			t.Errorf("ParseJID(%q).String() = %q", c.in, got.String())
		}
	}
	bad := []struct {
		name string
		id   chatid.ID
	}{
		{"zero", chatid.ID{}},
		{"unknown server", chatid.ID{Local: "15551234567", Server: "bot"}},
		{"bad broadcast", chatid.ID{Local: "stories", Server: chatid.Broadcast}},
		{"bad newsletter", chatid.ID{Local: "12", Server: chatid.Newsletter}},
		{"letters in a user", chatid.ID{Local: "1555abc4567", Server: chatid.User}},
		{"short user", chatid.ID{Local: "1234", Server: chatid.User}},
		{"bad group", chatid.ID{Local: "-123456", Server: chatid.Group}},
		{"short lid", chatid.ID{Local: "12", Server: chatid.LID}},
	}
	for _, c := range bad {
		if j, err := ToJID(c.id); !errors.Is(err, chatid.ErrInvalid) {
			t.Errorf("%s: ToJID(%+v) = %v, %v; want chatid.ErrInvalid", c.name, c.id, j, err)
		}
	}
	for _, in := range []string{"", "abc", "15551234567@x.us", "stories@broadcast", "1@newsletter"} {
		if j, err := ParseJID(in); !errors.Is(err, chatid.ErrInvalid) {
			t.Errorf("ParseJID(%q) = %v, %v; want chatid.ErrInvalid", in, j, err)
		}
	}
}

func TestFromJID(t *testing.T) {
	good := []struct {
		in   types.JID
		want string
	}{
		{types.NewJID("15551234567", types.DefaultUserServer), "15551234567@c.us"},
		{types.NewJID("15551234567", types.LegacyUserServer), "15551234567@c.us"},
		{types.NewADJID("15551234567", 0, 12), "15551234567@c.us"},
		{types.NewJID("15551234567", types.HostedServer), "15551234567@c.us"},
		{types.NewJID("120363012345678901", types.GroupServer), "120363012345678901@g.us"},
		{types.NewJID("15551234567-1612345678", types.GroupServer), "15551234567-1612345678@g.us"},
		{types.NewJID("123456789012345", types.HiddenUserServer), "123456789012345@lid"},
		{types.JID{User: "123456789012345", Device: 3, Server: types.HiddenUserServer}, "123456789012345@lid"},
		{types.NewJID("123456789012345", types.HostedLIDServer), "123456789012345@lid"},
		{types.NewJID("120363000000000001", types.NewsletterServer), "120363000000000001@newsletter"},
		{types.StatusBroadcastJID, "status@broadcast"},
		{types.NewJID("1234567890", types.BroadcastServer), "1234567890@broadcast"},
	}
	for _, c := range good {
		got, err := FromJID(c.in)
		if err != nil || got.String() != c.want {
			t.Errorf("FromJID(%v) = %q, %v; want %q", c.in, got, err, c.want)
		}
		// Round trip through our form gives the non-AD JID on the canonical server.
		back, err := ToJID(got)
		if err != nil {
			t.Errorf("ToJID(FromJID(%v)): %v", c.in, err)
		} else if back.User != c.in.User || back.Device != 0 {
			t.Errorf("ToJID(FromJID(%v)) = %v", c.in, back)
		}
	}
	unsupported := []types.JID{
		types.NewMetaAIJID,
		types.NewJID("100000000000001", types.MessengerServer),
	}
	for _, j := range unsupported {
		if id, err := FromJID(j); !errors.Is(err, ErrUnsupportedJID) {
			t.Errorf("FromJID(%v) = %q, %v; want ErrUnsupportedJID", j, id, err)
		}
	}
	invalid := []types.JID{
		{},
		types.NewJID("", types.DefaultUserServer),
		types.NewJID("abc", types.DefaultUserServer),
		types.NewJID("1234", types.DefaultUserServer),
		types.NewJID("12", types.HiddenUserServer),
		types.NewJID("x-y", types.GroupServer),
	}
	for _, j := range invalid {
		if id, err := FromJID(j); !errors.Is(err, chatid.ErrInvalid) {
			t.Errorf("FromJID(%#v) = %q, %v; want chatid.ErrInvalid", j, id, err)
		}
	}
}
