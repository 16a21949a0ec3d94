package events

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/veil-media/veil/models"
)

// Prune deletes delivered events older than the retention window, PruneBatch rows per
// transaction so that no statement holds the table for long, and raises the low-water mark below
// which cursors are refused (CursorError, expired). Events not yet delivered are never pruned.
// It returns how many it deleted.
func (o *Outbox) Prune(ctx context.Context) (int, error) {
	cutoff := o.cfg.Clock().UTC().Add(-o.cfg.Retention)
	total := 0
	for {
		var rows []models.EventRow
		if err := o.db.NewSelect().Model(&rows).Column("id", "seq").
			Where("at < ? AND sent_at IS NOT NULL", cutoff).Order("id").Limit(o.cfg.PruneBatch).Scan(ctx); err != nil {
			return total, fmt.Errorf("events: find expired events: %w", err)
		}
		if len(rows) == 0 {
			return total, nil
		}
		ids := make([]string, len(rows))
		var top int64
		for i, r := range rows {
			ids[i] = strconv.FormatInt(r.ID, 10)
			if r.Seq != nil && *r.Seq > top {
				top = *r.Seq
			}
		}
		tx, err := o.db.BeginTx(ctx, nil)
		if err != nil {
			return total, fmt.Errorf("events: prune: %w", err)
		}
		if _, err := tx.NewUpdate().Model((*models.EventRelay)(nil)).Set("pruned_through = ?", top).
			Where("name = 'relay' AND pruned_through < ?", top).Exec(ctx); err != nil {
			_ = tx.Rollback()
			return total, fmt.Errorf("events: prune: raise the low-water mark: %w", err)
		}
		if _, err := tx.NewDelete().Model((*models.EventRow)(nil)).Where("id IN (" + strings.Join(ids, ",") + ")").Exec(ctx); err != nil {
			_ = tx.Rollback()
			return total, fmt.Errorf("events: prune: %w", err)
		}
		if err := tx.Commit(); err != nil {
			return total, fmt.Errorf("events: prune: %w", err)
		}
		total += len(rows)
		if len(rows) < o.cfg.PruneBatch {
			return total, nil
		}
	}
}

// RunPruner prunes expired events now and then every hour (or every tenth of the retention
// window, if shorter) until ctx ends. The caller owns it.
func (o *Outbox) RunPruner(ctx context.Context) {
	every := min(time.Hour, o.cfg.Retention/10)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if n, err := o.Prune(ctx); err != nil && ctx.Err() == nil {
			o.log.Error("event retention", "err", err)
		} else if n > 0 {
			o.log.Info("events pruned", "n", n, "retention", o.cfg.Retention)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
