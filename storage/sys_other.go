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

func openFile(path string) (*os.File, error) { return os.Open(path) }

func fileOwner(fs.FileInfo) (uid, gid int, ok bool) { return -1, -1, false }
