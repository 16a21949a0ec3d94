package models

import (
	"time"

	"github.com/uptrace/bun"
)

// Resumable upload states (ResumableUpload.State).
const (
	// ResumableReceiving is an upload still receiving bytes (or whose bytes are all in, but whose
	// completion has not run).
	ResumableReceiving = "RECEIVING"
	// ResumableCompleted is an upload that became an image or document (ItemID).
	ResumableCompleted = "COMPLETED"
	// ResumableFailed is an upload whose bytes were refused at completion (ErrorCode,
	// ErrorMessage); its parts are removed.
	ResumableFailed = "FAILED"
)

// ResumableUpload is a tus upload: its declared size and metadata, how far it got, who owns it,
// when it expires and, once complete, what it became. The received bytes are the bucket objects
// of its ResumableParts, in order. The lock columns are a lease: one request at a time, on any
// instance, may append to the upload (see media.Resumable).
type ResumableUpload struct {
	bun.BaseModel `bun:"table:resumable_uploads"`

	ID           string `bun:"id,pk"`
	OwnerID      string `bun:"owner_id,notnull"`
	Kind         string `bun:"kind,notnull"` // "image" or "document"
	Filename     string `bun:"filename,notnull"`
	FileType     string `bun:"file_type,notnull"`
	Title        string `bun:"title,notnull"`
	CollectionID string `bun:"collection_id,notnull"`
	// Metadata is the Upload-Metadata header as the client sent it, for HEAD.
	Metadata string `bun:"metadata,notnull"`
	Size     int64  `bun:"size,notnull"`
	Offset   int64  `bun:"upload_offset,notnull"`
	// Received is Offset plus the bytes of the PATCH in progress, updated as they arrive: what
	// uploadProgress reports.
	Received int64  `bun:"received,notnull"`
	Parts    int    `bun:"parts,notnull"`
	State    string `bun:"state,notnull"`
	ItemID   string `bun:"item_id,notnull"`
	// ErrorCode and ErrorMessage say why a FAILED upload was refused.
	ErrorCode    string `bun:"error_code,notnull"`
	ErrorMessage string `bun:"error_message,notnull"`

	LockHolder      string     `bun:"lock_holder,notnull"`
	LockExpires     *time.Time `bun:"lock_expires"`
	UnlockRequested bool       `bun:"unlock_requested,notnull"`

	CreatedAt time.Time `bun:"created_at,notnull"`
	UpdatedAt time.Time `bun:"updated_at,notnull"`
	ExpiresAt time.Time `bun:"expires_at,notnull"`
}

// ResumablePart is one PATCH's bytes of a resumable upload: the bucket object Key holds the bytes
// [Offset, Offset+Size) of the file.
type ResumablePart struct {
	bun.BaseModel `bun:"table:resumable_parts"`

	UploadID string `bun:"upload_id,pk"`
	Seq      int    `bun:"seq,pk"`
	Offset   int64  `bun:"part_offset,notnull"`
	Size     int64  `bun:"size,notnull"`
	Key      string `bun:"storage_key,notnull"`
}
