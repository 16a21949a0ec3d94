package events

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/veil-media/veil/models"
)

// Kind names what an Event reports.
type Kind string

// The events Veil records. Media and content events carry the item's collection and privacy, and
// a viewer sees them only when it may read the item; identity events (users, groups, grants,
// tokens) are seen only by those who manage users.
const (
	// FilePermission: one file's permission was set (or failed).
	FilePermission Kind = "FILE_PERMISSION"
	// ItemPermissions: all files of one item were tried; Failed says how many failed.
	ItemPermissions Kind = "ITEM_PERMISSIONS"
	// PrivacyChanged: an item became PUBLIC or PRIVATE (Before says what it was).
	PrivacyChanged Kind = "PRIVACY_CHANGED"
	// Purge: the CDN purge of one URL of an item after its privacy changed.
	Purge Kind = "PURGE"
	// MediaUploaded, MediaUpdated, MediaDeleted: an image or document was uploaded, edited or deleted.
	MediaUploaded Kind = "MEDIA_UPLOADED"
	MediaUpdated  Kind = "MEDIA_UPDATED"
	MediaDeleted  Kind = "MEDIA_DELETED"
	// ContentPublished, ContentUnpublished, ContentDeleted: a content item's live references changed.
	ContentPublished   Kind = "CONTENT_PUBLISHED"
	ContentUnpublished Kind = "CONTENT_UNPUBLISHED"
	ContentDeleted     Kind = "CONTENT_DELETED"
	// Identity events: Subject is the user, group or token concerned.
	UserCreated       Kind = "USER_CREATED"
	UserUpdated       Kind = "USER_UPDATED"
	GroupCreated      Kind = "GROUP_CREATED"
	MembershipChanged Kind = "MEMBERSHIP_CHANGED"
	GrantChanged      Kind = "GRANT_CHANGED"
	TokenCreated      Kind = "TOKEN_CREATED"
	TokenRevoked      Kind = "TOKEN_REVOKED"
)

// Kinds lists every kind, in the order above (webhooks and the audit filter validate against it).
var Kinds = []Kind{FilePermission, ItemPermissions, PrivacyChanged, Purge, MediaUploaded, MediaUpdated, MediaDeleted,
	ContentPublished, ContentUnpublished, ContentDeleted, UserCreated, UserUpdated, GroupCreated, MembershipChanged,
	GrantChanged, TokenCreated, TokenRevoked}

// Identity reports whether k is about users, groups, grants or tokens rather than media.
func (k Kind) Identity() bool {
	switch k {
	case UserCreated, UserUpdated, GroupCreated, MembershipChanged, GrantChanged, TokenCreated, TokenRevoked:
		return true
	}
	return false
}

// Valid reports whether k is one of Kinds.
func (k Kind) Valid() bool {
	for _, v := range Kinds {
		if v == k {
			return true
		}
	}
	return false
}

// Event is one thing that happened. Events travel between instances and are stored as JSON.
type Event struct {
	// Seq is the event's cursor, given by the relay when it first delivers the event; 0 before.
	Seq            int64          `json:"seq,omitempty"`
	Kind           Kind           `json:"kind"`
	MediaID        string         `json:"mediaId,omitempty"`
	CollectionID   string         `json:"collectionId,omitempty"`
	CollectionPath string         `json:"collectionPath,omitempty"`
	Privacy        models.Privacy `json:"privacy,omitempty"`
	// Before is the privacy before a PRIVACY_CHANGED event.
	Before    models.Privacy `json:"before,omitempty"`
	ContentID string         `json:"contentId,omitempty"`
	Cause     string         `json:"cause,omitempty"` // publish, unpublish, delete, upload, retry
	Key       string         `json:"key,omitempty"`
	Public    bool           `json:"public"`
	OK        bool           `json:"ok"`
	Error     string         `json:"error,omitempty"`
	Attempt   int            `json:"attempt,omitempty"`
	Files     int            `json:"files,omitempty"`
	Failed    int            `json:"failed,omitempty"`
	// Actor is the user whose request caused the event ("system" for Veil's own work), TokenID
	// the API token it used.
	Actor   string `json:"actor,omitempty"`
	TokenID string `json:"tokenId,omitempty"`
	// Subject is the user, group or token an identity event is about; Detail says what changed
	// ("VIEW on col_…: granted", "admin: true").
	Subject string    `json:"subject,omitempty"`
	Detail  string    `json:"detail,omitempty"`
	Time    time.Time `json:"time"`
}

// Cursor returns the event's cursor as clients pass it back in after: the decimal Seq.
func (e Event) Cursor() string { return strconv.FormatInt(e.Seq, 10) }

// ErrCursorExpired is wrapped by a *CursorError whose cursor is older than the retention window:
// some events after it were pruned, so resuming from it would skip them.
var ErrCursorExpired = errors.New("events: cursor expired")

// CursorError says why an after cursor was refused.
type CursorError struct {
	Cursor string
	Reason string
	// Expired is set when the cursor was valid but its events were pruned (retention).
	Expired bool
}

func (e *CursorError) Error() string { return fmt.Sprintf("cursor %q: %s", e.Cursor, e.Reason) }

// Unwrap lets errors.Is(err, ErrCursorExpired) find an expired cursor.
func (e *CursorError) Unwrap() error {
	if e.Expired {
		return ErrCursorExpired
	}
	return nil
}

// ParseCursor reads a cursor ("" means none: live only).
func ParseCursor(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	if len(s) > 19 {
		return 0, &CursorError{Cursor: truncate(s, 32), Reason: "not a cursor Veil gave"}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, &CursorError{Cursor: truncate(s, 32), Reason: "not a cursor Veil gave"}
	}
	return n, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
