package server_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/veil-media/veil/auth"
	"github.com/veil-media/veil/media"
	"github.com/veil-media/veil/models"
	"github.com/veil-media/veil/storage"
	"github.com/veil-media/veil/veiltest"
)

// pworld is an install with a MemACL for privacy scenarios.
type pworld struct {
	t      *testing.T
	srv    *veiltest.Server
	acl    *storage.MemACL
	n      int
	prefix string // subtests share a database: keep names and keys apart
}

func newPWorld(t *testing.T, db *models.DB, opts *veiltest.ServerOptions) *pworld {
	t.Helper()
	acl := storage.NewMemACL(storage.MemACLOptions{})
	if opts == nil {
		opts = &veiltest.ServerOptions{}
	}
	if opts.ACL == nil {
		opts.ACL = acl
	}
	return &pworld{t: t, srv: veiltest.NewServer(t, db, opts), acl: acl, prefix: media.NewID(media.KindContent)[4:]}
}

func (w *pworld) image() veiltest.Uploaded {
	w.t.Helper()
	files := veiltest.CorpusFiles(w.t, "orientation")
	w.n++
	return w.srv.UploadImage(w.t, veiltest.FilePart(w.t, veiltest.Corpus(w.t, files[w.n%len(files)])), map[string]any{"collectionId": w.collection()})
}

// collection gives every upload its own collection so the same corpus file is never a duplicate.
func (w *pworld) collection() string {
	var c struct{ CreateCollection struct{ ID string } }
	w.srv.GraphQL(`mutation($n: String!) { createCollection(input: {name: $n}) { id } }`, map[string]any{"n": fmt.Sprint(w.prefix, "-c", w.n)}).Decode(w.t, &c)
	return c.CreateCollection.ID
}

func (w *pworld) document() veiltest.Uploaded {
	w.t.Helper()
	w.n++
	return w.srv.UploadDocument(w.t, veiltest.Part{Filename: fmt.Sprintf("d%d.txt", w.n), Body: strings.NewReader(fmt.Sprintf("document %s %d\n", w.prefix, w.n))}, nil)
}

func (w *pworld) content(key string, ids ...string) string {
	w.t.Helper()
	refs := []map[string]any{}
	for _, id := range ids {
		refs = append(refs, map[string]any{"mediaId": id, "field": "body"})
	}
	var out struct{ UpsertContent struct{ ID string } }
	w.srv.GraphQL(`mutation($k: String!, $r: [ReferenceInput!]) { upsertContent(input: {kind: "page", key: $k, references: $r}) { id } }`,
		map[string]any{"k": w.prefix + "-" + key, "r": refs}).Decode(w.t, &out)
	return out.UpsertContent.ID
}

type publishOut struct{ MadePublic, MadePrivate []string }

func (w *pworld) do(mutation, id string) publishOut {
	w.t.Helper()
	var out map[string]publishOut
	w.srv.GraphQL(fmt.Sprintf(`mutation($id: ID!) { r: %s(id: $id) { madePublic madePrivate } }`, mutation), map[string]any{"id": id}).Decode(w.t, &out)
	return out["r"]
}

type pstate struct {
	Privacy  string
	Outdated bool
	URL      string
}

func (w *pworld) state(id string) pstate {
	w.t.Helper()
	var out struct{ Node pstate }
	w.srv.GraphQL(`query($id: ID!) { node(id: $id) { ... on Media { privacy url outdated: filePermissionsOutdated } } }`, map[string]any{"id": id}).Decode(w.t, &out)
	return out.Node
}

func (w *pworld) expect(id, privacy string) {
	w.t.Helper()
	if s := w.state(id); s.Privacy != privacy {
		w.t.Errorf("%s: privacy %s, want %s", id, s.Privacy, privacy)
	}
}

func (w *pworld) makePublic(ids ...string) {
	w.t.Helper()
	c := w.content(fmt.Sprint("helper-", w.n, "-", len(ids)), ids...)
	w.n++
	w.do("publishContent", c)
}

