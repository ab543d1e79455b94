//go:build !wasip1

package wasm

import (
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/wagate/wagate/core/event"
	"github.com/wagate/wagate/core/policy"
)

// The SDK decodes the ABI on its own (see abi.go); these tests pin it to the gateway's
// encoder, core/policy, and to the worked example of docs/plugins.md.

func ms(v int64) time.Time { return time.UnixMilli(v).UTC() }

func message(m policy.Message) Message {
	return Message{ID: m.ID, Tenant: m.Tenant, Session: m.Session, ChatID: m.ChatID, Kind: m.Kind, Text: m.Text,
		Attempts: m.Attempts, CreatedAt: m.CreatedAt}
}

func candidate(c policy.Candidate) Candidate {
	return Candidate{Session: c.Session, Provider: c.Provider, State: c.State, QueueDepth: c.QueueDepth,
		SentMinute: c.SentMinute, SentHour: c.SentHour, SentDay: c.SentDay,
		LinkedAt: c.LinkedAt, LastContact: c.LastContact, LastSentAt: c.LastSentAt}
}

func candidates(cs []policy.Candidate) []Candidate {
	out := []Candidate{}
	for _, c := range cs {
		out = append(out, candidate(c))
	}
	return out
}

var (
	testMsg = policy.Message{ID: "msg_01", Tenant: "acme", Session: "main", ChatID: "4915@c.us", Kind: "image",
		Text: "caption ✓ ünïcode", Attempts: 2, CreatedAt: ms(1_700_000_000_123)}
	testCands = []policy.Candidate{
		{Session: "a", Provider: "sandbox", State: "WORKING", QueueDepth: 7, SentMinute: 1, SentHour: 2, SentDay: 3,
			LinkedAt: ms(1_600_000_000_000), LastContact: ms(1_700_000_000_000), LastSentAt: ms(1_700_000_000_001)},
		{Session: "b", Provider: "cloudapi", State: "STARTING"},
		{},
	}
	testNow = ms(1_700_000_000_999)
)

func TestDecodeMatchesTheGateway(t *testing.T) {
	t.Run("route", func(t *testing.T) {
		pin := policy.RouteInput{Now: testNow, Message: testMsg, Candidates: testCands}
		var got input
		if err := decodeInput(policy.AppendRouteInput(nil, &pin), &got); err != nil {
			t.Fatal(err)
		}
		if got.hook != hookRoute || got.hasSubject || !got.now.Equal(testNow) || got.msg != message(testMsg) ||
			!reflect.DeepEqual(got.cands, candidates(testCands)) {
			t.Errorf("got %+v", got)
		}
	})
	t.Run("failover", func(t *testing.T) {
		pin := policy.FailoverInput{Now: testNow, Message: testMsg, Session: testCands[0], Attempt: 3, Candidates: testCands[1:],
			Error: policy.Error{Code: "timeout", Message: "no answer in 30s", Retryable: true}}
		var got input
		if err := decodeInput(policy.AppendFailoverInput(nil, &pin), &got); err != nil {
			t.Fatal(err)
		}
		if got.hook != hookFailover || !got.hasSubject || got.subject != candidate(testCands[0]) || got.attempt != 3 ||
			got.err != (Error{Code: "timeout", Message: "no answer in 30s", Retryable: true}) ||
			!reflect.DeepEqual(got.cands, candidates(testCands[1:])) {
			t.Errorf("got %+v", got)
		}
	})
	t.Run("rate", func(t *testing.T) {
		pin := policy.RateInput{Now: testNow, Message: testMsg, Session: testCands[1]}
		var got input
		if err := decodeInput(policy.AppendRateInput(nil, &pin), &got); err != nil {
			t.Fatal(err)
		}
		if got.hook != hookRate || !got.hasSubject || got.subject != candidate(testCands[1]) || len(got.cands) != 0 {
			t.Errorf("got %+v", got)
		}
	})
	t.Run("malformed", func(t *testing.T) {
		pin := policy.RouteInput{Now: testNow, Message: testMsg, Candidates: testCands}
		b := policy.AppendRouteInput(nil, &pin)
		for _, cut := range []int{0, 127, 128, 128 + 64, len(b) - 1} {
			var got input
			if err := decodeInput(b[:cut], &got); err == nil {
				t.Errorf("input cut at %d decoded", cut)
			}
		}
	})
}

