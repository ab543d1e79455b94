package lua

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/parse"

	"github.com/wagate/wagate/core/policy"
)

func compiled(t *testing.T, src string) *lua.FunctionProto {
	t.Helper()
	chunk, err := parse.Parse(strings.NewReader(src), "t")
	if err != nil {
		t.Fatal(err)
	}
	proto, err := lua.Compile(rewriteConcat(chunk), "t")
	if err != nil {
		t.Fatal(err)
	}
	return proto
}

// TestOwnStoresOnly: which scripts are proven to store only into their own tables.
func TestOwnStoresOnly(t *testing.T) {
	for _, c := range []struct {
		name string
		src  string
		want bool
	}{
		{"no stores", `function route(m, cs) return cs[1] end`, true},
		{"result table", `function rate(m, s) return {action = "delay", delay_ms = s.queue_depth} end`, true},
		{"array constructor", `function route(m, cs) local t = {1, 2, cs[1]} return t[3] end`, true},
		{"own local table in a loop", `function route(m, cs)
			local seen = {}
			for i = 1, #cs do seen[cs[i].session] = true end
			return cs[1] end`, true},
		{"own table copied", `function route(m, cs) local t = {} local u = t u.x = 1 return cs[1] end`, true},
		{"concat", `function route(m, cs) local t = {} t.s = m.id .. "/" .. cs[1].session return cs[1] end`, true},
		{"store into a parameter", `function route(m, cs) cs[1].queue_depth = 0 return cs[1] end`, false},
		{"store into a field", `function route(m, cs) m.text = "x" return cs[1] end`, false},
		{"store into a global table", `t = {} function route(m, cs) t.x = 1 return cs[1] end`, false},
		{"store into an upvalue", `local t = {} function route(m, cs) t.x = 1 return cs[1] end`, false},
		{"store into a call's result", `function route(m, cs) local t = setmetatable({}, {}) t.x = 1 return cs[1] end`, false},
		{"own table on one path only", `function route(m, cs)
			local t = {}
			if m.text == "x" then t = cs[1] end
			t.queue_depth = 0
			return cs[1] end`, false},
		{"own table replaced in a loop", `function route(m, cs)
			local t = {}
			for i = 1, #cs do t.n = i; t = cs[i] end
			return cs[1] end`, false},
		{"local assigned by a closure", `function route(m, cs)
			local t = {}
			local function f() t = cs[1] end
			f()
			t.queue_depth = 0
			return cs[1] end`, false},
		{"nested function storing into its parameter", `local function set(c) c.x = 1 end
			function route(m, cs) return cs[1] end`, false},
		{"list stored into", `function route(m, cs) cs[1] = cs[2] return cs[1] end`, false},
	} {
		if got := ownStoresOnly(compiled(t, c.src)); got != c.want {
			t.Errorf("%s: ownStoresOnly %v, want %v", c.name, got, c.want)
		}
	}
}

// TestOwnStoresOnlyBuiltins: the built-in route and rate scripts qualify; redact, which
// rewrites its event in place, does not.
func TestOwnStoresOnlyBuiltins(t *testing.T) {
	for file, want := range map[string]bool{
		"weighted/weighted.lua": true, "leastloaded/least-loaded.lua": true, "roundrobin/round-robin.lua": true,
		"sticky/sticky-contact.lua": true, "ratelimit/rate-limit.lua": true, "redact/redact.lua": false,
	} {
		src, err := os.ReadFile(filepath.Join("..", "..", "..", "plugins", file))
		if err != nil {
			t.Fatal(err)
		}
		if got := ownStoresOnly(compiled(t, string(src))); got != want {
			t.Errorf("%s: ownStoresOnly %v, want %v", file, got, want)
		}
	}
}

