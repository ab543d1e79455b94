package chatid

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	good := []struct{ in, want string }{
		{"15551234567", "15551234567@c.us"},
		{"+15551234567", "15551234567@c.us"},
		{"15551234567@c.us", "15551234567@c.us"},
		{"15551234567@s.whatsapp.net", "15551234567@c.us"},
		{"120363012345678901@g.us", "120363012345678901@g.us"},
		{"15551234567-1612345678@g.us", "15551234567-1612345678@g.us"},
		{"123456789012345@lid", "123456789012345@lid"},
		{"12345", "12345@c.us"},
		{"120363123456789012345@g.us", "120363123456789012345@g.us"},
		{"123456789012345678901234567890@g.us", "123456789012345678901234567890@g.us"},
		{"12345@g.us", "12345@g.us"},
		{"12345678901234567890-12345678901234567890@g.us", "12345678901234567890-12345678901234567890@g.us"},
		{"120363012345678901@newsletter", "120363012345678901@newsletter"},
		{"123456789012345678901234567890@newsletter", "123456789012345678901234567890@newsletter"},
		{"status@broadcast", "status@broadcast"},
		{"1612345678@broadcast", "1612345678@broadcast"},
		{"123456789012345", "123456789012345@c.us"},
	}
	for _, c := range good {
		id, err := Parse(c.in)
		if err != nil || id.String() != c.want {
			t.Errorf("Parse(%q) = %q, %v; want %q", c.in, id, err, c.want)
		}
	}
	bad := []string{
		"", "abc", "1234", "1234567890123456", "++15551234567", "1555 1234567", " 15551234567",
		"15551234567@", "@c.us", "15551234567@x.us", "15551234567@c.us@c.us", "abc@c.us",
		"1555-123@c.us", "-123456@g.us", "123456-@g.us", "abc@g.us", "12@lid", "abc@lid",
		"٣٣٣٣٣٣٣", strings.Repeat("1", 65), "15551234567\x00",
		// groups: too short, too long, legacy halves too long, three parts
		"1234@g.us", strings.Repeat("1", 31) + "@g.us", strings.Repeat("1", 21) + "-12345@g.us",
		"12345-" + strings.Repeat("1", 21) + "@g.us", "12345-12345-12345@g.us", "12345-1234@g.us",
		// newsletters
		"@newsletter", "1234@newsletter", strings.Repeat("1", 31) + "@newsletter", "abc@newsletter",
		"12345-12345@newsletter", "status@newsletter",
		// broadcast
		"@broadcast", "Status@broadcast", "stories@broadcast", "1234@broadcast",
		strings.Repeat("1", 31) + "@broadcast", "12345-12345@broadcast", "status@g.us", "status",
		"120363012345678901@NEWSLETTER",
	}
	for _, in := range bad {
		if id, err := Parse(in); !errors.Is(err, ErrInvalid) {
			t.Errorf("Parse(%q) = %q, %v; want ErrInvalid", in, id, err)
		}
	}
}

func TestKinds(t *testing.T) {
	cases := []struct {
		in                           string
		group, newsletter, broadcast bool
	}{
		{"15551234567", false, false, false},
		{"120363012345678901@g.us", true, false, false},
		{"120363012345678901@newsletter", false, true, false},
		{"status@broadcast", false, false, true},
		{"1612345678@broadcast", false, false, true},
	}
	for _, c := range cases {
		id := MustParse(c.in)
		if id.IsGroup() != c.group || id.IsNewsletter() != c.newsletter || id.IsBroadcast() != c.broadcast {
			t.Errorf("%s: group %v newsletter %v broadcast %v", c.in, id.IsGroup(), id.IsNewsletter(), id.IsBroadcast())
		}
	}
	if MustParse("status@broadcast") != StatusBroadcast {
		t.Errorf("status@broadcast is not StatusBroadcast")
	}
}

func TestJSONRoundTrip(t *testing.T) {
	var v struct {
		ID ID `json:"id"`
	}
	if err := json.Unmarshal([]byte(`{"id":"+15551234567"}`), &v); err != nil || v.ID.String() != "15551234567@c.us" {
		t.Fatalf("unmarshal: %v %v", v.ID, err)
	}
	b, _ := json.Marshal(v)
	if string(b) != `{"id":"15551234567@c.us"}` {
		t.Errorf("marshal: %s", b)
	}
	if err := json.Unmarshal([]byte(`{"id":"nope"}`), &v); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad id: %v", err)
	}
	if err := json.Unmarshal([]byte(`{"id":5}`), &v); !errors.Is(err, ErrInvalid) {
		t.Errorf("number id: %v", err)
	}
}

// FuzzParse: Parse never panics, and whatever it accepts is canonical: it parses again
// to itself.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"15551234567", "+1555", "1@g.us", "1-2@g.us", "x@lid", "@", "1555@s.whatsapp.net", "status@broadcast", "12345@newsletter"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := Parse(s)
		if err != nil {
			return
		}
		again, err := Parse(id.String())
		if err != nil || again != id {
			t.Fatalf("Parse(%q) = %q, which re-parses to %q, %v", s, id, again, err)
		}
	})
}
