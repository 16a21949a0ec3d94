package events

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/veil-media/veil/models"
)

// AuditQuery selects a page of the audit log: the recorded events, newest first.
type AuditQuery struct {
	// First is the page size (1-500); After the cursor of the last event of the previous page.
	First int
	After string
	// Filters; zero values select everything.
	MediaID, ContentID, Actor string
	Kinds                     []Kind
	Since, Until              time.Time // Since inclusive, Until exclusive
	// IdentityOnly restricts the page to identity events (users, groups, grants, tokens): what
	// a manager of users who is not an admin may read.
	IdentityOnly bool
}

// AuditPage is one page of the audit log.
type AuditPage struct {
	Events  []Event
	HasNext bool
}

// MaxAuditPage bounds AuditQuery.First.
const MaxAuditPage = 500

// Audit returns a page of recorded events matching q, newest first, each with its cursor. Events
// are listed once the relay has numbered them (at once on the instance that recorded them).
func (o *Outbox) Audit(ctx context.Context, q AuditQuery) (AuditPage, error) {
	if q.First < 1 || q.First > MaxAuditPage {
		return AuditPage{}, &QueryError{Field: "first", Reason: fmt.Sprintf("must be from 1 to %d", MaxAuditPage)}
	}
	before, err := ParseCursor(q.After)
	if err != nil {
		return AuditPage{}, &QueryError{Field: "after", Reason: "not a cursor Veil gave"}
	}
	kinds := make([]string, 0, len(q.Kinds))
	for _, k := range q.Kinds {
		if !k.Valid() {
			return AuditPage{}, &QueryError{Field: "filter.type", Reason: fmt.Sprintf("%.40q is not an event type", k)}
		}
		if q.IdentityOnly && !k.Identity() {
			continue
		}
		kinds = append(kinds, string(k))
	}
	if q.IdentityOnly {
		if len(q.Kinds) > 0 && len(kinds) == 0 {
			return AuditPage{}, nil
		}
		if len(kinds) == 0 {
			for _, k := range Kinds {
				if k.Identity() {
					kinds = append(kinds, string(k))
				}
			}
		}
	}
	var rows []models.EventRow
	sel := o.db.NewSelect().Model(&rows).Column("seq", "body").Where("seq IS NOT NULL")
	if q.After != "" {
		sel = sel.Where("seq < ?", before)
	}
	if q.MediaID != "" {
		sel = sel.Where("media_id = ?", q.MediaID)
	}
	if q.ContentID != "" {
		sel = sel.Where("content_id = ?", q.ContentID)
	}
	if q.Actor != "" {
		sel = sel.Where("actor = ?", q.Actor)
	}
	if len(kinds) > 0 {
		sel = sel.Where("kind IN (?)", bun.In(kinds))
	}
	if !q.Since.IsZero() {
		sel = sel.Where("at >= ?", q.Since.UTC())
	}
	if !q.Until.IsZero() {
		sel = sel.Where("at < ?", q.Until.UTC())
	}
	if err := sel.Order("seq DESC").Limit(q.First + 1).Scan(ctx); err != nil {
		return AuditPage{}, fmt.Errorf("events: audit log: %w", err)
	}
	page := AuditPage{HasNext: len(rows) > q.First}
	if page.HasNext {
		rows = rows[:q.First]
	}
	for _, r := range rows {
		var ev Event
		if err := json.Unmarshal([]byte(r.Body), &ev); err != nil {
			return AuditPage{}, fmt.Errorf("events: audit log: event %d unreadable: %w", *r.Seq, err)
		}
		ev.Seq = *r.Seq
		page.Events = append(page.Events, ev)
	}
	return page, nil
}

// QueryError is a bad argument of an audit or webhook call.
type QueryError struct{ Field, Reason string }

func (e *QueryError) Error() string { return e.Field + ": " + e.Reason }
