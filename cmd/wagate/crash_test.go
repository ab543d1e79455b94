package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The crash test runs the gateway as a child process: this test binary re-executed with
// WAGATE_CRASH_CHILD set runs `wagate serve` instead of the tests.
func TestMain(m *testing.M) {
	if cfg := os.Getenv("WAGATE_CRASH_CHILD"); cfg != "" {
		if err := runServe(context.Background(), cfg, os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

type child struct {
	cmd  *exec.Cmd
	base string
	log  *lockedBuffer
}

// lockedBuffer is a bytes.Buffer a child process writes while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startChild runs this test binary as a gateway child process on cfgPath (see
// TestMain), with extra environment variables env, and waits until it is ready.
func startChild(t *testing.T, cfgPath, addr string, env ...string) *child {
	t.Helper()
	return startChildWithin(t, 20*time.Second, cfgPath, addr, env...)
}

// startChildWithin is startChild with a readiness deadline of d.
func startChildWithin(t *testing.T, d time.Duration, cfgPath, addr string, env ...string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), "WAGATE_CRASH_CHILD="+cfgPath), env...)
	logBuf := &lockedBuffer{}
	cmd.Stderr, cmd.Stdout = logBuf, logBuf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, base: "http://" + addr, log: logBuf}
	t.Cleanup(func() { c.cmd.Process.Kill(); c.cmd.Wait() })
	deadline := time.Now().Add(d)
	last := "no answer"
	for {
		if r, err := http.Get(c.base + "/ready"); err == nil {
			b, _ := io.ReadAll(r.Body)
			r.Body.Close()
			if r.StatusCode == 200 {
				return c
			}
			last = fmt.Sprintf("%d %s", r.StatusCode, b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("child gateway not ready in %s (/ready: %s):\n%s", d, last, logBuf.String())
		}
		time.Sleep(20 * time.Millisecond) // polling readiness with a deadline
	}
}

// childTenant creates tenant id on the child gateway at base and returns its key.
func childTenant(t *testing.T, base, id string) string {
	t.Helper()
	code, body, err := post(base, "/api/admin/tenants", adminKey, `{"id":"`+id+`"}`)
	if err != nil || code != 201 {
		t.Fatalf("tenant: %d %s %v", code, body, err)
	}
	var out struct {
		APIKey struct{ Key string } `json:"apiKey"`
	}
	json.Unmarshal(body, &out)
	return out.APIKey.Key
}

// childSessions creates sessions on the child gateway at base with key.
func childSessions(t *testing.T, base, key string, names ...string) {
	t.Helper()
	for _, s := range names {
		if code, body, _ := post(base, "/api/sessions", key, `{"name":"`+s+`"}`); code != 201 {
			t.Fatalf("session %s: %d %s", s, code, body)
		}
	}
}

func post(base, path, key, body string) (int, []byte, error) {
	req, _ := http.NewRequest("POST", base+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Api-Key", key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, b, err
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestSIGKILLLosesNothing feeds a child gateway messages from 8 concurrent clients,
// kills it with SIGKILL mid-stream, restarts it on the same data dir, and checks against
// the sandbox's send log that every message that got a 202 was sent exactly once — or,
// for a message in flight at the kill, at most twice and flagged possibleDuplicate.
func TestSIGKILLLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a gateway process")
	}
	dir := t.TempDir()
	addr := freeAddr(t)
	sendLog := filepath.Join(dir, "sent.log")
	cfgPath := filepath.Join(dir, "gateway.yaml")
	os.WriteFile(cfgPath, []byte(`
server:
  listen: `+addr+`
store:
  dir: `+filepath.Join(dir, "data")+`
admin:
  api_key: `+adminKey+`
log:
  level: error
limits:
  default_plan:
    max_sessions: 10
    max_messages_per_day: 0
queue:
  rate_per_session: 0
  backoff_base: 10ms
providers:
  sandbox:
    auto_link: 1ms
    send_latency: 1ms
    delivery_delay: 0
    read_delay: 0
    send_log: `+sendLog+`
`), 0o600)

	c := startChild(t, cfgPath, addr)
	key := childTenant(t, c.base, "crash")
	childSessions(t, c.base, key, "a", "b")

	var mu sync.Mutex
	accepted := map[string]bool{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				body := fmt.Sprintf(`{"session":"%s","chatId":"1555000%04d","text":"m %d %d"}`, []string{"a", "b"}[w%2], w, w, i)
				code, resp, err := post(c.base, "/api/sendText", key, body)
				if err != nil {
					return // the gateway died under us
				}
				if code == 202 {
					var a struct{ ID string }
					json.Unmarshal(resp, &a)
					mu.Lock()
					accepted[a.ID] = true
					mu.Unlock()
				}
			}
		}(w)
	}
	// Kill once enough messages were accepted and some have been sent.
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		n := len(accepted)
		mu.Unlock()
		if n >= 1500 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d messages accepted in 30s:\n%s", n, c.log.String())
		}
		time.Sleep(5 * time.Millisecond) // polling a counter with a deadline
	}
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	c.cmd.Wait()
	close(stop)
	wg.Wait()
	mu.Lock()
	total := len(accepted)
	mu.Unlock()
	sentBeforeKill := len(readSendLog(t, sendLog))

	// Restart on the same data dir: every accepted message must be sent.
	c = startChild(t, cfgPath, addr)
	deadline = time.Now().Add(60 * time.Second)
	for {
		log := readSendLog(t, sendLog)
		missing := 0
		for id := range accepted {
			if log[id] == 0 {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d accepted messages never sent after restart", missing, total)
		}
		time.Sleep(50 * time.Millisecond) // polling the send log with a deadline
	}

	log := readSendLog(t, sendLog)
	twice := 0
	for id := range accepted {
		switch n := log[id]; {
		case n == 1:
		case n == 2:
			twice++
			req, _ := http.NewRequest("GET", c.base+"/api/messages/"+id, nil)
			req.Header.Set("X-Api-Key", key)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var m struct{ PossibleDuplicate bool }
			json.NewDecoder(res.Body).Decode(&m)
			res.Body.Close()
			if !m.PossibleDuplicate {
				t.Errorf("message %s sent twice but not flagged possibleDuplicate", id)
			}
		default:
			t.Errorf("message %s sent %d times", id, n)
		}
	}
	t.Logf("accepted %d, sent before the kill %d, sent twice (in flight at the kill) %d", total, sentBeforeKill, twice)
	if twice > 2 { // at most one in flight per session (2 sessions)
		t.Errorf("%d messages sent twice; at most one per session can be in flight", twice)
	}
}

// readSendLog counts, per message id, the sends the sandbox recorded.
func readSendLog(t *testing.T, path string) map[string]int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		if os.IsNotExist(err) {
			return map[string]int{}
		}
		t.Fatal(err)
	}
	defer f.Close()
	counts := map[string]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if id, _, ok := strings.Cut(sc.Text(), " "); ok {
			counts[id]++
		}
	}
	return counts
}
