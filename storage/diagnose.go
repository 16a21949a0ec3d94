package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// Diagnosis explains a local-folder storage failure: which path, which operation, the OS error,
// who Veil runs as, the owner and mode of the nearest existing parent, and a command that would
// fix it. It wraps ErrUnavailable.
type Diagnosis struct {
	Op   string // "create folder", "write", …
	Path string
	Err  error // the OS error

	UID, GID int

	Parent      string // nearest existing ancestor (or the path itself when it exists)
	ParentUID   int
	ParentGID   int
	ParentMode  fs.FileMode
	ParentKnown bool

	Fix string
}

func (d *Diagnosis) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "storage: cannot %s %s: %v\n", d.Op, d.Path, d.Err)
	fmt.Fprintf(&b, "  veil runs as uid=%d gid=%d\n", d.UID, d.GID)
	if d.ParentKnown {
		fmt.Fprintf(&b, "  nearest existing folder %s is owned by uid=%d gid=%d, mode %s (%#o)\n",
			d.Parent, d.ParentUID, d.ParentGID, d.ParentMode.Perm(), d.ParentMode.Perm())
	}
	fmt.Fprintf(&b, "  fix: %s", d.Fix)
	return b.String()
}

// Unwrap makes errors.Is(d, ErrUnavailable) true and exposes the OS error.
func (d *Diagnosis) Unwrap() []error { return []error{ErrUnavailable, d.Err} }

// diagnoseDir builds a Diagnosis for a failed operation on folder dir.
func diagnoseDir(dir, op string, err error) *Diagnosis {
	d := &Diagnosis{Op: op, Path: dir, Err: rootCause(err), UID: os.Getuid(), GID: os.Getgid()}
	parent := dir
	for {
		fi, serr := os.Stat(parent)
		if serr == nil {
			d.ParentUID, d.ParentGID, _ = fileOwner(fi)
			d.Parent, d.ParentMode, d.ParentKnown = parent, fi.Mode(), true
			if !fi.IsDir() {
				d.Fix = fmt.Sprintf("%s is a file, not a folder: move it away or set VEIL_STORAGE_URL to another folder", parent)
				return d
			}
			break
		}
		up := filepath.Dir(parent)
		if up == parent {
			break
		}
		parent = up
	}
	switch {
	case errors.Is(d.Err, syscall.EROFS):
		d.Fix = fmt.Sprintf("the file system holding %s is mounted read-only: remount it read-write, or set VEIL_STORAGE_URL=file:///a/writable/folder", dir)
	case errors.Is(d.Err, syscall.ENOSPC), errors.Is(d.Err, syscall.EDQUOT):
		d.Fix = fmt.Sprintf("the disk or quota holding %s is full: free space, or set VEIL_STORAGE_URL to another folder", dir)
	case d.ParentKnown && d.Parent == dir:
		d.Fix = fmt.Sprintf("sudo chown -R %d:%d %s && sudo chmod u+rwx %s   (or run veil as uid %d)", d.UID, d.GID, dir, dir, d.ParentUID)
	default:
		d.Fix = fmt.Sprintf("sudo install -d -m 0750 -o %d -g %d %s   (creates the folder for veil's uid/gid)", d.UID, d.GID, dir)
	}
	return d
}

// diagnoseWritable checks that Veil can create, write and remove a file in dir, returning a
// Diagnosis when it cannot and nil when it can.
func diagnoseWritable(dir string) *Diagnosis {
	fi, err := os.Stat(dir)
	if err != nil {
		return diagnoseDir(dir, "open folder", err)
	}
	if !fi.IsDir() {
		return diagnoseDir(dir, "use folder", fmt.Errorf("not a directory"))
	}
	f, err := os.CreateTemp(dir, ".veil-diagnose-*")
	if err != nil {
		return diagnoseDir(dir, "write a file in", err)
	}
	name := f.Name()
	_, werr := f.Write([]byte("veil"))
	cerr := f.Close()
	rerr := os.Remove(name)
	for _, e := range []error{werr, cerr, rerr} {
		if e != nil {
			return diagnoseDir(dir, "write a file in", e)
		}
	}
	return nil
}

// rootCause strips *fs.PathError and similar wrappers down to the errno when there is one, so the
// message says "permission denied" once instead of repeating the path.
func rootCause(err error) error {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno
	}
	return err
}
