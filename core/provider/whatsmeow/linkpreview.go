package whatsmeow

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"sync"
	"time"

	wm "go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"google.golang.org/protobuf/proto"

	"github.com/wagate/wagate/core/linkpreview"
	"github.com/wagate/wagate/core/provider"
)

// Link previews on WhatsApp Web are built by the sender: the message carries the card
// (title, description, thumbnail) and the recipient's phone shows it without fetching
// anything. A text message gets one of two cards:
//
//   - the sender's own (Outbound.Preview: WAHA's link-custom-preview), its picture
//     fetched or taken from its data;
//   - else, unless refused (NoPreview), one built here from the text's first link: the
//     page's head read (public addresses only, at most linkpreview.MaxPageBytes, within
//     previewTimeout) for its Open Graph card, and its picture fetched.
//
// A card that cannot be built (page unreachable, not HTML, picture undecodable) never
// fails the send: the text goes without it, or without its picture. Built cards are
// cached per link for previewTTL, so a campaign of one link fetches its page once.
// The picture is inlined as a small JPEG thumbnail; with HighQuality it is also
// uploaded as WhatsApp's link thumbnail (larger, shown full width).
const (
	previewTimeout = 5 * time.Second
	previewTTL     = 10 * time.Minute
	previewCached  = 256
)

// previewCard is a built card: its texts and its picture, as shrunk.
type previewCard struct {
	card        provider.LinkPreview
	small, full []byte // JPEG thumbnails; nil without a picture
	w, h        int    // full's size
	at          time.Time
}

// previewCache keeps the cards built for links, at most previewCached.
type previewCache struct {
	mu    sync.Mutex
	cards map[string]previewCard
}

func (c *previewCache) get(link string, now time.Time) (previewCard, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	pc, ok := c.cards[link]
	if !ok || now.Sub(pc.at) > previewTTL {
		return previewCard{}, false
	}
	return pc, true
}

func (c *previewCache) put(link string, pc previewCard) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cards == nil {
		c.cards = make(map[string]previewCard)
	}
	if len(c.cards) >= previewCached {
		oldest := ""
		for k, v := range c.cards {
			if oldest == "" || v.at.Before(c.cards[oldest].at) {
				oldest = k
			}
		}
		delete(c.cards, oldest)
	}
	c.cards[link] = pc
}

// textMessage returns the waE2E message of a text: a plain Conversation, or an
// ExtendedTextMessage when it quotes, mentions, forwards or shows a link preview.
func (p *Provider) textMessage(ctx context.Context, r *run, msg provider.Outbound, quote *waE2E.ContextInfo) *waE2E.Message {
	pc, ok := p.previewFor(ctx, msg)
	if quote == nil && !ok {
		return &waE2E.Message{Conversation: proto.String(msg.Text)}
	}
	ext := &waE2E.ExtendedTextMessage{Text: proto.String(msg.Text), ContextInfo: quote}
	if ok {
		c := pc.card
		ext.MatchedText = proto.String(c.URL)
		ext.PreviewType = waE2E.ExtendedTextMessage_NONE.Enum()
		if c.Title != "" {
			ext.Title = proto.String(c.Title)
		}
		if c.Description != "" {
			ext.Description = proto.String(c.Description)
		}
		if pc.small != nil {
			ext.JPEGThumbnail = pc.small
			if c.HighQuality && pc.full != nil {
				p.uploadThumbnail(ctx, r, ext, pc)
			}
		}
	}
	return &waE2E.Message{ExtendedTextMessage: ext}
}

