package session

import (
	"testing"
	"unsafe"
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
