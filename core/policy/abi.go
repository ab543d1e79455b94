package policy

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/wagate/wagate/core/event"
)

// The v1 binary layout of hook inputs, as docs/plugins.md defines it byte for byte (that
// document's worked example is decoded by a test, so the two cannot drift).
//
// An input is a fixed header, candidate_count fixed-size candidate records, then the
// subject record (failover: the failed session; rate: the session asked about; route:
// none), then a string table. All integers are little-endian; a string is a (u32 offset, u32 length) pair,
// the offset counting from the start of the input buffer, the bytes UTF-8 without a
// terminator; the empty string is (0, 0). The encoder writes the strings in field order
// (header fields, then each candidate's), unshared; decoders must accept any placement.
const (
	// ABIHeaderSize is the v1 header size.
	ABIHeaderSize = 128
	// ABICandidateSize is the v1 candidate record size.
	ABICandidateSize = 64
	// MaxTransformOutput bounds the JSON a WASM transform returns.
	MaxTransformOutput = 2 << 20
)

// Header field offsets.
const (
	offABIVersion     = 0
	offHook           = 4
	offNow            = 8
	offHeaderSize     = 16
	offCandidateSize  = 20
	offCandidateCount = 24
	offCandidates     = 28
	offMsgID          = 32
	offMsgTenant      = 40
	offMsgSession     = 48
	offMsgChat        = 56
	offMsgKind        = 64
	offMsgText        = 72
	offMsgCreated     = 80
	offMsgAttempts    = 88
	offAttempt        = 92
	offSubject        = 96
	offReserved1      = 100
	offErrCode        = 104
	offErrMessage     = 112
	offErrRetryable   = 120
	offReserved       = 124
)

// Candidate record field offsets.
const (
	offCandSession     = 0
	offCandProvider    = 8
	offCandState       = 16
	offCandQueueDepth  = 24
	offCandSentMinute  = 28
	offCandSentHour    = 32
	offCandSentDay     = 36
	offCandLinked      = 40
	offCandLastContact = 48
	offCandLastSent    = 56
)

// ErrABIInput: a binary input that does not follow the layout.
var ErrABIInput = errors.New("malformed policy input")

// GuestError is a hook result by which the guest itself reported an error (a negative
// route index other than -1, a negative i64). The call fails with reason "error".
type GuestError struct {
	Hook Hook
	Code int64
}

func (e *GuestError) Error() string { return fmt.Sprintf("%s hook reported error %d", e.Hook, e.Code) }

// AppendRouteInput appends the binary input of a route call to dst. With a dst of
// enough capacity it does not allocate.
func AppendRouteInput(dst []byte, in *RouteInput) []byte {
	return appendInput(dst, HookRoute, in.Now, &in.Message, 0, nil, nil, in.Candidates)
}

// AppendFailoverInput appends the binary input of a failover call to dst.
func AppendFailoverInput(dst []byte, in *FailoverInput) []byte {
	return appendInput(dst, HookFailover, in.Now, &in.Message, in.Attempt, &in.Session, &in.Error, in.Candidates)
}

// AppendRateInput appends the binary input of a rate call to dst: no candidates, the
// session asked about as the subject record.
func AppendRateInput(dst []byte, in *RateInput) []byte {
	return appendInput(dst, HookRate, in.Now, &in.Message, 0, &in.Session, nil, nil)
}

// AppendTransformInput appends the input of a transform call: the event's JSON, exactly
// as a webhook carries it.
func AppendTransformInput(dst []byte, in *TransformInput) ([]byte, error) {
	b, err := json.Marshal(in.Event)
	if err != nil {
		return dst, err
	}
	return append(dst, b...), nil
}

