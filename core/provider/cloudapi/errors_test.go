package cloudapi

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/wagate/wagate/config"
	"github.com/wagate/wagate/core/provider"
)

// TestSendErrorClasses maps every documented error answer of the Graph API (Meta's
// error body, with its HTTP status) to the provider error the dispatcher and failover
// see: code, retryability, sentinel, fatality.
func TestSendErrorClasses(t *testing.T) {
	cases := []struct {
		name      string
		status    int
		body      string
		code      string
		retryable bool
		sentinel  error // nil: none of the provider sentinels
		fatal     bool
		metaCode  int
	}{
		{"expired token 190", 401, metaError(190, "Access token has expired", "Error validating access token: Session has expired"), CodeAuthFailed, false, provider.ErrAuth, true, 190},
		{"auth exception 0", 401, metaError(0, "AuthException", "We were unable to authenticate the app user."), CodeAuthFailed, false, provider.ErrAuth, true, 0},
		{"permission denied 10", 403, metaError(10, "Permission denied", "Permission is either not granted or has been removed."), CodeAuthFailed, false, provider.ErrAuth, true, 10},
		{"api permission 200", 403, metaError(200, "Requires whatsapp_business_messaging permission", ""), CodeAuthFailed, false, provider.ErrAuth, true, 200},
		{"api method 3", 500, metaError(3, "Capability or permissions issue", ""), CodeAuthFailed, false, provider.ErrAuth, true, 3},
		{"access denied 131005", 403, metaError(131005, "Access denied", "Permission is either not granted or has been removed."), CodeAuthFailed, false, provider.ErrAuth, true, 131005},
		{"number deleted 33", 400, metaError(33, "Parameter value is not valid", "The business phone number has been deleted."), CodeAuthFailed, false, provider.ErrAuth, true, 33},
		{"http 401 without a body", 401, "", CodeAuthFailed, false, provider.ErrAuth, true, 0},
		{"policy block 368", 403, metaError(368, "Temporarily blocked for policies violations", ""), CodeBanned, false, provider.ErrBanned, true, 368},
		{"account locked 131031", 403, metaError(131031, "Account has been locked", ""), CodeBanned, false, provider.ErrBanned, true, 131031},
		{"throughput 130429", 400, metaError(130429, "Rate limit hit", "Cloud API message throughput has been reached."), CodeRateLimited, true, nil, false, 130429},
		{"pair rate 131056", 400, metaError(131056, "(Business Account, Consumer Account) pair rate limit hit", "Too many messages sent from the sender phone number to the same recipient phone number in a short period of time."), CodePairRateLimited, true, nil, false, 131056},
		{"spam rate 131048", 400, metaError(131048, "Spam rate limit hit", "Message failed to send because there are restrictions on how many messages can be sent from this phone number."), CodeSpamRateLimited, true, nil, false, 131048},
		{"waba rate 80007", 400, metaError(80007, "Rate limit issues", "The WhatsApp Business Account has reached its rate limit."), CodeRateLimited, true, nil, false, 80007},
		{"app calls 4", 400, metaError(4, "Application request limit reached", ""), CodeRateLimited, true, nil, false, 4},
		{"http 429 without a code", 429, `{"error":{"message":"slow down","type":"OAuthException"}}`, CodeRateLimited, true, nil, false, 0},
		{"invalid parameter 100", 400, metaError(100, "Invalid parameter", "Param text['body'] is required."), CodeInvalidParameter, false, nil, false, 100},
		{"parameter value 131009", 400, metaError(131009, "Parameter value is not valid", "Recipient phone number not in allowed list"), CodeInvalidParameter, false, nil, false, 131009},
		{"missing parameter 131008", 400, metaError(131008, "Required parameter is missing", ""), CodeInvalidParameter, false, nil, false, 131008},
		{"undeliverable 131026", 400, metaError(131026, "Message Undeliverable", "Unable to deliver message."), CodeUndeliverable, false, provider.ErrInvalidRecipient, false, 131026},
		{"recipient is sender 131021", 400, metaError(131021, "Recipient cannot be sender", ""), CodeInvalidRecipient, false, provider.ErrInvalidRecipient, false, 131021},
		{"24h window 131047", 400, metaError(131047, "Re-engagement message", "Message failed to send because more than 24 hours have passed since the customer last replied to this number."), CodeReengagementRequired, false, nil, false, 131047},
		{"template missing 132001", 400, metaError(132001, "Template name does not exist in the translation", "template name (order_shiped) does not exist in en_US"), CodeTemplateError, false, nil, false, 132001},
		{"template params 132000", 400, metaError(132000, "Number of parameters does not match the expected number of params", ""), CodeTemplateError, false, nil, false, 132000},
		{"template paused 132015", 400, metaError(132015, "Template is paused", ""), CodeTemplateError, false, nil, false, 132015},
		{"ecosystem 131049", 400, metaError(131049, "This message was not delivered to maintain healthy ecosystem engagement.", ""), CodeNotDelivered, false, nil, false, 131049},
		{"experiment 130472", 400, metaError(130472, "User's number is part of an experiment", ""), CodeNotDelivered, false, nil, false, 130472},
		{"opted out 131050", 400, metaError(131050, "Unable to deliver the message. This recipient has chosen to stop receiving marketing messages on WhatsApp from your business.", ""), CodeOptedOut, false, nil, false, 131050},
		{"unsupported type 131051", 400, metaError(131051, "Unsupported message type", ""), CodeUnsupported, false, provider.ErrUnsupported, false, 131051},
		{"media download 131052", 400, metaError(131052, "Media download error", "Unable to download the media sent by the business."), CodeMediaError, false, nil, false, 131052},
		{"something went wrong 131000", 500, metaError(131000, "Something went wrong", ""), CodeServerError, true, nil, false, 131000},
		{"service unavailable 131016", 503, metaError(131016, "Service unavailable", ""), CodeServerError, true, nil, false, 131016},
		{"api service 2", 503, metaError(2, "Service temporarily unavailable", ""), CodeServerError, true, nil, false, 2},
		{"maintenance 131057", 400, metaError(131057, "Account in maintenance mode", ""), CodeServerError, true, nil, false, 131057},
		{"http 502 html", 502, "<html><body>Bad Gateway</body></html>", CodeServerError, true, nil, false, 0},
		{"http 500 json without a code", 500, `{"error":{"message":"An unknown error occurred","type":"OAuthException"}}`, CodeServerError, true, nil, false, 0},
		{"undocumented 4xx code", 400, metaError(999999, "Something new", ""), CodeGraphError, false, nil, false, 999999},
		{"generic user error 135000", 400, metaError(135000, "Generic user error", ""), CodeGraphError, false, nil, false, 135000},
		{"2xx without a message id", 200, `{"messaging_product":"whatsapp","messages":[]}`, CodeServerError, true, ErrBadResponse, false, 0},
		{"2xx that is not JSON", 200, `OK`, CodeServerError, true, ErrBadResponse, false, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := newRig(t, nil)
			r.start()
			r.graph.setAnswer(func(graphCall) (int, string, bool) { return c.status, c.body, true })
			_, err := r.p.Send(ctxTimeout(t, 5*time.Second), provider.Outbound{ID: "m", ChatID: customer, Kind: provider.KindText, Text: "hi"})
			var se *provider.SendError
			if !errors.As(err, &se) {
				t.Fatalf("err = %v (%T), want *provider.SendError", err, err)
			}
			if se.Code != c.code || se.Retryable != c.retryable || provider.Retryable(err) != c.retryable {
				t.Errorf("code %q retryable %v (provider.Retryable %v), want %q %v; err %v", se.Code, se.Retryable, provider.Retryable(err), c.code, c.retryable, err)
			}
			if c.sentinel != nil && !errors.Is(err, c.sentinel) {
				t.Errorf("err %v does not wrap %v", err, c.sentinel)
			}
			for _, s := range []error{provider.ErrAuth, provider.ErrBanned, provider.ErrInvalidRecipient, provider.ErrUnsupported} {
				if s != c.sentinel && errors.Is(err, s) {
					t.Errorf("err %v wraps %v too", err, s)
				}
			}
			if provider.Fatal(err) != c.fatal {
				t.Errorf("provider.Fatal = %v, want %v", provider.Fatal(err), c.fatal)
			}
			var ge *GraphError
			if c.status >= 400 {
				if !errors.As(err, &ge) || ge.Code != c.metaCode || ge.HTTPStatus != c.status {
					t.Fatalf("GraphError %+v, want code %d status %d", ge, c.metaCode, c.status)
				}
				if strings.Contains(c.body, "fbtrace_id") && ge.TraceID != "Az8or2yhqkZfEZ-_4Qn_Bam" {
					t.Errorf("trace id %q", ge.TraceID)
				}
			}
			// A fatal error fails the session: FAILED with the code as reason, and
			// later sends are refused without a request.
			if c.fatal {
				ev := r.rec.waitStatus(t, provider.StatusFailed)
				if ev.Reason != c.code {
					t.Errorf("FAILED reason %q, want %q", ev.Reason, c.code)
				}
				r.graph.reset()
				if _, err := r.p.Send(ctxTimeout(t, time.Second), provider.Outbound{ChatID: customer, Kind: provider.KindText, Text: "again"}); !errors.Is(err, provider.ErrNotConnected) {
					t.Errorf("send after a fatal error: %v", err)
				}
				if n := len(r.graph.snapshot()); n != 0 {
					t.Errorf("%d requests after the session failed", n)
				}
			} else {
				for _, st := range r.rec.statuses() {
					if st == provider.StatusFailed {
						t.Errorf("session reported FAILED for a non-fatal error")
					}
				}
			}
		})
	}
}

