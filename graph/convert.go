package graph

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/99designs/gqlgen/graphql"

	"github.com/veil-media/veil/events"
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
	nodes := r.imageNodes(ctx, fieldLoads(ctx, imageTypes, true), page.Items)
	conn := &model.ImageConnection{Nodes: nodes, Filter: f, Edges: make([]*model.ImageEdge, len(nodes))}
	ids := make([]string, len(nodes))
	for i, n := range nodes {
		ids[i] = n.ID
		conn.Edges[i] = &model.ImageEdge{Cursor: media.Cursor(n.ID), Node: n}
	}
	conn.PageInfo = pageInfo(ids, media.Page[string]{HasNextPage: page.HasNextPage, HasPrevious: page.HasPrevious})
	return conn, nil
}

func (r *Resolver) documentPage(ctx context.Context, first *int, after *string, f media.Filter) (*model.DocumentConnection, error) {
	page, err := r.Media.ListDocuments(ctx, f, pageRequest(first, after))
	if err != nil {
		return nil, err
	}
	nodes := r.documentNodes(ctx, fieldLoads(ctx, documentTypes, true), page.Items)
	conn := &model.DocumentConnection{Nodes: nodes, Filter: f, Edges: make([]*model.DocumentEdge, len(nodes))}
	ids := make([]string, len(nodes))
	for i, n := range nodes {
		ids[i] = n.ID
		conn.Edges[i] = &model.DocumentEdge{Cursor: media.Cursor(n.ID), Node: n}
	}
	conn.PageInfo = pageInfo(ids, media.Page[string]{HasNextPage: page.HasNextPage, HasPrevious: page.HasPrevious})
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
// be told (events.SlowSubscriberError).
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

type cursorsKey struct{}

// cursorQueue holds the cursors of the events a subscription handed to the executor and whose
// responses are not yet written, oldest first: each value the executor takes from the channel
// becomes exactly one response, in order.
type cursorQueue struct {
	mu sync.Mutex
	q  []string
}

// WithCursors prepares ctx, the context of one subscription operation, to tell the transport the
// cursor of each response (NextCursor), for server-sent events' id field.
func WithCursors(ctx context.Context) context.Context {
	return context.WithValue(ctx, cursorsKey{}, &cursorQueue{})
}

// NextCursor returns the cursor of the event behind the response the executor just produced, or
// "" when there is none. Call it once per response. ctx must come from WithCursors.
func NextCursor(ctx context.Context) string {
	c, _ := ctx.Value(cursorsKey{}).(*cursorQueue)
	if c == nil {
		return ""
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.q) == 0 {
		return ""
	}
	v := c.q[0]
	c.q = c.q[1:]
	return v
}

func pushCursor(ctx context.Context, cursor string) {
	if c, _ := ctx.Value(cursorsKey{}).(*cursorQueue); c != nil {
		c.mu.Lock()
		c.q = append(c.q, cursor)
		c.mu.Unlock()
	}
}

// relay converts events for one subscription. The bus never waits for it (the bus drops a
// subscriber that falls behind, which closes its channel and so ends the subscription, the
// reason recorded for StreamEndError); it waits for the transport, which is the subscriber's own
// pace.
func relay[T any](ctx context.Context, m *media.Service, sub *events.Subscription, conv func(events.Event) T) <-chan T {
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
				pushCursor(ctx, ev.Cursor()) // before the send: the executor may answer at once
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

// auditConnection converts a page of the audit log.
func auditConnection(page events.AuditPage) *model.AuditEventConnection {
	out := &model.AuditEventConnection{Edges: make([]*model.AuditEventEdge, 0, len(page.Events)), PageInfo: &model.PageInfo{HasNextPage: page.HasNext}}
	opt := func(s string) *string {
		if s == "" {
			return nil
		}
		return &s
	}
	for _, ev := range page.Events {
		n := &model.AuditEvent{Cursor: ev.Cursor(), Type: string(ev.Kind), Time: ev.Time, Actor: opt(ev.Actor), TokenID: opt(ev.TokenID),
			MediaID: opt(ev.MediaID), ContentID: opt(ev.ContentID), CollectionID: opt(ev.CollectionID), Subject: opt(ev.Subject),
			Cause: opt(ev.Cause), Detail: opt(ev.Detail), Key: opt(ev.Key), Error: opt(ev.Error)}
		if ev.Privacy != "" {
			p := ev.Privacy
			n.Privacy = &p
		}
		if ev.Before != "" {
			p := ev.Before
			n.PrivacyBefore = &p
		}
		switch ev.Kind {
		case events.FilePermission, events.ItemPermissions, events.Purge:
			ok := ev.OK
			n.Ok = &ok
		}
		out.Edges = append(out.Edges, &model.AuditEventEdge{Cursor: n.Cursor, Node: n})
	}
	if len(out.Edges) > 0 {
		out.PageInfo.StartCursor, out.PageInfo.EndCursor = &out.Edges[0].Cursor, &out.Edges[len(out.Edges)-1].Cursor
	}
	return out
}

func webhookModel(h *models.Webhook) *model.Webhook {
	out := &model.Webhook{ID: h.ID, URL: h.URL, Events: []string{}, CreatedAt: h.CreatedAt, FailingSince: h.FailingSince, Attempts: h.Attempts, NextAttemptAt: h.NextAttemptAt}
	if h.Kinds != "" {
		out.Events = strings.Split(h.Kinds, ",")
	}
	if h.Cursor > 0 {
		c := strconv.FormatInt(h.Cursor, 10)
		out.DeliveredThrough = &c
	}
	return out
}

func webhookDeliveryModel(d *models.WebhookDelivery) *model.WebhookDelivery {
	out := &model.WebhookDelivery{ID: strconv.FormatInt(d.ID, 10), WebhookID: d.WebhookID, Cursor: strconv.FormatInt(d.Seq, 10), Type: d.Kind,
		Attempt: d.Attempt, Time: d.At, Ok: d.OK, DurationMs: int(d.DurationMS)}
	if d.Status != 0 {
		out.Status = &d.Status
	}
	if d.Error != "" {
		out.Error = &d.Error
	}
	return out
}

// kindsOf converts event type names (validated by the events package).
func kindsOf(names []string) []events.Kind {
	kinds := make([]events.Kind, len(names))
	for i, k := range names {
		kinds[i] = events.Kind(k)
	}
	return kinds
}
