package server_test

// Issue 3 (identities and one permission policy), driven over real HTTP on every database: the
// authorisation matrix as a table of expected outcomes, lists and paging, bad tokens, rate
// limiting, preview tokens, user management, CSRF/CORS, and that nothing private or secret leaks
// into a response body or a log line.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/uptrace/bun"

	"github.com/veil-media/veil/auth"
	"github.com/veil-media/veil/models"
	"github.com/veil-media/veil/server"
	"github.com/veil-media/veil/veiltest"
)

// Outcomes of a GraphQL operation: success, or the extensions.code of its error.
const (
	azOK = "ok"
	azNF = "NOT_FOUND"
	azFB = "FORBIDDEN"
	azUN = "UNAUTHENTICATED"
	azBI = "BAD_USER_INPUT"
)

// azViewers are the viewers of the matrix. Every grant is on collection A (so it covers its child
// A/Sub by inheritance and never B); "nogrants" is a known user in a group without grants.
var azViewers = []string{"anonymous", "nogrants", "view", "add", "change", "delete", "admin"}

// azSlot is where an item lives and whether it is private.
type azSlot struct {
	col     string // "A", "Sub" (the child A/Sub) or "B"
	private bool
}

func (s azSlot) String() string {
	if s.private {
		return s.col + "/private"
	}
	return s.col + "/public"
}

// azSlots orders the columns of azMatrix.
var azSlots = [6]azSlot{{"A", true}, {"Sub", true}, {"B", true}, {"A", false}, {"Sub", false}, {"B", false}}

func (s azSlot) index() int { return slices.Index(azSlots[:], s) }

// azCols orders the columns of azRow.add.
var azCols = [3]string{"A", "Sub", "B"}

// azRow is what one viewer gets. Item columns follow azSlots:
//
//	A/private  Sub/private  B/private  A/public  Sub/public  B/public
type azRow struct {
	// read: image(id), document(id), node(id) and the rendition(spec) field; it also decides
	// whether the item is in the viewer's lists.
	read [6]string
	// serve: GET of the original, the document and a signed rendition URL.
	serve [6]int
	// change: updateImage, updateDocument.
	change [6]string
	// del: deleteImage, deleteDocument.
	del [6]string
	// add: uploadImage, uploadDocument into, and createCollection under, A, A/Sub and B.
	add [3]string
}

// azMatrix is issue 3's rules written out: private items are NOT_FOUND in GraphQL and 403 in serve
// views to viewers who may not read them; VIEW, ADD and CHANGE (on the collection or an ancestor)
// read private items, DELETE alone does not; anonymous viewers attempting a mutation on something
// they can see, or on a collection, are UNAUTHENTICATED; known users lacking the permission on
// something they can see are FORBIDDEN; admins may do everything.
var azMatrix = map[string]azRow{
	"anonymous": {
		read:   [6]string{azNF, azNF, azNF, azOK, azOK, azOK},
		serve:  [6]int{403, 403, 403, 200, 200, 200},
		change: [6]string{azNF, azNF, azNF, azUN, azUN, azUN},
		del:    [6]string{azNF, azNF, azNF, azUN, azUN, azUN},
		add:    [3]string{azUN, azUN, azUN},
	},
	"nogrants": {
		read:   [6]string{azNF, azNF, azNF, azOK, azOK, azOK},
		serve:  [6]int{403, 403, 403, 200, 200, 200},
		change: [6]string{azNF, azNF, azNF, azFB, azFB, azFB},
		del:    [6]string{azNF, azNF, azNF, azFB, azFB, azFB},
		add:    [3]string{azFB, azFB, azFB},
	},
	"view": {
		read:   [6]string{azOK, azOK, azNF, azOK, azOK, azOK},
		serve:  [6]int{200, 200, 403, 200, 200, 200},
		change: [6]string{azFB, azFB, azNF, azFB, azFB, azFB},
		del:    [6]string{azFB, azFB, azNF, azFB, azFB, azFB},
		add:    [3]string{azFB, azFB, azFB},
	},
	"add": {
		read:   [6]string{azOK, azOK, azNF, azOK, azOK, azOK},
		serve:  [6]int{200, 200, 403, 200, 200, 200},
		change: [6]string{azFB, azFB, azNF, azFB, azFB, azFB},
		del:    [6]string{azFB, azFB, azNF, azFB, azFB, azFB},
		add:    [3]string{azOK, azOK, azFB},
	},
	"change": {
		read:   [6]string{azOK, azOK, azNF, azOK, azOK, azOK},
		serve:  [6]int{200, 200, 403, 200, 200, 200},
		change: [6]string{azOK, azOK, azNF, azOK, azOK, azFB},
		del:    [6]string{azFB, azFB, azNF, azFB, azFB, azFB},
		add:    [3]string{azFB, azFB, azFB},
	},
	"delete": {
		read:   [6]string{azNF, azNF, azNF, azOK, azOK, azOK},
		serve:  [6]int{403, 403, 403, 200, 200, 200},
		change: [6]string{azNF, azNF, azNF, azFB, azFB, azFB},
		del:    [6]string{azNF, azNF, azNF, azOK, azOK, azFB},
		add:    [3]string{azFB, azFB, azFB},
	},
	"admin": {
		read:   [6]string{azOK, azOK, azOK, azOK, azOK, azOK},
		serve:  [6]int{200, 200, 200, 200, 200, 200},
		change: [6]string{azOK, azOK, azOK, azOK, azOK, azOK},
		del:    [6]string{azOK, azOK, azOK, azOK, azOK, azOK},
		add:    [3]string{azOK, azOK, azOK},
	},
}

// azCanRead is the read column of the matrix.
func azCanRead(viewer string, s azSlot) bool { return azMatrix[viewer].read[s.index()] == azOK }

// azItem is one uploaded image or document.
type azItem struct {
	kind      string // "image" or "document"
	slot      azSlot
	role      string // "matrix", "filler", "victim-<viewer>", "upload-<viewer>"
	title     string
	filename  string
	id        string
	url       string
	rendition string // images: a signed rendition URL
}

// azWorld is an install with collections A, A/Sub and B, items in each, and a token per viewer.
// Every response body it sees is kept, with its viewer, for the leak check.
type azWorld struct {
	srv    *veiltest.Server
	cols   map[string]string // "A", "Sub", "B" → id
	items  []*azItem
	tokens map[string]string // viewer → token ("" = anonymous)
	users  map[string]string // viewer → user id
	n      int               // uploads so far: every file is unique
	trace  *azTrace

	mu   sync.Mutex
	seen []azSeen
}

type azSeen struct{ viewer, what, text string }

// azTrace records the SQL of requests carrying X-Az-Trace (see azTraceHook).
type azTrace struct {
	mu      sync.Mutex
	queries []string
}

type azTraceKey struct{}

func (tr *azTrace) take() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	q := tr.queries
	tr.queries = nil
	return q
}

type azTraceHook struct{}

func (azTraceHook) BeforeQuery(ctx context.Context, _ *bun.QueryEvent) context.Context { return ctx }

func (azTraceHook) AfterQuery(ctx context.Context, e *bun.QueryEvent) {
	if tr, ok := ctx.Value(azTraceKey{}).(*azTrace); ok {
		tr.mu.Lock()
		tr.queries = append(tr.queries, e.Query)
		tr.mu.Unlock()
	}
}

// newAzWorld builds the install. fillers adds that many extra private images and documents in B
// and in A, so lists have several pages.
func newAzWorld(t *testing.T, db *models.DB, fillers int) *azWorld {
	t.Helper()
	tr := &azTrace{}
	traced := &models.DB{DB: db.DB.WithQueryHook(azTraceHook{}), Dialect: db.Dialect}
	wrap := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("X-Az-Trace") != "" {
				r = r.WithContext(context.WithValue(r.Context(), azTraceKey{}, tr))
			}
			h.ServeHTTP(w, r)
		})
	}
	srv := veiltest.NewServer(t, traced, &veiltest.ServerOptions{Wrap: wrap})
	w := &azWorld{srv: srv, cols: map[string]string{}, trace: tr,
		tokens: map[string]string{"anonymous": "", "admin": srv.AdminToken}, users: map[string]string{}}
	var c struct {
		A, B struct{ ID string }
	}
	srv.GraphQL(`mutation { A: createCollection(input: {name: "A"}) { id } B: createCollection(input: {name: "B"}) { id } }`, nil).Decode(t, &c)
	w.cols["A"], w.cols["B"] = c.A.ID, c.B.ID
	var sub struct{ CreateCollection struct{ ID string } }
	srv.GraphQL(`mutation($p: ID) { createCollection(input: {name: "Sub", parentId: $p}) { id } }`, map[string]any{"p": w.cols["A"]}).Decode(t, &sub)
	w.cols["Sub"] = sub.CreateCollection.ID

	for _, s := range azSlots {
		w.add(t, "image", s, "matrix")
		w.add(t, "document", s, "matrix")
	}
	for i := 0; i < fillers; i++ {
		for _, s := range []azSlot{{"B", true}, {"A", true}, {"Sub", false}} {
			w.add(t, "image", s, "filler")
			w.add(t, "document", s, "filler")
		}
	}

	var me struct{ Me struct{ ID string } }
	srv.GraphQL(`{ me { id } }`, nil).Decode(t, &me)
	w.users["admin"] = me.Me.ID
	for _, v := range azViewers {
		if v == "anonymous" || v == "admin" {
			continue
		}
		uid, gid := azUserInGroup(t, srv, v)
		if v != "nogrants" {
			azGrant(t, srv, gid, strings.ToUpper(v), w.cols["A"])
		}
		w.users[v] = uid
		w.tokens[v] = azToken(t, srv, uid, nil)
	}
	return w
}

