package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wagate/wagate/core/store"
	"github.com/wagate/wagate/core/store/backup"
)

const backupStoreKey = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

// backupYAML is a gateway on dir with an encrypted store, sends slow enough that the
// queue holds messages under load, and webhooks retried within milliseconds.
func backupYAML(dir string) string {
	return `
server:
  listen: 127.0.0.1:0
  shutdown_timeout: 5s
store:
  dir: ` + dir + `
  gc_interval: 0
  encryption_key: ` + backupStoreKey + `
admin:
  api_key: ` + adminKey + `
log:
  level: error
limits:
  default_plan:
    max_sessions: 10
    max_messages_per_day: 0
queue:
  rate_per_session: 0
  backoff_base: 10ms
webhooks:
  allow_networks: 127.0.0.1/32
  backoff_base: 10ms
  backoff_max: 50ms
providers:
  sandbox:
    send_latency: 5ms
    delivery_delay: 1ms
    read_delay: 1ms
`
}

// switchReceiver is a webhook receiver that can be made to answer 503.
type switchReceiver struct {
	srv  *httptest.Server
	down atomic.Bool
	got  atomic.Int64 // deliveries answered 200
}

func newSwitchReceiver(t *testing.T) *switchReceiver {
	r := &switchReceiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if r.down.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		r.got.Add(1)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// sendLoad posts texts from several clients until stop, recording every id answered 202.
type sendLoad struct {
	mu       sync.Mutex
	accepted []string
	stop     chan struct{}
	wg       sync.WaitGroup
}

func startLoad(t *testing.T, tg *testGateway, key string, sessions []string, clients int) *sendLoad {
	l := &sendLoad{stop: make(chan struct{})}
	for c := range clients {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			client := &http.Client{Timeout: 10 * time.Second}
			for i := 0; ; i++ {
				select {
				case <-l.stop:
					return
				default:
				}
				body := fmt.Sprintf(`{"session":%q,"chatId":"1555000%04d","text":"load %d/%d"}`, sessions[i%len(sessions)], i%50, c, i)
				req, _ := http.NewRequest("POST", tg.base+"/api/sendText", strings.NewReader(body))
				req.Header.Set("X-Api-Key", key)
				req.Header.Set("Content-Type", "application/json")
				res, err := client.Do(req)
				if err != nil {
					continue
				}
				var m struct{ ID string }
				json.NewDecoder(res.Body).Decode(&m)
				res.Body.Close()
				if res.StatusCode == http.StatusAccepted {
					l.mu.Lock()
					l.accepted = append(l.accepted, m.ID)
					l.mu.Unlock()
				}
			}
		}()
	}
	t.Cleanup(l.end)
	return l
}

// snapshot returns the ids accepted so far.
func (l *sendLoad) snapshot() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.accepted...)
}

