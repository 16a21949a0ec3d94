package models

import (
	"time"

	"github.com/uptrace/bun"
)

// PendingObject is an object an upload is writing: its row is inserted before the first byte and
// deleted in the transaction that inserts the media row referencing the key. A row older than the
// reconcile grace names an upload that died (or outlived the grace): its object, complete or
// partial, is debris.
type PendingObject struct {
	bun.BaseModel `bun:"table:pending_objects"`

	StorageKey string    `bun:"storage_key,pk"`
	Instance   string    `bun:"instance,notnull"`
	CreatedAt  time.Time `bun:"created_at,notnull"`
}
