package whatsmeow

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"sync"
	"testing"

	"go.mau.fi/whatsmeow/appstate"
	"go.mau.fi/whatsmeow/proto/waSyncAction"
	wmstore "go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	waLog "go.mau.fi/whatsmeow/util/log"
	"google.golang.org/protobuf/proto"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/provider"
)

// labelServer is WhatsApp's side of the regular app state collection: the label_edit
// and label_jid records, shared by the fakes of every run of a rig.
type labelServer struct {
	mu       sync.Mutex
	labels   map[string]*waSyncAction.LabelEditAction
	assoc    map[[2]string]bool // {label id, chat JID}: labeled
	patches  []appstate.PatchInfo
	sendErr  error
	fetchErr error
	fetches  int
}

func newLabelServer() *labelServer {
	return &labelServer{labels: map[string]*waSyncAction.LabelEditAction{}, assoc: map[[2]string]bool{}}
}

func (s *labelServer) label(id, name string, color int32, typ waSyncAction.LabelEditAction_ListType) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.labels[id] = &waSyncAction.LabelEditAction{Name: proto.String(name), Color: proto.Int32(color), Type: typ.Enum(), Deleted: proto.Bool(false)}
}

func (s *labelServer) deleteLabel(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.labels[id].Deleted = proto.Bool(true)
}

func (s *labelServer) labelChat(id string, chat types.JID, labeled bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setAssocLocked(id, chat.String(), labeled)
}

func (s *labelServer) setAssocLocked(id, chat string, labeled bool) {
	if labeled {
		s.assoc[[2]string{id, chat}] = true
	} else {
		delete(s.assoc, [2]string{id, chat})
	}
}

// sent returns the patches sent, each as "collection index... value".
func (s *labelServer) sent() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, p := range s.patches {
		out = append(out, patchString(p))
	}
	return out
}

func (s *labelServer) fetchCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fetches
}

// patchString shows what appstate.Build* put in a patch.
func patchString(p appstate.PatchInfo) string {
	if len(p.Mutations) != 1 {
		return fmt.Sprintf("%s: %d mutations", p.Type, len(p.Mutations))
	}
	m := p.Mutations[0]
	s := fmt.Sprintf("%s v%d %v", p.Type, m.Version, m.Index)
	if a := m.Value.GetLabelEditAction(); a != nil {
		s += fmt.Sprintf(" name=%q color=%d deleted=%t", a.GetName(), a.GetColor(), a.GetDeleted())
	}
	if a := m.Value.GetLabelAssociationAction(); a != nil {
		s += fmt.Sprintf(" labeled=%t", a.GetLabeled())
	}
	return s
}

// labelFake is a fakeClient with whatsmeow's app state calls over a labelServer.
type labelFake struct {
	*fakeClient
	srv *labelServer
}

// SendAppState records the patch, applies it to the server and dispatches its echo,
// as whatsmeow does after the incremental sync that follows a send (here before the
// call returns: the harder order for the provider).
func (c *labelFake) SendAppState(ctx context.Context, patch appstate.PatchInfo) error {
	c.record("SendAppState")
	s := c.srv
	s.mu.Lock()
	s.patches = append(s.patches, patch)
	if s.sendErr != nil {
		s.mu.Unlock()
		return s.sendErr
	}
	var echo []any
	for _, m := range patch.Mutations {
		switch m.Index[0] {
		case appstate.IndexLabelEdit:
			act := proto.Clone(m.Value.GetLabelEditAction()).(*waSyncAction.LabelEditAction)
			s.labels[m.Index[1]] = act
			echo = append(echo, &events.LabelEdit{LabelID: m.Index[1], Action: act})
		case appstate.IndexLabelAssociationChat:
			act := m.Value.GetLabelAssociationAction()
			s.setAssocLocked(m.Index[1], m.Index[2], act.GetLabeled())
			j, _ := types.ParseJID(m.Index[2])
			echo = append(echo, &events.LabelAssociationChat{JID: j, LabelID: m.Index[1], Action: act})
		}
	}
	s.mu.Unlock()
	for _, ev := range echo {
		c.emit(ev)
	}
	return nil
}