// azUserInGroup creates (as admin) a user and a group of the same name holding it.
func azUserInGroup(t *testing.T, srv *veiltest.Server, name string) (userID, groupID string) {
	t.Helper()
	var u struct {
		CreateUser  struct{ ID string }
		CreateGroup struct{ ID string }
	}
	srv.As(srv.AdminToken).GraphQL(`mutation($n: String!, $e: String!) { createUser(input: {name: $n, email: $e}) { id } createGroup(name: $n) { id } }`,
		map[string]any{"n": name, "e": name + "@authz.example"}).Decode(t, &u)
	srv.As(srv.AdminToken).GraphQL(`mutation($g: ID!, $u: ID!) { addToGroup(groupId: $g, userId: $u) { id } }`,
		map[string]any{"g": u.CreateGroup.ID, "u": u.CreateUser.ID}).Decode(t, &struct{}{})
	return u.CreateUser.ID, u.CreateGroup.ID
}

// azGrant grants (as admin) perm to a group, on collection col ("" for global permissions).
func azGrant(t *testing.T, srv *veiltest.Server, groupID, perm, col string) {
	t.Helper()
	vars := map[string]any{"g": groupID, "p": perm, "c": nil}
	if col != "" {
		vars["c"] = col
	}
	srv.As(srv.AdminToken).GraphQL(`mutation($g: ID!, $p: Permission!, $c: ID) { grant(input: {groupId: $g, permission: $p, collectionId: $c}) { id } }`, vars).Decode(t, &struct{}{})
}

// azToken creates (as admin) an API token for a user; ttl nil = no expiry.
func azToken(t *testing.T, srv *veiltest.Server, userID string, ttl *int) string {
	t.Helper()
	tok, _ := azTokenWithID(t, srv, userID, ttl)
	return tok
}

func azTokenWithID(t *testing.T, srv *veiltest.Server, userID string, ttl *int) (token, id string) {
	t.Helper()
	var out struct {
		CreateToken struct {
			Token    string
			APIToken struct{ ID string }
		}
	}
	srv.As(srv.AdminToken).GraphQL(`mutation($u: ID, $ttl: Int) { createToken(input: {name: "authz", userId: $u, expiresInSeconds: $ttl}) { token apiToken { id } } }`,
		map[string]any{"u": userID, "ttl": ttl}).Decode(t, &out)
	return out.CreateToken.Token, out.CreateToken.APIToken.ID
}

// azPNG returns a small PNG whose bytes differ for every n.
func azPNG(n int) []byte {
	img := image.NewNRGBA(image.Rect(0, 0, 64, 48))
	c := color.NRGBA{R: uint8(n), G: uint8(n >> 8), B: 0x5a, A: 0xff}
	for y := 0; y < 48; y++ {
		for x := 0; x < 64; x++ {
			img.SetNRGBA(x, y, c)
		}
	}
	var b bytes.Buffer
	_ = png.Encode(&b, img)
	return b.Bytes()
}

// azPart is the file of the nth upload.
func azPart(kind, name string, n int) veiltest.Part {
	if kind == "image" {
		return veiltest.Part{Filename: name + ".png", Body: bytes.NewReader(azPNG(n))}
	}
	return veiltest.Part{Filename: name + ".txt", Body: strings.NewReader(fmt.Sprintf("authz document %d\n", n))}
}

// azNames gives an item a distinctive title and filename: private ones are grepped for in every
// response body of a viewer who may not read them.
func (w *azWorld) azNames(kind string, s azSlot, role string) (title, filename string) {
	w.n++
	label := fmt.Sprintf("%s %s %s %d", role, kind, s.col, w.n)
	if s.private {
		return "[AZSECRET " + label + "]", strings.ToLower(strings.ReplaceAll("azsecret-"+label, " ", "-"))
	}
	return "[azpublic " + label + "]", strings.ToLower(strings.ReplaceAll("azpublic-"+label, " ", "-"))
}

// add uploads (as admin) an item into slot s and makes it public when s says so (directly in the
// database: publishing is not what this test is about).
func (w *azWorld) add(t *testing.T, kind string, s azSlot, role string) *azItem {
	t.Helper()
	title, name := w.azNames(kind, s, role)
	it := &azItem{kind: kind, slot: s, role: role, title: title}
	admin := w.srv.As(w.srv.AdminToken)
	input := map[string]any{"collectionId": w.cols[s.col], "title": title}
	var model any = (*models.Image)(nil)
	if kind == "image" {
		it.id = admin.UploadImage(t, azPart(kind, name, w.n), input).ID
	} else {
		it.id = admin.UploadDocument(t, azPart(kind, name, w.n), input).ID
		model = (*models.Document)(nil)
	}
	if !s.private {
		if _, err := w.srv.DB.NewUpdate().Model(model).Set("privacy = ?", models.Public).Where("id = ?", it.id).Exec(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	var out struct {
		Node struct {
			Filename, URL string
			Rendition     struct{ URL string }
		}
	}
	q := `query($id: ID!) { node(id: $id) { ... on Document { filename url } } }`
	if kind == "image" {
		q = `query($id: ID!) { node(id: $id) { ... on Image { filename url rendition(spec: "width-40") { url } } } }`
	}
	admin.GraphQL(q, map[string]any{"id": it.id}).Decode(t, &out)
	it.filename, it.url, it.rendition = out.Node.Filename, out.Node.URL, out.Node.Rendition.URL
	if s.private && !strings.Contains(it.filename, "azsecret") {
		t.Fatalf("filename %q lost its marker", it.filename)
	}
	w.items = append(w.items, it)
	return it
}

func (w *azWorld) record(viewer, what, text string) {
	w.mu.Lock()
	w.seen = append(w.seen, azSeen{viewer, what, text})
	w.mu.Unlock()
}

// gql runs a GraphQL request as viewer and keeps its body.
func (w *azWorld) gql(viewer, query string, vars map[string]any) veiltest.Response {
	r := w.srv.As(w.tokens[viewer]).GraphQL(query, vars)
	w.record(viewer, query, string(r.Raw))
	return r
}

// get fetches a URL as viewer and keeps its body and headers.
func (w *azWorld) get(t *testing.T, viewer, url string) (*http.Response, []byte) {
	t.Helper()
	resp, body := w.srv.As(w.tokens[viewer]).Get(t, url, nil)
	w.record(viewer, "GET "+url, fmt.Sprint(resp.Header)+"\n"+string(body))
	return resp, body
}

// outcome is azOK or the error code of r.
func outcome(r veiltest.Response) string {
	if len(r.Errors) == 0 {
		return azOK
	}
	if c := r.Code(); c != "" {
		return c
	}
	return "(no code)"
}

func (w *azWorld) matrixItems() []*azItem {
	var out []*azItem
	for _, it := range w.items {
		if it.role == "matrix" {
			out = append(out, it)
		}
	}
	return out
}

// checkNoLeaks: no response kept by w shows a viewer the title or filename of a private item that
// viewer may not read.
func (w *azWorld) checkNoLeaks(t *testing.T, atLeast int) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.seen) < atLeast {
		t.Errorf("only %d responses were checked for leaks", len(w.seen))
	}
	for _, s := range w.seen {
		for _, it := range w.items {
			if !it.slot.private || azCanRead(s.viewer, it.slot) {
				continue
			}
			if strings.Contains(s.text, it.title) || strings.Contains(s.text, it.filename) {
				t.Errorf("%s saw %s %s (%s) in the answer to %.80q: %.300s", s.viewer, it.kind, it.slot, it.title, s.what, s.text)
			}
		}
	}
}

// azNoSecretsInLogs: the server's logs contain none of secrets (nor their secret halves).
func azNoSecretsInLogs(t *testing.T, srv *veiltest.Server, secrets ...string) {
	t.Helper()
	logs := srv.Logs.String()
	if !strings.Contains(logs, `"http request"`) {
		t.Fatalf("the logs look empty; the check would prove nothing: %.300s", logs)
	}
	for _, s := range secrets {
		if s == "" {
			continue
		}
		parts := []string{s}
		if strings.HasPrefix(s, "veil_tok_") && len(s) > 36 {
			parts = append(parts, s[36:]) // the secret after "veil_tok_<ulid>_"
		}
		for _, p := range parts {
			if strings.Contains(logs, p) {
				t.Errorf("a token secret appears in the logs: %.12s…", p)
			}
		}
	}
}

