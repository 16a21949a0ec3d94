package graph

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/99designs/gqlgen/graphql"

	"github.com/veil-media/veil/graph/model"
	"github.com/veil-media/veil/media"
	"github.com/veil-media/veil/metrics"
	"github.com/veil-media/veil/models"
	"github.com/veil-media/veil/upload"
)

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func optString(o graphql.Omittable[*string]) media.Optional[string] {
	v, set := o.ValueOK()
	if !set {
		return media.Optional[string]{}
	}
	return media.Some(deref(v))
}

func optSlice(o graphql.Omittable[[]string]) media.Optional[[]string] {
	v, set := o.ValueOK()
	if !set {
		return media.Optional[[]string]{}
	}
	return media.Some(v)
}

func filterOf(f *model.MediaFilter) media.Filter {
	if f == nil {
		return media.Filter{}
	}
	return media.Filter{
		CollectionID:          deref(f.CollectionID),
		IncludeSubcollections: deref(f.IncludeSubcollections),
		Search:                deref(f.Search),
		Tag:                   deref(f.Tag),
	}
}

func pageRequest(first *int, after *string) media.PageRequest {
	p := media.PageRequest{After: deref(after)}
	if first != nil {
		p.First = *first
		if p.First == 0 {
			p.First = -1 // an explicit 0 is a client mistake, not "the default"
		}
	}
	return p
}

func pageInfo(ids []string, page media.Page[string]) *model.PageInfo {
	pi := &model.PageInfo{HasNextPage: page.HasNextPage, HasPreviousPage: page.HasPrevious}
	if len(ids) > 0 {
		start, end := media.Cursor(ids[0]), media.Cursor(ids[len(ids)-1])
		pi.StartCursor, pi.EndCursor = &start, &end
	}
	return pi
}

func (r *Resolver) imagePage(ctx context.Context, first *int, after *string, f media.Filter) (*model.ImageConnection, error) {
	page, err := r.Media.ListImages(ctx, f, pageRequest(first, after))
	if err != nil {
		return nil, err
	}
	conn := &model.ImageConnection{Nodes: page.Items, Filter: f, Edges: make([]*model.ImageEdge, len(page.Items))}
	ids, cols := make([]string, len(page.Items)), make([]string, len(page.Items))
	for i, img := range page.Items {
		ids[i], cols[i] = img.ID, img.CollectionID
		conn.Edges[i] = &model.ImageEdge{Cursor: media.Cursor(img.ID), Node: img}
	}
	r.loaders(ctx).SetPage(ids, cols)
	conn.PageInfo = pageInfo(ids, media.Page[string]{HasNextPage: page.HasNextPage, HasPrevious: page.HasPrevious})
	if conn.Nodes == nil {
		conn.Nodes = []*models.Image{}
	}
	return conn, nil
}

func (r *Resolver) documentPage(ctx context.Context, first *int, after *string, f media.Filter) (*model.DocumentConnection, error) {
	page, err := r.Media.ListDocuments(ctx, f, pageRequest(first, after))
	if err != nil {
		return nil, err
	}
	conn := &model.DocumentConnection{Nodes: page.Items, Filter: f, Edges: make([]*model.DocumentEdge, len(page.Items))}
	ids, cols := make([]string, len(page.Items)), make([]string, len(page.Items))
	for i, doc := range page.Items {
		ids[i], cols[i] = doc.ID, doc.CollectionID
		conn.Edges[i] = &model.DocumentEdge{Cursor: media.Cursor(doc.ID), Node: doc}
	}
	r.loaders(ctx).SetPage(ids, cols)
	conn.PageInfo = pageInfo(ids, media.Page[string]{HasNextPage: page.HasNextPage, HasPrevious: page.HasPrevious})
	if conn.Nodes == nil {
		conn.Nodes = []*models.Document{}
	}
	return conn, nil
}

// badUpload turns a failure to open an upload part into a client error.
func badUpload(err error) error {
	var spool *upload.SpoolLimitError
	if errors.As(err, &spool) {
		return spool
	}
	if errors.Is(err, upload.ErrConsumed) {
		return &media.InputError{Field: "file", Reason: "the same file part cannot be used twice"}
	}
	return &media.InputError{Field: "file", Reason: fmt.Sprintf("%v", err)}
}

type streamEndKey struct{}

// streamEnd holds why a subscription's stream ended, when it ended for a reason the client must
// be told (media.SlowSubscriberError).
type streamEnd struct {
	mu  sync.Mutex
	err error
}

// WithStreamEnd prepares ctx, the context of one subscription operation, to carry why its stream
// ended: the resolver records the reason before closing its channel, and the transport's
// response interceptor takes it (StreamEndError) when the stream yields no more responses.
func WithStreamEnd(ctx context.Context) context.Context {
	return context.WithValue(ctx, streamEndKey{}, &streamEnd{})
}

// StreamEndError returns, once, the reason recorded for the end of ctx's subscription stream, or
// nil. ctx must come from WithStreamEnd.
func StreamEndError(ctx context.Context) error {
	e, _ := ctx.Value(streamEndKey{}).(*streamEnd)
	if e == nil {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	err := e.err
	e.err = nil
	return err
}

func setStreamEnd(ctx context.Context, err error) {
	if e, _ := ctx.Value(streamEndKey{}).(*streamEnd); e != nil {
		e.mu.Lock()
		e.err = err
		e.mu.Unlock()
	}
}

// relay converts events for one subscription. The bus never waits for it (the bus drops a
// subscriber that falls behind, which closes its channel and so ends the subscription, the
// reason recorded for StreamEndError); it waits for the transport, which is the subscriber's own
// pace.
func relay[T any](ctx context.Context, m *media.Service, sub *media.Subscription, conv func(media.Event) T) <-chan T {
	in := sub.Events
	out := make(chan T, 1)
	go func() {
		defer close(out)
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-in:
				if !ok {
					if err := sub.Err(); err != nil {
						setStreamEnd(ctx, err) // before out is closed: the transport reads it after
					}
					return
				}
				deliver, ended := m.Deliverable(ctx, ev)
				if ended {
					<-ctx.Done() // the transport closes the connection
					return
				}
				if !deliver {
					continue
				}
				select {
				case out <- conv(ev):
					metrics.ObserveLag(ev.Time)
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out
}
