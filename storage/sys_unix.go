//go:build unix

package storage

import (
	"errors"
	"io/fs"
	"os"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// linkOpenFile gives the open file f the name path (linkat through /proc/self/fd).
func linkOpenFile(f *os.File, path string) error {
	return unix.Linkat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(int(f.Fd())), unix.AT_FDCWD, path, unix.AT_SYMLINK_FOLLOW)
}

// cannotLink reports a linkOpenFile error that means the system cannot link here (no /proc,
// another filesystem, not permitted), so the caller copies instead.
func cannotLink(err error) bool {
	return errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EXDEV) || errors.Is(err, unix.EPERM) || errors.Is(err, unix.ENOSYS)
}

// openFile opens a file for reading. It is os.Open without the attempt to register the file with
// the network poller: for a regular file Linux refuses it, after os.Open has set the descriptor
// non-blocking and before it sets it back (four fcntl and one epoll_ctl per open, on every request
// a folder bucket serves). os.NewFile asks for the flags once.
func openFile(path string) (*os.File, error) {
	for {
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		switch {
		case err == nil:
			return os.NewFile(uintptr(fd), path), nil
		case errors.Is(err, unix.EINTR):
			continue
		}
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
}

// fileOwner is the owner and group of a file.
func fileOwner(fi fs.FileInfo) (uid, gid int, ok bool) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid), int(st.Gid), true
	}
	return -1, -1, false
}
