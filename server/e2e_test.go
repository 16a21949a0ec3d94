package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/veil-media/veil/auth"
	"github.com/veil-media/veil/media"
	"github.com/veil-media/veil/models"
	"github.com/veil-media/veil/veiltest"
)

// corpusSizes are the upright sizes of the corpus images (corpus/README.md).
var corpusSizes = map[string][2]int{
	"photos/FreshFlower.jpg":                {1600, 1203},
	"photos/Garden.jpg":                     {2560, 1600},
	"photos/LadyBird.jpg":                   {2560, 1600},
	"photos/Wood.jpg":                       {2560, 1920},
	"large/Elephants_5640x3172.jpg":         {5640, 3172},
	"webp/truchet-d.webp":                   {4096, 4096},
	"webp/vnc-d.webp":                       {256, 256},
	"png/Sway_Wallpaper_Blue_1920x1080.png": {1920, 1080},
}

func sha256File(t *testing.T, path string) (string, []byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), b
}

// TestUploadCorpusRoundTrip uploads every corpus file over real multipart HTTP, queries it back and
// downloads it byte-identical, on every database.
func TestUploadCorpusRoundTrip(t *testing.T) {
	veiltest.EachDB(t, func(t *testing.T, db *models.DB) {
		srv := veiltest.NewServer(t, db, nil)
		var images, docs []string
		for _, dir := range []string{"photos", "png", "webp", "orientation", "large"} {
			images = append(images, veiltest.CorpusFiles(t, dir)...)
		}
		docs = veiltest.CorpusFiles(t, "documents")
		for _, rel := range append(images, docs...) {
			isDoc := strings.HasPrefix(rel, "documents/")
			t.Run(rel, func(t *testing.T) {
				path := veiltest.Corpus(t, rel)
				wantSum, wantBytes := sha256File(t, path)
				var up veiltest.Uploaded
				if isDoc {
					up = srv.UploadDocument(t, veiltest.FilePart(t, path), map[string]any{"tags": []string{"Corpus"}})
				} else {
					up = srv.UploadImage(t, veiltest.FilePart(t, path), map[string]any{"tags": []string{"Corpus"}})
				}
				if up.SHA256 != wantSum || up.FileSize != int64(len(wantBytes)) {
					t.Errorf("sha256/size = %s/%d, want %s/%d", up.SHA256, up.FileSize, wantSum, len(wantBytes))
				}
				if !isDoc {
					want, known := corpusSizes[rel]
					if strings.HasPrefix(rel, "orientation/") {
						want, known = [2]int{640, 400}, true
					}
					if known && (up.Width != want[0] || up.Height != want[1]) {
						t.Errorf("size = %dx%d, want %dx%d", up.Width, up.Height, want[0], want[1])
					}
				}
				// Query it back through node(id).
				r := srv.GraphQL(`query($id: ID!) { node(id: $id) { id ... on Media { sha256 url tags } } }`, map[string]any{"id": up.ID})
				var q struct {
					Node struct {
						ID, SHA256, URL string
						Tags            []string
					}
				}
				r.Decode(t, &q)
				if q.Node.ID != up.ID || q.Node.SHA256 != wantSum || q.Node.URL != up.URL || len(q.Node.Tags) != 1 || q.Node.Tags[0] != "corpus" {
					t.Errorf("node = %+v", q.Node)
				}
				resp, body := srv.Get(t, up.URL, nil)
				if resp.StatusCode != http.StatusOK || !bytes.Equal(body, wantBytes) {
					t.Fatalf("download: status %d, %d bytes, identical=%v", resp.StatusCode, len(body), bytes.Equal(body, wantBytes))
				}
				if got := resp.Header.Get("Content-Type"); got != up.ContentType {
					t.Errorf("Content-Type = %q, want %q", got, up.ContentType)
				}
				if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("ETag") != `"`+wantSum+`"` || resp.Header.Get("Last-Modified") == "" {
					t.Errorf("headers = %v", resp.Header)
				}
				if isDoc && !strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment") {
					t.Errorf("Content-Disposition = %q", resp.Header.Get("Content-Disposition"))
				}
			})
		}
		if n := len(srv.Objects(t)); n != len(images)+len(docs) {
			t.Errorf("bucket holds %d objects, want %d", n, len(images)+len(docs))
		}
	})
}

