package server_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/veil-media/veil/auth"
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
	content := contentUsing(b, srv, "delay", ids)
	const query = `subscription { privacyChanged { mediaId privacy time } }`

	var mu sync.Mutex
	var delays []time.Duration
	var round sync.WaitGroup
	conns := make([]*websocket.Conn, subscribers)
	for i := range subscribers {
		c := subscriber(b, srv, query)
		conns[i] = c
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
	waitSubscribers(b, srv, subscribers)

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
