package policy

import (
	"encoding/binary"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/wagate/wagate/core/event"
)

func ms(v int64) time.Time { return time.UnixMilli(v).UTC() }

func TestABIRoundTrip(t *testing.T) {
	msg := Message{ID: "msg_01", Tenant: "acme", Session: "main", ChatID: "4915@c.us", Kind: "image",
		Text: "caption ✓ ünïcode", Attempts: 2, CreatedAt: ms(1_700_000_000_123)}
	cands := []Candidate{
		{Session: "a", Provider: "sandbox", State: "WORKING", QueueDepth: 7, SentMinute: 1, SentHour: 2, SentDay: 3,
			LinkedAt: ms(1_600_000_000_000), LastContact: ms(1_700_000_000_000), LastSentAt: ms(1_700_000_000_001)},
		{Session: "b", Provider: "cloudapi", State: "STARTING"},
		{},
	}
	now := ms(1_700_000_000_999)
	t.Run("route", func(t *testing.T) {
		in := RouteInput{Now: now, Message: msg, Candidates: cands}
		got, err := DecodeABIInput(AppendRouteInput(nil, &in))
		if err != nil || got.Hook != HookRoute || !reflect.DeepEqual(got.Route(), in) {
			t.Fatalf("got %+v, %v; want %+v", got.Route(), err, in)
		}
	})
	t.Run("route without candidates", func(t *testing.T) {
		in := RouteInput{Now: now, Message: msg}
		b := AppendRouteInput(nil, &in)
		got, err := DecodeABIInput(b)
		if err != nil || !reflect.DeepEqual(got.Route(), in) {
			t.Fatalf("got %+v, %v", got.Route(), err)
		}
	})
	t.Run("failover without candidates", func(t *testing.T) {
		in := FailoverInput{Now: now, Message: msg, Session: cands[1], Attempt: 1}
		got, err := DecodeABIInput(AppendFailoverInput(nil, &in))
		if err != nil || !reflect.DeepEqual(got.Failover(), in) {
			t.Fatalf("got %+v, %v; want %+v", got.Failover(), err, in)
		}
	})
	t.Run("failover", func(t *testing.T) {
		in := FailoverInput{Now: now, Message: msg, Session: cands[0], Attempt: 3, Candidates: cands[1:],
			Error: Error{Code: "timeout", Message: "no answer in 30s", Retryable: true}}
		got, err := DecodeABIInput(AppendFailoverInput(nil, &in))
		if err != nil || got.Hook != HookFailover || !reflect.DeepEqual(got.Failover(), in) {
			t.Fatalf("got %+v, %v; want %+v", got.Failover(), err, in)
		}
	})
	t.Run("rate", func(t *testing.T) {
		in := RateInput{Now: now, Message: msg, Session: cands[0]}
		b := AppendRateInput(nil, &in)
		if n := binary.LittleEndian.Uint32(b[offCandidateCount:]); n != 0 {
			t.Fatalf("rate input has %d candidates, want 0", n)
		}
		if off := binary.LittleEndian.Uint32(b[offSubject:]); off != ABIHeaderSize {
			t.Fatalf("rate input's subject at %d, want %d", off, ABIHeaderSize)
		}
		got, err := DecodeABIInput(b)
		if err != nil || got.Hook != HookRate || !reflect.DeepEqual(got.Rate(), in) {
			t.Fatalf("got %+v, %v; want %+v", got.Rate(), err, in)
		}
	})
	t.Run("appends after existing bytes", func(t *testing.T) {
		in := RouteInput{Now: now, Message: msg, Candidates: cands}
		prefix := []byte("xyz")
		b := AppendRouteInput(prefix, &in)
		if string(b[:3]) != "xyz" {
			t.Fatal("prefix overwritten")
		}
		if got, err := DecodeABIInput(b[3:]); err != nil || !reflect.DeepEqual(got.Route(), in) {
			t.Fatalf("got %+v, %v", got.Route(), err)
		}
	})
}

func TestABIEncodeAllocs(t *testing.T) {
	in := exampleRouteInput()
	buf := make([]byte, 0, 4096)
	if n := testing.AllocsPerRun(100, func() { buf = AppendRouteInput(buf[:0], &in) }); n != 0 {
		t.Errorf("AppendRouteInput into a large enough buffer: %v allocs, want 0", n)
	}
}

