package graph

import (
	"context"
	"sync"
	"time"

	"github.com/vikstrous/dataloadgen"

	"github.com/veil-media/veil/auth"
	"github.com/veil-media/veil/media"
	"github.com/veil-media/veil/models"
)

// Loaders batch the per-item lookups of one request (N+1 queries become one per field).
//
// Timed batching alone depends on scheduling: a slow goroutine misses the window and costs an
// extra query. So a page of results registers its items (SetPage), and the first load for any item
// of the page loads the whole page at once (values already cached, from another page of the same
// request, are not fetched again); the other items wait for that one load — never a load of the
// whole page per item — and then hit the loader's cache.
type Loaders struct {
	Collections *dataloadgen.Loader[string, *models.Collection]
	// ItemCollections loads the collections of media items the viewer may read (LoadCollection).
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

	mu    sync.Mutex
	pages map[string]*page // item id → the page it was listed on
}

type page struct {
	ids           []string
	collectionIDs []string
	// tags and collections run the one load of the page's tags and collections.
	tags, collections sync.Once
}

// SetPage records the items of one listed page of documents (images load their page's tags and
// collections at once in Resolver.imageNodes, and need no priming).
func (l *Loaders) SetPage(ids, collectionIDs []string) {
	p := &page{ids: ids, collectionIDs: dedupe(collectionIDs)}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, id := range ids {
		l.pages[id] = p
	}
}

func (l *Loaders) pageOf(id string) *page {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.pages[id]
}

// LoadTags returns the tags of a media item, loading its whole page's tags in one query.
func (l *Loaders) LoadTags(ctx context.Context, id string) ([]string, error) {
	if p := l.pageOf(id); p != nil {
		p.tags.Do(func() { _, _ = l.Tags.LoadAll(ctx, p.ids) })
	}
	return l.Tags.Load(ctx, id)
}

// LoadCollection returns the collection of a media item the viewer may read (resolvers get only
// such items), loading the collections of its whole page in one query.
func (l *Loaders) LoadCollection(ctx context.Context, itemID, collectionID string) (*models.Collection, error) {
	if p := l.pageOf(itemID); p != nil {
		p.collections.Do(func() { _, _ = l.ItemCollections.LoadAll(ctx, p.collectionIDs) })
	}
	return l.ItemCollections.Load(ctx, collectionID)
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
		pages: map[string]*page{},
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