// TestAuthzMatrix: every viewer × every operation × items in A, A/Sub and B, private and public,
// against azMatrix; then that no answer leaked a private title or filename.
func TestAuthzMatrix(t *testing.T) {
	veiltest.EachDB(t, func(t *testing.T, db *models.DB) {
		w := newAzWorld(t, db, 0)
		ghostImage := "img_" + ulid.Make().String()
		ghostDoc := "doc_" + ulid.Make().String()

		t.Run("read", func(t *testing.T) {
			type query struct {
				name, kind, q string
				ghost         string
			}
			queries := []query{
				{"image(id) with rendition(spec)", "image", `query($id: ID!) { x: image(id: $id) { id title filename url rendition(spec: "width-40") { url width } } }`, ghostImage},
				{"node(id) image", "image", `query($id: ID!) { x: node(id: $id) { id ... on Image { title filename rendition(spec: "width-40") { url } } } }`, ghostImage},
				{"document(id)", "document", `query($id: ID!) { x: document(id: $id) { id title filename url } }`, ghostDoc},
				{"node(id) document", "document", `query($id: ID!) { x: node(id: $id) { id ... on Document { title filename } } }`, ghostDoc},
			}
			for _, v := range azViewers {
				t.Run(v, func(t *testing.T) {
					for _, q := range queries {
						// The answer for an item one may not see is the answer for no item at all.
						ghost := w.gql(v, q.q, map[string]any{"id": q.ghost})
						if outcome(ghost) != azNF {
							t.Fatalf("%s of an unknown id: %s", q.name, ghost.Raw)
						}
						for _, it := range w.matrixItems() {
							if it.kind != q.kind {
								continue
							}
							want := azMatrix[v].read[it.slot.index()]
							r := w.gql(v, q.q, map[string]any{"id": it.id})
							if got := outcome(r); got != want {
								t.Errorf("%s of %s %s: got %s, want %s: %.300s", q.name, it.kind, it.slot, got, want, r.Raw)
								continue
							}
							var out struct {
								X *struct {
									ID, Title string
									Rendition *struct{ URL string }
								}
							}
							_ = json.Unmarshal(r.Data, &out)
							switch {
							case want == azOK && (out.X == nil || out.X.ID != it.id || out.X.Title != it.title):
								t.Errorf("%s of %s %s: data %s", q.name, it.kind, it.slot, r.Data)
							case want == azOK && it.kind == "image" && (out.X.Rendition == nil || out.X.Rendition.URL == ""):
								t.Errorf("%s of %s %s: no rendition: %s", q.name, it.kind, it.slot, r.Data)
							case want != azOK && out.X != nil:
								t.Errorf("%s of %s %s: refused but data %s", q.name, it.kind, it.slot, r.Data)
							case want == azNF && (r.Errors[0].Message != ghost.Errors[0].Message || r.Status != ghost.Status):
								t.Errorf("%s of %s %s: hidden item answered %d %q, unknown id %d %q (existence leaks)",
									q.name, it.kind, it.slot, r.Status, r.Errors[0].Message, ghost.Status, ghost.Errors[0].Message)
							}
						}
					}
				})
			}
		})

		t.Run("serve", func(t *testing.T) {
			for _, v := range azViewers {
				t.Run(v, func(t *testing.T) {
					for _, it := range w.matrixItems() {
						want := azMatrix[v].serve[it.slot.index()]
						urls := map[string]string{it.kind: it.url}
						if it.kind == "image" {
							urls["rendition"] = it.rendition
						}
						for view, u := range urls {
							resp, body := w.get(t, v, u)
							if resp.StatusCode != want {
								t.Errorf("GET %s of %s: %d, want %d: %.200s", view, it.slot, resp.StatusCode, want, body)
								continue
							}
							cc := resp.Header.Get("Cache-Control")
							switch {
							case want == 200 && len(body) == 0:
								t.Errorf("GET %s of %s: empty body", view, it.slot)
							case want == 200 && it.slot.private && cc != "private, no-store":
								t.Errorf("GET %s of %s: Cache-Control %q, want private, no-store", view, it.slot, cc)
							case want == 200 && !it.slot.private && !strings.HasPrefix(cc, "public, max-age="):
								t.Errorf("GET %s of %s: Cache-Control %q, want public", view, it.slot, cc)
							case want != 200 && !strings.Contains(cc, "no-store"):
								t.Errorf("GET %s of %s: refusal is cacheable: %q", view, it.slot, cc)
							}
						}
					}
					// Unknown ids are 404 for everyone (not 403: there is nothing to protect).
					for _, u := range []string{"/media/originals/" + ghostImage + "/x.png", "/media/documents/" + ghostDoc + "/x.txt"} {
						if resp, _ := w.get(t, v, u); resp.StatusCode != http.StatusNotFound {
							t.Errorf("GET %s: %d, want 404", u, resp.StatusCode)
						}
					}
				})
			}
		})

		t.Run("lists", func(t *testing.T) {
			for _, v := range azViewers {
				t.Run(v, func(t *testing.T) { w.checkLists(t, v) })
			}
		})

		t.Run("change", func(t *testing.T) {
			for _, v := range azViewers {
				t.Run(v, func(t *testing.T) {
					for _, it := range w.matrixItems() {
						want := azMatrix[v].change[it.slot.index()]
						var r veiltest.Response
						if it.kind == "image" {
							r = w.gql(v, `mutation($id: ID!, $a: String) { x: updateImage(input: {id: $id, alt: $a}) { id alt } }`, map[string]any{"id": it.id, "a": "alt by " + v})
						} else {
							r = w.gql(v, `mutation($id: ID!, $t: [String!]) { x: updateDocument(input: {id: $id, tags: $t}) { id tags } }`, map[string]any{"id": it.id, "t": []string{"by-" + v}})
						}
						if got := outcome(r); got != want {
							t.Errorf("update%s of %s: got %s, want %s: %.300s", azTitle(it.kind), it.slot, got, want, r.Raw)
						}
					}
				})
			}
		})

		t.Run("add", func(t *testing.T) {
			for _, v := range azViewers {
				t.Run(v, func(t *testing.T) {
					for i, col := range azCols {
						want := azMatrix[v].add[i]
						for _, kind := range []string{"image", "document"} {
							title, name := w.azNames(kind, azSlot{col, true}, "upload-"+v)
							mutation := veiltest.UploadImageMutation
							if kind == "document" {
								mutation = veiltest.UploadDocumentMutation
							}
							r := w.srv.As(w.tokens[v]).Upload(mutation, map[string]any{"collectionId": w.cols[col], "title": title}, azPart(kind, name, w.n))
							w.record(v, "upload", string(r.Raw))
							if got := outcome(r); got != want {
								t.Errorf("upload%s into %s: got %s, want %s: %.300s", azTitle(kind), col, got, want, r.Raw)
							}
						}
						r := w.gql(v, `mutation($n: String!, $p: ID) { createCollection(input: {name: $n, parentId: $p}) { id } }`, map[string]any{"n": "by " + v, "p": w.cols[col]})
						if got := outcome(r); got != want {
							t.Errorf("createCollection under %s: got %s, want %s: %.300s", col, got, want, r.Raw)
						}
					}
				})
			}
		})

		t.Run("delete", func(t *testing.T) {
			// Every viewer gets its own victims: a successful delete must not change what the
			// next viewer is tested against.
			for _, v := range azViewers {
				t.Run(v, func(t *testing.T) {
					for _, s := range azSlots {
						for _, kind := range []string{"image", "document"} {
							it := w.add(t, kind, s, "victim-"+v)
							want := azMatrix[v].del[s.index()]
							r := w.gql(v, fmt.Sprintf(`mutation($id: ID!) { x: delete%s(id: $id) { deletedId } }`, azTitle(kind)), map[string]any{"id": it.id})
							if got := outcome(r); got != want {
								t.Errorf("delete%s of %s: got %s, want %s: %.300s", azTitle(kind), s, got, want, r.Raw)
							}
							after := w.srv.As(w.srv.AdminToken).GraphQL(fmt.Sprintf(`query($id: ID!) { %s(id: $id) { id } }`, kind), map[string]any{"id": it.id})
							if gone := outcome(after) == azNF; gone != (outcome(r) == azOK) {
								t.Errorf("delete%s of %s answered %s but the item is gone=%v", azTitle(kind), s, outcome(r), gone)
							}
						}
					}
				})
			}
		})

		w.checkNoLeaks(t, 500)
		tokens := []string{}
		for _, tok := range w.tokens {
			tokens = append(tokens, tok)
		}
		azNoSecretsInLogs(t, w.srv, tokens...)
	})
}

func azTitle(kind string) string { return strings.ToUpper(kind[:1]) + kind[1:] }

type azConn struct {
	TotalCount int
	PageInfo   struct {
		HasNextPage     bool
		HasPreviousPage bool
		EndCursor       *string
	}
	Nodes []struct{ ID, Title string }
}

func (c azConn) ids() []string {
	var out []string
	for _, n := range c.Nodes {
		out = append(out, n.ID)
	}
	slices.Sort(out)
	return out
}

// visible returns the sorted ids of the items of kind the viewer may read, among those keep accepts.
func (w *azWorld) visible(viewer, kind string, keep func(*azItem) bool) []string {
	var out []string
	for _, it := range w.items {
		if it.kind == kind && azCanRead(viewer, it.slot) && keep(it) {
			out = append(out, it.id)
		}
	}
	slices.Sort(out)
	return out
}