func storageKey(t *testing.T, srv *veiltest.Server, id string) string {
	t.Helper()
	ctx := auth.WithViewer(context.Background(), auth.System)
	if strings.HasPrefix(id, "img_") {
		img, err := srv.Media.Image(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return img.StorageKey
	}
	doc, err := srv.Media.Document(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return doc.StorageKey
}

func TestPrivacyScenarios(t *testing.T) {
	veiltest.EachDB(t, func(t *testing.T, db *models.DB) {
		t.Run("01 new uploads are private, permissions set at once", func(t *testing.T) {
			w := newPWorld(t, db, nil)
			for _, up := range []veiltest.Uploaded{w.image(), w.document()} {
				s := w.state(up.ID)
				pub, known := w.acl.State(storageKey(t, w.srv, up.ID))
				if s.Privacy != "PRIVATE" || s.Outdated || !known || pub {
					t.Errorf("%s: %+v acl public=%v known=%v", up.ID, s, pub, known)
				}
			}
		})
		t.Run("02 publishing makes all four public", func(t *testing.T) {
			w := newPWorld(t, db, nil)
			pi, ui, pd, ud := w.image(), w.image(), w.document(), w.document()
			w.makePublic(ui.ID, ud.ID)
			a := w.content("a", pi.ID, ui.ID, pd.ID, ud.ID)
			out := w.do("publishContent", a)
			for _, id := range []string{pi.ID, ui.ID, pd.ID, ud.ID} {
				w.expect(id, "PUBLIC")
			}
			if len(out.MadePublic) != 2 || len(out.MadePrivate) != 0 {
				t.Errorf("result %+v, want the two private ones made public", out)
			}
		})
		t.Run("03 unpublishing the only live user makes all private", func(t *testing.T) {
			w := newPWorld(t, db, nil)
			i1, d1 := w.image(), w.document()
			a := w.content("a", i1.ID, d1.ID)
			w.do("publishContent", a)
			out := w.do("unpublishContent", a)
			w.expect(i1.ID, "PRIVATE")
			w.expect(d1.ID, "PRIVATE")
			if len(out.MadePrivate) != 2 {
				t.Errorf("result %+v", out)
			}
		})
		t.Run("04 unpublishing content without references changes nothing", func(t *testing.T) {
			w := newPWorld(t, db, nil)
			a := w.content("a")
			w.do("publishContent", a)
			if out := w.do("unpublishContent", a); len(out.MadePublic)+len(out.MadePrivate) != 0 {
				t.Errorf("result %+v", out)
			}
		})
		t.Run("05 shared image stays public until the last live user goes", func(t *testing.T) {
			w := newPWorld(t, db, nil)
			i := w.image()
			a, b := w.content("a", i.ID), w.content("b", i.ID)
			w.do("publishContent", a)
			w.do("publishContent", b)
			w.do("unpublishContent", b)
			w.expect(i.ID, "PUBLIC")
			w.do("unpublishContent", a)
			w.expect(i.ID, "PRIVATE")
		})
		t.Run("06 draft references never make media public", func(t *testing.T) {
			w := newPWorld(t, db, nil)
			i := w.image()
			a := w.content("a", i.ID) // never published
			w.expect(i.ID, "PRIVATE")
			b := w.content("b", i.ID)
			w.do("publishContent", b)
			w.do("unpublishContent", b)
			w.expect(i.ID, "PRIVATE")
			_ = a
		})
		t.Run("07 republishing without an image makes it private", func(t *testing.T) {
			w := newPWorld(t, db, nil)
			i, j := w.image(), w.image()
			a := w.content("a", i.ID, j.ID)
			w.do("publishContent", a)
			w.content("a", j.ID) // the editor drops i
			w.expect(i.ID, "PUBLIC")
			out := w.do("publishContent", a)
			w.expect(i.ID, "PRIVATE")
			w.expect(j.ID, "PUBLIC")
			if len(out.MadePrivate) != 1 || out.MadePrivate[0] != i.ID {
				t.Errorf("result %+v", out)
			}
			// …unless other live content uses it.
			k := w.image()
			b := w.content("b", k.ID)
			w.do("publishContent", b)
			c := w.content("c", k.ID)
			w.do("publishContent", c)
			w.content("c")
			w.do("publishContent", c)
			w.expect(k.ID, "PUBLIC")
		})
		t.Run("08 deleting live content is unpublishing it", func(t *testing.T) {
			w := newPWorld(t, db, nil)
			i := w.image()
			a := w.content("a", i.ID)
			w.do("publishContent", a)
			out := w.do("deleteContent", a)
			w.expect(i.ID, "PRIVATE")
			if len(out.MadePrivate) != 1 {
				t.Errorf("result %+v", out)
			}
			if r := w.srv.GraphQL(`query($id: ID!) { content(id: $id) { id } }`, map[string]any{"id": a}); r.Code() != "NOT_FOUND" {
				t.Errorf("deleted content: %s", r.Raw)
			}
		})
		t.Run("09 already public: nothing changes, one recompute, no purge or ACL call", func(t *testing.T) {
			var last *models.QueryCounter
			var mu sync.Mutex
			w := newPWorld(t, db, &veiltest.ServerOptions{Wrap: func(h http.Handler) http.Handler {
				return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
					ctx, c := models.WithQueryCounter(r.Context())
					mu.Lock()
					last = c
					mu.Unlock()
					h.ServeHTTP(rw, r.WithContext(ctx))
				})
			}})
			ids := []string{w.image().ID, w.image().ID, w.image().ID}
			w.makePublic(ids...)
			a := w.content("a", ids...)
			calls := w.acl.Calls()
			out := w.do("publishContent", a)
			if len(out.MadePublic)+len(out.MadePrivate) != 0 || w.acl.Calls() != calls {
				t.Errorf("result %+v, ACL calls %d", out, w.acl.Calls()-calls)
			}
			mu.Lock()
			n := last.Count()
			mu.Unlock()
			if n > 13 {
				t.Errorf("%d statements for a no-op publish", n)
			}
		})
		t.Run("10 storage refuses: privacy commits, item stays outdated, retry fixes it", func(t *testing.T) {
			w := newPWorld(t, db, nil)
			i := w.image()
			w.acl.SetFail(func(key string, public bool) error { return storage.ErrUnavailable })
			j := w.image() // born with a refused permission: never set
			a := w.content("a", i.ID)
			w.do("publishContent", a)
			if s := w.state(i.ID); s.Privacy != "PUBLIC" || !s.Outdated {
				t.Errorf("after refused publish: %+v", s)
			}
			if s := w.state(j.ID); !s.Outdated {
				t.Errorf("never-set item not outdated: %+v", s)
			}
			if !strings.Contains(w.srv.Logs.String(), "file permission not set") || !strings.Contains(w.srv.Logs.String(), storageKey(t, w.srv, i.ID)) {
				t.Error("failure not logged with the key")
			}
			w.acl.SetFail(nil)
			ctx := auth.WithViewer(context.Background(), auth.System)
			if _, _, err := w.srv.Media.RetryOutdated(ctx, 100, false); err != nil {
				t.Fatal(err)
			}
			for _, id := range []string{i.ID, j.ID} {
				if s := w.state(id); s.Outdated {
					t.Errorf("%s still outdated after retry: %+v", id, s)
				}
			}
			if pub, _ := w.acl.State(storageKey(t, w.srv, i.ID)); !pub {
				t.Error("retry did not make the file public")
			}
		})
		t.Run("11 public but outdated: URLs point at the serve view, served 200 public", func(t *testing.T) {
			cfg := media.DefaultConfig()
			cfg.DirectBaseURL = "https://cdn.test/media"
			w := newPWorld(t, db, &veiltest.ServerOptions{Media: &cfg})
			i := w.image()
			w.acl.SetFail(func(string, bool) error { return storage.ErrUnavailable })
			w.makePublic(i.ID)
			s := w.state(i.ID)
			if !strings.HasPrefix(s.URL, "/media/") {
				t.Errorf("outdated public item has URL %q", s.URL)
			}
			resp, _ := w.srv.As("").Get(t, s.URL, nil)
			if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "public, max-age=3600" {
				t.Errorf("serve: %d %q", resp.StatusCode, resp.Header.Get("Cache-Control"))
			}
			w.acl.SetFail(nil)
			_, _, _ = w.srv.Media.RetryOutdated(auth.WithViewer(context.Background(), auth.System), 10, false)
			if s := w.state(i.ID); !strings.HasPrefix(s.URL, "https://cdn.test/media/originals/") {
				t.Errorf("up to date public item has URL %q", s.URL)
			}
		})
		t.Run("12 renditions are born with the current permission", func(t *testing.T) {
			w := newPWorld(t, db, nil)
			i := w.image()
			a := w.content("a", i.ID)
			w.do("publishContent", a)
			key := renditionKeyOf(t, w, i.ID, "width-60")
			if pub, known := w.acl.State(key); !known || !pub {
				t.Errorf("rendition after publish: public=%v known=%v", pub, known)
			}
			w.do("unpublishContent", a)
			if pub, _ := w.acl.State(key); pub {
				t.Error("existing rendition still public after unpublish")
			}
			key2 := renditionKeyOf(t, w, i.ID, "width-70")
			if pub, known := w.acl.State(key2); !known || pub {
				t.Errorf("rendition after unpublish: public=%v known=%v", pub, known)
			}
		})
	})
}

