package lua

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/wagate/wagate/core/event"
	"github.com/wagate/wagate/core/policy"
)

// maxJSONDepth bounds the nesting of JSON going into or out of a script.
const maxJSONDepth = 64

func millis(t time.Time) lua.LNumber {
	if t.IsZero() {
		return 0
	}
	return lua.LNumber(t.UnixMilli())
}

// Input tables are built once per state and refilled at every call (building ten
// candidate tables afresh was two thirds of a route call). Scripts may read them during
// the call and must copy what they keep (docs/plugins.md); new keys are refused by a
// protected metatable so that nothing a script adds survives into the next call.
type inputs struct {
	readOnly *lua.LTable
	msg      *lua.LTable
	err      *lua.LTable
	subject  *lua.LTable
	list     *lua.LTable
	cands    []*lua.LTable
	strs     map[string]lua.LValue // interned values of repeated strings (sessions, providers, states)
	times    map[int64]lua.LValue  // interned values of repeated times (linked, last contact)

	// What the host last wrote into msg, subject and cands[i] (fastRefill): valid once
	// a table was filled, and only used while the state's script cannot have changed
	// an input table since (state.fastRefill).
	msgShadow  msgShadow
	subShadow  candShadow
	candShadow []candShadow
}

// msgShadow is the content of the message table as the host last wrote it.
type msgShadow struct {
	valid                                bool
	id, tenant, session, chat, kind, txt string
	attempts                             int
	created                              lua.LNumber
}

// candShadow is the content of a candidate table as the host last wrote it.
type candShadow struct {
	valid                                  bool
	first                                  bool
	session, provider, state, pauseReason  string
	depth, minute, hour, day, chat, firsts int
	linked, contact, sent, inbound, paused lua.LNumber
}

// maxInterned bounds a state's interned strings.
const maxInterned = 1024

// smallInts are boxed numbers 0..1023: counts become Lua values without allocating.
var smallInts = func() (a [1024]lua.LValue) {
	for i := range a {
		a[i] = lua.LNumber(i)
	}
	return a
}()

func number(n int) lua.LValue {
	if n >= 0 && n < len(smallInts) {
		return smallInts[n]
	}
	return lua.LNumber(n)
}

func (st *state) input() *inputs {
	if st.in != nil {
		return st.in
	}
	L := st.L
	ro := L.NewTable()
	ro.RawSetString("__newindex", L.NewFunction(func(L *lua.LState) int {
		L.RaiseError("input tables are read-only (copy them to change them)")
		return 0
	}))
	ro.RawSetString("__metatable", lua.LString("read-only"))
	in := &inputs{readOnly: ro, list: L.NewTable(), strs: make(map[string]lua.LValue), times: make(map[int64]lua.LValue)}
	st.in = in
	in.msg, in.err, in.subject = st.record(), st.record(), st.record()
	return in
}

// record returns a new read-only input table.
func (st *state) record() *lua.LTable {
	t := st.L.CreateTable(0, 10)
	st.L.SetMetatable(t, st.in.readOnly)
	return t
}

// intern returns s as a Lua value, reusing the value of an earlier call.
func (in *inputs) intern(s string) lua.LValue {
	if v, ok := in.strs[s]; ok {
		return v
	}
	if len(in.strs) >= maxInterned {
		clear(in.strs)
	}
	v := lua.LValue(lua.LString(s))
	in.strs[s] = v
	return v
}

// time returns t in Unix ms as a Lua value, reusing the value of an earlier call.
func (in *inputs) time(t time.Time) lua.LValue {
	if t.IsZero() {
		return smallInts[0]
	}
	ms := t.UnixMilli()
	if v, ok := in.times[ms]; ok {
		return v
	}
	if len(in.times) >= maxInterned {
		clear(in.times)
	}
	v := lua.LValue(lua.LNumber(ms))
	in.times[ms] = v
	return v
}