// checkLists: every list (top level, per collection, with subcollections, searched by title)
// holds exactly what the viewer may read and counts exactly that.
func (w *azWorld) checkLists(t *testing.T, v string) {
	t.Helper()
	all := func(*azItem) bool { return true }
	in := func(cols ...string) func(*azItem) bool {
		return func(it *azItem) bool { return slices.Contains(cols, it.slot.col) }
	}
	check := func(name string, c azConn, want []string) {
		t.Helper()
		if got := c.ids(); !slices.Equal(got, want) || c.TotalCount != len(want) {
			t.Errorf("%s: lists %d items (totalCount %d), want %d\n got %v\nwant %v", name, len(got), c.TotalCount, len(want), got, want)
		}
	}
	var top struct{ Images, Documents azConn }
	w.gql(v, `{ images(first: 100) { totalCount nodes { id title } } documents(first: 100) { totalCount nodes { id title } } }`, nil).Decode(t, &top)
	check("images", top.Images, w.visible(v, "image", all))
	check("documents", top.Documents, w.visible(v, "document", all))

	for _, col := range azCols {
		var c struct {
			Collection struct{ Images, Documents azConn }
		}
		w.gql(v, `query($c: ID!) { collection(id: $c) { images(first: 100) { totalCount nodes { id title } } documents(first: 100) { totalCount nodes { id title } } } }`,
			map[string]any{"c": w.cols[col]}).Decode(t, &c)
		check("collection("+col+").images", c.Collection.Images, w.visible(v, "image", in(col)))
		check("collection("+col+").documents", c.Collection.Documents, w.visible(v, "document", in(col)))
	}

	var sub struct{ Images, Documents azConn }
	w.gql(v, `query($c: ID) { images(first: 100, filter: {collectionId: $c, includeSubcollections: true}) { totalCount nodes { id title } } documents(first: 100, filter: {collectionId: $c, includeSubcollections: true}) { totalCount nodes { id title } } }`,
		map[string]any{"c": w.cols["A"]}).Decode(t, &sub)
	check("images in A and below", sub.Images, w.visible(v, "image", in("A", "Sub")))
	check("documents in A and below", sub.Documents, w.visible(v, "document", in("A", "Sub")))

	// Searching titles finds only what one may read.
	private := func(it *azItem) bool { return it.slot.private }
	var found struct{ Images, Documents azConn }
	w.gql(v, `{ images(first: 100, filter: {search: "AZSECRET"}) { totalCount nodes { id title } } documents(first: 100, filter: {search: "AZSECRET"}) { totalCount nodes { id title } } }`, nil).Decode(t, &found)
	check("images searched", found.Images, w.visible(v, "image", private))
	check("documents searched", found.Documents, w.visible(v, "document", private))
}

// TestAuthzListPaging: a viewer with VIEW on A pages two at a time through exactly the items they
// may see (every public item, the private ones of A and A/Sub, none of B's), with the right
// totalCount and hasNextPage on every page, and the SQL of every page is filtered by the policy.
func TestAuthzListPaging(t *testing.T) {
	veiltest.EachDB(t, func(t *testing.T, db *models.DB) {
		w := newAzWorld(t, db, 2)
		for _, v := range []string{"view", "anonymous", "delete", "admin"} {
			for _, kind := range []string{"image", "document"} {
				t.Run(v+"/"+kind, func(t *testing.T) {
					want := w.visible(v, kind, func(*azItem) bool { return true })
					if v == "view" && len(want) < 7 {
						t.Fatalf("only %d visible items: paging would prove little", len(want))
					}
					field := kind + "s"
					q := fmt.Sprintf(`query($a: String) { %s(first: 2, after: $a) { totalCount pageInfo { hasNextPage hasPreviousPage endCursor } nodes { id title } } }`, field)
					var got []string
					var after any
					for page := 0; ; page++ {
						if page > len(want) {
							t.Fatal("paging does not end")
						}
						r, sqls := w.tracedGQL(t, v, q, map[string]any{"a": after})
						var out map[string]azConn
						r.Decode(t, &out)
						c := out[field]
						got = append(got, c.ids()...)
						if c.TotalCount != len(want) {
							t.Errorf("page %d: totalCount %d, want %d", page, c.TotalCount, len(want))
						}
						if wantN := min(2, len(want)-2*page); len(c.Nodes) != wantN {
							t.Errorf("page %d: %d nodes, want %d", page, len(c.Nodes), wantN)
						}
						if c.PageInfo.HasNextPage != (len(got) < len(want)) || c.PageInfo.HasPreviousPage != (page > 0) {
							t.Errorf("page %d: pageInfo %+v after %d of %d", page, c.PageInfo, len(got), len(want))
						}
						if v != "admin" {
							w.checkFilteredSQL(t, v, field, sqls)
						}
						if !c.PageInfo.HasNextPage {
							break
						}
						after = *c.PageInfo.EndCursor
					}
					slices.Sort(got)
					if !slices.Equal(got, want) || len(slices.Compact(slices.Clone(got))) != len(got) {
						t.Errorf("paged through\n%v\nwant\n%v", got, want)
					}
				})
			}
		}
		w.checkNoLeaks(t, 20)
	})
}

// tracedGQL runs a GraphQL request as viewer and returns the SQL it executed.
func (w *azWorld) tracedGQL(t *testing.T, viewer, query string, vars map[string]any) (veiltest.Response, []string) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, w.srv.URL+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Az-Trace", "1")
	w.trace.take()
	r := w.srv.As(w.tokens[viewer]).Do(req)
	w.record(viewer, query, string(r.Raw))
	return r, w.trace.take()
}

// checkFilteredSQL: the page and its count each ran one statement on the table, both carrying the
// viewer's filter (public rows, or rows of collections under A for the VIEW holder; never B).
func (w *azWorld) checkFilteredSQL(t *testing.T, viewer, table string, sqls []string) {
	t.Helper()
	var page, count int
	for _, q := range sqls {
		if !strings.Contains(q, `"`+table+`"`) {
			continue
		}
		if strings.Contains(strings.ToLower(q), "count(") {
			count++
		} else if strings.Contains(q, "LIMIT 3") {
			page++
		} else {
			t.Errorf("unexpected statement on %s: %s", table, q)
		}
		if !strings.Contains(q, "PUBLIC") {
			t.Errorf("%s: statement on %s without the privacy filter: %s", viewer, table, q)
		}
		// Ids are compared without their "col_" prefix: LIKE patterns escape the underscore.
		if hasA := strings.Contains(q, w.cols["A"][4:]); hasA != (viewer == "view") {
			t.Errorf("%s: statement on %s mentions collection A = %v: %s", viewer, table, hasA, q)
		}
		if strings.Contains(q, w.cols["B"][4:]) {
			t.Errorf("%s: statement on %s mentions collection B: %s", viewer, table, q)
		}
	}
	if page != 1 || count != 1 {
		t.Errorf("%s: %d page and %d count statements on %s, want 1 and 1:\n%s", viewer, page, count, table, strings.Join(sqls, "\n"))
	}
}

// azProbe sends a GraphQL request and a serve-view GET for a public image with a raw Authorization
// header ("" sends none).
type azProbe struct {
	gqlStatus  int
	gqlCode    string
	gqlBody    string
	getStatus  int
	getBody    string
	wwwAuth    string
	retryAfter string
}

func azSend(t *testing.T, srv *veiltest.Server, header, publicID, publicURL string) azProbe {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": `query($id: ID!) { me { id } image(id: $id) { id title } }`, "variables": map[string]any{"id": publicID}})
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if header != "" {
		req.Header.Set("Authorization", header)
	}
	resp, err := srv.HTTP.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var gr veiltest.Response
	_ = json.Unmarshal(raw, &gr)
	p := azProbe{gqlStatus: resp.StatusCode, gqlCode: gr.Code(), gqlBody: string(raw), wwwAuth: resp.Header.Get("WWW-Authenticate"), retryAfter: resp.Header.Get("Retry-After")}
	h := http.Header{}
	if header != "" {
		h.Set("Authorization", header)
	}
	gresp, gbody := srv.As("").Get(t, publicURL, h)
	p.getStatus, p.getBody = gresp.StatusCode, string(gbody)
	return p
}

