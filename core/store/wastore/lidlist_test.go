package wastore

import (
	"context"
	"fmt"
	"testing"

	wmstore "go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/types"

	"github.com/wagate/wagate/core/store"
)

// List pages through the LID map in LID order, Count counts it, and neither sees
// another session's map.
func TestLIDMapListAndCount(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(store.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	c, err := New(db, "acme", "main", nil)
	if err != nil {
		t.Fatal(err)
	}
	other, err := New(db, "acme", "main2", nil)
	if err != nil {
		t.Fatal(err)
	}
	var pairs []wmstore.LIDMapping
	for i := 5; i >= 1; i-- {
		pairs = append(pairs, wmstore.LIDMapping{
			LID: types.JID{User: fmt.Sprintf("10000000000000%d", i), Server: types.HiddenUserServer},
			PN:  types.JID{User: fmt.Sprintf("1555000000%d", i), Server: types.DefaultUserServer},
		})
	}
	if err := c.LIDMap.PutManyLIDMappings(ctx, pairs); err != nil {
		t.Fatal(err)
	}
	if err := other.LIDMap.PutLIDMapping(ctx, types.JID{User: "100000000000009", Server: types.HiddenUserServer},
		types.JID{User: "15550000009", Server: types.DefaultUserServer}); err != nil {
		t.Fatal(err)
	}
	if n, err := c.LIDMap.Count(ctx); err != nil || n != 5 {
		t.Fatalf("Count = %d, %v; want 5", n, err)
	}
	all, err := c.LIDMap.List(ctx, 0, 100)
	if err != nil || len(all) != 5 {
		t.Fatalf("List = %v, %v", all, err)
	}
	for i, mp := range all {
		if want := fmt.Sprintf("10000000000000%d", i+1); mp.LID.User != want || mp.PN.User != fmt.Sprintf("1555000000%d", i+1) ||
			mp.LID.Server != types.HiddenUserServer || mp.PN.Server != types.DefaultUserServer {
			t.Errorf("pair %d = %v/%v, want LID %s", i, mp.LID, mp.PN, want)
		}
	}
	page, err := c.LIDMap.List(ctx, 3, 10)
	if err != nil || len(page) != 2 || page[0].LID.User != "100000000000004" {
		t.Errorf("List(3, 10) = %v, %v", page, err)
	}
	if page, _ := c.LIDMap.List(ctx, 1, 2); len(page) != 2 || page[1].LID.User != "100000000000003" {
		t.Errorf("List(1, 2) = %v", page)
	}
	if page, _ := c.LIDMap.List(ctx, 9, 2); len(page) != 0 {
		t.Errorf("List past the end = %v", page)
	}
	// A remap replaces the pair: still five.
	if err := c.LIDMap.PutLIDMapping(ctx, types.JID{User: "100000000000007", Server: types.HiddenUserServer}, pairs[0].PN); err != nil {
		t.Fatal(err)
	}
	if n, _ := c.LIDMap.Count(ctx); n != 5 {
		t.Errorf("Count after a remap = %d, want 5", n)
	}
}
