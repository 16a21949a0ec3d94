package model

import (
	"errors"

	"github.com/veil-media/veil/media"
	"github.com/veil-media/veil/models"
)

// ImageFields computes the fields of an image that need no I/O: its URL and its renditions (the
// same functions, and so the same privacy rules, for every image however it was loaded).
type ImageFields interface {
	// ImageURL is the URL the API hands out for img's original.
	ImageURL(img *models.Image) string
	// ImageRendition describes a rendition of img without generating anything.
	ImageRendition(img *models.Image, spec string) (*media.RenditionInfo, error)
}

// Image is an image as the GraphQL schema shows it: the stored row, and the tags and collection
// that the resolver returning it loaded for all the images it returned at once (one query each,
// only when the query asks for them). Every field of Image that needs no per-item I/O is a plain
// field or a method without a context, so gqlgen resolves it in the item's own goroutine instead
// of starting one per field and item.
type Image struct {
	*models.Image

	fields     ImageFields
	tags       []string
	collection *models.Collection
	// loaded records which of tags and collection were loaded (loadTags, loadCollection);
	// tagsErr and collectionErr why loading them failed.
	loaded                 uint8
	tagsErr, collectionErr error
}

const (
	loadTags uint8 = 1 << iota
	loadCollection
)

// errNotLoaded is what a field that its resolver did not load answers: a bug in that resolver
// (every resolver returning images loads the fields its selection asks for).
var errNotLoaded = errors.New("graph: image field not loaded by the resolver that returned the image")

// NewImage returns the node of img whose url and renditions fields computes.
func NewImage(img *models.Image, fields ImageFields) Image {
	return Image{Image: img, fields: fields}
}

// SetTags records the tags loaded for the image (err: the load failed).
func (i *Image) SetTags(tags []string, err error) {
	i.tags, i.tagsErr, i.loaded = tags, err, i.loaded|loadTags
}

// SetCollection records the collection loaded for the image (err: the load failed).
func (i *Image) SetCollection(c *models.Collection, err error) {
	i.collection, i.collectionErr, i.loaded = c, err, i.loaded|loadCollection
}

// URL resolves the url field.
func (i *Image) URL() string { return i.fields.ImageURL(i.Image) }

// Rendition resolves the rendition field.
func (i *Image) Rendition(spec string) (*media.RenditionInfo, error) {
	return i.fields.ImageRendition(i.Image, spec)
}

// Tags resolves the tags field.
func (i *Image) Tags() ([]string, error) {
	if i.loaded&loadTags == 0 {
		return nil, errNotLoaded
	}
	return i.tags, i.tagsErr
}

// Collection resolves the collection field.
func (i *Image) Collection() (*models.Collection, error) {
	if i.loaded&loadCollection == 0 {
		return nil, errNotLoaded
	}
	return i.collection, i.collectionErr
}
