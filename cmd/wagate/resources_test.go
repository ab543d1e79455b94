package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wagate/wagate/core/diskguard"
	"github.com/wagate/wagate/core/memguard"
	"github.com/wagate/wagate/core/store"
)

// gaugeValue reads an unlabelled gauge or counter of the gateway's registry.
func gaugeValue(g *gateway, name string) float64 {
	mfs, _ := g.registry.Gather()
	for _, mf := range mfs {
		if mf.GetName() == name {
			m := mf.GetMetric()[0]
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return -1
}

func sendText(tg *testGateway, key, session string) resp {
	tg.t.Helper()
	return tg.do("POST", "/api/sendText", key, map[string]any{"session": session, "chatId": "15551234567", "text": "hi"})
}

// TestLowDiskRefusesThenRecovers: the filesystem of store.dir fills (an injected
// statfs reading under disk.min_free): sends get 503 storage_low with Retry-After,
// /ready fails naming storage_low, reads still work; the disk frees up and both recover.
func TestLowDiskRefusesThenRecovers(t *testing.T) {
	tg := bootYAML(t, t.TempDir(), "disk:\n  min_free: 1GiB\n")
	g := tg.g
	key := tg.createTenant("disk")
	if r := tg.do("POST", "/api/sessions", key, map[string]any{"name": "s1", "start": false}); r.status != 201 {
		t.Fatalf("session: %d %s", r.status, r.body)
	}
	r := sendText(tg, key, "s1")
	if r.status != 202 {
		t.Fatalf("send with a roomy disk: %d %s", r.status, r.body)
	}
	var first struct{ ID string }
	r.json(t, &first)

	setFree := func(free uint64) {
		fn := func(string) (diskguard.Space, error) { return diskguard.Space{Free: free, Total: 100 << 30}, nil }
		g.guards.statfs.Store(&fn)
		g.guards.disk.Check()
	}
	setFree(200 << 20) // the fault: 200 MiB left
	r = sendText(tg, key, "s1")
	if r.status != 503 || r.errCode() != "storage_low" || r.header.Get("Retry-After") == "" {
		t.Fatalf("send with 200 MiB free: %d %s (Retry-After %q), want 503 storage_low", r.status, r.body, r.header.Get("Retry-After"))
	}
	if r := tg.do("GET", "/ready", "", nil); r.status != 503 || !strings.Contains(string(r.body), "storage_low") {
		t.Errorf("/ready with 200 MiB free: %d %s", r.status, r.body)
	}
	if r := tg.do("GET", "/api/messages/"+first.ID, key, nil); r.status != 200 {
		t.Errorf("reading a message while low: %d", r.status)
	}
	if v := gaugeValue(g, "wagate_disk_low"); v != 1 {
		t.Errorf("wagate_disk_low = %v, want 1", v)
	}

	setFree(5 << 30) // retention and GC freed space, or the operator did
	if r := sendText(tg, key, "s1"); r.status != 202 {
		t.Errorf("send after recovery: %d %s", r.status, r.body)
	}
	if r := tg.do("GET", "/ready", "", nil); r.status != 200 {
		t.Errorf("/ready after recovery: %d %s", r.status, r.body)
	}
	if v := gaugeValue(g, "wagate_disk_refused_total"); v != 1 {
		t.Errorf("wagate_disk_refused_total = %v, want 1", v)
	}
}

// TestRetentionDeletesOldMessagesThroughTheGateway: with the clock 31 days on, a
// retention round deletes a delivered message (404 from then on) and its expired
// idempotency key, keeps a message still waiting, and the usage metrics count them.
func TestRetentionDeletesOldMessagesThroughTheGateway(t *testing.T) {
	tg := bootYAML(t, t.TempDir(), "retention:\n  interval: 0\n  usage_interval: 0\n")
	g := tg.g
	key := tg.createTenant("ret")
	for _, s := range []map[string]any{{"name": "up"}, {"name": "down", "start": false}} {
		if r := tg.do("POST", "/api/sessions", key, s); r.status != 201 {
			t.Fatalf("session: %d %s", r.status, r.body)
		}
	}
	link := tg.do("POST", "/api/sandbox/up/link", key, map[string]any{"phone": "15550001111"})
	for deadline := time.Now().Add(10 * time.Second); link.status != 200; link = tg.do("POST", "/api/sandbox/up/link", key, map[string]any{"phone": "15550001111"}) {
		if time.Now().After(deadline) {
			t.Fatalf("link: %d %s", link.status, link.body)
		}
		time.Sleep(10 * time.Millisecond) // polling until the session shows a QR code
	}
	sent := tg.doHeaders("POST", "/api/sendText", key, map[string]any{"session": "up", "chatId": "15551234567", "text": "old"}, "Idempotency-Key", "k1")
	waiting := sendText(tg, key, "down")
	var a, b struct{ ID string }
	sent.json(t, &a)
	waiting.json(t, &b)
	messageStatus(t, tg, key, a.ID, "read")

	if err := g.guards.retention.MeasureUsage(context.Background()); err != nil {
		t.Fatal(err)
	}
	if u, _ := g.guards.retention.Usage(); u.Kinds[store.PrefixMessage].Keys != 2 || u.Tenants["ret"].Bytes == 0 {
		t.Errorf("usage before the sweep: %+v / %+v", u.Kinds[store.PrefixMessage], u.Tenants["ret"])
	}

	later := time.Now().Add(31 * 24 * time.Hour)
	clock := func() time.Time { return later }
	g.guards.clock.Store(&clock)
	round := g.guards.retention.Sweep(context.Background())
	if round.Deleted["messages"] != 1 || round.Deleted["idempotency_keys"] != 1 || len(round.Errors) != 0 {
		t.Errorf("round = %+v; want 1 message and 1 idempotency key", round)
	}
	if r := tg.do("GET", "/api/messages/"+a.ID, key, nil); r.status != 404 {
		t.Errorf("old delivered message after the sweep: %d, want 404", r.status)
	}
	if r := tg.do("GET", "/api/messages/"+b.ID, key, nil); r.status != 200 {
		t.Errorf("waiting message after the sweep: %d, want kept", r.status)
	}
	if v := counterValue(g, "wagate_retention_deleted_total", "kind", "messages"); v != 1 {
		t.Errorf("wagate_retention_deleted_total{kind=messages} = %v", v)
	}
	g.guards.retention.MeasureUsage(context.Background())
	if u, _ := g.guards.retention.Usage(); u.Kinds[store.PrefixMessage].Keys != 1 {
		t.Errorf("message keys after the sweep: %+v, want 1", u.Kinds[store.PrefixMessage])
	}
}

// TestMemoryPressureShedsAndHolds: memory in use goes over the high watermark (an
// injected reading): sends get 429 memory_pressure with Retry-After, and a message
// already queued is held by the dispatcher, not sent; memory falls under the low
// watermark and the held message goes out.
func TestMemoryPressureShedsAndHolds(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	tg := bootYAML(t, t.TempDir(), "memory:\n  soft_limit: 1GiB\n  retry_after: 100ms\n")
	g := tg.g
	if got := debug.SetMemoryLimit(-1); got != 1<<30 {
		t.Errorf("runtime soft limit = %d, want memory.soft_limit", got)
	}
	key := tg.createTenant("mem")
	if r := tg.do("POST", "/api/sessions", key, map[string]any{"name": "s1", "start": false}); r.status != 201 {
		t.Fatalf("session: %d %s", r.status, r.body)
	}
	setInUse := func(n uint64) {
		fn := func() memguard.Reading { return memguard.Reading{InUse: n, HeapObjects: n / 2} }
		g.guards.readMemory.Store(&fn)
		g.guards.memory.Check()
	}
	// The readings are injected from the start: the test process's own heap, with
	// every other test's gateway in it, may well be over 90% of 1 GiB.
	setInUse(100 << 20)
	r := sendText(tg, key, "s1") // waits: the session is stopped
	if r.status != 202 {
		t.Fatalf("send before the fault: %d %s", r.status, r.body)
	}
	var held struct{ ID string }
	r.json(t, &held)

	setInUse(950 << 20) // the fault: over 90% of 1 GiB
	r = sendText(tg, key, "s1")
	if r.status != 429 || r.errCode() != "memory_pressure" || r.header.Get("Retry-After") != "1" {
		t.Fatalf("send under pressure: %d %s (Retry-After %q), want 429 memory_pressure", r.status, r.body, r.header.Get("Retry-After"))
	}
	if r := tg.do("GET", "/ready", "", nil); r.status != 200 {
		t.Errorf("/ready under memory pressure: %d, want ready (pressure passes)", r.status)
	}

	// The session comes up: the dispatcher reaches the held message and holds it.
	tg.do("POST", "/api/sessions/s1/start", key, nil)
	link := tg.do("POST", "/api/sandbox/s1/link", key, map[string]any{"phone": "15550002222"})
	for deadline := time.Now().Add(10 * time.Second); link.status != 200; link = tg.do("POST", "/api/sandbox/s1/link", key, map[string]any{"phone": "15550002222"}) {
		if time.Now().After(deadline) {
			t.Fatalf("link: %d %s", link.status, link.body)
		}
		time.Sleep(10 * time.Millisecond) // polling until the session shows a QR code
	}
	deadline := time.Now().Add(10 * time.Second)
	for counterValue(g, "wagate_dispatch_messages_total", "outcome", "paced") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the dispatcher never held the message")
		}
		time.Sleep(10 * time.Millisecond) // polling a metric with a deadline
	}
	var m struct{ Status string }
	tg.do("GET", "/api/messages/"+held.ID, key, nil).json(t, &m)
	if m.Status != "queued" {
		t.Errorf("held message is %s under pressure, want queued", m.Status)
	}

	setInUse(600 << 20) // the fault clears: under 75%
	if r := sendText(tg, key, "s1"); r.status != 202 {
		t.Errorf("send after recovery: %d %s", r.status, r.body)
	}
	messageStatus(t, tg, key, held.ID, sentOrLater...)
	if v := gaugeValue(g, "wagate_memory_shed_total"); v != 1 {
		t.Errorf("wagate_memory_shed_total = %v, want 1", v)
	}
	tg.stop()
	if got := debug.SetMemoryLimit(-1); got != before {
		t.Errorf("runtime soft limit after shutdown = %d, want %d restored", got, before)
	}
}

