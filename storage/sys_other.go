//go:build !unix

package storage

import (
	"errors"
	"io/fs"
	"os"
)

// Outside Unix a folder bucket's promotions copy (no link to an open file), files open with
// os.Open and owners are not reported.

func linkOpenFile(*os.File, string) error { return errors.ErrUnsupported }

func cannotLink(error) bool { return true }

// openFile opens a regular file for reading and returns its size; a file that is not regular is
// errNotRegular.
func openFile(path string) (*os.File, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		f.Close()
		if err == nil {
			err = errNotRegular
		}
		return nil, 0, err
	}
	return f, fi.Size(), nil
}

func fileOwner(fs.FileInfo) (uid, gid int, ok bool) { return -1, -1, false }
