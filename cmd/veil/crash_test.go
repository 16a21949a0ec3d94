package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/veil-media/veil/models"
	"github.com/veil-media/veil/veiltest"
)

// uploadRequest starts a multipart uploadDocument request whose file body comes from r.
func uploadRequest(base, token, filename string, r io.Reader) (*http.Request, error) {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		_ = mw.WriteField("operations", `{"query":"mutation($f: Upload!) { uploadDocument(input: {file: $f}) { id sha256 } }","variables":{"f":null}}`)
		_ = mw.WriteField("map", `{"0":["variables.f"]}`)
		fw, _ := mw.CreateFormFile("0", filename)
		if _, err := io.Copy(fw, r); err != nil {
			pw.CloseWithError(err)
			return
		}
		pw.CloseWithError(mw.Close())
	}()
	req, err := http.NewRequest(http.MethodPost, base+"/graphql", pr)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+token)
	return req, nil
}

// textFile is a plain-text document of n bytes, different for each seed.
func textFile(seed, n int) []byte {
	line := []byte(fmt.Sprintf("line of document %d, for the crash test of the reconciler\n", seed))
	return bytes.Repeat(line, n/len(line)+1)[:n]
}

// TestKill9WithUploadsInFlight runs `veil serve`, lets ten uploads complete and holds ten more
// part-way (each has written a megabyte into a partial file), then kills the process with SIGKILL.
// `veil reconcile` (grace 0) then leaves no orphan — no object without a row, no partial file, no
// pending record — and loses no acknowledged upload: each is served again with its sha256 after a
// restart. On SQLite and, when VEIL_TEST_POSTGRES_URL is set, Postgres.
func TestKill9WithUploadsInFlight(t *testing.T) {
	dbs := map[string]func(t *testing.T, dataDir string) string{
		"sqlite": func(t *testing.T, dataDir string) string { return "sqlite:" + filepath.Join(dataDir, "veil.db") },
	}
	if os.Getenv(veiltest.PostgresEnv) != "" {
		dbs["postgres"] = func(t *testing.T, _ string) string { return veiltest.PostgresURL(t) }
	}
	for name, dbURL := range dbs {
		t.Run(name, func(t *testing.T) {
			dataDir, mediaDir := t.TempDir(), filepath.Join(t.TempDir(), "media")
			dbu := dbURL(t, dataDir)
			env := []string{
				"VEIL_DATABASE_URL=" + dbu,
				"VEIL_STORAGE_URL=file://" + mediaDir,
				"VEIL_DATA_DIR=" + dataDir,
				"VEIL_SECRET=" + strings.Repeat("s", 40),
				"VEIL_LOG_FORMAT=json",
				"VEIL_RECONCILE_GRACE=1h", // serve's own run at start must not touch the uploads in flight
			}
			a := startVeil(t, env)
			if a.token == "" {
				t.Fatal("no bootstrap token")
			}
			db, err := models.Open(context.Background(), models.DBConfig{URL: dbu})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()

			const done, held = 10, 10
			type result struct{ ID, SHA256 string }
			acked := make([]result, done)
			var wg sync.WaitGroup
			for i := range done {
				wg.Add(1)
				go func() {
					defer wg.Done()
					body := textFile(i, 200<<10+i)
					req, err := uploadRequest(a.url, a.token, fmt.Sprintf("done-%d.txt", i), bytes.NewReader(body))
					if err != nil {
						t.Error(err)
						return
					}
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						t.Error(err)
						return
					}
					defer resp.Body.Close()
					var out struct {
						Data struct{ UploadDocument result }
					}
					if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.Data.UploadDocument.ID == "" {
						t.Errorf("upload %d: %v %+v", i, err, out)
						return
					}
					sum := sha256.Sum256(body)
					if out.Data.UploadDocument.SHA256 != hex.EncodeToString(sum[:]) {
						t.Errorf("upload %d: sha256 %s", i, out.Data.UploadDocument.SHA256)
					}
					acked[i] = out.Data.UploadDocument
				}()
			}
			// The held uploads send 1.5 MiB of 3 MiB and wait: Veil has recorded each as pending and
			// written its first megabyte to a partial file when SIGKILL comes.
			var writers []*io.PipeWriter
			for i := range held {
				pr, pw := io.Pipe()
				writers = append(writers, pw)
				req, err := uploadRequest(a.url, a.token, fmt.Sprintf("held-%d.txt", i), pr)
				if err != nil {
					t.Fatal(err)
				}
				go func() {
					if resp, err := http.DefaultClient.Do(req); err == nil {
						resp.Body.Close()
					}
				}()
				go func() { _, _ = pw.Write(textFile(100+i, 3<<20)[:3<<19]) }()
			}
			wg.Wait()
			// Wait (bounded) until every held upload has its pending record and a partial file of a
			// megabyte: the state of the other process, observed from outside.
			deadline := time.Now().Add(30 * time.Second)
			for {
				n, err := db.NewSelect().Model((*models.PendingObject)(nil)).Count(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				if n == held && len(partialFiles(t, mediaDir, 1<<20)) == held {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("held uploads: %d pending records, partial files %v", n, partialFiles(t, mediaDir, 0))
				}
				time.Sleep(20 * time.Millisecond)
			}
			if err := a.cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			_ = a.cmd.Wait()
			for _, w := range writers {
				w.CloseWithError(io.ErrClosedPipe)
			}
			if n := len(partialFiles(t, mediaDir, 0)); n != held {
				t.Fatalf("after SIGKILL: %d partial files, want %d", n, held)
			}

			cmd := exec.Command(veilBinary(t), "reconcile")
			cmd.Env = append(os.Environ(), append(env, "VEIL_RECONCILE_GRACE=0s")...)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("veil reconcile: %v\n%s", err, out)
			}
			if !bytes.Contains(out, []byte(fmt.Sprintf("removed %d orphan(s)", held))) || !bytes.Contains(out, []byte(fmt.Sprintf("%d dead upload record(s)", held))) {
				t.Errorf("veil reconcile reported:\n%s", out)
			}
			if left := partialFiles(t, mediaDir, 0); len(left) != 0 {
				t.Errorf("partial files left: %v", left)
			}
			if n, _ := db.NewSelect().Model((*models.PendingObject)(nil)).Count(context.Background()); n != 0 {
				t.Errorf("%d pending records left", n)
			}
			var keys []string
			if err := db.NewSelect().Table("documents").Column("storage_key").Scan(context.Background(), &keys); err != nil {
				t.Fatal(err)
			}
			if objs := objectFiles(t, mediaDir); strings.Join(objs, ",") != strings.Join(sortedCopy(keys), ",") {
				t.Errorf("objects %v\nrows    %v", objs, sortedCopy(keys))
			}
			if len(keys) != done {
				t.Errorf("%d documents, want the %d acknowledged", len(keys), done)
			}

			b := startVeil(t, env)
			for _, r := range acked {
				data := gql(t, b.url, a.token, `query($id: ID!) { document(id: $id) { url sha256 } }`, map[string]any{"id": r.ID})
				d, _ := data["document"].(map[string]any)
				if d == nil || d["sha256"] != r.SHA256 {
					t.Errorf("acknowledged %s after the crash: %v", r.ID, data)
					continue
				}
				req, _ := http.NewRequest(http.MethodGet, b.url+d["url"].(string), nil)
				req.Header.Set("Authorization", "Bearer "+a.token)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				got, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				sum := sha256.Sum256(got)
				if resp.StatusCode != http.StatusOK || hex.EncodeToString(sum[:]) != r.SHA256 {
					t.Errorf("GET %s: %d, sha256 %x", r.ID, resp.StatusCode, sum)
				}
			}
		})
	}
}

// partialFiles lists fileblob's temp files under dir of at least min bytes.
func partialFiles(t *testing.T, dir string, min int64) []string {
	t.Helper()
	var out []string
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".tmp") {
			return nil
		}
		if fi, err := d.Info(); err == nil && fi.Size() >= min {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// objectFiles lists the object keys under dir (probe objects excluded).
func objectFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.Contains(p, ".veil-probe") {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		out = append(out, filepath.ToSlash(rel))
		return nil
	})
	return sortedCopy(out)
}

func sortedCopy(s []string) []string { return slices.Sorted(slices.Values(s)) }