// dumpScript answers every hook with every input field it received, in a fixed order;
// impure adds a function (never called) that stores into its parameter, so that the
// script does not qualify for the fast refill.
const dumpScript = `
local fields = {"session", "provider", "state", "queue_depth", "sent_minute", "sent_hour", "sent_day",
  "linked_ms", "last_contact_ms", "last_sent_ms", "last_inbound_ms", "chat_sent_hour", "first_contact",
  "first_contacts_day", "paused_until_ms", "pause_reason"}
local mfields = {"id", "tenant", "session", "chat_id", "kind", "text", "attempts", "created_ms"}
local function dump(t, names)
  local parts = {}
  for i = 1, #names do parts[i] = names[i] .. "=" .. tostring(rawget(t, names[i])) end
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return table.concat(parts, ",") .. ";" .. n
end
local function all(m, cs)
  local parts = {dump(m, mfields), tostring(#cs)}
  for i = 1, #cs do parts[#parts + 1] = dump(cs[i], fields) end
  return table.concat(parts, "|")
end
function route(m, cs) return {session = all(m, cs)} end
function rate(m, s) return {action = "reject", reason = all(m, {s})} end
`

// TestFastRefillMatchesReadBack: a script that qualifies for the fast refill sees, call
// after call, exactly the input tables of one that does not, over a table of inputs
// that change every field (and the list's length) from one call to the next.
func TestFastRefillMatchesReadBack(t *testing.T) {
	fast := open(t, dumpScript, "")
	slow := open(t, dumpScript+"\nlocal function impure(c) c.x = 1 end\n", "")
	if !fast.ownStores || slow.ownStores {
		t.Fatalf("ownStores: fast %v, slow %v", fast.ownStores, slow.ownStores)
	}
	at := func(ms int64) time.Time { return time.UnixMilli(ms) }
	full := policy.Candidate{Session: "s1", Provider: "whatsmeow", State: "WORKING", QueueDepth: 3, SentMinute: 1,
		SentHour: 10, SentDay: 100, LinkedAt: at(1000), LastContact: at(2000), LastSentAt: at(3000),
		LastInbound: at(4000), ChatSentHour: 2, FirstContact: true, FirstContactsDay: 7, PausedUntil: at(5000),
		PauseReason: "cooldown"}
	changed := []func(c *policy.Candidate){
		func(c *policy.Candidate) { c.Session = "s9" }, func(c *policy.Candidate) { c.Provider = "cloudapi" },
		func(c *policy.Candidate) { c.State = "STOPPED" }, func(c *policy.Candidate) { c.QueueDepth = 5000 },
		func(c *policy.Candidate) { c.SentMinute = 0 }, func(c *policy.Candidate) { c.SentHour = 11 },
		func(c *policy.Candidate) { c.SentDay = 101 }, func(c *policy.Candidate) { c.LinkedAt = time.Time{} },
		func(c *policy.Candidate) { c.LastContact = at(2001) }, func(c *policy.Candidate) { c.LastSentAt = time.Time{} },
		func(c *policy.Candidate) { c.LastInbound = at(1 << 40) }, func(c *policy.Candidate) { c.ChatSentHour = 0 },
		func(c *policy.Candidate) { c.FirstContact = false }, func(c *policy.Candidate) { c.FirstContactsDay = 8 },
		func(c *policy.Candidate) { c.PausedUntil = time.Time{} }, func(c *policy.Candidate) { c.PauseReason = "" },
	}
	msg := policy.Message{ID: "m1", Tenant: "acme", ChatID: "c@c.us", Kind: "text", Text: "hi", Attempts: 1, CreatedAt: at(500)}
	var inputs []policy.RouteInput
	add := func(m policy.Message, cs ...policy.Candidate) {
		inputs = append(inputs, policy.RouteInput{Message: m, Candidates: cs})
	}
	add(msg, full, policy.Candidate{Session: "s2"})
	add(msg, full, policy.Candidate{Session: "s2"}) // the same again
	for i, f := range changed {
		c := full
		f(&c)
		m := msg
		m.ID, m.Attempts = fmt.Sprintf("m%d", i), i
		add(m, c, full)
		add(m, full) // back, and shorter
	}
	add(policy.Message{}, policy.Candidate{}, policy.Candidate{}, policy.Candidate{})
	add(msg, full, full, full, full)
	add(policy.Message{Tenant: "acme", Kind: "image", Text: "x", CreatedAt: at(1)}, full)
	for i, in := range inputs {
		df, errf := fast.Route(ctx, in)
		ds, errs := slow.Route(ctx, in)
		if errf != nil || errs != nil || df != ds {
			t.Fatalf("input %d: fast %q, %v; read back %q, %v", i, df.Session, errf, ds.Session, errs)
		}
		if len(in.Candidates) == 0 {
			continue
		}
		rin := policy.RateInput{Message: in.Message, Session: in.Candidates[len(in.Candidates)-1]}
		rf, errf := fast.Rate(ctx, rin)
		rs, errs := slow.Rate(ctx, rin)
		if errf != nil || errs != nil || rf != rs {
			t.Fatalf("input %d, rate: fast %q, %v; read back %q, %v", i, rf.Reason, errf, rs.Reason, errs)
		}
	}
	if want := "id=m1,tenant=acme,session=,chat_id=c@c.us"; !strings.HasPrefix(mustRoute(t, fast, inputs[0]), want) {
		t.Errorf("the dump does not start with %s", want)
	}
}

