// Package graphiql serves Veil's GraphiQL page at / with every asset it needs embedded in the
// binary (GraphiQL 4.1.2, React 18.2.0, their licences beside them in assets/vendor), so the page
// works offline and under a Content-Security-Policy that allows nothing but this server.
package graphiql

import (
	"embed"
	"net/http"
	"strings"

	"github.com/veil-media/veil/server/static"
)

//go:embed assets
var assets embed.FS

// CSP is the page's Content-Security-Policy: scripts, styles, images, fonts and connections
// (HTTP and the subscription websocket) only from this server; GraphiQL's own styles set inline.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
	"font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Handler serves GET/HEAD of "/" (the page), "/favicon.ico" and "/graphiql/…" (its assets).
// Versioned vendor files are cached for a year; the page and Veil's own script revalidate by ETag.
// Every text response is compressed for clients that accept it: brotli or gzip, each compressed
// once, on first use.
func Handler() http.Handler {
	return static.Site{Files: assets, Root: "assets", Page: "/", CSP: CSP,
		Route: func(rel string) (string, bool) {
			switch {
			case strings.HasSuffix(rel, ".sh"):
				return "", false // the script that fetched the vendor files
			case rel == "index.html":
				return "/", true
			case rel == "favicon.ico":
				return "/favicon.ico", true
			}
			return "/graphiql/" + rel, true
		},
		Immutable: func(rel string) bool { return strings.HasPrefix(rel, "vendor/") }}.Handler()
}
