package models

import (
	"time"

	"github.com/uptrace/bun"
)

// Privacy is the visibility of a media item. New uploads are PRIVATE; only the publish rule in
// package media makes an item PUBLIC.
type Privacy string

// The two privacy states.
const (
	Private Privacy = "PRIVATE"
	Public  Privacy = "PUBLIC"
)

// RootCollectionID is the id of the collection every install has, created by the first migration.
// Uploads without a collection land in it.
const RootCollectionID = "col_00000000000000000000000000"

// Collection is a folder of media that scopes permissions. Collections form a tree; Path is the
// materialised chain of ids from the root ("/col_root/col_a/") so a subtree is one LIKE prefix.
type Collection struct {
	bun.BaseModel `bun:"table:collections"`

	ID        string    `bun:"id,pk"`
	ParentID  *string   `bun:"parent_id"`
	Name      string    `bun:"name,notnull"`
	Path      string    `bun:"path,notnull"`
	CreatedAt time.Time `bun:"created_at,notnull"`
}

// PrivacyState is the privacy trio every media item carries. File permissions are outdated when
// FilePermissionsLastSet is nil or earlier than PrivacyLastChanged.
type PrivacyState struct {
	Privacy                Privacy    `bun:"privacy,notnull,default:'PRIVATE'"`
	PrivacyLastChanged     time.Time  `bun:"privacy_last_changed,notnull"`
	FilePermissionsLastSet *time.Time `bun:"file_permissions_last_set"`
}

// PermissionsOutdated reports whether the storage permissions of the item's files may not match
// its privacy.
func (p PrivacyState) PermissionsOutdated() bool {
	return p.FilePermissionsLastSet == nil || p.FilePermissionsLastSet.Before(p.PrivacyLastChanged)
}

// PermissionsOutdatedSQL is PermissionsOutdated as a WHERE condition on a media table; keep the two
// the same rule.
const PermissionsOutdatedSQL = "(file_permissions_last_set IS NULL OR file_permissions_last_set < privacy_last_changed)"

// MediaFields are the columns every media item has. Image and Document embed them, so the
// operations that are the same for both kinds (read, update, delete) are written once over
// MediaRow.
type MediaFields struct {
	ID           string    `bun:"id,pk"`
	CollectionID string    `bun:"collection_id,notnull"`
	Title        string    `bun:"title,notnull"`
	Filename     string    `bun:"filename,notnull"`
	StorageKey   string    `bun:"storage_key,notnull"`
	ContentType  string    `bun:"content_type,notnull"`
	Size         int64     `bun:"size,notnull"`
	SHA256       string    `bun:"sha256,notnull"`
	UploadedBy   *string   `bun:"uploaded_by"`
	CreatedAt    time.Time `bun:"created_at,notnull"`
	UpdatedAt    time.Time `bun:"updated_at,notnull"`
	PrivacyState
}

// Media returns the fields every media item has, for code shared by images and documents.
func (m *MediaFields) Media() *MediaFields { return m }

// MediaRow is a row of either media table: *Image or *Document. Generic code over it reads and
// sets the shared fields through Media().
type MediaRow interface {
	*Image | *Document
	MediaItem
	Media() *MediaFields
}

// Image is an uploaded image. Width and Height are of the upright image (after EXIF orientation).
// The focal point, when set, is its centre and size in upright source pixels.
type Image struct {
	bun.BaseModel `bun:"table:images"`

	MediaFields
	Alt         string `bun:"alt,notnull"`
	Width       int    `bun:"width,notnull"`
	Height      int    `bun:"height,notnull"`
	FocalX      *int   `bun:"focal_x"`
	FocalY      *int   `bun:"focal_y"`
	FocalWidth  *int   `bun:"focal_width"`
	FocalHeight *int   `bun:"focal_height"`
}

// FocalPoint is the important part of an image: its centre and size in upright source pixels.
type FocalPoint struct {
	X, Y, Width, Height int
}

// FocalPoint returns the image's focal point, or nil when none is set.
func (i *Image) FocalPoint() *FocalPoint {
	if i.FocalX == nil || i.FocalY == nil || i.FocalWidth == nil || i.FocalHeight == nil {
		return nil
	}
	return &FocalPoint{X: *i.FocalX, Y: *i.FocalY, Width: *i.FocalWidth, Height: *i.FocalHeight}
}

// Document is an uploaded non-image file (PDF, office documents, text).
type Document struct {
	bun.BaseModel `bun:"table:documents"`

	MediaFields
}

// MediaTag attaches one tag to one image or document (MediaID carries the kind in its prefix).
type MediaTag struct {
	bun.BaseModel `bun:"table:media_tags"`

	MediaID string `bun:"media_id,pk"`
	Tag     string `bun:"tag,pk"`
}

// Rendition is a generated derivative of an image, unique on (image, canonical spec, focal key).
type Rendition struct {
	bun.BaseModel `bun:"table:renditions"`

	ID         string    `bun:"id,pk"`
	ImageID    string    `bun:"image_id,notnull"`
	Spec       string    `bun:"spec,notnull"`
	FocalKey   string    `bun:"focal_key,notnull"`
	StorageKey string    `bun:"storage_key,notnull"`
	Width      int       `bun:"width,notnull"`
	Height     int       `bun:"height,notnull"`
	Format     string    `bun:"format,notnull"`
	Size       int64     `bun:"size,notnull"`
	CreatedAt  time.Time `bun:"created_at,notnull"`
	// LastUsedAt is when the rendition was last generated or served, moved at most once per
	// RenditionConfig.TouchInterval per instance; the per-image bound evicts the oldest first.
	LastUsedAt *time.Time `bun:"last_used_at"`
}

// Now returns the current time as stored: UTC, truncated to microseconds so that values read back
// from either database compare equal to the ones written.
func Now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// Node is anything with a global id; it backs the GraphQL Node interface.
type Node interface{ GlobalID() string }

// MediaItem is an image or a document; it backs the GraphQL Media interface.
type MediaItem interface {
	Node
	isMedia()
}

// GlobalID returns the collection's id.
func (c *Collection) GlobalID() string { return c.ID }

// GlobalID returns the media item's id.
func (m *MediaFields) GlobalID() string { return m.ID }

func (*Image) isMedia()    {}
func (*Document) isMedia() {}

// PermissionSync is the file-permission bookkeeping of one media item, kept apart from the media
// rows so that claiming and recording never contend with publishing. A row exists while an item is
// being synced or its last sync failed; success deletes it.
type PermissionSync struct {
	bun.BaseModel `bun:"table:permission_sync"`

	MediaID string `bun:"media_id,pk"`
	// Attempts counts syncs tried since the item's files last all succeeded.
	Attempts int `bun:"attempts,notnull,default:0"`
	// LastError is the first failure of the last attempt, "key: cause".
	LastError     string     `bun:"last_error,notnull,default:''"`
	LastAttemptAt *time.Time `bun:"last_attempt_at"`
	// ClaimedBy and ClaimedUntil lease the item to one instance's sync, so that several instances'
	// retry loops never process the same item at once; an expired lease is free again.
	ClaimedBy    string     `bun:"claimed_by,notnull,default:''"`
	ClaimedUntil *time.Time `bun:"claimed_until"`
}
