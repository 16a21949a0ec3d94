package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"strings"
	"testing"

	"github.com/veil-media/veil/veiltest"
)

// rawPart is one file part of a hand-made multipart request: its form name, the filename exactly
// as it goes into Content-Disposition, and its bytes.
type rawPart struct {
	name, filename string
	body           []byte
}

// multipartRaw builds a GraphQL multipart request with a map given as is (so one part may be
// mapped to several variables) and filenames written as given (no escaping).
func multipartRaw(t *testing.T, srv *veiltest.Server, query string, vars map[string]any, fileMap map[string][]string, parts ...rawPart) *http.Request {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	ops, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	_ = mw.WriteField("operations", string(ops))
	m, _ := json.Marshal(fileMap)
	_ = mw.WriteField("map", string(m))
	for _, p := range parts {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="%s"; filename="%s"`, p.name, p.filename))
		w, err := mw.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = w.Write(p.body)
	}
	_ = mw.Close()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/graphql", &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+srv.Token) // anonymous multipart is refused before the body
	return req
}

// TestMultipartEdgeCases (issue 15, item 15): one file part mapped to two variables is stored
// twice; a mutation that fails leaves nothing stored (neither rows nor files), whatever it had
// stored before failing; a FormData filename's %22 is a quote.
func TestMultipartEdgeCases(t *testing.T) {
	srv := veiltest.NewServer(t, veiltest.SQLite(t), nil)
	photo, err := os.ReadFile("../testdata/corpus/photos/LadyBird.jpg")
	if err != nil {
		t.Fatal(err)
	}
	other, err := os.ReadFile("../testdata/corpus/photos/Garden.jpg")
	if err != nil {
		t.Fatal(err)
	}
	collection := func(name string) string {
		r := srv.GraphQL(`mutation($n: String!) { createCollection(input: {name: $n}) { id } }`, map[string]any{"n": name})
		var d struct{ CreateCollection struct{ ID string } }
		r.Decode(t, &d)
		return d.CreateCollection.ID
	}
	stored := func(t *testing.T) (images int, originals []string) {
		t.Helper()
		r := srv.GraphQL(`{ images(first: 50) { totalCount } }`, nil)
		var d struct{ Images struct{ TotalCount int } }
		r.Decode(t, &d)
		for _, k := range veiltest.ListKeys(t, srv.Store) {
			if strings.Contains(k, "original") || strings.HasPrefix(k, "images/") {
				originals = append(originals, k)
			}
		}
		return d.Images.TotalCount, originals
	}
	const two = `mutation($a: Upload!, $b: Upload!, $ca: ID, $cb: ID) {
		a: uploadImage(input: {file: $a, collectionId: $ca}) { id filename sha256 }
		b: uploadImage(input: {file: $b, collectionId: $cb}) { id filename sha256 } }`

	t.Run("one part, two variables", func(t *testing.T) {
		c1, c2 := collection("one"), collection("two")
		r := srv.Do(multipartRaw(t, srv, two, map[string]any{"a": nil, "b": nil, "ca": c1, "cb": c2},
			map[string][]string{"0": {"variables.a", "variables.b"}}, rawPart{"0", "LadyBird.jpg", photo}))
		var d struct {
			A, B struct{ ID, Filename, SHA256 string }
		}
		if r.Status != 200 || len(r.Errors) > 0 {
			t.Fatalf("%d %s", r.Status, r.Raw)
		}
		r.Decode(t, &d)
		if d.A.ID == "" || d.B.ID == "" || d.A.ID == d.B.ID || d.A.SHA256 != d.B.SHA256 || d.B.Filename != "LadyBird.jpg" {
			t.Fatalf("two images expected, got %+v", d)
		}
		for _, id := range []string{d.A.ID, d.B.ID} {
			if r := srv.GraphQL(`query($id: ID!) { image(id: $id) { id } }`, map[string]any{"id": id}); len(r.Errors) > 0 || !strings.Contains(string(r.Data), id) {
				t.Errorf("image %s: %s", id, r.Raw)
			}
		}
	})

	for name, tc := range map[string]struct {
		vars  map[string]any
		parts []rawPart
		code  string
	}{
		// The second file is not an image: the first was stored before the second failed.
		"second field fails": {map[string]any{"a": nil, "b": nil},
			[]rawPart{{"0", "Garden.jpg", other}, {"1", "notes.jpg", []byte("not an image at all")}}, "BAD_USER_INPUT"},
		// The same bytes twice in one collection: the second is a duplicate of the first.
		"duplicate of the first": {map[string]any{"a": nil, "b": nil},
			[]rawPart{{"0", "Garden.jpg", other}, {"1", "Garden-again.jpg", other}}, "DUPLICATE"},
	} {
		t.Run(name, func(t *testing.T) {
			c := collection(name) // the duplicate is one of the first in this collection only
			tc.vars["ca"], tc.vars["cb"] = c, c
			beforeCount, beforeKeys := stored(t)
			r := srv.Do(multipartRaw(t, srv, two, tc.vars, map[string][]string{"0": {"variables.a"}, "1": {"variables.b"}}, tc.parts...))
			if r.Code() != tc.code || (len(r.Data) > 0 && string(r.Data) != "null") {
				t.Fatalf("want %s and no data, got %d %s", tc.code, r.Status, r.Raw)
			}
			var errs []struct{ Extensions map[string]any }
			_ = json.Unmarshal(r.Raw, &struct{ Errors any }{&errs})
			if id, ok := errs[0].Extensions["existingId"]; ok {
				t.Errorf("the error names %v, an item taken back", id)
			}
			afterCount, afterKeys := stored(t)
			if afterCount != beforeCount || len(afterKeys) != len(beforeKeys) {
				t.Errorf("a failed mutation left %d images and %d files behind", afterCount-beforeCount, len(afterKeys)-len(beforeKeys))
			}
		})
	}

	t.Run("FormData %22 is a quote", func(t *testing.T) {
		c := collection("quotes")
		const one = `mutation($a: Upload!, $c: ID) { uploadImage(input: {file: $a, collectionId: $c}) { id filename url } }`
		r := srv.Do(multipartRaw(t, srv, one, map[string]any{"a": nil, "c": c}, map[string][]string{"0": {"variables.a"}},
			rawPart{"0", "say %22cheese%22.jpg", photo}))
		var d struct {
			UploadImage struct{ ID, Filename, URL string }
		}
		if len(r.Errors) > 0 {
			t.Fatalf("%s", r.Raw)
		}
		r.Decode(t, &d)
		if d.UploadImage.Filename != `say "cheese".jpg` {
			t.Fatalf("filename %q, want say \"cheese\".jpg", d.UploadImage.Filename)
		}
		resp, _ := srv.Get(t, d.UploadImage.URL, nil)
		if cd := resp.Header.Get("Content-Disposition"); cd != `inline; filename="say \"cheese\".jpg"` {
			t.Errorf("Content-Disposition %s", cd)
		}
	})
}