// Input tables are refilled at every call with mostly the same values (the same
// sessions, counters that moved a little), and gopher-lua's RawSetString costs two map
// writes and a map read keyed by an interface. So each field is read first (one
// string-keyed lookup, the value compared as its own type: no interface comparison, no
// boxing, no interning) and set only when it differs. Whatever a script changed in the
// table (an existing field assigned, or set to nil) differs and is set again, so the
// table the next call sees is the same as if every field were set.

func setString(t *lua.LTable, k, s string) {
	if cur, ok := t.RawGetString(k).(lua.LString); !ok || string(cur) != s {
		t.RawSetString(k, lua.LString(s))
	}
}

// setInterned is setString with the value interned (repeated strings).
func (in *inputs) setInterned(t *lua.LTable, k, s string) {
	if cur, ok := t.RawGetString(k).(lua.LString); !ok || string(cur) != s {
		t.RawSetString(k, in.intern(s))
	}
}

func setNumber(t *lua.LTable, k string, n int) {
	if cur, ok := t.RawGetString(k).(lua.LNumber); !ok || cur != lua.LNumber(n) {
		t.RawSetString(k, number(n))
	}
}

// setTime sets t[k] to tm in Unix ms (0 for the zero time), interned.
func (in *inputs) setTime(t *lua.LTable, k string, tm time.Time) {
	if cur, ok := t.RawGetString(k).(lua.LNumber); !ok || cur != millis(tm) {
		t.RawSetString(k, in.time(tm))
	}
}

func setBool(t *lua.LTable, k string, b bool) {
	if cur, ok := t.RawGetString(k).(lua.LBool); !ok || bool(cur) != b {
		t.RawSetString(k, lua.LBool(b))
	}
}

func (st *state) messageTable(m *policy.Message) *lua.LTable {
	in := st.input()
	t := in.msg
	sh := &in.msgShadow
	if st.fastRefill() && sh.valid {
		if sh.id != m.ID {
			t.RawSetString("id", lua.LString(m.ID))
		}
		if sh.tenant != m.Tenant {
			t.RawSetString("tenant", in.intern(m.Tenant))
		}
		if sh.session != m.Session {
			t.RawSetString("session", in.intern(m.Session))
		}
		if sh.chat != m.ChatID {
			t.RawSetString("chat_id", lua.LString(m.ChatID))
		}
		if sh.kind != m.Kind {
			t.RawSetString("kind", in.intern(m.Kind))
		}
		if sh.txt != m.Text {
			t.RawSetString("text", lua.LString(m.Text))
		}
		if sh.attempts != m.Attempts {
			t.RawSetString("attempts", number(m.Attempts))
		}
		if c := millis(m.CreatedAt); sh.created != c {
			t.RawSetString("created_ms", c)
		}
	} else {
		st.readBackMessage(t, m)
	}
	*sh = msgShadow{valid: true, id: m.ID, tenant: m.Tenant, session: m.Session, chat: m.ChatID, kind: m.Kind,
		txt: m.Text, attempts: m.Attempts, created: millis(m.CreatedAt)}
	return t
}

// readBackMessage fills the message table by reading each field back first.
func (st *state) readBackMessage(t *lua.LTable, m *policy.Message) {
	in := st.in
	setString(t, "id", m.ID)
	in.setInterned(t, "tenant", m.Tenant)
	in.setInterned(t, "session", m.Session)
	setString(t, "chat_id", m.ChatID)
	in.setInterned(t, "kind", m.Kind)
	setString(t, "text", m.Text)
	setNumber(t, "attempts", m.Attempts)
	if cur, ok := t.RawGetString("created_ms").(lua.LNumber); !ok || cur != millis(m.CreatedAt) {
		t.RawSetString("created_ms", millis(m.CreatedAt))
	}
}