func TestServeHeadersRangeAndConditional(t *testing.T) {
	srv := veiltest.NewServer(t, veiltest.SQLite(t), nil)
	pdf := veiltest.Corpus(t, "documents/shared-mime-info-spec.pdf")
	_, want := sha256File(t, pdf)
	f := veiltest.FilePart(t, pdf)
	f.Filename = "Spécification «mime» 2026.pdf"
	doc := srv.UploadDocument(t, f, nil)

	resp, body := srv.Get(t, doc.URL, http.Header{"Range": {"bytes=100-199"}})
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, want[100:200]) {
		t.Fatalf("range: %d, %d bytes", resp.StatusCode, len(body))
	}
	if cr := resp.Header.Get("Content-Range"); cr != fmt.Sprintf("bytes 100-199/%d", len(want)) {
		t.Errorf("Content-Range = %q", cr)
	}
	cd := resp.Header.Get("Content-Disposition")
	if !strings.HasPrefix(cd, "attachment;") || !strings.Contains(cd, "filename*=utf-8''Sp%C3%A9cification") {
		t.Errorf("Content-Disposition = %q", cd)
	}
	resp, _ = srv.Get(t, doc.URL, http.Header{"If-None-Match": {resp.Header.Get("ETag")}})
	if resp.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match: %d, want 304", resp.StatusCode)
	}
	resp, _ = srv.Get(t, doc.URL, http.Header{"Range": {"bytes=999999999-"}})
	if resp.StatusCode != http.StatusRequestedRangeNotSatisfiable {
		t.Errorf("unsatisfiable range: %d", resp.StatusCode)
	}
	// New uploads are private: never cacheable by shared caches.
	if cc := resp.Header.Get("Cache-Control"); cc != "" && !strings.Contains(cc, "no-store") {
		t.Errorf("Cache-Control = %q", cc)
	}
	for _, bad := range []string{
		strings.Replace(doc.URL, "Sp%C3%A9cification", "other", 1), // someone else's filename
		"/media/documents/doc_01M818HZN4S9NGPTE8NJGQZFVH/x.pdf",    // unknown id
		"/media/documents/nonsense/x.pdf",                          // malformed id
		"/media/originals/" + doc.ID + "/x.pdf",                    // a document id as an image
	} {
		if resp, _ := srv.Get(t, bad, nil); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", bad, resp.StatusCode)
		}
	}
}

