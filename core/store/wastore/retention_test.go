package wastore

import (
	"context"
	"testing"
	"time"

	wmstore "go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/types"
)

// TestSweepEventBuffersCoversEverySession: the gateway-wide sweep finds the buffers of
// every session of every tenant (whatsmeow's own cleanup runs per connected client
// only), deletes the events past 14 days at the given time, in batches, and keeps the
// younger ones.
func TestSweepEventBuffersCoversEverySession(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, t.TempDir())
	defer db.Close()
	now := time.Now()
	type sess struct{ tenant, name string }
	var devices []*wmstore.Device
	var conts []*Container
	for i, s := range []sess{{"acme", "main"}, {"acme", "main2"}, {"acme2", "main"}} {
		c := newContainer(t, db, s.tenant, s.name)
		conts = append(conts, c)
		devices = append(devices, pairedDevice(t, c, types.NewADJID("1555999000"+string(rune('1'+i)), 0, 1)))
	}
	put := func(i, n int, age time.Duration) [32]byte {
		h := [32]byte{byte(n), byte(n >> 8), byte(i)}
		conts[i].now = func() time.Time { return now.Add(-age) }
		must(t, devices[i].EventBuffer.PutBufferedEvent(ctx, h, []byte{1}, now))
		return h
	}
	var old, young [][2]int // (session index, n)
	for n := range deleteBatch + 10 {
		put(0, n, 15*24*time.Hour)
		old = append(old, [2]int{0, n})
	}
	put(1, 1, 20*24*time.Hour)
	old = append(old, [2]int{1, 1})
	put(2, 1, 30*24*time.Hour)
	old = append(old, [2]int{2, 1})
	put(0, 5000, 13*24*time.Hour)
	young = append(young, [2]int{0, 5000})
	put(2, 2, time.Hour)
	young = append(young, [2]int{2, 2})

	n, err := SweepEventBuffers(ctx, db, now)
	if err != nil {
		t.Fatal(err)
	}
	if n != len(old) {
		t.Errorf("swept %d events, want %d", n, len(old))
	}
	get := func(x [2]int) *wmstore.BufferedEvent {
		ev, err := devices[x[0]].EventBuffer.GetBufferedEvent(ctx, [32]byte{byte(x[1]), byte(x[1] >> 8), byte(x[0])})
		must(t, err)
		return ev
	}
	for _, x := range old {
		if get(x) != nil {
			t.Fatalf("old event %v survived", x)
		}
	}
	for _, x := range young {
		if get(x) == nil {
			t.Errorf("young event %v deleted", x)
		}
	}
	if n, err := SweepEventBuffers(ctx, db, now); n != 0 || err != nil {
		t.Errorf("second sweep: %d, %v; want 0", n, err)
	}
	// 14 days later the young ones go too.
	if n, err := SweepEventBuffers(ctx, db, now.Add(14*24*time.Hour)); n != 2 || err != nil {
		t.Errorf("sweep 14 days later: %d, %v; want 2", n, err)
	}
}