// renditionKeyOf generates a rendition through its URL and returns its object key.
func renditionKeyOf(t *testing.T, w *pworld, id, spec string) string {
	t.Helper()
	var r struct {
		Image struct{ Rendition struct{ URL string } }
	}
	w.srv.GraphQL(`query($id: ID!, $s: String!) { image(id: $id) { rendition(spec: $s) { url } } }`, map[string]any{"id": id, "s": spec}).Decode(t, &r)
	if resp, _ := w.srv.Get(t, r.Image.Rendition.URL, nil); resp.StatusCode != 200 {
		t.Fatalf("rendition GET: %d", resp.StatusCode)
	}
	var keys []string
	if err := w.srv.DB.NewSelect().Model((*models.Rendition)(nil)).Column("storage_key").Where("image_id = ? AND spec = ?", id, spec).Scan(context.Background(), &keys); err != nil || len(keys) != 1 {
		t.Fatalf("rendition row: %v %v", keys, err)
	}
	return keys[0]
}

// TestServeViewMatrix walks privacy.md's serve-view table for an original, a rendition and a document.
func TestServeViewMatrix(t *testing.T) {
	veiltest.EachDB(t, func(t *testing.T, db *models.DB) {
		cfg := media.DefaultConfig()
		cfg.DirectBaseURL = "https://cdn.test/media"
		w := newPWorld(t, db, &veiltest.ServerOptions{Media: &cfg})
		img, doc := w.image(), w.document()
		var r struct {
			Image struct{ Rendition struct{ URL string } }
		}
		w.srv.GraphQL(`query($id: ID!) { image(id: $id) { rendition(spec: "width-80") { url } } }`, map[string]any{"id": img.ID}).Decode(t, &r)
		urls := map[string]string{"original": img.URL, "rendition": r.Image.Rendition.URL, "document": doc.URL}
		// Users: one with VIEW on the image's collection, one without any grant.
		var setup struct {
			G  struct{ ID string } `json:"g"`
			U1 struct{ ID string } `json:"u1"`
			U2 struct{ ID string } `json:"u2"`
		}
		w.srv.GraphQL(`mutation { g: createGroup(name: "viewers") { id } u1: createUser(input: {name: "v", email: "v@x.io"}) { id } u2: createUser(input: {name: "n", email: "n@x.io"}) { id } }`, nil).Decode(t, &setup)
		imgRow, _ := w.srv.Media.Image(auth.WithViewer(context.Background(), auth.System), img.ID)
		w.srv.GraphQL(`mutation($g: ID!, $u: ID!, $c: ID!) { addToGroup(groupId: $g, userId: $u) { id } a: grant(input: {groupId: $g, permission: VIEW, collectionId: $c}) { id } b: grant(input: {groupId: $g, permission: VIEW, collectionId: "col_00000000000000000000000000"}) { id } }`,
			map[string]any{"g": setup.G.ID, "u": setup.U1.ID, "c": imgRow.CollectionID}).Decode(t, &struct{}{})
		tok := func(u string) string {
			var o struct{ CreateToken struct{ Token string } }
			w.srv.GraphQL(`mutation($u: ID!) { createToken(input: {name: "t", userId: $u}) { token } }`, map[string]any{"u": u}).Decode(t, &o)
			return o.CreateToken.Token
		}
		viewer, stranger := tok(setup.U1.ID), tok(setup.U2.ID)
		a := w.content("a", img.ID, doc.ID)
		var pt struct{ CreatePreviewToken struct{ Token string } }
		w.srv.GraphQL(`mutation($c: ID!) { createPreviewToken(contentId: $c, ttlSeconds: 2) { token } }`, map[string]any{"c": a}).Decode(t, &pt)
		other := w.content("other")
		var pt2 struct{ CreatePreviewToken struct{ Token string } }
		w.srv.GraphQL(`mutation($c: ID!) { createPreviewToken(contentId: $c, ttlSeconds: 60) { token } }`, map[string]any{"c": other}).Decode(t, &pt2)

		get := func(as *veiltest.Server, u, query string) *http.Response {
			t.Helper()
			req, _ := http.NewRequest(http.MethodGet, as.URL+u+query, nil)
			if as.Token != "" {
				req.Header.Set("Authorization", "Bearer "+as.Token)
			}
			c := *as.HTTP.Client()
			c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp
		}
		for kind, u := range urls {
			t.Run(kind, func(t *testing.T) {
				for _, row := range []struct {
					name   string
					as     *veiltest.Server
					query  string
					status int
					cache  string
				}{
					{"private, anonymous", w.srv.As(""), "", 403, ""},
					{"private, permitted viewer", w.srv.As(viewer), "", 200, "private, no-store"},
					{"private, authenticated without permission", w.srv.As(stranger), "", 403, ""},
					{"private, preview token of its draft", w.srv.As(""), "?preview=" + pt.CreatePreviewToken.Token, 200, "private, no-store"},
					{"private, preview token of other content", w.srv.As(""), "?preview=" + pt2.CreatePreviewToken.Token, 403, ""},
				} {
					resp := get(row.as, u, row.query)
					if resp.StatusCode != row.status || row.cache != "" && resp.Header.Get("Cache-Control") != row.cache {
						t.Errorf("%s: %d %q, want %d %q", row.name, resp.StatusCode, resp.Header.Get("Cache-Control"), row.status, row.cache)
					}
				}
			})
		}
		// Preview tokens expire.
		deadline := time.Now().Add(5 * time.Second)
		for get(w.srv.As(""), urls["original"], "?preview="+pt.CreatePreviewToken.Token).StatusCode != 403 {
			if time.Now().After(deadline) {
				t.Fatal("expired preview token still opens the image")
			}
			time.Sleep(200 * time.Millisecond)
		}
		// Public and up to date: 302 to the direct URL, public caching.
		w.do("publishContent", a)
		for kind, u := range urls {
			resp := get(w.srv.As(""), u, "")
			if resp.StatusCode != 302 || !strings.HasPrefix(resp.Header.Get("Location"), "https://cdn.test/media/") || resp.Header.Get("Cache-Control") != "public, max-age=3600" {
				t.Errorf("%s public up to date: %d %q %q", kind, resp.StatusCode, resp.Header.Get("Location"), resp.Header.Get("Cache-Control"))
			}
		}
		// Bad signature, unknown id, wrong document filename, invalid spec, missing source.
		bad := strings.Replace(urls["rendition"], "/width-80", "/width-81", 1)
		for name, c := range map[string]struct {
			u      string
			status int
		}{
			"bad signature":       {bad, 400},
			"unknown id":          {"/media/originals/img_01M818HZN4S9NGPTE8NJGQZFVH/x.jpg", 404},
			"other filename":      {strings.Replace(urls["document"], ".txt", "-other.txt", 1), 404},
			"valid sig, bad spec": {"/media/renditions/" + img.ID + "/preset/nope.jpg", 404},
		} {
			if resp := get(w.srv.As(""), c.u, ""); resp.StatusCode != c.status {
				t.Errorf("%s: %d, want %d", name, resp.StatusCode, c.status)
			}
		}
	})
}

