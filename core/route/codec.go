package route

import (
	"encoding/binary"
	"errors"
	"math"
	"time"

	"github.com/wagate/wagate/core/store"
)

// The contact records' values (docs/storage.md). The dispatcher reads a chat's sticky
// record and inbound times before every send and rewrites two of them after it, so they
// are kept in a small binary layout rather than JSON (which was 5% of the dispatch
// path's CPU): a version byte 0x02, the time as 8 bytes of big-endian Unix nanoseconds
// (math.MinInt64 for the zero time), then, for the sticky record, the session name's
// bytes. Values written as JSON (version 0x01) are still read.
const codecBinary byte = 2

const zeroTime = math.MinInt64

func putTime(b []byte, t time.Time) []byte {
	n := int64(zeroTime)
	if !t.IsZero() {
		n = t.UnixNano()
	}
	return binary.BigEndian.AppendUint64(b, uint64(n))
}

func readTime(b []byte) (time.Time, error) {
	if len(b) < 8 {
		return time.Time{}, errors.New("route: contact value too short")
	}
	n := int64(binary.BigEndian.Uint64(b))
	if n == zeroTime {
		return time.Time{}, nil
	}
	return time.Unix(0, n).UTC(), nil
}

// contactCodec stores a Contact: 0x02, time, session.
type contactCodec struct{}

func (contactCodec) Encode(c Contact) ([]byte, error) {
	b := make([]byte, 0, 1+8+len(c.Session))
	b = putTime(append(b, codecBinary), c.At)
	return append(b, c.Session...), nil
}

func (contactCodec) Decode(b []byte) (Contact, error) {
	if len(b) > 0 && b[0] != codecBinary {
		return store.JSONCodec[Contact]{}.Decode(b)
	}
	if len(b) == 0 {
		return Contact{}, errors.New("route: empty contact value")
	}
	at, err := readTime(b[1:])
	if err != nil {
		return Contact{}, err
	}
	return Contact{Session: string(b[9:]), At: at}, nil
}

// timeCodec stores a time: 0x02, time.
type timeCodec struct{}

func (timeCodec) Encode(t time.Time) ([]byte, error) {
	return putTime(append(make([]byte, 0, 9), codecBinary), t), nil
}

func (timeCodec) Decode(b []byte) (time.Time, error) {
	if len(b) > 0 && b[0] != codecBinary {
		return store.JSONCodec[time.Time]{}.Decode(b)
	}
	if len(b) != 9 {
		return time.Time{}, errors.New("route: time value of the wrong size")
	}
	return readTime(b[1:])
}

var (
	_ store.Codec[Contact]   = contactCodec{}
	_ store.Codec[time.Time] = timeCodec{}
)
