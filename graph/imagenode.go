package graph

import (
	"context"
	"errors"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vikstrous/dataloadgen"

	"github.com/veil-media/veil/graph/model"
	"github.com/veil-media/veil/media"
	"github.com/veil-media/veil/models"
)

// imageFields is the model.ImageFields of the schema: the same functions the resolvers used.
type imageFields struct{ r *Resolver }

func (f imageFields) ImageURL(img *models.Image) string {
	return f.r.URLs.Absolute(f.r.Media.OriginalURL(img))
}

func (f imageFields) ImageRendition(img *models.Image, spec string) (*media.RenditionInfo, error) {
	info, err := f.r.Media.Rendition(img, spec)
	if err != nil {
		return nil, err
	}
	return &info, nil
}

// imageLoads are the fields of images that need a load, as asked for at one position of a query.
type imageLoads struct{ tags, collection bool }

func (l imageLoads) or(o imageLoads) imageLoads {
	return imageLoads{tags: l.tags || o.tags, collection: l.collection || o.collection}
}

var allImageLoads = imageLoads{tags: true, collection: true}

// imageLoadsIn returns the loads the selection sel of an Image, Node or Media position asks for
// (fragments, aliases and @skip/@include applied as the executor will).
func imageLoadsIn(oc *graphql.OperationContext, sel ast.SelectionSet) imageLoads {
	var l imageLoads
	for _, f := range graphql.CollectFields(oc, sel, imageImplementors) {
		switch f.Name {
		case "tags":
			l.tags = true
		case "collection":
			l.collection = true
		}
	}
	return l
}

// fieldImageLoads returns the loads the current field (in ctx) asks for of the images it returns:
// its own selection, or with conn, that of its ImageConnection's nodes and edges' nodes. Outside
// the executor (no field in ctx) everything is loaded.
func fieldImageLoads(ctx context.Context, conn bool) imageLoads {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil || !graphql.HasOperationContext(ctx) {
		return allImageLoads
	}
	oc := graphql.GetOperationContext(ctx)
	if !conn {
		return imageLoadsIn(oc, fc.Field.Selections)
	}
	var l imageLoads
	for _, f := range graphql.CollectFields(oc, fc.Field.Selections, imageConnectionImplementors) {
		switch f.Name {
		case "nodes":
			l = l.or(imageLoadsIn(oc, f.Selections))
		case "edges":
			for _, e := range graphql.CollectFields(oc, f.Selections, imageEdgeImplementors) {
				if e.Name == "node" {
					l = l.or(imageLoadsIn(oc, e.Selections))
				}
			}
		}
	}
	return l
}

// imageNodes returns the nodes of imgs with what want asks for loaded for all of them at once:
// their tags in one query and their collections in one (through the request's loaders, so values
// already loaded in the request are not fetched again, and concurrent callers share a batch).
// The collections are those of items the viewer was allowed to read (LoadCollection's rule):
// every caller passes only such items.
func (r *Resolver) imageNodes(ctx context.Context, want imageLoads, imgs []*models.Image) []*model.Image {
	nodes := make([]model.Image, len(imgs))
	out := make([]*model.Image, len(imgs))
	fields := imageFields{r}
	for i, img := range imgs {
		nodes[i] = model.NewImage(img, fields)
		out[i] = &nodes[i]
	}
	if len(imgs) == 0 || (!want.tags && !want.collection) {
		return out
	}
	l := r.loaders(ctx)
	ids, colIDs := make([]string, len(imgs)), make([]string, len(imgs))
	for i, img := range imgs {
		ids[i], colIDs[i] = img.ID, img.CollectionID
	}
	// Both loads wait for their loader's batch window: started together, they wait once.
	var tags func() ([][]string, error)
	var cols func() ([]*models.Collection, error)
	uniq := dedupe(colIDs)
	if want.tags {
		tags = l.Tags.LoadAllThunk(ctx, ids)
	}
	if want.collection {
		cols = l.ItemCollections.LoadAllThunk(ctx, uniq)
	}
	if tags != nil {
		vals, err := tags()
		for i := range nodes {
			t, err := vals[i], keyErr(err, i)
			if t == nil && err == nil {
				t = []string{}
			}
			nodes[i].SetTags(t, err)
		}
	}
	if cols != nil {
		vals, err := cols()
		byID := make(map[string]int, len(uniq))
		for j, id := range uniq {
			byID[id] = j
		}
		for i, img := range imgs {
			j := byID[img.CollectionID]
			nodes[i].SetCollection(vals[j], keyErr(err, j))
		}
	}
	return out
}

// keyErr is the error of the i-th key of a loader's LoadAll that failed with err.
func keyErr(err error, i int) error {
	var errs dataloadgen.ErrorSlice
	if errors.As(err, &errs) && i < len(errs) {
		return errs[i]
	}
	return err
}

// imageNode is imageNodes for one image (nil stays nil).
func (r *Resolver) imageNode(ctx context.Context, img *models.Image) *model.Image {
	if img == nil {
		return nil
	}
	return r.imageNodes(ctx, fieldImageLoads(ctx, false), []*models.Image{img})[0]
}

// mediaNode turns a media item (or node) returned to an Image, Node or Media position into what
// the schema expects: an image becomes its node; anything else passes through.
func mediaNode[T any](ctx context.Context, r *Resolver, item T, err error) (T, error) {
	var zero T
	if err != nil {
		return zero, err
	}
	img, ok := any(item).(*models.Image)
	if !ok {
		return item, nil
	}
	if img == nil {
		return zero, nil
	}
	n, _ := any(r.imageNode(ctx, img)).(T)
	return n, nil
}
