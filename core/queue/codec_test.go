package queue

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/provider"
	"github.com/wagate/wagate/core/store"
)

func codecSamples() map[string]Message {
	at := time.Date(2026, 12, 7, 9, 30, 0, 123456789, time.UTC)
	return map[string]Message{
		"queued text": {ID: "01JX", Session: "main", ChatID: "15551234567@c.us", Type: provider.KindText, Text: "hello",
			Status: StatusQueued, QueuedAt: at, CreatedAt: at, History: []Change{{Status: StatusQueued, At: at}}},
		"every field": {ID: "01JY", Session: "s/1", ChatID: "123@g.us", Type: provider.KindImage, Text: "caption ✓ \x00 \"q\"",
			ReplyTo: "ABC", Payload: &Payload{Media: &provider.Media{Mimetype: "image/png", Data: []byte{1, 2, 3}},
				Mentions: []chatid.ID{chatid.MustParse("15550001111")}, Forwarded: true},
			Status: StatusFailed, Reason: "banned", ProviderID: "3EB0", Attempts: 300, NextAttemptAt: at.Add(time.Minute),
			PossibleDuplicate: true, IdempotencyKey: "k-1", Campaign: "cmp_1", QueuedAt: at,
			History: []Change{{Status: StatusQueued, At: at}, {Status: StatusSending, At: at.Add(time.Second)},
				{Status: StatusFailed, At: at.Add(2 * time.Second), Reason: "banned"}},
			CreatedAt: at, Inbound: true, From: "1555@c.us", Participant: "1666@c.us", FromMe: true,
			Timestamp: at.In(time.FixedZone("", 2*3600))},
		"nil history":   {ID: "x", Status: StatusQueued},
		"empty history": {ID: "x", History: []Change{}},
		"long text":     {ID: "y", Text: strings.Repeat("ü", 70000), CreatedAt: at},
	}
}

// TestMessageCodecRoundTrip: what the binary codec writes reads back equal, field for
// field, as the JSON codec's records did.
func TestMessageCodecRoundTrip(t *testing.T) {
	for name, m := range codecSamples() {
		b, err := messageCodec{}.Encode(m)
		if err != nil {
			t.Fatalf("%s: encode: %v", name, err)
		}
		if b[0] != codecMessageBinary {
			t.Errorf("%s: version byte %#x, want %#x", name, b[0], codecMessageBinary)
		}
		got, err := messageCodec{}.Decode(b)
		if err != nil {
			t.Fatalf("%s: decode: %v", name, err)
		}
		if !got.Timestamp.Equal(m.Timestamp) {
			t.Errorf("%s: timestamp %v, want %v", name, got.Timestamp, m.Timestamp)
		}
		_, off1 := got.Timestamp.Zone()
		_, off2 := m.Timestamp.Zone()
		if off1 != off2 {
			t.Errorf("%s: timestamp offset %d, want %d", name, off1, off2)
		}
		got.Timestamp, m.Timestamp = time.Time{}, time.Time{}
		if !reflect.DeepEqual(got, m) {
			t.Errorf("%s: round trip\n got %+v\nwant %+v", name, got, m)
		}
	}
}

