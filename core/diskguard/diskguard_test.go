package diskguard

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// fakeFS is an injected statfs: tests set the free space, or an error.
type fakeFS struct {
	mu   sync.Mutex
	free uint64
	err  error
}

func (f *fakeFS) set(free uint64, err error) { f.mu.Lock(); f.free, f.err = free, err; f.mu.Unlock() }
func (f *fakeFS) statfs(string) (Space, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return Space{Free: f.free, Total: 100 << 30}, f.err
}

const gib = 1 << 30

// TestLowDiskRefusesThenRecovers injects a filling disk: under the minimum new work is
// refused with a LowError naming the figures, the retention trigger fires once, a
// reading just over the minimum does not yet recover (hysteresis), a failed reading
// changes nothing, and free space back over minimum plus a quarter admits work again.
func TestLowDiskRefusesThenRecovers(t *testing.T) {
	fs := &fakeFS{free: 10 * gib}
	reg := prometheus.NewRegistry()
	lows := make(chan struct{}, 10)
	g := New(Options{Dir: "/data", MinFree: gib, Statfs: fs.statfs, RetryAfter: 7 * time.Second,
		OnLow: func() { lows <- struct{}{} }, Registerer: reg})
	g.Check()
	if err := g.Admit(); err != nil || g.Low() {
		t.Fatalf("10 GiB free: Admit = %v, low = %v", err, g.Low())
	}

	fs.set(gib/2, nil) // the fault: the disk fills
	g.Check()
	err := g.Admit()
	var le *LowError
	if !errors.Is(err, ErrLow) || !errors.As(err, &le) {
		t.Fatalf("512 MiB free: Admit = %v, want a LowError", err)
	}
	if le.Free != gib/2 || le.MinFree != gib || le.RetryAfter != 7*time.Second || le.Dir != "/data" {
		t.Errorf("LowError = %+v", le)
	}
	for _, want := range []string{"/data", "512.0 MiB", "1.0 GiB", "disk.min_free"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not mention %q", err.Error(), want)
		}
	}
	if g.Ready() == nil {
		t.Error("Ready() = nil while low")
	}
	<-lows // OnLow ran: the retention round is asked for

	fs.set(gib+gib/8, nil) // over the minimum, under minimum + 1/4
	g.Check()
	if !g.Low() {
		t.Error("recovered at 1.125 GiB; want low until 1.25 GiB (hysteresis)")
	}
	fs.set(0, errors.New("EIO"))
	if _, err := g.Check(); err == nil || !g.Low() {
		t.Errorf("failed reading: err %v, low %v; want the error and the state kept", err, g.Low())
	}

	fs.set(gib+gib/4, nil) // the fault clears (retention and GC freed space)
	g.Check()
	if err := g.Admit(); err != nil || g.Ready() != nil {
		t.Fatalf("1.25 GiB free: Admit = %v, Ready = %v; want both nil", err, g.Ready())
	}
	select {
	case <-lows:
		t.Error("OnLow called again without a new low episode")
	default:
	}

	for name, want := range map[string]float64{
		"wagate_disk_refused_total": 1, "wagate_disk_low_episodes_total": 1, "wagate_disk_check_errors_total": 1,
		"wagate_disk_low": 0, "wagate_disk_free_bytes": float64(gib + gib/4), "wagate_disk_min_free_bytes": gib,
	} {
		if got := gather(t, reg, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
}

func gather(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			m := mf.GetMetric()[0]
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// TestMinFreeZeroIsOff: with no minimum the guard reports but never refuses.
func TestMinFreeZeroIsOff(t *testing.T) {
	fs := &fakeFS{free: 0}
	g := New(Options{Dir: "/data", Statfs: fs.statfs})
	g.Check()
	if err := g.Admit(); err != nil {
		t.Errorf("Admit with min_free 0 and a full disk = %v, want nil", err)
	}
}

// TestRealStatfs reads the test's own temporary directory.
func TestRealStatfs(t *testing.T) {
	sp, err := Statfs(t.TempDir())
	if err != nil {
		t.Skipf("statfs unsupported here: %v", err)
	}
	if sp.Total == 0 || sp.Free > sp.Total {
		t.Errorf("Statfs = %+v", sp)
	}
	g := New(Options{Dir: t.TempDir(), MinFree: 1})
	g.Start()
	defer g.Close()
	if g.Last().Total == 0 {
		t.Error("Start did not take a first reading")
	}
}
