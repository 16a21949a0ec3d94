package server_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/veil-media/veil/auth"
	"github.com/veil-media/veil/models"
	"github.com/veil-media/veil/server"
	"github.com/veil-media/veil/veiltest"
)

// authzWorld is a small install: collections A (with child A/Sub) and B; in each a private and a
// public image with a distinctive title; users for every kind of viewer.
type authzWorld struct {
	srv      *veiltest.Server
	colA     string
	colSub   string
	colB     string
	images   map[string]veiltest.Uploaded // "A/private", "Sub/public", …
	docs     map[string]veiltest.Uploaded // "A/private", "B/public", …
	tokens   map[string]string            // viewer name → token ("" = anonymous)
	renditon map[string]string            // image key → rendition URL
}

const secretTitle = "TOP-SECRET-"

func newAuthzWorld(t *testing.T, db *models.DB) *authzWorld {
	t.Helper()
	srv := veiltest.NewServer(t, db, nil)
	w := &authzWorld{srv: srv, images: map[string]veiltest.Uploaded{}, docs: map[string]veiltest.Uploaded{}, tokens: map[string]string{"anonymous": "", "admin": srv.AdminToken}, renditon: map[string]string{}}
	var c struct {
		A struct{ ID string } `json:"a"`
		B struct{ ID string } `json:"b"`
	}
	srv.GraphQL(`mutation { a: createCollection(input: {name: "A"}) { id } b: createCollection(input: {name: "B"}) { id } }`, nil).Decode(t, &c)
	w.colA, w.colB = c.A.ID, c.B.ID
	var sub struct{ CreateCollection struct{ ID string } }
	srv.GraphQL(`mutation($p: ID) { createCollection(input: {name: "Sub", parentId: $p}) { id } }`, map[string]any{"p": w.colA}).Decode(t, &sub)
	w.colSub = sub.CreateCollection.ID
	files := veiltest.CorpusFiles(t, "orientation")
	i := 0
	for _, col := range []struct{ name, id string }{{"A", w.colA}, {"Sub", w.colSub}, {"B", w.colB}} {
		for _, p := range []string{"private", "public"} {
			key := col.name + "/" + p
			up := srv.UploadImage(t, veiltest.FilePart(t, veiltest.Corpus(t, files[i])), map[string]any{"collectionId": col.id, "title": secretTitle + key})
			i++
			if p == "public" {
				if _, err := srv.DB.NewUpdate().Model((*models.Image)(nil)).Set("privacy = 'PUBLIC'").Where("id = ?", up.ID).Exec(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			w.images[key] = up
			var r struct {
				Image struct{ Rendition struct{ URL string } }
			}
			srv.GraphQL(`query($id: ID!) { image(id: $id) { rendition(spec: "width-50") { url } } }`, map[string]any{"id": up.ID}).Decode(t, &r)
			w.renditon[key] = r.Image.Rendition.URL
		}
	}
	for j, col := range []struct{ name, id string }{{"A", w.colA}, {"B", w.colB}} {
		for k, p := range []string{"private", "public"} {
			key := col.name + "/" + p
			body := fmt.Sprintf("document %d%d of the authorization matrix\n", j, k)
			up := srv.UploadDocument(t, veiltest.Part{Filename: fmt.Sprintf("d%d%d.txt", j, k), Body: strings.NewReader(body)}, map[string]any{"collectionId": col.id, "title": secretTitle + "doc-" + key})
			if p == "public" {
				if _, err := srv.DB.NewUpdate().Model((*models.Document)(nil)).Set("privacy = 'PUBLIC'").Where("id = ?", up.ID).Exec(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			w.docs[key] = up
		}
	}
	for _, perm := range []string{"", "VIEW", "ADD", "CHANGE", "DELETE"} {
		name := strings.ToLower(perm)
		if perm == "" {
			name = "nogrants"
		}
		var u struct {
			CreateUser  struct{ ID string }
			CreateGroup struct{ ID string }
		}
		srv.GraphQL(`mutation($e: String!, $g: String!) { createUser(input: {name: $g, email: $e}) { id } createGroup(name: $g) { id } }`,
			map[string]any{"e": name + "@example.com", "g": name}).Decode(t, &u)
		srv.GraphQL(`mutation($g: ID!, $u: ID!) { addToGroup(groupId: $g, userId: $u) { id } }`, map[string]any{"g": u.CreateGroup.ID, "u": u.CreateUser.ID}).Decode(t, &struct{}{})
		if perm != "" {
			srv.GraphQL(`mutation($g: ID!, $p: Permission!, $c: ID) { grant(input: {groupId: $g, permission: $p, collectionId: $c}) { id } }`,
				map[string]any{"g": u.CreateGroup.ID, "p": perm, "c": w.colA}).Decode(t, &struct{}{})
		}
		var tok struct{ CreateToken struct{ Token string } }
		srv.GraphQL(`mutation($u: ID!) { createToken(input: {name: "t", userId: $u}) { token } }`, map[string]any{"u": u.CreateUser.ID}).Decode(t, &tok)
		w.tokens[name] = tok.CreateToken.Token
	}
	return w
}

// canRead is issue 3's rule: public items for everyone; private ones for admins and for VIEW, ADD
// or CHANGE on the item's collection or an ancestor (grants are on A, so they cover A/Sub).
func canRead(viewer, image string) bool {
	if strings.HasSuffix(image, "/public") || viewer == "admin" {
		return true
	}
	inA := strings.HasPrefix(image, "A/") || strings.HasPrefix(image, "Sub/")
	return inA && (viewer == "view" || viewer == "add" || viewer == "change")
}

// hasPerm: the viewer holds perm on the image's collection.
func hasPerm(viewer, perm, image string) bool {
	if viewer == "admin" {
		return true
	}
	inA := strings.HasPrefix(image, "A/") || strings.HasPrefix(image, "Sub/")
	return inA && viewer == strings.ToLower(perm)
}

// TestAuthorizationMatrix: every viewer × every image (private/public, in A, its child, B) ×
// read query, serve views (original, rendition), update, delete; plus lists and uploads.
func TestAuthorizationMatrix(t *testing.T) {
	veiltest.EachDB(t, func(t *testing.T, db *models.DB) {
		w := newAuthzWorld(t, db)
		viewers := []string{"anonymous", "nogrants", "view", "add", "change", "delete", "admin"}
		type seen struct{ viewer, body string }
		var bodies []seen
		for _, v := range viewers {
			as := w.srv.As(w.tokens[v])
			for key, img := range w.images {
				name := v + " " + key
				readable := canRead(v, key)
				// GraphQL read.
				r := as.GraphQL(`query($id: ID!) { image(id: $id) { id title } }`, map[string]any{"id": img.ID})
				bodies = append(bodies, seen{v, string(r.Raw)})
				if readable != (r.Code() == "") || !readable && r.Code() != "NOT_FOUND" {
					t.Errorf("%s: image(id) → %s", name, r.Raw)
				}
				// Serve views.
				for kind, u := range map[string]string{"original": img.URL, "rendition": w.renditon[key]} {
					resp, body := as.Get(t, u, nil)
					bodies = append(bodies, seen{v, string(body)})
					want := http.StatusOK
					if !readable {
						want = http.StatusForbidden
					}
					if resp.StatusCode != want {
						t.Errorf("%s: GET %s → %d, want %d", name, kind, resp.StatusCode, want)
					}
					if resp.StatusCode == 200 && strings.HasSuffix(key, "/private") && !strings.Contains(resp.Header.Get("Cache-Control"), "no-store") {
						t.Errorf("%s: private %s cacheable: %q", name, kind, resp.Header.Get("Cache-Control"))
					}
				}
				// Update (CHANGE).
				r = as.GraphQL(`mutation($id: ID!) { updateImage(input: {id: $id, alt: "x"}) { id } }`, map[string]any{"id": img.ID})
				bodies = append(bodies, seen{v, string(r.Raw)})
				wantCode := ""
				switch {
				case !readable:
					wantCode = "NOT_FOUND"
				case v == "anonymous":
					wantCode = "UNAUTHENTICATED"
				case !hasPerm(v, "CHANGE", key):
					wantCode = "FORBIDDEN"
				}
				if r.Code() != wantCode {
					t.Errorf("%s: updateImage → %s, want %q", name, r.Raw, wantCode)
				}
			}
			// Lists never contain what the viewer cannot read, and count exactly what it can.
			r := as.GraphQL(`{ images(first: 100) { totalCount nodes { id title } } }`, nil)
			bodies = append(bodies, seen{v, string(r.Raw)})
			var out struct {
				Images struct {
					TotalCount int
					Nodes      []struct{ ID, Title string }
				}
			}
			r.Decode(t, &out)
			want := 0
			for key := range w.images {
				if canRead(v, key) {
					want++
				}
			}
			if out.Images.TotalCount != want || len(out.Images.Nodes) != want {
				t.Errorf("%s: images lists %d (total %d), want %d", v, len(out.Images.Nodes), out.Images.TotalCount, want)
			}
		}
		// Documents: document(id), node(id), the serve view, updateDocument.
		for _, v := range viewers {
			as := w.srv.As(w.tokens[v])
			for key, doc := range w.docs {
				name := v + " doc " + key
				readable := canRead(v, key)
				for _, q := range []string{`query($id: ID!) { document(id: $id) { id title } }`, `query($id: ID!) { node(id: $id) { id ... on Document { title } } }`} {
					r := as.GraphQL(q, map[string]any{"id": doc.ID})
					bodies = append(bodies, seen{v, strings.ReplaceAll(string(r.Raw), "doc-", "")})
					if readable != (r.Code() == "") || !readable && r.Code() != "NOT_FOUND" {
						t.Errorf("%s: %s → %s", name, q[:20], r.Raw)
					}
				}
				resp, _ := as.Get(t, doc.URL, nil)
				if want := map[bool]int{true: 200, false: 403}[readable]; resp.StatusCode != want {
					t.Errorf("%s: GET document → %d, want %d", name, resp.StatusCode, want)
				}
				r := as.GraphQL(`mutation($id: ID!) { updateDocument(input: {id: $id, tags: ["x"]}) { id } }`, map[string]any{"id": doc.ID})
				wantCode := ""
				switch {
				case !readable:
					wantCode = "NOT_FOUND"
				case v == "anonymous":
					wantCode = "UNAUTHENTICATED"
				case !hasPerm(v, "CHANGE", key):
					wantCode = "FORBIDDEN"
				}
				if r.Code() != wantCode {
					t.Errorf("%s: updateDocument → %s, want %q", name, r.Raw, wantCode)
				}
			}
			// A collection's own image list applies the same filter; creating a child needs ADD.
			var col struct {
				Collection struct {
					Images struct{ Nodes []struct{ ID string } }
				}
			}
			as.GraphQL(`query($c: ID!) { collection(id: $c) { images(first: 50) { nodes { id } } } }`, map[string]any{"c": w.colB}).Decode(t, &col)
			if want := map[bool]int{true: 2, false: 1}[canRead(v, "B/private")]; len(col.Collection.Images.Nodes) != want {
				t.Errorf("%s: collection(B).images lists %d, want %d", v, len(col.Collection.Images.Nodes), want)
			}
			r := as.GraphQL(`mutation($n: String!, $p: ID) { createCollection(input: {name: $n, parentId: $p}) { id } }`, map[string]any{"n": "child of " + v, "p": w.colA})
			wantCode := map[bool]string{true: "", false: "FORBIDDEN"}[hasPerm(v, "ADD", "A/x")]
			if v == "anonymous" {
				wantCode = "UNAUTHENTICATED"
			}
			if r.Code() != wantCode {
				t.Errorf("%s: createCollection under A → %s, want %q", v, r.Raw, wantCode)
			}
			// Management: admins (and MANAGE_USERS) only.
			for _, q := range []string{`{ users { id } }`, `{ groups { id } }`, `mutation { createUser(input: {name: "x", email: "x@example.com"}) { id } }`, `mutation { createGroup(name: "g2") { id } }`} {
				r := as.GraphQL(q, nil)
				want := map[string]string{"anonymous": "UNAUTHENTICATED", "admin": ""}[v]
				if v != "anonymous" && v != "admin" {
					want = "FORBIDDEN"
				}
				if r.Code() != want && !(v == "admin" && r.Code() == "BAD_USER_INPUT") {
					t.Errorf("%s: %s → %s, want %q", v, q, r.Raw, want)
				}
			}
		}

		// A VIEW-on-A user pages through exactly what they may see, two at a time.
		{
			as := w.srv.As(w.tokens["view"])
			got := map[string]bool{}
			var after any
			for page := 0; page < 10; page++ {
				var out struct {
					Images struct {
						Nodes    []struct{ ID string }
						PageInfo struct {
							HasNextPage bool
							EndCursor   *string
						}
					}
				}
				as.GraphQL(`query($a: String) { images(first: 2, after: $a) { nodes { id } pageInfo { hasNextPage endCursor } } }`, map[string]any{"a": after}).Decode(t, &out)
				for _, n := range out.Images.Nodes {
					got[n.ID] = true
				}
				if !out.Images.PageInfo.HasNextPage {
					break
				}
				after = *out.Images.PageInfo.EndCursor
			}
			for key, img := range w.images {
				if got[img.ID] != canRead("view", key) {
					t.Errorf("view paging: %s listed=%v", key, got[img.ID])
				}
			}
		}
		// Upload into A needs ADD (after the list checks: a successful upload adds an image).
		for _, v := range viewers {
			as := w.srv.As(w.tokens[v])
			ru := as.Upload(veiltest.UploadImageMutation, map[string]any{"collectionId": w.colA}, veiltest.FilePart(t, veiltest.Corpus(t, "webp/vnc-d.webp")))
			wantCode := map[bool]string{true: "", false: "FORBIDDEN"}[hasPerm(v, "ADD", "A/x")]
			if v == "anonymous" {
				wantCode = "UNAUTHENTICATED"
			}
			if ru.Code() != wantCode && !(wantCode == "" && ru.Code() == "DUPLICATE") {
				t.Errorf("%s: upload into A → %s, want %q", v, ru.Raw, wantCode)
			}
		}
		// Delete (DELETE) last, on copies of the rows' permissions: one viewer per image.
		for _, v := range viewers {
			as := w.srv.As(w.tokens[v])
			key := "Sub/private"
			r := as.GraphQL(`mutation($id: ID!) { deleteImage(id: $id) { deletedId } }`, map[string]any{"id": w.images[key].ID})
			bodies = append(bodies, seen{v, string(r.Raw)})
			wantCode := ""
			switch {
			case !canRead(v, key):
				wantCode = "NOT_FOUND"
			case !hasPerm(v, "DELETE", key):
				wantCode = "FORBIDDEN"
			}
			if r.Code() != wantCode {
				t.Errorf("%s: deleteImage → %s, want %q", v, r.Raw, wantCode)
			}
			if wantCode == "" {
				break // deleted
			}
		}
		// No response ever showed a private title to a viewer who may not read that item.
		for _, b := range bodies {
			for key := range w.images {
				if !canRead(b.viewer, key) && strings.Contains(b.body, secretTitle+key) {
					t.Errorf("%s saw the title of %s: %s", b.viewer, key, b.body)
				}
			}
		}
		if len(bodies) < 100 {
			t.Errorf("only %d responses checked for leaks", len(bodies))
		}
	})
}

// TestTokens: expired, revoked, malformed, tampered and unknown tokens and deactivated users are
// refused with 401 UNAUTHENTICATED — never treated as anonymous — at once despite the cache.
func TestTokens(t *testing.T) {
	srv := veiltest.NewServer(t, veiltest.SQLite(t), nil)
	var u struct{ CreateUser struct{ ID string } }
	srv.GraphQL(`mutation { createUser(input: {name: "u", email: "u@example.com"}) { id } }`, nil).Decode(t, &u)
	mk := func(ttl any) (string, string) {
		var tok struct {
			CreateToken struct {
				Token    string
				APIToken struct{ ID string }
			}
		}
		srv.GraphQL(`mutation($u: ID!, $ttl: Int) { createToken(input: {name: "t", userId: $u, expiresInSeconds: $ttl}) { token apiToken { id } } }`,
			map[string]any{"u": u.CreateUser.ID, "ttl": ttl}).Decode(t, &tok)
		return tok.CreateToken.Token, tok.CreateToken.APIToken.ID
	}
	good, goodID := mk(nil)
	short, _ := mk(1)
	check := func(name, header string, want int) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/graphql", strings.NewReader(`{"query":"{ me { id } }"}`))
		req.Header.Set("Content-Type", "application/json")
		if header != "" {
			req.Header.Set("Authorization", header)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%s: status %d, want %d", name, resp.StatusCode, want)
		}
	}
	check("valid", "Bearer "+good, 200)
	check("none (anonymous)", "", 200)
	tampered := []byte(good)
	tampered[len(tampered)-3] ^= 1
	for name, h := range map[string]string{
		"malformed": "Bearer nonsense", "wrong scheme": "Basic " + good, "prefix only": "Bearer veil_",
		"tampered": "Bearer " + string(tampered), "unknown id": "Bearer veil_tok_01M818HZN4S9NGPTE8NJGQZFVH_" + strings.Repeat("a", 43),
		"overlong": "Bearer " + strings.Repeat("x", 10000),
	} {
		check(name, h, 401)
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := srv.Auth.Authenticate(context.Background(), "Bearer "+short); err != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	check("expired", "Bearer "+short, 401)
	srv.GraphQL(`mutation($id: ID!) { revokeToken(id: $id) { revokedAt } }`, map[string]any{"id": goodID}).Decode(t, &struct{}{})
	check("revoked (cached a moment ago)", "Bearer "+good, 401)
	other, _ := mk(nil)
	srv.GraphQL(`mutation($u: ID!) { updateUser(input: {id: $u, active: false}) { id } }`, map[string]any{"u": u.CreateUser.ID}).Decode(t, &struct{}{})
	check("deactivated user", "Bearer "+other, 401)
	if strings.Contains(srv.Logs.String(), good) || strings.Contains(srv.Logs.String(), other) {
		t.Error("a token appears in the logs")
	}
}

// TestAuthRateLimit: past the failure limit an address gets 429 with Retry-After; anonymous
// requests still work.
func TestAuthRateLimit(t *testing.T) {
	acfg := auth.DefaultConfig()
	acfg.FailuresPerMinute = 5
	srv := veiltest.NewServer(t, veiltest.SQLite(t), &veiltest.ServerOptions{Auth: &acfg})
	codes := []int{}
	for i := 0; i < 7; i++ {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/graphql?query={me{id}}", nil)
		req.Header.Set("Authorization", "Bearer nope")
		resp, _ := http.DefaultClient.Do(req)
		resp.Body.Close()
		codes = append(codes, resp.StatusCode)
		if resp.StatusCode == 429 && resp.Header.Get("Retry-After") == "" {
			t.Error("429 without Retry-After")
		}
	}
	if fmt.Sprint(codes) != "[401 401 401 401 401 429 429]" {
		t.Errorf("statuses %v", codes)
	}
	if r := srv.As("").GraphQL(`{ me { id } }`, nil); len(r.Errors) > 0 {
		t.Errorf("anonymous blocked: %s", r.Raw)
	}
}

// TestPreviewTokens: creating needs PUBLISH and existing content; a fresh token verifies, a
// tampered or expired one not.
func TestPreviewTokens(t *testing.T) {
	srv := veiltest.NewServer(t, veiltest.SQLite(t), nil)
	var c struct{ UpsertContent struct{ ID string } }
	srv.GraphQL(`mutation { upsertContent(input: {kind: "page", key: "preview"}) { id } }`, nil).Decode(t, &c)
	contentID := c.UpsertContent.ID
	if r := srv.GraphQL(`mutation { createPreviewToken(contentId: "cnt_01M818HZN4S9NGPTE8NJGQZFVH", ttlSeconds: 60) { token } }`, nil); r.Code() != "NOT_FOUND" {
		t.Errorf("content that does not exist: %s", r.Raw)
	}
	q := `mutation($ttl: Int!) { createPreviewToken(contentId: "` + contentID + `", ttlSeconds: $ttl) { token expiresAt } }`
	if r := srv.As("").GraphQL(q, map[string]any{"ttl": 60}); r.Code() != "UNAUTHENTICATED" {
		t.Errorf("anonymous: %s", r.Raw)
	}
	for _, ttl := range []int{0, -1, 100 * 24 * 3600} {
		if r := srv.GraphQL(q, map[string]any{"ttl": ttl}); r.Code() != "BAD_USER_INPUT" {
			t.Errorf("ttl %d: %s", ttl, r.Raw)
		}
	}
	var out struct{ CreatePreviewToken struct{ Token string } }
	srv.GraphQL(q, map[string]any{"ttl": 600}).Decode(t, &out)
	tok := out.CreatePreviewToken.Token
	if c, _, err := srv.Auth.VerifyPreviewToken(tok); err != nil || c != contentID {
		t.Fatalf("fresh token: %q %v", c, err)
	}
	bad := []byte(tok)
	bad[2] ^= 1
	if _, _, err := srv.Auth.VerifyPreviewToken(string(bad)); err == nil {
		t.Error("tampered token accepted")
	}
	// A one-second token expires. (The fresh check above uses a long one: expiry is truncated to
	// whole seconds, so that no token outlives what was asked, and a one-second token may have
	// only milliseconds left when the test verifies it on a loaded machine.)
	srv.GraphQL(q, map[string]any{"ttl": 1}).Decode(t, &out)
	tok = out.CreatePreviewToken.Token
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, _, err := srv.Auth.VerifyPreviewToken(tok); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("token never expired")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestCSRFAndCORS: a cross-site-style multipart upload (no Authorization, no preflight header) is
// refused; CORS answers only the configured origins; websocket upgrades from other origins fail.
func TestCSRFAndCORS(t *testing.T) {
	scfg := server.DefaultConfig()
	scfg.CORSOrigins = []string{"https://app.example"}
	srv := veiltest.NewServer(t, veiltest.SQLite(t), &veiltest.ServerOptions{Server: &scfg})
	req := srv.As("").MultipartRequest(veiltest.UploadImageMutation, map[string]any{"input": map[string]any{"file": nil}},
		[]string{"variables.input.file"}, map[string]veiltest.Part{"variables.input.file": veiltest.FilePart(t, veiltest.Corpus(t, "webp/vnc-d.webp"))})
	req.Header.Del("Apollo-Require-Preflight")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("multipart without a non-simple header: %d", resp.StatusCode)
	}
	for origin, allowed := range map[string]bool{"https://app.example": true, "https://evil.example": false} {
		req, _ := http.NewRequest(http.MethodOptions, srv.URL+"/graphql", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("Access-Control-Allow-Origin") == origin; got != allowed {
			t.Errorf("preflight from %s: allow-origin %q", origin, resp.Header.Get("Access-Control-Allow-Origin"))
		}
		d := websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}}
		c, wsResp, err := d.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/graphql", http.Header{"Origin": {origin}})
		if (err == nil) != allowed {
			t.Errorf("websocket from %s: err = %v", origin, err)
		}
		if !allowed && (wsResp == nil || wsResp.StatusCode != http.StatusForbidden) {
			t.Errorf("websocket from %s: want 403, got %v", origin, wsResp)
		}
		if c != nil {
			c.Close()
		}
	}
}
