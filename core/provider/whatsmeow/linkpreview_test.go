package whatsmeow

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	wm "go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"

	"github.com/wagate/wagate/core/chatid"
	"github.com/wagate/wagate/core/provider"
)

// TestSendLinkPreviews: a text with a link carries the page's card (title, description,
// inlined JPEG thumbnail), built once per link; linkPreview false, a page that is not
// HTML or has no card send the plain text; the sender's own card goes as given, and a
// high-quality one uploads its picture as WhatsApp's link thumbnail.
func TestSendLinkPreviews(t *testing.T) {
	var pic bytes.Buffer
	img := image.NewRGBA(image.Rect(0, 0, 600, 300))
	img.Set(1, 1, color.RGBA{B: 255, A: 255})
	if err := png.Encode(&pic, img); err != nil {
		t.Fatal(err)
	}
	var pageHits atomic.Int32
	var base string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		switch req.URL.Path {
		case "/shoes":
			pageHits.Add(1)
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Write([]byte(`<html><head><meta property="og:title" content="Blue shoes"><meta property="og:description" content="Size 42">` +
				`<meta property="og:image" content="` + base + `/pic.png"></head><body></body></html>`))
		case "/bare":
			w.Header().Set("Content-Type", "text/html")
			w.Write([]byte(`<html><body>no head</body></html>`))
		case "/file.pdf":
			w.Header().Set("Content-Type", "application/pdf")
			w.Write([]byte("%PDF"))
		case "/pic.png":
			w.Header().Set("Content-Type", "image/png")
			w.Write(pic.Bytes())
		default:
			http.NotFound(w, req)
		}
	}))
	defer srv.Close()
	base = srv.URL
	r := newRig(t)
	r.f.http = srv.Client()
	c := r.startPaired()
	alice := chatid.MustParse("15551230001")
	last := func() *waE2E.Message {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.sent[len(c.sent)-1].msg
	}
	send := func(msg provider.Outbound) *waE2E.Message {
		t.Helper()
		msg.ChatID, msg.Kind = alice, provider.KindText
		if _, err := r.p.Send(ctxT(t), msg); err != nil {
			t.Fatal(err)
		}
		return last()
	}

	link := srv.URL + "/shoes"
	for range 2 {
		x := send(provider.Outbound{Text: "look: " + link + "."}).GetExtendedTextMessage()
		if x.GetMatchedText() != link || x.GetTitle() != "Blue shoes" || x.GetDescription() != "Size 42" || len(x.GetJPEGThumbnail()) == 0 {
			t.Fatalf("built card = %v", x)
		}
		if got, _, err := image.Decode(bytes.NewReader(x.GetJPEGThumbnail())); err != nil || got.Bounds().Dx() != 192 {
			t.Fatalf("thumbnail is not a 192 px wide picture: %v", err)
		}
	}
	if n := pageHits.Load(); n != 1 {
		t.Errorf("the page was read %d times for two sends of one link, want once", n)
	}
	for _, tc := range []struct {
		name string
		msg  provider.Outbound
	}{
		{"previews refused", provider.Outbound{Text: "look: " + link, NoPreview: true}},
		{"page without card", provider.Outbound{Text: srv.URL + "/bare"}},
		{"not a page", provider.Outbound{Text: srv.URL + "/file.pdf"}},
		{"page missing", provider.Outbound{Text: srv.URL + "/gone"}},
		{"no link", provider.Outbound{Text: "no link at all"}},
	} {
		if m := send(tc.msg); m.GetConversation() != tc.msg.Text || m.ExtendedTextMessage != nil {
			t.Errorf("%s: sent %v, want the plain text", tc.name, m)
		}
	}

	c.mu.Lock()
	uploads := len(c.uploads)
	c.mu.Unlock()
	x := send(provider.Outbound{Text: "ours: https://shop.example/x", ReplyTo: "3AQ", Preview: &provider.LinkPreview{
		URL: "https://shop.example/x", Title: "Our title", Description: "Our line", HighQuality: true,
		Image: &provider.Media{Data: pic.Bytes(), Mimetype: "image/png"}}}).GetExtendedTextMessage()
	if x.GetTitle() != "Our title" || x.GetDescription() != "Our line" || x.GetMatchedText() != "https://shop.example/x" ||
		x.GetContextInfo().GetStanzaID() != "3AQ" || len(x.GetJPEGThumbnail()) == 0 {
		t.Fatalf("sender's card = %v", x)
	}
	c.mu.Lock()
	up := c.uploads[len(c.uploads)-1]
	nowUploads := len(c.uploads)
	c.mu.Unlock()
	if nowUploads != uploads+1 || up.kind != wm.MediaLinkThumbnail || x.GetThumbnailDirectPath() != "/v/x" ||
		x.GetThumbnailWidth() != 600 || x.GetThumbnailHeight() != 300 || len(x.GetMediaKey()) != 32 {
		t.Errorf("high-quality card: uploads %d->%d kind %q, fields %v", uploads, nowUploads, up.kind, x)
	}

	// A card whose picture cannot be had still goes, without it.
	x = send(provider.Outbound{Text: "ours: https://shop.example/y", Preview: &provider.LinkPreview{
		URL: "https://shop.example/y", Title: "T", Image: &provider.Media{URL: srv.URL + "/gone.png"}}}).GetExtendedTextMessage()
	if x.GetTitle() != "T" || x.JPEGThumbnail != nil {
		t.Errorf("card with a missing picture = %v", x)
	}
}
