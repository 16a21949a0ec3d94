// Package library serves Veil's media library page at /library/: plain ES modules and one style
// sheet embedded in the binary, no build step and no third-party code, so `go run ./cmd/veil
// serve` serves it from a fresh clone and it works offline. The page holds no data: it asks the
// GraphQL API for everything with the token the user pastes (kept in sessionStorage, sent as a
// Bearer header, never a cookie), so it is served to anyone.
package library

import (
	"embed"
	"net/http"

	"github.com/veil-media/veil/server/static"
)

//go:embed assets
var assets embed.FS

// Prefix is the path the page is served under.
const Prefix = "/library/"

// CSP is the page's Content-Security-Policy: scripts, styles and connections (HTTP and the
// subscription websocket) only from this server, no inline script or style attribute. Images
// are 'self' and blob:, because private renditions are fetched with the Bearer header and shown
// from blob: URLs (an <img> cannot send a header).
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; " +
	"connect-src 'self'; manifest-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Handler serves GET/HEAD of /library/ (the page) and /library/… (its modules and style sheet).
// Everything revalidates by ETag (no-cache), so a new binary's page is picked up at once, and is
// compressed (brotli or gzip) for clients that accept it.
func Handler() http.Handler {
	return static.Site{Files: assets, Root: "assets", Page: Prefix, CSP: CSP,
		Route: func(rel string) (string, bool) {
			if rel == "index.html" {
				return Prefix, true
			}
			return Prefix + rel, true
		}}.Handler()
}
