package api

import (
	"encoding/json"
	"net/http"
	"unicode/utf8"

	"github.com/valyala/fasthttp"

	"github.com/wagate/wagate/core/event"
)

// The hot send routes (sendText, messages/batch) decode their bodies with the
// hand-written scanner below, not encoding/json's reflection: its Decoder cost the send
// path a tenth of its CPU and 10 of its allocations per request (docs/benchmarks.md).
// The scanner accepts only the plain case — one object of the route's own fields,
// spelled exactly, with string, boolean and string-array values — and gives up on
// anything else (an unknown or differently cased field, a null, a number, invalid
// UTF-8, malformed JSON). The body then goes through decodeJSON as before, so every
// refusal keeps its error and code, and every body the scanner accepts decodes to what
// encoding/json would have produced.

// decodeJSONWith is decodeJSON with a fast decoder tried first. fast fills its target
// and reports true, or reports false having possibly filled part of it; reset then
// zeroes the target before the slow path decodes into it.
func decodeJSONWith(c *fasthttp.RequestCtx, dst any, fast func([]byte) bool, reset func()) error {
	if err := checkJSONContentType(c.Request.Header.ContentType()); err != nil {
		return err
	}
	if fast(c.Request.Body()) {
		return nil
	}
	reset()
	return decodeJSON(c, dst)
}

// jsonScan reads a JSON text from b. Every method returns false on what it does not
// accept; the caller then gives up.
type jsonScan struct {
	b []byte
	i int
}

func (s *jsonScan) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// peek returns the next byte after whitespace, 0 at the end.
func (s *jsonScan) peek() byte {
	s.ws()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

func (s *jsonScan) expect(c byte) bool {
	if s.peek() != c {
		return false
	}
	s.i++
	return true
}

// rawString returns the bytes of the next string, quotes excluded, with whether it
// holds escapes. Control characters are refused (invalid JSON).
func (s *jsonScan) rawString() (raw []byte, escaped, ok bool) {
	if !s.expect('"') {
		return nil, false, false
	}
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			raw = s.b[start:s.i]
			s.i++
			return raw, escaped, true
		case c == '\\':
			escaped = true
			s.i += 2
			continue
		case c < 0x20:
			return nil, false, false
		}
		s.i++
	}
	return nil, false, false
}

// str reads a string value. Escapes are decoded by encoding/json on the string alone;
// invalid UTF-8 (which encoding/json would replace by U+FFFD) is refused.
func (s *jsonScan) str() (string, bool) {
	s.ws()
	start := s.i // the opening quote
	raw, escaped, ok := s.rawString()
	if !ok || !utf8.Valid(raw) {
		return "", false
	}
	if !escaped {
		return string(raw), true
	}
	var v string
	if err := json.Unmarshal(s.b[start:s.i], &v); err != nil {
		return "", false
	}
	return v, true
}

func (s *jsonScan) boolean() (bool, bool) {
	s.ws()
	switch {
	case len(s.b)-s.i >= 4 && string(s.b[s.i:s.i+4]) == "true":
		s.i += 4
		return true, true
	case len(s.b)-s.i >= 5 && string(s.b[s.i:s.i+5]) == "false":
		s.i += 5
		return false, true
	}
	return false, false
}

// strings reads an array of strings.
func (s *jsonScan) strings() ([]string, bool) {
	if !s.expect('[') {
		return nil, false
	}
	out := []string{}
	if s.expect(']') {
		return out, true
	}
	for {
		v, ok := s.str()
		if !ok {
			return nil, false
		}
		out = append(out, v)
		if s.expect(']') {
			return out, true
		}
		if !s.expect(',') {
			return nil, false
		}
	}
}

// object reads an object, calling field with each key (not unescaped: a key with an
// escape is refused) positioned before its value; field reads the value.
func (s *jsonScan) object(field func(key []byte) bool) bool {
	if !s.expect('{') {
		return false
	}
	if s.expect('}') {
		return true
	}
	for {
		key, escaped, ok := s.rawString()
		if !ok || escaped || !s.expect(':') || !field(key) {
			return false
		}
		if s.expect('}') {
			return true
		}
		if !s.expect(',') {
			return false
		}
	}
}

// end reports whether only whitespace is left.
func (s *jsonScan) end() bool {
	s.ws()
	return s.i == len(s.b)
}

// fastSendText decodes a sendText body into b (see the top of this file).
func fastSendText(body []byte, b *sendTextBody) bool {
	s := &jsonScan{b: body}
	ok := s.object(func(key []byte) bool {
		var ok bool
		switch string(key) {
		case "session":
			b.Session, ok = s.str()
		case "chatId":
			b.ChatID, ok = s.str()
		case "text":
			b.Text, ok = s.str()
		case "reply_to":
			b.ReplyTo, ok = s.str()
		case "mentions":
			b.Mentions, ok = s.strings()
		case "linkPreview":
			var v bool
			v, ok = s.boolean()
			b.LinkPreview = &v
		case "linkPreviewHighQuality":
			var v bool
			v, ok = s.boolean()
			b.LinkPreviewHighQuality = &v
		}
		return ok
	})
	return ok && s.end()
}

// fastBatch decodes a messages/batch body into b (see the top of this file).
func fastBatch(body []byte, b *batchBody) bool {
	s := &jsonScan{b: body}
	ok := s.object(func(key []byte) bool {
		if string(key) != "messages" || !s.expect('[') {
			return false
		}
		b.Messages = []batchItem{}
		if s.expect(']') {
			return true
		}
		for {
			var it batchItem
			if !s.object(func(key []byte) bool {
				var ok bool
				switch string(key) {
				case "session":
					it.Session, ok = s.str()
				case "chatId":
					it.ChatID, ok = s.str()
				case "text":
					it.Text, ok = s.str()
				case "reply_to":
					it.ReplyTo, ok = s.str()
				case "idempotencyKey":
					it.IdempotencyKey, ok = s.str()
				}
				return ok
			}) {
				return false
			}
			b.Messages = append(b.Messages, it)
			if s.expect(']') {
				return true
			}
			if !s.expect(',') {
				return false
			}
		}
	})
	return ok && s.end()
}

// writeSendAnswer is writeJSON(c, 202, a) without reflection when every value is plain
// ASCII that JSON writes as it is (ids, session names, chat ids nearly always are);
// otherwise it is writeJSON. The bytes are the same either way.
func writeSendAnswer(c *fasthttp.RequestCtx, a sendAnswer) error {
	if !event.PlainJSON(a.ID) || !event.PlainJSON(string(a.Status)) || !event.PlainJSON(a.Session) || !event.PlainJSON(a.ChatID) {
		return writeJSON(c, http.StatusAccepted, a)
	}
	b := make([]byte, 0, 48+len(a.ID)+len(a.Status)+len(a.Session)+len(a.ChatID))
	b = append(b, `{"id":"`...)
	b = append(b, a.ID...)
	b = append(b, `","status":"`...)
	b = append(b, a.Status...)
	b = append(b, `","session":"`...)
	b = append(b, a.Session...)
	b = append(b, `","chatId":"`...)
	b = append(b, a.ChatID...)
	b = append(b, "\"}\n"...)
	c.SetStatusCode(http.StatusAccepted)
	c.SetContentType(contentTypeJSON)
	c.SetBody(b)
	return nil
}
