package models

import (
	"time"

	"github.com/uptrace/bun"
)

// StagedUpload is a presigned direct upload (createUpload): the client PUTs its bytes to
// StagingKey through a signed URL, then completeUpload verifies them and turns them into an image
// or a document. Size, ContentType and the optional SHA256 are what the client declared; the
// bytes are checked against them, and against everything a multipart upload is checked for.
//
// State moves pending → completing → completed. A refused completion puts it back to pending
// (the staging object removed; the client may PUT again until ExpiresAt). The reconciler removes
// rows and staging objects of uploads not completed by ExpiresAt, and completed rows after it.
type StagedUpload struct {
	bun.BaseModel `bun:"table:staged_uploads"`

	ID           string    `bun:"id,pk"`
	UserID       string    `bun:"user_id,notnull"`
	Kind         string    `bun:"kind,notnull"` // "image" or "document"
	Filename     string    `bun:"filename,notnull"`
	ContentType  string    `bun:"content_type,notnull"`
	Size         int64     `bun:"size,notnull"`
	SHA256       string    `bun:"sha256,notnull"` // lower-case hex, or "" when not declared
	CollectionID string    `bun:"collection_id,notnull"`
	StagingKey   string    `bun:"staging_key,notnull"`
	State        string    `bun:"state,notnull"`
	MediaID      *string   `bun:"media_id"` // set when State is completed
	ExpiresAt    time.Time `bun:"expires_at,notnull"`
	CreatedAt    time.Time `bun:"created_at,notnull"`
	UpdatedAt    time.Time `bun:"updated_at,notnull"`
}

// The states of a StagedUpload.
const (
	StagedPending    = "pending"
	StagedCompleting = "completing"
	StagedCompleted  = "completed"
)
