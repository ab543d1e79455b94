package statesync

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// fakeMsg is a bucket message as the ordered consumer hands it over.
type fakeMsg struct {
	jetstream.Msg
	subj    string
	data    []byte
	hdr     nats.Header
	seq     uint64
	pending uint64
}

func (m fakeMsg) Subject() string      { return m.subj }
func (m fakeMsg) Data() []byte         { return m.data }
func (m fakeMsg) Headers() nats.Header { return m.hdr }
func (m fakeMsg) Metadata() (*jetstream.MsgMetadata, error) {
	md := &jetstream.MsgMetadata{NumPending: m.pending}
	md.Sequence.Stream = m.seq
	return md, nil
}

// TestReaderAppliesBatchWhole: the follower does not apply the first writes of an atomic
// batch before the rest has arrived, however they trickle in; a batch whose tail was
// overwritten before it was read is applied as far as it goes.
func TestReaderAppliesBatchWhole(t *testing.T) {
	url := startJS(t)
	n := startNode(t, url, t.TempDir(), Options{})
	// Stop the node's own follower: this test is the follower.
	n.st.cancel()
	<-n.st.done
	f := &feed{ch: make(chan jetstream.Msg, 8)}
	r := &reader{s: n.st}
	keys := []string{"ten/x", "key/x/k1", "ses/x/s1"}
	msg := func(i, of int, id string, seq, pending uint64) fakeMsg {
		h := nats.Header{}
		if id != "" {
			h.Set(hdrTxn, id+" "+itoa(i)+" "+itoa(of))
		}
		return fakeMsg{subj: subjectRoot + dataKey([]byte(keys[i])), data: []byte(id), hdr: h, seq: seq, pending: pending}
	}
	done := make(chan error, 1)
	go func() { done <- r.next(context.Background(), f) }()
	f.ch <- msg(0, 3, "b1", 100, 2)
	f.ch <- msg(1, 3, "b1", 101, 1)
	select {
	case err := <-done:
		t.Fatalf("the reader applied part of a batch (err %v): ten/x=%q ses/x/s1=%q", err, n.get("ten/x"), n.get("ses/x/s1"))
	case <-time.After(100 * time.Millisecond):
	}
	if n.get("ten/x") != "<none>" {
		t.Fatal("part of the batch is in the mirror")
	}
	f.ch <- msg(2, 3, "b1", 102, 0)
	must(t, <-done)
	for _, k := range keys {
		if got := n.get(k); got != "b1" {
			t.Errorf("%s = %q, want b1", k, got)
		}
	}
	// A batch whose last message was overwritten: the next message, of another
	// transaction, ends it.
	f.ch <- msg(0, 3, "b2", 103, 5)
	f.ch <- msg(1, 3, "b2", 104, 4)
	f.ch <- fakeMsg{subj: subjectRoot + dataKey([]byte("ses/x/s1")), data: []byte("plain"), hdr: nats.Header{}, seq: 106, pending: 0}
	must(t, r.next(context.Background(), f))
	for k, want := range map[string]string{"ten/x": "b2", "key/x/k1": "b2", "ses/x/s1": "plain"} {
		if got := n.get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if r.last != 106 || n.rev("ses/x/s1") != 106 {
		t.Errorf("position %d, ses/x/s1 at revision %d; want 106", r.last, n.rev("ses/x/s1"))
	}
}

func itoa(i int) string { return string(rune('0' + i)) }
