package queue

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/wagate/wagate/core/provider"
	"github.com/wagate/wagate/core/store"
)

// messageCodec stores message records in a compact binary layout behind the version
// byte 0x02, and still reads the JSON records (0x01, store.JSONCodec) that earlier
// versions wrote: a store written before the change is read as it is, and each record
// is rewritten in the new layout the next time it changes. Profiles of the send path
// put the record's JSON encoding (in the caller) and its decoding and encoding again at
// every status change (in the queue's single committer) at a fifth of the CPU of a
// message; this layout costs a few hundred nanoseconds and one string allocation.
//
// The layout, after the version byte, is the fields of Message in this order, each a
// uvarint length and bytes for strings, a uvarint for Attempts, one byte for the three
// bools (bit 0 PossibleDuplicate, 1 Inbound, 2 FromMe), and for times a uvarint length
// (0: the zero time) and time.Time's binary form:
//
//	ID Session ChatID Type Text ReplyTo Payload(JSON, length 0: nil) Status Reason
//	ProviderID Attempts NextAttemptAt flags IdempotencyKey Campaign QueuedAt
//	History(uvarint count+1, 0: nil; each Status At Reason) CreatedAt From Participant
//	Timestamp
//
// A record may end at any field boundary after CreatedAt: the fields after the end
// are zero. A field added later is appended at the end, so older records still read,
// and bytes after the last known field (a newer version's) are ignored.
type messageCodec struct{}

const codecMessageBinary byte = 2

var errShortRecord = errors.New("message record cut short")

// Encode implements store.Codec.
func (messageCodec) Encode(m Message) ([]byte, error) {
	return appendMessage(make([]byte, 0, 128+len(m.Text)+32*len(m.History)), m)
}