// TestListsPaginationFilters pages through lists with every filter and checks totalCount.
func TestListsPaginationFilters(t *testing.T) {
	veiltest.EachDB(t, func(t *testing.T, db *models.DB) {
		srv := veiltest.NewServer(t, db, nil)
		var cols struct {
			A struct{ ID string } `json:"a"`
			B struct{ ID string } `json:"b"`
		}
		srv.GraphQL(`mutation { a: createCollection(input:{name:"Animals"}) { id } }`, nil).Decode(t, &struct{}{})
		r := srv.GraphQL(`{ collections { id name parent { id } } }`, nil)
		var all struct {
			Collections []struct {
				ID, Name string
				Parent   *struct{ ID string }
			}
		}
		r.Decode(t, &all)
		for _, c := range all.Collections {
			if c.Name == "Animals" {
				cols.A.ID = c.ID
			}
		}
		r = srv.GraphQL(`mutation($p: ID) { createCollection(input:{name:"Insects", parentId:$p}) { id parent { name } } }`, map[string]any{"p": cols.A.ID})
		var created struct {
			CreateCollection struct {
				ID     string
				Parent struct{ Name string }
			}
		}
		r.Decode(t, &created)
		cols.B.ID = created.CreateCollection.ID
		if created.CreateCollection.Parent.Name != "Animals" {
			t.Fatalf("parent = %+v", created.CreateCollection.Parent)
		}
		if dup := srv.GraphQL(`mutation($p: ID) { createCollection(input:{name:"Insects", parentId:$p}) { id } }`, map[string]any{"p": cols.A.ID}); dup.Code() != "BAD_USER_INPUT" {
			t.Errorf("duplicate collection name: %s", dup.Raw)
		}

		files := veiltest.CorpusFiles(t, "orientation") // 9 distinct files
		var ids []string
		for i, rel := range files {
			in := map[string]any{"title": fmt.Sprintf("Picture %d", i), "tags": []string{fmt.Sprintf("t%d", i%3)}}
			switch {
			case i < 3:
				in["collectionId"] = cols.A.ID
			case i < 5:
				in["collectionId"] = cols.B.ID
				in["title"] = fmt.Sprintf("Ladybird_%d%%", i)
			}
			ids = append(ids, srv.UploadImage(t, veiltest.FilePart(t, veiltest.Corpus(t, rel)), in).ID)
		}
		page := func(filter map[string]any, first int) ([]string, int) {
			var got []string
			total, after := -1, any(nil)
			for guard := 0; guard < 20; guard++ {
				r := srv.GraphQL(`query($f: MediaFilter, $first: Int, $after: String) {
					images(first: $first, after: $after, filter: $f) {
						totalCount edges { cursor node { id } } pageInfo { hasNextPage hasPreviousPage endCursor } } }`,
					map[string]any{"f": filter, "first": first, "after": after})
				var out struct {
					Images struct {
						TotalCount int
						Edges      []struct {
							Cursor string
							Node   struct{ ID string }
						}
						PageInfo struct {
							HasNextPage, HasPreviousPage bool
							EndCursor                    *string
						}
					}
				}
				r.Decode(t, &out)
				total = out.Images.TotalCount
				for _, e := range out.Images.Edges {
					got = append(got, e.Node.ID)
				}
				if out.Images.PageInfo.HasPreviousPage != (after != nil) {
					t.Errorf("hasPreviousPage = %v with after=%v", out.Images.PageInfo.HasPreviousPage, after)
				}
				if !out.Images.PageInfo.HasNextPage {
					return got, total
				}
				after = *out.Images.PageInfo.EndCursor
			}
			t.Fatal("pagination did not end")
			return nil, 0
		}
		reverse := func(s []string) []string {
			out := make([]string, len(s))
			for i := range s {
				out[len(s)-1-i] = s[i]
			}
			return out
		}
		cases := []struct {
			name   string
			filter map[string]any
			want   []string
		}{
			{"all", nil, reverse(ids)},
			{"collection", map[string]any{"collectionId": cols.A.ID}, reverse(ids[:3])},
			{"subcollections", map[string]any{"collectionId": cols.A.ID, "includeSubcollections": true}, reverse(ids[:5])},
			{"search is case-insensitive and literal", map[string]any{"search": "LADYBIRD_4%"}, []string{ids[4]}},
			{"search wildcard characters are literal", map[string]any{"search": "%"}, reverse(ids[3:5])},
			{"tag", map[string]any{"tag": "t1"}, []string{ids[7], ids[4], ids[1]}},
			{"combined", map[string]any{"tag": "t0", "collectionId": cols.A.ID}, []string{ids[0]}},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				for _, first := range []int{1, 2, 100} {
					got, total := page(c.filter, first)
					if strings.Join(got, ",") != strings.Join(c.want, ",") || total != len(c.want) {
						t.Errorf("first=%d: got %v (total %d), want %v", first, got, total, c.want)
					}
				}
			})
		}
		// The same list through a collection's own connection.
		r = srv.GraphQL(`query($id: ID!) { collection(id: $id) { name images(first: 10) { nodes { id } } } }`, map[string]any{"id": cols.B.ID})
		var cq struct {
			Collection struct {
				Name   string
				Images struct{ Nodes []struct{ ID string } }
			}
		}
		r.Decode(t, &cq)
		if len(cq.Collection.Images.Nodes) != 2 {
			t.Errorf("collection images = %+v", cq.Collection.Images.Nodes)
		}
	})
}

