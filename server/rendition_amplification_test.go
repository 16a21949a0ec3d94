package server_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/veil-media/veil/app"
	"github.com/veil-media/veil/auth"
	"github.com/veil-media/veil/config"
	"github.com/veil-media/veil/media"
	"github.com/veil-media/veil/models"
	"github.com/veil-media/veil/storage"
	"github.com/veil-media/veil/veiltest"
)

// renditionURL asks GraphQL for the URL of a rendition of id.
func renditionURL(t *testing.T, srv *veiltest.Server, id, spec string) string {
	t.Helper()
	var out struct {
		Image struct{ Rendition struct{ URL string } }
	}
	srv.GraphQL(`query($id: ID!, $s: String!) { image(id: $id) { rendition(spec: $s) { url } } }`,
		map[string]any{"id": id, "s": spec}).Decode(t, &out)
	return out.Image.Rendition.URL
}

// storedSpecs lists the specs of the image's rendition rows, sorted.
func storedSpecs(t *testing.T, db *models.DB, id string) []string {
	t.Helper()
	var specs []string
	if err := db.NewSelect().Model((*models.Rendition)(nil)).Column("spec").Where("image_id = ?", id).OrderExpr("spec").Scan(context.Background(), &specs); err != nil {
		t.Fatal(err)
	}
	return specs
}

// TestRenditionAmplificationBound (issue 14, item 8): an image keeps at most
// VEIL_RENDITION_MAX_PER_IMAGE renditions; past it the least recently used one that is not a
// preset is deleted (row and file), a rendition served from storage counts as used, and an evicted
// rendition is made again on its next request.
func TestRenditionAmplificationBound(t *testing.T) {
	veiltest.EachDB(t, func(t *testing.T, db *models.DB) {
		cfg := media.DefaultConfig()
		cfg.Renditions.MaxPerImage = 3
		cfg.Renditions.TouchInterval = 1 // every hit records its use, so the order is exact
		cfg.Renditions.Presets = map[string]string{"thumb": "width-50"}
		dir := filepath.Join(t.TempDir(), "media")
		srv := veiltest.NewServer(t, db, &veiltest.ServerOptions{StorageURL: "file://" + filepath.ToSlash(dir), Media: &cfg, ACL: storage.NewFileACL(dir)})
		img := srv.UploadImage(t, veiltest.FilePart(t, veiltest.Corpus(t, "photos/Garden.jpg")), nil)
		get := func(path string) {
			t.Helper()
			if resp, body := srv.Get(t, path, nil); resp.StatusCode != http.StatusOK {
				t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
			}
		}
		files := func() []string {
			var out []string
			for _, k := range veiltest.ListKeys(t, srv.Store) {
				if strings.HasPrefix(k, storage.RenditionPrefix(img.ID)) {
					out = append(out, k)
				}
			}
			return out
		}
		thumb := "/media/renditions/" + img.ID + "/preset/thumb.jpg"
		u := map[string]string{}
		for _, w := range []string{"width-101", "width-102", "width-103"} {
			u[w] = renditionURL(t, srv, img.ID, w)
		}
		get(thumb)
		get(u["width-101"])
		get(u["width-102"])
		if got, want := storedSpecs(t, db, img.ID), []string{"width-101", "width-102", "width-50"}; !slices.Equal(got, want) {
			t.Fatalf("stored %v, want %v", got, want)
		}
		get(u["width-101"]) // served from storage: now more recently used than width-102
		before := files()
		get(u["width-103"])
		if got, want := storedSpecs(t, db, img.ID), []string{"width-101", "width-103", "width-50"}; !slices.Equal(got, want) {
			t.Fatalf("after a 4th rendition: stored %v, want %v (width-102 least recently used)", got, want)
		}
		after := files()
		if len(after) != 3 {
			t.Errorf("files after eviction: %v, want 3", after)
		}
		for _, k := range before {
			if !slices.Contains(after, k) {
				goto removed
			}
		}
		t.Errorf("no file removed by eviction: before %v, after %v", before, after)
	removed:
		generated := srv.Media.Generated()
		get(u["width-102"]) // evicted: made again; width-101 is now the least recently used
		if srv.Media.Generated() != generated+1 {
			t.Errorf("evicted rendition served without being generated again")
		}
		if got, want := storedSpecs(t, db, img.ID), []string{"width-102", "width-103", "width-50"}; !slices.Equal(got, want) {
			t.Fatalf("after regenerating width-102: stored %v, want %v", got, want)
		}
		// The preset is never evicted, however old.
		for i := 104; i < 108; i++ {
			get(renditionURL(t, srv, img.ID, fmt.Sprintf("width-%d", i)))
		}
		if got := storedSpecs(t, db, img.ID); len(got) != 3 || !slices.Contains(got, "width-50") || !slices.Contains(got, "width-107") {
			t.Errorf("after more renditions: stored %v, want 3 with width-50 and width-107", got)
		}
		if n := len(files()); n != 3 {
			t.Errorf("%d rendition files stored, want 3", n)
		}
	})
}

