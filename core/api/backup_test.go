package api

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wagate/wagate/core/store/backup"
)

// One backup streams at a time: a second one answers 409 backup_running while the
// first is held open, and is served once the first has ended.
func TestBackupOneAtATime(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 4)
	e := newEnv(t, func(o *envOptions) {
		o.deps = func(d *Deps) {
			d.Backups = &Backups{
				Write: func(w io.Writer, since uint64) (backup.Summary, error) {
					entered <- struct{}{}
					<-release
					_, err := fmt.Fprintf(w, "backup since %d", since)
					return backup.Summary{}, err
				},
				Held:   func() bool { return false },
				Resume: nil,
			}
		}
	})
	// The first request, on a raw connection, blocks in Write until released.
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /api/admin/backup?since=7 HTTP/1.1\r\nHost: test\r\nX-Api-Key: %s\r\n\r\n", testAdminKey)
	<-entered
	resp, body := e.do("GET", "/api/admin/backup", testAdminKey, "")
	if resp.StatusCode != http.StatusConflict || !strings.Contains(string(body), "backup_running") {
		t.Fatalf("second backup: %d %s", resp.StatusCode, body)
	}
	close(release)
	first, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(first.Body)
	if first.StatusCode != 200 || string(b) != "backup since 7" || first.Header.Get(HeaderBackupSince) != "7" {
		t.Fatalf("first backup: %d %q %v", first.StatusCode, b, first.Header)
	}
	conn.Close()
	// The slot frees as the stream writer returns, just after its last byte.
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, body = e.do("GET", "/api/admin/backup", testAdminKey, "")
		if resp.StatusCode == 200 && string(body) == "backup since 0" {
			return
		}
		if resp.StatusCode != http.StatusConflict || time.Now().After(deadline) {
			t.Fatalf("backup after the first ended: %d %s", resp.StatusCode, body)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