// TestMessageCodecReadsJSON: records written by earlier versions (JSON codec, 0x01)
// read as they did, so a store upgraded in place keeps its messages.
func TestMessageCodecReadsJSON(t *testing.T) {
	for name, m := range codecSamples() {
		old, err := store.JSONCodec[Message]{}.Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		want, err := store.JSONCodec[Message]{}.Decode(old)
		if err != nil {
			t.Fatal(err)
		}
		got, err := messageCodec{}.Decode(old)
		if err != nil {
			t.Fatalf("%s: decoding a JSON record: %v", name, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: JSON record\n got %+v\nwant %+v", name, got, want)
		}
	}
}

// TestMessageCodecBadRecords: cut or garbled records are errors, never a panic; a
// record ending after CreatedAt (a field boundary) reads with the rest zero, and bytes
// after the last known field are ignored.
func TestMessageCodecBadRecords(t *testing.T) {
	m := codecSamples()["every field"]
	b, _ := messageCodec{}.Encode(m)
	for n := 1; n < len(b); n++ {
		_, _ = messageCodec{}.Decode(b[:n]) // must not panic
	}
	if _, err := (messageCodec{}).Decode(b[:10]); err == nil {
		t.Error("a record cut after 10 bytes decoded without error")
	}
	if _, err := (messageCodec{}).Decode([]byte{9, 1, 2}); err == nil {
		t.Error("an unknown version byte decoded without error")
	}
	if _, err := (messageCodec{}).Decode([]byte{codecMessageBinary, 0xff, 0xff, 0xff}); err == nil {
		t.Error("a garbled length decoded without error")
	}
	got, err := messageCodec{}.Decode(append(append([]byte{}, b...), 7, 7, 7))
	if err != nil || got.ID != m.ID || got.Participant != m.Participant {
		t.Errorf("a record with trailing fields of a newer version: %+v, %v", got, err)
	}
	short := m
	short.From, short.Participant, short.Timestamp = "", "", time.Time{}
	sb, _ := messageCodec{}.Encode(short)
	sb = sb[:len(sb)-3] // From, Participant and Timestamp absent (one byte each when empty)
	got, err = messageCodec{}.Decode(sb)
	if err != nil || !reflect.DeepEqual(got, short) {
		t.Errorf("a record ending after CreatedAt: %+v, %v", got, err)
	}
}

func BenchmarkMessageCodec(b *testing.B) {
	m := codecSamples()["queued text"]
	for _, c := range []struct {
		name  string
		codec store.Codec[Message]
	}{{"json", store.JSONCodec[Message]{}}, {"binary", messageCodec{}}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				v, _ := c.codec.Encode(m)
				if _, err := c.codec.Decode(v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestFlagCodec: queue entries and chat index values keep the JSON codec's bytes.
func TestFlagCodec(t *testing.T) {
	for _, e := range []entry{{}, {Sending: true}} {
		want, _ := store.JSONCodec[entry]{}.Encode(e)
		got, _ := flagCodec[entry]{}.Encode(e)
		if string(got) != string(want) {
			t.Errorf("entry %+v: %q, want %q", e, got, want)
		}
		back, err := flagCodec[entry]{}.Decode(want)
		if err != nil || back != e {
			t.Errorf("entry %+v read back as %+v, %v", e, back, err)
		}
	}
	if back, err := (flagCodec[entry]{}).Decode([]byte("\x01{\"s\": true}")); err != nil || !back.Sending {
		t.Errorf("entry written with other spacing: %+v, %v", back, err)
	}
	want, _ := store.JSONCodec[struct{}]{}.Encode(struct{}{})
	if got, _ := (flagCodec[struct{}]{}).Encode(struct{}{}); string(got) != string(want) {
		t.Errorf("chat index value %q, want %q", got, want)
	}
}

// TestOldJSONRecordsInAStore: a store written by a version before the binary codec
// (JSON message records) opens, its waiting message counts and reads as written, and
// its first change rewrites it in the binary layout.
func TestOldJSONRecordsInAStore(t *testing.T) {
	dir := t.TempDir()
	db, err := store.Open(store.Options{Dir: dir, SyncWrites: true})
	if err != nil {
		t.Fatal(err)
	}
	m := codecSamples()["queued text"]
	m.ID, m.Session = "msg_01OLD", "s"
	old := store.Table[Message]{Prefix: store.PrefixMessage, Codec: store.JSONCodec[Message]{}}
	if err := db.Update(func(txn *badger.Txn) error {
		if err := old.Put(txn, m, "acme", m.ID); err != nil {
			return err
		}
		return store.Table[entry]{Prefix: store.PrefixQueue, Codec: store.JSONCodec[entry]{}}.Put(txn, entry{}, "acme", "s", m.ID)
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()

	db, q := openQ(t, dir, Options{})
	defer db.Close()
	defer q.Close()
	if n, _ := q.Depth("acme", "s"); n != 1 {
		t.Fatalf("waiting after reopen: %d, want 1", n)
	}
	got, err := q.Get(context.Background(), "acme", m.ID)
	if err != nil || !reflect.DeepEqual(got, m) {
		t.Fatalf("old record read as %+v, %v; want %+v", got, err, m)
	}
	if err := q.change("acme", m.ID, func(m *Message) (bool, error) { m.Reason = "touched"; return false, nil }); err != nil {
		t.Fatal(err)
	}
	err = db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(store.Key(store.PrefixMessage, "acme", m.ID))
		if err != nil {
			return err
		}
		return item.Value(func(b []byte) error {
			if b[0] != codecMessageBinary {
				t.Errorf("record after a change starts with %#x, want the binary layout's %#x", b[0], codecMessageBinary)
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := q.Get(context.Background(), "acme", m.ID); got.Reason != "touched" || got.Text != m.Text {
		t.Errorf("after the change: %+v", got)
	}
}