// TestBulkPublishConstantStatements: publish and unpublish of 1, 100 and 2,000 references cost the
// same number of SQL statements, and every item ends right.
func TestBulkPublishConstantStatements(t *testing.T) {
	veiltest.EachDB(t, func(t *testing.T, db *models.DB) {
		srv := veiltest.NewServer(t, db, nil)
		ids := seedImages(t, srv, 2000)
		ctx := auth.WithViewer(context.Background(), auth.System)
		counts := map[int][2]int64{}
		for _, n := range []int{1, 100, 2000} {
			refs := make([]media.ReferenceInput, n)
			for i := range refs {
				refs[i] = media.ReferenceInput{MediaID: ids[i]}
			}
			c, err := srv.Media.UpsertContent(ctx, media.UpsertContentInput{Kind: "page", Key: fmt.Sprint("bulk", n), References: refs})
			if err != nil {
				t.Fatal(err)
			}
			pctx, pc := models.WithQueryCounter(ctx)
			if res, err := srv.Media.PublishContent(pctx, c.ID); err != nil || len(res.MadePublic) != n {
				t.Fatalf("publish %d: %v", n, err)
			}
			for _, set := range [][]string{ids[:n], ids[n:]} {
				want := models.Public
				if len(set) > 0 && set[0] != ids[0] {
					want = models.Private
				}
				var wrong int
				_ = srv.DB.NewSelect().Model((*models.Image)(nil)).ColumnExpr("count(*)").Where("id IN (?) AND privacy <> ?", bunIn(set), want).Scan(ctx, &wrong)
				if len(set) > 0 && wrong != 0 {
					t.Errorf("n=%d: %d items not %s", n, wrong, want)
				}
			}
			uctx, uc := models.WithQueryCounter(ctx)
			if res, err := srv.Media.UnpublishContent(uctx, c.ID); err != nil || len(res.MadePrivate) != n {
				t.Fatalf("unpublish %d: %v", n, err)
			}
			counts[n] = [2]int64{pc.Count(), uc.Count()}
		}
		if counts[1] != counts[100] || counts[1] != counts[2000] {
			t.Errorf("statements (publish, unpublish) by size: %v", counts)
		}
	})
}

