//go:build unix

package renditions

import "golang.org/x/sys/unix"

// mapMemory reserves n bytes of anonymous memory outside the Go heap. Pages are committed by
// the kernel only when first written, and the returned function unmaps them all at once, so a
// finished encode gives its memory back to the system immediately. If the mapping fails it
// falls back to the Go heap.
func mapMemory(n uint64) ([]byte, func()) {
	if n == 0 {
		return nil, nil
	}
	b, err := unix.Mmap(-1, 0, int(n), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON|unix.MAP_NORESERVE)
	if err != nil {
		return make([]byte, n), nil
	}
	return b, func() { _ = unix.Munmap(b) }
}
