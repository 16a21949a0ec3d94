package server_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/veil-media/veil/auth"
	"github.com/veil-media/veil/veiltest"
)

var previewTestKey = []byte("preview-key-of-the-graphql-preview-test")

// signPreviewForTest signs preview claims as auth does (base64url(JSON) "." base64url(HMAC)),
// for tokens the API would not hand out: expired ones.
func signPreviewForTest(contentID, creator string, exp time.Time) string {
	payload, _ := json.Marshal(map[string]any{"c": contentID, "u": creator, "e": exp.Unix()})
	p := base64.RawURLEncoding.EncodeToString(payload)
	m := hmac.New(sha256.New, previewTestKey)
	m.Write([]byte("veil-preview-v1." + p))
	return p + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// TestPreviewTokenGraphQL (issue 15, item 9): a preview token authenticates read-only GraphQL for
// exactly the media its content's draft references: those resolve (rendition URLs included, and
// the files open with the token), any other item is NOT_FOUND (public ones too), mutations,
// subscriptions and other fields are PREVIEW_READ_ONLY, and an expired or forged token is 401.
func TestPreviewTokenGraphQL(t *testing.T) {
	acfg := auth.DefaultConfig()
	acfg.PreviewKeys = [][]byte{previewTestKey}
	srv := veiltest.NewServer(t, veiltest.SQLite(t), &veiltest.ServerOptions{Auth: &acfg})
	upload := func(name string) string {
		return srv.UploadImage(t, veiltest.FilePart(t, "../testdata/corpus/photos/"+name), nil).ID
	}
	inDraft, other, public := upload("LadyBird.jpg"), upload("Garden.jpg"), upload("Wood.jpg")
	doc := srv.UploadDocument(t, veiltest.Part{Filename: "notes.txt", Body: strings.NewReader("draft notes\n")}, nil).ID
	var live struct{ UpsertContent struct{ ID string } }
	srv.GraphQL(`mutation($r: [ReferenceInput!]) { upsertContent(input: {kind: "page", key: "live", references: $r}) { id } }`,
		map[string]any{"r": []map[string]any{{"mediaId": public, "field": "hero"}}}).Decode(t, &live)
	srv.GraphQL(`mutation($c: ID!) { publishContent(id: $c) { content { id } } }`, map[string]any{"c": live.UpsertContent.ID}).Decode(t, &struct{}{})
	if r := srv.As("").GraphQL(`query($i: ID!) { image(id: $i) { id } }`, map[string]any{"i": public}); !strings.Contains(string(r.Data), public) {
		t.Fatalf("the published image is not public: %s", r.Raw)
	}
	var content struct{ UpsertContent struct{ ID string } }
	srv.GraphQL(`mutation($r: [ReferenceInput!]) { upsertContent(input: {kind: "page", key: "preview", references: $r}) { id } }`,
		map[string]any{"r": []map[string]any{{"mediaId": inDraft, "field": "hero"}, {"mediaId": doc, "field": "body"}}}).Decode(t, &content)
	var tok struct{ CreatePreviewToken struct{ Token string } }
	srv.GraphQL(`mutation($c: ID!) { createPreviewToken(contentId: $c, ttlSeconds: 600) { token } }`,
		map[string]any{"c": content.UpsertContent.ID}).Decode(t, &tok)
	preview := tok.CreatePreviewToken.Token
	if preview == "" {
		t.Fatal("no preview token")
	}

	for _, scheme := range []string{"Bearer", "Preview"} {
		p := srv.As("")
		ask := func(query string, vars map[string]any) veiltest.Response {
			t.Helper()
			body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/graphql", strings.NewReader(string(body)))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", scheme+" "+preview)
			return p.Do(req)
		}
		t.Run(scheme+" draft media resolve", func(t *testing.T) {
			r := ask(`query($i: ID!, $d: ID!) { image(id: $i) { id rendition(spec: "width-100") { url } srcset(specs: ["width-{100,200}"]) } document(id: $d) { id url } }`,
				map[string]any{"i": inDraft, "d": doc})
			var d struct {
				Image struct {
					ID        string
					Rendition struct{ URL string }
					Srcset    string
				}
				Document struct{ ID, URL string }
			}
			if len(r.Errors) > 0 {
				t.Fatalf("%s", r.Raw)
			}
			r.Decode(t, &d)
			if d.Image.ID != inDraft || d.Image.Rendition.URL == "" || d.Image.Srcset == "" || d.Document.ID != doc {
				t.Fatalf("%s", r.Raw)
			}
			// The URLs open with the token (as ?preview= on the serve views).
			for _, u := range []string{d.Image.Rendition.URL, d.Document.URL} {
				resp, err := srv.HTTP.Client().Get(srv.URL + u + "?preview=" + preview)
				if err != nil {
					t.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Errorf("%s with the preview token: %d", u, resp.StatusCode)
				}
			}
			if r := ask(`query($i: ID!) { node(id: $i) { id } }`, map[string]any{"i": inDraft}); len(r.Errors) > 0 {
				t.Errorf("node: %s", r.Raw)
			}
		})
		t.Run(scheme+" other media are NOT_FOUND", func(t *testing.T) {
			for _, id := range []string{other, public} {
				r := ask(`query($i: ID!) { image(id: $i) { id } }`, map[string]any{"i": id})
				if r.Code() != "NOT_FOUND" || strings.Contains(string(r.Data), id) {
					t.Errorf("%s: %s", id, r.Raw)
				}
			}
		})
		t.Run(scheme+" read-only", func(t *testing.T) {
			for name, q := range map[string]string{
				"mutation":     `mutation { createCollection(input: {name: "by-preview"}) { id } }`,
				"subscription": `subscription { privacyChanged { mediaId } }`,
				"list":         `{ images { nodes { id } } }`,
				"me":           `{ me { email } }`,
				"via fragment": `{ ...F } fragment F on Query { collections { id } }`,
			} {
				r := ask(q, nil)
				if r.Code() != "PREVIEW_READ_ONLY" || (len(r.Data) > 0 && string(r.Data) != "null") {
					t.Errorf("%s: %s", name, r.Raw)
				}
			}
		})
	}

	t.Run("expired, forged and malformed tokens are 401", func(t *testing.T) {
		raw, _ := json.Marshal(map[string]any{"query": fmt.Sprintf("{ image(id: %q) { id } }", inDraft)})
		imageQuery := string(raw)
		var me struct{ Me struct{ ID string } }
		srv.GraphQL(`{ me { id } }`, nil).Decode(t, &me)
		for name, bad := range map[string]string{
			"expired": signPreviewForTest(content.UpsertContent.ID, me.Me.ID, time.Now().Add(-time.Minute)),
			"forged":  preview[:strings.IndexByte(preview, '.')] + ".AAAA",
			"garbage": "not.a-token",
		} {
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/graphql", strings.NewReader(imageQuery))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+bad)
			r := srv.As("").Do(req)
			if r.Status != http.StatusUnauthorized || r.Code() != "UNAUTHENTICATED" {
				t.Errorf("%s: %d %s", name, r.Status, r.Raw)
			}
		}
		// The same claims, not expired, are accepted: the expired token was refused for its date.
		fresh := signPreviewForTest(content.UpsertContent.ID, me.Me.ID, time.Now().Add(time.Minute))
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/graphql", strings.NewReader(imageQuery))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+fresh)
		if r := srv.As("").Do(req); r.Status != 200 || len(r.Errors) > 0 {
			t.Errorf("fresh token: %d %s", r.Status, r.Raw)
		}
	})
}