func TestABIDecodeMalformed(t *testing.T) {
	good := exampleRouteInput()
	base := AppendRouteInput(nil, &good)
	mutate := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), base...)) }
	le := binary.LittleEndian
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"short", base[:100]},
		{"version", mutate(func(b []byte) []byte { le.PutUint32(b[0:], 2); return b })},
		{"hook 0", mutate(func(b []byte) []byte { le.PutUint32(b[4:], 0); return b })},
		{"hook transform", mutate(func(b []byte) []byte { le.PutUint32(b[4:], 4); return b })},
		{"small header_size", mutate(func(b []byte) []byte { le.PutUint32(b[16:], 64); return b })},
		{"small candidate_size", mutate(func(b []byte) []byte { le.PutUint32(b[20:], 32); return b })},
		{"count overruns", mutate(func(b []byte) []byte { le.PutUint32(b[24:], 5); return b })},
		{"string overruns", mutate(func(b []byte) []byte { le.PutUint32(b[offMsgText:], 10_000); return b })},
		{"string length overruns", mutate(func(b []byte) []byte { le.PutUint32(b[offMsgText+4:], 1<<31); return b })},
		{"not UTF-8", mutate(func(b []byte) []byte { b[len(b)-1] = 0xff; return b })},
		{"route with a subject", mutate(func(b []byte) []byte { le.PutUint32(b[offSubject:], 128); return b })},
		{"subject overruns", mutate(func(b []byte) []byte { le.PutUint32(b[4:], 3); le.PutUint32(b[offSubject:], 300); return b })},
		{"rate without subject", mutate(func(b []byte) []byte { le.PutUint32(b[4:], 3); return b })},
	} {
		if _, err := DecodeABIInput(tc.b); !errors.Is(err, ErrABIInput) {
			t.Errorf("%s: err = %v, want ErrABIInput", tc.name, err)
		}
	}
}

// mem is a guest memory for result decoding: offset 0 is unusable, as in a real guest.
type mem []byte

func (m mem) Read(off, n uint32) ([]byte, bool) {
	if uint64(off)+uint64(n) > uint64(len(m)) {
		return nil, false
	}
	return m[off : off+n], true
}

