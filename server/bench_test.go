package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/veil-media/veil/auth"
	"github.com/veil-media/veil/media"

	"github.com/veil-media/veil/models"
	"github.com/veil-media/veil/storage"
	"github.com/veil-media/veil/veiltest"
)

const imagesFirst50 = `{ images(first: 50) { nodes {
	id title alt filename url fileSize contentType sha256 width height privacy createdAt updatedAt
	focalPoint { x y width height } tags collection { id name } } pageInfo { hasNextPage endCursor } } }`

// BenchmarkImagesFirst50 measures images(first: 50) with every scalar field, tags and collection
// over real HTTP (loopback), and reports SQL statements per request.
//
//	go test ./server -run '^$' -bench ImagesFirst50 -benchtime 3s
func BenchmarkImagesFirst50(b *testing.B) { benchmarkImages(b, imagesFirst50, 10000) }

// BenchmarkImagesFirst50Lean is the list benchmark's lean query: id, title and url of 50 images.
//
//	go test ./server -run '^$' -bench ImagesFirst50Lean
func BenchmarkImagesFirst50Lean(b *testing.B) {
	benchmarkImages(b, `{ images(first: 50) { nodes { id title url } } }`, 3000)
}

func benchmarkImages(b *testing.B, query string, minBytes int64) {
	dbs := map[string]func(testing.TB) *models.DB{"sqlite": veiltest.SQLite}
	if os.Getenv(veiltest.PostgresEnv) != "" {
		dbs["postgres"] = veiltest.Postgres
	}
	for name, open := range dbs {
		b.Run(name, func(b *testing.B) {
			var queries atomic.Int64
			srv := veiltest.NewServer(b, open(b), &veiltest.ServerOptions{Wrap: func(h http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					ctx, c := models.WithQueryCounter(r.Context())
					h.ServeHTTP(w, r.WithContext(ctx))
					queries.Add(c.Count())
				})
			}})
			seedImages(b, srv, 60)
			body, _ := json.Marshal(map[string]any{"query": query})
			client := srv.HTTP.Client()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req, _ := http.NewRequest(http.MethodPost, srv.URL+"/graphql", bytes.NewReader(body))
					req.Header.Set("Content-Type", "application/json")
					req.Header.Set("Accept-Encoding", "identity") // as wrk and the hand-written baseline: no gzip
					req.Header.Set("Authorization", "Bearer "+srv.Token)
					resp, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					n, _ := io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 || n < minBytes {
						b.Errorf("status %d, %d bytes", resp.StatusCode, n)
						return
					}
				}
			})
			b.ReportMetric(float64(queries.Load())/float64(b.N), "sql/op")
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
		})
	}
}

// BenchmarkUploadDocument streams a 256 MiB document through multipart HTTP into a fileblob
// bucket; the throughput is reported as MB/s.
//
//	go test ./server -run '^$' -bench UploadDocument -benchtime 5x
func BenchmarkUploadDocument(b *testing.B) {
	const size = 256 << 20
	srv := veiltest.NewServer(b, veiltest.SQLite(b), nil)
	payload := make([]byte, size)
	copy(payload, "%PDF-1.7\n")
	for i := 9; i < len(payload); i += 4096 {
		payload[i] = byte(i * 7)
	}
	b.SetBytes(size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		payload[size-1] = byte(i) // distinct bytes each time: not a duplicate
		r := srv.Upload(veiltest.UploadDocumentMutation, nil, veiltest.Part{Filename: "big.pdf", Body: bytes.NewReader(payload)})
		if len(r.Errors) > 0 {
			b.Fatal(string(r.Raw))
		}
	}
}

// BenchmarkRenditionCached serves one stored rendition repeatedly over loopback HTTP.
//
//	go test ./server -run '^$' -bench RenditionCached -benchtime 3s
func BenchmarkRenditionCached(b *testing.B) {
	srv := veiltest.NewServer(b, veiltest.SQLite(b), nil)
	img := srv.UploadImage(b, veiltest.FilePart(b, veiltest.Corpus(b, "photos/Garden.jpg")), nil)
	r := srv.GraphQL(`query($id: ID!) { image(id: $id) { rendition(spec: "width-400") { url } } }`, map[string]any{"id": img.ID})
	var out struct {
		Image struct{ Rendition struct{ URL string } }
	}
	r.Decode(b, &out)
	u := srv.URL + out.Image.Rendition.URL
	client := srv.HTTP.Client()
	client.Transport.(*http.Transport).MaxIdleConnsPerHost = 64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest(http.MethodGet, u, nil)
			req.Header.Set("Authorization", "Bearer "+srv.Token)
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}

