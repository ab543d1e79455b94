package cloudapi

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/wagate/wagate/core/provider"
)

// MaxMediaBytes bounds a media file DownloadMedia fetches: 100 MiB, the largest file
// (a document) the Cloud API carries.
const MaxMediaBytes = 100 << 20

// DownloadMedia implements provider.MediaDownloader for the last rememberedMedia (1000)
// inbound media messages of the session: it asks the Graph API for the file's URL
// (GET /<version>/<media id>) and fetches it with the session's token, as Meta
// documents. Meta keeps inbound media for 30 days.
//
// Errors: ErrNoMedia for a message not remembered; ErrMediaTooLarge past MaxMediaBytes;
// otherwise the *provider.SendError of the failed call.
func (s *Provider) DownloadMedia(ctx context.Context, providerID string) (provider.Media, error) {
	mediaID, ok := s.media.lookup(providerID)
	if !ok {
		return provider.Media{}, s.errorf("downloading media", fmt.Errorf("%w: %s", ErrNoMedia, providerID))
	}
	var info struct {
		URL      string `json:"url"`
		MimeType string `json:"mime_type"`
		FileSize any    `json:"file_size"` // a string or a number, depending on the version
	}
	err := s.f.graph.call(ctx, request{method: "GET", url: s.cfg.BaseURL + "/" + s.cfg.APIVersion + "/" + mediaID,
		token: s.cfg.AccessToken}, &info)
	if err != nil {
		return provider.Media{}, s.errorf("downloading media", err)
	}
	if info.URL == "" {
		return provider.Media{}, s.errorf("downloading media", fmt.Errorf("%w: no url for media %s", ErrBadResponse, mediaID))
	}
	if n, ok := size(info.FileSize); ok && n > MaxMediaBytes {
		return provider.Media{}, s.errorf("downloading media", fmt.Errorf("%w: %d bytes (at most %d)", ErrMediaTooLarge, n, MaxMediaBytes))
	}
	res, err := s.f.graph.do(ctx, request{method: "GET", url: info.URL, token: s.cfg.AccessToken, maxBody: MaxMediaBytes})
	switch {
	case errors.Is(err, errBodyTooLarge):
		return provider.Media{}, s.errorf("downloading media", fmt.Errorf("%w: %v", ErrMediaTooLarge, err))
	case err != nil:
		return provider.Media{}, s.errorf("downloading media", transportError(err))
	case res.status < 200 || res.status > 299:
		return provider.Media{}, s.errorf("downloading media", answerError(res))
	}
	mimetype := info.MimeType
	if mimetype == "" {
		mimetype = res.contentType
	}
	return provider.Media{Data: res.body, Mimetype: mimetype}, nil
}

// size reads Meta's file_size, a string or a number.
func size(v any) (int64, bool) {
	switch n := v.(type) {
	case float64:
		return int64(n), true
	case string:
		i, err := strconv.ParseInt(n, 10, 64)
		return i, err == nil
	}
	return 0, false
}

var _ provider.MediaDownloader = (*Provider)(nil)
