package media

import (
	"context"
	"errors"
	"sync"
)

// UploadLog records the items one request stored, so that a request whose operation failed as a
// whole can take them back (DiscardUploads): a client never gets the id of an item stored by a
// mutation that answered with no data, so such an item could only be found and removed by hand.
type UploadLog struct {
	mu    sync.Mutex
	items []loggedUpload
}

type loggedUpload struct {
	kind Kind
	id   string
}

type uploadLogKey struct{}

// WithUploadLog returns ctx carrying a new, empty log that UploadImage and UploadDocument append
// to.
func WithUploadLog(ctx context.Context) (context.Context, *UploadLog) {
	l := &UploadLog{}
	return context.WithValue(ctx, uploadLogKey{}, l), l
}

func logUpload(ctx context.Context, kind Kind, id string) {
	if l, ok := ctx.Value(uploadLogKey{}).(*UploadLog); ok {
		l.mu.Lock()
		l.items = append(l.items, loggedUpload{kind, id})
		l.mu.Unlock()
	}
}

// Len is the number of items stored under the log.
func (l *UploadLog) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.items)
}

// IDs are the ids of the items stored under the log, in the order they were stored.
func (l *UploadLog) IDs() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	ids := make([]string, len(l.items))
	for i, it := range l.items {
		ids[i] = it.id
	}
	return ids
}

type takingBackKey struct{}

// takingBack reports a deletion made by DiscardUploads: the request takes back what it stored
// itself, which needs no DELETE permission.
func takingBack(ctx context.Context) bool { b, _ := ctx.Value(takingBackKey{}).(bool); return b }

// DiscardUploads deletes every item the log holds (rows, tags, renditions and files, as
// DeleteImage and DeleteDocument do) and empties it. It runs even when ctx is cancelled. The
// errors of the items that could not be deleted are joined; the others are gone.
func (s *Service) DiscardUploads(ctx context.Context, l *UploadLog) error {
	l.mu.Lock()
	items := l.items
	l.items = nil
	l.mu.Unlock()
	ctx = context.WithValue(context.WithoutCancel(ctx), takingBackKey{}, true)
	var errs []error
	for _, it := range items {
		var err error
		if it.kind == KindImage {
			err = s.DeleteImage(ctx, it.id, true)
		} else {
			err = s.DeleteDocument(ctx, it.id, true)
		}
		if err != nil {
			s.log.ErrorContext(ctx, "upload of a failed mutation left behind", "media_id", it.id, "err", err)
			errs = append(errs, err)
			continue
		}
		s.log.InfoContext(ctx, "upload taken back: its mutation failed", "media_id", it.id)
	}
	return errors.Join(errs...)
}
