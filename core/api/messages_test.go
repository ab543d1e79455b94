package api

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/wagate/wagate/config"
	"github.com/wagate/wagate/core/queue"
)

// An edit of a message whose provider call is still out waits for the provider's id
// (a client acting on the "sent" event must not get a 409); one of a message that
// never left the queue is 409 message_not_sent at once.
func TestEditWaitsForSending(t *testing.T) {
	e := newSendEnv(t)
	key := e.createTenant("acme")
	e.createSession(key, "s1", true)
	e.linkSession(key, "s1", "15550001111")
	if err := e.net.SetFaults("acme", "s1", config.SandboxFaults{SendLatency: config.Duration(400 * time.Millisecond)}); err != nil {
		t.Fatal(err)
	}
	chat := "15557654321@c.us"
	resp, b := e.do("POST", "/api/sendText", key, `{"session":"s1","chatId":"`+chat+`","text":"hello"}`)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("sendText: %d %s", resp.StatusCode, b)
	}
	id := decodeID(t, b)
	waitFor(t, "the send in flight", func() bool { return e.message(key, id).Status == queue.StatusSending })
	resp, b = e.do("PUT", "/api/s1/chats/"+chat+"/messages/"+id, key, `{"text":"hello again"}`)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("edit while sending: %d %s, want 202", resp.StatusCode, b)
	}
	if m := e.message(key, id); m.ProviderID == "" {
		t.Fatalf("edit accepted before the message had a provider id: %+v", m)
	}

	// A message waiting for a stopped session has no provider id and will not get one soon.
	e.createSession(key, "s2", false)
	resp, b = e.do("POST", "/api/sendText", key, `{"session":"s2","chatId":"`+chat+`","text":"later"}`)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("sendText: %d %s", resp.StatusCode, b)
	}
	queued := decodeID(t, b)
	resp, b = e.do("PUT", "/api/s2/chats/"+chat+"/messages/"+queued, key, `{"text":"x"}`)
	if resp.StatusCode != http.StatusConflict || errorOf(t, b).Code != "message_not_sent" {
		t.Fatalf("edit of a queued message: %d %s, want 409 message_not_sent", resp.StatusCode, b)
	}
}

// decodeID reads the id of a 202.
func decodeID(t *testing.T, b []byte) string {
	t.Helper()
	var a struct{ ID string }
	if err := json.Unmarshal(b, &a); err != nil || a.ID == "" {
		t.Fatalf("no id in %s (%v)", b, err)
	}
	return a.ID
}
