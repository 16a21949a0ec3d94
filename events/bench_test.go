package events_test

import (
	"context"
	"testing"
	"time"

	"github.com/veil-media/veil/events"
	"github.com/veil-media/veil/models"
	"github.com/veil-media/veil/veiltest"
)

// benchDBs runs fn on SQLite and, when VEIL_TEST_POSTGRES_URL is set, on Postgres.
func benchDBs(b *testing.B, fn func(b *testing.B, db *models.DB)) {
	b.Run("sqlite", func(b *testing.B) { fn(b, veiltest.SQLite(b)) })
	b.Run("postgres", func(b *testing.B) { fn(b, veiltest.Postgres(b)) })
}

func fill(b *testing.B, db *models.DB, box *events.Outbox, n int) {
	for i := 0; i < n; i += 1000 {
		evs := make([]events.Event, min(1000, n-i))
		for j := range evs {
			evs[j] = ev(i + j)
		}
		if err := box.Append(context.Background(), db.DB, evs...); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRelay: events numbered and delivered per second by one relay (batches of 500).
func BenchmarkRelay(b *testing.B) {
	benchDBs(b, func(b *testing.B, db *models.DB) {
		bus, _ := events.OpenBus(context.Background(), "mem://", nil)
		box := events.NewOutbox(db, bus, events.DefaultConfig(), nil)
		const n = 20000
		b.ResetTimer()
		for range b.N {
			b.StopTimer()
			fill(b, db, box, n)
			b.StartTimer()
			start := time.Now()
			total := 0
			for {
				k, err := box.RelayOnce(context.Background())
				if err != nil {
					b.Fatal(err)
				}
				if k == 0 {
					break
				}
				total += k
			}
			b.ReportMetric(float64(total)/time.Since(start).Seconds(), "events/s")
		}
	})
}

// BenchmarkReplay100k: one subscriber resuming from cursor 0 over 100,000 recorded events.
func BenchmarkReplay100k(b *testing.B) {
	benchDBs(b, func(b *testing.B, db *models.DB) {
		bus, _ := events.OpenBus(context.Background(), "mem://", nil)
		box := events.NewOutbox(db, bus, events.DefaultConfig(), nil)
		const n = 100000
		fill(b, db, box, n)
		for {
			k, err := box.RelayOnce(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			if k == 0 {
				break
			}
		}
		b.ResetTimer()
		for range b.N {
			start := time.Now()
			ctx, cancel := context.WithCancel(context.Background())
			sub, err := box.Subscribe(ctx, "0", nil, 1024)
			if err != nil {
				b.Fatal(err)
			}
			for i := 0; i < n; i++ {
				if _, ok := <-sub.Events; !ok {
					b.Fatalf("stream ended after %d", i)
				}
			}
			cancel()
			b.ReportMetric(float64(n)/time.Since(start).Seconds(), "events/s")
		}
	})
}
