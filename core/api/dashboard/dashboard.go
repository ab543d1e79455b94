// Package dashboard is the gateway's built-in console: plain ES modules, one per page,
// and a style sheet, embedded in the binary and served from the gateway's own origin
// (nothing is fetched from elsewhere, no build step). The console holds no data; it
// calls the HTTP API of the same origin with the X-Api-Key the user signs in with, kept
// in sessionStorage only.
//
// Files: static/index.html (the shell, served at /), static/app.js (router and
// navigation), static/api.js (fetch, event stream, banners, DOM builder), static/pages/*.js
// (one module per page), static/style.css and static/favicon.svg (also served at
// /favicon.ico).
package dashboard

import (
	"embed"
	"io/fs"
	"path"
	"strings"
)

//go:embed static
var files embed.FS

// Static is the console's files, rooted at static/.
var Static, _ = fs.Sub(files, "static")

// Index is the console's shell page, served at GET /.
var Index, _ = fs.ReadFile(Static, "index.html")

// Favicon is the console's icon (SVG), served at /favicon.ico and /static/favicon.svg.
var Favicon, _ = fs.ReadFile(Static, "favicon.svg")

// ContentType is the Content-Type of Index.
const ContentType = "text/html; charset=utf-8"

// FaviconType is the Content-Type of Favicon.
const FaviconType = "image/svg+xml"

// CSP is the Content-Security-Policy of every console response: scripts, styles and
// connections of the same origin only, no inline code; images also from blob: (the QR
// code is fetched with the API key and shown from a blob URL).
const CSP = "default-src 'self'; img-src 'self' blob: data:; object-src 'none'; base-uri 'none'; " +
	"form-action 'self'; frame-ancestors 'none'"

// File returns the console file at name (relative to static/, e.g. "app.js" or
// "pages/sessions.js") and its Content-Type; ok is false when there is none. Only
// .js, .css, .svg and .html files are served.
func File(name string) (body []byte, contentType string, ok bool) {
	if name == "" || strings.Contains(name, "..") || strings.HasPrefix(name, "/") {
		return nil, "", false
	}
	var ct string
	switch path.Ext(name) {
	case ".js":
		ct = "text/javascript; charset=utf-8"
	case ".css":
		ct = "text/css; charset=utf-8"
	case ".svg":
		ct = FaviconType
	case ".html":
		ct = ContentType
	default:
		return nil, "", false
	}
	b, err := fs.ReadFile(Static, name)
	if err != nil {
		return nil, "", false
	}
	return b, ct, true
}
