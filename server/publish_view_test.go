package server_test

// Issue 14, item 1: PUBLISH without VIEW must not publish anything. Referencing an image or a
// document needs read access to it (VIEW, ADD or CHANGE on its collection, or the item is PUBLIC);
// an item the viewer may not read is refused exactly like an id that names nothing; a draft that
// references such an item cannot be published by someone who may not read it (nothing private
// becomes public on their authority); a preview token opens only what its creator may read.

import (
	"strings"
	"testing"

	"github.com/oklog/ulid/v2"

	"github.com/veil-media/veil/models"
	"github.com/veil-media/veil/veiltest"
)

// pvWorld is a server with a collection "Secret" holding a private image and a private document,
// a PUBLISH-only user, and an editor with PUBLISH and VIEW on Secret.
type pvWorld struct {
	srv                   *veiltest.Server
	secret                string // collection id
	img, doc              veiltest.Uploaded
	publisher, editor     string // API tokens
	editorGroup           string
	admin, anon, pub, edt *veiltest.Server
}

func newPVWorld(t *testing.T, db *models.DB) *pvWorld {
	t.Helper()
	srv := veiltest.NewServer(t, db, nil)
	w := &pvWorld{srv: srv, admin: srv.As(srv.AdminToken), anon: srv.As("")}
	var col struct{ CreateCollection struct{ ID string } }
	w.admin.GraphQL(`mutation { createCollection(input: {name: "Secret"}) { id } }`, nil).Decode(t, &col)
	w.secret = col.CreateCollection.ID
	w.img = w.admin.UploadImage(t, azPart("image", "pv-secret", 1), map[string]any{"collectionId": w.secret, "title": "[PVSECRET image]"})
	w.doc = w.admin.UploadDocument(t, azPart("document", "pv-secret", 2), map[string]any{"collectionId": w.secret, "title": "[PVSECRET document]"})

	pubUser, pubGroup := azUserInGroup(t, srv, "pv-publisher")
	azGrant(t, srv, pubGroup, "PUBLISH", "")
	w.publisher = azToken(t, srv, pubUser, nil)
	edUser, edGroup := azUserInGroup(t, srv, "pv-editor")
	azGrant(t, srv, edGroup, "PUBLISH", "")
	azGrant(t, srv, edGroup, "VIEW", w.secret)
	w.editor, w.editorGroup = azToken(t, srv, edUser, nil), edGroup
	w.pub, w.edt = srv.As(w.publisher), srv.As(w.editor)
	return w
}

const (
	pvUpsert  = `mutation($k: String!, $refs: [ReferenceInput!], $body: JSON) { upsertContent(input: {kind: "page", key: $k, references: $refs, body: $body}) { id } }`
	pvPublish = `mutation($id: ID!) { publishContent(id: $id) { madePublic madePrivate } }`
	pvPrivacy = `query($i: ID!, $d: ID!) { image(id: $i) { privacy } document(id: $d) { privacy } }`
)

// upsert saves a draft as srv's viewer and returns the content id ("" on error) and the response.
func (w *pvWorld) upsert(t *testing.T, srv *veiltest.Server, key string, refs []string, body any) (string, veiltest.Response) {
	t.Helper()
	var rs []map[string]any
	for _, id := range refs {
		rs = append(rs, map[string]any{"mediaId": id, "field": "hero"})
	}
	r := srv.GraphQL(pvUpsert, map[string]any{"k": key, "refs": rs, "body": body})
	if len(r.Errors) > 0 {
		return "", r
	}
	var out struct{ UpsertContent struct{ ID string } }
	r.Decode(t, &out)
	return out.UpsertContent.ID, r
}

// publish publishes content as srv's viewer.
func (w *pvWorld) publish(t *testing.T, srv *veiltest.Server, id string) (madePublic []string, r veiltest.Response) {
	t.Helper()
	r = srv.GraphQL(pvPublish, map[string]any{"id": id})
	if len(r.Errors) > 0 {
		return nil, r
	}
	var out struct{ PublishContent struct{ MadePublic []string } }
	r.Decode(t, &out)
	return out.PublishContent.MadePublic, r
}

// assertPrivate checks, as the admin and anonymously, that the secret image and document are
// still PRIVATE and refused (403) to anonymous GETs.
func (w *pvWorld) assertPrivate(t *testing.T, when string) {
	t.Helper()
	var p struct{ Image, Document struct{ Privacy string } }
	w.admin.GraphQL(pvPrivacy, map[string]any{"i": w.img.ID, "d": w.doc.ID}).Decode(t, &p)
	if p.Image.Privacy != "PRIVATE" || p.Document.Privacy != "PRIVATE" {
		t.Errorf("%s: image %s, document %s, want both PRIVATE", when, p.Image.Privacy, p.Document.Privacy)
	}
	for _, u := range []string{w.img.URL, w.doc.URL} {
		resp, _ := w.anon.Get(t, u, nil)
		if resp.StatusCode != 403 || strings.HasPrefix(resp.Header.Get("Cache-Control"), "public") {
			t.Errorf("%s: anonymous GET %s: %d %q, want 403", when, u, resp.StatusCode, resp.Header.Get("Cache-Control"))
		}
	}
}