// TestDecodeDocExample decodes the hex dump of docs/plugins.md's worked example.
func TestDecodeDocExample(t *testing.T) {
	doc, err := os.ReadFile("../../docs/plugins.md")
	if err != nil {
		t.Fatal(err)
	}
	_, block, _ := strings.Cut(string(doc), "<!-- abi-example: route -->\n```hex\n")
	block, _, _ = strings.Cut(block, "```")
	var b []byte
	for _, line := range strings.Split(strings.TrimSpace(block), "\n") {
		_, hexes, _ := strings.Cut(line, "  ")
		hexes, _, _ = strings.Cut(hexes, "|")
		for _, h := range strings.Fields(hexes) {
			var v byte
			for _, c := range h {
				v = v<<4 | byte(strings.IndexRune("0123456789abcdef", c))
			}
			b = append(b, v)
		}
	}
	var got input
	if err := decodeInput(b, &got); err != nil {
		t.Fatal(err)
	}
	if len(b) != 319 || got.msg.ChatID != "15551230000@c.us" || len(got.cands) != 2 || got.cands[1].Provider != "cloudapi" ||
		got.cands[0].LastContact != ms(1767322800000) || !got.now.Equal(ms(1767323045678)) {
		t.Errorf("%d bytes decode to %+v", len(b), got)
	}
}

func TestAnswers(t *testing.T) {
	defer Register(Plugin{})
	route0 := policy.AppendRouteInput(nil, &policy.RouteInput{Now: testNow, Message: testMsg, Candidates: testCands})
	fin := policy.AppendFailoverInput(nil, &policy.FailoverInput{Now: testNow, Message: testMsg, Session: testCands[0], Attempt: 1, Candidates: testCands})
	rin := policy.AppendRateInput(nil, &policy.RateInput{Now: testNow, Message: testMsg, Session: testCands[0]})
	tin, _ := policy.AppendTransformInput(nil, &policy.TransformInput{Event: event.Envelope{ID: "evt_1", Tenant: "acme", Event: "message", Payload: json.RawMessage(`{"a":1}`)}})

	Register(Plugin{
		Route:     func(in RouteInput) RouteDecision { return RouteDecision{Session: in.Candidates[1].Session} },
		Failover:  func(in FailoverInput) FailoverDecision { return Fail("because " + in.Session.Session) },
		Rate:      func(in RateInput) RateDecision { return Delay(1500 * time.Millisecond) },
		Transform: func(in TransformInput) TransformResult { in.Event.Event = "changed"; return Keep(in.Event) },
	})
	if h := hooks(); h != 0xF {
		t.Errorf("hooks %#x", h)
	}
	if v := route(route0); v != 1 {
		t.Errorf("route %d, want 1", v)
	}
	if a := failover(fin); a.v != pack(3, 0) || string(a.out) != "because a" {
		t.Errorf("failover %#x %q", a.v, a.out)
	}
	if a := rate(rin); a.v != pack(2, 1500) || a.out != nil {
		t.Errorf("rate %#x %q", a.v, a.out)
	}
	if a := transform(tin); a.v != 1 || string(a.out) != `{"id":"evt_1","timestamp":0,"event":"changed","session":"","tenant":"acme","payload":{"a":1}}` {
		t.Errorf("transform %d %s", a.v, a.out)
	}
	// Inputs of another hook, and hooks not registered.
	if v := route(fin); v != codeBadInput {
		t.Errorf("route of a failover input: %d", v)
	}
	Register(Plugin{Route: func(in RouteInput) RouteDecision { panic("boom") }})
	h := &TestHost{}
	defer UseTestHost(h)()
	if v := route(route0); v != codePanic || len(h.Logs()) != 1 || h.Logs()[0] != "ERROR route: panic: boom" {
		t.Errorf("panicking route: %d, logs %q", v, h.Logs())
	}
	if a := failover(fin); a.v != codeNotRegistered {
		t.Errorf("failover not registered: %d", a.v)
	}
	if hooks() != 1 {
		t.Error("hooks")
	}
	Register(Plugin{})
	if hooks() != 0 || !strings.Contains(strings.Join(h.Logs(), "\n"), "no hook registered") {
		t.Errorf("no hook: %q", h.Logs())
	}
}

