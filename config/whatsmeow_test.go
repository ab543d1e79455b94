package config

import (
	"slices"
	"strings"
	"testing"
)

func TestValidateWhatsmeow(t *testing.T) {
	bad := []struct {
		name     string
		mutate   func(*Whatsmeow)
		wantPath string
	}{
		{"os name empty", func(w *Whatsmeow) { w.OSName = "" }, "providers.whatsmeow.os_name"},
		{"os name blank", func(w *Whatsmeow) { w.OSName = "  " }, "providers.whatsmeow.os_name"},
		{"os name too long", func(w *Whatsmeow) { w.OSName = strings.Repeat("x", 65) }, "providers.whatsmeow.os_name"},
		{"event queue zero", func(w *Whatsmeow) { w.EventQueue = 0 }, "providers.whatsmeow.event_queue"},
		{"media too small", func(w *Whatsmeow) { w.MaxMediaBytes = 1023 }, "providers.whatsmeow.max_media_bytes"},
		{"media too big", func(w *Whatsmeow) { w.MaxMediaBytes = 2<<30 + 1 }, "providers.whatsmeow.max_media_bytes"},
		{"remembered media negative", func(w *Whatsmeow) { w.RememberedMedia = -1 }, "providers.whatsmeow.remembered_media"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			c := Defaults()
			tt.mutate(&c.Providers.Whatsmeow)
			if paths := errorPaths(c.Validate()); !slices.Equal(paths, []string{tt.wantPath}) {
				t.Errorf("error paths = %q, want [%s]", paths, tt.wantPath)
			}
		})
	}
	good := []struct {
		name   string
		mutate func(*Whatsmeow)
	}{
		{"disabled", func(w *Whatsmeow) { w.Enabled = false }},
		{"one queued event", func(w *Whatsmeow) { w.EventQueue = 1 }},
		{"smallest media", func(w *Whatsmeow) { w.MaxMediaBytes = 1 << 10 }},
		{"largest media", func(w *Whatsmeow) { w.MaxMediaBytes = 2 << 30 }},
		{"media download off", func(w *Whatsmeow) { w.RememberedMedia = 0 }},
		{"long os name", func(w *Whatsmeow) { w.OSName = strings.Repeat("x", 64) }},
	}
	for _, tt := range good {
		t.Run(tt.name, func(t *testing.T) {
			c := Defaults()
			tt.mutate(&c.Providers.Whatsmeow)
			if err := c.Validate(); err != nil {
				t.Errorf("Validate = %v, want nil", err)
			}
		})
	}
}

func TestWhatsmeowFromYAMLAndEnv(t *testing.T) {
	c, err := Parse([]byte("providers:\n  whatsmeow:\n    os_name: Acme\n    max_media_bytes: 8MiB\n"),
		func(k string) (string, bool) {
			if k == "WAGATE_PROVIDERS_WHATSMEOW_EVENT_QUEUE" {
				return "17", true
			}
			return "", false
		})
	if err != nil {
		t.Fatal(err)
	}
	w := c.Providers.Whatsmeow
	if w.OSName != "Acme" || w.MaxMediaBytes != 8<<20 || w.EventQueue != 17 || !w.Enabled || w.RememberedMedia != 1000 {
		t.Errorf("whatsmeow = %+v", w)
	}
}
