package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wagate/wagate/core/campaign"
)

// TestCampaignSIGKILL kills a child gateway three times during a 5,000-recipient
// campaign over 5 sandbox sessions and restarts it on the same data dir each time. In
// the sandbox's send log every recipient's message is there exactly once (or twice and
// flagged possibleDuplicate: the one a session had in flight at a kill), none is
// missing, and no message that is not a recipient's was sent (a recipient queued twice
// would have a second message id).
func TestCampaignSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns gateway processes")
	}
	const recipients = 5000
	dir := t.TempDir()
	addr := freeAddr(t)
	sendLog := filepath.Join(dir, "sent.log")
	cfgPath := filepath.Join(dir, "gateway.yaml")
	os.WriteFile(cfgPath, []byte(`
server:
  listen: `+addr+`
  max_body_bytes: 4MiB
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
pacing:
  enabled: false
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
	sessions := []string{"s1", "s2", "s3", "s4", "s5"}
	childSessions(t, c.base, key, sessions...)
	code, body, _ := post(c.base, "/api/lists", key, `{"name":"all"}`)
	var list struct{ ID string }
	if json.Unmarshal(body, &list); code != 201 {
		t.Fatalf("list: %d %s", code, body)
	}
	var csv strings.Builder
	csv.WriteString("phone,name\n")
	for i := range recipients {
		fmt.Fprintf(&csv, "1555%07d,Contact %d\n", i, i)
	}
	req, _ := http.NewRequest("POST", c.base+"/api/lists/"+list.ID+"/import", strings.NewReader(csv.String()))
	req.Header.Set("Content-Type", "text/csv")
	req.Header.Set("X-Api-Key", key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(b), `"imported":5000`) {
		t.Fatalf("import: %d %s", res.StatusCode, b)
	}
	sess, _ := json.Marshal(sessions)
	code, body, _ = post(c.base, "/api/campaigns", key, `{"name":"crash","listId":"`+list.ID+`","sessions":`+string(sess)+
		`,"message":{"type":"text","text":"Hi {{name}}"},"start":true}`)
	var cmp campaign.Campaign
	if json.Unmarshal(body, &cmp); code != 201 || cmp.Status != campaign.StatusRunning {
		t.Fatalf("campaign: %d %s", code, body)
	}

	get := func(c *child) (campaign.Campaign, error) {
		req, _ := http.NewRequest("GET", c.base+"/api/campaigns/"+cmp.ID, nil)
		req.Header.Set("X-Api-Key", key)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return campaign.Campaign{}, err
		}
		defer res.Body.Close()
		var got campaign.Campaign
		err = json.NewDecoder(res.Body).Decode(&got)
		return got, err
	}
	sentLines := func() int {
		n := 0
		for _, k := range readSendLog(t, sendLog) {
			n += k
		}
		return n
	}
	// Kill at three points of the campaign, each after more was sent, restarting each time.
	for kill, at := range []int{800, 2000, 3300} {
		deadline := time.Now().Add(60 * time.Second)
		for sentLines() < at {
			if time.Now().After(deadline) {
				got, _ := get(c)
				t.Fatalf("kill %d: only %d sent in 60s (campaign %s %+v):\n%s", kill+1, sentLines(), got.Status, got.Counts, c.log.String())
			}
			time.Sleep(2 * time.Millisecond) // polling the send log with a deadline
		}
		if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		c.cmd.Wait()
		t.Logf("kill %d after %d sends", kill+1, sentLines())
		c = startChild(t, cfgPath, addr)
	}

	deadline := time.Now().Add(90 * time.Second)
	var done campaign.Campaign
	for {
		got, err := get(c)
		if err == nil && got.Status == campaign.StatusCompleted {
			done = got
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("campaign not completed after the restarts: %s %+v %v", got.Status, got.Counts, err)
		}
		time.Sleep(20 * time.Millisecond) // polling the API with a deadline
	}
	n := done.Counts
	if n.Total != recipients || n.Failed != 0 || n.Queued != 0 || n.Pending != 0 || n.Sent+n.Delivered+n.Read != recipients {
		t.Fatalf("final counts %+v", n)
	}

	// Every recipient's message id, from the API.
	byMsg := map[string]string{}
	for cursor := ""; ; {
		req, _ := http.NewRequest("GET", c.base+"/api/campaigns/"+cmp.ID+"/recipients?limit=1000&cursor="+cursor, nil)
		req.Header.Set("X-Api-Key", key)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var page struct {
			Recipients []campaign.Recipient `json:"recipients"`
			Next       string               `json:"next"`
		}
		json.NewDecoder(res.Body).Decode(&page)
		res.Body.Close()
		for _, r := range page.Recipients {
			if r.MessageID == "" {
				t.Fatalf("recipient %s has no message: %+v", r.ChatID, r)
			}
			byMsg[r.MessageID] = r.ChatID
		}
		if page.Next == "" {
			break
		}
		cursor = page.Next
	}
	if len(byMsg) != recipients {
		t.Fatalf("%d recipients with a message, want %d", len(byMsg), recipients)
	}
	log := readSendLog(t, sendLog)
	for id, k := range log {
		if _, ok := byMsg[id]; !ok {
			t.Errorf("message %s sent %d times is no recipient's message (a recipient queued twice?)", id, k)
		}
	}
	twice := 0
	for id, chat := range byMsg {
		switch k := log[id]; k {
		case 1:
		case 2:
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
				t.Errorf("recipient %s: message %s sent twice but not flagged possibleDuplicate", chat, id)
			}
		default:
			t.Errorf("recipient %s: message %s sent %d times", chat, id, k)
		}
	}
	t.Logf("%d recipients, %d sends, sent twice (in flight at a kill) %d", recipients, sentLines(), twice)
	if twice > 3*len(sessions) { // at most one in flight per session per kill
		t.Errorf("%d messages sent twice; at most %d can be in flight over 3 kills", twice, 3*len(sessions))
	}
}
