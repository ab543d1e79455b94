package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wagate/wagate/config"
	"github.com/wagate/wagate/core/store"
)

// TestEncryptedGatewayKeepsNothingInClear runs the gateway with an encryption key,
// stores a tenant, a session and a linked number whose names are markers, sends a text,
// and then searches every file of the data dir for the markers. Reopening without the
// key must fail with a message that says why.
func TestEncryptedGatewayKeepsNothingInClear(t *testing.T) {
	dir := t.TempDir()
	const key = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
	markers := []string{"Marker-Tenant-Name-7Q", "marker-session-7q", "the secret text 7Q"}

	tg := bootYAMLWith(t, dir, "  encryption_key: "+key+"\n")
	k := tg.do("POST", "/api/admin/tenants", adminKey, map[string]any{"id": "enc", "name": markers[0]})
	if k.status != 201 {
		t.Fatalf("tenant: %d %s", k.status, k.body)
	}
	var out struct {
		APIKey struct{ Key string } `json:"apiKey"`
	}
	k.json(t, &out)
	if r := tg.do("POST", "/api/sessions", out.APIKey.Key, map[string]any{"name": markers[1]}); r.status != 201 {
		t.Fatalf("session: %d %s", r.status, r.body)
	}
	if r := tg.do("POST", "/api/sandbox/"+markers[1]+"/link", out.APIKey.Key, map[string]any{"phone": "15559876543"}); r.status != 200 {
		t.Fatalf("link: %d %s", r.status, r.body)
	}
	waitWorking(t, tg, out.APIKey.Key, markers[1])
	if r := tg.do("POST", "/api/sendText", out.APIKey.Key, map[string]any{"session": markers[1], "chatId": "15551112222", "text": markers[2]}); r.status != 202 {
		t.Fatalf("send: %d %s", r.status, r.body)
	}
	tg.stop()

	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, m := range append(markers, "15559876543") {
			if bytes.Contains(b, []byte(m)) {
				t.Errorf("%s holds %q in clear", filepath.Base(p), m)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	cfg, _ := config.Parse([]byte("store:\n  dir: "+dir+"\nadmin:\n  api_key: "+adminKey+"\n"), nil)
	_, err = openGateway(context.Background(), cfg, slog.New(slog.DiscardHandler), io.Discard)
	if !errors.Is(err, store.ErrEncryptionKey) || !strings.Contains(err.Error(), "WAGATE_STORE_ENCRYPTION_KEY") {
		t.Fatalf("open without key: %v; want ErrEncryptionKey naming the variable", err)
	}
}