// TestRestartAfterSIGKILLAndSecondGatewayRefused: the lock cleaner. A gateway killed
// with SIGKILL leaves Badger's LOCK and the owner file behind; the next start on the
// same data dir needs no manual step. A second gateway started on a dir in use exits
// with a message naming the owner's pid and host.
func TestRestartAfterSIGKILLAndSecondGatewayRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns gateway processes")
	}
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	addr := freeAddr(t)
	cfgPath := filepath.Join(dir, "gateway.yaml")
	os.WriteFile(cfgPath, []byte("server:\n  listen: "+addr+"\nstore:\n  dir: "+data+"\nadmin:\n  api_key: "+adminKey+"\nlog:\n  level: error\n"), 0o600)

	c := startChild(t, cfgPath, addr)
	owner, err := store.ReadOwner(data)
	if err != nil || owner.PID != c.cmd.Process.Pid {
		t.Fatalf("owner file = %+v, %v; want pid %d", owner, err, c.cmd.Process.Pid)
	}

	// A second gateway on the same data dir (another port) is refused.
	addr2 := freeAddr(t)
	cfg2 := filepath.Join(dir, "second.yaml")
	os.WriteFile(cfg2, []byte("server:\n  listen: "+addr2+"\nstore:\n  dir: "+data+"\nadmin:\n  api_key: "+adminKey+"\nlog:\n  level: error\n"), 0o600)
	second := exec.Command(os.Args[0], "-test.run=^$")
	second.Env = append(os.Environ(), "WAGATE_CRASH_CHILD="+cfg2)
	out, err := second.CombinedOutput()
	host, _ := os.Hostname()
	if err == nil || !strings.Contains(string(out), "in use by another wagate process (pid "+strconv.Itoa(c.cmd.Process.Pid)+" on host "+host) {
		t.Errorf("second gateway: err %v, output %q; want a refusal naming pid %d on %s", err, out, c.cmd.Process.Pid, host)
	}

	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	c.cmd.Wait()
	if _, err := os.Stat(filepath.Join(data, "LOCK")); err != nil {
		t.Errorf("Badger's LOCK after SIGKILL: %v; the test expects it left behind", err)
	}
	if o, err := store.ReadOwner(data); err != nil || o.PID != owner.PID {
		t.Errorf("owner file after SIGKILL = %+v, %v; the test expects the dead one left behind", o, err)
	}

	c = startChild(t, cfgPath, addr) // no manual step: ready means the store opened
	if o, err := store.ReadOwner(data); err != nil || o.PID != c.cmd.Process.Pid {
		t.Errorf("owner file after restart = %+v, %v; want pid %d", o, err, c.cmd.Process.Pid)
	}
}