// TestRenditionAmplificationAnonymousPolicy (issue 14, item 8): with VEIL_RENDITION_ANONYMOUS=presets
// an anonymous viewer gets presets and the configured srcset specs of a public image and is
// refused (403, nothing generated) any other signed spec, which signed-in viewers still get; with
// "any" (the default) anonymous viewers get every signed spec.
func TestRenditionAmplificationAnonymousPolicy(t *testing.T) {
	for _, policy := range []string{media.AnonymousAny, media.AnonymousPresets} {
		t.Run(policy, func(t *testing.T) {
			cfg := media.DefaultConfig()
			cfg.Renditions.Anonymous = policy
			cfg.Renditions.Presets = map[string]string{"thumb": "width-50"}
			cfg.Renditions.AnonymousSpecs = []string{"width-{320,640}|format-{webp,jpeg}"}
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			srv := veiltest.NewServer(t, veiltest.SQLite(t), &veiltest.ServerOptions{Media: &cfg})
			img := srv.UploadImage(t, veiltest.FilePart(t, veiltest.Corpus(t, "photos/Garden.jpg")), nil)
			ctx := auth.WithViewer(context.Background(), auth.System)
			c, err := srv.Media.UpsertContent(ctx, media.UpsertContentInput{Kind: "page", Key: "p", References: []media.ReferenceInput{{MediaID: img.ID}}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := srv.Media.PublishContent(ctx, c.ID); err != nil {
				t.Fatal(err)
			}
			anon := srv.As("")
			for _, tc := range []struct {
				path   string
				always bool // allowed under both policies
			}{
				{"/media/renditions/" + img.ID + "/preset/thumb.jpg", true},
				{renditionURL(t, srv, img.ID, "width-50"), true}, // the preset's spec, signed
				{renditionURL(t, srv, img.ID, "width-640|format-webp"), true},
				{renditionURL(t, srv, img.ID, "format-jpeg|width-320"), true}, // same spec, other spelling
				{renditionURL(t, srv, img.ID, "width-641|format-webp"), false},
				{renditionURL(t, srv, img.ID, "fill-300x200"), false},
			} {
				generated := srv.Media.Generated()
				resp, body := anon.Get(t, tc.path, nil)
				want := http.StatusOK
				if policy == media.AnonymousPresets && !tc.always {
					want = http.StatusForbidden
				}
				if resp.StatusCode != want {
					t.Errorf("anonymous GET %s: %d %s, want %d", tc.path, resp.StatusCode, body, want)
				}
				if want == http.StatusForbidden {
					if srv.Media.Generated() != generated {
						t.Errorf("anonymous GET %s refused after generating", tc.path)
					}
					if resp, body := srv.Get(t, tc.path, nil); resp.StatusCode != http.StatusOK {
						t.Errorf("signed-in GET %s: %d %s, want 200", tc.path, resp.StatusCode, body)
					}
				}
			}
		})
	}
	cfg := media.DefaultConfig()
	cfg.Renditions.Anonymous = "some"
	var fe *config.FieldError
	if err := cfg.Validate(); !errors.As(err, &fe) || app.Env("Media."+fe.Field) != "VEIL_RENDITION_ANONYMOUS" {
		t.Errorf("invalid policy: %v", err)
	}
}