// TestConcurrentPublishing: 20 goroutines publish and unpublish 5 content items sharing 50 images;
// afterwards every image is PUBLIC exactly when a LIVE reference points at it.
func TestConcurrentPublishing(t *testing.T) {
	veiltest.EachDB(t, func(t *testing.T, db *models.DB) {
		srv := veiltest.NewServer(t, db, nil)
		ids := seedImages(t, srv, 50)
		ctx := auth.WithViewer(context.Background(), auth.System)
		var contents []string
		for c := 0; c < 5; c++ {
			var refs []media.ReferenceInput
			for i := c; i < len(ids); i += 2 + c%2 { // overlapping subsets
				refs = append(refs, media.ReferenceInput{MediaID: ids[i]})
			}
			refs = append(refs, media.ReferenceInput{MediaID: ids[0]})
			ct, err := srv.Media.UpsertContent(ctx, media.UpsertContentInput{Kind: "page", Key: fmt.Sprint("k", c), References: refs})
			if err != nil {
				t.Fatal(err)
			}
			contents = append(contents, ct.ID)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 400)
		for g := 0; g < 20; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(uint64(g), 42))
				for i := 0; i < 10; i++ {
					c := contents[rng.IntN(len(contents))]
					var err error
					if rng.IntN(2) == 0 {
						_, err = srv.Media.PublishContent(ctx, c)
					} else {
						_, err = srv.Media.UnpublishContent(ctx, c)
					}
					if err != nil && !errors.Is(err, context.Canceled) {
						errs <- err
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		var wrong []string
		err := srv.DB.NewSelect().Model((*models.Image)(nil)).Column("id").
			Where("privacy <> CASE WHEN EXISTS (SELECT 1 FROM content_refs r WHERE r.media_id = image.id AND r.state = 'LIVE') THEN 'PUBLIC' ELSE 'PRIVATE' END").
			Scan(ctx, &wrong)
		if err != nil || len(wrong) > 0 {
			t.Errorf("images whose privacy disagrees with their live references: %v %v", wrong, err)
		}
	})
}

// TestFolderPermissions: with the local-folder driver, after publish the original and renditions
// are readable by others; after unpublish they are not.
func TestFolderPermissions(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "media")
	acl := storage.NewFileACL(dir)
	w := newPWorld(t, veiltest.SQLite(t), &veiltest.ServerOptions{StorageURL: "file://" + dir, ACL: acl})
	img := w.image()
	var r struct {
		Image struct{ Rendition struct{ URL string } }
	}
	w.srv.GraphQL(`query($id: ID!) { image(id: $id) { rendition(spec: "width-90") { url } } }`, map[string]any{"id": img.ID}).Decode(t, &r)
	if resp, _ := w.srv.Get(t, r.Image.Rendition.URL, nil); resp.StatusCode != 200 {
		t.Fatal("rendition")
	}
	files := func() []string {
		var out []string
		_ = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
			if err == nil && !fi.IsDir() {
				out = append(out, p)
			}
			return nil
		})
		return out
	}
	check := func(public bool) {
		t.Helper()
		fs := files()
		if len(fs) != 2 {
			t.Fatalf("files: %v", fs)
		}
		for _, f := range fs {
			fi, _ := os.Stat(f)
			if readable := fi.Mode().Perm()&0o004 != 0; readable != public {
				t.Errorf("%s: mode %v, want readable by others = %v", f, fi.Mode().Perm(), public)
			}
		}
	}
	check(false)
	a := w.content("a", img.ID)
	w.do("publishContent", a)
	check(true)
	w.do("unpublishContent", a)
	check(false)
}

