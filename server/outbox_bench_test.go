package server_test

import (
	"context"
	"os"
	"testing"

	"github.com/veil-media/veil/auth"
	"github.com/veil-media/veil/media"
	"github.com/veil-media/veil/models"
	"github.com/veil-media/veil/veiltest"
)

// BenchmarkPublishOutbox measures publishContent + unpublishContent of content referencing 2,000
// images with every event recorded in the outbox (and delivered) against the same server with no
// outbox (no event recorded or delivered), in the same run.
//
//	VEIL_TEST_POSTGRES_URL=… go test ./server -run '^$' -bench PublishOutbox -benchtime 10x
func BenchmarkPublishOutbox(b *testing.B) {
	dbs := map[string]func(testing.TB) *models.DB{"sqlite": veiltest.SQLite}
	if os.Getenv(veiltest.PostgresEnv) != "" {
		dbs["postgres"] = veiltest.Postgres
	}
	for name, open := range dbs {
		for _, mode := range []string{"outbox", "none"} {
			b.Run(name+"/"+mode, func(b *testing.B) {
				const n = 2000
				srv := veiltest.NewServer(b, open(b), nil)
				svc := srv.Media
				if mode == "none" {
					svc = media.New(media.DefaultConfig(), media.Deps{DB: srv.DB, Store: srv.Store})
				}
				ids := seedImages(b, srv, n)
				ctx := auth.WithViewer(context.Background(), auth.System)
				refs := make([]media.ReferenceInput, len(ids))
				for i, id := range ids {
					refs[i] = media.ReferenceInput{MediaID: id, Field: "body"}
				}
				c, err := svc.UpsertContent(ctx, media.UpsertContentInput{Kind: "page", Key: "bench", References: refs})
				if err != nil {
					b.Fatal(err)
				}
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if res, err := svc.PublishContent(ctx, c.ID); err != nil || len(res.MadePublic) != n {
						b.Fatalf("publish: %v", err)
					}
					if res, err := svc.UnpublishContent(ctx, c.ID); err != nil || len(res.MadePrivate) != n {
						b.Fatalf("unpublish: %v", err)
					}
				}
			})
		}
	}
}
