package server_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/veil-media/veil/auth"
	"github.com/veil-media/veil/media"
	"github.com/veil-media/veil/models"
	"github.com/veil-media/veil/server"
	"github.com/veil-media/veil/veiltest"
)

// acceptingACL accepts every permission change: the storage side is not under test here, the
// event fan-out is. (Real drivers have their own conformance suite.)
type acceptingACL struct{ calls atomic.Int64 }

func (a *acceptingACL) SetPublic(context.Context, string, bool) error { a.calls.Add(1); return nil }
func (a *acceptingACL) Name() string                                  { return "accept-all (test)" }

// contentUsing makes a content item whose draft references every id, ready to publish.
func contentUsing(t testing.TB, srv *veiltest.Server, key string, ids []string) *models.Content {
	t.Helper()
	refs := make([]media.ReferenceInput, len(ids))
	for i, id := range ids {
		refs[i] = media.ReferenceInput{MediaID: id}
	}
	ctx := auth.WithViewer(context.Background(), auth.System)
	content, err := srv.Media.UpsertContent(ctx, media.UpsertContentInput{Kind: "page", Key: key, References: refs})
	if err != nil {
		t.Fatal(err)
	}
	return content
}

// subscriber opens a graphql-transport-ws connection as the admin and subscribes to query.
func subscriber(t testing.TB, srv *veiltest.Server, query string) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{Subprotocols: []string{"graphql-transport-ws"}, HandshakeTimeout: 10 * time.Second}
	c, _, err := d.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/graphql", nil)
	if err != nil {
		t.Fatalf("subscriber: %v", err)
	}
	_ = c.WriteJSON(map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer " + srv.AdminToken}})
	var ack map[string]any
	if err := c.ReadJSON(&ack); err != nil || ack["type"] != "connection_ack" {
		t.Fatalf("subscriber init: %v %v", ack, err)
	}
	_ = c.WriteJSON(map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": query}})
	return c
}

// waitProgress waits until finished closes, failing only when delivery stalls: no new message for
// 30 s, or a subscriber dropped by the bus. A slow machine passes; a lost message (which stops progress for good) fails.
func waitProgress(t *testing.T, srv *veiltest.Server, finished <-chan struct{}, delivered func() int64) {
	t.Helper()
	last, lastChange := delivered(), time.Now()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-finished:
			return
		case <-tick.C:
			if d := srv.Media.Bus().Dropped(); d > 0 {
				t.Fatalf("%d subscribers were dropped for falling behind", d)
			}
			if n := delivered(); n != last {
				last, lastChange = n, time.Now()
			} else if time.Since(lastChange) > 30*time.Second {
				t.Fatalf("delivery stalled at %d messages for 30s", n)
			}
		}
	}
}

// TestFanOutThousandSubscribers: 1,000 websocket subscribers each receive every one of the 1,000
// file events of one publish (200 images × original + 4 renditions), none lost.
func TestFanOutThousandSubscribers(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000 websockets: skipped with -short")
	}
	const images = 200
	subscribers := 1000
	cfg := media.DefaultConfig()
	if raceEnabled {
		subscribers = 100 // the race detector makes 1.2M websocket messages take minutes; the count still proves fan-out
		// The publish is one burst of 1,200 events per subscriber. Slowed tenfold, a subscriber's
		// relay (viewer re-check, size check, protocol bookkeeping) drains less of it than the
		// default 1,024-event buffer needs; the race run proves delivery, so its buffer holds the
		// whole burst. Without -race the default buffer is kept and must hold.
		cfg.SubscriptionBuffer = 2 * images * 6
	}
	acl := &acceptingACL{}
	// A thousand reading goroutines on two busy cores can leave one connection unread for longer
	// than the production write deadline, which then closes it as a stalled client (that policy
	// has its own tests); here every subscriber must get everything.
	scfg := server.DefaultConfig()
	scfg.WebsocketWriteTimeout = 5 * time.Minute
	srv := veiltest.NewServer(t, veiltest.SQLite(t), &veiltest.ServerOptions{ACL: acl, Media: &cfg, Server: &scfg})
	ids := seedImages(t, srv, images)
	ctx := auth.WithViewer(context.Background(), auth.System)
	seedRenditions(t, srv, ids, 4)
	content := contentUsing(t, srv, "fanout", ids)
	query := fmt.Sprintf(`subscription { filePermissionResults(contentId: %q) { mediaId key ok complete } }`, content.ID)
	counts := make([]atomic.Int64, subscribers)
	completes := make([]atomic.Int64, subscribers)
	ended := make([]atomic.Pointer[error], subscribers) // a connection that failed before its last event
	var ready, done sync.WaitGroup
	conns := make([]*websocket.Conn, subscribers)
	for i := range subscribers {
		c := subscriber(t, srv, query)
		conns[i] = c
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			ready.Done()
			for {
				var m struct {
					Type    string
					Payload struct {
						Data struct {
							FilePermissionResults struct{ Complete bool }
						}
					}
				}
				if err := c.ReadJSON(&m); err != nil {
					ended[i].Store(&err)
					return
				}
				if m.Type != "next" {
					continue
				}
				if m.Payload.Data.FilePermissionResults.Complete {
					if completes[i].Add(1) == images {
						return
					}
				} else {
					counts[i].Add(1)
				}
			}
		}()
	}
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	ready.Wait()
	waitSubscribers(t, srv, subscribers)

	callsBefore := acl.calls.Load()
	start := time.Now()
	if _, err := srv.Media.PublishContent(ctx, content.ID); err != nil {
		t.Fatal(err)
	}
	finished := make(chan struct{})
	go func() { done.Wait(); close(finished) }()
	waitProgress(t, srv, finished, func() int64 {
		var n int64
		for i := range subscribers {
			n += counts[i].Load() + completes[i].Load()
			if err := ended[i].Load(); err != nil {
				t.Fatalf("subscriber %d's connection ended after %d events: %v", i, counts[i].Load()+completes[i].Load(), *err)
			}
		}
		return n
	})
	elapsed := time.Since(start)
	for i := range subscribers {
		if counts[i].Load() != images*5 || completes[i].Load() != images {
			t.Fatalf("subscriber %d got %d file events and %d completions, want %d and %d", i, counts[i].Load(), completes[i].Load(), images*5, images)
		}
	}
	if n := acl.calls.Load() - callsBefore; n != images*5 {
		t.Errorf("ACL calls during publish = %d, want %d", n, images*5)
	}
	t.Logf("%d subscribers × %d events delivered in %v (%.0f events/s)", subscribers, images*6, elapsed, float64(subscribers*images*6)/elapsed.Seconds())
}
