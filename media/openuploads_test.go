package media_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/veil-media/veil/auth"
	"github.com/veil-media/veil/media"
	"github.com/veil-media/veil/models"
	"github.com/veil-media/veil/veiltest"
)

// TestOpenUploadLimitConcurrentCreations: with one room left under the open-upload limit, two
// creations at once (a presigned and a resumable one) never both pass. The first is held inside its
// check (hook "upload.open.counted", its count made, its row not yet inserted) until the second has
// reached the lock (hook "upload.open.lock") and, on Postgres, is seen waiting on it (pg_locks); a
// second creation reaching the check meanwhile would mean the check is not under the lock. Then
// the roles swap.
func TestOpenUploadLimitConcurrentCreations(t *testing.T) {
	veiltest.EachDB(t, func(t *testing.T, db *models.DB) {
		cfg := media.DefaultConfig()
		cfg.MaxOpenUploadsPerUser = 2
		srv := veiltest.NewServer(t, db, &veiltest.ServerOptions{Media: &cfg})
		svc := srv.Media
		ctx := auth.WithViewer(context.Background(), auth.System)
		presigned := func() error {
			_, err := svc.CreateUpload(ctx, media.CreateUploadInput{Kind: media.KindDocument, Filename: "a.pdf", Size: 100, ContentType: "application/pdf"})
			return err
		}
		resumable := func() error {
			_, err := svc.CreateResumable(ctx, media.ResumableInput{Filename: "b.txt", FileType: "text/plain", Size: 100})
			return err
		}
		for round, order := range [][2]func() error{{presigned, resumable}, {resumable, presigned}} {
			// Start from one open upload: room for one more.
			for _, table := range []string{"staged_uploads", "resumable_uploads"} {
				if _, err := db.NewUpdate().Table(table).Set("expires_at = ?", models.Now().Add(-time.Second)).Where("1 = 1").Exec(ctx); err != nil {
					t.Fatal(err)
				}
			}
			if err := order[1](); err != nil {
				t.Fatalf("round %d: the first upload: %v", round, err)
			}

			firstIn, release := make(chan struct{}), make(chan struct{})
			secondAtLock, secondIn := make(chan struct{}), make(chan struct{})
			var locks, counted atomic.Int32
			media.SetTestHook(svc, func(point, _ string) {
				switch point {
				case "upload.open.lock":
					if locks.Add(1) == 2 {
						close(secondAtLock)
					}
				case "upload.open.counted":
					if counted.Add(1) == 1 {
						close(firstIn)
						<-release
					} else {
						close(secondIn)
					}
				}
			})
			errs := make(chan error, 2)
			go func() { errs <- order[0]() }()
			<-firstIn
			go func() { errs <- order[1]() }()
			<-secondAtLock
			if db.Dialect == models.Postgres {
				waitForLockWaiter(t, db, secondIn)
			}
			select {
			case <-secondIn:
				t.Errorf("round %d: the second creation counted open uploads while the first was between its count and its insert", round)
			default:
			}
			close(release)
			e1, e2 := <-errs, <-errs
			media.SetTestHook(svc, nil)
			var limit *media.OpenUploadLimitError
			passed := 0
			for _, err := range []error{e1, e2} {
				switch {
				case err == nil:
					passed++
				case !errors.As(err, &limit):
					t.Fatalf("round %d: %v", round, err)
				}
			}
			if passed != 1 || limit == nil || limit.Scope != "count" || limit.Open != 2 {
				t.Fatalf("round %d: %d of two creations at the limit passed (errors %v, %v)", round, passed, e1, e2)
			}
		}
	})
}

// waitForLockWaiter returns once a session of db's database waits for an advisory lock, or
// done is closed.
func waitForLockWaiter(t *testing.T, db *models.DB, done <-chan struct{}) {
	t.Helper()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		var n int
		if err := db.NewRaw(`SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted
			AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`).Scan(context.Background(), &n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return
		}
		select {
		case <-done:
			return
		case <-tick.C:
		}
	}
}
