package plugins

import (
	"runtime"
	"syscall"
	"testing"
	"time"
)

// threadCPU is the CPU time (user and system) of the calling OS thread.
func threadCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loopCPU runs f in b.Loop on one locked OS thread and reports the thread's CPU time
// per call as cpu-ns/op: on a machine shared with other work, unlike ns/op, it does not
// count the time the benchmark waited for a core.
func loopCPU(b *testing.B, f func()) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	start := threadCPU()
	for b.Loop() {
		f()
	}
	b.ReportMetric(float64(threadCPU()-start)/float64(b.N), "cpu-ns/op")
}