// fillCandidate fills t with c: from the shadow sh of what the host wrote last when
// the script cannot have changed t since (setting only the fields whose Go values
// differ), else by reading each field back. sh then holds c.
func (st *state) fillCandidate(t *lua.LTable, sh *candShadow, c *policy.Candidate) *lua.LTable {
	in := st.in
	linked, contact, sent, inbound, paused := millis(c.LinkedAt), millis(c.LastContact), millis(c.LastSentAt),
		millis(c.LastInbound), millis(c.PausedUntil)
	if st.fastRefill() && sh.valid {
		if sh.session != c.Session {
			t.RawSetString("session", in.intern(c.Session))
		}
		if sh.provider != c.Provider {
			t.RawSetString("provider", in.intern(c.Provider))
		}
		if sh.state != c.State {
			t.RawSetString("state", in.intern(c.State))
		}
		if sh.depth != c.QueueDepth {
			t.RawSetString("queue_depth", number(c.QueueDepth))
		}
		if sh.minute != c.SentMinute {
			t.RawSetString("sent_minute", number(c.SentMinute))
		}
		if sh.hour != c.SentHour {
			t.RawSetString("sent_hour", number(c.SentHour))
		}
		if sh.day != c.SentDay {
			t.RawSetString("sent_day", number(c.SentDay))
		}
		if sh.linked != linked {
			t.RawSetString("linked_ms", in.time(c.LinkedAt))
		}
		if sh.contact != contact {
			t.RawSetString("last_contact_ms", in.time(c.LastContact))
		}
		if sh.sent != sent {
			t.RawSetString("last_sent_ms", in.time(c.LastSentAt))
		}
		if sh.inbound != inbound {
			t.RawSetString("last_inbound_ms", in.time(c.LastInbound))
		}
		if sh.chat != c.ChatSentHour {
			t.RawSetString("chat_sent_hour", number(c.ChatSentHour))
		}
		if sh.first != c.FirstContact {
			t.RawSetString("first_contact", lua.LBool(c.FirstContact))
		}
		if sh.firsts != c.FirstContactsDay {
			t.RawSetString("first_contacts_day", number(c.FirstContactsDay))
		}
		if sh.paused != paused {
			t.RawSetString("paused_until_ms", in.time(c.PausedUntil))
		}
		if sh.pauseReason != c.PauseReason {
			t.RawSetString("pause_reason", in.intern(c.PauseReason))
		}
	} else {
		st.readBackCandidate(t, c)
	}
	*sh = candShadow{valid: true, first: c.FirstContact, session: c.Session, provider: c.Provider, state: c.State,
		pauseReason: c.PauseReason, depth: c.QueueDepth, minute: c.SentMinute, hour: c.SentHour, day: c.SentDay,
		chat: c.ChatSentHour, firsts: c.FirstContactsDay,
		linked: linked, contact: contact, sent: sent, inbound: inbound, paused: paused}
	return t
}

// readBackCandidate fills t with c by reading each field back first.
func (st *state) readBackCandidate(t *lua.LTable, c *policy.Candidate) {
	in := st.in
	in.setInterned(t, "session", c.Session)
	in.setInterned(t, "provider", c.Provider)
	in.setInterned(t, "state", c.State)
	setNumber(t, "queue_depth", c.QueueDepth)
	setNumber(t, "sent_minute", c.SentMinute)
	setNumber(t, "sent_hour", c.SentHour)
	setNumber(t, "sent_day", c.SentDay)
	in.setTime(t, "linked_ms", c.LinkedAt)
	in.setTime(t, "last_contact_ms", c.LastContact)
	in.setTime(t, "last_sent_ms", c.LastSentAt)
	// Pacing fields (not in ABI version 1).
	in.setTime(t, "last_inbound_ms", c.LastInbound)
	setNumber(t, "chat_sent_hour", c.ChatSentHour)
	setBool(t, "first_contact", c.FirstContact)
	setNumber(t, "first_contacts_day", c.FirstContactsDay)
	in.setTime(t, "paused_until_ms", c.PausedUntil)
	in.setInterned(t, "pause_reason", c.PauseReason)
}

func (st *state) candidateTable(c *policy.Candidate) *lua.LTable {
	in := st.input()
	return st.fillCandidate(in.subject, &in.subShadow, c)
}

