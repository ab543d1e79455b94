package whatsmeow

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestWALogger(t *testing.T) {
	var buf bytes.Buffer
	l := newWALogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})))
	l.Debugf("frame %d", 1) // below the level: dropped
	l.Sub("Socket").Infof("connected to %s", "web.whatsapp.com")
	l.Warnf("slow")
	l.Errorf("bad %v", "thing")
	out := buf.String()
	for _, want := range []string{
		`level=INFO msg="connected to web.whatsapp.com" module=Client/Socket`,
		`level=WARN msg=slow module=Client`,
		`level=ERROR msg="bad thing" module=Client`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "frame") {
		t.Errorf("debug line logged at info level:\n%s", out)
	}
}

func TestFactoryOptions(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	f := NewFactory(newRig(t).cfg, nil, WithLogger(log), WithHTTPClient(nil))
	if f.log != log || f.http == nil || f.newClient == nil {
		t.Errorf("factory = %+v", f)
	}
}
