// Package veiltest runs a real Veil inside a test.
//
// For other projects: Start (or Run, outside a test) gives an instance on a loopback port with an
// in-memory database and bucket and a known admin token, in one line; see Example.
//
// For Veil's own tests it also gives real parts: a SQLite database in a temp dir, a fresh
// Postgres schema when VEIL_TEST_POSTGRES_URL is set, NewServer over a given database, and the
// path of the test corpus (testdata/corpus).
package veiltest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"image"
	"image/jpeg"
	mrand "math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/veil-media/veil/models"
)

// PostgresEnv names the variable that turns the Postgres half of every data test on.
const PostgresEnv = "VEIL_TEST_POSTGRES_URL"

// EachDB runs fn once on a fresh, migrated SQLite database and, when VEIL_TEST_POSTGRES_URL is
// set, once more on a fresh, migrated Postgres schema, as subtests named "sqlite" and "postgres".
func EachDB(t *testing.T, fn func(t *testing.T, db *models.DB)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { fn(t, SQLite(t)) })
	if os.Getenv(PostgresEnv) != "" {
		t.Run("postgres", func(t *testing.T) { fn(t, Postgres(t)) })
	}
}

// SQLiteURL returns a database URL for a new SQLite file in a temp dir.
func SQLiteURL(t testing.TB) string {
	return "sqlite:" + filepath.Join(t.TempDir(), "veil.db")
}

// SQLite opens and migrates a new SQLite database, closed at the end of the test.
func SQLite(t testing.TB) *models.DB {
	t.Helper()
	return Open(t, SQLiteURL(t))
}

// PostgresURL creates a new schema in the test Postgres database and returns a URL whose
// search_path points at it; the schema is dropped at the end of the test. It skips the test when
// VEIL_TEST_POSTGRES_URL is unset.
func PostgresURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv(PostgresEnv)
	if base == "" {
		t.Skip(PostgresEnv + " is not set")
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "veiltest_" + hex.EncodeToString(b[:])
	admin, err := models.Open(context.Background(), models.DBConfig{URL: base})
	if err != nil {
		t.Fatalf("veiltest: %v", err)
	}
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatalf("veiltest: create schema: %v", err)
	}
	t.Cleanup(func() {
		_, _ = admin.Exec("DROP SCHEMA " + schema + " CASCADE")
		admin.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("veiltest: %s: %v", PostgresEnv, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	if q.Get("sslmode") == "" {
		q.Set("sslmode", "disable")
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// Postgres opens and migrates a fresh Postgres schema (see PostgresURL).
func Postgres(t testing.TB) *models.DB {
	t.Helper()
	return Open(t, PostgresURL(t))
}

// Open opens and migrates the database at dbURL, closed at the end of the test (a test that opens
// the same database twice, as a restarted instance would, calls it again with the same URL).
func Open(t testing.TB, dbURL string) *models.DB {
	t.Helper()
	ctx := context.Background()
	db, err := models.Open(ctx, models.DBConfig{URL: dbURL})
	if err != nil {
		t.Fatalf("veiltest: open %s: %v", dbURL, err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := models.Migrate(ctx, db.DB); err != nil {
		t.Fatalf("veiltest: migrate: %v", err)
	}
	return db
}

// Corpus returns the absolute path of a file in the repository's test corpus, testdata/corpus
// (licences in testdata/corpus/README.md).
func Corpus(t testing.TB, rel string) string {
	t.Helper()
	p := filepath.Join(CorpusDir(), filepath.FromSlash(rel))
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("veiltest: corpus file %s: %v", rel, err)
	}
	return p
}

// CorpusFiles lists the files of a corpus folder (e.g. "photos"), as corpus-relative paths.
func CorpusFiles(t testing.TB, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(CorpusDir(), dir))
	if err != nil {
		t.Fatalf("veiltest: corpus folder %s: %v", dir, err)
	}
	var out []string
	for _, e := range entries {
		if !e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			out = append(out, dir+"/"+e.Name())
		}
	}
	return out
}

// LargeJPEG writes an 18-megapixel (5640×3172) baseline JPEG of about 10 MB into a temporary
// folder of t and returns its path: the large upload the corpus leaves out to keep the repository
// small (benchmarks read the 16 MB original from $VEIL_LARGE_CORPUS when it is set).
func LargeJPEG(t testing.TB) string {
	t.Helper()
	const w, h = 5640, 3172
	img := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
	rng := mrand.New(mrand.NewPCG(1, 2))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Y[y*img.YStride+x] = uint8((x*255/w+y*255/h)/2 + rng.IntN(48))
		}
	}
	for i := range img.Cb {
		img.Cb[i], img.Cr[i] = uint8(96+rng.IntN(64)), uint8(96+rng.IntN(64))
	}
	p := filepath.Join(t.TempDir(), "large.jpg")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := jpeg.Encode(f, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

// CorpusDir returns the absolute path of testdata/corpus.
func CorpusDir() string { return filepath.Join(ModuleRoot(), "testdata", "corpus") }

// ModuleRoot returns the directory holding go.mod.
func ModuleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

// Name is a helper for subtest names.
func Name(format string, args ...any) string { return fmt.Sprintf(format, args...) }
