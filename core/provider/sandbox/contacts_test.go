package sandbox

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/wagate/wagate/config"
	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/provider"
)

// contactFixture is two linked numbers, alice and bob, on a network whose delivered
// ack comes 200ms after a send.
func contactFixture(t *testing.T) (f *fixture, alice, bob *session, aliceRec, bobRec *recorder) {
	t.Helper()
	cfg := testConfig()
	cfg.DeliveryDelay = config.Duration(200 * time.Millisecond)
	cfg.ReadDelay = 0
	f = newFixture(t, cfg)
	a, aRec := f.linked("tenant-a", "alice", "15550000001")
	b, bRec := f.linked("tenant-b", "bob", "15550000002")
	return f, a.(*session), b.(*session), aRec, bRec
}

var (
	aliceID = chatid.MustParse("15550000001@c.us")
	bobID   = chatid.MustParse("15550000002@c.us")
)

// A send between two sandbox numbers makes each a contact of the other, with the
// other's profile name as pushname; a rename shows in the other's contact and is
// reported to it.
func TestSandboxContactsFollowTraffic(t *testing.T) {
	ctx := context.Background()
	f, alice, bob, aliceRec, bobRec := contactFixture(t)
	if list, err := bob.ListContacts(ctx); err != nil || len(list) != 0 {
		t.Fatalf("contacts before any message: %v %v", list, err)
	}
	res, err := alice.Send(ctx, text("15550000002", "hi"))
	if err != nil {
		t.Fatal(err)
	}
	bobRec.message()
	f.advance(200 * time.Millisecond)
	aliceRec.ack(res.ProviderID, provider.AckDelivered)

	list, err := bob.ListContacts(ctx)
	want := provider.ContactInfo{ID: aliceID, Number: "15550000001", Pushname: "Sandbox 15550000001", IsUser: true, IsWAContact: true}
	if err != nil || len(list) != 1 || list[0] != want {
		t.Fatalf("bob's contacts: %+v %v, want [%+v]", list, err, want)
	}
	if list, _ := alice.ListContacts(ctx); len(list) != 1 || list[0].ID != bobID {
		t.Fatalf("alice's contacts: %+v", list)
	}

	if err := alice.SetName(ctx, "Alice"); err != nil {
		t.Fatal(err)
	}
	if st := aliceRec.status(provider.StatusWorking, ""); st.Me == nil || st.Me.PushName != "Alice" {
		t.Fatalf("alice reports %+v, want WORKING with push name Alice", st)
	}
	ev, ok := bobRec.take().(provider.ContactUpdate)
	if !ok || ev.ID != aliceID || ev.Change != provider.ChangePushname || ev.Pushname != "Alice" || ev.Timestamp == 0 {
		t.Fatalf("bob got %+v, want a pushname contact.update", ev)
	}
	if c, err := bob.GetContact(ctx, aliceID); err != nil || c.Pushname != "Alice" {
		t.Fatalf("bob's contact of alice: %+v %v", c, err)
	}
	// The same name again changes nothing and reports nothing.
	if err := alice.SetName(ctx, "Alice"); err != nil {
		t.Fatal(err)
	}
	aliceRec.none()
	bobRec.none()
}

