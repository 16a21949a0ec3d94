package server_test

import (
	"bytes"
	"image"
	"image/jpeg"
	_ "image/png"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/veil-media/veil/auth"
	"github.com/veil-media/veil/media"
	"github.com/veil-media/veil/models"
	"github.com/veil-media/veil/veiltest"
)

type rendition struct {
	Spec, URL, Format, MimeType string
	Width, Height               int
}

func renditionOf(t *testing.T, srv *veiltest.Server, id, spec string) rendition {
	t.Helper()
	r := srv.GraphQL(`query($id: ID!, $s: String!) { image(id: $id) { rendition(spec: $s) { spec url width height format mimeType } } }`,
		map[string]any{"id": id, "s": spec})
	var out struct{ Image struct{ Rendition rendition } }
	r.Decode(t, &out)
	return out.Image.Rendition
}

func decodeSize(t *testing.T, b []byte) (int, int, string) {
	t.Helper()
	cfg, format, err := image.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("decode rendition (%d bytes): %v", len(b), err)
	}
	return cfg.Width, cfg.Height, format
}

// TestRenditionsOverHTTP: GraphQL promises a URL and a size without generating anything; the first
// GET generates exactly that, later GETs serve the stored file.
func TestRenditionsOverHTTP(t *testing.T) {
	veiltest.EachDB(t, func(t *testing.T, db *models.DB) {
		srv := veiltest.NewServer(t, db, nil)
		img := srv.UploadImage(t, veiltest.FilePart(t, veiltest.Corpus(t, "photos/Garden.jpg")), nil)
		cases := []struct {
			spec, canonical, format string
			w, h                    int
		}{
			{"format-jpeg|width-400", "width-400|format-jpeg", "jpeg", 400, 250},
			{"fill-300x300", "fill-300x300", "jpeg", 300, 300},
			{"max-200x200|format-png", "max-200x200|format-png", "png", 200, 125},
			{"original|jpegquality-40", "jpegquality-40", "jpeg", 2560, 1600}, // original is a no-op
			{"scale-10|bgcolor-fff", "scale-10|bgcolor-ffffff", "jpeg", 256, 160},
		}
		for _, c := range cases {
			t.Run(c.spec, func(t *testing.T) {
				r := renditionOf(t, srv, img.ID, c.spec)
				if r.Spec != c.canonical || r.Width != c.w || r.Height != c.h || r.Format != c.format {
					t.Fatalf("rendition = %+v", r)
				}
				before := srv.Media.Generated()
				resp, body := srv.Get(t, r.URL, nil)
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("GET %s: %d %s", r.URL, resp.StatusCode, body)
				}
				w, h, f := decodeSize(t, body)
				if w != c.w || h != c.h || f != c.format || resp.Header.Get("Content-Type") != r.MimeType {
					t.Errorf("got %dx%d %s (%s), want %dx%d %s", w, h, f, resp.Header.Get("Content-Type"), c.w, c.h, c.format)
				}
				if resp.Header.Get("X-Content-Type-Options") != "nosniff" || !strings.Contains(resp.Header.Get("Cache-Control"), "no-store") {
					t.Errorf("headers: %v", resp.Header)
				}
				resp2, body2 := srv.Get(t, r.URL, nil)
				if resp2.StatusCode != 200 || !bytes.Equal(body, body2) || srv.Media.Generated() != before+1 {
					t.Errorf("second GET: %d, same bytes %v, generations %d", resp2.StatusCode, bytes.Equal(body, body2), srv.Media.Generated()-before)
				}
				if resp3, _ := srv.Get(t, r.URL, http.Header{"If-None-Match": {resp.Header.Get("ETag")}}); resp3.StatusCode != http.StatusNotModified {
					t.Errorf("conditional GET: %d", resp3.StatusCode)
				}
			})
		}
		// Equivalent specs share one rendition (and one URL).
		if a, b := renditionOf(t, srv, img.ID, "format-jpeg|width-400"), renditionOf(t, srv, img.ID, "width-400|format-jpeg"); a.URL != b.URL {
			t.Errorf("equivalent specs have different URLs: %s, %s", a.URL, b.URL)
		}
		rows := srv.RowCounts(t)["renditions"]
		if rows != len(cases) {
			t.Errorf("rendition rows = %d, want %d", rows, len(cases))
		}
	})
}