// TestSendTransportErrors: an unreachable Graph API, a deadline and a cancellation are
// retryable, each with its code.
func TestSendTransportErrors(t *testing.T) {
	t.Run("network", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close() // nothing listens there now: connection refused
		r := newRig(t, nil)
		r.start()
		r.p.cfg.BaseURL = "http://" + addr
		r.p.base = "http://" + addr + "/v23.0/" + testPhoneNumberID
		_, err = r.p.Send(ctxTimeout(t, 5*time.Second), provider.Outbound{ChatID: customer, Kind: provider.KindText, Text: "hi"})
		assertSendError(t, err, CodeNetworkError, true)
	})
	t.Run("deadline", func(t *testing.T) {
		r := newRig(t, nil)
		r.start()
		hold := make(chan struct{})
		defer close(hold)
		r.graph.mu.Lock()
		r.graph.hold = hold
		r.graph.mu.Unlock()
		_, err := r.p.Send(ctxTimeout(t, 100*time.Millisecond), provider.Outbound{ChatID: customer, Kind: provider.KindText, Text: "hi"})
		assertSendError(t, err, CodeTimeout, true)
	})
	t.Run("request timeout", func(t *testing.T) {
		cfg := config.Defaults().Providers.CloudAPI
		cfg.RequestTimeout = config.Duration(100 * time.Millisecond)
		g := newFakeGraph(t)
		f := New(cfg, nil)
		rec := newRecorder()
		p, _ := f.New(providerSpec(g), rec.sink)
		if err := p.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		rec.waitStatus(t, provider.StatusWorking)
		hold := make(chan struct{})
		defer close(hold)
		g.mu.Lock()
		g.hold = hold
		g.mu.Unlock()
		_, err := p.Send(ctxTimeout(t, time.Minute), provider.Outbound{ChatID: customer, Kind: provider.KindText, Text: "hi"})
		assertSendError(t, err, CodeTimeout, true)
	})
	t.Run("canceled", func(t *testing.T) {
		r := newRig(t, nil)
		r.start()
		hold := make(chan struct{})
		defer close(hold)
		r.graph.mu.Lock()
		r.graph.hold = hold
		r.graph.mu.Unlock()
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() {
			_, err := r.p.Send(ctx, provider.Outbound{ChatID: customer, Kind: provider.KindText, Text: "hi"})
			errc <- err
		}()
		// Cancel once the request reached the fake.
		deadline := time.Now().Add(5 * time.Second)
		for len(r.graph.snapshot()) == 0 {
			if time.Now().After(deadline) {
				t.Fatal("the request never reached the fake")
			}
			time.Sleep(time.Millisecond) // polling with a deadline
		}
		cancel()
		assertSendError(t, <-errc, CodeCanceled, true)
	})
}

