package plugins

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wagate/wagate/core/event"
	"github.com/wagate/wagate/core/policy"
	gopluginhost "github.com/wagate/wagate/core/policy/goplugin"
	luahost "github.com/wagate/wagate/core/policy/lua"
	wasmhost "github.com/wagate/wagate/core/policy/wasm"
	"github.com/wagate/wagate/core/policy/wasm/wasmtest"
)

// The golden suite: one table of inputs and expected answers per built-in rule, run
// against every runtime that has the rule. A rule must answer the same whatever it is
// written in and whichever host runs it, which is what catches a host that converts an
// input or an answer differently from the others.
//
// goldenRuntimes is the list of hosts. The WASM and go-plugin hosts join by adding an
// entry whose load returns their build of the rule (from goldenPolicy fields of their
// own: a module path, a binary), or nil to skip a rule they have no build of.
var goldenRuntimes = []goldenRuntime{
	{name: "native", load: func(t *testing.T, p goldenPolicy, kv policy.KV) policy.Plugin {
		reg := policy.NewRegistry()
		if err := Register(reg); err != nil {
			t.Fatal(err)
		}
		return openGolden(t, reg, p.native, []byte(p.native), p.nativeConfig, kv)
	}},
	{name: "lua", load: func(t *testing.T, p goldenPolicy, kv policy.KV) policy.Plugin {
		src, err := os.ReadFile(p.lua)
		if err != nil {
			t.Fatal(err)
		}
		return openGolden(t, luahost.New(luahost.Options{}), p.native, src, p.luaConfig, kv)
	}},
	{name: "goplugin", load: func(t *testing.T, p goldenPolicy, kv policy.KV) policy.Plugin {
		rt, err := goldenGoplugin()
		if err != nil {
			t.Fatal(err)
		}
		return openGolden(t, rt, p.native, []byte(p.native), p.nativeConfig, kv)
	}},
	{name: "wasm", load: func(t *testing.T, p goldenPolicy, kv policy.KV) policy.Plugin {
		mod := wasmtest.Builtin(t, p.native) // examples/wasm-builtins/<name>, built once per run
		if mod == nil {
			return nil
		}
		return openGolden(t, goldenWASM, p.native, mod, p.nativeConfig, kv)
	}},
}

// goldenWASM runs the Go SDK builds of the rules; the budget is generous (the suite
// checks answers, not speed).
var goldenWASM = wasmhost.New(wasmhost.Options{CallTimeout: 5 * time.Second})

type goldenRuntime struct {
	name string
	// load returns the runtime's build of p, configured, with kv as its store; nil skips.
	load func(t *testing.T, p goldenPolicy, kv policy.KV) policy.Plugin
}

// goldenPolicy is a rule, its builds and its table.
type goldenPolicy struct {
	native, nativeConfig string // registered name and configuration
	lua, luaConfig       string // script (path from plugins/) and configuration
	steps                []goldenStep
}

// goldenStep is one call, in order (rules with turns depend on the calls before): in
// is a policy.RouteInput, FailoverInput, RateInput or TransformInput; want the matching
// decision (a TransformResult's payload is compared as a JSON value).
type goldenStep struct {
	name string
	in   any
	want any
}

