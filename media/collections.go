package media

import (
	"context"
	"fmt"

	"github.com/veil-media/veil/auth"
	"github.com/veil-media/veil/models"
)

// resolveCollection checks that id names an existing collection ("" means the root) in which
// the viewer holds perm, and returns its id.
func (s *Service) resolveCollection(ctx context.Context, id string, perm models.Permission) (string, error) {
	if id == "" {
		id = models.RootCollectionID
	} else if _, err := s.Collection(ctx, id); err != nil {
		return "", err
	}
	if err := s.authorizeCollection(ctx, perm, id); err != nil {
		return "", err
	}
	return id, nil
}

// Collection returns the collection with id if the viewer may see it (auth.Viewer.CollectionFilter),
// else ErrNotFound: a hidden collection is answered like one that does not exist.
func (s *Service) Collection(ctx context.Context, id string) (*models.Collection, error) {
	if err := parseIDOf("collectionId", id, KindCollection); err != nil {
		return nil, err
	}
	c := new(models.Collection)
	q := auth.ViewerFrom(ctx).CollectionFilter(s.db.NewSelect().Model(c).Where("id = ?", id))
	if err := q.Scan(ctx); err != nil {
		return nil, notFound(err, "collection", id)
	}
	return c, nil
}

// Collections returns every collection the viewer may see, ordered by path (parents before
// children).
func (s *Service) Collections(ctx context.Context) ([]*models.Collection, error) {
	var rows []*models.Collection
	q := auth.ViewerFrom(ctx).CollectionFilter(s.db.NewSelect().Model(&rows).OrderExpr("path"))
	if err := q.Scan(ctx); err != nil {
		return nil, fmt.Errorf("media: list collections: %w", err)
	}
	return rows, nil
}

// CreateCollection creates a collection named name under parentID ("" = the root). Names are
// unique among siblings.
func (s *Service) CreateCollection(ctx context.Context, name, parentID string) (*models.Collection, error) {
	name, err := cleanText("name", name, maxName)
	if err != nil {
		return nil, err
	}
	if name == "" {
		return nil, inputErr("name", "must not be empty")
	}
	if parentID == "" {
		parentID = models.RootCollectionID
	}
	parent, err := s.Collection(ctx, parentID)
	if err != nil {
		return nil, err
	}
	if err := s.authorizeCollection(ctx, models.PermAdd, parent.ID); err != nil {
		return nil, err
	}
	id := NewID(KindCollection)
	c := &models.Collection{ID: id, ParentID: &parent.ID, Name: name, Path: parent.Path + id + "/", CreatedAt: models.Now()}
	if _, err := s.db.NewInsert().Model(c).Exec(ctx); err != nil {
		if isUniqueViolation(err) {
			return nil, inputErr("name", "a collection named %q already exists here", name)
		}
		return nil, fmt.Errorf("media: create collection: %w", err)
	}
	return c, nil
}