func (st *state) candidatesTable(cs []policy.Candidate) *lua.LTable {
	in := st.input()
	for len(in.cands) < len(cs) {
		in.cands = append(in.cands, st.record())
		in.candShadow = append(in.candShadow, candShadow{})
	}
	for i := range cs {
		in.list.RawSetInt(i+1, st.fillCandidate(in.cands[i], &in.candShadow[i], &cs[i]))
	}
	for i := in.list.Len(); i > len(cs); i-- { // what a shorter list, or the script, left
		in.list.RawSetInt(i, lua.LNil)
	}
	return in.list
}

func (st *state) errorTable(e *policy.Error) *lua.LTable {
	in := st.input()
	t := in.err
	in.setInterned(t, "code", e.Code)
	setString(t, "message", e.Message)
	setBool(t, "retryable", e.Retryable)
	return t
}

func (st *state) eventTable(ev *event.Envelope) (*lua.LTable, error) {
	payload, err := st.decodeJSON(ev.Payload)
	if err != nil {
		return nil, fmt.Errorf("event payload: %w", err)
	}
	t := st.L.CreateTable(0, 10)
	t.RawSetString("id", lua.LString(ev.ID))
	t.RawSetString("timestamp", lua.LNumber(ev.Timestamp))
	t.RawSetString("event", lua.LString(ev.Event))
	t.RawSetString("session", lua.LString(ev.Session))
	t.RawSetString("tenant", lua.LString(ev.Tenant))
	t.RawSetString("payload", payload)
	st.contextFields(t, ev)
	return t, nil
}

// contextFields adds the session context of ev (read-only: the chain keeps the
// input's, whatever the transform returns), each only when the event has it.
func (st *state) contextFields(t *lua.LTable, ev *event.Envelope) {
	if ev.Engine != "" {
		t.RawSetString("engine", lua.LString(ev.Engine))
	}
	if me := ev.Me; me != nil {
		m := st.L.CreateTable(0, 2)
		m.RawSetString("id", lua.LString(me.ID))
		m.RawSetString("pushName", lua.LString(me.PushName))
		t.RawSetString("me", m)
	}
	if e := ev.Environment; e != nil {
		m := st.L.CreateTable(0, 4)
		m.RawSetString("version", lua.LString(e.Version))
		m.RawSetString("engine", lua.LString(e.Engine))
		m.RawSetString("tier", lua.LString(e.Tier))
		if e.Browser != nil {
			m.RawSetString("browser", lua.LString(*e.Browser))
		}
		t.RawSetString("environment", m)
	}
	if len(ev.Metadata) > 0 {
		m := st.L.CreateTable(0, len(ev.Metadata))
		for k, v := range ev.Metadata {
			m.RawSetString(k, lua.LString(v))
		}
		t.RawSetString("metadata", m)
	}
}

func badOutput(format string, args ...any) error {
	return fmt.Errorf("%w: %s", policy.ErrBadOutput, fmt.Sprintf(format, args...))
}

// field reads a raw field of a result table: a string (ok false when absent).
func stringField(t *lua.LTable, name string) (string, bool, error) {
	switch v := t.RawGetString(name).(type) {
	case lua.LString:
		return string(v), true, nil
	case *lua.LNilType:
		return "", false, nil
	default:
		return "", false, badOutput("field %s is a %s, want a string", name, v.Type())
	}
}

// delayField reads delay_ms: a finite number of milliseconds, 0 to MaxDelay.
func delayField(t *lua.LTable) (time.Duration, error) {
	v, ok := t.RawGetString("delay_ms").(lua.LNumber)
	if !ok {
		return 0, badOutput("delay_ms is a %s, want a number", t.RawGetString("delay_ms").Type())
	}
	f := float64(v)
	if math.IsNaN(f) || f < 0 || f > float64(policy.MaxDelay/time.Millisecond) {
		return 0, badOutput("delay_ms %v out of range", f)
	}
	return time.Duration(f * float64(time.Millisecond)), nil
}

func routeResult(v lua.LValue) (policy.RouteDecision, error) {
	switch v := v.(type) {
	case *lua.LNilType:
		return policy.RouteDecision{}, nil
	case *lua.LTable:
		s, ok, err := stringField(v, "session")
		if err != nil || !ok {
			return policy.RouteDecision{}, badOutput("route returned a table without a string session")
		}
		return policy.RouteDecision{Session: s}, nil
	}
	return policy.RouteDecision{}, badOutput("route returned a %s, want nil or a table", v.Type())
}