// TestImagesQueryCountIsConstant proves images(first: N) with every scalar field, its collection
// and tags costs the same number of SQL statements for N = 1, 5 and 50.
func TestImagesQueryCountIsConstant(t *testing.T) {
	veiltest.EachDB(t, func(t *testing.T, db *models.DB) {
		var last atomic.Pointer[models.QueryCounter]
		srv := veiltest.NewServer(t, db, &veiltest.ServerOptions{Wrap: func(h http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				ctx, c := models.WithQueryCounter(r.Context())
				last.Store(c)
				h.ServeHTTP(w, r.WithContext(ctx))
			})
		}})
		seedImages(t, srv, 50)
		counts := map[int]int64{}
		for _, n := range []int{1, 5, 50} {
			r := srv.GraphQL(`query($n: Int) { images(first: $n) { nodes {
				id title alt filename url fileSize contentType sha256 width height privacy createdAt updatedAt
				focalPoint { x y width height } tags collection { id name } } pageInfo { hasNextPage endCursor } } }`,
				map[string]any{"n": n})
			var out struct {
				Images struct{ Nodes []struct{ ID string } }
			}
			r.Decode(t, &out)
			if len(out.Images.Nodes) != n {
				t.Fatalf("got %d nodes, want %d", len(out.Images.Nodes), n)
			}
			counts[n] = last.Load().Count()
		}
		if counts[1] != counts[50] || counts[5] != counts[50] || counts[50] > 3 {
			t.Errorf("SQL statements per request by page size: %v (want constant, at most 3)", counts)
		}
	})
}

// seedImages inserts n image rows with tags directly (fast), each pointing at one real object.
func seedImages(t testing.TB, srv *veiltest.Server, n int) []string {
	t.Helper()
	ctx := auth.WithViewer(context.Background(), auth.System)
	part := veiltest.FilePart(t, veiltest.Corpus(t, "webp/vnc-d.webp"))
	first := srv.UploadImage(t, part, map[string]any{"tags": []string{"seed"}})
	img, err := srv.Media.Image(ctx, first.ID)
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{first.ID}
	for i := 1; i < n; i++ {
		cp := *img
		cp.ID = fmt.Sprintf("img_%s", newULID(t))
		cp.SHA256 = fmt.Sprintf("%064x", i)
		cp.Title = fmt.Sprintf("Seed %d", i)
		if _, err := srv.DB.NewInsert().Model(&cp).Exec(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := srv.DB.NewInsert().Model(&models.MediaTag{MediaID: cp.ID, Tag: "seed"}).Exec(ctx); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, cp.ID)
	}
	return ids
}