func appendMessage(b []byte, m Message) ([]byte, error) {
	b = append(b, codecMessageBinary)
	b = appendString(b, m.ID)
	b = appendString(b, m.Session)
	b = appendString(b, m.ChatID)
	b = appendString(b, string(m.Type))
	b = appendString(b, m.Text)
	b = appendString(b, m.ReplyTo)
	if m.Payload == nil {
		b = append(b, 0)
	} else {
		p, err := json.Marshal(m.Payload)
		if err != nil {
			return nil, fmt.Errorf("encoding the payload: %w", err)
		}
		b = appendString(b, string(p))
	}
	b = appendString(b, string(m.Status))
	b = appendString(b, m.Reason)
	b = appendString(b, m.ProviderID)
	b = binary.AppendUvarint(b, uint64(max(m.Attempts, 0)))
	var err error
	if b, err = appendTime(b, m.NextAttemptAt); err != nil {
		return nil, err
	}
	var flags byte
	if m.PossibleDuplicate {
		flags |= 1
	}
	if m.Inbound {
		flags |= 2
	}
	if m.FromMe {
		flags |= 4
	}
	b = append(b, flags)
	b = appendString(b, m.IdempotencyKey)
	b = appendString(b, m.Campaign)
	if b, err = appendTime(b, m.QueuedAt); err != nil {
		return nil, err
	}
	if m.History == nil {
		b = append(b, 0)
	} else {
		b = binary.AppendUvarint(b, uint64(len(m.History))+1)
	}
	for _, c := range m.History {
		b = appendString(b, string(c.Status))
		if b, err = appendTime(b, c.At); err != nil {
			return nil, err
		}
		b = appendString(b, c.Reason)
	}
	if b, err = appendTime(b, m.CreatedAt); err != nil {
		return nil, err
	}
	b = appendString(b, m.From)
	b = appendString(b, m.Participant)
	return appendTime(b, m.Timestamp)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendTime(b []byte, t time.Time) ([]byte, error) {
	if t.IsZero() {
		return append(b, 0), nil
	}
	n := len(b)
	b = append(b, 0) // the length, below: time's binary form is 15 or 16 bytes
	b, err := t.AppendBinary(b)
	if err != nil {
		return nil, fmt.Errorf("encoding time %v: %w", t, err)
	}
	b[n] = byte(len(b) - n - 1)
	return b, nil
}

// Decode implements store.Codec: binary records and the JSON ones of earlier versions.
func (messageCodec) Decode(b []byte) (Message, error) {
	if len(b) > 0 && b[0] == codecMessageBinary {
		return decodeMessage(b[1:])
	}
	return store.JSONCodec[Message]{}.Decode(b)
}

// msgReader reads the fields of a binary record. Strings are slices of one string
// holding the whole record (one allocation per record, not one per field).
type msgReader struct {
	s   string
	off int
	err error
}

func (r *msgReader) done() bool { return r.err != nil || r.off == len(r.s) }

func (r *msgReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	var x uint64
	var shift uint
	for i := 0; ; i++ {
		if r.off >= len(r.s) || i == binary.MaxVarintLen64 {
			r.err = errShortRecord
			return 0
		}
		c := r.s[r.off]
		r.off++
		if c < 0x80 {
			return x | uint64(c)<<shift
		}
		x |= uint64(c&0x7f) << shift
		shift += 7
	}
}

func (r *msgReader) str() string {
	n := r.uvarint()
	if r.err != nil {
		return ""
	}
	if n > uint64(len(r.s)-r.off) {
		r.err = errShortRecord
		return ""
	}
	v := r.s[r.off : r.off+int(n)]
	r.off += int(n)
	return v
}

func (r *msgReader) byte1() byte {
	if r.err != nil {
		return 0
	}
	if r.off >= len(r.s) {
		r.err = errShortRecord
		return 0
	}
	c := r.s[r.off]
	r.off++
	return c
}

func (r *msgReader) time() time.Time {
	raw := r.str()
	if r.err != nil || raw == "" {
		return time.Time{}
	}
	var t time.Time
	if err := t.UnmarshalBinary([]byte(raw)); err != nil {
		r.err = fmt.Errorf("decoding a time: %w", err)
	}
	return t
}

func decodeMessage(b []byte) (Message, error) {
	r := &msgReader{s: string(b)}
	var m Message
	m.ID = r.str()
	m.Session = r.str()
	m.ChatID = r.str()
	m.Type = provider.Kind(r.str())
	m.Text = r.str()
	m.ReplyTo = r.str()
	if p := r.str(); p != "" && r.err == nil {
		m.Payload = new(Payload)
		if err := json.Unmarshal([]byte(p), m.Payload); err != nil {
			return Message{}, fmt.Errorf("decoding the payload: %w", err)
		}
	}
	m.Status = Status(r.str())
	m.Reason = r.str()
	m.ProviderID = r.str()
	m.Attempts = int(r.uvarint())
	m.NextAttemptAt = r.time()
	flags := r.byte1()
	m.PossibleDuplicate, m.Inbound, m.FromMe = flags&1 != 0, flags&2 != 0, flags&4 != 0
	m.IdempotencyKey = r.str()
	m.Campaign = r.str()
	m.QueuedAt = r.time()
	if n := r.uvarint(); r.err == nil && n > 0 {
		if n-1 > uint64(len(r.s)) { // each change takes at least 3 bytes: a bound, not a count
			return Message{}, errShortRecord
		}
		m.History = make([]Change, n-1)
		for i := range m.History {
			m.History[i] = Change{Status: Status(r.str()), At: r.time(), Reason: r.str()}
		}
	}
	m.CreatedAt = r.time()
	// Fields from here on may be absent (records end at a field boundary; see
	// messageCodec): inbound messages' author and timestamp.
	if !r.done() {
		m.From = r.str()
	}
	if !r.done() {
		m.Participant = r.str()
	}
	if !r.done() {
		m.Timestamp = r.time()
	}
	if r.err != nil {
		return Message{}, r.err
	}
	return m, nil
}

// flagCodec stores the small fixed values of queue entries and chat index keys in the
// JSON codec's format, as before, from bytes built once: encoding them was a JSON
// marshal per key per message in the profile, for one of two values.
type flagCodec[T comparable] struct{ json store.JSONCodec[T] }

var (
	entryQueued  = mustEncode(store.JSONCodec[entry]{}, entry{})
	entrySending = mustEncode(store.JSONCodec[entry]{}, entry{Sending: true})
	emptyRecord  = mustEncode(store.JSONCodec[struct{}]{}, struct{}{})
)

func mustEncode[T any](c store.JSONCodec[T], v T) []byte {
	b, err := c.Encode(v)
	if err != nil {
		panic(err)
	}
	return b
}

// codecEntryClaim is the version byte of a queue entry holding a claim (entry.claim):
// 0x02, the attempt count as a uvarint, then the claim's time as message records store
// times (a length byte and time.Time's binary form).
const codecEntryClaim byte = 2

// Encode implements store.Codec. The bytes returned are shared: Badger does not change
// the values it is given.
func (c flagCodec[T]) Encode(v T) ([]byte, error) {
	switch x := any(v).(type) {
	case entry:
		switch {
		case x.claim():
			b := binary.AppendUvarint([]byte{codecEntryClaim}, uint64(max(x.Attempts, 0)))
			return appendTime(b, x.At)
		case x.Sending:
			return entrySending, nil
		}
		return entryQueued, nil
	case struct{}:
		return emptyRecord, nil
	}
	return c.json.Encode(v)
}

// Decode implements store.Codec.
func (c flagCodec[T]) Decode(b []byte) (T, error) {
	var zero T
	switch any(zero).(type) {
	case entry:
		if string(b) == string(entryQueued) {
			return zero, nil
		}
		if string(b) == string(entrySending) {
			return any(entry{Sending: true}).(T), nil
		}
		if len(b) > 0 && b[0] == codecEntryClaim {
			r := &msgReader{s: string(b[1:])}
			e := entry{Sending: true, Attempts: int(r.uvarint())}
			e.At = r.time()
			if r.err == nil && e.At.IsZero() {
				r.err = errShortRecord
			}
			if r.err != nil {
				return zero, fmt.Errorf("decoding a queue entry: %w", r.err)
			}
			return any(e).(T), nil
		}
	case struct{}:
		if string(b) == string(emptyRecord) {
			return zero, nil
		}
	}
	return c.json.Decode(b)
}
