package memguard

import (
	"errors"
	"math"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

const mib = 1 << 20

// fakeHeap is an injected reading.
type fakeHeap struct {
	mu    sync.Mutex
	inUse uint64
}

func (f *fakeHeap) set(n uint64) { f.mu.Lock(); f.inUse = n; f.mu.Unlock() }
func (f *fakeHeap) read() Reading {
	f.mu.Lock()
	defer f.mu.Unlock()
	return Reading{InUse: f.inUse, HeapObjects: f.inUse / 2}
}

// TestPressureShedsThenRecovers injects a growing heap: over the high watermark new
// work is refused with a PressureError and the Pressure flag is up; between the marks
// it stays up (hysteresis); under the low mark work is admitted again.
func TestPressureShedsThenRecovers(t *testing.T) {
	heap := &fakeHeap{inUse: 500 * mib}
	reg := prometheus.NewRegistry()
	g := New(Options{Limit: 1000 * mib, High: 0.9, Low: 0.75, RetryAfter: 3 * time.Second, Read: heap.read, Registerer: reg})
	g.Check()
	if err := g.Admit(); err != nil || g.Pressure() {
		t.Fatalf("500 of 1000 MiB: Admit = %v, pressure = %v", err, g.Pressure())
	}

	heap.set(950 * mib) // the fault: memory grows past the high mark
	g.Check()
	err := g.Admit()
	var pe *PressureError
	if !errors.Is(err, ErrPressure) || !errors.As(err, &pe) || !g.Pressure() {
		t.Fatalf("950 MiB: Admit = %v, pressure = %v; want a PressureError", err, g.Pressure())
	}
	if pe.InUse != 950*mib || pe.High != 900*mib || pe.RetryAfter != 3*time.Second {
		t.Errorf("PressureError = %+v", pe)
	}
	if !strings.Contains(err.Error(), "950 MiB") || !strings.Contains(err.Error(), "900 MiB") {
		t.Errorf("message %q lacks the figures", err)
	}

	heap.set(800 * mib) // under high, over low
	g.Check()
	if !g.Pressure() {
		t.Error("pressure dropped at 800 MiB; want it kept until under 750 MiB")
	}
	heap.set(700 * mib) // the fault clears
	g.Check()
	if err := g.Admit(); err != nil || g.Pressure() {
		t.Fatalf("700 MiB: Admit = %v, pressure = %v; want admitted", err, g.Pressure())
	}

	for name, want := range map[string]float64{
		"wagate_memory_shed_total": 1, "wagate_memory_pressure_episodes_total": 1, "wagate_memory_pressure": 0,
		"wagate_memory_in_use_bytes": 700 * mib, "wagate_memory_high_watermark_bytes": 900 * mib,
		"wagate_memory_soft_limit_bytes": 1000 * mib,
	} {
		if got := gather(t, reg, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
}

func gather(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	n, err := testutil.GatherAndCount(reg, name)
	if err != nil || n != 1 {
		t.Fatalf("%s: %d series, %v", name, n, err)
	}
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == name {
			m := mf.GetMetric()[0]
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}

// TestNoLimitNeverSheds: without a limit there is nothing to measure against.
func TestNoLimitNeverSheds(t *testing.T) {
	heap := &fakeHeap{inUse: math.MaxUint64 / 2}
	g := New(Options{Read: heap.read})
	g.Check()
	if g.Admit() != nil || g.Pressure() {
		t.Error("shedding without a limit")
	}
}

// TestStartAppliesAndCloseRestoresTheLimit: the runtime's soft limit is the
// configured one while the guard runs, and the previous one after Close.
func TestStartAppliesAndCloseRestoresTheLimit(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	g := New(Options{Limit: 3 << 30, Apply: true})
	g.Start()
	if got := debug.SetMemoryLimit(-1); got != 3<<30 {
		t.Errorf("runtime limit while running = %d, want 3 GiB", got)
	}
	if g.Last().InUse == 0 {
		t.Error("Start took no reading")
	}
	g.Close()
	if got := debug.SetMemoryLimit(-1); got != before {
		t.Errorf("runtime limit after Close = %d, want %d", got, before)
	}
}

// The collector's target is the configured one while the guard runs, and the previous
// one after Close; 0 leaves it alone.
func TestStartAppliesAndCloseRestoresGCPercent(t *testing.T) {
	before := debug.SetGCPercent(100)
	defer debug.SetGCPercent(before)
	g := New(Options{GCPercent: 40})
	g.Start()
	if got := debug.SetGCPercent(40); got != 40 {
		t.Errorf("GC percent while running = %d, want 40", got)
	}
	g.Close()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GC percent after Close = %d, want 100", got)
	}
	g = New(Options{})
	g.Start()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GC percent with none configured = %d, want 100 (left alone)", got)
	}
	g.Close()
}

func TestResolveGC(t *testing.T) {
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == "GOGC" {
				return v
			}
			return ""
		}
	}
	for _, c := range []struct {
		configured int
		gogc       string
		apply      int
		effective  string
	}{
		{50, "", 50, "50"},
		{50, "200", 0, "200"},
		{0, "", 0, "100"},
	} {
		if apply, eff := ResolveGC(c.configured, env(c.gogc)); apply != c.apply || eff != c.effective {
			t.Errorf("ResolveGC(%d, GOGC=%q) = %d, %q; want %d, %q", c.configured, c.gogc, apply, eff, c.apply, c.effective)
		}
	}
}

