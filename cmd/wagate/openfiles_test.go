package main

import (
	"bytes"
	"errors"
	"log/slog"
	"runtime"
	"strings"
	"testing"

	"github.com/wagate/wagate/config"
)

func TestOpenFilesCheck(t *testing.T) {
	cfg := config.Defaults()
	cfg.Sessions.Pool.MaxLive = 1000
	need := openFilesNeeded(cfg)
	if want := uint64(fdsReserve + 4*1000 + cfg.Limits.MaxSubscribers + cfg.Webhooks.MaxConcurrent); need != want {
		t.Fatalf("openFilesNeeded = %d, want %d", need, want)
	}
	unlimited := cfg
	unlimited.Sessions.Pool.MaxLive = 0
	cases := []struct {
		name  string
		cfg   config.Config
		soft  uint64
		err   error
		wants []string
		not   string
	}{
		{"too low", cfg, 1024, nil, []string{"level=WARN", "open files limit too low", "needed=", "LimitNOFILE="}, ""},
		{"enough", cfg, need, nil, []string{"level=INFO", "open files limit"}, "too low"},
		{"unlimited pool", unlimited, 1024, nil, []string{"not checked"}, "too low"},
		{"raise refused", cfg, 1024, errors.New("operation not permitted"), []string{"could not raise", "too low"}, ""},
	}
	for _, c := range cases {
		var buf bytes.Buffer
		log := slog.New(slog.NewTextHandler(&buf, nil))
		checkOpenFilesWith(log, c.cfg, func() (uint64, uint64, error) { return c.soft, 1 << 20, c.err })
		out := buf.String()
		for _, w := range c.wants {
			if !strings.Contains(out, w) {
				t.Errorf("%s: log lacks %q:\n%s", c.name, w, out)
			}
		}
		if c.not != "" && strings.Contains(out, c.not) {
			t.Errorf("%s: log has %q:\n%s", c.name, c.not, out)
		}
	}
}

func TestRaiseOpenFilesLimit(t *testing.T) {
	soft, hard, err := raiseOpenFilesLimit()
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" {
		return
	}
	if err != nil {
		t.Fatalf("raiseOpenFilesLimit: %v", err)
	}
	if soft != hard || soft == 0 {
		t.Fatalf("after raising: soft %d, hard %d; want soft = hard", soft, hard)
	}
}
