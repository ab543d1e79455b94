package webhook

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"

	"strconv"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// Inbound verifies webhooks a provider sends in (Meta's WhatsApp Cloud API), as one
// middleware in front of the handler:
//
//	GET  ?hub.mode=subscribe&hub.verify_token=T&hub.challenge=C
//	     answers C (text/plain) when T is the endpoint's verify token, else 403.
//	POST body larger than MaxBody: 413 body_too_large, not read further.
//	     X-Hub-Signature-256 missing or not "sha256=" + 64 hex: 401 signature_missing.
//	     HMAC-SHA256 of the raw body with the app secret differs (constant-time
//	     compare): 401 signature_invalid.
//	     the same body accepted within the replay window: 200 {"status":"duplicate"}
//	     without calling the handler (Meta resends what it thinks failed; a replay by
//	     someone else is harmless and not processed twice). A body the handler
//	     answered with a non-2xx is forgotten, so Meta's retry of it is processed.
//	     every timestamp in the payload older than MaxAge: 400 stale_delivery.
//	     otherwise the handler runs, with the verified body.
//
// Only the signature is trusted: nothing of the body is parsed before it verifies.
type Inbound struct {
	// Secrets returns the app secret and verify token for the request (typically by
	// the session in its path); ok false answers 404 webhook_not_found.
	Secrets func(c *fasthttp.RequestCtx) (appSecret, verifyToken string, ok bool)
	// Reject writes an error response in the API's error shape.
	Reject func(c *fasthttp.RequestCtx, status int, code, msg string)
	// MaxBody caps the body; 0 means 1 MiB.
	MaxBody int
	// MaxAge refuses deliveries whose newest timestamp is older; 0 means 168h, the
	// 7 days over which Meta retries a failed delivery.
	MaxAge time.Duration
	// ReplayWindow is how many body hashes are remembered to refuse replays; 0 means
	// 100000 (~4 MiB).
	ReplayWindow int
	// Now returns the time; nil means time.Now.
	Now func() time.Time

	once sync.Once
	seen *seenSet
}

// Wrap returns next behind the verification.
func (v *Inbound) Wrap(next fasthttp.RequestHandler) fasthttp.RequestHandler {
	v.once.Do(v.init)
	return func(c *fasthttp.RequestCtx) {
		secret, token, ok := v.Secrets(c)
		if !ok {
			v.Reject(c, fasthttp.StatusNotFound, "webhook_not_found", "no inbound webhook is configured here")
			return
		}
		switch {
		case c.IsGet():
			v.challenge(c, token)
		case c.IsPost():
			if code, status, msg := v.verify(c, secret); code != "" {
				v.Reject(c, status, code, msg)
				return
			}
			if c.UserValue(duplicateKey) != nil {
				c.SetContentType("application/json")
				c.SetBodyString(`{"status":"duplicate"}`)
				return
			}
			next(c)
			if code := c.Response.StatusCode(); code < 200 || code > 299 {
				// Not processed: Meta will resend it, and the resend must be processed.
				v.seen.remove(sha256.Sum256(c.Request.Body()))
			}
		default:
			v.Reject(c, fasthttp.StatusMethodNotAllowed, "method_not_allowed", "GET (verification) or POST (events) only")
		}
	}
}

const duplicateKey = "wagate.inbound.duplicate"

func (v *Inbound) init() {
	if v.MaxBody <= 0 {
		v.MaxBody = 1 << 20
	}
	if v.MaxAge <= 0 {
		v.MaxAge = 168 * time.Hour
	}
	if v.ReplayWindow <= 0 {
		v.ReplayWindow = 100000
	}
	if v.Now == nil {
		v.Now = time.Now
	}
	v.seen = newSeenSet(v.ReplayWindow)
}

func (v *Inbound) challenge(c *fasthttp.RequestCtx, token string) {
	q := c.QueryArgs()
	mode, got, challenge := q.Peek("hub.mode"), q.Peek("hub.verify_token"), q.Peek("hub.challenge")
	if string(mode) != "subscribe" || token == "" ||
		subtle.ConstantTimeCompare(got, []byte(token)) != 1 || len(challenge) == 0 || len(challenge) > 256 {
		v.Reject(c, fasthttp.StatusForbidden, "verification_failed", "hub.mode must be subscribe and hub.verify_token must match")
		return
	}
	c.SetContentType("text/plain; charset=utf-8")
	c.SetBody(challenge)
}

