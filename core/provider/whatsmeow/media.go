package whatsmeow

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"syscall"
	"time"

	wm "go.mau.fi/whatsmeow"

	"github.com/wagate/wagate/core/netguard"
	"github.com/wagate/wagate/core/provider"
)

// mediaRef is what it takes to download the file of an inbound media message: the
// media sub-message (URL, direct path, key and hashes) and what the recipient sees of it.
type mediaRef struct {
	msg      wm.DownloadableMessage
	mimetype string
	filename string
	size     uint64 // 0 when the message does not say
}

// mediaIndex remembers the media of the last max inbound messages of a session, in
// memory: after a restart, or past max newer media messages, a file can no longer be
// downloaded through the gateway.
type mediaIndex struct {
	max int

	mu   sync.Mutex
	refs map[string]mediaRef
	ring []string
	next int
}

func newMediaIndex(max int) *mediaIndex {
	return &mediaIndex{max: max}
}

func (x *mediaIndex) remember(id string, ref mediaRef) {
	if x.max <= 0 || id == "" {
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.refs == nil {
		x.refs = make(map[string]mediaRef)
		x.ring = make([]string, x.max)
	}
	if _, ok := x.refs[id]; ok {
		x.refs[id] = ref
		return
	}
	if old := x.ring[x.next]; old != "" {
		delete(x.refs, old)
	}
	x.ring[x.next] = id
	x.next = (x.next + 1) % x.max
	x.refs[id] = ref
}

func (x *mediaIndex) lookup(id string) (mediaRef, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	ref, ok := x.refs[id]
	return ref, ok
}

func (x *mediaIndex) clear() {
	x.mu.Lock()
	x.refs, x.ring, x.next = nil, nil, 0
	x.mu.Unlock()
}

// fileLength returns the size a media message announces, or 0.
func fileLength(m wm.DownloadableMessage) uint64 {
	if l, ok := m.(interface{ GetFileLength() uint64 }); ok {
		return l.GetFileLength()
	}
	return 0
}

// DownloadMedia implements provider.MediaDownloader: it downloads and decrypts the file
// of an inbound image, sticker, video, voice or file message the session reported, among
// the last providers.whatsmeow.remembered_media ones, while connected.
//
// Errors: ErrUnknownMedia (never reported, or forgotten); ErrMediaTooLarge past
// max_media_bytes; ErrMediaUnavailable when WhatsApp no longer has the file (it keeps
// files for a few weeks); provider.ErrNotConnected (wrapped) unless connected; ctx's
// error when it ends first.
func (p *Provider) DownloadMedia(ctx context.Context, providerID string) (provider.Media, error) {
	ref, ok := p.media.lookup(providerID)
	if !ok {
		return provider.Media{}, p.errorf("downloading media of "+providerID, ErrUnknownMedia)
	}
	max := uint64(p.f.cfg.MaxMediaBytes)
	if ref.size > max {
		return provider.Media{}, p.errorf("downloading media of "+providerID, fmt.Errorf("%w: %d bytes", ErrMediaTooLarge, ref.size))
	}
	r, ok := p.current()
	if !ok || !r.client.IsLoggedIn() {
		return provider.Media{}, p.errorf("downloading media of "+providerID, provider.ErrNotConnected)
	}
	data, err := bounded(ctx, func() ([]byte, error) { return r.client.Download(ctx, ref.msg) })
	switch {
	case errors.Is(err, wm.ErrMediaDownloadFailedWith404), errors.Is(err, wm.ErrMediaDownloadFailedWith410),
		errors.Is(err, wm.ErrMediaDownloadFailedWith403), errors.Is(err, wm.ErrNoURLPresent):
		return provider.Media{}, p.errorf("downloading media of "+providerID, fmt.Errorf("%w: %w", ErrMediaUnavailable, err))
	case err != nil:
		return provider.Media{}, p.errorf("downloading media of "+providerID, err)
	case uint64(len(data)) > max:
		return provider.Media{}, p.errorf("downloading media of "+providerID, fmt.Errorf("%w: %d bytes", ErrMediaTooLarge, len(data)))
	}
	return provider.Media{Data: data, Mimetype: ref.mimetype, Filename: ref.filename}, nil
}

// mediaBytes returns the file of an outbound message and its media type: Data as is,
// or URL fetched now. Errors are *provider.SendError.
func (p *Provider) mediaBytes(ctx context.Context, m *provider.Media) ([]byte, string, error) {
	max := int64(p.f.cfg.MaxMediaBytes)
	if len(m.Data) > 0 {
		if int64(len(m.Data)) > max {
			return nil, "", &provider.SendError{Code: CodeMediaTooLarge, Err: fmt.Errorf("%w: %d bytes", ErrMediaTooLarge, len(m.Data))}
		}
		return m.Data, orDefault(m.Mimetype, http.DetectContentType(m.Data)), nil
	}
	data, mimetype, err := p.fetch(ctx, m.URL, max)
	if err != nil {
		return nil, "", err
	}
	return data, orDefault(m.Mimetype, mimetype), nil
}

// fetch downloads url, at most max bytes, and returns it with its media type (the
// response's Content-Type, else sniffed).
func (p *Provider) fetch(ctx context.Context, url string, max int64) ([]byte, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, "", &provider.SendError{Code: CodeInvalidMessage, Err: fmt.Errorf("%w: media url: %v", ErrInvalidMessage, err)}
	}
	resp, err := p.f.http.Do(req)
	if err != nil {
		if errors.Is(err, ErrMediaURLForbidden) {
			return nil, "", &provider.SendError{Code: CodeMediaUnavailable, Err: err}
		}
		return nil, "", fetchError(ctx, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusRequestTimeout:
		return nil, "", &provider.SendError{Code: CodeMediaFetch, Retryable: true, Err: fmt.Errorf("fetching media: %s answered %s", url, resp.Status)}
	case resp.StatusCode >= 300:
		return nil, "", &provider.SendError{Code: CodeMediaUnavailable, Err: fmt.Errorf("%w: %s answered %s", ErrMediaUnavailable, url, resp.Status)}
	case resp.ContentLength > max:
		return nil, "", &provider.SendError{Code: CodeMediaTooLarge, Err: fmt.Errorf("%w: %s is %d bytes", ErrMediaTooLarge, url, resp.ContentLength)}
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		return nil, "", fetchError(ctx, err)
	}
	if int64(len(data)) > max {
		return nil, "", &provider.SendError{Code: CodeMediaTooLarge, Err: fmt.Errorf("%w: %s is larger", ErrMediaTooLarge, url)}
	}
	mimetype := http.DetectContentType(data)
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		if mt, params, err := mime.ParseMediaType(ct); err == nil && mt != "application/octet-stream" {
			mimetype = mime.FormatMediaType(mt, params)
		}
	}
	return data, mimetype, nil
}

