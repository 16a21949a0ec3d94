// Package storage opens Veil's bucket from a URL through gocloud.dev/blob, owns the object key
// layout, probes the bucket at start, and turns storage failures into a diagnosis that says what
// failed, where, as whom, and what would fix it. Storage failures are never authorisation failures:
// callers see ErrUnavailable (or ErrNotFound for a missing object), never "forbidden".
package storage
