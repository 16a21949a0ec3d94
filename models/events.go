package models

import (
	"time"

	"github.com/uptrace/bun"
)

// EventRow is one recorded event (package events owns its meaning). ID orders the rows as they
// were inserted; Seq, the event's cursor, is given by the relay when it first delivers the event
// and orders delivery; SentAt records that the delivery completed.
type EventRow struct {
	bun.BaseModel `bun:"table:events"`
	ID            int64      `bun:"id,pk,autoincrement"`
	Seq           *int64     `bun:"seq"`
	Kind          string     `bun:"kind,notnull"`
	MediaID       string     `bun:"media_id,notnull"`
	ContentID     string     `bun:"content_id,notnull"`
	Actor         string     `bun:"actor,notnull"`
	TokenID       string     `bun:"token_id,notnull"`
	At            time.Time  `bun:"at,notnull"`
	Body          string     `bun:"body,notnull"` // the event as JSON
	SentAt        *time.Time `bun:"sent_at"`
}

// EventRelay is the lease of the one relay that delivers events (one row, name "relay"), and the
// highest cursor pruned by retention (cursors at or below it can no longer be resumed from).
type EventRelay struct {
	bun.BaseModel `bun:"table:event_relay"`
	Name          string    `bun:"name,pk"`
	Holder        string    `bun:"holder,notnull"`
	ExpiresAt     time.Time `bun:"expires_at,notnull"`
	PrunedThrough int64     `bun:"pruned_through,notnull"`
}

// Webhook is a receiver of events over HTTP (package events owns its meaning). Cursor is the
// last event delivered to it (or passed over: not of its kinds); FailingSince, Attempts and
// NextAttemptAt describe the event after it while its delivery keeps failing.
type Webhook struct {
	bun.BaseModel `bun:"table:webhooks"`
	ID            string     `bun:"id,pk"`
	URL           string     `bun:"url,notnull"`
	Kinds         string     `bun:"kinds,notnull"` // comma-separated; "" is every kind
	Secret        string     `bun:"secret,notnull"`
	CreatedAt     time.Time  `bun:"created_at,notnull"`
	CreatedBy     string     `bun:"created_by,notnull"`
	Cursor        int64      `bun:"delivered_seq,notnull"`
	FailingSince  *time.Time `bun:"failing_since"`
	Attempts      int        `bun:"attempts,notnull"`
	NextAttemptAt *time.Time `bun:"next_attempt_at"`
}

// WebhookDelivery is one attempt to deliver one event to a webhook.
type WebhookDelivery struct {
	bun.BaseModel `bun:"table:webhook_deliveries"`
	ID            int64     `bun:"id,pk,autoincrement"`
	WebhookID     string    `bun:"webhook_id,notnull"`
	Seq           int64     `bun:"seq,notnull"`
	Kind          string    `bun:"kind,notnull"`
	Attempt       int       `bun:"attempt,notnull"`
	At            time.Time `bun:"at,notnull"`
	OK            bool      `bun:"ok,notnull"`
	Status        int       `bun:"status,notnull"` // 0 when the receiver did not answer
	Error         string    `bun:"error,notnull"`
	DurationMS    int64     `bun:"duration_ms,notnull"`
}
