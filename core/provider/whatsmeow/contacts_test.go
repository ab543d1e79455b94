package whatsmeow

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	wm "go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/appstate"
	wmstore "go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	waLog "go.mau.fi/whatsmeow/util/log"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/provider"
)

// contactFake is a fakeClient with whatsmeow's contact, profile and block list calls.
type contactFake struct {
	*fakeClient

	cmu       sync.Mutex
	onWA      map[string]types.JID // IsOnWhatsApp: "+phone" -> JID
	status    map[types.JID]string // GetUserInfo
	pictures  map[types.JID]string // GetProfilePictureInfo; absent: not set
	blocked   []types.JID
	photos    [][]byte // SetGroupPhoto's avatars (own picture: empty JID)
	photoErr  error
	statusSet []string
	patches   []appstate.PatchInfo
}

func (c *contactFake) IsOnWhatsApp(ctx context.Context, phones []string) ([]types.IsOnWhatsAppResponse, error) {
	c.record("IsOnWhatsApp")
	c.cmu.Lock()
	defer c.cmu.Unlock()
	var out []types.IsOnWhatsAppResponse
	for _, ph := range phones {
		j, ok := c.onWA[ph]
		out = append(out, types.IsOnWhatsAppResponse{Query: ph, JID: j, IsIn: ok})
	}
	return out, nil
}

func (c *contactFake) GetUserInfo(ctx context.Context, jids []types.JID) (map[types.JID]types.UserInfo, error) {
	c.record("GetUserInfo")
	c.cmu.Lock()
	defer c.cmu.Unlock()
	out := map[types.JID]types.UserInfo{}
	for _, j := range jids {
		out[j] = types.UserInfo{Status: c.status[j]}
	}
	return out, nil
}

func (c *contactFake) GetProfilePictureInfo(ctx context.Context, j types.JID, _ *wm.GetProfilePictureParams) (*types.ProfilePictureInfo, error) {
	c.record("GetProfilePictureInfo")
	c.cmu.Lock()
	defer c.cmu.Unlock()
	u, ok := c.pictures[j]
	if !ok {
		return nil, wm.ErrProfilePictureNotSet
	}
	return &types.ProfilePictureInfo{URL: u, ID: "1"}, nil
}

func (c *contactFake) GetBlocklist(ctx context.Context) (*types.Blocklist, error) {
	c.record("GetBlocklist")
	c.cmu.Lock()
	defer c.cmu.Unlock()
	return &types.Blocklist{JIDs: append([]types.JID(nil), c.blocked...)}, nil
}

func (c *contactFake) UpdateBlocklist(ctx context.Context, j types.JID, action events.BlocklistChangeAction) (*types.Blocklist, error) {
	c.record("UpdateBlocklist")
	c.cmu.Lock()
	defer c.cmu.Unlock()
	var keep []types.JID
	for _, b := range c.blocked {
		if b != j {
			keep = append(keep, b)
		}
	}
	if action == events.BlocklistChangeActionBlock {
		keep = append(keep, j)
	}
	c.blocked = keep
	return &types.Blocklist{JIDs: append([]types.JID(nil), keep...)}, nil
}

func (c *contactFake) SetStatusMessage(ctx context.Context, status types.SetStatusInput) error {
	c.record("SetStatusMessage")
	c.cmu.Lock()
	defer c.cmu.Unlock()
	c.statusSet = append(c.statusSet, *status.Text)
	return nil
}

func (c *contactFake) SetGroupPhoto(ctx context.Context, j types.JID, avatar []byte) (string, error) {
	c.record("SetGroupPhoto")
	c.cmu.Lock()
	defer c.cmu.Unlock()
	if !j.IsEmpty() {
		return "", errors.New("own picture set with a target")
	}
	if c.photoErr != nil {
		return "", c.photoErr
	}
	c.photos = append(c.photos, avatar)
	return "2", nil
}

func (c *contactFake) SendAppState(ctx context.Context, patch appstate.PatchInfo) error {
	c.record("SendAppState")
	c.cmu.Lock()
	defer c.cmu.Unlock()
	c.patches = append(c.patches, patch)
	return nil
}

var _ contactClient = (*contactFake)(nil)