// fetchError is the SendError of a media fetch cut short by the network or ctx.
func fetchError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctxSendError(ctx, fmt.Errorf("fetching media: %w", err))
	}
	return &provider.SendError{Code: CodeMediaFetch, Retryable: true, Err: fmt.Errorf("fetching media: %w", err)}
}

// ErrMediaURLForbidden: a media URL resolves to an address the default HTTP client
// refuses (not public: core/netguard).
var ErrMediaURLForbidden = errors.New("whatsmeow: media url resolves to a non-public address")

// publicHTTPClient is the default client of media fetches: it connects to public
// addresses only, checked on the address actually dialled (after DNS), so a name that
// resolves to the gateway's own network is refused however it resolves.
func publicHTTPClient() *http.Client {
	d := &net.Dialer{Timeout: 10 * time.Second, Control: refuseNonPublic}
	return &http.Client{
		Transport: &http.Transport{
			DialContext:           d.DialContext,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: 30 * time.Second,
			MaxIdleConnsPerHost:   4,
		},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 5 {
				return errors.New("more than 5 redirects")
			}
			return nil
		},
	}
}

func refuseNonPublic(network, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return fmt.Errorf("%w: %s", ErrMediaURLForbidden, host)
	}
	if why := netguard.Refusal(ip); why != "" {
		return fmt.Errorf("%w: %s is a %s", ErrMediaURLForbidden, ip.Unmap(), why)
	}
	return nil
}
