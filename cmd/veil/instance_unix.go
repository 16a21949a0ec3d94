//go:build unix

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// diagnose checks, before anything is opened, that Veil can create or write every path it needs
// in the data dir (the folder itself, the SQLite file and its -wal/-shm companions, the media
// folder, the secret). It returns one diagnosis naming each path that fails and one command that
// fixes them all, or "" when all is well.
func (in dataInstance) diagnose() string {
	if len(in.uses) == 0 {
		return ""
	}
	uid, gid := os.Getuid(), os.Getgid()
	var problems []string
	owner := func(p string) string {
		fi, err := os.Lstat(p)
		if err != nil {
			return ""
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			return fmt.Sprintf(" (owned by uid=%d gid=%d, mode %#o)", st.Uid, st.Gid, fi.Mode().Perm())
		}
		return ""
	}
	fix := ""
	if !in.exists {
		parent := filepath.Dir(in.dataDir)
		if syscall.Access(parent, accessW|accessX) != nil {
			problems = append(problems, fmt.Sprintf("%s: cannot create the data dir in %s%s", in.dataDir, parent, owner(parent)))
			fix = fmt.Sprintf("sudo install -d -m 0750 -o %d -g %d %s", uid, gid, in.dataDir)
		}
	} else {
		if syscall.Access(in.dataDir, accessX) != nil {
			problems = append(problems, fmt.Sprintf("%s: cannot enter the data dir%s", in.dataDir, owner(in.dataDir)))
		} else {
			if syscall.Access(in.dataDir, accessW) != nil {
				problems = append(problems, fmt.Sprintf("%s: cannot create files in the data dir (SQLite's journal, the secret, media/)%s", in.dataDir, owner(in.dataDir)))
			}
			for _, name := range []string{"veil.db", "veil.db-wal", "veil.db-shm", "secret", "media"} {
				p := filepath.Join(in.dataDir, name)
				fi, err := os.Stat(p)
				if err != nil {
					continue // created later, which the data dir's own check covers
				}
				mode := uint32(accessR | accessW)
				if fi.IsDir() {
					mode |= accessX
				}
				if syscall.Access(p, mode) != nil {
					problems = append(problems, fmt.Sprintf("%s: cannot read and write%s", p, owner(p)))
				}
			}
		}
		fix = fmt.Sprintf("sudo chown -R %d:%d %s && sudo chmod -R u+rwX %s", uid, gid, in.dataDir, in.dataDir)
	}
	if len(problems) == 0 {
		return ""
	}
	return fmt.Sprintf("the data dir %s is not usable by uid=%d gid=%d, which Veil runs as:\n  %s\n  fix (one command): %s   (or run Veil as the owner)",
		in.dataDir, uid, gid, strings.Join(problems, "\n  "), fix)
}

// access(2) modes.
const (
	accessR = 0x4
	accessW = 0x2
	accessX = 0x1
)
