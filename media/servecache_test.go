package media_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/veil-media/veil/auth"
	"github.com/veil-media/veil/media"
	"github.com/veil-media/veil/veiltest"
)

// TestServeCacheKeepsNoRowReadBeforeAChange: a serve view that reads an image's row while the
// image is being unpublished — its read before the unpublish commits, its caching after the
// unpublish has dropped the cached row — must not cache what it read. Else the next anonymous
// request would get the now private rendition for up to VEIL_SERVE_CACHE_TTL (an hour here).
// The first request is held after its read (hook "serve.loaded") while the unpublish runs.
func TestServeCacheKeepsNoRowReadBeforeAChange(t *testing.T) {
	cfg := media.DefaultConfig()
	cfg.ServeCacheTTL = time.Hour
	srv := veiltest.NewServer(t, veiltest.SQLite(t), &veiltest.ServerOptions{Media: &cfg})
	ctx := auth.WithViewer(context.Background(), auth.System)
	up := srv.UploadImage(t, veiltest.FilePart(t, veiltest.Corpus(t, "photos/Garden.jpg")), nil)
	c, err := srv.Media.UpsertContent(ctx, media.UpsertContentInput{Kind: "page", Key: "p", References: []media.ReferenceInput{{MediaID: up.ID, Field: "hero"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Media.PublishContent(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	img, err := srv.Media.Image(ctx, up.ID)
	if err != nil {
		t.Fatal(err)
	}
	info, err := srv.Media.Rendition(img, "width-400")
	if err != nil {
		t.Fatal(err)
	}
	anonymous := srv.As("")
	if resp, _ := anonymous.Get(t, info.URL, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("published: %d, want 200", resp.StatusCode)
	}

	if _, err := srv.Media.UpdateImage(ctx, media.UpdateImageInput{ID: up.ID, Title: media.Some("Garden 2")}); err != nil {
		t.Fatal(err) // drops the cached row: the next request reads it again
	}
	held := false
	media.SetTestHook(srv.Media, func(point, id string) {
		if point != "serve.loaded" || id != up.ID || held {
			return
		}
		held = true // the row is read, not yet cached: unpublish now
		if _, err := srv.Media.UnpublishContent(ctx, c.ID); err != nil {
			t.Error(err)
		}
	})
	anonymous.Get(t, info.URL, nil) // read before the unpublish: either answer
	if !held {
		t.Fatal(`the request did not read the row (hook "serve.loaded" not reached)`)
	}
	for i := range 2 {
		if resp, _ := anonymous.Get(t, info.URL, nil); resp.StatusCode != http.StatusForbidden {
			t.Errorf("after the unpublish, request %d: %d, want 403", i+1, resp.StatusCode)
		}
	}
}
