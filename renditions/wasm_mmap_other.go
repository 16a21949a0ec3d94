//go:build !unix

package renditions

// mapMemory allocates n bytes on the Go heap where anonymous mappings are not available; the
// memory returns to the system when the Go scavenger releases it.
func mapMemory(n uint64) ([]byte, func()) { return make([]byte, n), nil }