func bunIn(ids []string) any { return bun.In(ids) }

// TestServeViewMatrixRest: the rows that need their own setup — a validly signed URL of an invalid
// spec is 400; without a direct URL (proxy-only) a public item is served 200 with public caching.
func TestServeViewMatrixRest(t *testing.T) {
	cfg := media.DefaultConfig()
	key := []byte(strings.Repeat("k", 32))
	cfg.Renditions.SigningKeys = [][]byte{key}
	w := newPWorld(t, veiltest.SQLite(t), &veiltest.ServerOptions{Media: &cfg})
	img, doc := w.image(), w.document()
	sign := func(spec string) string {
		m := hmac.New(sha256.New, key)
		m.Write([]byte("veil-rendition-v1\x00" + img.ID + "\x00" + spec + "\x00"))
		return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
	}
	for _, spec := range []string{"width-0", "fill-0x0", "nonsense-1"} {
		u := "/media/renditions/" + img.ID + "/" + sign(spec) + "/" + spec + ".jpg"
		if resp, body := w.srv.Get(t, u, nil); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("signed invalid spec %q: %d %s", spec, resp.StatusCode, body)
		}
	}
	if n := w.srv.RowCounts(t)["renditions"]; n != 0 {
		t.Errorf("%d renditions stored", n)
	}
	var r struct {
		Image struct{ Rendition struct{ URL string } }
	}
	w.srv.GraphQL(`query($id: ID!) { image(id: $id) { rendition(spec: "width-40") { url } } }`, map[string]any{"id": img.ID}).Decode(t, &r)
	w.makePublic(img.ID, doc.ID)
	for kind, u := range map[string]string{"original": img.URL, "rendition": r.Image.Rendition.URL, "document": doc.URL} {
		resp, _ := w.srv.As("").Get(t, u, nil)
		cc := resp.Header.Get("Cache-Control")
		if resp.StatusCode != 200 || !strings.HasPrefix(cc, "public") {
			t.Errorf("proxy-only public %s: %d %q", kind, resp.StatusCode, cc)
		}
	}
}
