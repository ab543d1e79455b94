// Package dashboard is the gateway's built-in web page: one self-contained HTML file
// (inline CSS and JS, no external resources) that talks to the tenant HTTP API of the
// same origin with the X-Api-Key header the user pastes in.
package dashboard

import _ "embed"

// Index is the dashboard page, served at GET /.
//
//go:embed index.html
var Index []byte

// ContentType is the Content-Type of Index.
const ContentType = "text/html; charset=utf-8"
