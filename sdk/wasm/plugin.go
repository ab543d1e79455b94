package wasm

import (
	"encoding/json"
	"unsafe"
)

// Plugin is a policy: the hooks it implements and its configuration. Set the fields of
// the hooks the policy implements (at least one); the others stay nil.
type Plugin struct {
	// Configure receives the binding's configuration, a JSON object ("{}" when there is
	// none), once per instance before any hook call. An error refuses the policy (it is
	// logged). Nil accepts only "{}". DecodeConfig decodes strictly.
	Configure func(config json.RawMessage) error
	// Route picks the session that sends a message.
	Route func(in RouteInput) RouteDecision
	// Failover decides what happens to a message whose send failed.
	Failover func(in FailoverInput) FailoverDecision
	// Rate decides whether a session may send a message now.
	Rate func(in RateInput) RateDecision
	// Transform rewrites or drops an event before it is delivered to webhooks.
	Transform func(in TransformInput) TransformResult
}

var registered Plugin

// Register makes p the module's policy. Call it from an init function: a module built
// with -buildmode=c-shared runs its init functions when the host calls _initialize, but
// never main. A later call replaces p.
func Register(p Plugin) { registered = p }

// hooks is the bitmask of wagate_hooks: bit 0 route, 1 failover, 2 rate, 3 transform.
func hooks() int32 {
	var m int32
	if registered.Route != nil {
		m |= 1 << (hookRoute - 1)
	}
	if registered.Failover != nil {
		m |= 1 << (hookFailover - 1)
	}
	if registered.Rate != nil {
		m |= 1 << (hookRate - 1)
	}
	if registered.Transform != nil {
		m |= 1 << (hookTransform - 1)
	}
	if m == 0 {
		Log(LevelError, "no hook registered: call wasm.Register from an init function (main never runs in a module built with -buildmode=c-shared)")
	}
	return m
}

// Per-instance state of the calls: the input's storage and the answer's bytes, reused.
var (
	in  input
	out []byte
)

// guard turns a panic of hook h into the code of a failed call, logged.
func guard(hook string, code *int64) {
	if r := recover(); r != nil {
		Log(LevelError, hook+": panic: "+panicText(r))
		*code = codePanic
	}
}

func panicText(r any) string {
	switch v := r.(type) {
	case error:
		return v.Error()
	case string:
		return v
	case interface{ String() string }:
		return v.String()
	}
	return "(a value that is not a string or an error)"
}

// configure runs the registered Configure on the configuration's JSON.
func configure(config []byte) int32 {
	raw := json.RawMessage(append([]byte(nil), config...))
	var err error
	func() {
		defer func() {
			if r := recover(); r != nil {
				err = errorString("panic: " + panicText(r))
			}
		}()
		if registered.Configure == nil {
			err = DecodeConfig(raw, &struct{}{})
			return
		}
		err = registered.Configure(raw)
	}()
	if err != nil {
		Log(LevelError, "configure: "+err.Error())
		return 1
	}
	return 0
}

type errorString string

func (e errorString) Error() string { return string(e) }

// route answers a route call: the chosen candidate's index, -1 for no opinion.
func route(b []byte) (v int64) {
	if registered.Route == nil {
		return codeNotRegistered
	}
	if decodeInput(b, &in) != nil || in.hook != hookRoute {
		Log(LevelError, "route: malformed input")
		return codeBadInput
	}
	defer guard("route", &v)
	d := registered.Route(RouteInput{Now: in.now, Message: in.msg, Candidates: in.cands})
	return int64(candidateIndex("route", d.Session, in.cands))
}

// candidateIndex is the index of session among cands, -1 for "", len(cands) (a bad
// output for the host) for a session that is not a candidate.
func candidateIndex(hook, session string, cands []Candidate) int {
	if session == "" {
		return -1
	}
	// A hook usually answers a candidate's own string: compare pointers first, which
	// costs no call (and in a module, comparing bytes costs an interruption check per
	// byte).
	for i := range cands {
		if unsafe.StringData(cands[i].Session) == unsafe.StringData(session) && len(cands[i].Session) == len(session) {
			return i
		}
	}
	for i := range cands {
		if cands[i].Session == session {
			return i
		}
	}
	Log(LevelError, hook+": session "+session+" is not a candidate")
	return len(cands)
}

// failover answers a failover call.
func failover(b []byte) (a answer) {
	if registered.Failover == nil {
		return answer{v: codeNotRegistered}
	}
	if decodeInput(b, &in) != nil || in.hook != hookFailover || !in.hasSubject {
		Log(LevelError, "failover: malformed input")
		return answer{v: codeBadInput}
	}
	defer guard("failover", &a.v)
	d := registered.Failover(FailoverInput{Now: in.now, Message: in.msg, Session: in.subject, Error: in.err,
		Attempt: in.attempt, Candidates: in.cands})
	switch d.Action {
	case FailoverNoOpinion:
		return answer{}
	case FailoverRetry:
		return answer{v: pack(uint8(FailoverRetry), millis(d.Delay))}
	case FailoverReroute:
		return answer{v: pack(uint8(FailoverReroute), uint64(uint32(candidateIndex("failover", d.Session, in.cands))))}
	case FailoverFail:
		return reasonAnswer(uint8(FailoverFail), d.Reason)
	}
	return answer{v: pack(uint8(d.Action), 0)} // an unknown action: the host refuses it
}

// rate answers a rate call.
func rate(b []byte) (a answer) {
	if registered.Rate == nil {
		return answer{v: codeNotRegistered}
	}
	if decodeInput(b, &in) != nil || in.hook != hookRate || !in.hasSubject {
		Log(LevelError, "rate: malformed input")
		return answer{v: codeBadInput}
	}
	defer guard("rate", &a.v)
	d := registered.Rate(RateInput{Now: in.now, Message: in.msg, Session: in.subject})
	switch d.Action {
	case RateNoOpinion, RateAllow:
		return answer{v: pack(uint8(d.Action), 0)}
	case RateDelay:
		return answer{v: pack(uint8(RateDelay), millis(d.Delay))}
	case RateReject:
		return reasonAnswer(uint8(RateReject), d.Reason)
	}
	return answer{v: pack(uint8(d.Action), 0)}
}

// transform answers a transform call: 0 drops, out holds the output event's JSON.
func transform(b []byte) (a answer) {
	if registered.Transform == nil {
		return answer{v: codeNotRegistered}
	}
	var ev Event
	if err := json.Unmarshal(b, &ev); err != nil {
		Log(LevelError, "transform: malformed input: "+err.Error())
		return answer{v: codeBadInput}
	}
	defer guard("transform", &a.v)
	r := registered.Transform(TransformInput{Now: Now(), Event: ev})
	if r.Drop {
		return answer{}
	}
	enc, err := json.Marshal(r.Event)
	if err != nil {
		Log(LevelError, "transform: encoding the event: "+err.Error())
		return answer{v: codeBadInput}
	}
	out = enc
	return answer{v: 1, out: out}
}
