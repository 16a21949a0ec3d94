package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"testing"

	"github.com/veil-media/veil/auth"
	"github.com/veil-media/veil/models"
	"github.com/veil-media/veil/veiltest"
)

// BenchmarkAnonymousDisclosure measures what the collection visibility rule costs a non-admin
// viewer: images(first: 50) with every scalar field, tags and collection (as in
// BenchmarkImagesFirst50), and collections, over 120 images in 120 collections of which 60 hold a
// public image; as an anonymous viewer and as a user with VIEW on 10 of the private collections.
//
//	go test ./server -run '^$' -bench AnonymousDisclosure -benchtime 3s -count 5
func BenchmarkAnonymousDisclosure(b *testing.B) {
	dbs := map[string]func(testing.TB) *models.DB{"sqlite": veiltest.SQLite}
	if os.Getenv(veiltest.PostgresEnv) != "" {
		dbs["postgres"] = veiltest.Postgres
	}
	for name, open := range dbs {
		b.Run(name, func(b *testing.B) {
			srv := veiltest.NewServer(b, open(b), nil)
			ctx := auth.WithViewer(context.Background(), auth.System)
			ids := seedImages(b, srv, 120)
			var cols []string
			for i, id := range ids {
				c := &models.Collection{ID: fmt.Sprintf("col_%s", newULID(b)), Name: fmt.Sprintf("bench %d", i), CreatedAt: models.Now()}
				root := models.RootCollectionID
				c.ParentID, c.Path = &root, "/"+root+"/"+c.ID+"/"
				if _, err := srv.DB.NewInsert().Model(c).Exec(ctx); err != nil {
					b.Fatal(err)
				}
				privacy := models.Private
				if i%2 == 0 {
					privacy = models.Public
				}
				if _, err := srv.DB.NewUpdate().Model((*models.Image)(nil)).Set("collection_id = ?, privacy = ?", c.ID, privacy).Where("id = ?", id).Exec(ctx); err != nil {
					b.Fatal(err)
				}
				cols = append(cols, c.ID)
			}
			var u struct {
				CreateUser  struct{ ID string }
				CreateGroup struct{ ID string }
			}
			srv.GraphQL(`mutation { createUser(input: {name: "bench", email: "bench@bench.example"}) { id } createGroup(name: "bench") { id } }`, nil).Decode(b, &u)
			srv.GraphQL(`mutation($g: ID!, $u: ID!) { addToGroup(groupId: $g, userId: $u) { id } }`, map[string]any{"g": u.CreateGroup.ID, "u": u.CreateUser.ID}).Decode(b, &struct{}{})
			for i := 1; i < 20; i += 2 {
				srv.GraphQL(`mutation($g: ID!, $c: ID) { grant(input: {groupId: $g, permission: VIEW, collectionId: $c}) { id } }`, map[string]any{"g": u.CreateGroup.ID, "c": cols[i]}).Decode(b, &struct{}{})
			}
			var tok struct{ CreateToken struct{ Token string } }
			srv.GraphQL(`mutation($u: ID) { createToken(input: {name: "bench", userId: $u}) { token } }`, map[string]any{"u": u.CreateUser.ID}).Decode(b, &tok)

			for _, q := range []struct{ name, query string }{{"images50", imagesFirst50}, {"collections", `{ collections { id name } }`}} {
				for _, v := range []struct{ name, token string }{{"anonymous", ""}, {"view", tok.CreateToken.Token}} {
					b.Run(q.name+"/"+v.name, func(b *testing.B) {
						body, _ := json.Marshal(map[string]any{"query": q.query})
						client := srv.HTTP.Client()
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
								if resp.StatusCode != 200 || n < 1000 {
									b.Errorf("status %d, %d bytes", resp.StatusCode, n)
									return
								}
							}
						})
						b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
					})
				}
			}
		})
	}
}