// contactRig is a rig whose clients are contactFakes, started and WORKING.
func contactRig(t *testing.T) (*rig, *contactFake) {
	t.Helper()
	r := newRig(t)
	var fakes []*contactFake
	var mu sync.Mutex
	r.f = NewFactory(r.cfg, r.db, WithClientFactory(func(d *wmstore.Device, l waLog.Logger) Client {
		cf := &contactFake{fakeClient: r.newClient(d, l).(*fakeClient), onWA: map[string]types.JID{},
			status: map[types.JID]string{}, pictures: map[types.JID]string{}}
		mu.Lock()
		fakes = append(fakes, cf)
		mu.Unlock()
		return cf
	}))
	r.p = r.build()
	r.startPaired()
	mu.Lock()
	defer mu.Unlock()
	return r, fakes[len(fakes)-1]
}

var (
	aliceID  = chatid.MustParse("15551230001@c.us")
	aliceLId = chatid.MustParse("100000000000001@lid")
)

// WhatsApp's profile events of contacts become contact.update notifications, a LID
// reported under its phone number when the map knows it; the session's own push
// name seen on a message is not one.
func TestContactEvents(t *testing.T) {
	r, c := contactRig(t)
	ctx := ctxT(t)
	if err := r.p.container.LIDMap.PutLIDMapping(ctx, aliceLID, alicePN); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	info := types.MessageInfo{Timestamp: at}
	for _, tc := range []struct {
		name string
		evt  any
		want provider.ContactUpdate
	}{
		{"push name", &events.PushName{JID: alicePN, Message: &info, OldPushName: "A", NewPushName: "Alice"},
			provider.ContactUpdate{ID: aliceID, Change: provider.ChangePushname, Pushname: "Alice", Timestamp: at.UnixMilli()}},
		{"push name by LID", &events.PushName{JID: aliceLID, Message: &info, NewPushName: "Alicia"},
			provider.ContactUpdate{ID: aliceID, Change: provider.ChangePushname, Pushname: "Alicia", Timestamp: at.UnixMilli()}},
		{"picture", &events.Picture{JID: alicePN, Timestamp: at, PictureID: "77"},
			provider.ContactUpdate{ID: aliceID, Change: provider.ChangePicture, PictureID: "77", Timestamp: at.UnixMilli()}},
		{"picture removed", &events.Picture{JID: alicePN, Timestamp: at, Remove: true},
			provider.ContactUpdate{ID: aliceID, Change: provider.ChangePicture, Removed: true, Timestamp: at.UnixMilli()}},
		{"about", &events.UserAbout{JID: alicePN, Status: "busy", Timestamp: at},
			provider.ContactUpdate{ID: aliceID, Change: provider.ChangeAbout, About: "busy", Timestamp: at.UnixMilli()}},
	} {
		c.emit(tc.evt)
		if got := r.next(); got != tc.want {
			t.Errorf("%s: %#v, want %#v", tc.name, got, tc.want)
		}
	}
	// Not contacts: a group's picture, the session's own push name.
	c.emit(&events.Picture{JID: groupJID, Timestamp: at, PictureID: "9"})
	c.emit(&events.PushName{JID: mePN, Message: &info, NewPushName: "Me"})
	r.quiet()
	if ev := (provider.ContactUpdate{}); ev.EventName() != "contact.update" {
		t.Fatalf("event name %q", ev.EventName())
	}
}