func actionOf(v lua.LValue, hook string) (*lua.LTable, string, error) {
	switch v := v.(type) {
	case *lua.LNilType:
		return nil, "", nil
	case *lua.LTable:
		a, ok, err := stringField(v, "action")
		if err != nil || !ok {
			return nil, "", badOutput("%s returned a table without a string action", hook)
		}
		return v, a, nil
	}
	return nil, "", badOutput("%s returned a %s, want nil or a table", hook, v.Type())
}

func failoverResult(v lua.LValue) (policy.FailoverDecision, error) {
	t, action, err := actionOf(v, "failover")
	if t == nil || err != nil {
		return policy.FailoverDecision{}, err
	}
	switch action {
	case "retry":
		d, err := delayField(t)
		return policy.FailoverDecision{Action: policy.FailoverRetry, Delay: d}, err
	case "reroute":
		s, ok, err := stringField(t, "session")
		if err == nil && !ok {
			err = badOutput("reroute without a session")
		}
		return policy.FailoverDecision{Action: policy.FailoverReroute, Session: s}, err
	case "fail":
		r, _, err := stringField(t, "reason")
		return policy.FailoverDecision{Action: policy.FailoverFail, Reason: r}, err
	}
	return policy.FailoverDecision{}, badOutput("failover action %q (retry, reroute or fail)", action)
}

func rateResult(v lua.LValue) (policy.RateDecision, error) {
	t, action, err := actionOf(v, "rate")
	if t == nil || err != nil {
		return policy.RateDecision{}, err
	}
	switch action {
	case "allow":
		return policy.RateDecision{Action: policy.RateAllow}, nil
	case "delay":
		d, err := delayField(t)
		return policy.RateDecision{Action: policy.RateDelay, Delay: d}, err
	case "reject":
		r, _, err := stringField(t, "reason")
		return policy.RateDecision{Action: policy.RateReject, Reason: r}, err
	}
	return policy.RateDecision{}, badOutput("rate action %q (allow, delay or reject)", action)
}

func (st *state) transformResult(v lua.LValue) (policy.TransformResult, error) {
	if v == lua.LFalse {
		return policy.Drop(), nil
	}
	t, ok := v.(*lua.LTable)
	if !ok {
		return policy.TransformResult{}, badOutput("transform returned a %s, want an event table or false", v.Type())
	}
	var ev event.Envelope
	var err error
	for _, f := range []struct {
		name string
		dst  *string
	}{{"id", &ev.ID}, {"event", &ev.Event}, {"session", &ev.Session}, {"tenant", &ev.Tenant}} {
		if *f.dst, _, err = stringField(t, f.name); err != nil {
			return policy.TransformResult{}, err
		}
	}
	ts, ok := t.RawGetString("timestamp").(lua.LNumber)
	if !ok || math.IsNaN(float64(ts)) || math.Abs(float64(ts)) > 1<<53 {
		return policy.TransformResult{}, badOutput("timestamp is not a number of milliseconds")
	}
	ev.Timestamp = int64(ts)
	enc := jsonEncoder{st: st, limit: policy.MaxEventSize}
	if err := enc.value(t.RawGetString("payload"), 0); err != nil {
		return policy.TransformResult{}, badOutput("payload: %v", err)
	}
	ev.Payload = enc.buf.Bytes()
	return policy.Keep(ev), nil
}

// decodeJSON turns JSON into Lua values: objects and arrays into tables (arrays marked
// with arrayMT), null into wagate.null.
func (st *state) decodeJSON(b []byte) (lua.LValue, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return st.toLua(v, 0)
}

