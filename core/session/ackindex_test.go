package session

import (
	"fmt"
	"testing"
	"unsafe"

	"github.com/wagate/wagate/core/provider"
)

// TestAckIndexCopiesIDs: the ids the index keeps are copies, not slices of the caller's
// strings: a message id sliced out of a whole decoded record (core/queue's codec) would
// otherwise keep the record in memory for as long as the id is indexed.
func TestAckIndexCopiesIDs(t *testing.T) {
	record := "msg_01ABC|3EB0FFFF|the rest of a large decoded record ..."
	msgID, providerID := record[:9], record[10:18]
	var a ackIndex
	a.record(providerID, msgID)
	for k, v := range a.ids {
		if k != providerID || v != msgID {
			t.Fatalf("indexed %q -> %q, want %q -> %q", k, v, providerID, msgID)
		}
		base, end := uintptr(unsafe.Pointer(unsafe.StringData(record))), uintptr(unsafe.Pointer(unsafe.StringData(record)))+uintptr(len(record))
		for _, s := range []string{k, v, a.order[0]} {
			if p := uintptr(unsafe.Pointer(unsafe.StringData(s))); p >= base && p < end {
				t.Errorf("%q shares the memory of the record it came from", s)
			}
		}
	}
}

// TestAckIDLateReceipt: a receipt of a send the in-memory index has forgotten (more
// than maxAckIDs sends ago) is found through Options.AckLookup (the store's provider id
// index, core/queue); a recent one is found in memory without asking the store; an
// unknown one waits in pending and is given to record when its send is recorded.
func TestAckIDLateReceipt(t *testing.T) {
	store := map[string]string{}
	asked := 0
	m := &Manager{opts: Options{AckLookup: func(tenant, session, providerID string) (string, bool) {
		asked++
		if tenant != "acme" || session != "s1" {
			t.Errorf("AckLookup(%s, %s, %s): wrong session", tenant, session, providerID)
		}
		id, ok := store[providerID]
		return id, ok
	}}}
	l := &live{m: m, tenant: "acme", name: "s1"}
	for i := range maxAckIDs + 1 {
		pid, id := fmt.Sprint("P", i), fmt.Sprint("msg_", i)
		store[pid] = id // the dispatcher writes it when it records the send
		l.acks.record(pid, id)
	}
	if _, ok := l.acks.known("P0"); ok {
		t.Fatalf("the index still has the first of %d sends; the test needs it forgotten", maxAckIDs+1)
	}
	if id, ok := l.ackID(provider.AckEvent{ProviderID: "P0", Ack: provider.AckRead}); !ok || id != "msg_0" {
		t.Errorf("late receipt: %q, %v; want msg_0 from the store", id, ok)
	}
	if asked != 1 {
		t.Errorf("the store was asked %d times for a late receipt, want 1", asked)
	}
	asked = 0
	if id, ok := l.ackID(provider.AckEvent{ProviderID: fmt.Sprint("P", maxAckIDs), Ack: provider.AckRead}); !ok || id != fmt.Sprint("msg_", maxAckIDs) || asked != 0 {
		t.Errorf("recent receipt: %q, %v, store asked %d times; want it from memory", id, ok, asked)
	}
	early := provider.AckEvent{ProviderID: "P-early", Ack: provider.AckDelivered}
	if id, ok := l.ackID(early); ok {
		t.Errorf("unknown receipt found as %q", id)
	}
	if got := l.acks.record("P-early", "msg_early"); len(got) != 1 || got[0] != early {
		t.Errorf("record of the early receipt's send returned %v, want the receipt", got)
	}

	// Without a store lookup, the forgotten send's receipt is not found (and waits).
	l2 := &live{m: &Manager{}, tenant: "acme", name: "s1"}
	for i := range maxAckIDs + 1 {
		l2.acks.record(fmt.Sprint("P", i), fmt.Sprint("msg_", i))
	}
	if id, ok := l2.ackID(provider.AckEvent{ProviderID: "P0"}); ok {
		t.Errorf("without AckLookup the forgotten send was found as %q", id)
	}
}
