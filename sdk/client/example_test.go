package client_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"sync/atomic"
	"time"

	"github.com/wagate/wagate/sdk/client"
)

// In these examples the gateway is at WAGATE_URL, WAGATE_API_KEY is a tenant key and
// the tenant's sandbox session "demo" is linked (the package's tests set this up).

func ExampleNew() {
	ctx := context.Background()
	c, err := client.New(os.Getenv("WAGATE_URL"), os.Getenv("WAGATE_API_KEY"))
	if err != nil {
		log.Fatal(err)
	}
	// Create a session: it starts and waits for its QR code to be scanned.
	r, err := c.PostApiSessionsWithResponse(ctx, client.CreateSessionBody{Name: "sales"})
	if err != nil {
		log.Fatal(err)
	}
	if err := client.Check(r); err != nil {
		log.Fatal(err)
	}
	fmt.Println(r.StatusCode(), r.JSON201.Name, r.JSON201.Provider)

	s, err := c.GetApiSessionsSessionWithResponse(ctx, "sales")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(s.JSON200.Name)
	// Output:
	// 201 sales sandbox
	// sales
}

func ExampleCheck() {
	c, err := client.New(os.Getenv("WAGATE_URL"), os.Getenv("WAGATE_API_KEY"))
	if err != nil {
		log.Fatal(err)
	}
	r, err := c.GetApiSessionsSessionWithResponse(context.Background(), "nosuch")
	if err != nil {
		log.Fatal(err) // transport error: no answer
	}
	err = client.Check(r)
	var apiErr *client.APIError
	if errors.As(err, &apiErr) {
		fmt.Println(apiErr.Status, apiErr.Code)
	}
	// Output: 404 session_not_found
}

func ExampleWithAPIKey() {
	// One client for the admin key; WithAPIKey could also switch keys for one call.
	admin, err := client.New(os.Getenv("WAGATE_URL"), os.Getenv("WAGATE_ADMIN_KEY"))
	if err != nil {
		log.Fatal(err)
	}
	id := "globex"
	r, err := admin.PostApiAdminTenantsWithResponse(context.Background(), client.CreateTenantRequest{Id: &id})
	if err != nil {
		log.Fatal(err)
	}
	if err := client.Check(r); err != nil {
		log.Fatal(err)
	}
	fmt.Println(r.JSON201.Tenant.Id)

	// The tenant key just made, for one call.
	list, err := admin.GetApiSessionsWithResponse(context.Background(), client.WithAPIKey(r.JSON201.ApiKey.Key))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(list.StatusCode(), len(*list.JSON200))
	// Output:
	// globex
	// 200 0
}

func ExampleWithIdempotencyKey() {
	ctx := context.Background()
	c, err := client.New(os.Getenv("WAGATE_URL"), os.Getenv("WAGATE_API_KEY"))
	if err != nil {
		log.Fatal(err)
	}
	session := "demo"
	msg := client.SendTextBody{Session: &session, ChatId: "15550000099@c.us", Text: "Your code is 1234"}
	// One key per message, kept with it: a retry after a timeout is then harmless.
	key := client.NewIdempotencyKey()
	first, err := c.PostApiSendTextWithResponse(ctx, msg, client.WithIdempotencyKey(key))
	if err != nil {
		log.Fatal(err)
	}
	if err := client.Check(first); err != nil {
		log.Fatal(err)
	}
	retry, err := c.PostApiSendTextWithResponse(ctx, msg, client.WithIdempotencyKey(key))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(first.StatusCode(), retry.StatusCode(), retry.JSON202.Id == first.JSON202.Id)
	// Output: 202 202 true
}

func ExampleSubscribe() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	url, key := os.Getenv("WAGATE_URL"), os.Getenv("WAGATE_API_KEY")
	stream, err := client.Subscribe(ctx, nil, url, key, client.EventFilter{Sessions: []string{"demo"}, Events: []string{"message.ack"}})
	if err != nil {
		log.Fatal(err)
	}
	defer stream.Close()

	c, err := client.New(url, key)
	if err != nil {
		log.Fatal(err)
	}
	session := "demo"
	sent, err := c.PostApiSendTextWithResponse(ctx, client.SendTextBody{Session: &session, ChatId: "15550000098@c.us", Text: "hi"})
	if err != nil {
		log.Fatal(err)
	}
	if err := client.Check(sent); err != nil {
		log.Fatal(err)
	}
	// Acks of this message until the recipient read it.
	for {
		env, err := stream.Next()
		if err != nil {
			log.Fatal(err)
		}
		p, _ := env.Payload.(map[string]any)
		if p["id"] != sent.JSON202.Id {
			continue
		}
		fmt.Println(env.Event, p["status"], p["ackName"])
		if p["status"] == "read" {
			break
		}
	}
	// Output:
	// message.ack queued PENDING
	// message.ack sending PENDING
	// message.ack sent SERVER
	// message.ack delivered DEVICE
	// message.ack read READ
}