// errorShape returns the code and the message of a response's first error with id replaced by
// "<id>": an unreadable id and a missing id must give the same shape.
func errorShape(r veiltest.Response, id string) string {
	if len(r.Errors) == 0 {
		return "(no error)"
	}
	return r.Code() + ": " + strings.ReplaceAll(r.Errors[0].Message, id, "<id>")
}

// TestPublishWithoutView: a PUBLISH-only user who references an image or document in a
// collection they cannot read gets exactly the error of an id that does not exist (in the
// references and in the body), nothing becomes public, and anonymous GETs stay 403. Public items
// and readable ones may be referenced.
func TestPublishWithoutView(t *testing.T) {
	veiltest.EachDB(t, func(t *testing.T, db *models.DB) {
		w := newPVWorld(t, db)
		missingImg := "img_" + ulid.Make().String()
		missingDoc := "doc_" + ulid.Make().String()

		for _, c := range []struct {
			name, id, missing string
			body              bool
		}{
			{"image in references", w.img.ID, missingImg, false},
			{"document in references", w.doc.ID, missingDoc, false},
			{"image in the body", w.img.ID, missingImg, true},
			{"document in the body", w.doc.ID, missingDoc, true},
		} {
			t.Run(c.name, func(t *testing.T) {
				save := func(key, id string) (string, veiltest.Response) {
					if c.body {
						return w.upsert(t, w.pub, key, nil, map[string]any{"blocks": []any{map[string]any{"media": id}}})
					}
					return w.upsert(t, w.pub, key, []string{id}, nil)
				}
				cid, r := save("pv-"+c.id, c.id)
				_, rMissing := save("pv-missing-"+c.id, c.missing)
				if got, want := errorShape(r, c.id), errorShape(rMissing, c.missing); got != want || rMissing.Code() != "BAD_USER_INPUT" {
					t.Errorf("unreadable id answered %q, a missing id %q: want the same BAD_USER_INPUT", got, want)
				}
				if strings.Contains(string(r.Raw), "PVSECRET") {
					t.Errorf("the answer names the secret item: %s", r.Raw)
				}
				if cid != "" { // f7a2da4 saved the draft: publishing it made the item public
					if made, _ := w.publish(t, w.pub, cid); len(made) > 0 {
						t.Errorf("publish by a PUBLISH-only user made %v public", made)
					}
				}
				w.assertPrivate(t, "after a PUBLISH-only user referenced it")
			})
		}

		// What may be referenced: public items by anyone with PUBLISH, private ones with VIEW.
		if _, r := w.upsert(t, w.edt, "pv-editor", []string{w.img.ID, w.doc.ID}, nil); len(r.Errors) > 0 {
			t.Fatalf("editor with VIEW: %s", r.Raw)
		}
		other, _ := w.upsert(t, w.admin, "pv-admin", []string{w.img.ID}, nil)
		if made, r := w.publish(t, w.admin, other); len(made) != 1 || made[0] != w.img.ID {
			t.Fatalf("admin publish: %v %s", made, r.Raw)
		}
		if _, r := w.upsert(t, w.pub, "pv-public", []string{w.img.ID}, nil); len(r.Errors) > 0 {
			t.Errorf("PUBLISH-only user referencing a PUBLIC image: %s", r.Raw)
		}
		if _, r := w.upsert(t, w.pub, "pv-public-doc", []string{w.img.ID, w.doc.ID}, nil); errorShape(r, w.doc.ID) != "BAD_USER_INPUT: references: unknown media: <id>" {
			t.Errorf("a public image and a private document: %s, want only the document refused", r.Raw)
		}
	})
}

// TestPublishWithoutViewPreview: a preview token opens only what its creator may read. The
// editor's token for a draft opens the private image; a PUBLISH-only user's token for the same
// draft does not; and once the editor's VIEW grant is revoked, neither does the editor's.
func TestPublishWithoutViewPreview(t *testing.T) {
	veiltest.EachDB(t, func(t *testing.T, db *models.DB) {
		w := newPVWorld(t, db)
		token := func(srv *veiltest.Server, contentID string) string {
			t.Helper()
			var out struct{ CreatePreviewToken struct{ Token string } }
			srv.GraphQL(`mutation($c: ID!) { createPreviewToken(contentId: $c, ttlSeconds: 600) { token } }`, map[string]any{"c": contentID}).Decode(t, &out)
			return out.CreatePreviewToken.Token
		}
		status := func(u, tok string) int {
			resp, _ := w.anon.Get(t, u+"?preview="+tok, nil)
			return resp.StatusCode
		}

		// The PUBLISH-only user's own draft: refused at save on the fixed code; f7a2da4 saved it
		// and its preview token opened the private image.
		if cid, _ := w.upsert(t, w.pub, "pv-own", []string{w.img.ID}, nil); cid != "" {
			if s := status(w.img.URL, token(w.pub, cid)); s != 403 {
				t.Errorf("preview token of a PUBLISH-only user's draft: %d, want 403", s)
			}
		}

		cid, r := w.upsert(t, w.edt, "pv-draft", []string{w.img.ID, w.doc.ID}, nil)
		if cid == "" {
			t.Fatalf("editor draft: %s", r.Raw)
		}
		edTok, pubTok := token(w.edt, cid), token(w.pub, cid)
		for _, u := range []string{w.img.URL, w.doc.URL} {
			if s := status(u, edTok); s != 200 {
				t.Errorf("editor's preview token, %s: %d, want 200", u, s)
			}
			if s := status(u, pubTok); s != 403 {
				t.Errorf("PUBLISH-only user's preview token for the editor's draft, %s: %d, want 403", u, s)
			}
		}
		w.admin.GraphQL(`mutation($g: ID!, $c: ID!) { revoke(input: {groupId: $g, permission: VIEW, collectionId: $c}) { id } }`,
			map[string]any{"g": w.editorGroup, "c": w.secret}).Decode(t, &struct{}{})
		for _, u := range []string{w.img.URL, w.doc.URL} {
			if s := status(u, edTok); s != 403 {
				t.Errorf("editor's preview token after VIEW was revoked, %s: %d, want 403", u, s)
			}
		}
		w.assertPrivate(t, "after previews")
	})
}