// seedRenditions inserts perImage rendition rows per image (objects need not exist: the tests using
// it look at permissions and events, not bytes).
func seedRenditions(t testing.TB, srv *veiltest.Server, ids []string, perImage int) {
	t.Helper()
	var rends []models.Rendition
	for _, id := range ids {
		for r := 0; r < perImage; r++ {
			rends = append(rends, models.Rendition{ID: media.NewID(media.KindRendition), ImageID: id, Spec: fmt.Sprintf("width-%d", 100+r),
				StorageKey: fmt.Sprintf("renditions/%s/%d.jpg", id, r), Width: 1, Height: 1, Format: "jpeg", CreatedAt: models.Now()})
		}
	}
	if _, err := srv.DB.NewInsert().Model(&rends).Exec(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestConcurrentUploadsSQLite sends 50 uploads at once: none may fail with "database is locked".
func TestConcurrentUploadsSQLite(t *testing.T) {
	srv := veiltest.NewServer(t, veiltest.SQLite(t), nil)
	src, err := os.ReadFile(veiltest.Corpus(t, "webp/vnc-d.webp"))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 50)
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			// Distinct bytes (a trailing RIFF-padding-safe variation is not possible for WebP, so vary the
			// collection instead: same bytes in different collections are not duplicates).
			r := srv.GraphQL(`mutation($n: String!) { createCollection(input:{name:$n}) { id } }`, map[string]any{"n": fmt.Sprint("c", i)})
			var c struct{ CreateCollection struct{ ID string } }
			if len(r.Errors) > 0 {
				errs <- string(r.Raw)
				return
			}
			r.Decode(t, &c)
			resp := srv.Upload(veiltest.UploadImageMutation, map[string]any{"collectionId": c.CreateCollection.ID},
				veiltest.Part{Filename: "x.webp", Body: bytes.NewReader(src)})
			if len(resp.Errors) > 0 {
				errs <- string(resp.Raw)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if rc := srv.RowCounts(t); rc["images"] != 50 {
		t.Errorf("images = %d, want 50", rc["images"])
	}
}

func TestUpdateAndDelete(t *testing.T) {
	veiltest.EachDB(t, func(t *testing.T, db *models.DB) {
		srv := veiltest.NewServer(t, db, nil)
		img := srv.UploadImage(t, veiltest.FilePart(t, veiltest.Corpus(t, "orientation/upright.jpg")), map[string]any{"tags": []string{"a", "b"}})
		const upd = `mutation($in: UpdateImageInput!) { updateImage(input: $in) { title alt tags focalPoint { x y width height } collection { name } } }`
		var out struct {
			UpdateImage struct {
				Title, Alt string
				Tags       []string
				FocalPoint *struct{ X, Y, Width, Height int }
				Collection struct{ Name string }
			}
		}
		srv.GraphQL(upd, map[string]any{"in": map[string]any{"id": img.ID, "title": "New", "alt": "A bird", "tags": []string{"Z", "z", "y"},
			"focalPoint": map[string]any{"x": 320, "y": 200, "width": 100, "height": 50}}}).Decode(t, &out)
		u := out.UpdateImage
		if u.Title != "New" || u.Alt != "A bird" || strings.Join(u.Tags, ",") != "y,z" || u.FocalPoint == nil || u.FocalPoint.X != 320 {
			t.Errorf("after update: %+v", u)
		}
		// Omitted fields stay; explicit null clears the focal point.
		srv.GraphQL(upd, map[string]any{"in": map[string]any{"id": img.ID, "focalPoint": nil}}).Decode(t, &out)
		if out.UpdateImage.Title != "New" || out.UpdateImage.FocalPoint != nil || len(out.UpdateImage.Tags) != 2 {
			t.Errorf("after clearing focal point: %+v", out.UpdateImage)
		}
		for name, in := range map[string]map[string]any{
			"focal point outside": {"id": img.ID, "focalPoint": map[string]any{"x": 630, "y": 200, "width": 100, "height": 10}},
			"empty title":         {"id": img.ID, "title": "  "},
			"unknown collection":  {"id": img.ID, "collectionId": "col_01M818HZN4S9NGPTE8NJGQZFVH"},
			"control char in alt": {"id": img.ID, "alt": "a\x00b"},
		} {
			r := srv.GraphQL(upd, map[string]any{"in": in})
			if c := r.Code(); c != "BAD_USER_INPUT" && c != "NOT_FOUND" {
				t.Errorf("%s: %s", name, r.Raw)
			}
		}
		if r := srv.GraphQL(upd, map[string]any{"in": map[string]any{"id": "img_01M818HZN4S9NGPTE8NJGQZFVH", "title": "x"}}); r.Code() != "NOT_FOUND" {
			t.Errorf("update unknown: %s", r.Raw)
		}

		doc := srv.UploadDocument(t, veiltest.FilePart(t, veiltest.Corpus(t, "documents/styles.odt")), nil)
		r := srv.GraphQL(`mutation($in: UpdateDocumentInput!) { updateDocument(input: $in) { title tags } }`,
			map[string]any{"in": map[string]any{"id": doc.ID, "title": "Styles", "tags": []string{"odf"}}})
		var d struct {
			UpdateDocument struct {
				Title string
				Tags  []string
			}
		}
		r.Decode(t, &d)
		if d.UpdateDocument.Title != "Styles" || len(d.UpdateDocument.Tags) != 1 {
			t.Errorf("document update: %+v", d)
		}

		before := srv.Objects(t)
		for _, del := range []struct{ m, id string }{{"deleteImage", img.ID}, {"deleteDocument", doc.ID}} {
			r := srv.GraphQL(fmt.Sprintf(`mutation($id: ID!) { %s(id: $id) { deletedId } }`, del.m), map[string]any{"id": del.id})
			if len(r.Errors) > 0 {
				t.Fatalf("%s: %s", del.m, r.Raw)
			}
			if r := srv.GraphQL(fmt.Sprintf(`mutation($id: ID!) { %s(id: $id) { deletedId } }`, del.m), map[string]any{"id": del.id}); r.Code() != "NOT_FOUND" {
				t.Errorf("second %s: %s", del.m, r.Raw)
			}
		}
		if len(before) != 2 || len(srv.Objects(t)) != 0 {
			t.Errorf("objects before %v, after %v", before, srv.Objects(t))
		}
		rc := srv.RowCounts(t)
		if rc["images"]+rc["documents"]+rc["media_tags"] != 0 {
			t.Errorf("rows left: %v", rc)
		}
		if resp, _ := srv.Get(t, img.URL, nil); resp.StatusCode != http.StatusNotFound {
			t.Errorf("deleted image serves %d", resp.StatusCode)
		}
	})
}

// TestMultipleFilesOutOfOrder sends two files whose resolvers read them in the opposite order of
// the request: the first is spooled, the second streamed, both stored intact.
func TestMultipleFilesOutOfOrder(t *testing.T) {
	srv := veiltest.NewServer(t, veiltest.SQLite(t), nil)
	p0, p1 := veiltest.Corpus(t, "orientation/orientation-1.jpg"), veiltest.Corpus(t, "orientation/orientation-2.jpg")
	s0, _ := sha256File(t, p0)
	s1, _ := sha256File(t, p1)
	q := `mutation($a: Upload!, $b: Upload!) {
		second: uploadImage(input: {file: $b}) { sha256 }
		first: uploadImage(input: {file: $a}) { sha256 } }`
	req := srv.MultipartRequest(q, map[string]any{"a": nil, "b": nil}, []string{"variables.a", "variables.b"},
		map[string]veiltest.Part{"variables.a": veiltest.FilePart(t, p0), "variables.b": veiltest.FilePart(t, p1)})
	var out struct {
		First, Second struct{ SHA256 string }
	}
	srv.Do(req).Decode(t, &out)
	if out.First.SHA256 != s0 || out.Second.SHA256 != s1 {
		t.Errorf("got %+v", out)
	}
	leftovers, _ := filepath.Glob(filepath.Join(os.TempDir(), "veil-upload-*"))
	if len(leftovers) > 0 {
		t.Errorf("spooled files left behind: %v", leftovers)
	}
}

func TestAPQAndGET(t *testing.T) {
	srv := veiltest.NewServer(t, veiltest.SQLite(t), nil)
	query := `{ collections { name } }`
	sum := sha256.Sum256([]byte(query))
	ext := fmt.Sprintf(`{"persistedQuery":{"version":1,"sha256Hash":"%s"}}`, hex.EncodeToString(sum[:]))
	get := func(params string) veiltest.Response {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/graphql?"+params, nil)
		return srv.Do(req)
	}
	if r := get("extensions=" + urlq(ext)); r.Code() != "PERSISTED_QUERY_NOT_FOUND" {
		t.Errorf("unknown hash: %s", r.Raw)
	}
	if r := get("query=" + urlq(query) + "&extensions=" + urlq(ext)); len(r.Errors) > 0 {
		t.Errorf("register: %s", r.Raw)
	}
	if r := get("extensions=" + urlq(ext)); len(r.Errors) > 0 || !strings.Contains(string(r.Data), "Root") {
		t.Errorf("by hash: %s", r.Raw)
	}
	if r := get("query=" + urlq(`mutation { createCollection(input:{name:"x"}) { id } }`)); len(r.Errors) == 0 {
		t.Errorf("mutation over GET accepted: %s", r.Raw)
	}
}

func urlq(s string) string {
	r := strings.NewReplacer("%", "%25", "&", "%26", "+", "%2B", "#", "%23", " ", "%20", "{", "%7B", "}", "%7D", `"`, "%22", ":", "%3A", ",", "%2C", "(", "%28", ")", "%29", "$", "%24", "!", "%21")
	return r.Replace(s)
}