// waitAccepted waits until at least n messages were accepted.
func (l *sendLoad) waitAccepted(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for len(l.snapshot()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("only %d messages accepted in 30s, want %d", len(l.snapshot()), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (l *sendLoad) end() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.wg.Wait()
}

// pollUntil polls cond with a deadline.
func pollUntil(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestBackupUnderLoadRestoresHeld backs up a gateway under load (texts sent through two
// sandbox sessions by four clients, webhooks delivering to a local receiver) through
// the API — a full backup, then an incremental — restores both into a new dir and boots
// a gateway on it. That gateway has every message accepted before the incremental
// started, its sessions STOPPED ("restored") and its webhooks paused: nothing is sent
// or delivered until POST /api/admin/resume, after which the queued messages go out
// and the pending deliveries arrive.
func TestBackupUnderLoadRestoresHeld(t *testing.T) {
	work := t.TempDir()
	cfgPath := filepath.Join(work, "gateway.yaml")
	// The CLI reads the store key from the config (same key as the gateways).
	os.WriteFile(cfgPath, []byte("store:\n  encryption_key: "+backupStoreKey+"\n"), 0o600)

	tg := bootConfig(t, backupYAML(filepath.Join(work, "a")))
	key := tg.createTenant("dr")
	rcv := newSwitchReceiver(t)
	r := tg.do("POST", "/api/webhooks", key, map[string]any{"url": rcv.srv.URL, "events": []string{"*"}, "unordered": true})
	if r.status != 201 {
		t.Fatalf("webhook: %d %s", r.status, r.body)
	}
	var hook struct{ ID string }
	r.json(t, &hook)
	sessions := []string{"one", "two"}
	for i, s := range sessions {
		if r := tg.do("POST", "/api/sessions", key, map[string]any{"name": s}); r.status != 201 {
			t.Fatalf("session %s: %d %s", s, r.status, r.body)
		}
		if r := tg.do("POST", "/api/sandbox/"+s+"/link", key, map[string]any{"phone": fmt.Sprintf("1444555000%d", i)}); r.status != 200 {
			t.Fatalf("link %s: %d %s", s, r.status, r.body)
		}
		waitWorking(t, tg, key, s)
	}

	load := startLoad(t, tg, key, sessions, 4)
	load.waitAccepted(t, 200)
	pollUntil(t, "webhooks delivering under load", 15*time.Second, func() bool { return rcv.got.Load() > 50 })

	full := filepath.Join(work, "full.wbk")
	out, err := runCLI(t, "backup", "--config", cfgPath, "--to", full, "--url", tg.base, "--key", adminKey)
	if err != nil {
		t.Fatalf("full backup: %v", err)
	}
	var next uint64
	if _, err := fmt.Sscanf(out[strings.LastIndex(out, "--since ")+len("--since "):], "%d", &next); err != nil || next == 0 {
		t.Fatalf("full backup printed no next version: %q", out)
	}

	// More load, and a receiver that fails: deliveries pile up pending in the outbox.
	load.waitAccepted(t, len(load.snapshot())+200)
	rcv.down.Store(true)
	pollUntil(t, "deliveries pending while the receiver is down", 15*time.Second, func() bool {
		return pendingDeliveries(t, tg, key, hook.ID) >= 5
	})
	before := load.snapshot() // every message accepted before the incremental's point
	inc := filepath.Join(work, "inc.wbk")
	if _, err := runCLI(t, "backup", "--config", cfgPath, "--to", inc, "--since", fmt.Sprint(next), "--url", tg.base, "--key", adminKey); err != nil {
		t.Fatalf("incremental backup: %v", err)
	}
	load.end()
	tg.stop() // the old gateway is gone; the receiver stays down until the restored one resumes

	out, err = runCLI(t, "backup", "verify", "--config", cfgPath, inc)
	if err != nil || !strings.Contains(out, "incremental after version") || !strings.Contains(out, "msg ") || !strings.HasSuffix(out, "OK\n") {
		t.Fatalf("verify incremental: %v\n%s", err, out)
	}

	restored := filepath.Join(work, "b")
	out, err = runCLI(t, "restore", "--config", cfgPath, "--from", full, "--from", inc, "--dir", restored)
	if err != nil || !strings.Contains(out, "on hold: 2 session(s)") {
		t.Fatalf("restore: %v\n%s", err, out)
	}

	rcv.down.Store(false)
	deliveredBefore := rcv.got.Load()
	tb := bootConfig(t, backupYAML(restored))
	var hold struct {
		Held, WebhooksPaused bool
		SessionsStarted      int
	}
	tb.do("GET", "/api/admin/hold", adminKey, nil).json(t, &hold)
	if !hold.Held || !hold.WebhooksPaused {
		t.Fatalf("restored gateway not on hold: %+v", hold)
	}
	for _, s := range sessions {
		var info struct{ Status, Reason string }
		tb.do("GET", "/api/sessions/"+s, key, nil).json(t, &info)
		if info.Status != "STOPPED" || info.Reason != "restored" {
			t.Errorf("session %s after restore: %+v, want STOPPED restored", s, info)
		}
	}
	// Every message accepted before the backup point is there; those still queued stay so.
	var queued []string
	for _, id := range before {
		r := tb.do("GET", "/api/messages/"+id, key, nil)
		if r.status != 200 {
			t.Fatalf("message %s accepted before the backup: %d %s", id, r.status, r.body)
		}
		var m struct{ Status string }
		r.json(t, &m)
		if m.Status == "queued" {
			queued = append(queued, id)
		}
	}
	pending := pendingDeliveries(t, tb, key, hook.ID)
	t.Logf("accepted before the incremental: %d, still queued in it: %d, pending deliveries: %d", len(before), len(queued), pending)
	if len(queued) == 0 || pending == 0 {
		t.Fatalf("the backup caught %d queued messages and %d pending deliveries; the test needs some of each", len(queued), pending)
	}
	// On hold nothing moves. Unheld, the sandbox sends in 5ms and a local delivery takes
	// milliseconds: nothing in 500ms means the hold holds.
	for end := time.Now().Add(500 * time.Millisecond); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if n := rcv.got.Load() - deliveredBefore; n != 0 {
			t.Fatalf("%d webhook deliveries from a gateway on hold", n)
		}
	}
	var m struct{ Status string }
	tb.do("GET", "/api/messages/"+queued[0], key, nil).json(t, &m)
	if m.Status != "queued" {
		t.Fatalf("a queued message went %s on hold", m.Status)
	}

	r = tb.do("POST", "/api/admin/resume", adminKey, nil)
	r.json(t, &hold)
	if r.status != 200 || !hold.Held || hold.SessionsStarted != 2 || hold.WebhooksPaused {
		t.Fatalf("resume: %d %s", r.status, r.body)
	}
	for _, s := range sessions {
		waitWorking(t, tb, key, s)
	}
	left := queued
	pollUntil(t, "queued messages sent after resume", 30*time.Second, func() bool {
		for len(left) > 0 {
			var m struct{ Status string }
			tb.do("GET", "/api/messages/"+left[0], key, nil).json(t, &m)
			if m.Status == "queued" || m.Status == "sending" {
				return false
			}
			left = left[1:]
		}
		return true
	})
	pollUntil(t, "pending deliveries delivered after resume", 30*time.Second, func() bool {
		return pendingDeliveries(t, tb, key, hook.ID) == 0 && rcv.got.Load()-deliveredBefore >= int64(pending)
	})
	// Resume is idempotent; the hold is gone for good (also after a restart).
	tb.do("POST", "/api/admin/resume", adminKey, nil).json(t, &hold)
	if hold.Held || hold.SessionsStarted != 0 {
		t.Errorf("second resume: %+v", hold)
	}
	tb.stop()
	tb = bootConfig(t, backupYAML(restored))
	tb.do("GET", "/api/admin/hold", adminKey, nil).json(t, &hold)
	if hold.Held {
		t.Error("hold back after a restart")
	}
	waitWorking(t, tb, key, "one")
}

// pendingDeliveries counts an endpoint's pending deliveries (first page of 500).
func pendingDeliveries(t *testing.T, tg *testGateway, key, hook string) int {
	t.Helper()
	var page struct{ Deliveries []json.RawMessage }
	r := tg.do("GET", "/api/webhooks/"+hook+"/deliveries?status=pending&limit=500", key, nil)
	if r.status != 200 {
		t.Fatalf("deliveries: %d %s", r.status, r.body)
	}
	r.json(t, &page)
	return len(page.Deliveries)
}

// TestBackupBadInput: the routes refuse non-admin keys and bad parameters; restore
// refuses a non-empty dir, a corrupt file, a missing full backup and a gap; an offline
// backup of a running gateway's dir names the lock; verify names the damage.
func TestBackupBadInput(t *testing.T) {
	work := t.TempDir()
	cfgPath := filepath.Join(work, "gateway.yaml")
	os.WriteFile(cfgPath, []byte("store:\n  encryption_key: "+backupStoreKey+"\n"), 0o600)
	dataA := filepath.Join(work, "a")
	tg := bootConfig(t, backupYAML(dataA))
	key := tg.createTenant("bad")

	for _, c := range []struct {
		method, path, key string
		status            int
		code              string
	}{
		{"GET", "/api/admin/backup", "", 401, ""},
		{"GET", "/api/admin/backup", "wrong-key-0123456789abcdef", 401, ""},
		{"GET", "/api/admin/backup", key, 403, "admin_required"},
		{"POST", "/api/admin/resume", key, 403, "admin_required"},
		{"GET", "/api/admin/hold", key, 403, "admin_required"},
		{"GET", "/api/admin/backup?since=-1", adminKey, 400, "invalid_since"},
		{"GET", "/api/admin/backup?since=abc", adminKey, 400, "invalid_since"},
	} {
		r := tg.do(c.method, c.path, c.key, nil)
		if r.status != c.status || (c.code != "" && r.errCode() != c.code) {
			t.Errorf("%s %s with key %q: %d %s, want %d %s", c.method, c.path, c.key, r.status, r.body, c.status, c.code)
		}
	}
	r := tg.do("GET", "/api/admin/backup", adminKey, nil)
	if r.status != 200 || r.header.Get("X-Wagate-Backup-Encrypted") != "true" || r.header.Get("X-Wagate-Backup-Since") != "0" {
		t.Fatalf("backup: %d %v", r.status, r.header)
	}
	good := filepath.Join(work, "good.wbk")
	os.WriteFile(good, r.body, 0o600)

	// The CLI with a tenant key says what the gateway said.
	if _, err := runCLI(t, "backup", "--config", cfgPath, "--to", filepath.Join(work, "x.wbk"), "--url", tg.base, "--key", key); err == nil ||
		!strings.Contains(err.Error(), "403 admin_required") {
		t.Errorf("backup with a tenant key: %v", err)
	}
	if _, err := os.Stat(filepath.Join(work, "x.wbk")); err == nil {
		t.Error("a refused backup left a file")
	}
	// Offline on a running gateway's dir: the lock tells.
	if _, err := runCLI(t, "backup", "--config", cfgPath, "--to", filepath.Join(work, "y.wbk"), "--dir", dataA); !errors.Is(err, store.ErrLocked) ||
		!strings.Contains(err.Error(), "--url") {
		t.Errorf("offline backup of a running gateway: %v", err)
	}
	// Existing target.
	if _, err := runCLI(t, "backup", "--config", cfgPath, "--to", good, "--url", tg.base, "--key", adminKey); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("backup over an existing file: %v", err)
	}
	tg.stop()
	// Offline, stopped: works, and the two backups hold the same keys.
	offline := filepath.Join(work, "offline.wbk")
	if out, err := runCLI(t, "backup", "--config", cfgPath, "--to", offline, "--dir", dataA); err != nil || !strings.Contains(out, "backup written") {
		t.Fatalf("offline backup: %v %s", err, out)
	}

	corrupt := filepath.Join(work, "corrupt.wbk")
	b := append([]byte(nil), r.body...)
	b[len(b)/2] ^= 0xff
	os.WriteFile(corrupt, b, 0o600)
	truncated := filepath.Join(work, "truncated.wbk")
	os.WriteFile(truncated, r.body[:len(r.body)-10], 0o600)
	notBackup := filepath.Join(work, "notes.txt")
	os.WriteFile(notBackup, []byte("not a backup, just some text long enough for a header: ........................"), 0o600)
	nonEmpty := filepath.Join(work, "nonempty")
	os.MkdirAll(nonEmpty, 0o700)
	os.WriteFile(filepath.Join(nonEmpty, "keep.txt"), []byte("mine"), 0o600)
	noKeyCfg := filepath.Join(work, "nokey.yaml")
	os.WriteFile(noKeyCfg, []byte("store:\n  dir: ./unused\n"), 0o600)

	for _, c := range []struct {
		name string
		args []string
		want error
		text string
	}{
		{"non-empty dir", []string{"restore", "--config", cfgPath, "--from", good, "--dir", nonEmpty}, errDirNotEmpty, "keep.txt"},
		{"corrupt file", []string{"restore", "--config", cfgPath, "--from", corrupt, "--dir", filepath.Join(work, "r1")}, backup.ErrCorrupt, "corrupt.wbk"},
		{"truncated file", []string{"restore", "--config", cfgPath, "--from", truncated, "--dir", filepath.Join(work, "r2")}, backup.ErrCorrupt, ""},
		{"not a backup", []string{"restore", "--config", cfgPath, "--from", notBackup, "--dir", filepath.Join(work, "r3")}, backup.ErrFormat, ""},
		{"no key", []string{"restore", "--config", noKeyCfg, "--from", good, "--dir", filepath.Join(work, "r4")}, backup.ErrKey, "WAGATE_STORE_ENCRYPTION_KEY"},
		{"verify corrupt", []string{"backup", "verify", "--config", cfgPath, corrupt}, backup.ErrCorrupt, ""},
		{"verify truncated", []string{"backup", "verify", "--config", cfgPath, truncated}, backup.ErrCorrupt, "unexpected EOF"},
	} {
		_, err := runCLI(t, c.args...)
		if !errors.Is(err, c.want) || !strings.Contains(fmt.Sprint(err), c.text) {
			t.Errorf("%s: err = %v, want %v mentioning %q", c.name, err, c.want, c.text)
		}
	}
	if b, err := os.ReadFile(filepath.Join(nonEmpty, "keep.txt")); err != nil || string(b) != "mine" {
		t.Error("restore touched a non-empty dir")
	}
	for _, d := range []string{"r1", "r2", "r3", "r4"} {
		if _, err := os.Stat(filepath.Join(work, d)); err == nil {
			t.Errorf("a failed restore left %s behind", d)
		}
	}

	// An incremental first, or with a gap, is refused.
	incOnly := filepath.Join(work, "inc-only.wbk")
	db, err := store.Open(store.Options{Dir: dataA, EncryptionKey: mustHex(t, backupStoreKey)})
	if err != nil {
		t.Fatal(err)
	}
	f, _ := os.Create(incOnly)
	_, werr := backup.Write(f, db.Badger(), 1_000_000, mustHex(t, backupStoreKey))
	f.Close()
	db.Close()
	if werr != nil {
		t.Fatal(werr)
	}
	if _, err := runCLI(t, "restore", "--config", cfgPath, "--from", incOnly, "--dir", filepath.Join(work, "r5")); err == nil || !strings.Contains(err.Error(), "must be a full backup") {
		t.Errorf("incremental first: %v", err)
	}
	if _, err := runCLI(t, "restore", "--config", cfgPath, "--from", good, "--from", incOnly, "--dir", filepath.Join(work, "r6")); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("gap between backups: %v", err)
	}
	// --resume: no hold.
	if out, err := runCLI(t, "restore", "--config", cfgPath, "--from", offline, "--dir", filepath.Join(work, "r7"), "--resume"); err != nil || !strings.Contains(out, "no hold") {
		t.Fatalf("restore --resume: %v %s", err, out)
	}
	tr := bootConfig(t, backupYAML(filepath.Join(work, "r7")))
	var hold struct{ Held bool }
	tr.do("GET", "/api/admin/hold", adminKey, nil).json(t, &hold)
	if hold.Held {
		t.Error("restored with --resume, yet on hold")
	}
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b := make([]byte, len(s)/2)
	if _, err := fmt.Sscanf(s, "%x", &b); err != nil {
		t.Fatal(err)
	}
	return b
}
