// Package purge removes URLs from a CDN's cache, so a file that turned private stops being served
// from the cache before its max-age runs out.
//
// It owns one interface, Purger, and three drivers behind it:
//
//   - HTTPPurge sends an HTTP PURGE request per URL (Varnish, Fastly and most reverse proxies),
//     either to the URL itself or to a configured endpoint with the URL's host in the Host header;
//   - Webhook POSTs {"urls": [...]} in batches to an adapter for CDNs with a purge API;
//   - Log logs each URL and changes nothing.
//
// Open builds one from the VEIL_CDN_PURGE setting. A purger reports every URL's outcome and never
// stops at the first failure; what to do about a failure (log it, publish an event) is the
// caller's business. The package knows nothing of media: the caller decides which URLs to purge.
package purge