func TestRenditionsBatchAndSrcset(t *testing.T) {
	srv := veiltest.NewServer(t, veiltest.SQLite(t), nil)
	img := srv.UploadImage(t, veiltest.FilePart(t, veiltest.Corpus(t, "photos/Garden.jpg")), nil)
	r := srv.GraphQL(`query($id: ID!) { image(id: $id) {
		renditions(specs: ["width-{400,800}|format-{webp,jpeg}", "height-100"]) { spec width height format }
		srcset(specs: ["width-{320,640}"]) } }`, map[string]any{"id": img.ID})
	var out struct {
		Image struct {
			Renditions []rendition
			Srcset     string
		}
	}
	r.Decode(t, &out)
	var specs []string
	for _, x := range out.Image.Renditions {
		specs = append(specs, x.Spec)
	}
	want := "width-400|format-webp,width-400|format-jpeg,width-800|format-webp,width-800|format-jpeg,height-100"
	if strings.Join(specs, ",") != want {
		t.Errorf("specs = %v", specs)
	}
	parts := strings.Split(out.Image.Srcset, ", ")
	if len(parts) != 2 || !strings.HasSuffix(parts[0], " 320w") || !strings.HasSuffix(parts[1], " 640w") {
		t.Errorf("srcset = %q", out.Image.Srcset)
	}
}

// TestRenditionErrors walks the status table: bad signature 400, unknown image 404, invalid spec
// 400 (GraphQL: BAD_USER_INPUT), missing source 410; nothing is stored by a failed request.
func TestRenditionErrors(t *testing.T) {
	srv := veiltest.NewServer(t, veiltest.SQLite(t), nil)
	img := srv.UploadImage(t, veiltest.FilePart(t, veiltest.Corpus(t, "photos/LadyBird.jpg")), nil)
	good := renditionOf(t, srv, img.ID, "width-100")
	prefix := "/media/renditions/" + img.ID + "/"
	sig := strings.Split(strings.TrimPrefix(good.URL, prefix), "/")[0]
	other := srv.UploadImage(t, veiltest.FilePart(t, veiltest.Corpus(t, "photos/Wood.jpg")), nil)
	tampered := "A" + sig[1:] // always a different signature, whatever the first character was
	if sig[0] == 'A' {
		tampered = "B" + sig[1:]
	}
	for _, c := range []struct {
		name, path string
		status     int
	}{
		{"tampered signature", prefix + tampered + "/width-100.jpg", 400},
		{"garbage signature", prefix + "%00%00/width-100.jpg", 400},
		{"signature of another spec", prefix + sig + "/width-101.jpg", 400},
		{"signature of another image", "/media/renditions/" + other.ID + "/" + sig + "/width-100.jpg", 400},
		{"unknown image", "/media/renditions/img_01M818HZN4S9NGPTE8NJGQZFVH/" + sig + "/width-100.jpg", 400},
		{"wrong extension", prefix + sig + "/width-100.png", 404},
		{"no extension", prefix + sig + "/width-100", 404},
		{"unknown preset", prefix + "preset/nope.jpg", 404},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, body := srv.Get(t, c.path, nil)
			if resp.StatusCode != c.status {
				t.Errorf("GET %s: %d %s, want %d", c.path, resp.StatusCode, body, c.status)
			}
		})
	}
	// A validly signed URL of an image that no longer exists: 404.
	gone := renditionOf(t, srv, other.ID, "width-100")
	srv.GraphQL(`mutation($id: ID!) { deleteImage(id: $id) { deletedId } }`, map[string]any{"id": other.ID}).Decode(t, &struct{}{})
	if resp, body := srv.Get(t, gone.URL, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("deleted image: %d %s, want 404", resp.StatusCode, body)
	}
	// A validly signed URL for an invalid spec is a 400 too: sign it with the service's own key.
	for _, spec := range []string{"fill-0x0", "", "WIDTH-100", "width-abc", "jpegquality-101", "bgcolor-ggg", "width-1|width-2|width-3|width-4|width-5|width-6|width-7|width-8|width-9|width-10|width-11", "format-bmp"} {
		r := srv.GraphQL(`query($id: ID!, $s: String!) { image(id: $id) { rendition(spec: $s) { url } } }`, map[string]any{"id": img.ID, "s": spec})
		if r.Code() != "BAD_USER_INPUT" || !strings.Contains(r.Errors[0].Message, "") {
			t.Errorf("spec %q: %s", spec, r.Raw)
		}
	}
	if n := srv.RowCounts(t)["renditions"]; n != 0 {
		t.Errorf("%d renditions stored by failed requests", n)
	}
	// Missing source: 410.
	if err := srv.Store.Delete(t.Context(), mustImage(t, srv, img.ID).StorageKey); err != nil {
		t.Fatal(err)
	}
	if resp, body := srv.Get(t, good.URL, nil); resp.StatusCode != http.StatusGone {
		t.Errorf("missing source: %d %s", resp.StatusCode, body)
	}
}

