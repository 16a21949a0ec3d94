package server_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/veil-media/veil/auth"
	"github.com/veil-media/veil/media"
	"github.com/veil-media/veil/veiltest"
)

// BenchmarkFanOutDelay measures the delay from commit to delivery: 1,000 graphql-transport-ws
// subscribers to privacyChanged, and publishes that make 1 or 200 images public (one event per
// image, stamped with the commit time). Every client notes when each message arrives; the benchmark
// reports the median and the 99th percentile of arrival minus commit over all deliveries, and the
// delivered events per second. Clients run in the same process (2 cores shared with the server).
//
//	go test ./server -run '^$' -bench FanOutDelay -benchtime 20x
func BenchmarkFanOutDelay(b *testing.B) {
	for _, images := range []int{1, 200} {
		b.Run(fmt.Sprintf("images=%d", images), func(b *testing.B) { benchFanOut(b, images) })
	}
}

func benchFanOut(b *testing.B, images int) {
	const subscribers = 1000
	srv := veiltest.NewServer(b, veiltest.SQLite(b), &veiltest.ServerOptions{ACL: &acceptingACL{}})
	ids := seedImages(b, srv, images)
	ctx := auth.WithViewer(context.Background(), auth.System)
	refs := make([]media.ReferenceInput, len(ids))
	for i, id := range ids {
		refs[i] = media.ReferenceInput{MediaID: id}
	}
	content, err := srv.Media.UpsertContent(ctx, media.UpsertContentInput{Kind: "page", Key: "delay", References: refs})
	if err != nil {
		b.Fatal(err)
	}
	wsURL := "ws" + strings.TrimPrefix(srv.URL, "http") + "/graphql"
	const query = `subscription { privacyChanged { mediaId privacy time } }`

	var mu sync.Mutex
	var delays []time.Duration
	var round sync.WaitGroup
	conns := make([]*websocket.Conn, subscribers)
	for i := range subscribers {
		d := websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}}
		c, _, err := d.Dial(wsURL, nil)
		if err != nil {
			b.Fatalf("subscriber %d: %v", i, err)
		}
		conns[i] = c
		_ = c.WriteJSON(map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer " + srv.AdminToken}})
		var ack map[string]any
		if err := c.ReadJSON(&ack); err != nil || ack["type"] != "connection_ack" {
			b.Fatalf("subscriber %d init: %v %v", i, ack, err)
		}
		_ = c.WriteJSON(map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": query}})
		go func() {
			local := make([]time.Duration, 0, images)
			for {
				var m struct {
					Type    string
					Payload struct {
						Data struct {
							PrivacyChanged struct{ Time time.Time }
						}
					}
				}
				if err := c.ReadJSON(&m); err != nil {
					return
				}
				if m.Type != "next" {
					continue
				}
				local = append(local, time.Since(m.Payload.Data.PrivacyChanged.Time))
				if len(local) == images {
					mu.Lock()
					delays = append(delays, local...)
					mu.Unlock()
					local = local[:0]
					round.Done()
				}
			}
		}()
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	waitSubscribersB(b, srv, subscribers)

	mu.Lock()
	delays = delays[:0]
	mu.Unlock()
	b.ResetTimer()
	var elapsed time.Duration
	for i := range b.N {
		round.Add(subscribers)
		start := time.Now()
		var err error
		if i%2 == 0 {
			_, err = srv.Media.PublishContent(ctx, content.ID)
		} else {
			_, err = srv.Media.UnpublishContent(ctx, content.ID)
		}
		if err != nil {
			b.Fatal(err)
		}
		round.Wait()
		elapsed += time.Since(start)
	}
	b.StopTimer()
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(delays)
	pct := func(p float64) float64 { return float64(delays[int(p*float64(len(delays)-1))].Microseconds()) / 1000 }
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(delays[len(delays)-1].Microseconds())/1000, "max-ms")
	b.ReportMetric(float64(len(delays))/elapsed.Seconds(), "deliveries/s")
}

func waitSubscribersB(b *testing.B, srv *veiltest.Server, n int) {
	deadline := time.Now().Add(30 * time.Second)
	for srv.Media.Bus().Subscribers() < n {
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d subscriptions registered", srv.Media.Bus().Subscribers(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
