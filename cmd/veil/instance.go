package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/veil-media/veil/models"
)

// dataInstance says which Veil instance a command works on: the data dir, and whether the database,
// bucket or secret live in it. Every command prints it, so a command run from the wrong folder
// cannot silently work on (or create) another instance.
type dataInstance struct {
	dataDir string // absolute
	uses    []string
	exists  bool
}

// describeInstance reports what of cfg lives in the data dir. needSecret is whether the command
// reads the signing secret (which, unset, lives in <data-dir>/secret).
func describeInstance(cfg *Config, needSecret bool) dataInstance {
	abs, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		abs = cfg.DataDir
	}
	in := dataInstance{dataDir: abs}
	if p, ok := strings.CutPrefix(cfg.DB.URL, "sqlite:"); ok && within(abs, p) {
		in.uses = append(in.uses, "database")
	}
	if p, ok := strings.CutPrefix(cfg.Storage.URL, "file://"); ok && within(abs, p) {
		in.uses = append(in.uses, "media")
	}
	if needSecret && cfg.Secret == "" {
		in.uses = append(in.uses, "secret")
	}
	_, err = os.Stat(abs)
	in.exists = err == nil
	return in
}

// within reports whether path p (possibly relative, possibly with a ?query) is dir or below it.
func within(dir, p string) bool {
	p, _, _ = strings.Cut(p, "?")
	abs, err := filepath.Abs(p)
	if err != nil {
		return false
	}
	rel, err := filepath.Rel(dir, abs)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// prepare prints the instance a command works on and decides whether a missing data dir may be
// created: only by serve and migrate, and only below the current folder unless init is set
// (--init). Other commands never create an instance: a token made for an empty new database is a
// mistake, not a feature.
func (in dataInstance) prepare(cmd string, cfg *Config, init bool, stderr io.Writer) error {
	fmt.Fprintf(stderr, "veil: instance %s (database %s, storage %s)\n", in.dataDir, models.RedactURL(cfg.DB.URL), cfg.Storage.URL)
	if len(in.uses) == 0 || in.exists {
		return nil
	}
	hint := "run Veil from the folder that holds the instance's data/, or set VEIL_DATA_DIR (--data-dir) to it"
	switch cmd {
	case "serve", "migrate":
		cwd, _ := os.Getwd()
		if !init && !within(cwd, in.dataDir) {
			return fmt.Errorf("VEIL_DATA_DIR: %s does not exist and is outside the current folder %s: %s; pass --init to create a new instance there", in.dataDir, cwd, hint)
		}
		fmt.Fprintf(stderr, "\nveil: NEW INSTANCE: %s did not exist; creating it for a new, empty Veil (%s).\n"+
			"veil: if you meant an existing instance, stop now and %s.\n\n", in.dataDir, strings.Join(in.uses, ", "), hint)
		return nil
	default:
		return fmt.Errorf("VEIL_DATA_DIR: no Veil instance at %s (the folder does not exist); %s, or start a new one with `veil serve`", in.dataDir, hint)
	}
}

// version prints the module version, the commit it was built from, and the Go version.
func version(w io.Writer) {
	mod, commit, modified := "(devel)", "unknown", false
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			mod = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	if modified {
		commit += " (modified)"
	}
	if commit == "unknown" {
		commit += " (built without VCS information: go build -buildvcs=true)"
	}
	fmt.Fprintf(w, "veil %s\ncommit %s\n%s %s/%s\n", mod, commit, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
