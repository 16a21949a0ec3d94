package media_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/veil-media/veil/auth"
	"github.com/veil-media/veil/media"
	"github.com/veil-media/veil/models"
	"github.com/veil-media/veil/storage"
	"github.com/veil-media/veil/veiltest"
)

// raceRig is a real Veil (HTTP server, database, bucket with a real permission driver) with one
// image used by one content item, and a way to ask storage whether a file is world-readable.
type raceRig struct {
	t       *testing.T
	srv     *veiltest.Server
	image   string
	content string
	// public reports whether anyone (no credentials) may read the object key.
	public func(key string) bool
	specs  int
}

// raceDrivers runs fn with a folder bucket (file modes) and, when VEIL_TEST_S3_ENDPOINT is set,
// an S3 bucket on that server (object ACLs), each on SQLite and, when set, Postgres.
func raceDrivers(t *testing.T, fn func(t *testing.T, rig *raceRig)) {
	t.Run("file", func(t *testing.T) {
		eachDB(t, func(t *testing.T, db *models.DB) {
			dir := filepath.Join(t.TempDir(), "media")
			srv := veiltest.NewServer(t, db, &veiltest.ServerOptions{StorageURL: "file://" + filepath.ToSlash(dir), ACL: storage.NewFileACL(dir), NoRetryLoop: true})
			fn(t, newRaceRig(t, srv, func(key string) bool {
				fi, err := os.Stat(filepath.Join(dir, filepath.FromSlash(key)))
				if err != nil {
					t.Fatalf("stat %s: %v", key, err)
				}
				return fi.Mode().Perm()&0o004 != 0
			}))
		})
	})
	t.Run("s3", func(t *testing.T) {
		if os.Getenv(veiltest.S3Env) == "" || os.Getenv("AWS_ACCESS_KEY_ID") == "" {
			t.Skip("VEIL_TEST_S3_ENDPOINT and AWS credentials are not set (see tools/s3-radosgw)")
		}
		// SQLite alone: the databases' side of every ordering runs with the folder driver above;
		// here it is the bucket's (object ACLs) that differs, and each database doubles ~3 min.
		t.Run("sqlite", func(t *testing.T) {
			db := veiltest.SQLite(t)
			storageURL, base := veiltest.S3Bucket(t, "veil-race-")
			// VEIL_STORAGE_ACL=s3-acl: the bucket must take per-object ACLs, or the start fails.
			srv := veiltest.NewServer(t, db, &veiltest.ServerOptions{StorageURL: storageURL, StorageACL: "s3-acl", NoRetryLoop: true})
			fn(t, newRaceRig(t, srv, func(key string) bool {
				resp, err := http.Get(base + key)
				if err != nil {
					t.Fatalf("anonymous GET %s: %v", key, err)
				}
				resp.Body.Close()
				return resp.StatusCode == http.StatusOK
			}))
		})
	})
}

// eachDB is veiltest.EachDB, on SQLite alone under the race detector (see raceEnabled).
func eachDB(t *testing.T, fn func(t *testing.T, db *models.DB)) {
	if raceEnabled {
		t.Run("sqlite", func(t *testing.T) { fn(t, veiltest.SQLite(t)) })
		return
	}
	veiltest.EachDB(t, fn)
}

func newRaceRig(t *testing.T, srv *veiltest.Server, public func(string) bool) *raceRig {
	img := srv.UploadImage(t, veiltest.FilePart(t, veiltest.Corpus(t, "orientation/upright.jpg")), nil) // small: the race detector slows pixel loops 100-fold
	ctx := auth.WithViewer(context.Background(), auth.System)
	c, err := srv.Media.UpsertContent(ctx, media.UpsertContentInput{Kind: "page", Key: "race-" + img.ID, References: []media.ReferenceInput{{MediaID: img.ID, Field: "hero"}}})
	if err != nil {
		t.Fatal(err)
	}
	return &raceRig{t: t, srv: srv, image: img.ID, content: c.ID, public: public}
}

// newSpecURL returns the signed URL of a rendition of the image that was never requested before.
func (r *raceRig) newSpecURL() string {
	r.specs++
	spec := fmt.Sprintf("width-%d", 40+r.specs)
	var out struct {
		Image struct{ Rendition struct{ URL string } }
	}
	r.srv.GraphQL(`query($id: ID!, $s: String!) { image(id: $id) { rendition(spec: $s) { url } } }`,
		map[string]any{"id": r.image, "s": spec}).Decode(r.t, &out)
	return r.srv.URL + out.Image.Rendition.URL
}

