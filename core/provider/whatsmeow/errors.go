package whatsmeow

import (
	"errors"
	"fmt"

	"github.com/wagate/wagate/core/provider"
)

// Errors of the whatsmeow provider. Test them with errors.Is; they come wrapped with the
// tenant and session they concern.
var (
	// ErrUnsupportedJID: a whatsmeow JID that is not a user, group, LID, newsletter or
	// broadcast chat (bots, Messenger ids). FromJID returns it; inbound messages of
	// newsletters and broadcasts are skipped with it too.
	ErrUnsupportedJID = errors.New("whatsmeow: not a chat of the gateway")
	// ErrInvalidConfig: the per-session provider config is not a JSON object without
	// unknown fields (the whatsmeow provider takes none yet).
	ErrInvalidConfig = errors.New("whatsmeow: invalid session config")
	// ErrInvalidMessage is the cause inside the *provider.SendError of a message that
	// lacks what its kind needs (an image without media, a reaction without a message
	// id), or whose media cannot be used (no mimetype with data).
	ErrInvalidMessage = errors.New("whatsmeow: invalid message")
	// ErrMediaTooLarge: a media file is larger than providers.whatsmeow.max_media_bytes.
	ErrMediaTooLarge = errors.New("whatsmeow: media larger than max_media_bytes")
	// ErrMediaUnavailable: the media URL of a send answered with an error status, or
	// the file of an inbound message is gone from WhatsApp's servers.
	ErrMediaUnavailable = errors.New("whatsmeow: media unavailable")
	// ErrUnknownMedia: DownloadMedia for a message the provider does not remember as an
	// inbound media message (never seen, or older than remembered_media messages).
	ErrUnknownMedia = errors.New("whatsmeow: unknown or forgotten media message")
	// ErrClosed: the provider was closed (its session deleted).
	ErrClosed = errors.New("whatsmeow: closed")
	// ErrInvalidPhone: RequestPairingCode with a number WhatsApp cannot pair (too
	// short, or without country code).
	ErrInvalidPhone = errors.New("whatsmeow: invalid phone number for pairing")
	// ErrNotPairing wraps provider.ErrNotPairing: RequestPairingCode while the session
	// is not showing QR codes.
	ErrNotPairing = fmt.Errorf("whatsmeow: %w", provider.ErrNotPairing)
)

// Codes of the *provider.SendError values the provider returns.
const (
	// CodeTimeout: the send's context ended, or WhatsApp did not answer in time. Retryable.
	CodeTimeout = "timeout"
	// CodeCanceled: the send's context was canceled. Retryable.
	CodeCanceled = "canceled"
	// CodeNotConnected: the session is reconnecting. Retryable.
	CodeNotConnected = "not_connected"
	// CodeRateLimited: WhatsApp answered rate-overlimit. Retryable later.
	CodeRateLimited = "rate_limited"
	// CodeBanned: the number is temporarily banned. Not retryable on this number.
	CodeBanned = "banned"
	// CodeLoggedOut: the number was unlinked. Not retryable on this number.
	CodeLoggedOut = "logged_out"
	// CodeInvalidRecipient: the chat id is not one WhatsApp can send to. Not retryable.
	CodeInvalidRecipient = "invalid_recipient"
	// CodeInvalidMessage: ErrInvalidMessage. Not retryable.
	CodeInvalidMessage = "invalid_message"
	// CodeUnsupported: a kind the provider cannot send (edit, revoke, unknown). Not retryable.
	CodeUnsupported = "unsupported"
	// CodeMediaTooLarge: ErrMediaTooLarge. Not retryable.
	CodeMediaTooLarge = "media_too_large"
	// CodeMediaUnavailable: the media URL answered 4xx. Not retryable.
	CodeMediaUnavailable = "media_unavailable"
	// CodeMediaFetch: fetching the media URL failed (network, 5xx). Retryable.
	CodeMediaFetch = "media_fetch_failed"
	// CodeUpload: uploading the media to WhatsApp failed. Retryable.
	CodeUpload = "upload_failed"
	// CodeServerError: WhatsApp refused the message with an error code. Not retryable.
	CodeServerError = "server_error"
	// CodeReachout: WhatsApp refused the message with error 463: the number is under a
	// reach-out timelock and may not start conversations. The provider reports the
	// restriction (pacing holds the session); retryable once it is lifted.
	CodeReachout = "reachout_restricted"
	// CodeSendFailed: any other failure (encryption, device lists, network). Retryable.
	CodeSendFailed = "send_failed"
)
