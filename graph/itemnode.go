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

// itemFields is the model.ItemFields of the schema: the same functions the resolvers used.
type itemFields struct{ r *Resolver }

func (f itemFields) ImageURL(img *models.Image) string {
	return f.r.URLs.Absolute(f.r.Media.OriginalURL(img))
}

func (f itemFields) ImageRendition(img *models.Image, spec string) (*media.RenditionInfo, error) {
	info, err := f.r.Media.Rendition(img, spec)
	if err != nil {
		return nil, err
	}
	return &info, nil
}

func (f itemFields) DocumentURL(doc *models.Document) string {
	return f.r.URLs.Absolute(f.r.Media.DocumentURL(doc))
}

// itemLoads are the fields of images or documents that need a load, as asked for at one position
// of a query.
type itemLoads struct{ tags, collection bool }

func (l itemLoads) or(o itemLoads) itemLoads {
	return itemLoads{tags: l.tags || o.tags, collection: l.collection || o.collection}
}

var allItemLoads = itemLoads{tags: true, collection: true}

// implementors are the types a position of one kind of item may be collected as: the item's,
// its connection's and its edge's (gqlgen's generated lists).
type implementors struct{ item, connection, edge []string }

var (
	imageTypes    = implementors{imageImplementors, imageConnectionImplementors, imageEdgeImplementors}
	documentTypes = implementors{documentImplementors, documentConnectionImplementors, documentEdgeImplementors}
)

// loadsIn returns the loads the selection sel of an item, Node or Media position asks for
// (fragments, aliases and @skip/@include applied as the executor will).
func loadsIn(oc *graphql.OperationContext, sel ast.SelectionSet, types implementors) itemLoads {
	var l itemLoads
	for _, f := range graphql.CollectFields(oc, sel, types.item) {
		switch f.Name {
		case "tags":
			l.tags = true
		case "collection":
			l.collection = true
		}
	}
	return l
}

// fieldLoads returns the loads the current field (in ctx) asks for of the items it returns: its
// own selection, or with conn, that of its connection's nodes and edges' nodes. Outside the
// executor (no field in ctx) everything is loaded.
func fieldLoads(ctx context.Context, types implementors, conn bool) itemLoads {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil || !graphql.HasOperationContext(ctx) {
		return allItemLoads
	}
	oc := graphql.GetOperationContext(ctx)
	if !conn {
		return loadsIn(oc, fc.Field.Selections, types)
	}
	var l itemLoads
	for _, f := range graphql.CollectFields(oc, fc.Field.Selections, types.connection) {
		switch f.Name {
		case "nodes":
			l = l.or(loadsIn(oc, f.Selections, types))
		case "edges":
			for _, e := range graphql.CollectFields(oc, f.Selections, types.edge) {
				if e.Name == "node" {
					l = l.or(loadsIn(oc, e.Selections, types))
				}
			}
		}
	}
	return l
}

// imageNodes returns the nodes of imgs with what want asks for loaded for all of them at once
// (see loadItems).
func (r *Resolver) imageNodes(ctx context.Context, want itemLoads, imgs []*models.Image) []*model.Image {
	nodes := make([]model.Image, len(imgs))
	out := make([]*model.Image, len(imgs))
	loaded := make([]*model.Loaded, len(imgs))
	for i, img := range imgs {
		nodes[i] = model.NewImage(img, itemFields{r})
		out[i], loaded[i] = &nodes[i], &nodes[i].Loaded
	}
	loadItems(ctx, r, want, imgs, loaded)
	return out
}

// documentNodes is imageNodes for documents.
func (r *Resolver) documentNodes(ctx context.Context, want itemLoads, docs []*models.Document) []*model.Document {
	nodes := make([]model.Document, len(docs))
	out := make([]*model.Document, len(docs))
	loaded := make([]*model.Loaded, len(docs))
	for i, doc := range docs {
		nodes[i] = model.NewDocument(doc, itemFields{r})
		out[i], loaded[i] = &nodes[i], &nodes[i].Loaded
	}
	loadItems(ctx, r, want, docs, loaded)
	return out
}

// loadItems loads what want asks for of rows into loaded (one per row), for all of them at once:
// their tags in one query and their collections in one (through the request's loaders, so values
// already loaded in the request are not fetched again, and concurrent callers share a batch).
// Collections are loaded through ItemCollections, which does not filter by the viewer's grants:
// an item the viewer may read shows its collection. So every caller passes only items the viewer
// was allowed to read (list pages through the read filter, single items through Authorize or
// Visible).
func loadItems[T models.MediaRow](ctx context.Context, r *Resolver, want itemLoads, rows []T, loaded []*model.Loaded) {
	if len(rows) == 0 || (!want.tags && !want.collection) {
		return
	}
	l := r.loaders(ctx)
	ids, colIDs := make([]string, len(rows)), make([]string, len(rows))
	for i, row := range rows {
		m := row.Media()
		ids[i], colIDs[i] = m.ID, m.CollectionID
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
		for i := range rows {
			t, err := vals[i], keyErr(err, i)
			if t == nil && err == nil {
				t = []string{}
			}
			loaded[i].SetTags(t, err)
		}
	}
	if cols != nil {
		vals, err := cols()
		byID := make(map[string]int, len(uniq))
		for j, id := range uniq {
			byID[id] = j
		}
		for i := range rows {
			j := byID[colIDs[i]]
			loaded[i].SetCollection(vals[j], keyErr(err, j))
		}
	}
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
	return r.imageNodes(ctx, fieldLoads(ctx, imageTypes, false), []*models.Image{img})[0]
}

// documentNode is documentNodes for one document (nil stays nil).
func (r *Resolver) documentNode(ctx context.Context, doc *models.Document) *model.Document {
	if doc == nil {
		return nil
	}
	return r.documentNodes(ctx, fieldLoads(ctx, documentTypes, false), []*models.Document{doc})[0]
}

// mediaNode turns a media item (or node) returned to an Image, Document, Node or Media position
// into what the schema expects: an image or a document becomes its node; anything else passes
// through.
func mediaNode[T any](ctx context.Context, r *Resolver, item T, err error) (T, error) {
	var zero T
	if err != nil {
		return zero, err
	}
	var node any
	switch x := any(item).(type) {
	case *models.Image:
		if x == nil {
			return zero, nil
		}
		node = r.imageNode(ctx, x)
	case *models.Document:
		if x == nil {
			return zero, nil
		}
		node = r.documentNode(ctx, x)
	default:
		return item, nil
	}
	n, _ := node.(T)
	return n, nil
}
