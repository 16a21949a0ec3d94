package media_test

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/veil-media/veil/media"
	"github.com/veil-media/veil/veiltest"
)

// TestAVIFEncodesBoundedByCPU (issue 14, item 5: "three at once make plain queries take 26 s"):
// with VEIL_RENDITION_MAX_SLOW_ENCODES=1, a second AVIF generation waits in the queue while the
// first runs, and a JPEG generation does not wait for either. The first is held inside its
// generation (past admission) by a test hook; no sleeps decide the outcome.
func TestAVIFEncodesBoundedByCPU(t *testing.T) {
	cfg := media.DefaultConfig()
	cfg.Renditions.MaxSlowEncodes = 1
	// The outcome is an order, not a time: on a loaded machine the held and queued AVIFs (the
	// first compiling its encoder) must not hit VEIL_RENDITION_TIMEOUT's 30 s.
	cfg.Renditions.Timeout = 10 * time.Minute
	srv := veiltest.NewServer(t, veiltest.SQLite(t), &veiltest.ServerOptions{Media: &cfg})
	img := srv.UploadImage(t, veiltest.FilePart(t, veiltest.Corpus(t, "webp/vnc-d.webp")), nil)

	arrived := make(chan struct{}, 3)
	release := make(chan struct{})
	var releaseOnce sync.Once
	free := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(free) // a failing test must not leave generations parked in the hook
	media.SetTestHook(srv.Media, func(point, ids string) {
		if point == "rendition.write" && ids == img.ID {
			arrived <- struct{}{}
			<-release
		}
	})
	defer media.SetTestHook(srv.Media, nil)

	var wg sync.WaitGroup
	codes := make([]int, 3)
	get := func(i int, spec string) {
		var out struct {
			Image struct{ Rendition struct{ URL string } }
		}
		srv.GraphQL(`query($id: ID!, $s: String!) { image(id: $id) { rendition(spec: $s) { url } } }`,
			map[string]any{"id": img.ID, "s": spec}).Decode(t, &out)
		u := out.Image.Rendition.URL
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, _ := srv.Get(t, u, nil)
			codes[i] = resp.StatusCode
		}()
	}
	within := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("%s never happened", what)
			}
			time.Sleep(time.Millisecond) // polling a condition, not timing an outcome
		}
	}
	get(0, "fill-40x40|format-avif")
	<-arrived // the first AVIF holds the only slot
	get(1, "fill-41x41|format-avif")
	within("the second AVIF queued", func() bool { return srv.Media.GenerationsWaiting() == 1 })
	get(2, "width-42")
	select {
	case <-arrived: // the JPEG went past admission while both AVIFs are held or queued
	case <-time.After(30 * time.Second):
		t.Fatal("a JPEG generation waited behind the AVIF encodes")
	}
	if n := srv.Media.GenerationsWaiting(); n != 1 {
		t.Fatalf("waiting = %d once the JPEG started, want the second AVIF still queued", n)
	}
	free()
	wg.Wait()
	for i, c := range codes {
		if c != http.StatusOK {
			t.Errorf("request %d: %d", i, c)
		}
	}
	if n := srv.Media.Generated(); n != 3 {
		t.Errorf("generated %d renditions, want 3", n)
	}
}