func appendInput(dst []byte, hook Hook, now time.Time, m *Message, attempt int, subject *Candidate, e *Error, cands []Candidate) []byte {
	records := len(cands)
	if subject != nil {
		records++
	}
	n := ABIHeaderSize + records*ABICandidateSize
	size := n + len(m.ID) + len(m.Tenant) + len(m.Session) + len(m.ChatID) + len(m.Kind) + len(m.Text)
	if e != nil {
		size += len(e.Code) + len(e.Message)
	}
	for i := range cands {
		size += len(cands[i].Session) + len(cands[i].Provider) + len(cands[i].State)
	}
	if subject != nil {
		size += len(subject.Session) + len(subject.Provider) + len(subject.State)
	}
	start := len(dst)
	dst = slices.Grow(dst, size)[:start+size]
	b := dst[start:]
	clear(b[:n])
	le := binary.LittleEndian
	le.PutUint32(b[offABIVersion:], ABIVersion)
	le.PutUint32(b[offHook:], uint32(hook))
	le.PutUint64(b[offNow:], uint64(millis(now)))
	le.PutUint32(b[offHeaderSize:], ABIHeaderSize)
	le.PutUint32(b[offCandidateSize:], ABICandidateSize)
	le.PutUint32(b[offCandidateCount:], uint32(len(cands)))
	le.PutUint32(b[offCandidates:], ABIHeaderSize)
	pos := n // next free byte of the string table
	str := func(at int, s string) {
		if s == "" {
			return
		}
		le.PutUint32(b[at:], uint32(pos))
		le.PutUint32(b[at+4:], uint32(len(s)))
		pos += copy(b[pos:], s)
	}
	record := func(r int, c *Candidate) {
		str(r+offCandSession, c.Session)
		str(r+offCandProvider, c.Provider)
		str(r+offCandState, c.State)
		le.PutUint32(b[r+offCandQueueDepth:], u32(c.QueueDepth))
		le.PutUint32(b[r+offCandSentMinute:], u32(c.SentMinute))
		le.PutUint32(b[r+offCandSentHour:], u32(c.SentHour))
		le.PutUint32(b[r+offCandSentDay:], u32(c.SentDay))
		le.PutUint64(b[r+offCandLinked:], uint64(millis(c.LinkedAt)))
		le.PutUint64(b[r+offCandLastContact:], uint64(millis(c.LastContact)))
		le.PutUint64(b[r+offCandLastSent:], uint64(millis(c.LastSentAt)))
	}
	str(offMsgID, m.ID)
	str(offMsgTenant, m.Tenant)
	str(offMsgSession, m.Session)
	str(offMsgChat, m.ChatID)
	str(offMsgKind, m.Kind)
	str(offMsgText, m.Text)
	le.PutUint64(b[offMsgCreated:], uint64(millis(m.CreatedAt)))
	le.PutUint32(b[offMsgAttempts:], u32(m.Attempts))
	le.PutUint32(b[offAttempt:], u32(attempt))
	if e != nil {
		str(offErrCode, e.Code)
		str(offErrMessage, e.Message)
		if e.Retryable {
			le.PutUint32(b[offErrRetryable:], 1)
		}
	}
	for i := range cands {
		record(ABIHeaderSize+i*ABICandidateSize, &cands[i])
	}
	if subject != nil {
		r := ABIHeaderSize + len(cands)*ABICandidateSize
		le.PutUint32(b[offSubject:], uint32(r))
		record(r, subject)
	}
	return dst
}

