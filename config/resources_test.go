package config

import (
	"slices"
	"testing"
)

// TestResourcesValidate: good and bad values of retention, disk and memory, each bad
// one reported on its own path.
func TestResourcesValidate(t *testing.T) {
	bad := []struct {
		name     string
		mutate   func(*Config)
		wantPath string
	}{
		{"retention interval negative", func(c *Config) { c.Retention.Interval = -1 }, "retention.interval"},
		{"retention messages negative", func(c *Config) { c.Retention.Messages = -1 }, "retention.messages"},
		{"retention batch zero", func(c *Config) { c.Retention.Batch = 0 }, "retention.batch"},
		{"retention batch too big", func(c *Config) { c.Retention.Batch = 100001 }, "retention.batch"},
		{"usage interval negative", func(c *Config) { c.Retention.UsageInterval = -1 }, "retention.usage_interval"},
		{"disk check interval zero", func(c *Config) { c.Disk.CheckInterval = 0 }, "disk.check_interval"},
		{"soft limit tiny", func(c *Config) { c.Memory.SoftLimit = 1 << 20 }, "memory.soft_limit"},
		{"ratio above 1", func(c *Config) { c.Memory.SoftLimitRatio = 1.5 }, "memory.soft_limit_ratio"},
		{"ratio negative", func(c *Config) { c.Memory.SoftLimitRatio = -0.1 }, "memory.soft_limit_ratio"},
		{"high zero", func(c *Config) { c.Memory.HighWatermark, c.Memory.LowWatermark = 0, 0.5 }, "memory.high_watermark"},
		{"high above 1", func(c *Config) { c.Memory.HighWatermark = 1.1 }, "memory.high_watermark"},
		{"low at high", func(c *Config) { c.Memory.LowWatermark = 0.9 }, "memory.low_watermark"},
		{"low zero", func(c *Config) { c.Memory.LowWatermark = 0 }, "memory.low_watermark"},
		{"memory check interval zero", func(c *Config) { c.Memory.CheckInterval = 0 }, "memory.check_interval"},
		{"retry after zero", func(c *Config) { c.Memory.RetryAfter = 0 }, "memory.retry_after"},
		{"gc percent tiny", func(c *Config) { c.Memory.GCPercent = 5 }, "memory.gc_percent"},
		{"gc percent huge", func(c *Config) { c.Memory.GCPercent = 1001 }, "memory.gc_percent"},
		{"gc percent negative", func(c *Config) { c.Memory.GCPercent = -1 }, "memory.gc_percent"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			c := Defaults()
			tt.mutate(&c)
			if paths := errorPaths(c.Validate()); !slices.Equal(paths, []string{tt.wantPath}) {
				t.Errorf("error paths = %q, want [%s]", paths, tt.wantPath)
			}
		})
	}
	good := []struct {
		name   string
		mutate func(*Config)
	}{
		{"retention off", func(c *Config) { c.Retention.Interval, c.Retention.Messages, c.Retention.UsageInterval = 0, 0, 0 }},
		{"disk guard off", func(c *Config) { c.Disk.MinFree = 0 }},
		{"memory limit off", func(c *Config) { c.Memory.SoftLimit, c.Memory.SoftLimitRatio = 0, 0 }},
		{"explicit limit", func(c *Config) { c.Memory.SoftLimit = 2 << 30 }},
		{"whole limit", func(c *Config) { c.Memory.SoftLimitRatio, c.Memory.HighWatermark = 1, 1 }},
		{"runtime's gc percent", func(c *Config) { c.Memory.GCPercent = 0 }},
	}
	for _, tt := range good {
		t.Run(tt.name, func(t *testing.T) {
			c := Defaults()
			tt.mutate(&c)
			if err := c.Validate(); err != nil {
				t.Errorf("Validate = %v", err)
			}
		})
	}
}

// TestResourcesFromYAMLAndEnv: the sections parse from YAML, sizes with units, and
// take environment overrides.
func TestResourcesFromYAMLAndEnv(t *testing.T) {
	env := map[string]string{"WAGATE_DISK_MIN_FREE": "2GiB", "WAGATE_MEMORY_SOFT_LIMIT": "512MiB", "WAGATE_MEMORY_GC_PERCENT": "80"}
	c, err := Parse([]byte("retention:\n  messages: 48h\n  batch: 50\nmemory:\n  high_watermark: 0.95\n"), func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.Retention.Messages.String() != "48h0m0s" || c.Retention.Batch != 50 || c.Memory.HighWatermark != 0.95 ||
		c.Disk.MinFree != 2<<30 || c.Memory.SoftLimit != 512<<20 || c.Memory.GCPercent != 80 || c.Retention.Interval != defaultRetention().Interval {
		t.Errorf("parsed %+v %+v %+v", c.Retention, c.Disk, c.Memory)
	}
}
