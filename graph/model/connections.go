// Package model holds GraphQL-only types: the generated ones (models_gen.go) and the connection
// types below, which remember the filter so totalCount can be computed only when asked.
package model

import (
	"github.com/veil-media/veil/media"
)

// ImageConnection is a page of images.
type ImageConnection struct {
	Edges    []*ImageEdge
	Nodes    []*Image
	PageInfo *PageInfo
	Filter   media.Filter
}

// DocumentConnection is a page of documents.
type DocumentConnection struct {
	Edges    []*DocumentEdge
	Nodes    []*Document
	PageInfo *PageInfo
	Filter   media.Filter
}