func assertSendError(t *testing.T, err error, code string, retryable bool) {
	t.Helper()
	var se *provider.SendError
	if !errors.As(err, &se) || se.Code != code || se.Retryable != retryable || provider.Fatal(err) {
		t.Errorf("err = %v, want SendError %s retryable=%v, not fatal", err, code, retryable)
	}
}

// TestThroughputLimit: the limit is enforced before the call, by count: a burst of
// Throughput sends goes out, the next waits for a token and, when its deadline comes
// first, fails "throttled" without reaching the Graph API. Mark-as-read counts too;
// media uploads do not.
func TestThroughputLimit(t *testing.T) {
	r := newRig(t, map[string]any{"throughput": 3})
	r.start()
	send := func(d time.Duration) error {
		_, err := r.p.Send(ctxTimeout(t, d), provider.Outbound{ChatID: customer, Kind: provider.KindText, Text: "hi"})
		return err
	}
	for i := range 3 {
		if err := send(5 * time.Second); err != nil {
			t.Fatalf("send %d of the burst: %v", i+1, err)
		}
	}
	// The bucket is empty: the next token is ~333ms away, past a 20ms deadline.
	assertSendError(t, send(20*time.Millisecond), CodeThrottled, true)
	if err := r.p.MarkMessageRead(ctxTimeout(t, 20*time.Millisecond), "wamid.X"); err == nil {
		t.Error("mark-as-read went through an empty bucket")
	} else {
		assertSendError(t, err, CodeThrottled, true)
	}
	if n := r.graph.count("POST", "/messages"); n != 3 {
		t.Errorf("Graph API got %d message posts, want the burst of 3", n)
	}
	// An upload is not a message: it goes out, then its send is throttled.
	img := &provider.Media{Data: []byte("x"), Mimetype: "image/png"}
	if _, err := r.p.Send(ctxTimeout(t, 20*time.Millisecond), provider.Outbound{ChatID: customer, Kind: provider.KindImage, Media: img}); err == nil {
		t.Error("image send went through an empty bucket")
	}
	if n, m := r.graph.count("POST", "/media"), r.graph.count("POST", "/messages"); n != 1 || m != 3 {
		t.Errorf("uploads %d, message posts %d; want 1 and 3", n, m)
	}
	// A send that may wait gets the next token.
	if err := send(5 * time.Second); err != nil {
		t.Fatalf("send that waits: %v", err)
	}
	if n := r.graph.count("POST", "/messages"); n != 4 {
		t.Errorf("Graph API got %d message posts, want 4", n)
	}
	if r.p.limiter.Burst() != 3 || r.p.limiter.Limit() != 3 {
		t.Errorf("limiter %v/s burst %d, want 3 and 3", r.p.limiter.Limit(), r.p.limiter.Burst())
	}
	// The default tier is 80 messages per second.
	d := newRig(t, nil)
	if d.p.limiter.Limit() != DefaultThroughput || d.p.limiter.Burst() != DefaultThroughput {
		t.Errorf("default limiter %v/s burst %d, want 80", d.p.limiter.Limit(), d.p.limiter.Burst())
	}
}

func TestFatal(t *testing.T) {
	cases := []struct {
		err   error
		fatal bool
	}{
		{provider.ErrAuth, true},
		{provider.ErrBanned, true},
		{provider.ErrLoggedOut, true},
		{&provider.SendError{Code: CodeAuthFailed, Err: &GraphError{cause: provider.ErrAuth}}, true},
		{provider.ErrInvalidRecipient, false},
		{provider.ErrNotConnected, false},
		{&provider.SendError{Code: CodeRateLimited, Retryable: true, Err: errors.New("x")}, false},
		{nil, false},
	}
	for _, c := range cases {
		if got := provider.Fatal(c.err); got != c.fatal {
			t.Errorf("Fatal(%v) = %v, want %v", c.err, got, c.fatal)
		}
		if c.fatal && provider.Retryable(c.err) {
			t.Errorf("Retryable(%v) = true for a fatal error", c.err)
		}
	}
}