// verify checks a POST; it returns an error code, status and message, or "" when the
// request may go on (marking duplicates with duplicateKey).
func (v *Inbound) verify(c *fasthttp.RequestCtx, secret string) (code string, status int, msg string) {
	if c.Request.Header.ContentLength() > v.MaxBody || len(c.Request.Body()) > v.MaxBody {
		return "body_too_large", fasthttp.StatusRequestEntityTooLarge, "the body exceeds " + strconv.Itoa(v.MaxBody) + " bytes"
	}
	body := c.Request.Body()
	sig := c.Request.Header.Peek("X-Hub-Signature-256")
	hexSig, ok := bytes.CutPrefix(sig, []byte("sha256="))
	want := make([]byte, sha256.Size)
	if !ok || len(hexSig) != 2*sha256.Size {
		return "signature_missing", fasthttp.StatusUnauthorized, `X-Hub-Signature-256 must be "sha256=" and 64 hex digits`
	}
	if _, err := hex.Decode(want, hexSig); err != nil {
		return "signature_missing", fasthttp.StatusUnauthorized, `X-Hub-Signature-256 must be "sha256=" and 64 hex digits`
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	if secret == "" || !hmac.Equal(mac.Sum(nil), want) {
		return "signature_invalid", fasthttp.StatusUnauthorized, "X-Hub-Signature-256 does not match the body"
	}
	if newest, ok := newestTimestamp(body); ok && v.Now().Sub(newest) > v.MaxAge {
		return "stale_delivery", fasthttp.StatusBadRequest, "every timestamp in the delivery is older than " + v.MaxAge.String()
	}
	if !v.seen.add(sha256.Sum256(body)) {
		c.SetUserValue(duplicateKey, true)
	}
	return "", 0, ""
}

// newestTimestamp finds the newest Unix-seconds timestamp in a Cloud API payload:
// entry[].time and entry[].changes[].value.{messages,statuses}[].timestamp. ok is
// false when there is none (then the age is not checked).
func newestTimestamp(body []byte) (time.Time, bool) {
	var p struct {
		Entry []struct {
			Time    json.Number `json:"time"`
			Changes []struct {
				Value struct {
					Messages []struct {
						Timestamp json.Number `json:"timestamp"`
					} `json:"messages"`
					Statuses []struct {
						Timestamp json.Number `json:"timestamp"`
					} `json:"statuses"`
				} `json:"value"`
			} `json:"changes"`
		} `json:"entry"`
	}
	if json.Unmarshal(body, &p) != nil {
		return time.Time{}, false
	}
	var newest int64
	see := func(n json.Number) {
		if v, err := n.Int64(); err == nil && v > newest {
			newest = v
		}
	}
	for _, e := range p.Entry {
		see(e.Time)
		for _, ch := range e.Changes {
			for _, m := range ch.Value.Messages {
				see(m.Timestamp)
			}
			for _, s := range ch.Value.Statuses {
				see(s.Timestamp)
			}
		}
	}
	return time.Unix(newest, 0), newest > 0
}

// seenSet remembers the last n body hashes (a ring plus a set).
type seenSet struct {
	mu   sync.Mutex
	set  map[[32]byte]struct{}
	ring [][32]byte
	next int
}

func newSeenSet(n int) *seenSet {
	return &seenSet{set: make(map[[32]byte]struct{}, n), ring: make([][32]byte, 0, n)}
}

// remove forgets h (its ring slot is left to be reused in turn).
func (s *seenSet) remove(h [32]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.set, h)
}

// add records h and reports whether it was new.
func (s *seenSet) add(h [32]byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.set[h]; ok {
		return false
	}
	if len(s.ring) < cap(s.ring) {
		s.ring = append(s.ring, h)
	} else {
		delete(s.set, s.ring[s.next])
		s.ring[s.next] = h
		s.next = (s.next + 1) % len(s.ring)
	}
	s.set[h] = struct{}{}
	return true
}