func TestConfigure(t *testing.T) {
	defer Register(Plugin{})
	h := &TestHost{}
	defer UseTestHost(h)()
	Register(Plugin{Route: func(RouteInput) RouteDecision { return RouteDecision{} }})
	if configure([]byte(`{}`)) != 0 || configure([]byte(`{"a":1}`)) != 1 {
		t.Error("a policy without Configure accepts only {}")
	}
	var got struct {
		Every Duration `json:"every"`
	}
	Register(Plugin{Configure: func(raw json.RawMessage) error { return DecodeConfig(raw, &got) }})
	if configure([]byte(`{"every":"1m30s"}`)) != 0 || time.Duration(got.Every) != 90*time.Second {
		t.Errorf("every %s", time.Duration(got.Every))
	}
	for _, bad := range []string{`{"every":"-1s"}`, `{"every":90}`, `{"other":1}`, `{} {}`} {
		if configure([]byte(bad)) != 1 {
			t.Errorf("%s accepted", bad)
		}
	}
	Register(Plugin{Configure: func(json.RawMessage) error { panic("no") }})
	if configure([]byte(`{}`)) != 1 || !strings.Contains(strings.Join(h.Logs(), "\n"), "configure: panic: no") {
		t.Errorf("panicking configure: %q", h.Logs())
	}
}

// TestDecodeOwnsStrings: no decoded string points into the input buffer, which the host
// may overwrite after the call (wagate_input_reuse): overwriting it changes nothing
// decoded, and decoding another input over the previous one's storage gives what a
// fresh decode does, field by field.
func TestDecodeOwnsStrings(t *testing.T) {
	b := policy.AppendRouteInput(nil, &policy.RouteInput{Now: testNow, Message: testMsg, Candidates: testCands})
	var in input
	if err := decodeInput(b, &in); err != nil {
		t.Fatal(err)
	}
	want := in
	want.cands = append([]Candidate(nil), in.cands...)
	clear(b)
	if !reflect.DeepEqual(in.msg, want.msg) || !reflect.DeepEqual(in.cands, want.cands) || in.msg.ID == "" {
		t.Fatalf("overwriting the input changed the decoded input: %+v", in.msg)
	}
	other := append([]policy.Candidate(nil), testCands...)
	other[0].Session, other[0].Provider = other[0].Session+"x", ""
	msg := testMsg
	msg.ID, msg.Text = "msg_other", testMsg.Text[:1]
	b2 := policy.AppendRouteInput(nil, &policy.RouteInput{Now: testNow, Message: msg, Candidates: other})
	if err := decodeInput(b2, &in); err != nil {
		t.Fatal(err)
	}
	var fresh input
	if err := decodeInput(b2, &fresh); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in.msg, fresh.msg) || !reflect.DeepEqual(in.cands, fresh.cands) || in.now != fresh.now {
		t.Errorf("decoding over the previous input: %+v, %+v; fresh: %+v, %+v", in.msg, in.cands, fresh.msg, fresh.cands)
	}
}

// TestSameBytes: the eight-at-a-time comparison agrees with ==, at every length and
// position of a difference.
func TestSameBytes(t *testing.T) {
	for n := 0; n <= 40; n++ {
		a := make([]byte, n)
		for i := range a {
			a[i] = byte('a' + i%26)
		}
		if !sameBytes(append([]byte(nil), a...), a) {
			t.Errorf("length %d: equal bytes reported different", n)
		}
		for i := 0; i < n; i++ {
			b := append([]byte(nil), a...)
			b[i]++
			if sameBytes(a, b) {
				t.Errorf("length %d: a difference at %d not seen", n, i)
			}
		}
	}
}

// TestDecodeAllocations: decoding the same input again allocates nothing (its strings
// are the previous call's, its candidates reuse the previous call's storage); a changed
// string costs one allocation.
func TestDecodeAllocations(t *testing.T) {
	b := policy.AppendRouteInput(nil, &policy.RouteInput{Now: testNow, Message: testMsg, Candidates: testCands})
	var in input
	_ = decodeInput(b, &in)
	if n := testing.AllocsPerRun(100, func() { _ = decodeInput(b, &in) }); n != 0 {
		t.Errorf("%v allocations per decode", n)
	}
	m1, m2 := testMsg, testMsg
	m1.ID, m2.ID = "msg_0000000000000001", "msg_0000000000000002"
	b1 := policy.AppendRouteInput(nil, &policy.RouteInput{Now: testNow, Message: m1, Candidates: testCands})
	b2 := policy.AppendRouteInput(nil, &policy.RouteInput{Now: testNow, Message: m2, Candidates: testCands})
	i := 0
	if n := testing.AllocsPerRun(100, func() {
		if i++; i%2 == 0 {
			_ = decodeInput(b1, &in)
		} else {
			_ = decodeInput(b2, &in)
		}
	}); n != 1 {
		t.Errorf("%v allocations per decode of inputs differing in the message id, want 1", n)
	}
}