func (st *state) toLua(v any, depth int) (lua.LValue, error) {
	if depth > maxJSONDepth {
		return nil, fmt.Errorf("nested deeper than %d", maxJSONDepth)
	}
	switch v := v.(type) {
	case nil:
		return st.null, nil
	case bool:
		return lua.LBool(v), nil
	case string:
		return lua.LString(v), nil
	case json.Number:
		f, err := strconv.ParseFloat(string(v), 64)
		if err != nil {
			return nil, err
		}
		return lua.LNumber(f), nil
	case []any:
		t := st.L.CreateTable(len(v), 0)
		for i, e := range v {
			lv, err := st.toLua(e, depth+1)
			if err != nil {
				return nil, err
			}
			t.RawSetInt(i+1, lv)
		}
		st.L.SetMetatable(t, st.arrayMT)
		return t, nil
	case map[string]any:
		t := st.L.CreateTable(0, len(v))
		for k, e := range v {
			lv, err := st.toLua(e, depth+1)
			if err != nil {
				return nil, err
			}
			t.RawSetString(k, lv)
		}
		return t, nil
	}
	return nil, fmt.Errorf("unexpected JSON value %T", v)
}

// jsonEncoder writes Lua values as JSON, failing past limit bytes.
type jsonEncoder struct {
	st    *state
	buf   bytes.Buffer
	limit int
}

func (e *jsonEncoder) value(v lua.LValue, depth int) error {
	if depth > maxJSONDepth {
		return fmt.Errorf("nested deeper than %d (a cycle?)", maxJSONDepth)
	}
	if e.buf.Len() > e.limit {
		return fmt.Errorf("larger than %d bytes", e.limit)
	}
	switch v := v.(type) {
	case *lua.LNilType:
		e.buf.WriteString("null")
	case lua.LBool:
		e.buf.WriteString(strconv.FormatBool(bool(v)))
	case lua.LNumber:
		return e.number(float64(v))
	case lua.LString:
		b, _ := json.Marshal(string(v))
		e.buf.Write(b)
	case *lua.LUserData:
		if v != e.st.null {
			return fmt.Errorf("cannot encode userdata")
		}
		e.buf.WriteString("null")
	case *lua.LTable:
		return e.table(v, depth)
	default:
		return fmt.Errorf("cannot encode a %s", v.Type())
	}
	if e.buf.Len() > e.limit {
		return fmt.Errorf("larger than %d bytes", e.limit)
	}
	return nil
}

func (e *jsonEncoder) number(f float64) error {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return fmt.Errorf("cannot encode %v", f)
	}
	if f == math.Trunc(f) && math.Abs(f) < 1<<53 {
		e.buf.WriteString(strconv.FormatInt(int64(f), 10))
	} else {
		e.buf.WriteString(strconv.FormatFloat(f, 'g', -1, 64))
	}
	return nil
}

func (e *jsonEncoder) table(t *lua.LTable, depth int) error {
	n := t.Len()
	keys := 0
	t.ForEach(func(lua.LValue, lua.LValue) { keys++ })
	if e.st.L.GetMetatable(t) == e.st.arrayMT || (n > 0 && keys == n) {
		e.buf.WriteByte('[')
		for i := 1; i <= n; i++ {
			if i > 1 {
				e.buf.WriteByte(',')
			}
			if err := e.value(t.RawGetInt(i), depth+1); err != nil {
				return err
			}
		}
		e.buf.WriteByte(']')
		return nil
	}
	type kv struct {
		key string
		v   lua.LValue
	}
	var fields []kv
	var err error
	t.ForEach(func(k, v lua.LValue) {
		switch k := k.(type) {
		case lua.LString:
			fields = append(fields, kv{string(k), v})
		case lua.LNumber:
			fields = append(fields, kv{k.String(), v})
		default:
			err = fmt.Errorf("cannot encode a %s key", k.Type())
		}
	})
	if err != nil {
		return err
	}
	slices.SortFunc(fields, func(a, b kv) int { return strings.Compare(a.key, b.key) })
	e.buf.WriteByte('{')
	for i, f := range fields {
		if i > 0 {
			e.buf.WriteByte(',')
		}
		kb, _ := json.Marshal(f.key)
		e.buf.Write(kb)
		e.buf.WriteByte(':')
		if err := e.value(f.v, depth+1); err != nil {
			return err
		}
	}
	e.buf.WriteByte('}')
	return nil
}