func mustImage(t *testing.T, srv *veiltest.Server, id string) *models.Image {
	t.Helper()
	img, err := srv.Media.Image(auth.WithViewer(t.Context(), auth.System), id)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// TestRenditionConcurrentFirstRequests: 100 concurrent GETs of one new rendition make exactly one
// generation and one stored object.
func TestRenditionConcurrentFirstRequests(t *testing.T) {
	veiltest.EachDB(t, func(t *testing.T, db *models.DB) {
		srv := veiltest.NewServer(t, db, nil)
		img := srv.UploadImage(t, veiltest.FilePart(t, veiltest.Corpus(t, "photos/FreshFlower.jpg")), nil)
		r := renditionOf(t, srv, img.ID, "fill-320x240")
		objects := len(srv.Objects(t))
		var wg sync.WaitGroup
		bodies := make([][]byte, 100)
		codes := make([]int, 100)
		for i := range 100 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req, _ := http.NewRequest(http.MethodGet, srv.URL+r.URL, nil)
				req.Header.Set("Authorization", "Bearer "+srv.Token)
				resp, err := srv.HTTP.Client().Do(req)
				if err != nil {
					return
				}
				defer resp.Body.Close()
				codes[i] = resp.StatusCode
				bodies[i], _ = readAll(resp)
			}()
		}
		wg.Wait()
		for i := range 100 {
			if codes[i] != 200 || !bytes.Equal(bodies[i], bodies[0]) {
				t.Fatalf("request %d: %d, %d bytes", i, codes[i], len(bodies[i]))
			}
		}
		if g := srv.Media.Generated(); g != 1 {
			t.Errorf("generations = %d, want 1", g)
		}
		if n := len(srv.Objects(t)); n != objects+1 {
			t.Errorf("objects = %d, want %d", n, objects+1)
		}
		if n := srv.RowCounts(t)["renditions"]; n != 1 {
			t.Errorf("rendition rows = %d", n)
		}
	})
}

// TestFocalPointInvalidatesFillOnly: changing the focal point changes fill URLs (the old one
// redirects to the new one), drops stored fill renditions and keeps the others.
func TestFocalPointInvalidatesFillOnly(t *testing.T) {
	srv := veiltest.NewServer(t, veiltest.SQLite(t), nil)
	img := srv.UploadImage(t, veiltest.FilePart(t, veiltest.Corpus(t, "photos/Garden.jpg")), nil)
	fill, width := renditionOf(t, srv, img.ID, "fill-200x200-c100"), renditionOf(t, srv, img.ID, "width-200")
	for _, u := range []string{fill.URL, width.URL} {
		if resp, _ := srv.Get(t, u, nil); resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d", u, resp.StatusCode)
		}
	}
	srv.GraphQL(`mutation($id: ID!) { updateImage(input: {id: $id, focalPoint: {x: 100, y: 100, width: 50, height: 50}}) { id } }`,
		map[string]any{"id": img.ID}).Decode(t, &struct{}{})
	fill2, width2 := renditionOf(t, srv, img.ID, "fill-200x200-c100"), renditionOf(t, srv, img.ID, "width-200")
	if fill2.URL == fill.URL || width2.URL != width.URL {
		t.Errorf("URLs after focal change: fill %v, width %v", fill2.URL != fill.URL, width2.URL == width.URL)
	}
	if rows := srv.RowCounts(t)["renditions"]; rows != 1 {
		t.Errorf("rendition rows after focal change = %d, want 1 (width only)", rows)
	}
	client := srv.HTTP.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	req, _ := http.NewRequest(http.MethodGet, srv.URL+fill.URL, nil)
	req.Header.Set("Authorization", "Bearer "+srv.Token)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || !strings.HasSuffix(resp.Header.Get("Location"), fill2.URL) {
		t.Errorf("old fill URL: %d → %q, want 302 → %s", resp.StatusCode, resp.Header.Get("Location"), fill2.URL)
	}
	resp2, body := srv.Get(t, fill2.URL, nil)
	if w, h, _ := decodeSize(t, body); resp2.StatusCode != 200 || w != 200 || h != 200 {
		t.Errorf("new fill: %d %dx%d", resp2.StatusCode, w, h)
	}
}

