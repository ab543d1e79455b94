package audience

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/event"
)

func TestAudienceOptOuts(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	var events []event.Envelope
	s, db := newTestService(t, Options{Publish: func(e event.Envelope) { mu.Lock(); events = append(events, e); mu.Unlock() }})
	a, b := chatid.MustParse("15550000001"), chatid.MustParse("123456789012345@lid")
	n, err := s.OptOut(ctx, "acme", []chatid.ID{a, b, a}, ReasonAPI, "ignored")
	if err != nil || n != 2 {
		t.Fatalf("OptOut = %d, %v; want 2 (a chat twice counts once)", n, err)
	}
	if n, err := s.OptOut(ctx, "acme", []chatid.ID{a}, ReasonStopWord, "sales"); err != nil || n != 0 {
		t.Errorf("again = %d, %v; want 0", n, err)
	}
	o, err := s.GetOptOut(ctx, "acme", a)
	if err != nil || o.Reason != ReasonAPI || o.Session != "" || o.At.IsZero() {
		t.Errorf("GetOptOut = %+v, %v; the first entry is kept, without a session", o, err)
	}
	if _, err := s.GetOptOut(ctx, "acme2", a); !errors.Is(err, ErrOptOutNotFound) {
		t.Errorf("other tenant: %v", err)
	}
	if len(events) != 2 || events[0].Event != event.OptOutAdded || events[0].Tenant != "acme" {
		t.Fatalf("events %+v", events)
	}
	var payload map[string]any
	_ = json.Unmarshal(events[0].Payload, &payload)
	if payload["chatId"] != "15550000001@c.us" || payload["reason"] != "api" {
		t.Errorf("payload %s", events[0].Payload)
	}
	c := chatid.MustParse("15550000003")
	if _, err := s.OptOut(ctx, "acme", []chatid.ID{c}, ReasonStopWord, "sales"); err != nil {
		t.Fatal(err)
	}
	if o, _ := s.GetOptOut(ctx, "acme", c); o.Session != "sales" || events[2].Session != "sales" {
		t.Errorf("stop word opt-out %+v, event session %q", o, events[2].Session)
	}
	if _, err := s.OptOut(ctx, "acme", []chatid.ID{chatid.MustParse("120363012345678901@g.us")}, ReasonAPI, ""); !errors.Is(err, ErrInvalidChat) {
		t.Errorf("group: %v", err)
	}

	err = db.View(func(txn *badger.Txn) error {
		for _, tc := range []struct {
			tenant string
			chat   chatid.ID
			want   bool
		}{{"acme", a, true}, {"acme", chatid.MustParse("15550000009"), false}, {"acme2", a, false}, {"acme", chatid.ID{}, false}} {
			got, err := s.OptedOut(txn, tc.tenant, tc.chat)
			if err != nil || got != tc.want {
				t.Errorf("OptedOut(%s, %s) = %v, %v", tc.tenant, tc.chat, got, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	all, next, err := s.OptOuts(ctx, "acme", "", 2)
	if err != nil || len(all) != 2 || next != all[1].ChatID.String() {
		t.Fatalf("page 1 %v %q %v", all, next, err)
	}
	rest, next, err := s.OptOuts(ctx, "acme", next, 2)
	if err != nil || len(rest) != 1 || next != "" {
		t.Fatalf("page 2 %v %q %v", rest, next, err)
	}
	if _, _, err := s.OptOuts(ctx, "acme", "nope", 2); !errors.Is(err, ErrInvalidCursor) {
		t.Errorf("bad cursor %v", err)
	}

	if err := s.RemoveOptOut(ctx, "acme", a); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveOptOut(ctx, "acme", a); !errors.Is(err, ErrOptOutNotFound) {
		t.Errorf("second remove %v", err)
	}
	if _, err := s.GetOptOut(ctx, "acme", a); !errors.Is(err, ErrOptOutNotFound) {
		t.Errorf("after remove %v", err)
	}
}

func TestAudienceOptOutMany(t *testing.T) {
	s, _ := newTestService(t, Options{})
	var chats []chatid.ID
	for i := range 2500 {
		chats = append(chats, chatid.ID{Local: fmt.Sprintf("1555%07d", i), Server: chatid.User})
	}
	n, err := s.OptOut(context.Background(), "acme", chats, ReasonAPI, "")
	if err != nil || n != 2500 {
		t.Errorf("OptOut = %d, %v", n, err)
	}
}