// BenchmarkRenditionCachedHandler serves one stored rendition through the server's whole handler
// (middleware included) into a recorder, without a network, on a folder bucket: the CPU and the
// allocations of Veil's own work per request, for a private rendition with an API token and a
// published one without.
//
//	go test ./server -run '^$' -bench RenditionCachedHandler -benchmem
func BenchmarkRenditionCachedHandler(b *testing.B) {
	dir := filepath.Join(b.TempDir(), "media")
	srv := veiltest.NewServer(b, veiltest.SQLite(b), &veiltest.ServerOptions{StorageURL: "file://" + filepath.ToSlash(dir), ACL: storage.NewFileACL(dir)})
	private := srv.UploadImage(b, veiltest.FilePart(b, veiltest.Corpus(b, "photos/Garden.jpg")), nil)
	coll := srv.GraphQL(`mutation { createCollection(input: {name: "published"}) { id } }`, nil)
	var c struct{ CreateCollection struct{ ID string } }
	coll.Decode(b, &c)
	public := srv.UploadImage(b, veiltest.FilePart(b, veiltest.Corpus(b, "photos/Garden.jpg")), map[string]any{"collectionId": c.CreateCollection.ID})
	ctx := auth.WithViewer(context.Background(), auth.System)
	content, err := srv.Media.UpsertContent(ctx, media.UpsertContentInput{Kind: "page", Key: "bench", References: []media.ReferenceInput{{MediaID: public.ID}}})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := srv.Media.PublishContent(ctx, content.ID); err != nil {
		b.Fatal(err)
	}
	h := srv.HTTP.Config.Handler
	for _, c := range []struct {
		name, id, token string
	}{{"auth", private.ID, srv.Token}, {"public", public.ID, ""}} {
		r := srv.GraphQL(`query($id: ID!) { image(id: $id) { rendition(spec: "width-400") { url } } }`, map[string]any{"id": c.id})
		var out struct {
			Image struct{ Rendition struct{ URL string } }
		}
		r.Decode(b, &out)
		req := httptest.NewRequest(http.MethodGet, out.Image.Rendition.URL, nil)
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d", rec.Code)
				}
			}
		})
	}
}

// BenchmarkImagesFirst50Viewers measures images(first: 50) for different viewers, with the token
// cache on (2s) and off, and reports SQL statements per request (authentication included).
//
//	go test ./server -run '^$' -bench ImagesFirst50Viewers -benchtime 2s
func BenchmarkImagesFirst50Viewers(b *testing.B) {
	for _, cache := range []time.Duration{2 * time.Second, 0} {
		var queries atomic.Int64
		acfg := auth.DefaultConfig()
		acfg.CacheTTL = cache
		srv := veiltest.NewServer(b, veiltest.SQLite(b), &veiltest.ServerOptions{Auth: &acfg, Wrap: func(h http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				ctx, c := models.WithQueryCounter(r.Context())
				h.ServeHTTP(w, r.WithContext(ctx))
				queries.Add(c.Count())
			})
		}})
		ids := seedImages(b, srv, 120)
		// Half the images public; the grants user sees the private ones of one collection.
		ctx := context.Background()
		if _, err := srv.DB.NewUpdate().Model((*models.Image)(nil)).Set("privacy = 'PUBLIC'").Where("id IN (?)", bun.In(ids[:60])).Exec(ctx); err != nil {
			b.Fatal(err)
		}
		var setup struct {
			C struct{ ID string } `json:"c"`
			U struct{ ID string } `json:"u"`
			G struct{ ID string } `json:"g"`
		}
		srv.GraphQL(`mutation { c: createCollection(input: {name: "Granted"}) { id } u: createUser(input: {name: "Grantee", email: "g@example.com"}) { id } g: createGroup(name: "Editors") { id } }`, nil).Decode(b, &setup)
		if _, err := srv.DB.NewUpdate().Model((*models.Image)(nil)).Set("collection_id = ?", setup.C.ID).Where("id IN (?)", bun.In(ids[60:90])).Exec(ctx); err != nil {
			b.Fatal(err)
		}
		var tok struct{ CreateToken struct{ Token string } }
		srv.GraphQL(`mutation($g: ID!, $u: ID!, $c: ID!) { addToGroup(groupId: $g, userId: $u) { id } grant(input: {groupId: $g, permission: VIEW, collectionId: $c}) { id } }`,
			map[string]any{"g": setup.G.ID, "u": setup.U.ID, "c": setup.C.ID}).Decode(b, &struct{}{})
		srv.GraphQL(`mutation($u: ID!) { createToken(input: {name: "bench", userId: $u}) { token } }`, map[string]any{"u": setup.U.ID}).Decode(b, &tok)
		viewers := []struct{ name, token string }{{"anonymous", ""}, {"admin", srv.AdminToken}, {"grants", tok.CreateToken.Token}}
		body, _ := json.Marshal(map[string]any{"query": imagesFirst50})
		for _, v := range viewers {
			name := fmt.Sprintf("%s/cache=%v", v.name, cache > 0)
			b.Run(name, func(b *testing.B) {
				client := srv.HTTP.Client()
				queries.Store(0)
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						req, _ := http.NewRequest(http.MethodPost, srv.URL+"/graphql", bytes.NewReader(body))
						req.Header.Set("Content-Type", "application/json")
						if v.token != "" {
							req.Header.Set("Authorization", "Bearer "+v.token)
						}
						resp, err := client.Do(req)
						if err != nil {
							b.Error(err)
							return
						}
						n, _ := io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						if resp.StatusCode != 200 || n < 10000 {
							b.Errorf("status %d, %d bytes", resp.StatusCode, n)
							return
						}
					}
				})
				b.ReportMetric(float64(queries.Load())/float64(b.N), "sql/op")
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
			})
		}
	}
}