func openGolden(t *testing.T, rt policy.Runtime, name string, src []byte, config string, kv policy.KV) policy.Plugin {
	t.Helper()
	p, err := policy.Open(context.Background(), rt, policy.Spec{Tenant: "acme", Name: name, Source: src,
		Config: json.RawMessage(config), KV: kv})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

var (
	now = time.Date(2026, 1, 2, 12, 0, 0, 0, time.UTC)
	ago = func(d time.Duration) time.Time { return now.Add(-d) }
	msg = policy.Message{ID: "msg_1", Tenant: "acme", ChatID: "15551230000@c.us", Kind: "text", Text: "hi", CreatedAt: ago(time.Second)}

	// The candidates of docs/plugins.md's worked example.
	docS1 = policy.Candidate{Session: "s1", Provider: "whatsmeow", State: "WORKING", QueueDepth: 3, SentMinute: 1, SentHour: 10,
		SentDay: 100, LinkedAt: ago(30 * 24 * time.Hour), LastContact: ago(time.Hour), LastSentAt: ago(time.Minute)}
	docS2 = policy.Candidate{Session: "s2", Provider: "cloudapi", State: "WORKING", LinkedAt: ago(24 * time.Hour)}

	abc = []policy.Candidate{{Session: "a", State: "WORKING"}, {Session: "b", State: "WORKING"}, {Session: "c", State: "WORKING"}}
)

func route(cs ...policy.Candidate) policy.RouteInput {
	return policy.RouteInput{Now: now, Message: msg, Candidates: cs}
}
func to(s string) policy.RouteDecision { return policy.RouteDecision{Session: s} }

func failover(failed policy.Candidate, code string, retryable bool, attempt int, cs ...policy.Candidate) policy.FailoverInput {
	return policy.FailoverInput{Now: now, Message: msg, Session: failed, Attempt: attempt,
		Error: policy.Error{Code: code, Message: code, Retryable: retryable}, Candidates: cs}
}

func rate(s policy.Candidate) policy.RateInput {
	return policy.RateInput{Now: now, Message: msg, Session: s}
}
func delay(d time.Duration) policy.RateDecision {
	return policy.RateDecision{Action: policy.RateDelay, Delay: d}
}

func transform(payload string) policy.TransformInput {
	return policy.TransformInput{Now: now, Event: event.Envelope{ID: "evt_1", Timestamp: now.UnixMilli(), Event: "message",
		Session: "s1", Tenant: "acme", Payload: json.RawMessage(payload)}}
}
func keep(payload string) policy.TransformResult { return policy.Keep(transform(payload).Event) }

func goldenPolicies() []goldenPolicy {
	web := policy.Candidate{Session: "web", Provider: "whatsmeow", State: "WORKING"}
	cloud1 := policy.Candidate{Session: "cloud1", Provider: "cloudapi", State: "WORKING", QueueDepth: 4}
	cloud2 := policy.Candidate{Session: "cloud2", Provider: "cloudapi", State: "WORKING", QueueDepth: 1}
	contact := func(c policy.Candidate, at time.Time) policy.Candidate { c.LastContact = at; return c }
	load := func(s string, depth, minute int) policy.Candidate {
		return policy.Candidate{Session: s, State: "WORKING", QueueDepth: depth, SentMinute: minute}
	}
	return []goldenPolicy{
		{native: "round-robin", nativeConfig: `{}`, lua: "roundrobin/round-robin.lua", luaConfig: `{}`, steps: []goldenStep{
			{"first", route(abc...), to("a")}, {"second", route(abc...), to("b")}, {"third", route(abc...), to("c")},
			{"wraps", route(abc...), to("a")}, {"fewer candidates: 4 mod 2", route(abc[:2]...), to("a")},
		}},
		{native: "sticky-contact", nativeConfig: `{"max_age":"2h"}`, lua: "sticky/sticky-contact.lua", luaConfig: `{"max_age_ms":7200000}`, steps: []goldenStep{
			{"doc example: s1 has the contact", route(docS1, docS2), to("s1")},
			{"latest contact", route(contact(abc[0], ago(90*time.Minute)), contact(abc[1], ago(10*time.Minute)), abc[2]), to("b")},
			{"no contact: turns", route(abc...), to("a")},
			{"too old: turns", route(contact(abc[0], ago(3*time.Hour)), abc[1], abc[2]), to("b")},
		}},
		{native: "least-loaded", nativeConfig: `{}`, lua: "leastloaded/least-loaded.lua", luaConfig: `{}`, steps: []goldenStep{
			{"doc example: s2 has the shorter queue", route(docS1, docS2), to("s2")},
			{"tie: fewer sent", route(load("a", 5, 0), load("b", 2, 9), load("c", 2, 3)), to("c")},
			{"full tie: first", route(load("a", 2, 3), load("b", 2, 3)), to("a")},
		}},
		{native: "weighted", nativeConfig: `{"weights":{"a":3,"b":1},"default_weight":0}`, lua: "weighted/weighted.lua",
			luaConfig: `{"weights":{"a":3,"b":1},"default_weight":0}`, steps: []goldenStep{
				{"1", route(abc...), to("a")}, {"2", route(abc...), to("a")}, {"3", route(abc...), to("a")},
				{"4", route(abc...), to("b")}, {"5", route(abc...), to("a")},
				{"only weightless candidates", route(abc[2]), policy.RouteDecision{}},
			}},
		{native: "web-then-cloud", nativeConfig: `{}`, lua: "webcloud/web-then-cloud.lua", luaConfig: `{}`, steps: []goldenStep{
			{"retryable: retry", failover(web, "timeout", true, 1, web, cloud1), policy.FailoverDecision{Action: policy.FailoverRetry, Delay: 2 * time.Second}},
			{"attempts used: reroute", failover(web, "timeout", true, 2, web, cloud1, cloud2), policy.FailoverDecision{Action: policy.FailoverReroute, Session: "cloud2"}},
			{"banned: reroute", failover(web, "banned", false, 1, cloud1), policy.FailoverDecision{Action: policy.FailoverReroute, Session: "cloud1"}},
			{"no cloud number", failover(web, "banned", false, 1, web), policy.FailoverDecision{}},
			{"cloud failing", failover(cloud1, "timeout", true, 1, cloud2), policy.FailoverDecision{}},
		}},
		{native: "rate-limit", nativeConfig: `{"per_minute":20,"per_day":1000,"min_interval":"2s","warmup":{"age":"168h","per_day":100}}`,
			lua: "ratelimit/rate-limit.lua", luaConfig: `{"per_minute":20,"per_day":1000,"min_interval_ms":2000,"warmup_age_ms":604800000,"warmup_per_day":100}`,
			steps: []goldenStep{
				{"under every limit", rate(policy.Candidate{Session: "s", SentMinute: 19, SentDay: 999, LinkedAt: ago(30 * 24 * time.Hour)}), policy.RateDecision{}},
				{"per minute", rate(policy.Candidate{Session: "s", SentMinute: 20}), delay(3 * time.Second)},
				{"interval", rate(policy.Candidate{Session: "s", LastSentAt: ago(500 * time.Millisecond)}), delay(1500 * time.Millisecond)},
				{"warm-up", rate(policy.Candidate{Session: "s", SentDay: 100, LinkedAt: ago(48 * time.Hour)}), delay(864 * time.Second)},
				{"daily", rate(policy.Candidate{Session: "s", SentDay: 1000, LinkedAt: ago(30 * 24 * time.Hour)}), delay(86400 * time.Millisecond)},
				{"longest wins", rate(policy.Candidate{Session: "s", SentMinute: 20, SentDay: 1000}), delay(86400 * time.Millisecond)},
			}},
		{native: "rate-limit", nativeConfig: `{"per_day":10,"over_daily":"reject"}`,
			lua: "ratelimit/rate-limit.lua", luaConfig: `{"per_day":10,"over_daily":"reject"}`, steps: []goldenStep{
				{"reject", rate(policy.Candidate{Session: "s", SentDay: 10}), policy.RateDecision{Action: policy.RateReject, Reason: "daily_limit"}},
			}},
		{native: "identity", nativeConfig: `{}`, lua: "identity/identity.lua", luaConfig: `{}`, steps: []goldenStep{
			{"message", transform(`{"body":"hi","n":1,"list":[],"o":{"x":null}}`), keep(`{"body":"hi","n":1,"list":[],"o":{"x":null}}`)},
		}},
		{native: "redact", nativeConfig: `{"keep_last":3}`, lua: "redact/redact.lua", luaConfig: `{"keep_last":3}`, steps: []goldenStep{
			{"phone in body", transform(`{"from":"4915123456789@c.us","body":"call +49 151 2345678, order 12345"}`),
				keep(`{"from":"4915123456789@c.us","body":"call +** *** ****678, order 12345"}`)},
			{"nested caption", transform(`{"media":{"caption":"555-123-4567"},"n":2}`), keep(`{"media":{"caption":"***-***-*567"},"n":2}`)},
			{"nothing to redact", transform(`{"body":"hello"}`), keep(`{"body":"hello"}`)},
		}},
	}
}

func TestGolden(t *testing.T) {
	ctx := context.Background()
	for _, gp := range goldenPolicies() {
		for _, rt := range goldenRuntimes {
			t.Run(gp.native+"/"+rt.name, func(t *testing.T) {
				p := rt.load(t, gp, policy.NewMemKV(policy.KVLimits{}).For("acme"))
				if p == nil {
					t.Skipf("%s has no build of %s", rt.name, gp.native)
				}
				for _, st := range gp.steps {
					var got any
					var err error
					switch in := st.in.(type) {
					case policy.RouteInput:
						got, err = p.(policy.RouteHook).Route(ctx, in)
					case policy.FailoverInput:
						got, err = p.(policy.FailoverHook).Failover(ctx, in)
					case policy.RateInput:
						got, err = p.(policy.RateHook).Rate(ctx, in)
					case policy.TransformInput:
						got, err = p.(policy.TransformHook).Transform(ctx, in)
					}
					if err != nil {
						t.Fatalf("%s: %v", st.name, err)
					}
					if !goldenEqual(got, st.want) {
						t.Errorf("%s: got %+v, want %+v", st.name, show(got), show(st.want))
					}
				}
			})
		}
	}
}

// goldenEqual compares answers; transformed payloads as JSON values.
func goldenEqual(got, want any) bool {
	g, ok1 := got.(policy.TransformResult)
	w, ok2 := want.(policy.TransformResult)
	if !ok1 || !ok2 {
		return reflect.DeepEqual(got, want)
	}
	if g.Drop || w.Drop {
		return g.Drop == w.Drop
	}
	var gv, wv any
	if json.Unmarshal(g.Event.Payload, &gv) != nil || json.Unmarshal(w.Event.Payload, &wv) != nil {
		return false
	}
	gp, wp := g.Event, w.Event
	gp.Payload, wp.Payload = nil, nil
	return reflect.DeepEqual(gv, wv) && reflect.DeepEqual(gp, wp)
}

func show(v any) any {
	if r, ok := v.(policy.TransformResult); ok {
		return string(r.Event.Payload)
	}
	return v
}

// goldenGoplugin is the go-plugin runtime of the golden suite: every built-in, as a
// binary of its name, served by examples/goplugin-builtins (WAGATE_BUILTIN=<name>),
// built once per run into a directory named after this process (those of processes
// gone are removed).
var goldenGoplugin = sync.OnceValues(func() (*gopluginhost.Runtime, error) {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "wagate-golden-goplugin-*"))
	for _, d := range dirs {
		var pid int
		if _, err := fmt.Sscanf(filepath.Base(d), "wagate-golden-goplugin-%d", &pid); err == nil && syscall.Kill(pid, 0) == syscall.ESRCH {
			_ = os.RemoveAll(d)
		}
	}
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("wagate-golden-goplugin-%d", os.Getpid()))
	bin := filepath.Join(dir, "goplugin-builtins")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/wagate/wagate/examples/goplugin-builtins").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("building examples/goplugin-builtins: %v\n%s", err, out)
	}
	b, err := os.ReadFile(bin)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(b)
	var bins []gopluginhost.Binary
	for name := range Builtins {
		bins = append(bins, gopluginhost.Binary{Name: name, Path: bin, SHA256: hex.EncodeToString(sum[:]), Env: []string{"WAGATE_BUILTIN=" + name}})
	}
	// Calls made without a deadline get 5s: the suite checks answers, not speed.
	return gopluginhost.New(gopluginhost.Options{Binaries: bins, CallTimeout: 5 * time.Second})
})
