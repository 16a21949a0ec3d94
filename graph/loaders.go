package graph

import (
	"context"
	"time"

	"github.com/vikstrous/dataloadgen"

	"github.com/veil-media/veil/auth"
	"github.com/veil-media/veil/media"
	"github.com/veil-media/veil/models"
)

// Loaders batch the per-item lookups of one request (N+1 queries become one per field). The tags
// and collections of images and documents are loaded by the resolver returning them, for all of
// them at once (loadItems), so they never depend on timed batching.
type Loaders struct {
	Collections *dataloadgen.Loader[string, *models.Collection]
	// ItemCollections loads the collections of media items the viewer may read (loadItems).
	ItemCollections *dataloadgen.Loader[string, *models.Collection]
	Tags            *dataloadgen.Loader[string, []string]
	Members         *dataloadgen.Loader[string, []*models.User]
	UserGroups      *dataloadgen.Loader[string, []*models.Group]
	Grants          *dataloadgen.Loader[string, []*models.Grant]
	Usage           *dataloadgen.Loader[string, []*media.Usage]
	Images          *dataloadgen.Loader[string, *models.Image]
	Documents       *dataloadgen.Loader[string, *models.Document]
	DraftRefs       *dataloadgen.Loader[string, []*models.Reference]
	LiveRefs        *dataloadgen.Loader[string, []*models.Reference]

	svc *media.Service
}

func dedupe(ids []string) []string {
	seen := make(map[string]bool, len(ids))
	out := ids[:0:0]
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

type loadersKey struct{}

// NewLoaders returns fresh loaders for one request.
func NewLoaders(svc *media.Service, as *auth.Service) *Loaders {
	wait := dataloadgen.WithWait(time.Millisecond)
	refs := func(state models.RefState) *dataloadgen.Loader[string, []*models.Reference] {
		return dataloadgen.NewLoader(func(ctx context.Context, ids []string) ([][]*models.Reference, []error) {
			rows, err := svc.ReferencesOf(ctx, ids, state)
			out := make([][]*models.Reference, len(rows))
			for i := range rows {
				for j := range rows[i] {
					out[i] = append(out[i], &rows[i][j])
				}
			}
			return out, fillErr(len(ids), err)
		}, wait)
	}
	return &Loaders{
		svc:       svc,
		DraftRefs: refs(models.Draft),
		LiveRefs:  refs(models.Live),
		Usage: dataloadgen.NewLoader(func(ctx context.Context, ids []string) ([][]*media.Usage, []error) {
			rows, err := svc.UsageOf(ctx, ids)
			out := make([][]*media.Usage, len(rows))
			for i := range rows {
				for j := range rows[i] {
					out[i] = append(out[i], &rows[i][j])
				}
			}
			return out, fillErr(len(ids), err)
		}, wait),
		Images: dataloadgen.NewLoader(func(ctx context.Context, ids []string) ([]*models.Image, []error) {
			rows, err := svc.ImagesByID(ctx, ids)
			return rows, fillErr(len(ids), err)
		}, wait),
		Documents: dataloadgen.NewLoader(func(ctx context.Context, ids []string) ([]*models.Document, []error) {
			rows, err := svc.DocumentsByID(ctx, ids)
			return rows, fillErr(len(ids), err)
		}, wait),
		Collections: dataloadgen.NewLoader(func(ctx context.Context, ids []string) ([]*models.Collection, []error) {
			rows, err := svc.CollectionsByID(ctx, ids)
			return rows, fillErr(len(ids), err)
		}, wait),
		ItemCollections: dataloadgen.NewLoader(func(ctx context.Context, ids []string) ([]*models.Collection, []error) {
			rows, err := svc.CollectionsOfItems(ctx, ids)
			return rows, fillErr(len(ids), err)
		}, wait),
		Tags: dataloadgen.NewLoader(func(ctx context.Context, ids []string) ([][]string, []error) {
			rows, err := svc.TagsByMediaID(ctx, ids)
			return rows, fillErr(len(ids), err)
		}, wait),
		Members: dataloadgen.NewLoader(func(ctx context.Context, ids []string) ([][]*models.User, []error) {
			rows, err := as.MembersOf(ctx, ids)
			return rows, fillErr(len(ids), err)
		}, wait),
		UserGroups: dataloadgen.NewLoader(func(ctx context.Context, ids []string) ([][]*models.Group, []error) {
			rows, err := as.GroupsOf(ctx, ids)
			return rows, fillErr(len(ids), err)
		}, wait),
		Grants: dataloadgen.NewLoader(func(ctx context.Context, ids []string) ([][]*models.Grant, []error) {
			rows, err := as.GrantsOf(ctx, ids)
			out := make([][]*models.Grant, len(rows))
			for i := range rows {
				for j := range rows[i] {
					out[i] = append(out[i], &rows[i][j])
				}
			}
			return out, fillErr(len(ids), err)
		}, wait),
	}
}

func fillErr(n int, err error) []error {
	if err == nil {
		return nil
	}
	errs := make([]error, n)
	for i := range errs {
		errs[i] = err
	}
	return errs
}

// WithLoaders stores request-scoped loaders in ctx.
func WithLoaders(ctx context.Context, l *Loaders) context.Context {
	return context.WithValue(ctx, loadersKey{}, l)
}

func (r *Resolver) loaders(ctx context.Context) *Loaders {
	if l, ok := ctx.Value(loadersKey{}).(*Loaders); ok {
		return l
	}
	// Outside an HTTP request (tests calling the executor directly): unbatched but correct.
	return NewLoaders(r.Media, r.Auth)
}

func (l *Loaders) references(ctx context.Context, contentID string, state models.RefState) ([]*models.Reference, error) {
	if state == models.Live {
		return l.LiveRefs.Load(ctx, contentID)
	}
	return l.DraftRefs.Load(ctx, contentID)
}

// media loads a referenced image or document, or nil when it is gone or hidden from the viewer.
func (l *Loaders) media(ctx context.Context, id string) (models.MediaItem, error) {
	var item models.MediaItem
	switch media.KindOfID(id) {
	case media.KindImage:
		img, err := l.Images.Load(ctx, id)
		if err != nil || img == nil {
			return nil, err
		}
		item = img
	case media.KindDocument:
		doc, err := l.Documents.Load(ctx, id)
		if err != nil || doc == nil {
			return nil, err
		}
		item = doc
	default:
		return nil, nil
	}
	return l.svc.Visible(ctx, item), nil
}
