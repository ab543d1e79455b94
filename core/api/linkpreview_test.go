package api

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/valyala/fasthttp"
)

// FuzzLinkPreviewRequests feeds link-custom-preview arbitrary JSON: every refusal is a
// 4xx with a code, and what is accepted is a text holding its card's http(s) link, with
// a title and texts within their limits.
func FuzzLinkPreviewRequests(f *testing.F) {
	f.Add([]byte(`{"chatId":"15550000002","text":"see https://a.example/x","preview":{"url":"https://a.example/x","title":"A"}}`))
	f.Add([]byte(`{"chatId":"15550000002","text":"x","preview":{"url":"https://a.example/x","title":"A","image":{"url":"https://a.example/i.png"}}}`))
	f.Add([]byte(`{"chatId":"15550000002","text":"https://a.example","preview":{"url":"https://a.example","title":" ","description":"d"}}`))
	f.Add([]byte(`{"chatId":"1","text":"ftp://a","preview":{"url":"ftp://a","title":"t","image":{"mimetype":"image/png","data":"AAAA"}}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var c fasthttp.RequestCtx
		c.Request.Header.SetContentType("application/json")
		c.Request.SetBody(body)
		var b linkCustomPreviewBody
		if err := decodeJSON(&c, &b); err != nil {
			checkClientError(t, "link-custom-preview", err)
			return
		}
		msg, err := b.outbound()
		checkClientError(t, "link-custom-preview", err)
		if err != nil {
			return
		}
		p := msg.Preview
		switch {
		case p == nil || msg.Text == "":
			t.Fatalf("accepted without card or text: %+v", msg)
		case !strings.Contains(msg.Text, p.URL) || !(strings.HasPrefix(p.URL, "http://") || strings.HasPrefix(p.URL, "https://")):
			t.Fatalf("accepted link %q for text %q", p.URL, msg.Text)
		case strings.TrimSpace(p.Title) == "" || utf8.RuneCountInString(p.Title) > maxPreviewTitle ||
			utf8.RuneCountInString(p.Description) > maxPreviewDescription:
			t.Fatalf("accepted card %+v", p)
		case p.Image != nil && (p.Image.URL == "") == (len(p.Image.Data) == 0):
			t.Fatalf("accepted picture %+v", p.Image)
		}
	})
}