// TestAuthzBadTokens: expired, revoked, malformed, tampered and unknown tokens and tokens of
// deactivated users are refused with 401 UNAUTHENTICATED on GraphQL and serve views alike, never
// treated as anonymous (the public item they ask for is not returned); revocation and deactivation
// apply at once despite the auth cache.
func TestAuthzBadTokens(t *testing.T) {
	veiltest.EachDB(t, func(t *testing.T, db *models.DB) {
		acfg := auth.DefaultConfig()
		acfg.FailuresPerMinute = 100000 // this test is about 401s, not 429s
		acfg.CacheTTL = time.Minute     // a long cache: changes must still apply at once
		srv := veiltest.NewServer(t, db, &veiltest.ServerOptions{Auth: &acfg})
		pub := srv.UploadImage(t, azPart("image", "azpublic-probe", 1), map[string]any{"title": "[azpublic probe]"})
		if _, err := db.NewUpdate().Model((*models.Image)(nil)).Set("privacy = ?", models.Public).Where("id = ?", pub.ID).Exec(context.Background()); err != nil {
			t.Fatal(err)
		}
		uid, _ := azUserInGroup(t, srv, "holder")
		good, goodID := azTokenWithID(t, srv, uid, nil)
		other := azToken(t, srv, uid, nil)
		var secrets = []string{good, other}

		send := func(header string) azProbe { return azSend(t, srv, header, pub.ID, pub.URL) }
		wantOK := func(t *testing.T, name, header string, meNull bool) {
			t.Helper()
			p := send(header)
			if p.gqlStatus != 200 || p.gqlCode != "" || !strings.Contains(p.gqlBody, "[azpublic probe]") || p.getStatus != 200 {
				t.Errorf("%s: GraphQL %d %s, GET %d: %.300s", name, p.gqlStatus, p.gqlCode, p.getStatus, p.gqlBody)
			}
			if meNull != strings.Contains(p.gqlBody, `"me":null`) {
				t.Errorf("%s: me: %.300s", name, p.gqlBody)
			}
		}
		want401 := func(t *testing.T, name, header string) {
			t.Helper()
			p := send(header)
			if p.gqlStatus != 401 || p.gqlCode != azUN || p.wwwAuth == "" {
				t.Errorf("%s: GraphQL %d code %q WWW-Authenticate %q, want 401 UNAUTHENTICATED: %.300s", name, p.gqlStatus, p.gqlCode, p.wwwAuth, p.gqlBody)
			}
			if strings.Contains(p.gqlBody, "azpublic") || strings.Contains(p.gqlBody, `"data"`) {
				t.Errorf("%s: a refused request was answered as anonymous: %.300s", name, p.gqlBody)
			}
			if p.getStatus != 401 {
				t.Errorf("%s: GET of a public original with it: %d, want 401 (never anonymous)", name, p.getStatus)
			}
		}

		wantOK(t, "no header (anonymous)", "", true)
		wantOK(t, "valid", "Bearer "+good, false)
		wantOK(t, "valid, scheme in lower case", "bearer "+good, false)

		id, secret := good[:35], good[36:] // "veil_tok_<ulid>", "<secret>"
		flip := func(s string, i int) string {
			b := []byte(s)
			if b[i] == 'A' {
				b[i] = 'B'
			} else {
				b[i] = 'A'
			}
			return string(b)
		}
		malformed := []struct{ name, header string }{
			{"nonsense", "Bearer nonsense"},
			{"Basic scheme", "Basic x"},
			{"Basic scheme with a valid token", "Basic " + good},
			{"no scheme", good},
			{"prefix only", "Bearer veil_"},
			{"id without secret", "Bearer " + id},
			{"id and separator without secret", "Bearer " + id + "_"},
			{"overlong 10 kB", "Bearer " + strings.Repeat("a", 10<<10)},
			{"valid token with 10 kB appended", "Bearer " + good + strings.Repeat("a", 10<<10)},
			{"tampered secret (first char)", "Bearer " + id + "_" + flip(secret, 0)},
			{"tampered secret (last char)", "Bearer " + id + "_" + flip(secret, len(secret)-1)},
			{"secret truncated", "Bearer " + id + "_" + secret[:len(secret)-1]},
			{"tampered id", "Bearer " + flip(id, len(id)-1) + "_" + secret},
			{"unknown id", "Bearer veil_tok_" + ulid.Make().String() + "_" + secret},
			{"secret of another token", "Bearer " + id + "_" + other[36:]},
		}
		for _, c := range malformed {
			t.Run(c.name, func(t *testing.T) { want401(t, c.name, c.header) })
		}

		t.Run("expired (row in the past)", func(t *testing.T) {
			sec := "azexpired_" + strings.Repeat("x-", 16)
			h := sha256.Sum256([]byte(sec))
			past := models.Now().Add(-time.Minute)
			tok := &models.Token{ID: "tok_" + ulid.Make().String(), UserID: uid, Name: "expired", SecretHash: h[:], ExpiresAt: &past, CreatedAt: past.Add(-time.Hour)}
			if _, err := db.NewInsert().Model(tok).Exec(context.Background()); err != nil {
				t.Fatal(err)
			}
			secrets = append(secrets, "veil_"+tok.ID+"_"+sec)
			// The row is accepted as a token at all: the same secret with a future expiry works.
			future := models.Now().Add(time.Hour)
			live := *tok
			live.ID, live.ExpiresAt = "tok_"+ulid.Make().String(), &future
			if _, err := db.NewInsert().Model(&live).Exec(context.Background()); err != nil {
				t.Fatal(err)
			}
			wantOK(t, "same secret, future expiry", "Bearer veil_"+live.ID+"_"+sec, false)
			want401(t, "expired", "Bearer veil_"+tok.ID+"_"+sec)
		})

		t.Run("expired (expiresInSeconds: 1, cached while valid)", func(t *testing.T) {
			ttl := 1
			short := azToken(t, srv, uid, &ttl)
			secrets = append(secrets, short)
			wantOK(t, "before expiry", "Bearer "+short, false) // now in the auth cache
			deadline := time.Now().Add(10 * time.Second)
			for send("Bearer "+short).gqlStatus == 200 {
				if time.Now().After(deadline) {
					t.Fatal("a token with expiresInSeconds: 1 still works after 10 s")
				}
				time.Sleep(50 * time.Millisecond)
			}
			want401(t, "expired", "Bearer "+short)
		})

		t.Run("revoked", func(t *testing.T) {
			wantOK(t, "before revocation", "Bearer "+good, false) // cached
			var out struct {
				RevokeToken struct{ RevokedAt *time.Time }
			}
			srv.GraphQL(`mutation($id: ID!) { revokeToken(id: $id) { revokedAt } }`, map[string]any{"id": goodID}).Decode(t, &out)
			if out.RevokeToken.RevokedAt == nil {
				t.Error("revokeToken returned no revokedAt")
			}
			want401(t, "revoked a moment after use", "Bearer "+good)
			wantOK(t, "another token of the same user", "Bearer "+other, false)
		})

		t.Run("revoked by its owner", func(t *testing.T) {
			tok, tokID := azTokenWithID(t, srv, uid, nil)
			secrets = append(secrets, tok)
			r := srv.As(tok).GraphQL(`mutation($id: ID!) { revokeToken(id: $id) { id } }`, map[string]any{"id": tokID})
			if outcome(r) != azOK {
				t.Fatalf("owner could not revoke: %s", r.Raw)
			}
			want401(t, "revoked by owner", "Bearer "+tok)
		})

		t.Run("deactivated user", func(t *testing.T) {
			wantOK(t, "before deactivation", "Bearer "+other, false) // cached
			srv.GraphQL(`mutation($u: ID!) { updateUser(input: {id: $u, active: false}) { active } }`, map[string]any{"u": uid}).Decode(t, &struct{}{})
			want401(t, "deactivated a moment after use", "Bearer "+other)
			srv.GraphQL(`mutation($u: ID!) { updateUser(input: {id: $u, active: true}) { active } }`, map[string]any{"u": uid}).Decode(t, &struct{}{})
			wantOK(t, "reactivated", "Bearer "+other, false)
		})

		azNoSecretsInLogs(t, srv, append(secrets, srv.AdminToken)...)
		if !strings.Contains(srv.Logs.String(), "authentication failed") {
			t.Error("failed authentications are not logged")
		}
	})
}

// TestAuthzRateLimit: with 5 failures allowed per minute, the 6th bad attempt from one address is
// 429 with Retry-After, on GraphQL and serve views; requests without Authorization still work.
func TestAuthzRateLimit(t *testing.T) {
	veiltest.EachDB(t, func(t *testing.T, db *models.DB) {
		acfg := auth.DefaultConfig()
		acfg.FailuresPerMinute = 5
		srv := veiltest.NewServer(t, db, &veiltest.ServerOptions{Auth: &acfg})
		pub := srv.UploadImage(t, azPart("image", "azpublic-rl", 2), map[string]any{"title": "[azpublic rl]"})
		if _, err := db.NewUpdate().Model((*models.Image)(nil)).Set("privacy = ?", models.Public).Where("id = ?", pub.ID).Exec(context.Background()); err != nil {
			t.Fatal(err)
		}
		bad := "Bearer veil_tok_" + ulid.Make().String() + "_" + strings.Repeat("z", 43)
		body, _ := json.Marshal(map[string]any{"query": `{ me { id } }`})
		attempt := func() *http.Response {
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/graphql", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", bad)
			resp, err := srv.HTTP.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return resp
		}
		for i := 1; i <= 5; i++ {
			if resp := attempt(); resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("bad attempt %d: %d, want 401", i, resp.StatusCode)
			}
		}
		r := azSend(t, srv, bad, pub.ID, pub.URL)
		if r.gqlStatus != http.StatusTooManyRequests {
			t.Fatalf("6th bad attempt: %d, want 429: %s", r.gqlStatus, r.gqlBody)
		}
		if s, err := strconv.Atoi(r.retryAfter); err != nil || s < 1 || s > 61 {
			t.Errorf("Retry-After %q, want whole seconds within the minute", r.retryAfter)
		}
		if r.gqlCode == "" || strings.Contains(r.gqlBody, "azpublic") {
			t.Errorf("429 body: %s", r.gqlBody)
		}
		if r.getStatus != http.StatusTooManyRequests {
			t.Errorf("serve view with a bad token while blocked: %d, want 429", r.getStatus)
		}
		// Anonymous requests are not blocked: no credentials were presented.
		anon := azSend(t, srv, "", pub.ID, pub.URL)
		if anon.gqlStatus != 200 || !strings.Contains(anon.gqlBody, "[azpublic rl]") || anon.getStatus != 200 {
			t.Errorf("anonymous from a blocked address: GraphQL %d %s, GET %d", anon.gqlStatus, anon.gqlBody, anon.getStatus)
		}
		azNoSecretsInLogs(t, srv, srv.AdminToken)
	})
}

