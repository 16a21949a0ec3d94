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

// openFile opens a regular file for reading and returns its size. It is os.Open without the
// attempt to register the file with the network poller: for a regular file Linux refuses it, after
// os.Open has set the descriptor non-blocking and before it sets it back (four fcntl and one
// epoll_ctl per open, on every request a folder bucket serves). os.NewFile asks for the flags
// once. The size comes from an fstat into a local struct (File.Stat would allocate a FileInfo). A
// file that is not regular is errNotRegular.
func openFile(path string) (*os.File, int64, error) {
	for {
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		switch {
		case err == nil:
			var st unix.Stat_t
			if err := unix.Fstat(fd, &st); err != nil {
				unix.Close(fd)
				return nil, 0, &fs.PathError{Op: "stat", Path: path, Err: err}
			}
			if st.Mode&unix.S_IFMT != unix.S_IFREG {
				unix.Close(fd)
				return nil, 0, errNotRegular
			}
			return os.NewFile(uintptr(fd), path), st.Size, nil
		case errors.Is(err, unix.EINTR):
			continue
		}
		return nil, 0, &fs.PathError{Op: "open", Path: path, Err: err}
	}
}

// fileOwner is the owner and group of a file.
func fileOwner(fi fs.FileInfo) (uid, gid int, ok bool) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid), int(st.Gid), true
	}
	return -1, -1, false
}
