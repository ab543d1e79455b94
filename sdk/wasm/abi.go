package wasm

import (
	"encoding/binary"
	"errors"
	"time"
)

// The ABI v1 layout, as docs/plugins.md defines it. This package decodes it on its own
// rather than importing the gateway's core/policy, which would bring the gateway's
// dependencies (Prometheus, the event bus) into every module; a test checks that it
// decodes exactly what core/policy encodes.
const (
	abiVersion    = 1
	headerSize    = 128
	candidateSize = 64
	maxReasonLen  = 256
)

// Hook numbers.
const (
	hookRoute     = 1
	hookFailover  = 2
	hookRate      = 3
	hookTransform = 4
)

// Header and candidate record offsets.
const (
	offVersion     = 0
	offHook        = 4
	offNow         = 8
	offHeaderSize  = 16
	offCandSize    = 20
	offCandCount   = 24
	offCandidates  = 28
	offMsgID       = 32
	offMsgTenant   = 40
	offMsgSession  = 48
	offMsgChat     = 56
	offMsgKind     = 64
	offMsgText     = 72
	offMsgCreated  = 80
	offMsgAttempts = 88
	offAttempt     = 92
	offSubject     = 96
	offErrCode     = 104
	offErrMessage  = 112
	offErrRetry    = 120

	offCSession  = 0
	offCProvider = 8
	offCState    = 16
	offCDepth    = 24
	offCMinute   = 28
	offCHour     = 32
	offCDay      = 36
	offCLinked   = 40
	offCContact  = 48
	offCSent     = 56
)

// errInput: an input that does not follow the layout.
var errInput = errors.New("malformed input")

// input is a decoded input, whichever hook it is for. Its candidates' storage is reused
// by the next decode.
type input struct {
	hook       int
	now        time.Time
	msg        Message
	attempt    int
	err        Error
	subject    Candidate
	hasSubject bool
	cands      []Candidate
}

// interned keeps the strings that repeat from call to call (session names, providers,
// states) so that decoding them allocates once.
var interned = make(map[string]string)

const (
	maxInterned    = 1024
	maxInternedLen = 64
)

func intern(b []byte) string {
	if len(b) > maxInternedLen {
		return string(b)
	}
	if s, ok := interned[string(b)]; ok {
		return s
	}
	if len(interned) >= maxInterned {
		clear(interned)
	}
	s := string(b)
	interned[s] = s
	return s
}

// decodeInput decodes a route, failover or rate input into in, checking every offset
// and length against b.
func decodeInput(b []byte, in *input) error {
	if len(b) < headerSize {
		return errInput
	}
	le := binary.LittleEndian
	if le.Uint32(b[offVersion:]) != abiVersion {
		return errInput
	}
	in.hook = int(le.Uint32(b[offHook:]))
	hsize, csize := uint64(le.Uint32(b[offHeaderSize:])), uint64(le.Uint32(b[offCandSize:]))
	count, coff := uint64(le.Uint32(b[offCandCount:])), uint64(le.Uint32(b[offCandidates:]))
	if hsize < headerSize || csize < candidateSize || coff < hsize || coff+count*csize > uint64(len(b)) {
		return errInput
	}
	bad := false
	str := func(at uint64, keep bool) string {
		off, n := uint64(le.Uint32(b[at:])), uint64(le.Uint32(b[at+4:]))
		switch {
		case n == 0:
			return ""
		case off+n > uint64(len(b)):
			bad = true
			return ""
		case keep:
			return intern(b[off : off+n])
		}
		return string(b[off : off+n])
	}
	ms := func(at uint64) time.Time {
		v := int64(le.Uint64(b[at:]))
		if v == 0 {
			return time.Time{}
		}
		return time.UnixMilli(v).UTC()
	}
	count32 := func(at uint64) int { return int(le.Uint32(b[at:])) }
	record := func(r uint64, c *Candidate) {
		*c = Candidate{
			Session: str(r+offCSession, true), Provider: str(r+offCProvider, true), State: str(r+offCState, true),
			QueueDepth: count32(r + offCDepth), SentMinute: count32(r + offCMinute),
			SentHour: count32(r + offCHour), SentDay: count32(r + offCDay),
			LinkedAt: ms(r + offCLinked), LastContact: ms(r + offCContact), LastSentAt: ms(r + offCSent),
		}
	}
	in.now = ms(offNow)
	in.msg = Message{
		ID: str(offMsgID, false), Tenant: str(offMsgTenant, true), Session: str(offMsgSession, true),
		ChatID: str(offMsgChat, false), Kind: str(offMsgKind, true), Text: str(offMsgText, false),
		Attempts: count32(offMsgAttempts), CreatedAt: ms(offMsgCreated),
	}
	in.attempt = count32(offAttempt)
	in.err = Error{Code: str(offErrCode, true), Message: str(offErrMessage, false), Retryable: le.Uint32(b[offErrRetry:]) != 0}
	if uint64(cap(in.cands)) < count {
		in.cands = make([]Candidate, count)
	}
	in.cands = in.cands[:count]
	for i := range in.cands {
		record(coff+uint64(i)*csize, &in.cands[i])
	}
	in.subject, in.hasSubject = Candidate{}, false
	if sub := uint64(le.Uint32(b[offSubject:])); sub != 0 {
		if sub < hsize || sub+csize > uint64(len(b)) {
			return errInput
		}
		record(sub, &in.subject)
		in.hasSubject = true
	}
	if bad {
		return errInput
	}
	return nil
}

// answer is a hook's result before the pointers of its bytes are known: v is the
// result, out the reason (failover, rate) or the output event (transform) that the
// export puts into the result with its address.
type answer struct {
	v   int64
	out []byte
}

// Guest error codes (a route result ≤ −2, a negative i64).
const (
	codeBadInput      = -2 // the input could not be decoded, or no hook is registered
	codePanic         = -3 // the hook panicked
	codeNotRegistered = -4 // the hook is not registered
)

// pack packs a failover or rate result.
func pack(action uint8, payload uint64) int64 {
	return int64(uint64(action)<<56 | payload&(1<<56-1))
}

// reasonAnswer is a fail or reject answer: the reason's bytes, located by the export. A
// reason longer than the host accepts is sent whole, so that the host reports it.
func reasonAnswer(action uint8, reason string) answer {
	if reason == "" {
		return answer{v: pack(action, 0)}
	}
	out = append(out[:0], reason...)
	return answer{v: pack(action, 0), out: out}
}

// millis is a delay in milliseconds as a payload: negative delays become a value the
// host refuses.
func millis(d time.Duration) uint64 { return uint64(d.Milliseconds()) }