// A blocked sender's message is accepted (the "sent" ack) but never delivered, with no
// delivered ack; unblocking restores delivery. Simulated inbound messages from a
// blocked number are dropped too.
func TestSandboxBlock(t *testing.T) {
	ctx := context.Background()
	f, alice, bob, aliceRec, bobRec := contactFixture(t)
	if err := bob.Block(ctx, aliceID); err != nil {
		t.Fatal(err)
	}
	if err := bob.Block(ctx, aliceID); err != nil {
		t.Fatalf("blocking twice: %v", err)
	}
	if c, _ := bob.GetContact(ctx, aliceID); !c.IsBlocked {
		t.Errorf("bob's contact of alice is not blocked: %+v", c)
	}
	if _, err := alice.Send(ctx, text("15550000002", "let me in")); err != nil {
		t.Fatalf("a blocked sender's send fails: %v", err)
	}
	f.advance(time.Second)
	aliceRec.none()
	bobRec.none()
	if err := f.net.Inbound("tenant-b", "bob", aliceID, "knock"); err != nil {
		t.Fatal(err)
	}
	bobRec.none()
	// Alice no longer sees bob's about and picture.
	if _, ok, err := alice.About(ctx, bobID); ok || err != nil {
		t.Errorf("alice sees bob's about while blocked: %v %v", ok, err)
	}
	if err := bob.SetPicture(ctx, provider.Media{URL: "https://example.invalid/bob.jpg"}); err != nil {
		t.Fatal(err)
	}
	if u, _ := alice.ProfilePictureURL(ctx, bobID, false); u != "" {
		t.Errorf("alice sees bob's picture while blocked: %q", u)
	}
	aliceRec.none() // nor hears of its change

	if err := bob.Unblock(ctx, aliceID); err != nil {
		t.Fatal(err)
	}
	res, err := alice.Send(ctx, text("15550000002", "again"))
	if err != nil {
		t.Fatal(err)
	}
	if m := bobRec.message(); m.Text != "again" {
		t.Fatalf("bob got %+v", m)
	}
	f.advance(200 * time.Millisecond)
	aliceRec.ack(res.ProviderID, provider.AckDelivered)
	if u, _ := alice.ProfilePictureURL(ctx, bobID, true); u != "https://example.invalid/bob.jpg" {
		t.Errorf("alice's view of bob's picture after unblock: %q", u)
	}

	if err := bob.Block(ctx, bobID); !errors.Is(err, provider.ErrNotAllowed) {
		t.Errorf("blocking oneself: %v, want ErrNotAllowed", err)
	}
	if err := bob.Block(ctx, chatid.MustParse("120363000000000001@g.us")); !errors.Is(err, provider.ErrInvalidRecipient) {
		t.Errorf("blocking a group: %v, want ErrInvalidRecipient", err)
	}
}

func TestSandboxCheckNumberAndAbout(t *testing.T) {
	ctx := context.Background()
	_, alice, bob, _, _ := contactFixture(t)
	st, err := alice.CheckNumber(ctx, "15550000002")
	if err != nil || !st.NumberExists || st.ChatID != bobID {
		t.Fatalf("check linked number: %+v %v", st, err)
	}
	if st, err := alice.CheckNumber(ctx, "15559999999"); err != nil || st.NumberExists || !st.ChatID.IsZero() {
		t.Fatalf("check unknown number: %+v %v", st, err)
	}
	if c, _ := alice.GetContact(ctx, chatid.MustParse("15559999999")); c.IsWAContact || c.Pushname != "" || !c.IsUser {
		t.Errorf("contact of an unknown number: %+v", c)
	}
	if about, ok, err := alice.About(ctx, bobID); err != nil || !ok || about != defaultAbout {
		t.Errorf("default about: %q %v %v", about, ok, err)
	}
	if err := bob.SetAbout(ctx, "busy"); err != nil {
		t.Fatal(err)
	}
	if about, _, _ := alice.About(ctx, bobID); about != "busy" {
		t.Errorf("about after SetAbout: %q", about)
	}
	if c, _ := alice.GetContact(ctx, aliceID); !c.IsMe {
		t.Errorf("own contact: %+v", c)
	}
}

func TestSandboxProfile(t *testing.T) {
	ctx := context.Background()
	_, alice, _, _, _ := contactFixture(t)
	p, err := alice.Profile(ctx)
	want := provider.Profile{ID: aliceID, Name: "Sandbox 15550000001", About: defaultAbout}
	if err != nil || p != want {
		t.Fatalf("default profile %+v %v, want %+v", p, err, want)
	}
	jpeg := []byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00")
	if err := alice.SetPicture(ctx, provider.Media{Data: jpeg, Mimetype: "image/jpeg"}); err != nil {
		t.Fatal(err)
	}
	p, _ = alice.Profile(ctx)
	if p.PictureURL != pictureBase+"15550000001/1.jpg" {
		t.Errorf("picture by data: %q", p.PictureURL)
	}
	if err := alice.SetPicture(ctx, provider.Media{Data: []byte("not an image"), Mimetype: "image/jpeg"}); !errors.Is(err, provider.ErrInvalidPicture) {
		t.Errorf("picture of text: %v, want ErrInvalidPicture", err)
	}
	if err := alice.DeletePicture(ctx); err != nil {
		t.Fatal(err)
	}
	if p, _ := alice.Profile(ctx); p.PictureURL != "" {
		t.Errorf("picture after delete: %q", p.PictureURL)
	}
}