// FetchAppState replays the server's records as a full sync does with
// EmitAppStateEventsOnFullSync: labels, then associations, then the completion.
func (c *labelFake) FetchAppState(ctx context.Context, name appstate.WAPatchName, fullSync, onlyIfNotSynced bool) error {
	c.record("FetchAppState")
	s := c.srv
	s.mu.Lock()
	s.fetches++
	if s.fetchErr != nil || name != appstate.WAPatchRegular || !fullSync || onlyIfNotSynced {
		s.mu.Unlock()
		return errors.Join(s.fetchErr, fmt.Errorf("fetch of %s full=%t onlyIfNotSynced=%t", name, fullSync, onlyIfNotSynced))
	}
	var evs []any
	ids := make([]string, 0, len(s.labels))
	for id := range s.labels {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		evs = append(evs, &events.LabelEdit{LabelID: id, Action: s.labels[id], FromFullSync: true})
	}
	keys := make([][2]string, 0, len(s.assoc))
	for k := range s.assoc {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b [2]string) int { return compareLabelIDs(a[0]+" "+a[1], b[0]+" "+b[1]) })
	for _, k := range keys {
		j, _ := types.ParseJID(k[1])
		evs = append(evs, &events.LabelAssociationChat{JID: j, LabelID: k[0], FromFullSync: true,
			Action: &waSyncAction.LabelAssociationAction{Labeled: proto.Bool(true)}})
	}
	s.mu.Unlock()
	evs = append(evs, &events.AppStateSyncComplete{Name: appstate.WAPatchRegular, Version: 9})
	for _, ev := range evs {
		c.emit(ev)
	}
	return nil
}

var _ labelClient = (*labelFake)(nil)

// labelRig is a rig whose clients are labelFakes over srv. It is not started.
func labelRig(t *testing.T, srv *labelServer) *rig {
	t.Helper()
	r := newRig(t)
	r.f = NewFactory(r.cfg, r.db, WithClientFactory(func(d *wmstore.Device, l waLog.Logger) Client {
		return &labelFake{fakeClient: r.newClient(d, l).(*fakeClient), srv: srv}
	}))
	r.p = r.build()
	return r
}

// drain returns the events reported up to a marker: everything queued so far.
func (r *rig) drain() []provider.Event {
	r.t.Helper()
	run, ok := r.p.current()
	if !ok {
		r.t.Fatal("drain: not running")
	}
	marker := provider.QREvent{Code: "marker"}
	if !run.queue.push(marker, false) {
		r.t.Fatal("drain: queue closed")
	}
	var out []provider.Event
	for {
		ev := r.next()
		if ev == marker {
			return out
		}
		out = append(out, ev)
	}
}

func lbl(id, name string, color int) *provider.Label {
	l := provider.NewLabel(id, name, color)
	return &l
}

func added(id string, chat chatid.ID, l *provider.Label) provider.Event {
	return provider.LabelChatAdded{LabelChat: provider.LabelChat{LabelID: id, ChatID: chat, Label: l}}
}

func removed(id string, chat chatid.ID, l *provider.Label) provider.Event {
	return provider.LabelChatDeleted{LabelChat: provider.LabelChat{LabelID: id, ChatID: chat, Label: l}}
}

