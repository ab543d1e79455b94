package audience

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/store"
)

// newTestService opens an in-memory store and a service on it.
func newTestService(t testing.TB, o Options) (*Service, *store.DB) {
	t.Helper()
	db, err := store.Open(store.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if o.Now == nil {
		o.Now = func() time.Time { return time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC) }
	}
	return New(db, o), db
}

func TestAudienceParseChat(t *testing.T) {
	good := []struct{ in, want string }{
		{"15557654321", "15557654321@c.us"},
		{"+1 (555) 765-4321", "15557654321@c.us"},
		{" +44 20 7946.0958 ", "442079460958@c.us"},
		{"15557654321@c.us", "15557654321@c.us"},
		{"15557654321@s.whatsapp.net", "15557654321@c.us"},
		{"123456789012345@lid", "123456789012345@lid"},
	}
	for _, c := range good {
		id, err := ParseChat(c.in)
		if err != nil || id.String() != c.want {
			t.Errorf("ParseChat(%q) = %q, %v; want %q", c.in, id, err, c.want)
		}
	}
	bad := []string{"", "1234", "1234567890123456", "abc", "120363012345678901@g.us", "status@broadcast",
		"120363012345678901@newsletter", "++15557654321", "1555 765@c.us", "+1 555 abc 4321"}
	for _, in := range bad {
		if id, err := ParseChat(in); !errors.Is(err, ErrInvalidChat) {
			t.Errorf("ParseChat(%q) = %q, %v; want ErrInvalidChat", in, id, err)
		}
	}
}

func TestAudienceCheckName(t *testing.T) {
	for _, c := range []struct {
		name string
		ok   bool
	}{
		{"customers", true}, {"é", true}, {string(make([]rune, 0)), false}, {"   ", false},
		{"a\nb", false}, {"\xff", false}, {string([]rune("ççççççççççççççççççççççççççççççççççççççççççççççççççççççççççççççççççççççççççççççççççççççççççççççççççç")), true},
		{string([]rune("çççççççççççççççççççççççççççççççççççççççççççççççççççççççççççççççççççççççççççççççççççççççççççççççççççç+")), false},
	} {
		if err := CheckName(c.name); (err == nil) != c.ok {
			t.Errorf("CheckName(%q) = %v, want ok %v", c.name, err, c.ok)
		}
	}
}

func TestAudienceListsLifecycle(t *testing.T) {
	ctx := context.Background()
	inUse := map[string]bool{}
	s, _ := newTestService(t, Options{MaxLists: 2, InUse: func(tenant, id string) bool { return inUse[tenant+"/"+id] }})
	a, err := s.CreateList(ctx, "acme", "first")
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.CreateList(ctx, "acme", "second")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateList(ctx, "acme", "third"); !errors.Is(err, ErrTooManyLists) {
		t.Errorf("third list: %v, want ErrTooManyLists", err)
	}
	if _, err := s.CreateList(ctx, "acme", ""); !errors.Is(err, ErrInvalidName) {
		t.Errorf("empty name: %v, want ErrInvalidName", err)
	}
	// Another tenant has its own limit and cannot see acme's lists.
	if _, err := s.CreateList(ctx, "acme2", "x"); err != nil {
		t.Errorf("other tenant: %v", err)
	}
	if _, err := s.GetList(ctx, "acme2", a.ID); !errors.Is(err, ErrListNotFound) {
		t.Errorf("other tenant's list: %v, want ErrListNotFound", err)
	}
	for _, id := range []string{"", "nope", "lst_x/y", "lst_" + string(make([]byte, 80))} {
		if _, err := s.GetList(ctx, "acme", id); !errors.Is(err, ErrListNotFound) {
			t.Errorf("GetList(%q): %v, want ErrListNotFound", id, err)
		}
	}
	ls, err := s.Lists(ctx, "acme")
	if err != nil || len(ls) != 2 || ls[0].ID != b.ID || ls[1].ID != a.ID {
		t.Fatalf("Lists = %+v, %v; want newest first", ls, err)
	}
	if ls[0].Columns == nil {
		t.Error("Columns is nil, want [] (JSON [])")
	}
	inUse["acme/"+a.ID] = true
	if err := s.DeleteList(ctx, "acme", a.ID); !errors.Is(err, ErrListInUse) {
		t.Errorf("delete in use: %v, want ErrListInUse", err)
	}
	inUse["acme/"+a.ID] = false
	if _, err := s.Import(ctx, "acme", a.ID, CSV, stringsReader("phone\n15550000001\n15550000002\n")); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteList(ctx, "acme", a.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteList(ctx, "acme", a.ID); !errors.Is(err, ErrListNotFound) {
		t.Errorf("second delete: %v, want ErrListNotFound", err)
	}
	if _, _, err := s.Contacts(ctx, "acme", a.ID, "", 10); !errors.Is(err, ErrListNotFound) {
		t.Errorf("contacts of a deleted list: %v", err)
	}
	// Its contacts are gone: a new list sees none and the limit has room again.
	c, err := s.CreateList(ctx, "acme", "again")
	if err != nil {
		t.Fatal(err)
	}
	if cs, _, err := s.Contacts(ctx, "acme", c.ID, "", 10); err != nil || len(cs) != 0 {
		t.Errorf("new list contacts = %v, %v", cs, err)
	}
}

func TestAudienceRemoveContact(t *testing.T) {
	ctx := context.Background()
	s, _ := newTestService(t, Options{})
	l, _ := s.CreateList(ctx, "acme", "l")
	if _, err := s.Import(ctx, "acme", l.ID, CSV, stringsReader("phone,name\n15550000001,A\n15550000002,B\n")); err != nil {
		t.Fatal(err)
	}
	chat := chatid.MustParse("15550000001")
	for i := 0; i < 2; i++ { // the second is a no-op
		if err := s.RemoveContact(ctx, "acme", l.ID, chat); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := s.GetList(ctx, "acme", l.ID)
	if got.Count != 1 {
		t.Errorf("count = %d, want 1", got.Count)
	}
	if err := s.RemoveContact(ctx, "acme2", l.ID, chat); !errors.Is(err, ErrListNotFound) {
		t.Errorf("other tenant: %v", err)
	}
}