// TestAuthzPreviewTokens: createPreviewToken needs PUBLISH (anonymous: UNAUTHENTICATED; others:
// FORBIDDEN), its TTL is bounded, and a preview token opens the private media of its content's
// draft until it expires; tampered and expired tokens are refused.
func TestAuthzPreviewTokens(t *testing.T) {
	veiltest.EachDB(t, func(t *testing.T, db *models.DB) {
		acfg := auth.DefaultConfig()
		acfg.MaxPreviewTTL = time.Hour
		srv := veiltest.NewServer(t, db, &veiltest.ServerOptions{Auth: &acfg})
		img := srv.UploadImage(t, azPart("image", "azsecret-preview", 3), map[string]any{"title": "[AZSECRET preview]"})
		var c struct{ UpsertContent struct{ ID string } }
		srv.GraphQL(`mutation($m: ID!) { upsertContent(input: {kind: "page", key: "draft", references: [{mediaId: $m}]}) { id } }`, map[string]any{"m": img.ID}).Decode(t, &c)
		content := c.UpsertContent.ID

		pubUser, pubGroup := azUserInGroup(t, srv, "publisher")
		azGrant(t, srv, pubGroup, "PUBLISH", "")
		plainUser, _ := azUserInGroup(t, srv, "plain")
		tokens := map[string]string{"anonymous": "", "plain": azToken(t, srv, plainUser, nil), "publisher": azToken(t, srv, pubUser, nil), "admin": srv.AdminToken}

		q := `mutation($c: ID!, $ttl: Int!) { createPreviewToken(contentId: $c, ttlSeconds: $ttl) { token expiresAt } }`
		type out struct {
			CreatePreviewToken struct {
				Token     string
				ExpiresAt time.Time
			}
		}
		cases := []struct {
			viewer string
			ttl    int
			want   string
		}{
			{"anonymous", 60, azUN},
			{"plain", 60, azFB},
			{"publisher", 60, azOK},
			{"admin", 60, azOK},
			{"publisher", 3600, azOK},
			{"publisher", 3601, azBI},
			{"publisher", 0, azBI},
			{"publisher", -5, azBI},
		}
		var issued []string
		for _, tc := range cases {
			r := srv.As(tokens[tc.viewer]).GraphQL(q, map[string]any{"c": content, "ttl": tc.ttl})
			if got := outcome(r); got != tc.want {
				t.Errorf("%s, ttlSeconds %d: got %s, want %s: %s", tc.viewer, tc.ttl, got, tc.want, r.Raw)
				continue
			}
			if tc.want != azOK {
				continue
			}
			var o out
			r.Decode(t, &o)
			cid, exp, err := srv.Auth.VerifyPreviewToken(o.CreatePreviewToken.Token)
			if err != nil || cid != content || !exp.Equal(o.CreatePreviewToken.ExpiresAt) {
				t.Errorf("%s: fresh token verifies as %q %v %v, want %s %v", tc.viewer, cid, exp, err, content, o.CreatePreviewToken.ExpiresAt)
			}
			if d := time.Until(exp); d > time.Duration(tc.ttl)*time.Second || d < time.Duration(tc.ttl)*time.Second-5*time.Second {
				t.Errorf("%s: expires in %v, want about %ds", tc.viewer, d, tc.ttl)
			}
			issued = append(issued, o.CreatePreviewToken.Token)
		}
		if len(issued) == 0 {
			t.Fatal("no preview token issued")
		}
		tok := issued[0]
		payload, sig, _ := strings.Cut(tok, ".")
		flip := func(s string, i int) string {
			b := []byte(s)
			b[i] ^= 1
			return string(b)
		}
		otherPayload := ""
		for _, o := range issued {
			if p, _, _ := strings.Cut(o, "."); p != payload {
				otherPayload = p // another expiry: another payload
			}
		}
		if otherPayload == "" {
			t.Fatal("every issued preview token has the same claims")
		}
		for name, bad := range map[string]string{
			"payload tampered":             flip(payload, len(payload)/2) + "." + sig,
			"signature tampered":           payload + "." + flip(sig, 3),
			"signature of another token":   otherPayload + "." + sig,
			"no signature":                 payload,
			"empty":                        "",
			"signature only":               "." + sig,
			"extended claims, same sig":    payload + "e30" + "." + sig,
			"signature with appended data": tok + "AA",
		} {
			if _, _, err := srv.Auth.VerifyPreviewToken(bad); !errors.Is(err, auth.ErrBadPreviewToken) {
				t.Errorf("%s: accepted (err %v)", name, err)
			}
		}

		// The serve view: the private image opens with a valid preview token whose creator may read
		// it (the admin's, issued second), and only then; the publisher's token does not (PUBLISH
		// alone does not read private media: TestPublishWithoutViewPreview).
		adminTok := issued[1]
		anon := srv.As("")
		get := func(query string) (int, string) {
			resp, _ := anon.Get(t, img.URL+query, nil)
			return resp.StatusCode, resp.Header.Get("Cache-Control")
		}
		if s, _ := get(""); s != 403 {
			t.Errorf("private image without preview token: %d, want 403", s)
		}
		if s, cc := get("?preview=" + adminTok); s != 200 || cc != "private, no-store" {
			t.Errorf("private image with a preview token: %d %q, want 200 private, no-store", s, cc)
		}
		if s, _ := get("?preview=" + tok); s != 403 {
			t.Errorf("private image with the preview token of a publisher who may not read it: %d, want 403", s)
		}
		if s, _ := get("?preview=" + payload + "." + flip(sig, 3)); s != 403 {
			t.Errorf("private image with a tampered preview token: %d, want 403", s)
		}

		// Expiry: a one-second token stops verifying, and stops opening the image.
		var o out
		srv.As(tokens["admin"]).GraphQL(q, map[string]any{"c": content, "ttl": 1}).Decode(t, &o)
		short := o.CreatePreviewToken.Token
		deadline := time.Now().Add(10 * time.Second)
		for {
			_, _, err := srv.Auth.VerifyPreviewToken(short)
			if err != nil {
				if !errors.Is(err, auth.ErrBadPreviewToken) {
					t.Errorf("expired: %v", err)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("a preview token with ttlSeconds 1 still verifies after 10 s")
			}
			time.Sleep(50 * time.Millisecond)
		}
		if s, _ := get("?preview=" + short); s != 403 {
			t.Errorf("private image with an expired preview token: %d, want 403", s)
		}
		azNoSecretsInLogs(t, srv, append(issued, short, tokens["plain"], tokens["publisher"], srv.AdminToken)...)
	})
}

// TestAuthzManagement: user, group, grant and token management is for MANAGE_USERS holders and
// admins (others FORBIDDEN, anonymous UNAUTHENTICATED); a non-admin manager cannot make or act as
// an admin nor hand out MANAGE_USERS; nobody deactivates or demotes themself; me; token secrets are
// shown once and stored only as a SHA-256; grant changes apply at once.
func TestAuthzManagement(t *testing.T) {
	veiltest.EachDB(t, func(t *testing.T, db *models.DB) {
		srv := veiltest.NewServer(t, db, nil)
		admin := srv.As(srv.AdminToken)
		var me struct{ Me struct{ ID string } }
		admin.GraphQL(`{ me { id } }`, nil).Decode(t, &me)
		adminID := me.Me.ID
		var col struct{ CreateCollection struct{ ID string } }
		admin.GraphQL(`mutation { createCollection(input: {name: "M"}) { id } }`, nil).Decode(t, &col)
		colM := col.CreateCollection.ID

		mgrID, mgrGroup := azUserInGroup(t, srv, "manager")
		azGrant(t, srv, mgrGroup, "MANAGE_USERS", "")
		plainID, _ := azUserInGroup(t, srv, "plain")
		tokens := map[string]string{"anonymous": "", "plain": azToken(t, srv, plainID, nil), "manager": azToken(t, srv, mgrID, nil), "admin": srv.AdminToken}
		userOf := map[string]string{"plain": plainID, "manager": mgrID, "admin": adminID}
		admin2ID, _ := azUserInGroup(t, srv, "admin2")
		admin.GraphQL(`mutation($u: ID!) { updateUser(input: {id: $u, isAdmin: true}) { id } }`, map[string]any{"u": admin2ID}).Decode(t, &struct{}{})

		n := 0
		fresh := func(t *testing.T, name string) (string, string) { // a new user and group, made by the admin
			n++
			return azUserInGroup(t, srv, fmt.Sprintf("%s%d", name, n))
		}
		type op struct {
			name  string
			setup func(t *testing.T, viewer string) (string, map[string]any) // query and variables; fixtures made as admin
			want  map[string]string                                          // viewer → outcome
		}
		std := map[string]string{"anonymous": azUN, "plain": azFB, "manager": azOK, "admin": azOK}
		adminOnly := map[string]string{"anonymous": azUN, "plain": azFB, "manager": azFB, "admin": azOK}
		self := map[string]string{"anonymous": azUN, "plain": azOK, "manager": azOK, "admin": azOK}
		fixed := func(q string, vars map[string]any) func(t *testing.T, _ string) (string, map[string]any) {
			return func(*testing.T, string) (string, map[string]any) { return q, vars }
		}
		ops := []op{
			{"users", fixed(`{ users { id email } }`, nil), std},
			{"groups", fixed(`{ groups { id members { id } grants { permission } } }`, nil), std},
			{"createUser", func(t *testing.T, v string) (string, map[string]any) {
				n++
				return `mutation($e: String!) { createUser(input: {name: "new", email: $e}) { id } }`, map[string]any{"e": fmt.Sprintf("new%d@authz.example", n)}
			}, std},
			{"createUser isAdmin", func(t *testing.T, v string) (string, map[string]any) {
				n++
				return `mutation($e: String!) { createUser(input: {name: "new", email: $e, isAdmin: true}) { id } }`, map[string]any{"e": fmt.Sprintf("newadmin%d@authz.example", n)}
			}, adminOnly},
			{"updateUser name", func(t *testing.T, _ string) (string, map[string]any) {
				u, _ := fresh(t, "target")
				return `mutation($u: ID!) { updateUser(input: {id: $u, name: "renamed"}) { id } }`, map[string]any{"u": u}
			}, std},
			{"updateUser active: false", func(t *testing.T, _ string) (string, map[string]any) {
				u, _ := fresh(t, "target")
				return `mutation($u: ID!) { updateUser(input: {id: $u, active: false}) { id } }`, map[string]any{"u": u}
			}, std},
			{"updateUser isAdmin: true", func(t *testing.T, _ string) (string, map[string]any) {
				u, _ := fresh(t, "target")
				return `mutation($u: ID!) { updateUser(input: {id: $u, isAdmin: true}) { id } }`, map[string]any{"u": u}
			}, adminOnly},
			{"updateUser of an admin", func(t *testing.T, v string) (string, map[string]any) {
				u, _ := fresh(t, "otheradmin")
				admin.GraphQL(`mutation($u: ID!) { updateUser(input: {id: $u, isAdmin: true}) { id } }`, map[string]any{"u": u}).Decode(t, &struct{}{})
				return `mutation($u: ID!) { updateUser(input: {id: $u, active: false}) { id } }`, map[string]any{"u": u}
			}, adminOnly},
			{"createGroup", func(t *testing.T, _ string) (string, map[string]any) {
				n++
				return `mutation($n: String!) { createGroup(name: $n) { id } }`, map[string]any{"n": fmt.Sprint("group", n)}
			}, std},
			{"addToGroup", func(t *testing.T, _ string) (string, map[string]any) {
				u, _ := fresh(t, "member")
				_, g := fresh(t, "group")
				return `mutation($g: ID!, $u: ID!) { addToGroup(groupId: $g, userId: $u) { id } }`, map[string]any{"g": g, "u": u}
			}, std},
			{"addToGroup of a MANAGE_USERS group", func(t *testing.T, _ string) (string, map[string]any) {
				u, _ := fresh(t, "member")
				return `mutation($g: ID!, $u: ID!) { addToGroup(groupId: $g, userId: $u) { id } }`, map[string]any{"g": mgrGroup, "u": u}
			}, adminOnly},
			{"removeFromGroup", func(t *testing.T, _ string) (string, map[string]any) {
				u, g := fresh(t, "member")
				return `mutation($g: ID!, $u: ID!) { removeFromGroup(groupId: $g, userId: $u) { id } }`, map[string]any{"g": g, "u": u}
			}, std},
			{"grant VIEW", func(t *testing.T, _ string) (string, map[string]any) {
				_, g := fresh(t, "grantee")
				return `mutation($g: ID!, $c: ID) { grant(input: {groupId: $g, permission: VIEW, collectionId: $c}) { id } }`, map[string]any{"g": g, "c": colM}
			}, std},
			{"revoke VIEW", func(t *testing.T, _ string) (string, map[string]any) {
				_, g := fresh(t, "grantee")
				azGrant(t, srv, g, "VIEW", colM)
				return `mutation($g: ID!, $c: ID) { revoke(input: {groupId: $g, permission: VIEW, collectionId: $c}) { id } }`, map[string]any{"g": g, "c": colM}
			}, std},
			{"grant MANAGE_USERS", func(t *testing.T, _ string) (string, map[string]any) {
				_, g := fresh(t, "grantee")
				return `mutation($g: ID!) { grant(input: {groupId: $g, permission: MANAGE_USERS}) { id } }`, map[string]any{"g": g}
			}, adminOnly},
			{"revoke MANAGE_USERS", func(t *testing.T, _ string) (string, map[string]any) {
				_, g := fresh(t, "grantee")
				azGrant(t, srv, g, "MANAGE_USERS", "")
				return `mutation($g: ID!) { revoke(input: {groupId: $g, permission: MANAGE_USERS}) { id } }`, map[string]any{"g": g}
			}, adminOnly},
			{"createToken for yourself", fixed(`mutation { createToken(input: {name: "mine"}) { token } }`, nil), self},
			{"createToken for another user", func(t *testing.T, _ string) (string, map[string]any) {
				u, _ := fresh(t, "owner")
				return `mutation($u: ID) { createToken(input: {name: "theirs", userId: $u}) { token } }`, map[string]any{"u": u}
			}, std},
			{"createToken for another admin", fixed(`mutation($u: ID) { createToken(input: {name: "theirs", userId: $u}) { token } }`, map[string]any{"u": admin2ID}),
				map[string]string{"anonymous": azUN, "plain": azFB, "manager": azFB, "admin": azOK}},
			{"tokens (yours)", fixed(`{ tokens { id name } }`, nil), self},
			{"tokens of another user", func(t *testing.T, _ string) (string, map[string]any) {
				u, _ := fresh(t, "owner")
				return `query($u: ID) { tokens(userId: $u) { id } }`, map[string]any{"u": u}
			}, std},
			{"revokeToken of another user", func(t *testing.T, _ string) (string, map[string]any) {
				u, _ := fresh(t, "owner")
				_, id := azTokenWithID(t, srv, u, nil)
				return `mutation($id: ID!) { revokeToken(id: $id) { id } }`, map[string]any{"id": id}
			}, map[string]string{"anonymous": azUN, "plain": azNF, "manager": azOK, "admin": azOK}},
			{"revokeToken of your own", func(t *testing.T, v string) (string, map[string]any) {
				id := "tok_" + ulid.Make().String()
				if v != "anonymous" {
					_, id = azTokenWithID(t, srv, userOf[v], nil)
				}
				return `mutation($id: ID!) { revokeToken(id: $id) { id } }`, map[string]any{"id": id}
			}, self},
			{"node of another user", func(t *testing.T, _ string) (string, map[string]any) {
				u, _ := fresh(t, "seen")
				return `query($u: ID!) { node(id: $u) { id ... on User { email } } }`, map[string]any{"u": u}
			}, std},
		}
		viewers := []string{"anonymous", "plain", "manager", "admin"}
		for _, o := range ops {
			t.Run(o.name, func(t *testing.T) {
				for _, v := range viewers {
					q, vars := o.setup(t, v)
					r := srv.As(tokens[v]).GraphQL(q, vars)
					if got := outcome(r); got != o.want[v] {
						t.Errorf("%s: got %s, want %s: %s", v, got, o.want[v], r.Raw)
					}
				}
			})
		}

		t.Run("nobody deactivates or demotes themself", func(t *testing.T) {
			for _, c := range []struct{ viewer, input string }{
				{"admin", `active: false`}, {"admin", `isAdmin: false`}, {"manager", `active: false`},
			} {
				r := srv.As(tokens[c.viewer]).GraphQL(fmt.Sprintf(`mutation($u: ID!) { updateUser(input: {id: $u, %s}) { id } }`, c.input), map[string]any{"u": userOf[c.viewer]})
				if got := outcome(r); got != azBI && got != azFB {
					t.Errorf("%s {%s} on themself: got %s, want a refusal: %s", c.viewer, c.input, got, r.Raw)
				}
			}
			var u struct {
				Me struct{ IsAdmin, Active bool }
			}
			admin.GraphQL(`{ me { isAdmin active } }`, nil).Decode(t, &u)
			if !u.Me.IsAdmin || !u.Me.Active {
				t.Errorf("admin after self-demotion attempts: %+v", u.Me)
			}
			srv.As(tokens["manager"]).GraphQL(`{ me { isAdmin active } }`, nil).Decode(t, &u)
			if !u.Me.Active {
				t.Error("manager deactivated themself")
			}
		})

		t.Run("me", func(t *testing.T) {
			var out struct {
				Me *struct {
					ID, Email       string
					IsAdmin, Active bool
					Groups          []struct{ ID string }
				}
			}
			srv.As(tokens["plain"]).GraphQL(`{ me { id email isAdmin active groups { id } } }`, nil).Decode(t, &out)
			if out.Me == nil || out.Me.ID != plainID || out.Me.Email != "plain@authz.example" || out.Me.IsAdmin || !out.Me.Active || len(out.Me.Groups) != 1 {
				t.Errorf("me as plain: %+v", out.Me)
			}
			r := srv.As("").GraphQL(`{ me { id } }`, nil)
			if outcome(r) != azOK || string(r.Data) != `{"me":null}` {
				t.Errorf("me as anonymous: %s", r.Raw)
			}
		})

		t.Run("token secret shown once, stored as SHA-256", func(t *testing.T) {
			tok, id := azTokenWithID(t, srv, plainID, nil)
			secret := tok[36:]
			r := srv.As(tokens["plain"]).GraphQL(`{ tokens { id name createdAt expiresAt lastUsedAt revokedAt } }`, nil)
			if !strings.Contains(string(r.Raw), id) || strings.Contains(string(r.Raw), secret) {
				t.Errorf("tokens: %s", r.Raw)
			}
			var intro struct {
				Type struct{ Fields []struct{ Name string } } `json:"__type"`
			}
			srv.GraphQL(`{ __type(name: "ApiToken") { fields { name } } }`, nil).Decode(t, &intro)
			for _, f := range intro.Type.Fields {
				if !slices.Contains([]string{"id", "name", "createdAt", "expiresAt", "lastUsedAt", "revokedAt"}, f.Name) {
					t.Errorf("ApiToken has a field %q", f.Name)
				}
			}
			var row map[string]any
			if err := db.NewSelect().Table("tokens").Where("id = ?", id).Scan(context.Background(), &row); err != nil {
				t.Fatal(err)
			}
			hash, _ := row["secret_hash"].([]byte)
			want := sha256.Sum256([]byte(secret))
			if !bytes.Equal(hash, want[:]) {
				t.Errorf("secret_hash is %x, want the SHA-256 of the secret", hash)
			}
			if strings.Contains(fmt.Sprint(row), secret) || bytes.Contains(hash, []byte(secret)) {
				t.Errorf("the token row holds the secret: %v", row)
			}
		})

		t.Run("grant changes apply at once", func(t *testing.T) {
			uid, gid := fresh(t, "late")
			tok := azToken(t, srv, uid, nil)
			img := admin.UploadImage(t, azPart("image", "azsecret-late", 4), map[string]any{"collectionId": colM, "title": "[AZSECRET late]"})
			read := func() string {
				return outcome(srv.As(tok).GraphQL(`query($id: ID!) { image(id: $id) { id } }`, map[string]any{"id": img.ID}))
			}
			if got := read(); got != azNF {
				t.Fatalf("before the grant: %s", got)
			}
			azGrant(t, srv, gid, "VIEW", colM)
			if got := read(); got != azOK {
				t.Errorf("right after grant VIEW: %s", got)
			}
			admin.GraphQL(`mutation($g: ID!, $u: ID!) { removeFromGroup(groupId: $g, userId: $u) { id } }`, map[string]any{"g": gid, "u": uid}).Decode(t, &struct{}{})
			if got := read(); got != azNF {
				t.Errorf("right after removeFromGroup: %s", got)
			}
			admin.GraphQL(`mutation($g: ID!, $u: ID!) { addToGroup(groupId: $g, userId: $u) { id } }`, map[string]any{"g": gid, "u": uid}).Decode(t, &struct{}{})
			if got := read(); got != azOK {
				t.Errorf("right after addToGroup: %s", got)
			}
			admin.GraphQL(`mutation($g: ID!, $c: ID) { revoke(input: {groupId: $g, permission: VIEW, collectionId: $c}) { id } }`, map[string]any{"g": gid, "c": colM}).Decode(t, &struct{}{})
			if got := read(); got != azNF {
				t.Errorf("right after revoke VIEW: %s", got)
			}
		})

		azNoSecretsInLogs(t, srv, tokens["plain"], tokens["manager"], srv.AdminToken)
	})
}

// TestAuthzCSRFAndCORS: a multipart upload that a cross-site page could send without a preflight
// is refused with CSRF_PROTECTION and stores nothing; CORS preflights are answered for configured
// origins only.
func TestAuthzCSRFAndCORS(t *testing.T) {
	veiltest.EachDB(t, func(t *testing.T, db *models.DB) {
		scfg := server.DefaultConfig()
		scfg.CORSOrigins = []string{"https://app.example"}
		srv := veiltest.NewServer(t, db, &veiltest.ServerOptions{Server: &scfg})
		upload := func(as *veiltest.Server, n int, header string) veiltest.Response {
			req := as.MultipartRequest(veiltest.UploadImageMutation, map[string]any{"input": map[string]any{"file": nil}},
				[]string{"variables.input.file"}, map[string]veiltest.Part{"variables.input.file": azPart("image", "csrf", n)})
			req.Header.Del("Apollo-Require-Preflight")
			if header != "" {
				req.Header.Set(header, "1")
			}
			return as.Do(req)
		}
		before := srv.RowCounts(t)
		r := upload(srv.As(""), 10, "")
		if r.Status != http.StatusBadRequest || r.Code() != "CSRF_PROTECTION" {
			t.Errorf("multipart without Authorization or a non-simple header: %d %s", r.Status, r.Raw)
		}
		if after := srv.RowCounts(t); fmt.Sprint(after) != fmt.Sprint(before) {
			t.Errorf("a refused upload changed rows: %v → %v", before, after)
		}
		for i, h := range []string{"Apollo-Require-Preflight", "X-Apollo-Operation-Name", "X-Requested-With"} {
			// Past the guard, an anonymous upload is refused by the policy instead.
			if r := upload(srv.As(""), 11+i, h); r.Code() != azUN {
				t.Errorf("anonymous multipart with %s: %s, want UNAUTHENTICATED", h, r.Raw)
			}
		}
		if r := upload(srv, 20, ""); outcome(r) != azOK {
			t.Errorf("multipart with Authorization and no other header: %s", r.Raw)
		}

		preflight := func(origin string) http.Header {
			req, _ := http.NewRequest(http.MethodOptions, srv.URL+"/graphql", nil)
			req.Header.Set("Origin", origin)
			req.Header.Set("Access-Control-Request-Method", "POST")
			req.Header.Set("Access-Control-Request-Headers", "authorization, content-type, apollo-require-preflight")
			resp, err := srv.HTTP.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.Header
		}
		h := preflight("https://app.example")
		allowHeaders := strings.ToLower(h.Get("Access-Control-Allow-Headers"))
		if h.Get("Access-Control-Allow-Origin") != "https://app.example" || !strings.Contains(h.Get("Access-Control-Allow-Methods"), "POST") ||
			!strings.Contains(allowHeaders, "authorization") || !strings.Contains(allowHeaders, "apollo-require-preflight") {
			t.Errorf("preflight from the allowed origin: %v", h)
		}
		for _, origin := range []string{"https://evil.example", "https://app.example.evil.example", "null", "http://app.example"} {
			h := preflight(origin)
			if h.Get("Access-Control-Allow-Origin") != "" || h.Get("Access-Control-Allow-Headers") != "" || h.Get("Access-Control-Allow-Methods") != "" {
				t.Errorf("preflight from %s: %v", origin, h)
			}
		}
		// An actual cross-origin request from a foreign origin gets no CORS approval either.
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/graphql?query=%7Bme%7Bid%7D%7D", nil)
		req.Header.Set("Origin", "https://evil.example")
		resp, err := srv.HTTP.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("GET from a foreign origin approved: %v", resp.Header)
		}

		// The default allows no origin at all.
		def := veiltest.NewServer(t, db, nil)
		req, _ = http.NewRequest(http.MethodOptions, def.URL+"/graphql", nil)
		req.Header.Set("Origin", "https://app.example")
		req.Header.Set("Access-Control-Request-Method", "POST")
		resp, err = def.HTTP.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("default configuration answers a preflight: %v", resp.Header)
		}
		azNoSecretsInLogs(t, srv, srv.AdminToken)
	})
}