// millis is t in Unix milliseconds, 0 for the zero time.
func millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// fromMillis is the inverse of millis, in UTC.
func fromMillis(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// u32 clamps a count into a u32 field.
func u32(v int) uint32 {
	if v < 0 {
		return 0
	}
	if uint64(v) > math.MaxUint32 {
		return math.MaxUint32
	}
	return uint32(v)
}

// ABIInput is a decoded binary input, whichever hook it is for. Fields a hook does not
// use are zero.
type ABIInput struct {
	Hook    Hook
	Now     time.Time
	Message Message
	Attempt int   // failover
	Error   Error // failover
	// Session is the subject record: the failed session (failover), the session asked
	// about (rate); HasSession is false for route.
	Session    Candidate
	HasSession bool
	Candidates []Candidate
}

// Route returns the input as a RouteInput.
func (a ABIInput) Route() RouteInput {
	return RouteInput{Now: a.Now, Message: a.Message, Candidates: a.Candidates}
}

// Failover returns the input as a FailoverInput.
func (a ABIInput) Failover() FailoverInput {
	return FailoverInput{Now: a.Now, Message: a.Message, Session: a.Session, Error: a.Error,
		Attempt: a.Attempt, Candidates: a.Candidates}
}

// Rate returns the input as a RateInput.
func (a ABIInput) Rate() RateInput {
	return RateInput{Now: a.Now, Message: a.Message, Session: a.Session}
}

// DecodeABIInput decodes a binary input (route, failover or rate), checking every
// offset and length against the buffer. It is what a Go guest or a test uses; the host
// only encodes. Sizes larger than v1's are accepted (fields appended later are skipped).
func DecodeABIInput(b []byte) (ABIInput, error) {
	var in ABIInput
	if len(b) < ABIHeaderSize {
		return in, fmt.Errorf("%w: %d bytes, header needs %d", ErrABIInput, len(b), ABIHeaderSize)
	}
	le := binary.LittleEndian
	if v := le.Uint32(b[offABIVersion:]); v != ABIVersion {
		return in, fmt.Errorf("%w: abi_version %d", ErrABIInput, v)
	}
	in.Hook = Hook(le.Uint32(b[offHook:]))
	if in.Hook < HookRoute || in.Hook > HookRate {
		return in, fmt.Errorf("%w: hook %d", ErrABIInput, in.Hook)
	}
	hsize, csize := le.Uint32(b[offHeaderSize:]), le.Uint32(b[offCandidateSize:])
	count, coff := le.Uint32(b[offCandidateCount:]), le.Uint32(b[offCandidates:])
	if hsize < ABIHeaderSize || csize < ABICandidateSize || coff < hsize {
		return in, fmt.Errorf("%w: header_size %d, candidate_size %d, candidates_offset %d", ErrABIInput, hsize, csize, coff)
	}
	if uint64(coff)+uint64(count)*uint64(csize) > uint64(len(b)) {
		return in, fmt.Errorf("%w: %d candidates of %d bytes at %d overrun %d bytes", ErrABIInput, count, csize, coff, len(b))
	}
	var err error
	str := func(at uint64) string {
		off, n := uint64(le.Uint32(b[at:])), uint64(le.Uint32(b[at+4:]))
		if n == 0 {
			return ""
		}
		if off+n > uint64(len(b)) {
			err = fmt.Errorf("%w: string at %d (offset %d, length %d) overruns %d bytes", ErrABIInput, at, off, n, len(b))
			return ""
		}
		s := b[off : off+n]
		if !utf8.Valid(s) {
			err = fmt.Errorf("%w: string at %d is not UTF-8", ErrABIInput, at)
		}
		return string(s)
	}
	record := func(r uint64) Candidate {
		return Candidate{
			Session: str(r + offCandSession), Provider: str(r + offCandProvider), State: str(r + offCandState),
			QueueDepth:  int(le.Uint32(b[r+offCandQueueDepth:])),
			SentMinute:  int(le.Uint32(b[r+offCandSentMinute:])),
			SentHour:    int(le.Uint32(b[r+offCandSentHour:])),
			SentDay:     int(le.Uint32(b[r+offCandSentDay:])),
			LinkedAt:    fromMillis(int64(le.Uint64(b[r+offCandLinked:]))),
			LastContact: fromMillis(int64(le.Uint64(b[r+offCandLastContact:]))),
			LastSentAt:  fromMillis(int64(le.Uint64(b[r+offCandLastSent:]))),
		}
	}
	in.Now = fromMillis(int64(le.Uint64(b[offNow:])))
	in.Message = Message{
		ID: str(offMsgID), Tenant: str(offMsgTenant), Session: str(offMsgSession),
		ChatID: str(offMsgChat), Kind: str(offMsgKind), Text: str(offMsgText),
		CreatedAt: fromMillis(int64(le.Uint64(b[offMsgCreated:]))),
		Attempts:  int(le.Uint32(b[offMsgAttempts:])),
	}
	in.Attempt = int(le.Uint32(b[offAttempt:]))
	in.Error = Error{Code: str(offErrCode), Message: str(offErrMessage), Retryable: le.Uint32(b[offErrRetryable:]) != 0}
	if count > 0 {
		in.Candidates = make([]Candidate, count)
	}
	for i := range in.Candidates {
		in.Candidates[i] = record(uint64(coff) + uint64(i)*uint64(csize))
	}
	if sub := uint64(le.Uint32(b[offSubject:])); sub != 0 {
		if sub < uint64(hsize) || sub+uint64(csize) > uint64(len(b)) {
			return in, fmt.Errorf("%w: subject record at %d overruns %d bytes", ErrABIInput, sub, len(b))
		}
		in.Session, in.HasSession = record(sub), true
	}
	if (in.Hook == HookRoute) == in.HasSession {
		return in, fmt.Errorf("%w: %s input with subject_offset %d", ErrABIInput, in.Hook, le.Uint32(b[offSubject:]))
	}
	return in, err
}

// Memory reads a guest's linear memory. wazero's api.Memory satisfies it.
type Memory interface {
	Read(offset, byteCount uint32) ([]byte, bool)
}

// Packed results: action in bits 63..56, payload in bits 55..0.
const (
	actionShift = 56
	payloadMask = 1<<actionShift - 1
)

// PackRoute is the route result choosing candidate index; -1 is no opinion.
func PackRoute(index int) int32 { return int32(index) }

// PackRetry is the failover result "retry after delay" (milliseconds, truncated).
func PackRetry(delay time.Duration) int64 {
	return pack(uint8(FailoverRetry), uint64(delay.Milliseconds()))
}

// PackReroute is the failover result "reroute to candidate index".
func PackReroute(index int) int64 { return pack(uint8(FailoverReroute), uint64(uint32(index))) }

// PackFail is the failover result "fail" with the reason at ptr, n bytes.
func PackFail(ptr, n uint32) int64 { return pack(uint8(FailoverFail), uint64(n)<<32|uint64(ptr)) }

// PackAllow is the rate result "allow".
func PackAllow() int64 { return pack(uint8(RateAllow), 0) }

// PackDelay is the rate result "delay" (milliseconds, truncated).
func PackDelay(delay time.Duration) int64 {
	return pack(uint8(RateDelay), uint64(delay.Milliseconds()))
}

// PackReject is the rate result "reject" with the reason at ptr, n bytes.
func PackReject(ptr, n uint32) int64 { return pack(uint8(RateReject), uint64(n)<<32|uint64(ptr)) }

// PackTransform is the transform result: the output event's JSON at ptr, n bytes.
func PackTransform(ptr, n uint32) int64 { return int64(uint64(ptr)<<32 | uint64(n)) }

func pack(action uint8, payload uint64) int64 {
	return int64(uint64(action)<<actionShift | payload&payloadMask)
}

func unpack(v int64) (action uint8, payload uint64) {
	return uint8(uint64(v) >> actionShift), uint64(v) & payloadMask
}

// DecodeRouteResult interprets a WASM route hook's i32 result.
func DecodeRouteResult(v int32, in *RouteInput) (RouteDecision, error) {
	switch {
	case v == -1:
		return RouteDecision{}, nil
	case v < -1:
		return RouteDecision{}, &GuestError{Hook: HookRoute, Code: int64(v)}
	case int(v) >= len(in.Candidates):
		return RouteDecision{}, fmt.Errorf("%w: candidate index %d of %d", ErrBadOutput, v, len(in.Candidates))
	}
	return RouteDecision{Session: in.Candidates[v].Session}, nil
}

// DecodeFailoverResult interprets a WASM failover hook's i64 result, reading a fail
// reason from mem.
func DecodeFailoverResult(v int64, in *FailoverInput, mem Memory) (FailoverDecision, error) {
	if v < 0 {
		return FailoverDecision{}, &GuestError{Hook: HookFailover, Code: v}
	}
	action, payload := unpack(v)
	switch FailoverAction(action) {
	case FailoverNoOpinion:
		if payload != 0 {
			return FailoverDecision{}, fmt.Errorf("%w: no-opinion result with payload %#x", ErrBadOutput, payload)
		}
		return FailoverDecision{}, nil
	case FailoverRetry:
		d, err := delayOf(payload, 0)
		return FailoverDecision{Action: FailoverRetry, Delay: d}, err
	case FailoverReroute:
		if payload >= uint64(len(in.Candidates)) {
			return FailoverDecision{}, fmt.Errorf("%w: reroute to candidate %d of %d", ErrBadOutput, payload, len(in.Candidates))
		}
		return FailoverDecision{Action: FailoverReroute, Session: in.Candidates[payload].Session}, nil
	case FailoverFail:
		r, err := reasonAt(payload, mem)
		return FailoverDecision{Action: FailoverFail, Reason: r}, err
	}
	return FailoverDecision{}, fmt.Errorf("%w: failover action %d", ErrBadOutput, action)
}

// DecodeRateResult interprets a WASM rate hook's i64 result, reading a reject reason
// from mem.
func DecodeRateResult(v int64, mem Memory) (RateDecision, error) {
	if v < 0 {
		return RateDecision{}, &GuestError{Hook: HookRate, Code: v}
	}
	action, payload := unpack(v)
	switch RateAction(action) {
	case RateNoOpinion, RateAllow:
		if payload != 0 {
			return RateDecision{}, fmt.Errorf("%w: %s result with payload %#x", ErrBadOutput, RateAction(action), payload)
		}
		return RateDecision{Action: RateAction(action)}, nil
	case RateDelay:
		d, err := delayOf(payload, time.Millisecond)
		return RateDecision{Action: RateDelay, Delay: d}, err
	case RateReject:
		r, err := reasonAt(payload, mem)
		return RateDecision{Action: RateReject, Reason: r}, err
	}
	return RateDecision{}, fmt.Errorf("%w: rate action %d", ErrBadOutput, action)
}

// DecodeTransformResult interprets a WASM transform hook's i64 result, reading the
// output event's JSON from mem. The result is checked as any transform's is by the chain.
func DecodeTransformResult(v int64, mem Memory) (TransformResult, error) {
	switch {
	case v == 0:
		return Drop(), nil
	case v < 0:
		return TransformResult{}, &GuestError{Hook: HookTransform, Code: v}
	}
	ptr, n := uint32(uint64(v)>>32), uint32(v)
	if ptr == 0 || n == 0 || n > MaxTransformOutput {
		return TransformResult{}, fmt.Errorf("%w: transform output at %d, %d bytes", ErrBadOutput, ptr, n)
	}
	b, ok := mem.Read(ptr, n)
	if !ok {
		return TransformResult{}, fmt.Errorf("%w: transform output at %d, %d bytes is outside memory", ErrBadOutput, ptr, n)
	}
	var ev event.Envelope
	if err := json.Unmarshal(b, &ev); err != nil {
		return TransformResult{}, fmt.Errorf("%w: transform output: %v", ErrBadOutput, err)
	}
	return TransformResult{Event: ev}, nil
}

func delayOf(ms uint64, lowest time.Duration) (time.Duration, error) {
	if ms > uint64(MaxDelay/time.Millisecond) {
		return 0, fmt.Errorf("%w: delay of %dms (at most %dms)", ErrBadOutput, ms, MaxDelay/time.Millisecond)
	}
	d := time.Duration(ms) * time.Millisecond
	return d, checkDelay(d, lowest)
}

func reasonAt(payload uint64, mem Memory) (string, error) {
	ptr, n := uint32(payload), uint32(payload>>32)
	if n == 0 {
		return "", nil
	}
	if n > MaxReasonLen {
		return "", fmt.Errorf("%w: reason of %d bytes (at most %d)", ErrBadOutput, n, MaxReasonLen)
	}
	b, ok := mem.Read(ptr, n)
	if !ok {
		return "", fmt.Errorf("%w: reason at %d, %d bytes is outside memory", ErrBadOutput, ptr, n)
	}
	if !utf8.Valid(b) {
		return "", fmt.Errorf("%w: reason is not UTF-8", ErrBadOutput)
	}
	return string(b), nil
}
