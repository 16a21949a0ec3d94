package server_test

// Issue 14, item 10: anonymous disclosure. Collections are visible only to viewers who hold a
// grant on them (or an ancestor), or when they (or a descendant) hold a PUBLIC item; admins and
// MANAGE_USERS holders see all. The same rule answers collections, collection(id), node(id),
// Collection.parent and a media item's collection; a hidden collection is answered like one that
// does not exist. /metrics is not served by the main handler (it has its own listener).

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/oklog/ulid/v2"

	"github.com/veil-media/veil/models"
	"github.com/veil-media/veil/veiltest"
)

// TestAnonymousDisclosureCollections: which collections each viewer sees, by every path.
func TestAnonymousDisclosureCollections(t *testing.T) {
	veiltest.EachDB(t, func(t *testing.T, db *models.DB) {
		srv := veiltest.NewServer(t, db, nil)
		admin := srv.As(srv.AdminToken)
		ids := map[string]string{"Root": models.RootCollectionID}
		mk := func(name, parent string) {
			t.Helper()
			var out struct{ CreateCollection struct{ ID string } }
			vars := map[string]any{"n": "disc-" + name, "p": nil}
			if parent != "" {
				vars["p"] = ids[parent]
			}
			admin.GraphQL(`mutation($n: String!, $p: ID) { createCollection(input: {name: $n, parentId: $p}) { id } }`, vars).Decode(t, &out)
			ids[name] = out.CreateCollection.ID
		}
		// Pub holds a public image; Pub/Empty nothing; Priv a private image; Granted a private
		// document and Granted/Sub nothing (the viewer "view" holds VIEW on Granted); Deep/Inner a
		// public document; Hidden/Shared nothing ("view" holds VIEW on Shared only).
		for _, c := range [][2]string{{"Pub", ""}, {"Empty", "Pub"}, {"Priv", ""}, {"Granted", ""}, {"Sub", "Granted"},
			{"Deep", ""}, {"Inner", "Deep"}, {"Hidden", ""}, {"Shared", "Hidden"}} {
			mk(c[0], c[1])
		}
		pubImg := admin.UploadImage(t, azPart("image", "disc-pub", 1), map[string]any{"collectionId": ids["Pub"]})
		privImg := admin.UploadImage(t, azPart("image", "disc-priv", 2), map[string]any{"collectionId": ids["Priv"]})
		admin.UploadDocument(t, azPart("document", "disc-granted", 3), map[string]any{"collectionId": ids["Granted"]})
		innerDoc := admin.UploadDocument(t, azPart("document", "disc-inner", 4), map[string]any{"collectionId": ids["Inner"]})
		publish := func(key string, media ...string) string {
			t.Helper()
			var refs []map[string]any
			for _, m := range media {
				refs = append(refs, map[string]any{"mediaId": m})
			}
			var c struct{ UpsertContent struct{ ID string } }
			admin.GraphQL(`mutation($k: String!, $r: [ReferenceInput!]) { upsertContent(input: {kind: "page", key: $k, references: $r}) { id } }`,
				map[string]any{"k": key, "r": refs}).Decode(t, &c)
			admin.GraphQL(`mutation($id: ID!) { publishContent(id: $id) { madePublic } }`, map[string]any{"id": c.UpsertContent.ID}).Decode(t, &struct{}{})
			return c.UpsertContent.ID
		}
		publish("disc-live", pubImg.ID, innerDoc.ID)

		tokens := map[string]string{"anonymous": "", "admin": srv.AdminToken}
		for _, v := range []struct {
			name  string
			perms [][2]string // permission, collection name ("" = global)
		}{
			{"nogrants", nil},
			{"publisher", [][2]string{{"PUBLISH", ""}}},
			{"view", [][2]string{{"VIEW", "Granted"}, {"VIEW", "Shared"}}},
			{"manager", [][2]string{{"MANAGE_USERS", ""}}},
		} {
			u, g := azUserInGroup(t, srv, "disc-"+v.name)
			for _, p := range v.perms {
				azGrant(t, srv, g, p[0], ids[p[1]])
			}
			tokens[v.name] = azToken(t, srv, u, nil)
		}
		all := slices.Sorted(maps.Keys(ids))
		public := []string{"Deep", "Inner", "Pub", "Root"}
		want := map[string][]string{
			"anonymous": public, "nogrants": public, "publisher": public,
			"view":    {"Deep", "Granted", "Inner", "Pub", "Root", "Shared", "Sub"},
			"manager": all, "admin": all,
		}
		missing := "col_" + ulid.Make().String()
		shape := func(r veiltest.Response, id string) string {
			if len(r.Errors) == 0 {
				return "(no error) " + string(r.Data)
			}
			return r.Code() + ": " + strings.ReplaceAll(r.Errors[0].Message, id, "<id>")
		}

		for _, viewer := range slices.Sorted(maps.Keys(want)) {
			t.Run(viewer, func(t *testing.T) {
				s := srv.As(tokens[viewer])
				r := s.GraphQL(`{ collections { id name } }`, nil)
				var list struct{ Collections []struct{ ID, Name string } }
				r.Decode(t, &list)
				var got []string
				for _, c := range list.Collections {
					got = append(got, strings.TrimPrefix(c.Name, "disc-"))
				}
				slices.Sort(got)
				got = slices.Compact(got)
				if !slices.Equal(got, want[viewer]) {
					t.Errorf("collections: %v, want %v", got, want[viewer])
				}
				for _, name := range all {
					if !slices.Contains(want[viewer], name) && strings.Contains(string(r.Raw), ids[name]) {
						t.Errorf("collections lists the id of hidden %s", name)
					}
				}
				// By id and through node: a hidden collection answers like one that does not exist.
				for _, q := range []string{`query($id: ID!) { collection(id: $id) { name } }`, `query($id: ID!) { node(id: $id) { ... on Collection { name } } }`} {
					wantMissing := shape(s.GraphQL(q, map[string]any{"id": missing}), missing)
					if !strings.HasPrefix(wantMissing, "NOT_FOUND") {
						t.Fatalf("%s of a missing id: %s", q, wantMissing)
					}
					for _, name := range all {
						r := s.GraphQL(q, map[string]any{"id": ids[name]})
						visible := slices.Contains(want[viewer], name)
						switch {
						case visible && (len(r.Errors) > 0 || !strings.Contains(string(r.Data), "disc-"+name) && name != "Root"):
							t.Errorf("%s %s: %s, want it", q, name, r.Raw)
						case !visible && shape(r, ids[name]) != wantMissing:
							t.Errorf("%s hidden %s: %q, want %q as for a missing id", q, name, shape(r, ids[name]), wantMissing)
						}
					}
				}
				// Nested fields: parents follow the same rule (null when hidden), and so does the
				// collection of the public image.
				var nested struct {
					Sub, Shared, Inner struct{ Parent *struct{ Name string } }
					Image              struct {
						Collection struct {
							Name   string
							Parent *struct{ Name string }
						}
					}
				}
				r = s.GraphQL(`query($sub: ID!, $shared: ID!, $inner: ID!, $img: ID!) {
					sub: node(id: $sub) { ... on Collection { parent { name } } }
					shared: node(id: $shared) { ... on Collection { parent { name } } }
					inner: collection(id: $inner) { parent { name } }
					image(id: $img) { collection { name parent { name } } } }`,
					map[string]any{"sub": ids["Sub"], "shared": ids["Shared"], "inner": ids["Inner"], "img": pubImg.ID})
				if err := json.Unmarshal(r.Data, &nested); err != nil {
					t.Fatalf("nested: %v %s", err, r.Raw)
				}
				parent := func(p *struct{ Name string }) string {
					if p == nil {
						return ""
					}
					return strings.TrimPrefix(p.Name, "disc-")
				}
				if got, want := parent(nested.Shared.Parent), map[bool]string{true: "Hidden"}[viewer == "admin" || viewer == "manager"]; got != want {
					t.Errorf("Shared.parent: %q, want %q", got, want)
				}
				if viewer == "view" && parent(nested.Sub.Parent) != "Granted" {
					t.Errorf("Sub.parent: %q, want Granted", parent(nested.Sub.Parent))
				}
				if parent(nested.Inner.Parent) != "Deep" || nested.Image.Collection.Name != "disc-Pub" || parent(nested.Image.Collection.Parent) != "Root" {
					t.Errorf("Inner.parent %q, image.collection %q (parent %q): want Deep, disc-Pub (Root)", parent(nested.Inner.Parent), nested.Image.Collection.Name, parent(nested.Image.Collection.Parent))
				}
				for _, name := range all {
					if !slices.Contains(want[viewer], name) && strings.Contains(string(r.Raw), "disc-"+name) {
						t.Errorf("nested fields name hidden %s: %s", name, r.Raw)
					}
				}
				// A mutation on a hidden collection answers like one on a missing collection.
				if viewer == "nogrants" {
					cc := `mutation($p: ID!) { createCollection(input: {name: "x", parentId: $p}) { id } }`
					if got, want := shape(s.GraphQL(cc, map[string]any{"p": ids["Priv"]}), ids["Priv"]), shape(s.GraphQL(cc, map[string]any{"p": missing}), missing); got != want {
						t.Errorf("createCollection under hidden Priv: %q, under a missing id: %q", got, want)
					}
				}
			})
		}

		// Publishing an item of Priv makes Priv visible to everyone; unpublishing hides it again.
		live := publish("disc-priv", privImg.ID)
		names := func() string {
			r := srv.As("").GraphQL(`{ collections { name } }`, nil)
			return string(r.Raw)
		}
		if !strings.Contains(names(), "disc-Priv") {
			t.Errorf("Priv with a public image is not listed: %s", names())
		}
		admin.GraphQL(`mutation($id: ID!) { unpublishContent(id: $id) { madePrivate } }`, map[string]any{"id": live}).Decode(t, &struct{}{})
		if strings.Contains(names(), "disc-Priv") {
			t.Errorf("Priv without a public image is listed: %s", names())
		}
	})
}

// TestAnonymousDisclosureMetrics: the main handler does not serve /metrics, to anyone; the
// metrics listener does.
func TestAnonymousDisclosureMetrics(t *testing.T) {
	srv := veiltest.NewServer(t, veiltest.SQLite(t), nil)
	for _, tok := range []string{"", srv.AdminToken} {
		resp, body := srv.As(tok).Get(t, "/metrics", nil)
		if resp.StatusCode != 404 || strings.Contains(string(body), "veil_") || strings.Contains(string(body), "go_goroutines") {
			t.Errorf("main handler /metrics (token %v): %d %.200s, want 404", tok != "", resp.StatusCode, body)
		}
	}
	resp, body := srv.As("").Get(t, srv.MetricsURL+"/metrics", nil)
	if resp.StatusCode != 200 || !strings.Contains(string(body), "veil_permission_queue_depth") {
		t.Errorf("metrics listener: %d %.200s", resp.StatusCode, body)
	}
}