func TestABIResults(t *testing.T) {
	m := make(mem, 4096)
	copy(m[100:], "no_cloud_number")
	copy(m[200:], "\xff\xfe")
	copy(m[1000:], strings.Repeat("r", 300))
	ev := event.Envelope{ID: "evt_1", Timestamp: 5, Event: "message", Session: "s", Tenant: "acme", Payload: []byte(`{"a":1}`)}
	evJSON := `{"id":"evt_1","timestamp":5,"event":"message","session":"s","tenant":"acme","payload":{"a":1}}`
	copy(m[2000:], evJSON)
	copy(m[3000:], `{"id":`)
	cands := []Candidate{{Session: "s1"}, {Session: "s2"}}

	t.Run("route", func(t *testing.T) {
		in := RouteInput{Candidates: cands}
		for _, tc := range []struct {
			v    int32
			want string
			err  error
		}{
			{PackRoute(-1), "", nil}, {PackRoute(0), "s1", nil}, {1, "s2", nil},
			{2, "", ErrBadOutput}, {1 << 30, "", ErrBadOutput}, {-2, "", &GuestError{}}, {-7, "", &GuestError{}},
		} {
			d, err := DecodeRouteResult(tc.v, &in)
			if d.Session != tc.want || !matchErr(err, tc.err) {
				t.Errorf("%d: got %q, %v; want %q, %v", tc.v, d.Session, err, tc.want, tc.err)
			}
		}
	})
	t.Run("failover", func(t *testing.T) {
		in := FailoverInput{Candidates: cands}
		for _, tc := range []struct {
			name string
			v    int64
			want FailoverDecision
			err  error
		}{
			{"no opinion", 0, FailoverDecision{}, nil},
			{"no opinion with payload", 5, FailoverDecision{}, ErrBadOutput},
			{"retry", PackRetry(1500 * time.Millisecond), FailoverDecision{Action: FailoverRetry, Delay: 1500 * time.Millisecond}, nil},
			{"retry now", PackRetry(0), FailoverDecision{Action: FailoverRetry}, nil},
			{"retry too late", PackRetry(25 * time.Hour), FailoverDecision{}, ErrBadOutput},
			{"reroute", PackReroute(1), FailoverDecision{Action: FailoverReroute, Session: "s2"}, nil},
			{"reroute out of range", PackReroute(2), FailoverDecision{}, ErrBadOutput},
			{"fail with reason", PackFail(100, 15), FailoverDecision{Action: FailoverFail, Reason: "no_cloud_number"}, nil},
			{"fail default reason", PackFail(0, 0), FailoverDecision{Action: FailoverFail}, nil},
			{"fail reason outside memory", PackFail(4090, 100), FailoverDecision{}, ErrBadOutput},
			{"fail reason too long", PackFail(1000, 300), FailoverDecision{}, ErrBadOutput},
			{"fail reason not UTF-8", PackFail(200, 2), FailoverDecision{}, ErrBadOutput},
			{"unknown action", pack(4, 0), FailoverDecision{}, ErrBadOutput},
			{"guest error", -1, FailoverDecision{}, &GuestError{}},
		} {
			d, err := DecodeFailoverResult(tc.v, &in, m)
			if !matchErr(err, tc.err) || (tc.err == nil && d != tc.want) {
				t.Errorf("%s: got %+v, %v; want %+v, %v", tc.name, d, err, tc.want, tc.err)
			}
		}
	})
	t.Run("rate", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			v    int64
			want RateDecision
			err  error
		}{
			{"no opinion", 0, RateDecision{}, nil},
			{"allow", PackAllow(), RateDecision{Action: RateAllow}, nil},
			{"allow with payload", PackAllow() | 1, RateDecision{}, ErrBadOutput},
			{"delay", PackDelay(time.Second), RateDecision{Action: RateDelay, Delay: time.Second}, nil},
			{"delay zero", PackDelay(0), RateDecision{}, ErrBadOutput},
			{"reject", PackReject(100, 8), RateDecision{Action: RateReject, Reason: "no_cloud"}, nil},
			{"unknown action", pack(0x7f, 0), RateDecision{}, ErrBadOutput},
			{"guest error", pack(0x80, 0), RateDecision{}, &GuestError{}},
		} {
			d, err := DecodeRateResult(tc.v, m)
			if !matchErr(err, tc.err) || (tc.err == nil && d != tc.want) {
				t.Errorf("%s: got %+v, %v; want %+v, %v", tc.name, d, err, tc.want, tc.err)
			}
		}
	})
	t.Run("transform", func(t *testing.T) {
		r, err := DecodeTransformResult(PackTransform(2000, uint32(len(evJSON))), m)
		if err != nil || r.Drop || !reflect.DeepEqual(r.Event, ev) {
			t.Errorf("event: got %+v, %v", r, err)
		}
		if r, err := DecodeTransformResult(0, m); err != nil || !r.Drop {
			t.Errorf("0: got %+v, %v; want drop", r, err)
		}
		for name, v := range map[string]int64{
			"null pointer": PackTransform(0, 10), "empty": PackTransform(2000, 0),
			"outside memory": PackTransform(4000, 200), "too big": PackTransform(1, MaxTransformOutput+1),
			"not JSON": PackTransform(3000, 6),
		} {
			if _, err := DecodeTransformResult(v, m); !errors.Is(err, ErrBadOutput) {
				t.Errorf("%s: err = %v, want ErrBadOutput", name, err)
			}
		}
		if _, err := DecodeTransformResult(-3, m); !matchErr(err, &GuestError{}) {
			t.Errorf("negative: err = %v, want a GuestError", err)
		}
	})
}

// matchErr: want nil means no error; a *GuestError means any GuestError; else errors.Is.
func matchErr(err, want error) bool {
	if want == nil {
		return err == nil
	}
	if _, ok := want.(*GuestError); ok {
		var ge *GuestError
		return errors.As(err, &ge)
	}
	return errors.Is(err, want)
}

func TestABIPacking(t *testing.T) {
	// The examples of docs/plugins.md, "Results".
	for _, tc := range []struct {
		got, want int64
	}{
		{PackRetry(1000 * time.Millisecond), 0x0100_0000_0000_03E8},
		{PackReroute(1), 0x0200_0000_0000_0001},
		{PackFail(0x10400, 11), 0x0300_000B_0001_0400},
		{PackAllow(), 0x0100_0000_0000_0000},
	} {
		if tc.got != tc.want {
			t.Errorf("packed %#x, want %#x", tc.got, tc.want)
		}
	}
}
