package config

import (
	"fmt"
	"time"
)

// Retention configures the storage optimizer: what is deleted when, and how storage
// use is measured (docs/operations.md, "Storage").
type Retention struct {
	// Interval is the time between retention rounds (the first runs at start); each
	// round sweeps every kind, then runs value-log GC if it deleted anything. 0 turns
	// retention off. Default 1h.
	Interval Duration `yaml:"interval"`
	// Messages deletes final messages (sent, delivered, read, failed) whose status last
	// changed longer ago than this, with their chat index entries. 0 keeps them
	// forever. Default 720h (30 days).
	Messages Duration `yaml:"messages"`
	// Batch is how many records one delete transaction removes. Default 1000.
	Batch int `yaml:"batch"`
	// UsageInterval is the time between measurements of the store's live data per
	// kind and per tenant (/metrics). 0 turns them off. Default 5m.
	UsageInterval Duration `yaml:"usage_interval"`
}

// Disk configures the low-disk guard.
type Disk struct {
	// MinFree is the free space on store.dir's filesystem under which new work is
	// refused (503 storage_low) and /ready fails, until it is back over MinFree plus a
	// quarter. 0 turns the guard off. Default 1GiB.
	MinFree ByteSize `yaml:"min_free"`
	// CheckInterval is the time between readings of the free space. Default 10s.
	CheckInterval Duration `yaml:"check_interval"`
}

// Memory configures the memory manager: the Go soft memory limit and shedding.
type Memory struct {
	// SoftLimit is the Go runtime's soft memory limit (what GOMEMLIMIT sets). 0 derives
	// it from SoftLimitRatio. A GOMEMLIMIT environment variable overrides both.
	// Default 0.
	SoftLimit ByteSize `yaml:"soft_limit"`
	// SoftLimitRatio, when SoftLimit is 0, sets the limit to this fraction of the
	// container's memory limit (cgroup), or of the machine's memory without one. 0 means
	// no limit and no shedding. Default 0.8.
	SoftLimitRatio float64 `yaml:"soft_limit_ratio"`
	// HighWatermark is the fraction of the soft limit above which new work is shed
	// (429 memory_pressure) and the dispatcher holds its sends. Default 0.9.
	HighWatermark float64 `yaml:"high_watermark"`
	// LowWatermark is the fraction of the soft limit under which shedding stops.
	// Below HighWatermark. Default 0.75.
	LowWatermark float64 `yaml:"low_watermark"`
	// CheckInterval is the time between readings of memory in use. Default 1s.
	CheckInterval Duration `yaml:"check_interval"`
	// RetryAfter is the Retry-After of memory_pressure refusals, and how long the
	// dispatcher holds a send while shedding. Default 5s.
	RetryAfter Duration `yaml:"retry_after"`
	// GCPercent is the Go garbage collector's target (what GOGC sets): how far, in
	// percent of the live heap, the heap may grow before the next collection. Lower
	// keeps the process's own memory closer to what it uses, for more collector CPU.
	// A GOGC environment variable wins. 0 leaves the runtime's default (100). Default 50
	// (docs/benchmarks.md, "One million recipients": the peak of the process's own
	// memory under 300 MiB).
	GCPercent int `yaml:"gc_percent"`
}

func defaultRetention() Retention {
	return Retention{
		Interval:      Duration(time.Hour),
		Messages:      Duration(720 * time.Hour),
		Batch:         1000,
		UsageInterval: Duration(5 * time.Minute),
	}
}

func defaultDisk() Disk {
	return Disk{MinFree: 1 << 30, CheckInterval: Duration(10 * time.Second)}
}

func defaultMemory() Memory {
	return Memory{
		SoftLimitRatio: 0.8,
		HighWatermark:  0.9,
		LowWatermark:   0.75,
		CheckInterval:  Duration(time.Second),
		RetryAfter:     Duration(5 * time.Second),
		GCPercent:      50,
	}
}

func (r Retention) validate(v *validator) {
	v.nonNegative("retention.interval", r.Interval)
	v.nonNegative("retention.messages", r.Messages)
	if r.Batch < 1 || r.Batch > 100000 {
		v.add("retention.batch", fmt.Sprintf("%d is outside 1 to 100000", r.Batch), "write it like 1000")
	}
	v.nonNegative("retention.usage_interval", r.UsageInterval)
}

func (d Disk) validate(v *validator) {
	v.positive("disk.check_interval", d.CheckInterval)
}

func (m Memory) validate(v *validator) {
	const p = "memory."
	if m.SoftLimit != 0 && m.SoftLimit < 64<<20 {
		v.add(p+"soft_limit", fmt.Sprintf("%s is below 64MiB", m.SoftLimit), "write 0 to derive it from soft_limit_ratio, or a size like 2GiB")
	}
	if m.GCPercent != 0 && (m.GCPercent < 10 || m.GCPercent > 1000) {
		v.add(p+"gc_percent", fmt.Sprintf("%d is not between 10 and 1000", m.GCPercent), "write it like 50, or 0 for the runtime's default (100)")
	}
	if !(m.SoftLimitRatio >= 0 && m.SoftLimitRatio <= 1) {
		v.add(p+"soft_limit_ratio", fmt.Sprintf("%g is not between 0 and 1", m.SoftLimitRatio), "write it like 0.8, or 0 for no limit")
	}
	highOK := m.HighWatermark > 0 && m.HighWatermark <= 1
	if !highOK {
		v.add(p+"high_watermark", fmt.Sprintf("%g is not above 0 and at most 1", m.HighWatermark), "write it like 0.9")
	}
	if highOK && !(m.LowWatermark > 0 && m.LowWatermark < m.HighWatermark) {
		v.add(p+"low_watermark", fmt.Sprintf("%g is not above 0 and below high_watermark (%g)", m.LowWatermark, m.HighWatermark), "write it like 0.75")
	}
	v.positive(p+"check_interval", m.CheckInterval)
	v.positive(p+"retry_after", m.RetryAfter)
}