func TestReadIsPlausible(t *testing.T) {
	r := Read()
	if r.InUse == 0 || r.HeapObjects == 0 || r.HeapObjects > r.InUse {
		t.Errorf("Read() = %+v", r)
	}
}

func TestResolve(t *testing.T) {
	env := func(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }

	if l, src, apply := Resolve(2<<30, 0.8, env(nil)); l != 2<<30 || src != SourceConfig || !apply {
		t.Errorf("configured: %d %s %v", l, src, apply)
	}
	if l, src, apply := Resolve(0, 0, env(nil)); l != 0 || src != SourceNone || apply {
		t.Errorf("off: %d %s %v", l, src, apply)
	}
	if l, src, apply := Resolve(0, 0.5, env(nil)); src == SourceNone || l <= 0 || !apply {
		t.Errorf("ratio: %d %s %v; want a limit from the cgroup or the host", l, src, apply)
	} else if h := hostMemory(); h > 0 && uint64(l) > h/2 {
		t.Errorf("ratio 0.5 gave %d, over half the host's %d", l, h)
	}

	// GOMEMLIMIT wins, and is left to the runtime.
	prev := debug.SetMemoryLimit(1 << 30)
	defer debug.SetMemoryLimit(prev)
	if l, src, apply := Resolve(2<<30, 0.8, env(map[string]string{"GOMEMLIMIT": "1GiB"})); l != 1<<30 || src != SourceEnv || apply {
		t.Errorf("GOMEMLIMIT: %d %s %v", l, src, apply)
	}
}

func TestCgroupLimitFrom(t *testing.T) {
	files := map[string]string{
		"/cg/memory.max":                               "max",
		"/cg/kubepods/pod1/memory.max":                 "536870912\n",
		"/cg/memory/docker/abc/memory.limit_in_bytes":  "268435456\n",
		"/cg/memory/memory.limit_in_bytes":             "9223372036854771712\n",
		"/cg/memory/unlimited/x/memory.limit_in_bytes": "9223372036854771712\n",
	}
	read := func(p string) ([]byte, error) {
		if s, ok := files[p]; ok {
			return []byte(s), nil
		}
		return nil, os.ErrNotExist
	}
	tests := []struct {
		name, proc string
		want       uint64
	}{
		{"v2 with a limit", "0::/kubepods/pod1\n", 512 << 20},
		{"v2 unlimited", "0::/\n", 0},
		{"v1 with a limit", "4:memory:/docker/abc\n0::/\n", 256 << 20},
		{"v1 no limit", "4:memory:/unlimited/x\n0::/\n", 0},
		{"v1 path hidden by the namespace, root unlimited", "4:memory:/elsewhere\n", 0},
		{"no cgroup", "", 0},
	}
	for _, tt := range tests {
		if got := cgroupLimitFrom([]byte(tt.proc), "/cg", read); got != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, got, tt.want)
		}
	}
}

// TestGarbageDoesNotShed: memory over the high watermark that a collection frees sheds
// nothing, and shedding stops once a collection brings it under the low one, without
// waiting for the runtime to collect by itself.
func TestGarbageDoesNotShed(t *testing.T) {
	heap := &fakeHeap{inUse: 950 * mib}
	live := uint64(500 * mib)
	collected := 0
	collect := func() { collected++; heap.set(live) }
	g := New(Options{Limit: 1000 * mib, High: 0.9, Low: 0.75, Read: heap.read, Collect: collect})
	g.Check()
	if g.Pressure() || collected != 1 {
		t.Fatalf("950 MiB of which 450 garbage: pressure = %v after %d collections, want none after 1", g.Pressure(), collected)
	}
	live = 950 * mib // live this time: sheds
	heap.set(960 * mib)
	g.Check()
	if !g.Pressure() {
		t.Fatal("950 MiB live: no pressure")
	}
	heap.set(800 * mib) // between the marks: still shedding, as long as it is live
	live = 800 * mib
	g.Check()
	if !g.Pressure() {
		t.Fatal("800 MiB live, between the marks: pressure stopped")
	}
	heap.set(800 * mib) // garbage now: a collection frees it, shedding stops
	live = 300 * mib
	g.Check()
	if g.Pressure() {
		t.Fatal("800 MiB of which 500 garbage: still shedding")
	}
	n := collected
	heap.set(600 * mib) // under both marks: no collection forced
	g.Check()
	if collected != n {
		t.Errorf("a reading under the marks forced a collection")
	}
}
