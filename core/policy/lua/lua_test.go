package lua

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/wagate/wagate/core/event"
	"github.com/wagate/wagate/core/policy"
)

var ctx = context.Background()

// open loads src as tenant acme's policy "p" with config (nil: none).
func open(t *testing.T, src string, config string, opts ...Options) *Plugin {
	t.Helper()
	o := Options{}
	if len(opts) > 0 {
		o = opts[0]
	}
	spec := policy.Spec{Tenant: "acme", Name: "p", Source: []byte(src), KV: policy.NewMemKV(policy.KVLimits{}).For("acme")}
	if config != "" {
		spec.Config = json.RawMessage(config)
	}
	p, err := policy.Open(ctx, New(o), spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p.(*Plugin)
}

var twoCands = []policy.Candidate{
	{Session: "s1", Provider: "whatsmeow", State: "WORKING", QueueDepth: 3, SentMinute: 1, SentHour: 10, SentDay: 100,
		LinkedAt: time.UnixMilli(1000).UTC(), LastContact: time.UnixMilli(2000).UTC(), LastSentAt: time.UnixMilli(3000).UTC()},
	{Session: "s2", Provider: "cloudapi", State: "WORKING"},
}

func TestInputs(t *testing.T) {
	// The script checks every field it receives and answers with them packed in a
	// reason, so that one comparison covers the conversion.
	p := open(t, `
function route(msg, cs)
  local c = cs[1]
  assert(#cs == 2 and cs[2].session == "s2" and cs[2].last_contact_ms == 0)
  assert(c.provider == "whatsmeow" and c.state == "WORKING" and c.queue_depth == 3)
  assert(c.sent_minute == 1 and c.sent_hour == 10 and c.sent_day == 100)
  assert(c.linked_ms == 1000 and c.last_contact_ms == 2000 and c.last_sent_ms == 3000)
  assert(msg.id == "m1" and msg.tenant == "acme" and msg.session == "" and msg.chat_id == "c@c.us")
  assert(msg.kind == "text" and msg.text == "hi" and msg.attempts == 2 and msg.created_ms == 500)
  assert(wagate.now() == 9000)
  return c
end
function failover(msg, err, attempt, cs, session)
  return {action = "fail", reason = err.code .. "|" .. err.message .. "|" .. tostring(err.retryable) .. "|" ..
    attempt .. "|" .. #cs .. "|" .. session.session .. "|" .. session.provider}
end
function rate(msg, s)
  return {action = "reject", reason = s.session .. "|" .. s.sent_day .. "|" .. msg.id}
end`, "")
	msg := policy.Message{ID: "m1", Tenant: "acme", ChatID: "c@c.us", Kind: "text", Text: "hi", Attempts: 2, CreatedAt: time.UnixMilli(500)}
	now := time.UnixMilli(9000)
	if d, err := p.Route(ctx, policy.RouteInput{Now: now, Message: msg, Candidates: twoCands}); err != nil || d.Session != "s1" {
		t.Errorf("route: %+v, %v", d, err)
	}
	d, err := p.Failover(ctx, policy.FailoverInput{Now: now, Message: msg, Session: twoCands[0], Attempt: 3,
		Error: policy.Error{Code: "timeout", Message: "slow", Retryable: true}, Candidates: twoCands[1:]})
	if want := "timeout|slow|true|3|1|s1|whatsmeow"; err != nil || d.Reason != want {
		t.Errorf("failover: %+v, %v; want reason %s", d, err, want)
	}
	r, err := p.Rate(ctx, policy.RateInput{Now: now, Message: msg, Session: twoCands[0]})
	if err != nil || r != (policy.RateDecision{Action: policy.RateReject, Reason: "s1|100|m1"}) {
		t.Errorf("rate: %+v, %v", r, err)
	}
	if p.Info().Hooks != policy.HooksOf(policy.HookRoute, policy.HookFailover, policy.HookRate) || p.Info().Trusted {
		t.Errorf("info %+v", p.Info())
	}
	if _, err := p.Transform(ctx, policy.TransformInput{}); !errors.Is(err, policy.ErrNotImplemented) {
		t.Errorf("transform not defined: %v", err)
	}
}

func TestOutputs(t *testing.T) {
	route := func(ret string) string { return "function route(m, cs) return " + ret + " end" }
	failover := func(ret string) string { return "function failover() return " + ret + " end" }
	rate := func(ret string) string { return "function rate() return " + ret + " end" }
	for _, tc := range []struct {
		name, src string
		want      any // decision, or error to match
	}{
		{"route nil", route("nil"), policy.RouteDecision{}},
		{"route candidate", route("cs[2]"), policy.RouteDecision{Session: "s2"}},
		{"route table", route(`{session = "s1"}`), policy.RouteDecision{Session: "s1"}},
		{"route string", route(`"s1"`), policy.ErrBadOutput},
		{"route number", route(`1`), policy.ErrBadOutput},
		{"route table without session", route(`{name = "s1"}`), policy.ErrBadOutput},
		{"route session not a string", route(`{session = 1}`), policy.ErrBadOutput},
		{"failover nil", failover("nil"), policy.FailoverDecision{}},
		{"failover retry", failover(`{action = "retry", delay_ms = 1500}`), policy.FailoverDecision{Action: policy.FailoverRetry, Delay: 1500 * time.Millisecond}},
		{"failover reroute", failover(`{action = "reroute", session = "s2"}`), policy.FailoverDecision{Action: policy.FailoverReroute, Session: "s2"}},
		{"failover fail", failover(`{action = "fail", reason = "no"}`), policy.FailoverDecision{Action: policy.FailoverFail, Reason: "no"}},
		{"failover fail without reason", failover(`{action = "fail"}`), policy.FailoverDecision{Action: policy.FailoverFail}},
		{"failover unknown action", failover(`{action = "explode"}`), policy.ErrBadOutput},
		{"failover retry without delay", failover(`{action = "retry"}`), policy.ErrBadOutput},
		{"failover retry NaN", failover(`{action = "retry", delay_ms = 0/0}`), policy.ErrBadOutput},
		{"failover retry negative", failover(`{action = "retry", delay_ms = -1}`), policy.ErrBadOutput},
		{"failover retry huge", failover(`{action = "retry", delay_ms = 1e300}`), policy.ErrBadOutput},
		{"failover reroute without session", failover(`{action = "reroute"}`), policy.ErrBadOutput},
		{"rate allow", rate(`{action = "allow"}`), policy.RateDecision{Action: policy.RateAllow}},
		{"rate delay", rate(`{action = "delay", delay_ms = 20}`), policy.RateDecision{Action: policy.RateDelay, Delay: 20 * time.Millisecond}},
		{"rate reject", rate(`{action = "reject", reason = "full"}`), policy.RateDecision{Action: policy.RateReject, Reason: "full"}},
		{"rate action missing", rate(`{delay_ms = 20}`), policy.ErrBadOutput},
		{"rate true", rate(`true`), policy.ErrBadOutput},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := open(t, tc.src, "")
			var got any
			var err error
			switch {
			case strings.HasPrefix(tc.src, "function route"):
				got, err = p.Route(ctx, policy.RouteInput{Candidates: twoCands})
			case strings.HasPrefix(tc.src, "function failover"):
				got, err = p.Failover(ctx, policy.FailoverInput{Candidates: twoCands})
			default:
				got, err = p.Rate(ctx, policy.RateInput{})
			}
			if want, ok := tc.want.(error); ok {
				if !errors.Is(err, want) {
					t.Errorf("got %+v, %v; want %v", got, err, want)
				}
				if len(p.idle) != 1 {
					t.Errorf("a bad output discarded the state (%d idle)", len(p.idle))
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestTransformJSON(t *testing.T) {
	ev := event.Envelope{ID: "evt_1", Timestamp: 1767323045678, Event: "message", Session: "s1", Tenant: "acme",
		Payload: json.RawMessage(`{"body":"hi","n":1.5,"big":9007199254740991,"empty":[],"obj":{},"list":[1,"a",true,null],"nil":null,"nested":{"a":[{"b":[]}]}}`)}
	for _, tc := range []struct {
		name, src string
		want      string // payload; "" = dropped; "!" = bad output
	}{
		{"identity keeps the value", `function transform(e) return e end`,
			`{"big":9007199254740991,"body":"hi","empty":[],"list":[1,"a",true,null],"n":1.5,"nested":{"a":[{"b":[]}]},"nil":null,"obj":{}}`},
		{"edit", `function transform(e) e.payload.body = e.payload.body .. "!"; e.payload.list = nil; return e end`,
			`{"big":9007199254740991,"body":"hi!","empty":[],"n":1.5,"nested":{"a":[{"b":[]}]},"nil":null,"obj":{}}`},
		{"new array and plain list", `function transform(e) e.payload = {a = wagate.array(), b = {3, 4}, c = wagate.null}; return e end`,
			`{"a":[],"b":[3,4],"c":null}`},
		{"drop", `function transform(e) return false end`, ""},
		{"nil is a bad output", `function transform(e) end`, "!"},
		{"id changed: the chain's check", `function transform(e) e.id = "x"; return e end`, "*"},
		{"function in payload", `function transform(e) e.payload.f = print or type; return e end`, "!"},
		{"cycle", `function transform(e) e.payload.self = e.payload; return e end`, "!"},
		{"mixed keys", `function transform(e) e.payload = {1, x = 2, [true] = 3}; return e end`, "!"},
		{"payload too large", `function transform(e)
			local s = string.rep("x", 1000000); e.payload = {s, s}; return e end`, "!"},
		{"timestamp not a number", `function transform(e) e.timestamp = "now"; return e end`, "!"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := open(t, tc.src, "")
			r, err := p.Transform(ctx, policy.TransformInput{Event: ev})
			switch tc.want {
			case "":
				if err != nil || !r.Drop {
					t.Errorf("got %+v, %v; want drop", r, err)
				}
			case "!":
				if !errors.Is(err, policy.ErrBadOutput) {
					t.Errorf("got %s, %v; want a bad output", r.Event.Payload, err)
				}
			case "*":
				if err != nil || r.Event.ID != "x" {
					t.Errorf("got %+v, %v", r, err)
				}
			default:
				if err != nil || string(r.Event.Payload) != tc.want || r.Event.ID != ev.ID || r.Event.Timestamp != ev.Timestamp ||
					r.Event.Tenant != "acme" || r.Event.Session != "s1" || r.Event.Event != "message" {
					t.Errorf("got %+v (%s), %v; want payload %s", r.Event, r.Event.Payload, err, tc.want)
				}
			}
		})
	}
}

// A Lua transform reads the session context: engine, me, environment, metadata.
func TestTransformSeesContext(t *testing.T) {
	ev := event.Envelope{ID: "evt_1", Timestamp: 1, Event: "message", Session: "s1", Tenant: "acme", Payload: json.RawMessage(`{}`),
		Me: &event.Me{ID: "15550000001@c.us", PushName: "Ann"}, Engine: "sandbox",
		Environment: &event.Environment{Version: "v1", Engine: "sandbox", Tier: event.Tier},
		Metadata:    map[string]string{"user.id": "123"}}
	p := open(t, `function transform(e)
		e.payload = {engine = e.engine, me = e.me.id, name = e.me.pushName, version = e.environment.version,
			tier = e.environment.tier, browser = e.environment.browser == nil, user = e.metadata["user.id"]}
		return e end`, "")
	r, err := p.Transform(ctx, policy.TransformInput{Event: ev})
	want := `{"browser":true,"engine":"sandbox","me":"15550000001@c.us","name":"Ann","tier":"OSS","user":"123","version":"v1"}`
	if err != nil || string(r.Event.Payload) != want {
		t.Errorf("got %s, %v; want %s", r.Event.Payload, err, want)
	}
	ev.Me, ev.Engine, ev.Environment, ev.Metadata = nil, "", nil, nil
	p = open(t, `function transform(e) e.payload = {none = e.me == nil and e.metadata == nil and e.engine == nil}; return e end`, "")
	if r, err := p.Transform(ctx, policy.TransformInput{Event: ev}); err != nil || string(r.Event.Payload) != `{"none":true}` {
		t.Errorf("tenant-wide event: got %s, %v", r.Event.Payload, err)
	}
}

func TestConfigure(t *testing.T) {
	src := `
local limit
function configure(c) limit = c.limit; if c.fail then error("bad config") end end
function route(m, cs) return cs[limit] end`
	p := open(t, src, `{"limit":2}`)
	if d, err := p.Route(ctx, policy.RouteInput{Candidates: twoCands}); err != nil || d.Session != "s2" {
		t.Errorf("%+v, %v", d, err)
	}
	if _, err := policy.Open(ctx, New(Options{}), policy.Spec{Tenant: "a", Name: "p", Source: []byte(src), Config: []byte(`{"fail":true}`)}); err == nil ||
		!strings.Contains(err.Error(), "bad config") {
		t.Errorf("configure raising: %v", err)
	}
	noConf := `function route() end`
	if _, err := policy.Open(ctx, New(Options{}), policy.Spec{Tenant: "a", Name: "p", Source: []byte(noConf), Config: []byte(`{"x":1}`)}); !errors.Is(err, policy.ErrBadConfig) {
		t.Errorf("config without configure(): %v", err)
	}
	for name, src := range map[string]string{
		"syntax":          `function route( end`,
		"top level":       `error("boom")`,
		"no hooks":        `local x = 1`,
		"too large":       "--" + strings.Repeat("x", 70<<10),
		"top level spins": `while true do end`,
	} {
		start := time.Now()
		if _, err := policy.Open(ctx, New(Options{InitTimeout: 50 * time.Millisecond}), policy.Spec{Tenant: "a", Name: "p", Source: []byte(src)}); err == nil {
			t.Errorf("%s: loaded", name)
		}
		if time.Since(start) > time.Second {
			t.Errorf("%s: refusing took %s", name, time.Since(start))
		}
	}
}

func TestHostFunctions(t *testing.T) {
	var logs bytes.Buffer
	kv := policy.NewMemKV(policy.KVLimits{MaxValueLen: 8})
	src := `
function route(m, cs)
  wagate.log("info", "hello " .. m.id)
  wagate.log("bogus", string.rep("y", 2000))
  assert(wagate.kv_get("k") == nil)
  assert(wagate.kv_set("k", "v1") == true)
  assert(wagate.kv_get("k") == "v1")
  local ok, err = wagate.kv_set("big", "123456789")
  assert(ok == nil and string.find(err, "too large"), err)
  assert(wagate.kv_set("k", nil) == true and wagate.kv_get("k") == nil)
  wagate.kv_set("seen", "yes")
  for i = 1, 200 do wagate.log("debug", "x") end
  return nil
end`
	p, err := policy.Open(ctx, New(Options{}), policy.Spec{Tenant: "acme", Name: "p", Source: []byte(src),
		KV: kv.For("acme"), Log: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.(policy.RouteHook).Route(ctx, policy.RouteInput{Message: policy.Message{ID: "m9"}, Candidates: twoCands}); err != nil {
		t.Fatal(err)
	}
	out := logs.String()
	if !strings.Contains(out, "hello m9") || !strings.Contains(out, "tenant=acme") || !strings.Contains(out, "policy=p") {
		t.Errorf("log: %s", out)
	}
	if n := strings.Count(out, "\n"); n != maxLogLines {
		t.Errorf("%d log lines, want the %d allowed", n, maxLogLines)
	}
	if strings.Contains(out, strings.Repeat("y", maxLogLine+1)) {
		t.Error("a log line was not truncated")
	}
	if v, ok, _ := kv.For("acme").Get(ctx, "seen"); !ok || string(v) != "yes" {
		t.Error("kv_set did not reach the tenant's store")
	}
	if _, ok, _ := kv.For("other").Get(ctx, "seen"); ok {
		t.Error("another tenant sees the key")
	}
}

func TestSandboxGlobals(t *testing.T) {
	p := open(t, `
function route(m, cs)
  local absent = {"os", "io", "debug", "package", "coroutine", "channel", "print", "load", "loadstring",
    "dofile", "loadfile", "require", "module", "collectgarbage", "getfenv", "setfenv", "newproxy", "_printregs"}
  for _, name in ipairs(absent) do
    if _G[name] ~= nil then error(name .. " is reachable") end
  end
  if string.dump ~= nil then error("string.dump is reachable") end
  if ("x").dump ~= nil then error("string.dump is reachable through strings") end
  local present = {"pairs", "ipairs", "pcall", "error", "tostring", "tonumber", "type", "select", "unpack",
    "setmetatable", "getmetatable", "rawget", "rawset", "next", "assert"}
  for _, name in ipairs(present) do
    if _G[name] == nil then error(name .. " is missing") end
  end
  assert(table.insert and string.format and math.floor and math.max)
  return nil
end`, "")
	if _, err := p.Route(ctx, policy.RouteInput{Candidates: twoCands}); err != nil {
		t.Fatal(err)
	}
}

// TestPatterns checks the ported matcher against answers of the reference Lua 5.1.
func TestPatterns(t *testing.T) {
	for _, tc := range []struct{ expr, want string }{
		{`string.find("hello world", "wor")`, "7 9"},
		{`string.find("hello", "l+")`, "3 4"},
		{`string.find("hello", "xyz")`, "nil"},
		{`string.find("a.b", ".", 1, true)`, "2 2"},
		{`string.find("abc", "b", -1)`, "nil"},
		{`string.find("abc", "", 10)`, "4 3"},
		{`string.find("key=val", "(%w+)=(%w+)")`, "1 7 key val"},
		{`string.find("abc", "()b()")`, "2 2 2 3"},
		{`string.match("  trim  ", "^%s*(.-)%s*$")`, "trim"},
		{`string.match("2026-01-02", "(%d+)-(%d+)-(%d+)")`, "2026 01 02"},
		{`string.match("f(a(b)c)d", "%b()")`, "(a(b)c)"},
		{`string.match("THE (quick) fox", "%f[%a]%a+")`, "THE"},
		{`string.match("hello", "(h)(e)%2")`, "nil"},
		{`string.match("hello", "(l)%1")`, "l"},
		{`string.match("[x]", "[]x[]+")`, "[x]"},
		{`string.match("a]b", "[]]")`, "]"},
		{`string.match("a-b", "[a%-]+")`, "a-"},
		{`string.match("x9", "[^%a]")`, "9"},
		{`string.match("abc", "^b")`, "nil"},
		{`string.match("abc", "c$")`, "c"},
		{`string.match("a$c", "$c")`, "$c"},
		{`string.gsub("hello world", "o", "0")`, "hell0 w0rld 2"},
		{`string.gsub("hello world", "(%w+)", "<%1>")`, "<hello> <world> 2"},
		{`string.gsub("abc", "", "-")`, "-a-b-c- 4"},
		{`string.gsub("abc", "%w", "%%")`, "%%% 3"},
		{`string.gsub("hello", "l", {l = "L"})`, "heLLo 2"},
		{`string.gsub("hello", "(h)(e)", function(a, b) return b .. a end)`, "ehllo 1"},
		{`string.gsub("hello", "l", function() return nil end)`, "hello 2"},
		{`string.gsub("abc", "^a", "x")`, "xbc 1"},
		{`string.gsub("aaa", "a", "b", 2)`, "bba 2"},
		{`string.gsub("$1,000", "%$(%d),(%d+)", "%1%2 USD")`, "1000 USD 1"},
	} {
		p := open(t, `function route(m, cs)
			local r = {`+tc.expr+`}
			local out = {}
			for i = 1, select("#", `+tc.expr+`) do out[#out + 1] = tostring(r[i]) end
			return {session = table.concat(out, " ")}
		end`, "")
		// The answer comes back as a "session" (the chain would refuse it; the plugin does not).
		d, err := p.Route(ctx, policy.RouteInput{Candidates: twoCands})
		if err != nil || d.Session != tc.want {
			t.Errorf("%s = %q, %v; want %q", tc.expr, d.Session, err, tc.want)
		}
	}
	for _, bad := range []string{`string.find("a", "%")`, `string.find("a", "[a")`, `string.match("a", "(a")`,
		`string.match("a", "a)")`, `string.gsub("a", "a", "%2")`, `string.find("a", "%b")`, `string.find("a", "%f")`} {
		p := open(t, `function route() local x = `+bad+` end`, "")
		if _, err := p.Route(ctx, policy.RouteInput{Candidates: twoCands}); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

// TestLimits checks each bound with a budget large enough that only the bound can stop
// the call.
func TestLimits(t *testing.T) {
	for _, tc := range []struct{ name, body, err string }{
		{"table.sort", `local t = {} for i = 1, 100001 do t[i] = -i end table.sort(t)`, "table.sort: 100001 elements"},
		{"value stack", `unpack({}, 1, 20000)`, "registry overflow"},
		{"call stack", `local function f() return 1 + f() end f()`, "stack overflow"},
		{"one string", `local s = string.rep("ab", 600000)`, "string.rep: result longer than 1048576 bytes"},
		{"strings per call", `local t = {} for i = 1, 17 do t[i] = string.rep("x", 1000000) end`, "strings of 17000000 bytes built in one call"},
		{"concat", `local s = string.rep("x", 600000) local u = s .. s`, "string of 1200000 bytes"},
	} {
		p := open(t, "function route(m, cs)\n"+tc.body+"\nend", "")
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := p.Route(ctx, policy.RouteInput{Candidates: twoCands})
		cancel()
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.err)
		}
	}
	// The budget is per call: the same strings in two calls pass.
	p := open(t, `function route(m, cs) local s = string.rep("x", 1000000) for i = 1, 10 do s = string.upper(s) end end`, "")
	for range 2 {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if _, err := p.Route(ctx, policy.RouteInput{Candidates: twoCands}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestInputTablesReused: input tables are refilled at every call; a script can sort the
// candidate list, cannot add keys, and a shorter list leaves nothing behind; fields a
// script changes or clears are back to the input's in the next call.
func TestInputTablesReused(t *testing.T) {
	p := open(t, `
function route(m, cs)
  if m.text == "add" then cs[1].extra = 1 end
  if m.text == "grow" then table.insert(cs, {session = "ghost"}) end
  if m.text == "sort" then table.sort(cs, function(a, b) return a.queue_depth < b.queue_depth end) end
  if m.text == "change" then cs[1].queue_depth = 99; cs[1].provider = nil; m.text = "changed"; return cs[2] end
  if m.text == "fields" then return {session = m.text .. "/" .. tostring(cs[1].queue_depth) .. "/" .. type(cs[1].provider)} end
  if m.text == "count" then return {session = tostring(#cs) .. "/" .. tostring(cs[1].queue_depth)} end
  return cs[1]
end`, "")
	three := []policy.Candidate{{Session: "a", QueueDepth: 5}, {Session: "b", QueueDepth: 1}, {Session: "c", QueueDepth: 3}}
	call := func(text string, cs []policy.Candidate) (string, error) {
		d, err := p.Route(ctx, policy.RouteInput{Message: policy.Message{Text: text}, Candidates: cs})
		return d.Session, err
	}
	if _, err := call("add", three); err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Errorf("adding a key: %v", err)
	}
	if s, err := call("sort", three); err != nil || s != "b" {
		t.Errorf("sorted: %q, %v", s, err)
	}
	if s, err := call("grow", three); err != nil || s != "a" {
		t.Errorf("grow: %q, %v", s, err) // the list is refilled in the caller's order
	}
	if s, err := call("count", three[:1]); err != nil || s != "1/5" {
		t.Errorf("after a longer list and a script's insert, a one-candidate call sees %q, %v; want 1/5", s, err)
	}
	if s, err := call("change", three); err != nil || s != "b" {
		t.Errorf("change: %q, %v", s, err)
	}
	if s, err := call("fields", three); err != nil || s != "fields/5/string" {
		t.Errorf("after a script changed fields, the next call sees %q, %v; want fields/5/string", s, err)
	}
}

// TestCloseDuringCall: a chain swapped under load closes its plugin while a call runs;
// the call finishes, its state is closed after it, later calls are refused.
func TestCloseDuringCall(t *testing.T) {
	p := open(t, `function route(m, cs)
		wagate.kv_set("started", "yes")
		while wagate.kv_get("release") == nil do end
		return cs[2]
	end`, "")
	kv := p.kv
	done := make(chan policy.RouteDecision)
	go func() {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		d, err := p.Route(ctx, policy.RouteInput{Candidates: twoCands})
		if err != nil {
			t.Error(err)
		}
		done <- d
	}()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, ok, _ := kv.Get(ctx, "started"); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the call never started")
		}
		time.Sleep(time.Millisecond) // polling the store, with a deadline
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := kv.Set(ctx, "release", []byte("1")); err != nil {
		t.Fatal(err)
	}
	if d := <-done; d.Session != "s2" {
		t.Errorf("the call in flight answered %q", d.Session)
	}
	if len(p.idle) != 0 {
		t.Errorf("%d states kept after Close", len(p.idle))
	}
	if _, err := p.Route(ctx, policy.RouteInput{Candidates: twoCands}); !errors.Is(err, policy.ErrClosed) {
		t.Errorf("call after Close: %v", err)
	}
}
