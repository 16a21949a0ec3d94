package models

import (
	"time"

	"github.com/uptrace/bun"
)

// Content is an item of the consuming CMS that uses media (a page, an article, a product). Veil
// keeps only what the privacy rule needs; Key is the CMS's own id, unique per Kind.
type Content struct {
	bun.BaseModel `bun:"table:contents,alias:c"`

	ID               string     `bun:"id,pk"`
	Kind             string     `bun:"kind,notnull"`
	Key              string     `bun:"key,notnull"`
	Title            string     `bun:"title,notnull"`
	Live             bool       `bun:"live,notnull"`
	FirstPublishedAt *time.Time `bun:"first_published_at"`
	LastPublishedAt  *time.Time `bun:"last_published_at"`
	CreatedAt        time.Time  `bun:"created_at,notnull"`
	UpdatedAt        time.Time  `bun:"updated_at,notnull"`
}

// RefState says whether a reference is what the editor saved (draft) or what was last published (live).
type RefState string

// The two reference states.
const (
	Draft RefState = "DRAFT"
	Live  RefState = "LIVE"
)

// Reference says content uses a media item (image or document, by id) in a field.
type Reference struct {
	bun.BaseModel `bun:"table:content_refs,alias:r"`

	ContentID string   `bun:"content_id,pk"`
	State     RefState `bun:"state,pk"`
	MediaID   string   `bun:"media_id,pk"`
	Field     string   `bun:"field,pk"`
}

// GlobalID returns the content's id.
func (c *Content) GlobalID() string { return c.ID }