// setLive publishes or unpublishes the content over GraphQL, failing the test on errors.
func (r *raceRig) setLive(live bool) {
	if err := r.changeLive(live); err != nil {
		r.t.Fatal(err)
	}
}

// changeLive publishes or unpublishes over HTTP; it is safe to call from any goroutine.
func (r *raceRig) changeLive(live bool) error {
	m := "unpublishContent"
	if live {
		m = "publishContent"
	}
	body, _ := json.Marshal(map[string]any{"query": `mutation($id: ID!) { ` + m + `(id: $id) { madePublic madePrivate } }`, "variables": map[string]any{"id": r.content}})
	req, _ := http.NewRequest(http.MethodPost, r.srv.URL+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+r.srv.AdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || bytes.Contains(b, []byte(`"errors"`)) {
		return fmt.Errorf("%s: %d %s", m, resp.StatusCode, b)
	}
	return nil
}

// get requests a rendition URL (as the admin, so it is generated whatever the privacy) and returns
// the status; it is safe to call from any goroutine.
func (r *raceRig) get(u, token string) (int, error) {
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// check is the invariant: no file of the image (original or rendition, with or without a row) is
// more open than the image, and an image recorded as up to date has every file exactly as open as
// it is. It returns the violations.
func (r *raceRig) check() []string {
	var img models.Image
	if err := r.srv.DB.NewSelect().Model(&img).Where("id = ?", r.image).Scan(context.Background()); err != nil {
		r.t.Fatal(err)
	}
	var bad []string
	for _, key := range veiltest.ListKeys(r.t, r.srv.Store) {
		if !strings.Contains(key, "/"+r.image+"/") {
			continue
		}
		pub := r.public(key)
		switch {
		case pub && img.Privacy == models.Private:
			bad = append(bad, fmt.Sprintf("%s is world-readable while the image is PRIVATE (outdated=%v)", key, img.PermissionsOutdated()))
		case !pub && img.Privacy == models.Public && !img.PermissionsOutdated():
			bad = append(bad, fmt.Sprintf("%s is private while the image is PUBLIC and recorded up to date", key))
		}
	}
	return bad
}

// scheduler runs one rendition request (party 0) and one unpublish (party 1) step by step: each
// party stops at every hook point of its own work and moves on only when the scheduler lets it,
// so a list of choices fixes the interleaving completely.
type scheduler struct {
	image, content string
	events         chan schedEvent
	resume         [2]chan struct{}
}

type schedEvent struct {
	party int
	point string // "" when the party finished
}

func (s *scheduler) at(point, ids string) {
	party := -1
	switch {
	case strings.HasPrefix(point, "rendition.") && ids == s.image:
		party = 0
	case point == "publish.commit" && ids == s.content,
		strings.HasPrefix(point, "sync.") && strings.Contains(ids, s.image):
		party = 1
	}
	if party < 0 {
		return
	}
	s.events <- schedEvent{party, point}
	<-s.resume[party]
}

// wait returns the next event, failing the test if a released party neither stops nor finishes
// (a deadlock between the parties, which the hook points are placed never to cause).
func (s *scheduler) wait(t *testing.T) schedEvent {
	select {
	case ev := <-s.events:
		return ev
	case <-time.After(2 * time.Minute):
		t.Fatal("a party neither reached its next step nor finished: deadlock")
		return schedEvent{}
	}
}

// runOrdering runs the request for u against an unpublish in the order choices gives at each point
// where both parties are waiting (0: the rendition, 1: the unpublish; missing choices are 0). It
// returns the choices actually made and the trace of steps.
func (r *raceRig) runOrdering(u string, choices []int) ([]int, []string) {
	t := r.t
	s := &scheduler{image: r.image, content: r.content, events: make(chan schedEvent), resume: [2]chan struct{}{make(chan struct{}), make(chan struct{})}}
	media.SetTestHook(r.srv.Media, s.at)
	defer media.SetTestHook(r.srv.Media, nil)
	errs := make(chan error, 2)
	go func() {
		code, err := r.get(u, r.srv.AdminToken)
		if err == nil && code != http.StatusOK {
			err = fmt.Errorf("rendition request: status %d", code)
		}
		errs <- err
		s.events <- schedEvent{0, ""}
	}()
	go func() {
		errs <- r.changeLive(false)
		s.events <- schedEvent{1, ""}
	}()
	var state [2]string // the step a party waits at, or "" once it finished
	for range 2 {
		ev := s.wait(t)
		state[ev.party] = ev.point
	}
	var made []int
	var trace []string
	for state[0] != "" || state[1] != "" {
		p := 0
		switch {
		case state[0] != "" && state[1] != "":
			if len(made) < len(choices) {
				p = choices[len(made)]
			}
			made = append(made, p)
		case state[1] != "":
			p = 1
		}
		trace = append(trace, [2]string{"G:", "U:"}[p]+state[p])
		s.resume[p] <- struct{}{}
		ev := s.wait(t)
		if ev.party != p {
			t.Fatalf("party %d moved while party %d was released", ev.party, p)
		}
		state[p] = ev.point
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	return made, trace
}

// TestRenditionDuringUnpublishStaysPrivate (issue 14, item 2) runs a never-generated rendition's
// request against an unpublish of the content using its image in every interleaving of their
// steps (privacy read, object write, row insert, permission call and re-check on one side; commit,
// listing of files, permission calls and recording on the other), each from a published image,
// and checks after each that no file is more open than the image and that the image is not
// recorded up to date with a file that does not match.
func TestRenditionDuringUnpublishStaysPrivate(t *testing.T) {
	raceDrivers(t, func(t *testing.T, rig *raceRig) {
		var prefix []int
		runs := 0
		for {
			rig.setLive(true)
			if bad := rig.check(); len(bad) > 0 {
				t.Fatalf("after publishing, before ordering %v: %v", prefix, bad)
			}
			made, trace := rig.runOrdering(rig.newSpecURL(), prefix)
			runs++
			if bad := rig.check(); len(bad) > 0 {
				t.Errorf("ordering %s:\n\t%s", strings.Join(trace, " → "), strings.Join(bad, "\n\t"))
			}
			// Next ordering, depth first: flip the last choice that can still be flipped.
			i := len(made) - 1
			for i >= 0 && made[i] == 1 {
				i--
			}
			if i < 0 {
				break
			}
			prefix = append(made[:i:i], 1)
		}
		t.Logf("%d orderings", runs)
		if runs < 20 {
			t.Errorf("only %d orderings ran: the hook points are not all reached", runs)
		}
	})
}

// TestRenditionDuringPrivacyChangeStress (issue 14, item 2) lets many rendition requests for new
// specs (admin and anonymous) race a series of publishes and unpublishes, every step of every
// party yielding the processor a random number of times, and checks the invariant after each round.
func TestRenditionDuringPrivacyChangeStress(t *testing.T) {
	raceDrivers(t, func(t *testing.T, rig *raceRig) {
		seed := uint64(time.Now().UnixNano())
		t.Logf("seed %d", seed)
		var mu sync.Mutex
		rnd := mrand.New(mrand.NewPCG(seed, 14))
		media.SetTestHook(rig.srv.Media, func(string, string) {
			mu.Lock()
			n := rnd.IntN(40)
			mu.Unlock()
			for range n {
				runtime.Gosched()
			}
		})
		defer media.SetTestHook(rig.srv.Media, nil)
		rounds, requests, changes := 8, 12, 3
		if testing.Short() {
			rounds = 3
		}
		live := false
		for round := range rounds {
			rig.setLive(true)
			live = true
			urls := make([]string, requests)
			for i := range urls {
				urls[i] = rig.newSpecURL()
			}
			var wg sync.WaitGroup
			errs := make(chan error, requests+1)
			for i, u := range urls {
				wg.Add(1)
				go func() {
					defer wg.Done()
					token := rig.srv.AdminToken
					if i%2 == 1 {
						token = "" // anonymous: generated only while public
					}
					code, err := rig.get(u, token)
					if err == nil && code != http.StatusOK && code != http.StatusFound && !(token == "" && code == http.StatusForbidden) {
						err = fmt.Errorf("GET %s: status %d", u, code)
					}
					errs <- err
				}()
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				l := live
				for range changes {
					l = !l
					if err := rig.changeLive(l); err != nil {
						errs <- err
						return
					}
				}
			}()
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			if bad := rig.check(); len(bad) > 0 {
				t.Errorf("round %d:\n\t%s", round, strings.Join(bad, "\n\t"))
			}
		}
	})
}
