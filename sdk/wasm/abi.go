package wasm

import (
	"encoding/binary"
	"errors"
	"time"
	"unsafe"
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
	// strs are the copies of the previous input's string regions: the message's and
	// the error's, the candidates' (decoder).
	strs [2][]byte
}

// decoder reads one input into the storage of the previous one. The input buffer is
// the host's to overwrite once the call returns (wagate_input_reuse), so no decoded
// string points into it. The host writes the strings after the records, the message's
// and the error's first, then the candidates': the decoder keeps a copy of each of the
// two regions (msgStrs, candStrs: input.strs) and the strings point into the copies,
// which are never written again, so strings may be kept. A region whose bytes are those
// of the previous call (the candidates' sessions, providers and states, mostly) keeps
// its copy; one that differs (the message's, at every message) is copied, one
// allocation. The copy is compared eight bytes at a time (sameBytes) and the strings
// are sliced without a call: in a module, every call and every loop iteration checks
// whether the host interrupted the call, which costs more than the decoding.
type decoder struct {
	b   []byte
	bad bool
	// The string regions: [strStart, msgEnd) copied into msg, [msgEnd, len(b)) into cand.
	strStart, msgEnd uint32
	msg, cand        []byte
}

func (d *decoder) u32(at uint64) uint32 { return binary.LittleEndian.Uint32(d.b[at:]) }

func (d *decoder) count(at uint64) int { return int(binary.LittleEndian.Uint32(d.b[at:])) }

func (d *decoder) time(at uint64) time.Time {
	if v := int64(binary.LittleEndian.Uint64(d.b[at:])); v != 0 {
		return time.UnixMilli(v).UTC()
	}
	return time.Time{}
}

// str returns the string of n bytes at off, from the copy of its region (small enough
// to be inlined). A string outside both regions, which the gateway does not write, is
// copied on its own.
func (d *decoder) str(off, n uint32) string {
	switch {
	case n == 0:
		return ""
	case uint64(off)+uint64(n) > uint64(len(d.b)):
		d.bad = true
		return ""
	case off >= d.msgEnd:
		return unsafe.String(&d.cand[off-d.msgEnd], n)
	case off >= d.strStart && off+n <= d.msgEnd:
		return unsafe.String(&d.msg[off-d.strStart], n)
	}
	return string(d.b[off : off+n])
}

// strAt returns the string whose (offset, length) is at at.
func (d *decoder) strAt(at uint64) string { return d.str(d.u32(at), d.u32(at+4)) }

// end returns the end of the string whose (offset, length) is at at, 0 for an empty one.
func (d *decoder) end(at uint64) uint32 {
	if n := d.u32(at + 4); n != 0 {
		return d.u32(at) + n
	}
	return 0
}

// region returns b's copy: prev when it holds the same bytes, else a new one.
func region(prev, b []byte) []byte {
	if len(prev) == len(b) && sameBytes(prev, b) {
		return prev
	}
	return append([]byte(nil), b...)
}

// sameBytes reports whether a and b, of the same length, hold the same bytes, comparing
// eight at a time (WebAssembly loads need no alignment).
func sameBytes(a, b []byte) bool {
	n := len(b)
	if n == 0 {
		return true
	}
	p, q := unsafe.Pointer(unsafe.SliceData(a)), unsafe.Pointer(unsafe.SliceData(b))
	i := 0
	for ; i+8 <= n; i += 8 {
		if *(*uint64)(unsafe.Add(p, i)) != *(*uint64)(unsafe.Add(q, i)) {
			return false
		}
	}
	for ; i < n; i++ {
		if *(*byte)(unsafe.Add(p, i)) != *(*byte)(unsafe.Add(q, i)) {
			return false
		}
	}
	return true
}