// TestManagersCannotRevokeAdminTokens: a MANAGE_USERS holder revokes other users' tokens but not an
// admin's (as with updateUser, admins are managed only by admins); an admin can.
func TestManagersCannotRevokeAdminTokens(t *testing.T) {
	srv := veiltest.NewServer(t, veiltest.SQLite(t), nil)
	mgr, mgrGroup := azUserInGroup(t, srv, "manager")
	azGrant(t, srv, mgrGroup, "MANAGE_USERS", "")
	mgrTok := azToken(t, srv, mgr, nil)
	plain, _ := azUserInGroup(t, srv, "plain")
	_, plainTokID := azTokenWithID(t, srv, plain, nil)
	var toks struct{ Tokens []struct{ ID string } }
	srv.GraphQL(`{ tokens { id } }`, nil).Decode(t, &toks)
	if len(toks.Tokens) == 0 {
		t.Fatal("the admin has no tokens")
	}
	adminTokID := toks.Tokens[0].ID
	revoke := `mutation($id: ID!) { revokeToken(id: $id) { revokedAt } }`
	if r := srv.As(mgrTok).GraphQL(revoke, map[string]any{"id": adminTokID}); r.Code() != azFB {
		t.Errorf("manager revoking an admin's token: %s", r.Raw)
	}
	if r := srv.GraphQL(`{ me { id } }`, nil); r.Code() != "" {
		t.Errorf("the admin's token must still work: %s", r.Raw)
	}
	if r := srv.As(mgrTok).GraphQL(revoke, map[string]any{"id": plainTokID}); r.Code() != "" {
		t.Errorf("manager revoking a plain user's token: %s", r.Raw)
	}
}