// TestPublishWithoutViewRevokedGrant: references saved while their author could read the items
// stay when the grant is revoked, but publishing the draft needs read access to every item it
// would make live: a publisher who cannot read a private item is refused (as for an unknown id)
// and nothing becomes public. Once the item is PUBLIC (an admin published it), anyone with PUBLISH
// may re-publish content keeping it live: nothing widens. After it is private again, the refusal
// is back.
func TestPublishWithoutViewRevokedGrant(t *testing.T) {
	veiltest.EachDB(t, func(t *testing.T, db *models.DB) {
		w := newPVWorld(t, db)
		cid, r := w.upsert(t, w.edt, "pv-revoked", []string{w.img.ID, w.doc.ID}, nil)
		if cid == "" {
			t.Fatalf("editor draft: %s", r.Raw)
		}
		w.admin.GraphQL(`mutation($g: ID!, $c: ID!) { revoke(input: {groupId: $g, permission: VIEW, collectionId: $c}) { id } }`,
			map[string]any{"g": w.editorGroup, "c": w.secret}).Decode(t, &struct{}{})

		missing := "img_" + ulid.Make().String()
		for name, srv := range map[string]*veiltest.Server{"PUBLISH-only user": w.pub, "editor whose VIEW was revoked": w.edt} {
			made, r := w.publish(t, srv, cid)
			if len(made) > 0 {
				t.Errorf("%s published and made %v public", name, made)
			}
			if r.Code() != "BAD_USER_INPUT" || !strings.Contains(r.Errors[0].Message, "unknown media: ") ||
				strings.Contains(string(r.Raw), "PVSECRET") {
				t.Errorf("%s: %s, want BAD_USER_INPUT unknown media", name, r.Raw)
			}
			w.assertPrivate(t, name+" published")
		}
		// The refusal reads like the one for an id that does not exist.
		_, rMissing := w.upsert(t, w.pub, "pv-missing", []string{missing}, nil)
		_, rPub := w.publish(t, w.pub, cid)
		shape := strings.ReplaceAll(errorShape(rPub, w.img.ID), w.doc.ID, "<id>")
		if want := strings.Replace(errorShape(rMissing, missing), "<id>", "<id>, <id>", 1); shape != want {
			t.Errorf("publish refusal %q, unknown-id refusal %q", shape, want)
		}

		// The references stay: the draft still lists both ids (the items themselves are hidden).
		var refs struct {
			Content struct {
				References []struct {
					MediaID string
					Media   *struct{ ID string }
				}
			}
		}
		w.pub.GraphQL(`query($id: ID!) { content(id: $id) { references { mediaId media { id } } } }`, map[string]any{"id": cid}).Decode(t, &refs)
		if len(refs.Content.References) != 2 || refs.Content.References[0].Media != nil || refs.Content.References[1].Media != nil {
			t.Errorf("draft references after the revocation: %+v", refs.Content.References)
		}

		// An admin publishes: the items become public. A re-publish by the PUBLISH-only user keeps
		// them live and changes nothing.
		if made, r := w.publish(t, w.admin, cid); len(made) != 2 {
			t.Fatalf("admin publish: %v %s", made, r.Raw)
		}
		if made, r := w.publish(t, w.pub, cid); len(r.Errors) > 0 || len(made) != 0 {
			t.Errorf("re-publish of public items by a PUBLISH-only user: %v %s, want allowed, nothing changed", made, r.Raw)
		}
		w.pub.GraphQL(`mutation($id: ID!) { unpublishContent(id: $id) { madePrivate } }`, map[string]any{"id": cid}).Decode(t, &struct{}{})
		w.assertPrivate(t, "after unpublish")
		if made, r := w.publish(t, w.pub, cid); len(made) > 0 || r.Code() != "BAD_USER_INPUT" {
			t.Errorf("publish of private items again by a PUBLISH-only user: %v %s", made, r.Raw)
		}
		w.assertPrivate(t, "after the refused publish")
	})
}
