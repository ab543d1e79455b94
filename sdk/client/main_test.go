package client_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wagate/wagate/sdk/client"
)

// The package's tests and examples run against the real gateway: TestMain builds
// cmd/wagate, boots it on a random loopback port with a temp data dir, creates a tenant
// and links the sandbox session "demo", then sets WAGATE_URL, WAGATE_API_KEY and
// WAGATE_ADMIN_KEY for the examples to read.

const testAdminKey = "sdk-client-admin-key-0123456789"

var updateOpenAPI = flag.Bool("update-openapi", false, "rewrite openapi.json from the gateway's served document")

// gatewayURL is the booted gateway's base URL.
var gatewayURL string

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "wagate-sdk-client-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	stop, err := bootGateway(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "booting the gateway:", err)
		return 1
	}
	defer stop()
	if err := setupTenant(); err != nil {
		fmt.Fprintln(os.Stderr, "setting up the tenant:", err)
		return 1
	}
	return m.Run()
}

var listening = regexp.MustCompile(`msg="wagate listening" addr=(\S+)`)

// bootGateway builds and starts the gateway; stop ends it (SIGTERM, then kill).
func bootGateway(dir string) (stop func(), err error) {
	bin := filepath.Join(dir, "wagate")
	build := exec.Command("go", "build", "-o", bin, "github.com/wagate/wagate/cmd/wagate")
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build: %v\n%s", err, out)
	}
	cfg := filepath.Join(dir, "gateway.yaml")
	yaml := `
server:
  listen: 127.0.0.1:0
  shutdown_timeout: 5s
store:
  dir: ` + filepath.Join(dir, "data") + `
admin:
  api_key: ` + testAdminKey + `
log:
  level: info
queue:
  rate_per_session: 0
webhooks:
  allow_networks: 127.0.0.1/32
  backoff_base: 10ms
providers:
  sandbox:
    send_latency: 0
    delivery_delay: 5ms
    read_delay: 5ms
`
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "serve", "--config", cfg)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	stop = func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}
	addr := make(chan string, 1)
	var logged bytes.Buffer
	go func() {
		sc := bufio.NewScanner(stderr)
		found := false
		for sc.Scan() {
			if m := listening.FindStringSubmatch(sc.Text()); m != nil && !found {
				found = true
				addr <- m[1]
			} else if !found {
				logged.WriteString(sc.Text() + "\n")
			}
		}
		close(addr)
	}()
	select {
	case a, ok := <-addr:
		if !ok {
			stop()
			return nil, fmt.Errorf("the gateway exited before listening:\n%s", logged.String())
		}
		gatewayURL = "http://" + a
	case <-time.After(60 * time.Second):
		stop()
		return nil, fmt.Errorf("the gateway did not listen within 60s")
	}
	return stop, nil
}

// setupTenant creates tenant "examples" and links the sandbox session "demo" (number
// 15550000001), then exports what the examples read.
func setupTenant() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := client.New(gatewayURL, testAdminKey)
	if err != nil {
		return err
	}
	id := "examples"
	t, err := admin.PostApiAdminTenantsWithResponse(ctx, client.CreateTenantRequest{Id: &id})
	if err != nil {
		return err
	}
	if err := client.Check(t); err != nil {
		return err
	}
	key := t.JSON201.ApiKey.Key
	c, err := client.New(gatewayURL, key)
	if err != nil {
		return err
	}
	if err := linkSession(ctx, c, "demo", "15550000001"); err != nil {
		return err
	}
	os.Setenv("WAGATE_URL", gatewayURL)
	os.Setenv("WAGATE_API_KEY", key)
	os.Setenv("WAGATE_ADMIN_KEY", testAdminKey)
	return nil
}

// linkSession creates a sandbox session, links it to phone and waits until WORKING.
func linkSession(ctx context.Context, c *client.ClientWithResponses, name, phone string) error {
	s, err := c.PostApiSessionsWithResponse(ctx, client.CreateSessionBody{Name: name})
	if err != nil {
		return err
	}
	if err := client.Check(s); err != nil {
		return err
	}
	// The QR (and with it the link route) is there once the session is SCAN_QR_CODE.
	for {
		l, err := c.PostApiSandboxSessionLinkWithResponse(ctx, name, client.LinkBody{Phone: &phone})
		if err != nil {
			return err
		}
		if client.Check(l) == nil {
			break
		}
		if err := pause(ctx); err != nil {
			return fmt.Errorf("linking %s: %w (last answer %d %s)", name, err, l.StatusCode(), l.Body)
		}
	}
	for {
		g, err := c.GetApiSessionsSessionWithResponse(ctx, name)
		if err != nil {
			return err
		}
		if g.JSON200 != nil && g.JSON200.Status == "WORKING" {
			return nil
		}
		if err := pause(ctx); err != nil {
			return fmt.Errorf("waiting for %s to work: %w", name, err)
		}
	}
}

func pause(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(20 * time.Millisecond):
		return nil
	}
}

// TestOpenAPIDocumentIsCurrent: openapi.json, from which client.gen.go is generated, is
// the document the gateway serves. go generate runs it with -update-openapi to refresh
// the copy.
func TestOpenAPIDocumentIsCurrent(t *testing.T) {
	res, err := http.Get(gatewayURL + "/api/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	served, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("GET /api/openapi.json: %d %v", res.StatusCode, err)
	}
	if *updateOpenAPI {
		if err := os.WriteFile("openapi.json", served, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	copied, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(copied, served) {
		t.Fatalf("sdk/client/openapi.json is stale (%d bytes; the gateway serves %d): run go generate ./sdk/client and commit the result",
			len(copied), len(served))
	}
	if !strings.Contains(string(served), `"openapi": "3.1.0"`) {
		t.Errorf("not an OpenAPI 3.1 document")
	}
}

// TestGeneratedCodeCoversDocument: every operation of openapi.json has its generated
// method, so a refreshed openapi.json without a regenerated client.gen.go fails here.
func TestGeneratedCodeCoversDocument(t *testing.T) {
	doc, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	gen, err := os.ReadFile("client.gen.go")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Paths map[string]map[string]struct {
			OperationID string `json:"operationId"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		t.Fatal(err)
	}
	n := 0
	for path, item := range d.Paths {
		for method, op := range item {
			var name strings.Builder
			for _, part := range strings.Split(op.OperationID, "_") {
				if part != "" {
					name.WriteString(strings.ToUpper(part[:1]) + part[1:])
				}
			}
			if !bytes.Contains(gen, []byte("func (c *Client) "+name.String()+"(")) {
				t.Errorf("%s %s (%s): no method %s in client.gen.go; run go generate ./sdk/client", method, path, op.OperationID, name.String())
			}
			n++
		}
	}
	if n < 100 {
		t.Errorf("only %d operations in openapi.json", n)
	}
}