// BenchmarkPublish measures publishContent + unpublishContent of content referencing N images
// (service calls, no HTTP; proxy-only so no file permissions are set) and reports SQL statements
// per publish.
//
//	VEIL_TEST_POSTGRES_URL=… go test ./server -run '^$' -bench Publish -benchtime 20x
func BenchmarkPublish(b *testing.B) {
	dbs := map[string]func(testing.TB) *models.DB{"sqlite": veiltest.SQLite}
	if os.Getenv(veiltest.PostgresEnv) != "" {
		dbs["postgres"] = veiltest.Postgres
	}
	for name, open := range dbs {
		for _, n := range []int{1, 100, 2000} {
			b.Run(fmt.Sprintf("%s/images=%d", name, n), func(b *testing.B) {
				srv := veiltest.NewServer(b, open(b), nil)
				ids := seedImages(b, srv, n)
				ctx := auth.WithViewer(context.Background(), auth.System)
				refs := make([]media.ReferenceInput, len(ids))
				for i, id := range ids {
					refs[i] = media.ReferenceInput{MediaID: id, Field: "body"}
				}
				c, err := srv.Media.UpsertContent(ctx, media.UpsertContentInput{Kind: "page", Key: "bench", References: refs})
				if err != nil {
					b.Fatal(err)
				}
				var pubSQL int64
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					qctx, counter := models.WithQueryCounter(ctx)
					res, err := srv.Media.PublishContent(qctx, c.ID)
					if err != nil || len(res.MadePublic) != n {
						b.Fatalf("publish: %v (%d made public)", err, len(res.MadePublic))
					}
					pubSQL = counter.Count()
					if res, err := srv.Media.UnpublishContent(ctx, c.ID); err != nil || len(res.MadePrivate) != n {
						b.Fatalf("unpublish: %v", err)
					}
				}
				b.ReportMetric(float64(pubSQL), "sql/publish")
			})
		}
	}
}

// latencyACL answers every permission call after a fixed latency, like a remote storage API.
type latencyACL struct{ latency time.Duration }

func (l latencyACL) SetPublic(ctx context.Context, _ string, _ bool) error {
	select {
	case <-time.After(l.latency):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
func (l latencyACL) Name() string { return "latency" }

// BenchmarkPermissionSync publishes content referencing 2,000 images with 4 renditions each
// (10,000 files) against a driver with 20 ms latency per call, for several pool sizes, and reports
// files/s and the ratio to the latency-bound ideal (pool size / latency).
//
//	go test ./server -run '^$' -bench PermissionSync -benchtime 1x
func BenchmarkPermissionSync(b *testing.B) {
	const images, latency = 2000, 20 * time.Millisecond
	for _, workers := range []int{5, 32, 128} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			cfg := media.DefaultConfig()
			cfg.Permissions.Workers = workers
			srv := veiltest.NewServer(b, veiltest.SQLite(b), &veiltest.ServerOptions{Media: &cfg, ACL: latencyACL{latency}})
			ids := seedImages(b, srv, images)
			ctx := auth.WithViewer(context.Background(), auth.System)
			seedRenditions(b, srv, ids, 4)
			refs := make([]media.ReferenceInput, len(ids))
			for i, id := range ids {
				refs[i] = media.ReferenceInput{MediaID: id}
			}
			c, err := srv.Media.UpsertContent(ctx, media.UpsertContentInput{Kind: "page", Key: "sync", References: refs})
			if err != nil {
				b.Fatal(err)
			}
			var total time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				start := time.Now()
				if _, err := srv.Media.PublishContent(ctx, c.ID); err != nil {
					b.Fatal(err)
				}
				total += time.Since(start)
				b.StopTimer()
				if _, err := srv.Media.UnpublishContent(ctx, c.ID); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			files := float64(images * 5)
			perPublish := total.Seconds() / float64(b.N)
			ideal := files * latency.Seconds() / float64(workers)
			b.ReportMetric(files/perPublish, "files/s")
			b.ReportMetric(perPublish/ideal, "x_ideal")
		})
	}
}