// The first read primes the cache once, however many ask at the same time; the
// built-in chat lists are not labels; the first priming reports what it found, a
// priming on a later connection only what changed meanwhile.
func TestLabelPriming(t *testing.T) {
	srv := newLabelServer()
	srv.label("1", "New customer", 0, waSyncAction.LabelEditAction_PREDEFINED)
	srv.label("5", "Paid", 4, waSyncAction.LabelEditAction_CUSTOM)
	srv.label("3", "Favorites", 0, waSyncAction.LabelEditAction_FAVORITES)
	srv.label("2", "Old", 1, waSyncAction.LabelEditAction_NONE)
	srv.deleteLabel("2")
	srv.labelChat("1", alicePN, true)
	srv.labelChat("3", bobPN, true)
	r := labelRig(t, srv)
	r.startPaired()

	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ls, err := r.p.Labels(ctxT(t))
			if err == nil && len(ls) != 2 {
				err = fmt.Errorf("labels %v", ls)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := srv.fetchCount(); n != 1 {
		t.Fatalf("FetchAppState called %d times, want 1", n)
	}
	want := []provider.Event{
		provider.LabelUpsert{Label: *lbl("1", "New customer", 0)},
		provider.LabelUpsert{Label: *lbl("5", "Paid", 4)},
		added("1", aliceID, lbl("1", "New customer", 0)),
	}
	if got := r.drain(); !reflect.DeepEqual(got, want) {
		t.Fatalf("priming reported\n%#v\nwant\n%#v", got, want)
	}
	got, err := r.p.Labels(ctxT(t))
	if err != nil || !reflect.DeepEqual(got, []provider.Label{*lbl("1", "New customer", 0), *lbl("5", "Paid", 4)}) {
		t.Fatalf("Labels = %v, %v", got, err)
	}
	if n := srv.fetchCount(); n != 1 {
		t.Fatalf("FetchAppState called %d times after a second read", n)
	}
	// Ids never go back: deleted labels and lists count.
	l, err := r.p.CreateLabel(ctxT(t), "VIP", 7)
	if err != nil || l.ID != "6" {
		t.Fatalf("CreateLabel = %+v, %v; want id 6", l, err)
	}
	r.drain()

	// Meanwhile, on the phone: "Paid" deleted, bob labelled "New customer".
	if err := r.p.Stop(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	r.status(provider.StatusStopped, "")
	srv.deleteLabel("5")
	srv.labelChat("1", bobPN, true)
	if err := r.p.Start(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	r.status(provider.StatusConnecting, "")
	r.client().emit(&events.Connected{})
	r.status(provider.StatusWorking, "")
	chats, err := r.p.LabelChats(ctxT(t), "1")
	if err != nil || !reflect.DeepEqual(chats, []chatid.ID{aliceID, bobID}) {
		t.Fatalf("LabelChats = %v, %v", chats, err)
	}
	if n := srv.fetchCount(); n != 2 {
		t.Fatalf("FetchAppState called %d times after a new connection, want 2", n)
	}
	want = []provider.Event{
		added("1", bobID, lbl("1", "New customer", 0)),
		provider.LabelDeleted{Label: *lbl("5", "Paid", 4)},
	}
	if got := r.drain(); !reflect.DeepEqual(got, want) {
		t.Fatalf("second priming reported\n%#v\nwant\n%#v", got, want)
	}
}

// A failed priming fails the read; the next read tries again.
func TestLabelPrimingFails(t *testing.T) {
	srv := newLabelServer()
	srv.fetchErr = errors.New("iq timed out")
	r := labelRig(t, srv)
	r.startPaired()
	if _, err := r.p.Labels(ctxT(t)); err == nil || !errors.Is(err, srv.fetchErr) {
		t.Fatalf("Labels with a failing sync: %v", err)
	}
	srv.mu.Lock()
	srv.fetchErr = nil
	srv.mu.Unlock()
	if ls, err := r.p.Labels(ctxT(t)); err != nil || len(ls) != 0 {
		t.Fatalf("Labels = %v, %v", ls, err)
	}
	if n := srv.fetchCount(); n != 2 {
		t.Fatalf("FetchAppState called %d times, want 2", n)
	}
}

// Every method: what goes to WhatsApp, what is reported, what is refused.
func TestLabelCalls(t *testing.T) {
	newCustomer, paid := lbl("1", "New customer", 0), lbl("4", "Paid", 4)
	group := chatid.MustParse("120363000000000001@g.us")
	seed := func(s *labelServer) {
		s.label("1", "New customer", 0, waSyncAction.LabelEditAction_PREDEFINED)
		s.label("4", "Paid", 4, waSyncAction.LabelEditAction_PREDEFINED)
		s.labelChat("1", alicePN, true)
	}
	for _, tc := range []struct {
		name    string
		setup   func(*labelServer)
		call    func(context.Context, *Provider) (any, error)
		want    any // the call's result, when not nil
		wantErr error
		patches []string
		events  []provider.Event
	}{
		{name: "create", setup: seed,
			call: func(ctx context.Context, p *Provider) (any, error) { return p.CreateLabel(ctx, "VIP", 3) },
			want: *lbl("5", "VIP", 3), patches: []string{`regular v3 [label_edit 5] name="VIP" color=3 deleted=false`},
			events: []provider.Event{provider.LabelUpsert{Label: *lbl("5", "VIP", 3)}}},
		{name: "create past the limit",
			setup: func(s *labelServer) {
				for i := 1; i <= provider.MaxLabels; i++ {
					s.label(strconv.Itoa(i), "L", 0, waSyncAction.LabelEditAction_CUSTOM)
				}
			},
			call:    func(ctx context.Context, p *Provider) (any, error) { return p.CreateLabel(ctx, "one more", 1) },
			wantErr: provider.ErrNotAllowed},
		{name: "create with a colour off the palette", setup: seed,
			call: func(ctx context.Context, p *Provider) (any, error) { return p.CreateLabel(ctx, "x", 20) }, wantErr: errAny},
		{name: "update", setup: seed,
			call: func(ctx context.Context, p *Provider) (any, error) { return p.UpdateLabel(ctx, "4", "Paid in full", 5) },
			want: *lbl("4", "Paid in full", 5), patches: []string{`regular v3 [label_edit 4] name="Paid in full" color=5 deleted=false`},
			events: []provider.Event{provider.LabelUpsert{Label: *lbl("4", "Paid in full", 5)}}},
		{name: "update unknown", setup: seed,
			call:    func(ctx context.Context, p *Provider) (any, error) { return p.UpdateLabel(ctx, "9", "x", 1) },
			wantErr: provider.ErrNotFound},
		{name: "delete", setup: seed,
			call:    func(ctx context.Context, p *Provider) (any, error) { return nil, p.DeleteLabel(ctx, "1") },
			patches: []string{`regular v3 [label_edit 1] name="New customer" color=0 deleted=true`},
			events:  []provider.Event{removed("1", aliceID, newCustomer), provider.LabelDeleted{Label: *newCustomer}}},
		{name: "delete unknown", setup: seed,
			call: func(ctx context.Context, p *Provider) (any, error) { return nil, p.DeleteLabel(ctx, "x") }, wantErr: provider.ErrNotFound},
		{name: "chat labels", setup: seed,
			call: func(ctx context.Context, p *Provider) (any, error) { return p.ChatLabels(ctx, aliceID) },
			want: []provider.Label{*newCustomer}},
		{name: "chat labels by LID", setup: seed,
			call: func(ctx context.Context, p *Provider) (any, error) { return p.ChatLabels(ctx, aliceLId) },
			want: []provider.Label{*newCustomer}},
		{name: "chat labels of an unlabelled chat", setup: seed,
			call: func(ctx context.Context, p *Provider) (any, error) { return p.ChatLabels(ctx, bobID) },
			want: []provider.Label{}},
		{name: "chat labels of a channel", setup: seed,
			call: func(ctx context.Context, p *Provider) (any, error) {
				return p.ChatLabels(ctx, chatid.MustParse("120363000000000009@newsletter"))
			},
			wantErr: provider.ErrInvalidRecipient},
		{name: "set chat labels", setup: seed,
			call: func(ctx context.Context, p *Provider) (any, error) {
				return nil, p.SetChatLabels(ctx, aliceID, []string{"4", "4"})
			},
			patches: []string{
				`regular v3 [label_jid 1 15551230001@s.whatsapp.net] labeled=false`,
				`regular v3 [label_jid 4 15551230001@s.whatsapp.net] labeled=true`,
			},
			events: []provider.Event{removed("1", aliceID, newCustomer), added("4", aliceID, paid)}},
		{name: "set a group's labels", setup: seed,
			call: func(ctx context.Context, p *Provider) (any, error) {
				return nil, p.SetChatLabels(ctx, group, []string{"1", "4"})
			},
			patches: []string{
				`regular v3 [label_jid 1 120363000000000001@g.us] labeled=true`,
				`regular v3 [label_jid 4 120363000000000001@g.us] labeled=true`,
			},
			events: []provider.Event{added("1", group, newCustomer), added("4", group, paid)}},
		{name: "set a LID chat's labels: under its LID, known by its number",
			setup: func(s *labelServer) { s.label("4", "Paid", 4, waSyncAction.LabelEditAction_PREDEFINED) },
			call: func(ctx context.Context, p *Provider) (any, error) {
				if err := p.SetChatLabels(ctx, aliceLId, []string{"4"}); err != nil {
					return nil, err
				}
				return p.LabelChats(ctx, "4")
			},
			want:    []chatid.ID{aliceID},
			patches: []string{`regular v3 [label_jid 4 100000000000001@lid] labeled=true`},
			events:  []provider.Event{added("4", aliceID, paid)}},
		{name: "take every label off", setup: seed,
			call:    func(ctx context.Context, p *Provider) (any, error) { return nil, p.SetChatLabels(ctx, aliceID, nil) },
			patches: []string{`regular v3 [label_jid 1 15551230001@s.whatsapp.net] labeled=false`},
			events:  []provider.Event{removed("1", aliceID, newCustomer)}},
		{name: "set unchanged labels", setup: seed,
			call: func(ctx context.Context, p *Provider) (any, error) {
				return nil, p.SetChatLabels(ctx, aliceID, []string{"1"})
			}},
		{name: "set an unknown label", setup: seed,
			call: func(ctx context.Context, p *Provider) (any, error) {
				return nil, p.SetChatLabels(ctx, aliceID, []string{"4", "77"})
			},
			wantErr: provider.ErrNotFound},
		{name: "set labels on a broadcast list", setup: seed,
			call: func(ctx context.Context, p *Provider) (any, error) {
				return nil, p.SetChatLabels(ctx, chatid.MustParse("1612345678@broadcast"), []string{"1"})
			},
			wantErr: provider.ErrInvalidRecipient},
		{name: "WhatsApp refuses",
			setup: func(s *labelServer) { seed(s); s.sendErr = errors.New("app state update failed: 400") },
			call:  func(ctx context.Context, p *Provider) (any, error) { return p.CreateLabel(ctx, "VIP", 3) },
			// the patch was tried; nothing changed
			wantErr: errAny, patches: []string{`regular v3 [label_edit 5] name="VIP" color=3 deleted=false`}},
		{name: "label chats", setup: seed,
			call: func(ctx context.Context, p *Provider) (any, error) { return p.LabelChats(ctx, "1") },
			want: []chatid.ID{aliceID}},
		{name: "label chats, none", setup: seed,
			call: func(ctx context.Context, p *Provider) (any, error) { return p.LabelChats(ctx, "4") },
			want: []chatid.ID{}},
		{name: "label chats of an unknown label", setup: seed,
			call: func(ctx context.Context, p *Provider) (any, error) { return p.LabelChats(ctx, "9") }, wantErr: provider.ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newLabelServer()
			tc.setup(srv)
			r := labelRig(t, srv)
			r.startPaired()
			ctx := ctxT(t)
			if err := r.p.container.LIDMap.PutLIDMapping(ctx, aliceLID, alicePN); err != nil {
				t.Fatal(err)
			}
			// Prime first, so that only the call's own notifications are compared.
			if _, err := r.p.Labels(ctx); err != nil {
				t.Fatal(err)
			}
			r.drain()
			before, _ := r.p.Labels(ctx)

			got, err := tc.call(ctx, r.p)
			switch {
			case tc.wantErr == errAny && err == nil, tc.wantErr != errAny && !errors.Is(err, tc.wantErr):
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			case tc.wantErr == nil && tc.want != nil && !reflect.DeepEqual(got, tc.want):
				t.Fatalf("got %#v, want %#v", got, tc.want)
			}
			if p := srv.sent(); !slices.Equal(p, tc.patches) {
				t.Errorf("patches\n%q\nwant\n%q", p, tc.patches)
			}
			if evs := r.drain(); !reflect.DeepEqual(evs, tc.events) {
				t.Errorf("reported\n%#v\nwant\n%#v", evs, tc.events)
			}
			if tc.wantErr != nil {
				if after, _ := r.p.Labels(ctx); !reflect.DeepEqual(after, before) {
					t.Errorf("a refused call changed the labels: %v, were %v", after, before)
				}
			}
		})
	}
}

// errAny stands for any error in the table.
var errAny = errors.New("any error")

// Without a connection every method is ErrNotConnected.
func TestLabelsNotConnected(t *testing.T) {
	r := labelRig(t, newLabelServer())
	ctx := ctxT(t)
	for name, call := range map[string]func() error{
		"Labels":        func() error { _, err := r.p.Labels(ctx); return err },
		"CreateLabel":   func() error { _, err := r.p.CreateLabel(ctx, "x", 1); return err },
		"UpdateLabel":   func() error { _, err := r.p.UpdateLabel(ctx, "1", "x", 1); return err },
		"DeleteLabel":   func() error { return r.p.DeleteLabel(ctx, "1") },
		"ChatLabels":    func() error { _, err := r.p.ChatLabels(ctx, aliceID); return err },
		"SetChatLabels": func() error { return r.p.SetChatLabels(ctx, aliceID, []string{"1"}) },
		"LabelChats":    func() error { _, err := r.p.LabelChats(ctx, "1"); return err },
	} {
		if err := call(); !errors.Is(err, provider.ErrNotConnected) {
			t.Errorf("%s: %v, want ErrNotConnected", name, err)
		}
	}
}

// Label events from other devices become notifications and keep the cache; what
// changes nothing is not reported; bad events are skipped.
func TestLabelEvents(t *testing.T) {
	srv := newLabelServer()
	r := labelRig(t, srv)
	c := r.startPaired()
	ctx := ctxT(t)
	if err := r.p.container.LIDMap.PutLIDMapping(ctx, aliceLID, alicePN); err != nil {
		t.Fatal(err)
	}
	if _, err := r.p.Labels(ctx); err != nil { // primed, empty
		t.Fatal(err)
	}
	r.quiet()
	edit := func(id, name string, color int32, deleted bool) *events.LabelEdit {
		return &events.LabelEdit{LabelID: id, Action: &waSyncAction.LabelEditAction{Name: &name, Color: &color, Deleted: &deleted}}
	}
	assoc := func(id string, j types.JID, labeled bool) *events.LabelAssociationChat {
		return &events.LabelAssociationChat{JID: j, LabelID: id, Action: &waSyncAction.LabelAssociationAction{Labeled: &labeled}}
	}
	vip := lbl("7", "VIP", 2)
	for _, tc := range []struct {
		name string
		evt  any
		want []provider.Event
	}{
		{"created", edit("7", "VIP", 2, false), []provider.Event{provider.LabelUpsert{Label: *vip}}},
		{"the same again", edit("7", "VIP", 2, false), nil},
		{"on a chat by LID", assoc("7", aliceLID, true), []provider.Event{added("7", aliceID, vip)}},
		{"again", assoc("7", alicePN, true), nil},
		{"unknown label on a chat", assoc("8", bobPN, true), []provider.Event{added("8", bobID, nil)}},
		{"off a chat", assoc("8", bobPN, false), []provider.Event{removed("8", bobID, nil)}},
		{"off a chat it is not on", assoc("7", bobPN, false), nil},
		{"a chat list", &events.LabelEdit{LabelID: "9", Action: &waSyncAction.LabelEditAction{
			Name: proto.String("Unread"), Type: waSyncAction.LabelEditAction_UNREAD.Enum()}}, nil},
		{"on a chat list", assoc("9", bobPN, true), nil},
		{"no action", &events.LabelEdit{LabelID: "10"}, nil},
		{"no label id", &events.LabelAssociationChat{JID: bobPN, Action: &waSyncAction.LabelAssociationAction{}}, nil},
		{"no chat", assoc("7", types.EmptyJID, true), nil},
		{"a bot", assoc("7", types.NewJID("1313555", types.BotServer), true), nil},
		{"another collection synced", &events.AppStateSyncComplete{Name: appstate.WAPatchCriticalBlock}, nil},
		{"renamed", edit("7", "Gold", 3, false), []provider.Event{provider.LabelUpsert{Label: *lbl("7", "Gold", 3)}}},
		{"deleted", edit("7", "Gold", 3, true), []provider.Event{removed("7", aliceID, lbl("7", "Gold", 3)), provider.LabelDeleted{Label: *lbl("7", "Gold", 3)}}},
		{"deleted again", edit("7", "Gold", 3, true), nil},
	} {
		c.emit(tc.evt)
		if got := r.drain(); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: reported\n%#v\nwant\n%#v", tc.name, got, tc.want)
		}
	}
	if ls, err := r.p.Labels(ctx); err != nil || len(ls) != 0 {
		t.Errorf("Labels = %v, %v; want none", ls, err)
	}
	if ls, err := r.p.ChatLabels(ctx, aliceID); err != nil || len(ls) != 0 {
		t.Errorf("alice's labels = %v, %v; want none", ls, err)
	}
	// Ids seen, lists and deleted labels included, are not reused (the malformed event
	// without action was skipped whole).
	if l, err := r.p.CreateLabel(ctx, "New", 0); err != nil || l.ID != "10" {
		t.Errorf("CreateLabel = %+v, %v; want id 10", l, err)
	}
	if n := srv.fetchCount(); n != 1 {
		t.Errorf("FetchAppState called %d times", n)
	}
}

// Past its bounds the cache drops what WhatsApp reports, and SetChatLabels refuses one
// more chat.
func TestLabelBounds(t *testing.T) {
	srv := newLabelServer()
	srv.label("1", "New customer", 0, waSyncAction.LabelEditAction_PREDEFINED)
	r := labelRig(t, srv)
	c := r.startPaired()
	ctx := ctxT(t)
	if _, err := r.p.Labels(ctx); err != nil {
		t.Fatal(err)
	}
	r.drain()

	st := &r.p.labels
	st.mu.Lock()
	for i := range maxLabelChats {
		chat := chatid.MustParse(strconv.Itoa(15550000000 + i))
		st.set.chats[chat] = &labeledChat{jid: types.NewJID(chat.Local, types.DefaultUserServer), ids: []string{"1"}}
	}
	for i := 100; len(st.set.labels)+len(st.set.lists) < maxCachedLabels; i++ {
		id := strconv.Itoa(i)
		st.set.labels[id] = provider.NewLabel(id, "L", 0)
	}
	st.mu.Unlock()

	if err := r.p.SetChatLabels(ctx, aliceID, []string{"1"}); !errors.Is(err, provider.ErrNotAllowed) {
		t.Errorf("SetChatLabels past the chat bound: %v", err)
	}
	if p := srv.sent(); len(p) != 0 {
		t.Errorf("patches sent: %q", p)
	}
	c.emit(&events.LabelAssociationChat{JID: alicePN, LabelID: "1", Action: &waSyncAction.LabelAssociationAction{Labeled: proto.Bool(true)}})
	c.emit(&events.LabelEdit{LabelID: "999", Action: &waSyncAction.LabelEditAction{Name: proto.String("one too many")}})
	// A chat already known still takes labels; a known label still changes.
	c.emit(&events.LabelAssociationChat{JID: types.NewJID("15550000000", types.DefaultUserServer), LabelID: "100",
		Action: &waSyncAction.LabelAssociationAction{Labeled: proto.Bool(true)}})
	want := []provider.Event{added("100", chatid.MustParse("15550000000"), lbl("100", "L", 0))}
	if got := r.drain(); !reflect.DeepEqual(got, want) {
		t.Errorf("reported past the bounds\n%#v\nwant\n%#v", got, want)
	}
	st.mu.Lock()
	_, aliceKept := st.set.chats[aliceID]
	_, labelKept := st.set.labels["999"]
	n, dropped := len(st.set.chats), st.dropped
	st.mu.Unlock()
	if aliceKept || labelKept || n != maxLabelChats || dropped != 2 {
		t.Errorf("past the bounds: alice kept %t, label kept %t, %d chats, %d dropped", aliceKept, labelKept, n, dropped)
	}
}

// Another number linked on the same provider starts with no labels.
func TestLabelCacheIsTheNumbers(t *testing.T) {
	srv := newLabelServer()
	srv.label("1", "New customer", 0, waSyncAction.LabelEditAction_PREDEFINED)
	r := labelRig(t, srv)
	r.startPaired()
	if ls, err := r.p.Labels(ctxT(t)); err != nil || len(ls) != 1 {
		t.Fatalf("Labels = %v, %v", ls, err)
	}
	run, _ := r.p.current()
	r.p.mu.Lock()
	run.me = bobPN
	r.p.mu.Unlock()
	st := &r.p.labels
	st.mu.Lock()
	st.ownLocked(bobPN)
	n, primed := len(st.set.labels), st.primedOf != nil
	st.mu.Unlock()
	if n != 0 || primed {
		t.Errorf("another number's cache: %d labels, primed %t", n, primed)
	}
}
