package api

import (
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/wagate/wagate/core/provider"
)

// FuzzStatusRequests feeds the status bodies arbitrary JSON: every refusal is a 4xx
// with a code, and what is accepted is a status the providers can post.
func FuzzStatusRequests(f *testing.F) {
	f.Add([]byte(`{"text":"Open","backgroundColor":"#38b42f","font":1,"contacts":["15550000002@c.us"]}`))
	f.Add([]byte(`{"text":"","font":11}`))
	f.Add([]byte(`{"file":{"url":"https://example.com/a.jpg"},"caption":"x"}`))
	f.Add([]byte(`{"file":{"mimetype":"audio/ogg","data":"AAAA"},"backgroundColor":"#fff"}`))
	f.Add([]byte(`{"contacts":["120363000000000001@g.us"],"text":"x"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var c fasthttp.RequestCtx
		c.Request.Header.SetContentType("application/json")
		c.Request.SetBody(body)
		check := func(what string, msg provider.Outbound, err error) {
			checkClientError(t, what, err)
			if err != nil {
				return
			}
			if msg.Status == nil || len(msg.Status.Audience) > maxStatusAudience {
				t.Fatalf("%s accepted without status options: %+v", what, msg)
			}
			for _, id := range msg.Status.Audience {
				if id.IsGroup() || id.IsZero() {
					t.Fatalf("%s accepted audience %v", what, id)
				}
			}
			if msg.Kind == provider.KindText && (msg.Text == "" || msg.Status.Font < 0 || msg.Status.Font > provider.MaxStatusFont) {
				t.Fatalf("%s accepted %+v", what, msg.Status)
			}
			if msg.Kind != provider.KindText && msg.Media == nil {
				t.Fatalf("%s accepted without media", what)
			}
		}
		var tb textStatusBody
		if err := decodeJSON(&c, &tb); err == nil {
			msg, err := tb.outbound()
			check("text status", msg, err)
		} else {
			checkClientError(t, "text status", err)
		}
		var mb mediaStatusBody
		if err := decodeJSON(&c, &mb); err == nil {
			msg, err := mb.outbound(provider.KindImage, "image/")
			check("image status", msg, err)
		} else {
			checkClientError(t, "image status", err)
		}
		var vb voiceStatusBody
		if err := decodeJSON(&c, &vb); err == nil {
			msg, err := vb.outbound()
			check("voice status", msg, err)
		} else {
			checkClientError(t, "voice status", err)
		}
	})
}