// record decodes the candidate record at r into c. It calls nothing, and its times are
// written out, because each call and each loop of a module checks whether the host
// interrupted the call, which costs more than the decoding.
func (d *decoder) record(r uint64, c *Candidate) {
	le := binary.LittleEndian
	b := d.b[r : r+candidateSize]
	c.Session = d.str(le.Uint32(b[offCSession:]), le.Uint32(b[offCSession+4:]))
	c.Provider = d.str(le.Uint32(b[offCProvider:]), le.Uint32(b[offCProvider+4:]))
	c.State = d.str(le.Uint32(b[offCState:]), le.Uint32(b[offCState+4:]))
	c.QueueDepth, c.SentMinute = int(le.Uint32(b[offCDepth:])), int(le.Uint32(b[offCMinute:]))
	c.SentHour, c.SentDay = int(le.Uint32(b[offCHour:])), int(le.Uint32(b[offCDay:]))
	if v := int64(le.Uint64(b[offCLinked:])); v != 0 {
		c.LinkedAt = time.UnixMilli(v).UTC()
	} else {
		c.LinkedAt = time.Time{}
	}
	if v := int64(le.Uint64(b[offCContact:])); v != 0 {
		c.LastContact = time.UnixMilli(v).UTC()
	} else {
		c.LastContact = time.Time{}
	}
	if v := int64(le.Uint64(b[offCSent:])); v != 0 {
		c.LastSentAt = time.UnixMilli(v).UTC()
	} else {
		c.LastSentAt = time.Time{}
	}
}

// decodeInput decodes a route, failover or rate input into in, checking every offset
// and length against b. No string of in points into b, which the host may overwrite
// after the call.
func decodeInput(b []byte, in *input) error {
	if len(b) < headerSize {
		return errInput
	}
	d := decoder{b: b}
	if d.u32(offVersion) != abiVersion {
		return errInput
	}
	in.hook = d.count(offHook)
	hsize, csize := uint64(d.u32(offHeaderSize)), uint64(d.u32(offCandSize))
	count, coff := uint64(d.u32(offCandCount)), uint64(d.u32(offCandidates))
	if hsize < headerSize || csize < candidateSize || coff < hsize || coff+count*csize > uint64(len(b)) {
		return errInput
	}
	sub := uint64(d.u32(offSubject))
	if sub != 0 && (sub < hsize || sub+csize > uint64(len(b))) {
		return errInput
	}
	// The string regions: after the header and the records; the message's and the
	// error's strings up to the end of the last of them.
	start := max(hsize, coff+count*csize)
	if sub != 0 {
		start = max(start, sub+csize)
	}
	end := start
	for _, at := range [...]uint64{offMsgID, offMsgTenant, offMsgSession, offMsgChat, offMsgKind, offMsgText, offErrCode, offErrMessage} {
		end = max(end, uint64(d.end(at)))
	}
	if end > uint64(len(b)) {
		return errInput
	}
	d.strStart, d.msgEnd = uint32(start), uint32(end)
	in.strs[0] = region(in.strs[0], b[start:end])
	in.strs[1] = region(in.strs[1], b[end:])
	d.msg, d.cand = in.strs[0], in.strs[1]

	in.now = d.time(offNow)
	m := &in.msg
	m.ID, m.Tenant, m.Session = d.strAt(offMsgID), d.strAt(offMsgTenant), d.strAt(offMsgSession)
	m.ChatID, m.Kind, m.Text = d.strAt(offMsgChat), d.strAt(offMsgKind), d.strAt(offMsgText)
	m.Attempts, m.CreatedAt = d.count(offMsgAttempts), d.time(offMsgCreated)
	in.attempt = d.count(offAttempt)
	in.err = Error{Code: d.strAt(offErrCode), Message: d.strAt(offErrMessage), Retryable: d.u32(offErrRetry) != 0}
	if uint64(cap(in.cands)) < count {
		in.cands = append(in.cands[:cap(in.cands)], make([]Candidate, count-uint64(cap(in.cands)))...)
	}
	in.cands = in.cands[:count]
	for i := range in.cands {
		d.record(coff+uint64(i)*csize, &in.cands[i])
	}
	in.hasSubject = false
	if sub != 0 {
		d.record(sub, &in.subject)
		in.hasSubject = true
	} else {
		in.subject = Candidate{}
	}
	if d.bad {
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
	codeBadInput      = -2 // the input could not be decoded (or the answer encoded)
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