func mustRoute(t *testing.T, p *Plugin, in policy.RouteInput) string {
	t.Helper()
	d, err := p.Route(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	return d.Session
}

// TestFastRefillAfterLibraryStores: a script whose bytecode qualifies but which changes
// an input table through a library function (rawset, table.insert or table.remove on a
// record, a __newindex set with setmetatable, wagate.array) still sees the true input
// in the next call.
func TestFastRefillAfterLibraryStores(t *testing.T) {
	for _, c := range []struct{ name, change string }{
		{"rawset", `rawset(cs[1], "queue_depth", 99) rawset(m, "text", "changed")`},
		{"table.insert", `table.insert(cs[1], "x")`},
		{"a read (control)", `rawget(cs, 1)`},
		{"__newindex", `local proxy = {} setmetatable(proxy, {__newindex = cs[1]}) proxy.queue_depth = 99`},
		{"__newindex of the globals", `setmetatable(_G, {__newindex = cs[1]})`},
		{"wagate.array", `wagate.array(cs[1])`},
	} {
		t.Run(c.name, func(t *testing.T) {
			src := `function route(m, cs)
				if m.id == "change" then ` + c.change + ` end
				if m.id == "global" then queue_depth = 99 end
				return {session = m.text .. "/" .. tostring(rawget(cs[1], "queue_depth")) .. "/" .. tostring(rawget(cs[1], 1))}
			end`
			p := open(t, src, "")
			if !p.ownStores {
				t.Fatal("the script should qualify")
			}
			in := policy.RouteInput{Message: policy.Message{ID: "change", Text: "hi"}, Candidates: []policy.Candidate{{Session: "a", QueueDepth: 5}}}
			mustRoute(t, p, in)
			in.Message.ID = "global"
			mustRoute(t, p, in)
			in.Message.ID = "read"
			got := mustRoute(t, p, in)
			want := "hi/5/nil"
			if c.name == "table.insert" {
				want = "hi/5/x" // an array element added to a record stays, as with every refill
			}
			if got != want {
				t.Errorf("after the change, the next call sees %q, want %q", got, want)
			}
		})
	}
}

// BenchmarkRefill: filling ten candidate tables, read back vs from the shadow.
func BenchmarkRefill(b *testing.B) {
	cs := make([]policy.Candidate, 10)
	for i := range cs {
		cs[i] = policy.Candidate{Session: fmt.Sprintf("session-%02d", i), Provider: "whatsmeow", State: "WORKING",
			QueueDepth: i, SentHour: 10 * i, LinkedAt: time.UnixMilli(int64(i) * 1000)}
	}
	for _, c := range []struct {
		name string
		src  string
	}{{"read-back", `function route(m, cs) cs[1].x = 1 end`}, {"shadow", `function route(m, cs) return cs[1] end`}} {
		b.Run(c.name, func(b *testing.B) {
			rt := New(Options{})
			p, err := rt.Load(ctx, policy.Spec{Tenant: "acme", Name: "p", Source: []byte(c.src)})
			if err != nil {
				b.Fatal(err)
			}
			st, err := p.(*Plugin).newState(ctx)
			if err != nil {
				b.Fatal(err)
			}
			defer st.L.Close()
			var buf bytes.Buffer
			for b.Loop() {
				st.candidatesTable(cs)
			}
			_ = buf
		})
	}
}