// Every number has a stable 15-digit LID; a session knows its own and its contacts'.
func TestSandboxLIDs(t *testing.T) {
	ctx := context.Background()
	_, alice, bob, _, bobRec := contactFixture(t)
	if a, b := lidOf("15550000001"), lidOf("15550000001"); a != b || len(a) != 15 || a == lidOf("15550000002") {
		t.Fatalf("lidOf: %s %s %s", a, b, lidOf("15550000002"))
	}
	if n, err := bob.CountLIDs(ctx); err != nil || n != 1 {
		t.Fatalf("count before traffic: %d %v", n, err)
	}
	if _, err := alice.Send(ctx, text("15550000002", "hi")); err != nil {
		t.Fatal(err)
	}
	bobRec.message()
	pairs, err := bob.ListLIDs(ctx, 0, 10)
	if err != nil || len(pairs) != 2 {
		t.Fatalf("pairs: %+v %v", pairs, err)
	}
	if !slices.IsSortedFunc(pairs, func(a, b provider.LIDPair) int { return compareLID(a, b) }) {
		t.Errorf("pairs not ordered by LID: %+v", pairs)
	}
	if page, _ := bob.ListLIDs(ctx, 1, 10); len(page) != 1 || page[0] != pairs[1] {
		t.Errorf("offset 1: %+v", page)
	}
	if page, _ := bob.ListLIDs(ctx, 5, 10); len(page) != 0 {
		t.Errorf("offset past the end: %+v", page)
	}
	lid := chatid.ID{Local: lidOf("15550000001"), Server: chatid.LID}
	if pn, err := bob.PhoneForLID(ctx, lid); err != nil || pn != aliceID {
		t.Errorf("phone of alice's LID: %v %v", pn, err)
	}
	if l, err := bob.LIDForPhone(ctx, aliceID); err != nil || l != lid {
		t.Errorf("LID of alice: %v %v", l, err)
	}
	if l, _ := bob.LIDForPhone(ctx, chatid.MustParse("15559999999")); !l.IsZero() {
		t.Errorf("LID of an unknown number: %v", l)
	}
	// A contact addressed by LID resolves to its number.
	if c, err := bob.GetContact(ctx, lid); err != nil || c.ID != aliceID {
		t.Errorf("contact by LID: %+v %v", c, err)
	}
	if _, err := bob.GetContact(ctx, chatid.MustParse("99999999999@lid")); !errors.Is(err, provider.ErrNotFound) {
		t.Errorf("unknown LID: %v, want ErrNotFound", err)
	}
}

func compareLID(a, b provider.LIDPair) int {
	switch {
	case a.LID.Local < b.LID.Local:
		return -1
	case a.LID.Local > b.LID.Local:
		return 1
	}
	return 0
}

// Capability calls on a session that is not WORKING fail with ErrNotConnected.
func TestSandboxContactsNeedWorking(t *testing.T) {
	f := newFixture(t, testConfig())
	p, _ := f.session("t", "idle")
	s := p.(*session)
	ctx := context.Background()
	for name, err := range map[string]error{
		"list":    func() error { _, err := s.ListContacts(ctx); return err }(),
		"profile": func() error { _, err := s.Profile(ctx); return err }(),
		"lids":    func() error { _, err := s.CountLIDs(ctx); return err }(),
		"block":   s.Block(ctx, aliceID),
	} {
		if !errors.Is(err, provider.ErrNotConnected) {
			t.Errorf("%s: %v, want ErrNotConnected", name, err)
		}
	}
}