func ExampleSubscribeWebSocket() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	url, key := os.Getenv("WAGATE_URL"), os.Getenv("WAGATE_API_KEY")
	stream, err := client.SubscribeWebSocket(ctx, url, key, client.EventFilter{Events: []string{"session.status"}})
	if err != nil {
		log.Fatal(err)
	}
	defer stream.Close()

	c, err := client.New(url, key)
	if err != nil {
		log.Fatal(err)
	}
	r, err := c.PostApiSessionsWithResponse(ctx, client.CreateSessionBody{Name: "support"})
	if err != nil {
		log.Fatal(err)
	}
	if err := client.Check(r); err != nil {
		log.Fatal(err)
	}
	for {
		env, err := stream.Next()
		if err != nil {
			log.Fatal(err)
		}
		if env.Session != "support" {
			continue
		}
		// The session goes through STARTING to SCAN_QR_CODE.
		if p, _ := env.Payload.(map[string]any); p["status"] == "SCAN_QR_CODE" {
			fmt.Println(env.Event, env.Session, p["status"])
			break
		}
	}
	// Output: session.status support SCAN_QR_CODE
}

func ExampleWebhookVerifier_VerifyRequest() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Your receiver: the verifier needs the endpoint's secret, known once it exists.
	verifier := make(chan *client.WebhookVerifier, 1)
	got := make(chan client.Envelope, 16)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := <-verifier
		verifier <- v
		env, err := v.VerifyRequest(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		got <- env
	}))
	defer receiver.Close()

	c, err := client.New(os.Getenv("WAGATE_URL"), os.Getenv("WAGATE_API_KEY"))
	if err != nil {
		log.Fatal(err)
	}
	sessions := []string{"demo"}
	hook, err := c.PostApiWebhooksWithResponse(ctx, client.WebhookRequest{
		Url: receiver.URL, Events: []string{"message.ack"}, Sessions: &sessions})
	if err != nil {
		log.Fatal(err)
	}
	if err := client.Check(hook); err != nil {
		log.Fatal(err)
	}
	v, err := client.NewWebhookVerifier(hook.JSON201.Secret)
	if err != nil {
		log.Fatal(err)
	}
	verifier <- v
	defer c.DeleteApiWebhooksIdWithResponse(context.Background(), hook.JSON201.Id)

	session := "demo"
	sent, err := c.PostApiSendTextWithResponse(ctx, client.SendTextBody{Session: &session, ChatId: "15550000097@c.us", Text: "hello"})
	if err != nil {
		log.Fatal(err)
	}
	for {
		select {
		case env := <-got:
			p, _ := env.Payload.(map[string]any)
			if p["id"] == sent.JSON202.Id && p["ackName"] == "READ" {
				fmt.Println("verified", env.Event, p["ackName"], "from", env.Session)
				return
			}
		case <-ctx.Done():
			log.Fatal("no webhook")
		}
	}
	// Output: verified message.ack READ from demo
}

func ExampleNewWebhookVerifier() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.New(os.Getenv("WAGATE_URL"), os.Getenv("WAGATE_API_KEY"))
	if err != nil {
		log.Fatal(err)
	}
	// During a secret rotation's grace period deliveries carry a signature per secret;
	// a receiver that knows either accepts them. Verify takes the raw body.
	var verifier atomic.Pointer[client.WebhookVerifier]
	verified := make(chan string, 16)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		v := verifier.Load()
		if v == nil || v.Verify(r.Header, body) != nil {
			w.WriteHeader(http.StatusUnauthorized) // the gateway retries later
			return
		}
		verified <- r.Header.Get(client.HeaderWebhookID)
	}))
	defer receiver.Close()

	sessions := []string{"demo"}
	hook, err := c.PostApiWebhooksWithResponse(ctx, client.WebhookRequest{
		Url: receiver.URL, Events: []string{"message.ack"}, Sessions: &sessions})
	if err == nil {
		err = client.Check(hook)
	}
	if err != nil {
		log.Fatal(err)
	}
	defer c.DeleteApiWebhooksIdWithResponse(context.Background(), hook.JSON201.Id)
	grace := "1h"
	rot, err := c.PostApiWebhooksIdRotateSecretWithResponse(ctx, hook.JSON201.Id, client.RotateRequest{GracePeriod: &grace})
	if err == nil {
		err = client.Check(rot)
	}
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("previous secret is the first one:", *rot.JSON200.PreviousSecret == hook.JSON201.Secret)
	// Only the old secret: still accepted during the grace period.
	v, err := client.NewWebhookVerifier(hook.JSON201.Secret)
	if err != nil {
		log.Fatal(err)
	}
	verifier.Store(v)

	session := "demo"
	if _, err := c.PostApiSendTextWithResponse(ctx, client.SendTextBody{Session: &session, ChatId: "15550000096@c.us", Text: "rotating"}); err != nil {
		log.Fatal(err)
	}
	select {
	case id := <-verified:
		fmt.Println("verified a delivery:", id != "")
	case <-ctx.Done():
		log.Fatal("no verified delivery")
	}
	// Output:
	// previous secret is the first one: true
	// verified a delivery: true
}
