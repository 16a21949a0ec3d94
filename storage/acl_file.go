package storage

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// FileACL expresses public/private as POSIX modes on a file:// bucket rooted at dir: public files
// are 0644 (readable by others, e.g. a front web server serving the folder), private files 0600;
// the folders above a public file, up to dir, get the search bit for others (o+x, never o+r, so
// folder listings stay closed).
type FileACL struct{ dir string }

// NewFileACL returns the driver for the bucket folder dir.
func NewFileACL(dir string) *FileACL { return &FileACL{dir: filepath.Clean(dir)} }

// Name implements ACL.
func (a *FileACL) Name() string { return "file-mode" }

// SetPublic implements ACL.
func (a *FileACL) SetPublic(ctx context.Context, key string, public bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if key == "" || strings.Contains(key, "..") || strings.HasPrefix(key, "/") {
		return fmt.Errorf("storage: file permission of %q: invalid key: %w", key, ErrNotFound)
	}
	path := filepath.Join(a.dir, filepath.FromSlash(key))
	mode := os.FileMode(0o600)
	if public {
		mode = 0o644
		for d := filepath.Dir(path); len(d) >= len(a.dir) && strings.HasPrefix(d, a.dir); d = filepath.Dir(d) {
			fi, err := os.Stat(d)
			if err != nil {
				return a.fail(key, err)
			}
			if fi.Mode().Perm()&0o001 == 0 {
				if err := os.Chmod(d, fi.Mode().Perm()|0o001); err != nil {
					return a.fail(key, err)
				}
			}
			if d == a.dir {
				break
			}
		}
	}
	if err := os.Chmod(path, mode); err != nil {
		return a.fail(key, err)
	}
	return nil
}

func (a *FileACL) fail(key string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("storage: file permission of %s: %w: %w", key, ErrNotFound, err)
	}
	return fmt.Errorf("storage: file permission of %s: %w: %w", key, ErrUnavailable, err)
}
