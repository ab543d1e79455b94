// Package linkpreview builds the link preview card of a text message from the page its
// first link points to: the link found in the text (FirstURL), the card read from the
// page's HTML head (Parse: Open Graph tags, else <title> and the description meta),
// and the picture shrunk to a JPEG thumbnail (Thumbnail).
//
// It fetches nothing itself: the adapter that sends the message fetches the page and
// the picture with its own guarded HTTP client (public addresses only, bounded in size
// and time), so the rules of outbound fetches stay in one place per transport.
//
//	u := linkpreview.FirstURL(text)          // "" when the text has no link
//	page := fetch(u, linkpreview.MaxPageBytes)
//	card := linkpreview.Parse(bytes.NewReader(page), base)
//	jpeg, w, h, err := linkpreview.Thumbnail(fetch(card.Image.URL), linkpreview.SmallSide)
package linkpreview

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	_ "image/gif" // decoders of the pictures pages point to
	"image/jpeg"
	_ "image/png"
	"io"
	"net/url"
	"strings"
	"unicode/utf8"

	"golang.org/x/image/draw"
	_ "golang.org/x/image/webp"
	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"

	"github.com/wagate/wagate/core/provider"
)

// Limits of what is read and made.
const (
	// MaxPageBytes is how much of a page is read for its head: cards are in the
	// first few kilobytes of any page, and a page is never read whole.
	MaxPageBytes = 512 << 10
	// MaxImageBytes bounds the picture fetched for a card.
	MaxImageBytes = 4 << 20
	// SmallSide is the longest side of an inlined thumbnail, the size WhatsApp's
	// own clients inline; LargeSide that of a high-quality card's uploaded picture.
	SmallSide = 192
	LargeSide = 1024
	// maxTitle and maxDescription bound the card's texts, in characters.
	maxTitle       = 256
	maxDescription = 1024
)

// ErrNoImage: the data is not a picture this package can decode (JPEG, PNG, GIF, WebP).
var ErrNoImage = errors.New("linkpreview: not a decodable picture")

// FirstURL returns the first http or https link of text, without the punctuation that
// usually follows a link in prose ("see https://a.example/x." -> "https://a.example/x"),
// or "" when the text has none.
func FirstURL(text string) string {
	for _, word := range strings.FieldsFunc(text, func(r rune) bool { return r == ' ' || r == '\n' || r == '\t' || r == '\r' }) {
		lower := strings.ToLower(word)
		i := strings.Index(lower, "https://")
		if j := strings.Index(lower, "http://"); j >= 0 && (i < 0 || j < i) {
			i = j
		}
		if i < 0 {
			continue
		}
		link := strings.TrimRight(word[i:], ".,;:!?)]}'\"")
		if u, err := url.Parse(link); err == nil && u.Host != "" {
			return link
		}
	}
	return ""
}

// Parse reads the card of the page at page from its HTML: og:title, og:description and
// og:image (resolved against page), falling back to twitter:* tags, then to <title>
// and <meta name="description">. It reads the head only, at most MaxPageBytes, and
// never fails: a page without any of them gives a card with just the URL.
func Parse(r io.Reader, page *url.URL) provider.LinkPreview {
	card := provider.LinkPreview{URL: page.String()}
	meta := map[string]string{}
	var title string
	z := html.NewTokenizer(io.LimitReader(r, MaxPageBytes))
	inTitle := false
loop:
	for {
		switch z.Next() {
		case html.ErrorToken:
			break loop
		case html.StartTagToken, html.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			switch atom.Lookup(name) {
			case atom.Body:
				break loop
			case atom.Title:
				inTitle = title == ""
			case atom.Meta:
				var key, content string
				for hasAttr {
					var k, v []byte
					k, v, hasAttr = z.TagAttr()
					switch string(k) {
					case "property", "name":
						if key == "" {
							key = strings.ToLower(string(v))
						}
					case "content":
						content = string(v)
					}
				}
				if key != "" && content != "" {
					if _, seen := meta[key]; !seen {
						meta[key] = content
					}
				}
			}
		case html.TextToken:
			if inTitle {
				title += string(z.Text())
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			switch atom.Lookup(name) {
			case atom.Title:
				inTitle = false
			case atom.Head:
				break loop
			}
		}
	}
	card.Title = clip(first(meta["og:title"], meta["twitter:title"], title), maxTitle)
	card.Description = clip(first(meta["og:description"], meta["twitter:description"], meta["description"]), maxDescription)
	if img := first(meta["og:image:secure_url"], meta["og:image"], meta["og:image:url"], meta["twitter:image"]); img != "" {
		if u, err := page.Parse(strings.TrimSpace(img)); err == nil && (u.Scheme == "http" || u.Scheme == "https") {
			card.Image = &provider.Media{URL: u.String()}
		}
	}
	return card
}

// Thumbnail decodes a picture and returns it as a JPEG whose longest side is at most
// maxSide pixels (smaller pictures keep their size), with its width and height.
func Thumbnail(data []byte, maxSide int) ([]byte, int, int, error) {
	src, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, 0, 0, fmt.Errorf("%w: %v", ErrNoImage, err)
	}
	b := src.Bounds()
	w, h := b.Dx(), b.Dy()
	if w <= 0 || h <= 0 {
		return nil, 0, 0, ErrNoImage
	}
	if w > maxSide || h > maxSide {
		if w >= h {
			w, h = maxSide, max(1, h*maxSide/w)
		} else {
			w, h = max(1, w*maxSide/h), maxSide
		}
	}
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.ApproxBiLinear.Scale(dst, dst.Bounds(), src, b, draw.Src, nil)
	var out bytes.Buffer
	if err := jpeg.Encode(&out, dst, &jpeg.Options{Quality: 80}); err != nil {
		return nil, 0, 0, fmt.Errorf("linkpreview: encoding thumbnail: %w", err)
	}
	return out.Bytes(), w, h, nil
}

func first(values ...string) string {
	for _, v := range values {
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return ""
}

// clip cuts s to n characters, on a character boundary, after collapsing whitespace.
func clip(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