func TestContactCalls(t *testing.T) {
	r, c := contactRig(t)
	ctx := ctxT(t)
	c.onWA["+15551230001"] = alicePN
	c.status[alicePN] = "at work"
	c.pictures[alicePN] = "https://pps.whatsapp.net/alice.jpg"

	st, err := r.p.CheckNumber(ctx, "15551230001")
	if err != nil || !st.NumberExists || st.ChatID != aliceID {
		t.Fatalf("CheckNumber: %+v %v", st, err)
	}
	if st, _ := r.p.CheckNumber(ctx, "15559999999"); st.NumberExists {
		t.Fatalf("CheckNumber of an unknown number: %+v", st)
	}
	if about, ok, err := r.p.About(ctx, aliceID); err != nil || !ok || about != "at work" {
		t.Fatalf("About: %q %v %v", about, ok, err)
	}
	if _, ok, _ := r.p.About(ctx, chatid.MustParse("15551230002")); ok {
		t.Fatal("About of a user without one: ok")
	}

	// Pictures are cached; refresh asks again; a Picture event forgets the cache.
	for range 2 {
		if u, err := r.p.ProfilePictureURL(ctx, aliceID, false); err != nil || u != "https://pps.whatsapp.net/alice.jpg" {
			t.Fatalf("picture: %q %v", u, err)
		}
	}
	if n := c.called("GetProfilePictureInfo"); n != 1 {
		t.Errorf("GetProfilePictureInfo called %d times, want 1 (cached)", n)
	}
	r.p.ProfilePictureURL(ctx, aliceID, true)
	if n := c.called("GetProfilePictureInfo"); n != 2 {
		t.Errorf("refresh: GetProfilePictureInfo called %d times, want 2", n)
	}
	if u, err := r.p.ProfilePictureURL(ctx, chatid.MustParse("15551230002"), false); err != nil || u != "" {
		t.Errorf("picture not set: %q %v", u, err)
	}
	if _, err := r.p.ProfilePictureURL(ctx, chatid.MustParse("120363000000000001@g.us"), false); !errors.Is(err, provider.ErrInvalidRecipient) {
		t.Errorf("picture of a group through contacts: %v", err)
	}

	// Contacts come from the store; a LID entry merges into its phone number's.
	run, _ := r.p.current()
	if _, _, err := run.device.Contacts.PutPushName(ctx, alicePN, "Alice"); err != nil {
		t.Fatal(err)
	}
	if err := run.device.Contacts.PutContactName(ctx, aliceLID, "Alice", "Alice Smith"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := run.device.Contacts.PutPushName(ctx, bobPN, "Bob"); err != nil {
		t.Fatal(err)
	}
	if err := r.p.container.LIDMap.PutLIDMapping(ctx, aliceLID, alicePN); err != nil {
		t.Fatal(err)
	}
	if err := r.p.Block(ctx, chatid.MustParse("15551230002")); err != nil {
		t.Fatal(err)
	}
	list, err := r.p.ListContacts(ctx)
	if err != nil || len(list) != 2 {
		t.Fatalf("ListContacts: %+v %v", list, err)
	}
	byID := map[chatid.ID]provider.ContactInfo{}
	for _, ci := range list {
		byID[ci.ID] = ci
	}
	alice := byID[aliceID]
	if alice.Number != "15551230001" || alice.Pushname != "Alice" || alice.Name != "Alice Smith" || alice.ShortName != "Alice" ||
		!alice.IsMyContact || !alice.IsWAContact || alice.IsBlocked || !alice.IsUser {
		t.Errorf("alice: %+v", alice)
	}
	if bob := byID[chatid.MustParse("15551230002")]; !bob.IsBlocked || bob.IsMyContact || bob.Pushname != "Bob" {
		t.Errorf("bob: %+v", bob)
	}
	if ci, err := r.p.GetContact(ctx, aliceLId); err != nil || ci.ID != aliceID || ci.Name != "Alice Smith" {
		t.Errorf("GetContact by LID: %+v %v", ci, err)
	}
	if ci, _ := r.p.GetContact(ctx, chatid.MustParse("15559999999")); ci.IsWAContact || ci.Number != "15559999999" {
		t.Errorf("GetContact of an unknown user: %+v", ci)
	}

	// The block list is kept by Block and Unblock (WhatsApp answers them with the
	// whole list) and by WhatsApp's blocklist notifications: never fetched here.
	if err := r.p.Unblock(ctx, chatid.MustParse("15551230002")); err != nil {
		t.Fatal(err)
	}
	c.emit(&events.Blocklist{Changes: []events.BlocklistChange{{JID: alicePN, Action: events.BlocklistChangeActionBlock}}})
	r.quiet()
	if ci, _ := r.p.GetContact(ctx, aliceID); !ci.IsBlocked {
		t.Errorf("alice after a blocklist notification: %+v", ci)
	}
	if n := c.called("GetBlocklist"); n != 0 {
		t.Errorf("GetBlocklist called %d times, want 0", n)
	}
	if err := r.p.Block(ctx, chatid.MustParse("15551230000")); !errors.Is(err, provider.ErrNotAllowed) {
		t.Errorf("blocking the session's own number: %v", err)
	}
}

func TestProfileCalls(t *testing.T) {
	r, c := contactRig(t)
	ctx := ctxT(t)
	c.status[mePN] = "Open 9-5"
	p, err := r.p.Profile(ctx)
	if err != nil || p.ID.String() != "15551230000@c.us" || p.Name != "Acme Support" || p.About != "Open 9-5" || p.PictureURL != "" {
		t.Fatalf("Profile: %+v %v", p, err)
	}

	if err := r.p.SetName(ctx, "Acme Help"); err != nil {
		t.Fatal(err)
	}
	if len(c.patches) != 1 || c.patches[0].Type != appstate.WAPatchCriticalBlock {
		t.Errorf("app state patches: %+v", c.patches)
	}
	if st := r.status(provider.StatusWorking, ""); st.Me == nil || st.Me.PushName != "Acme Help" {
		t.Errorf("after SetName: %+v", st)
	}
	// whatsmeow's echo of the setting changes nothing more.
	c.emit(&events.PushNameSetting{Action: c.patches[0].Mutations[0].Value.GetPushNameSetting()})
	r.quiet()

	if err := r.p.SetAbout(ctx, "Closed"); err != nil || len(c.statusSet) != 1 || c.statusSet[0] != "Closed" {
		t.Errorf("SetAbout: %v %v", err, c.statusSet)
	}

	jpeg := []byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01")
	if err := r.p.SetPicture(ctx, provider.Media{Data: jpeg, Mimetype: "image/jpeg"}); err != nil {
		t.Fatal(err)
	}
	if len(c.photos) != 1 || string(c.photos[0]) != string(jpeg) {
		t.Errorf("photos: %q", c.photos)
	}
	png := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
	if err := r.p.SetPicture(ctx, provider.Media{Data: png, Mimetype: "image/png"}); !errors.Is(err, provider.ErrInvalidPicture) {
		t.Errorf("PNG picture: %v, want ErrInvalidPicture", err)
	}
	c.photoErr = wm.ErrInvalidImageFormat
	if err := r.p.SetPicture(ctx, provider.Media{Data: jpeg}); !errors.Is(err, provider.ErrInvalidPicture) {
		t.Errorf("picture WhatsApp refuses: %v, want ErrInvalidPicture", err)
	}
	c.photoErr = nil
	if err := r.p.DeletePicture(ctx); err != nil || len(c.photos) != 2 || c.photos[1] != nil {
		t.Errorf("DeletePicture: %v %q", err, c.photos)
	}
}

func TestLIDCalls(t *testing.T) {
	r, _ := contactRig(t)
	ctx := ctxT(t)
	if err := r.p.container.LIDMap.PutLIDMapping(ctx, aliceLID, alicePN); err != nil {
		t.Fatal(err)
	}
	if n, err := r.p.CountLIDs(ctx); err != nil || n != 1 {
		t.Fatalf("CountLIDs: %d %v", n, err)
	}
	pairs, err := r.p.ListLIDs(ctx, 0, 10)
	if err != nil || len(pairs) != 1 || pairs[0] != (provider.LIDPair{LID: aliceLId, PN: aliceID}) {
		t.Fatalf("ListLIDs: %+v %v", pairs, err)
	}
	if pn, err := r.p.PhoneForLID(ctx, aliceLId); err != nil || pn != aliceID {
		t.Errorf("PhoneForLID: %v %v", pn, err)
	}
	if lid, err := r.p.LIDForPhone(ctx, aliceID); err != nil || lid != aliceLId {
		t.Errorf("LIDForPhone: %v %v", lid, err)
	}
	if lid, err := r.p.LIDForPhone(ctx, chatid.MustParse("15559999999")); err != nil || !lid.IsZero() {
		t.Errorf("LIDForPhone of an unknown number: %v %v", lid, err)
	}
}

// A client without the contact calls answers ErrUnsupported (the API's 501); a
// stopped provider ErrNotConnected.
func TestContactsWithoutClientSupport(t *testing.T) {
	r := newRig(t)
	r.startPaired()
	ctx := ctxT(t)
	if _, err := r.p.ListContacts(ctx); !errors.Is(err, provider.ErrUnsupported) {
		t.Errorf("ListContacts on a plain client: %v", err)
	}
	if err := r.p.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := r.p.Profile(ctx); !errors.Is(err, provider.ErrNotConnected) {
		t.Errorf("Profile when stopped: %v", err)
	}
}