func TestRenditionPresetsAndBusy(t *testing.T) {
	cfg := media.DefaultConfig()
	cfg.Renditions.Presets = map[string]string{"thumb": "fill-64x64"}
	cfg.Renditions.MaxQueue = 0
	cfg.Renditions.MaxMemoryBytes = 16 << 20 // smaller than one large decode: runs alone, others refused
	srv := veiltest.NewServer(t, veiltest.SQLite(t), &veiltest.ServerOptions{Media: &cfg})
	img := srv.UploadImage(t, veiltest.FilePart(t, veiltest.Corpus(t, "photos/Garden.jpg")), nil)
	resp, body := srv.Get(t, "/media/renditions/"+img.ID+"/preset/thumb@c.jpg", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("preset: %d %s", resp.StatusCode, body)
	}
	if w, h, _ := decodeSize(t, body); w != 64 || h != 64 {
		t.Errorf("preset size %dx%d", w, h)
	}
	// With no queue and memory for one generation, a burst of distinct renditions gets some 503s
	// with Retry-After, never a failure of another kind.
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[int]int{}
	for i := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := renditionOf(t, srv, img.ID, "width-"+strconv.Itoa(100+i))
			resp, _ := srv.Get(t, r.URL, nil)
			mu.Lock()
			statuses[resp.StatusCode]++
			if resp.StatusCode == 503 && resp.Header.Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	if statuses[200]+statuses[503] != 12 || statuses[200] == 0 {
		t.Errorf("statuses = %v", statuses)
	}
	t.Logf("burst statuses: %v", statuses)
}

func readAll(resp *http.Response) ([]byte, error) {
	var b bytes.Buffer
	_, err := b.ReadFrom(resp.Body)
	return b.Bytes(), err
}

// TestFocalPointOutsideImage: a focal point wholly or partly outside the image is stored, as
// Wagtail stores it, on upload and on update, and fill crops as Wagtail does (the vector: focal
// 1000,1000,1000,1000 on 640×480, fill-800x600 → 640×480 of crop 0,0,640,480). Negative values
// are refused.
func TestFocalPointOutsideImage(t *testing.T) {
	srv := veiltest.NewServer(t, veiltest.SQLite(t), nil)
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, image.NewGray(image.Rect(0, 0, 640, 480)), nil); err != nil {
		t.Fatal(err)
	}
	src := buf.Bytes()
	part := func() veiltest.Part { return veiltest.Part{Filename: "grey.jpg", Body: bytes.NewReader(src)} }
	type focal struct{ X, Y, Width, Height int }
	const q = `query($id: ID!) { image(id: $id) { focalPoint { x y width height } rendition(spec: "fill-800x600") { url width height } } }`
	check := func(id string, want focal) {
		t.Helper()
		var out struct {
			Image struct {
				FocalPoint *focal
				Rendition  rendition
			}
		}
		srv.GraphQL(q, map[string]any{"id": id}).Decode(t, &out)
		if out.Image.FocalPoint == nil || *out.Image.FocalPoint != want {
			t.Errorf("stored focal point %+v, want %+v", out.Image.FocalPoint, want)
		}
		r := out.Image.Rendition
		if r.Width != 640 || r.Height != 480 {
			t.Errorf("fill-800x600 promises %dx%d, want 640x480", r.Width, r.Height)
		}
		resp, body := srv.Get(t, r.URL, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s", r.URL, resp.StatusCode, body)
		}
		if w, h, _ := decodeSize(t, body); w != 640 || h != 480 {
			t.Errorf("fill-800x600 made %dx%d, want 640x480", w, h)
		}
	}

	outside := map[string]any{"x": 1000, "y": 1000, "width": 1000, "height": 1000}
	img := srv.UploadImage(t, part(), map[string]any{"focalPoint": outside})
	check(img.ID, focal{1000, 1000, 1000, 1000})

	partly := map[string]any{"x": 630, "y": 470, "width": 100, "height": 60}
	srv.GraphQL(`mutation($id: ID!, $f: FocalPointInput!) { updateImage(input: {id: $id, focalPoint: $f}) { id } }`,
		map[string]any{"id": img.ID, "f": partly}).Decode(t, &struct{}{})
	check(img.ID, focal{630, 470, 100, 60})

	for name, f := range map[string]map[string]any{
		"negative width": {"x": 10, "y": 10, "width": -1, "height": 10},
		"negative y":     {"x": 10, "y": -10, "width": 1, "height": 10},
	} {
		if r := srv.Upload(veiltest.UploadImageMutation, map[string]any{"focalPoint": f}, part()); r.Code() != "BAD_USER_INPUT" {
			t.Errorf("upload with %s: %s", name, r.Raw)
		}
		r := srv.GraphQL(`mutation($id: ID!, $f: FocalPointInput!) { updateImage(input: {id: $id, focalPoint: $f}) { id } }`,
			map[string]any{"id": img.ID, "f": f})
		if r.Code() != "BAD_USER_INPUT" {
			t.Errorf("update with %s: %s", name, r.Raw)
		}
	}
}
