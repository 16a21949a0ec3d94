package model

import (
	"errors"

	"github.com/veil-media/veil/media"
	"github.com/veil-media/veil/models"
)

// ItemFields computes the fields of images and documents that need no I/O: their URLs and an
// image's renditions (the same functions, and so the same privacy rules, for every item however
// it was loaded).
type ItemFields interface {
	// ImageURL is the URL the API hands out for img's original.
	ImageURL(img *models.Image) string
	// ImageRendition describes a rendition of img without generating anything.
	ImageRendition(img *models.Image, spec string) (*media.RenditionInfo, error)
	// DocumentURL is the URL the API hands out for doc's file.
	DocumentURL(doc *models.Document) string
}

// Loaded holds the tags and collection of an image or a document that the resolver returning it
// loaded for all the items it returned at once (one query each, only when the query asks for
// them); the tags and collection fields resolve from it, as plain methods without a context, so
// gqlgen resolves them in the item's own goroutine instead of starting one per field and item.
type Loaded struct {
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
// (every resolver returning images or documents loads the fields its selection asks for).
var errNotLoaded = errors.New("graph: field not loaded by the resolver that returned the item")

// SetTags records the tags loaded for the item (err: the load failed).
func (l *Loaded) SetTags(tags []string, err error) {
	l.tags, l.tagsErr, l.loaded = tags, err, l.loaded|loadTags
}

// SetCollection records the collection loaded for the item (err: the load failed).
func (l *Loaded) SetCollection(c *models.Collection, err error) {
	l.collection, l.collectionErr, l.loaded = c, err, l.loaded|loadCollection
}

// Tags resolves the tags field.
func (l *Loaded) Tags() ([]string, error) {
	if l.loaded&loadTags == 0 {
		return nil, errNotLoaded
	}
	return l.tags, l.tagsErr
}

// Collection resolves the collection field.
func (l *Loaded) Collection() (*models.Collection, error) {
	if l.loaded&loadCollection == 0 {
		return nil, errNotLoaded
	}
	return l.collection, l.collectionErr
}

// Image is an image as the GraphQL schema shows it: the stored row, its loaded tags and
// collection, and url and rendition computed by ItemFields.
type Image struct {
	*models.Image
	Loaded

	fields ItemFields
}

// NewImage returns the node of img whose url and renditions fields computes.
func NewImage(img *models.Image, fields ItemFields) Image {
	return Image{Image: img, fields: fields}
}

// URL resolves the url field.
func (i *Image) URL() string { return i.fields.ImageURL(i.Image) }

// Rendition resolves the rendition field.
func (i *Image) Rendition(spec string) (*media.RenditionInfo, error) {
	return i.fields.ImageRendition(i.Image, spec)
}

// Document is a document as the GraphQL schema shows it: the stored row, its loaded tags and
// collection, and url computed by ItemFields.
type Document struct {
	*models.Document
	Loaded

	fields ItemFields
}

// NewDocument returns the node of doc whose url fields computes.
func NewDocument(doc *models.Document, fields ItemFields) Document {
	return Document{Document: doc, fields: fields}
}

// URL resolves the url field.
func (d *Document) URL() string { return d.fields.DocumentURL(d.Document) }
