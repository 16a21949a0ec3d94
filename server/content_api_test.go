package server_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/veil-media/veil/models"
	"github.com/veil-media/veil/veiltest"
)

// TestContentAPI: references from a JSON body, content queries, usage and canDelete, and the
// refusal to delete media that live content uses (unless an admin forces it).
func TestContentAPI(t *testing.T) {
	veiltest.EachDB(t, func(t *testing.T, db *models.DB) {
		w := newPWorld(t, db, nil)
		i1, i2, d1 := w.image(), w.image(), w.document()
		body := map[string]any{
			"hero":   map[string]any{"image": i1.ID},
			"blocks": []any{map[string]any{"text": "see " + i2.ID + " and also " + d1.ID}, 42, nil},
		}
		var up struct {
			UpsertContent struct {
				ID         string
				References []struct {
					MediaID, Field string
					Media          *struct{ ID string }
				}
			}
		}
		w.srv.GraphQL(`mutation($b: JSON) { upsertContent(input: {kind: "article", key: "k1", title: "T", body: $b}) { id references { mediaId field media { id } } } }`,
			map[string]any{"b": body}).Decode(t, &up)
		fields := map[string]string{}
		for _, r := range up.UpsertContent.References {
			fields[r.MediaID] = r.Field
			if r.Media == nil || r.Media.ID != r.MediaID {
				t.Errorf("reference media not resolved: %+v", r)
			}
		}
		if fields[i1.ID] != "body.hero.image" || fields[i2.ID] != "body.blocks[0].text" || fields[d1.ID] != "body.blocks[0].text" || len(fields) != 3 {
			t.Errorf("references from body: %v", fields)
		}
		cid := up.UpsertContent.ID
		// Re-upserting replaces the whole draft set.
		w.srv.GraphQL(`mutation($m: ID!) { upsertContent(input: {kind: "article", key: "k1", references: [{mediaId: $m, field: "x"}]}) { id } }`, map[string]any{"m": i1.ID}).Decode(t, &struct{}{})
		var c struct {
			Content struct {
				ID    string
				Live  bool
				Draft []struct{ MediaID string } `json:"draft"`
				Live_ []struct{ MediaID string } `json:"live_"`
			}
		}
		w.srv.GraphQL(`{ content(kind: "article", key: "k1") { id live draft: references { mediaId } live_: references(state: LIVE) { mediaId } } }`, nil).Decode(t, &c)
		if c.Content.ID != cid || c.Content.Live || len(c.Content.Draft) != 1 || len(c.Content.Live_) != 0 {
			t.Errorf("content = %+v", c.Content)
		}
		w.do("publishContent", cid)
		var list struct{ Contents []struct{ ID string } }
		w.srv.GraphQL(`{ contents(filter: {live: true, kind: "article"}) { id } }`, nil).Decode(t, &list)
		if len(list.Contents) != 1 || list.Contents[0].ID != cid {
			t.Errorf("contents(live) = %+v", list.Contents)
		}
		// usage and canDelete.
		var u struct {
			Image struct {
				CanDelete bool
				Usage     []struct {
					Field   string
					Live    bool
					Content struct{ ID string }
				}
			}
		}
		w.srv.GraphQL(`query($id: ID!) { image(id: $id) { canDelete usage { field live content { id } } } }`, map[string]any{"id": i1.ID}).Decode(t, &u)
		if len(u.Image.Usage) != 2 || !u.Image.CanDelete { // draft + live; admins may force
			t.Errorf("usage/canDelete = %+v", u.Image)
		}
		// Delete refused while live, for everyone without force.
		r := w.srv.GraphQL(`mutation($id: ID!) { deleteImage(id: $id) { deletedId } }`, map[string]any{"id": i1.ID})
		if r.Code() != "CONFLICT" || !strings.Contains(r.Errors[0].Message, "live") {
			t.Errorf("delete while live: %s", r.Raw)
		}
		// A DELETE holder who is not an admin cannot force.
		var setup struct {
			G struct{ ID string } `json:"g"`
			U struct{ ID string } `json:"u"`
		}
		w.srv.GraphQL(`mutation { g: createGroup(name: "deleters") { id } u: createUser(input: {name: "d", email: "d@x.io"}) { id } }`, nil).Decode(t, &setup)
		w.srv.GraphQL(`mutation($g: ID!, $u: ID!) { addToGroup(groupId: $g, userId: $u) { id } grant(input: {groupId: $g, permission: DELETE, collectionId: "col_00000000000000000000000000"}) { id } }`,
			map[string]any{"g": setup.G.ID, "u": setup.U.ID}).Decode(t, &struct{}{})
		var tok struct{ CreateToken struct{ Token string } }
		w.srv.GraphQL(`mutation($u: ID!) { createToken(input: {name: "t", userId: $u}) { token } }`, map[string]any{"u": setup.U.ID}).Decode(t, &tok)
		if r := w.srv.As(tok.CreateToken.Token).GraphQL(`mutation($id: ID!) { deleteImage(id: $id, force: true) { deletedId } }`, map[string]any{"id": i1.ID}); r.Code() != "FORBIDDEN" {
			t.Errorf("non-admin force: %s", r.Raw)
		}
		if r := w.srv.GraphQL(`mutation($id: ID!) { deleteImage(id: $id, force: true) { deletedId } }`, map[string]any{"id": i1.ID}); len(r.Errors) > 0 {
			t.Errorf("admin force: %s", r.Raw)
		}
		w.srv.GraphQL(`{ content(kind: "article", key: "k1") { id live_: references(state: LIVE) { mediaId } } }`, nil).Decode(t, &c)
		if len(c.Content.Live_) != 0 {
			t.Errorf("live references to a deleted image remain: %+v", c.Content.Live_)
		}
		// Bad input.
		for name, q := range map[string]string{
			"unknown media": `mutation { upsertContent(input: {kind: "a", key: "b", references: [{mediaId: "img_01M818HZN4S9NGPTE8NJGQZFVH"}]}) { id } }`,
			"bad kind":      `mutation { upsertContent(input: {kind: "Bad Kind", key: "b"}) { id } }`,
			"empty key":     `mutation { upsertContent(input: {kind: "a", key: " "}) { id } }`,
			"bad media id":  `mutation { upsertContent(input: {kind: "a", key: "b", references: [{mediaId: "col_00000000000000000000000000"}]}) { id } }`,
		} {
			if r := w.srv.GraphQL(q, nil); r.Code() != "BAD_USER_INPUT" {
				t.Errorf("%s: %s", name, r.Raw)
			}
		}
		many := make([]map[string]any, 10001)
		for i := range many {
			many[i] = map[string]any{"mediaId": i2.ID, "field": fmt.Sprint("f", i)}
		}
		if r := w.srv.GraphQL(`mutation($r: [ReferenceInput!]) { upsertContent(input: {kind: "a", key: "many", references: $r}) { id } }`, map[string]any{"r": many}); r.Code() != "BAD_USER_INPUT" {
			t.Errorf("10,001 references: %.300s", r.Raw)
		}
		if r := w.srv.GraphQL(`mutation { publishContent(id: "cnt_01M818HZN4S9NGPTE8NJGQZFVH") { madePublic } }`, nil); r.Code() != "NOT_FOUND" {
			t.Errorf("publish unknown: %s", r.Raw)
		}
		if r := w.srv.As("").GraphQL(`mutation { upsertContent(input: {kind: "a", key: "b"}) { id } }`, nil); r.Code() != "UNAUTHENTICATED" {
			t.Errorf("anonymous upsert: %s", r.Raw)
		}
	})
}
