package provider

// LinkPreview is the card a text message shows for a link in its text: the page's
// title, a line of description and a thumbnail. A message carries one either because
// its sender supplied it (WAHA's POST /api/send/link-custom-preview) or because the
// adapter built it from the text's first link (sendText's linkPreview, on by default as
// in WAHA). Transports without cards ignore it and send the text as is; the Cloud API
// builds its own card from the link (docs/api.md, "Link previews").
type LinkPreview struct {
	// URL is the link the card is for: an absolute http(s) URL found in the text.
	URL string `json:"url"`
	// Title is the card's title (the page's og:title or <title>); Description its
	// second line (og:description). Both optional.
	Title       string `json:"title,omitempty"`
	Description string `json:"description,omitempty"`
	// Image is the card's picture (og:image): a URL fetched at send time, or the data.
	// Optional; adapters shrink it to a JPEG thumbnail.
	Image *Media `json:"image,omitempty"`
	// HighQuality asks for a large picture (WAHA's linkPreviewHighQuality): on WhatsApp
	// Web the picture is uploaded beside the message instead of inlined as a small
	// thumbnail.
	HighQuality bool `json:"highQuality,omitempty"`
}