// uploadThumbnail uploads a high-quality card's picture as WhatsApp's link thumbnail
// and points ext at it; on failure the card keeps its small inlined thumbnail.
func (p *Provider) uploadThumbnail(ctx context.Context, r *run, ext *waE2E.ExtendedTextMessage, pc previewCard) {
	up, err := bounded(ctx, func() (wm.UploadResponse, error) { return r.client.Upload(ctx, pc.full, wm.MediaLinkThumbnail) })
	if err != nil {
		p.log.Debug("link preview picture upload failed; sending the small thumbnail", "err", err)
		return
	}
	ext.ThumbnailDirectPath = proto.String(up.DirectPath)
	ext.ThumbnailSHA256, ext.ThumbnailEncSHA256, ext.MediaKey = up.FileSHA256, up.FileEncSHA256, up.MediaKey
	ext.MediaKeyTimestamp = proto.Int64(time.Now().Unix())
	ext.ThumbnailWidth, ext.ThumbnailHeight = proto.Uint32(uint32(pc.w)), proto.Uint32(uint32(pc.h))
}

// previewFor returns the card of text message msg, false when it shows none.
func (p *Provider) previewFor(ctx context.Context, msg provider.Outbound) (previewCard, bool) {
	if msg.Preview != nil {
		pc := previewCard{card: *msg.Preview}
		if img := msg.Preview.Image; img != nil {
			pctx, cancel := context.WithTimeout(ctx, previewTimeout)
			data, _, err := p.mediaBytes(pctx, img)
			cancel()
			if err == nil {
				p.shrink(&pc, data)
			} else {
				p.log.Debug("link preview picture unavailable; sending the card without it", "err", err)
			}
		}
		return pc, true
	}
	if msg.NoPreview {
		return previewCard{}, false
	}
	link := linkpreview.FirstURL(msg.Text)
	if link == "" {
		return previewCard{}, false
	}
	now := time.Now()
	pc, ok := p.previews.get(link, now)
	if !ok {
		pc, ok = p.buildPreview(ctx, link)
		if !ok {
			return previewCard{}, false
		}
		pc.at = now
		p.previews.put(link, pc)
	}
	pc.card.HighQuality = msg.PreviewHighQuality
	return pc, true
}

// buildPreview reads the card of link from its page, within previewTimeout.
func (p *Provider) buildPreview(ctx context.Context, link string) (previewCard, bool) {
	ctx, cancel := context.WithTimeout(ctx, previewTimeout)
	defer cancel()
	page, err := url.Parse(link)
	if err != nil {
		return previewCard{}, false
	}
	head, err := p.fetchPage(ctx, link)
	if err != nil {
		p.log.Debug("no link preview: the page could not be read", "url", link, "err", err)
		return previewCard{}, false
	}
	pc := previewCard{card: linkpreview.Parse(bytes.NewReader(head), page)}
	pc.card.URL = link // the link as the text has it: WhatsApp matches it there
	if pc.card.Title == "" && pc.card.Description == "" {
		return previewCard{}, false
	}
	if img := pc.card.Image; img != nil {
		data, _, err := p.fetch(ctx, img.URL, linkpreview.MaxImageBytes)
		if err == nil {
			p.shrink(&pc, data)
		}
	}
	return pc, true
}

// fetchPage reads the start of an HTML page: at most linkpreview.MaxPageBytes, through
// the provider's guarded client (public addresses only).
func (p *Provider) fetchPage(ctx context.Context, link string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, link, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/html,application/xhtml+xml")
	resp, err := p.f.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s answered %s", link, resp.Status)
	}
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err != nil || (mt != "text/html" && mt != "application/xhtml+xml") {
		return nil, fmt.Errorf("%s is not an HTML page (%q)", link, resp.Header.Get("Content-Type"))
	}
	return io.ReadAll(io.LimitReader(resp.Body, linkpreview.MaxPageBytes))
}

// shrink makes pc's thumbnails from a picture; an undecodable one leaves pc without.
func (p *Provider) shrink(pc *previewCard, data []byte) {
	small, _, _, err := linkpreview.Thumbnail(data, linkpreview.SmallSide)
	if err != nil {
		p.log.Debug("link preview picture not decodable; sending the card without it", "err", err)
		return
	}
	pc.small = small
	if full, w, h, err := linkpreview.Thumbnail(data, linkpreview.LargeSide); err == nil {
		pc.full, pc.w, pc.h = full, w, h
	}
}
