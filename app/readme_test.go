package app_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/veil-media/veil/app"
)

var update = flag.Bool("update", false, "rewrite the README's configuration table from app.Settings")

const (
	tableBegin = "<!-- configuration table: generated from app.Settings by `go test ./app -run README -update` -->\n"
	tableEnd   = "<!-- end of configuration table -->\n"
)

// TestREADMEConfigTable: the README's configuration table is exactly the settings table, so the
// README, `veil serve -h` and validation messages cannot disagree.
func TestREADMEConfigTable(t *testing.T) {
	path := filepath.Join("..", "README.md")
	readme, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(readme)
	i, j := strings.Index(s, tableBegin), strings.Index(s, tableEnd)
	if i < 0 || j < i {
		t.Fatalf("README.md lacks the markers of the configuration table:\n%s%s", tableBegin, tableEnd)
	}
	var want bytes.Buffer
	app.MarkdownTable(&want)
	got := s[i+len(tableBegin) : j]
	if got == want.String() {
		return
	}
	if *update {
		if err := os.WriteFile(path, []byte(s[:i+len(tableBegin)]+want.String()+s[j:]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("README.md's configuration table differs from app.Settings; run go test ./app -run README -update\ngot:\n%s\nwant:\n%s", got, want.String())
}
