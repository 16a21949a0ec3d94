package events

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/uptrace/bun"

	"github.com/veil-media/veil/config"
	"github.com/veil-media/veil/models"
)

// Config governs the outbox, its relay and retention.
type Config struct {
	// RelayInterval is how often the relay looks for events committed by other instances
	// (VEIL_EVENT_RELAY_INTERVAL, default 200ms); this instance's commits wake it at once.
	RelayInterval time.Duration
	// Lease is how long the relay's claim lasts without renewal (VEIL_EVENT_RELAY_LEASE,
	// default 10s): when the instance holding it dies, another takes over within one lease.
	Lease time.Duration
	// Batch is how many events one relay step delivers (default 500).
	Batch int
	// Retention is how long events are kept for replay and the audit log (VEIL_EVENT_RETENTION,
	// default 90 days); older ones are pruned in batches of PruneBatch (default 1000).
	Retention  time.Duration
	PruneBatch int
	// Clock tells the time (tests inject one); nil is time.Now.
	Clock func() time.Time
}

// DefaultConfig returns the defaults documented on Config.
func DefaultConfig() Config {
	return Config{RelayInterval: 200 * time.Millisecond, Lease: 10 * time.Second, Batch: 500, Retention: 90 * 24 * time.Hour, PruneBatch: 1000}
}

// Validate names the offending field (a *config.FieldError).
func (c Config) Validate() error {
	switch {
	case c.RelayInterval < time.Millisecond || c.RelayInterval > time.Minute:
		return config.Errorf("RelayInterval", "%v is not a duration from 1ms to 1m", c.RelayInterval)
	case c.Lease < 2*c.RelayInterval || c.Lease < time.Second:
		return config.Errorf("Lease", "%v must be at least 1s and twice the relay interval", c.Lease)
	case c.Retention < time.Hour:
		return config.Errorf("Retention", "%v is not a duration of at least 1h (90 days: 2160h)", c.Retention)
	}
	return nil
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.RelayInterval <= 0 {
		c.RelayInterval = d.RelayInterval
	}
	if c.Lease <= 0 {
		c.Lease = d.Lease
	}
	if c.Batch <= 0 {
		c.Batch = d.Batch
	}
	if c.Retention <= 0 {
		c.Retention = d.Retention
	}
	if c.PruneBatch <= 0 {
		c.PruneBatch = d.PruneBatch
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	return c
}

// Outbox records events in the events table, in the transaction of the change they report, and
// relays them to the bus (Run). It is safe for concurrent use.
type Outbox struct {
	db       *models.DB
	bus      *Bus
	cfg      Config
	log      *slog.Logger
	instance string
	wake     chan struct{}
	hooks    atomic.Pointer[func(point string)]

	mu         sync.Mutex // one relay step at a time in this process
	leaseUntil time.Time  // zero when this instance does not hold the lease
}

// NewOutbox returns the outbox over db (migrated) delivering to bus.
func NewOutbox(db *models.DB, bus *Bus, cfg Config, log *slog.Logger) *Outbox {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	return &Outbox{db: db, bus: bus, cfg: cfg.withDefaults(), log: log, instance: hex.EncodeToString(b[:]), wake: make(chan struct{}, 1)}
}

// Bus returns the bus the relay delivers to.
func (o *Outbox) Bus() *Bus { return o.bus }

// SetHook installs fn, called at the relay's and replay's steps ("relay.assigned" after cursors
// are committed and before delivery, "relay.delivered" before delivery is recorded, "replay.subscribed"
// after a resuming subscription joined the bus and before it reads the table, "replay.done"
// between its replay and its live events). Tests only; nil removes it.
func (o *Outbox) SetHook(fn func(point string)) {
	if fn == nil {
		o.hooks.Store(nil)
		return
	}
	o.hooks.Store(&fn)
}

func (o *Outbox) hook(point string) {
	if fn := o.hooks.Load(); fn != nil {
		(*fn)(point)
	}
}

// Append inserts evs into the events table through db, which should be the transaction making the
// change they report: they commit with it or not at all. Call Notify after the commit.
func (o *Outbox) Append(ctx context.Context, db bun.IDB, evs ...Event) error {
	if o == nil || len(evs) == 0 {
		return nil
	}
	rows := make([]models.EventRow, len(evs))
	for i, ev := range evs {
		if ev.Time.IsZero() {
			ev.Time = o.cfg.Clock()
		}
		ev.Time = ev.Time.UTC()
		ev.Seq = 0
		body, err := json.Marshal(ev)
		if err != nil {
			return fmt.Errorf("events: encode %s: %w", ev.Kind, err)
		}
		rows[i] = models.EventRow{Kind: string(ev.Kind), MediaID: ev.MediaID, ContentID: ev.ContentID, Actor: ev.Actor,
			TokenID: ev.TokenID, At: ev.Time, Body: string(body)}
	}
	if _, err := db.NewInsert().Model(&rows).Exec(ctx); err != nil {
		return fmt.Errorf("events: record %d events: %w", len(rows), err)
	}
	return nil
}

// Emit records evs in a transaction of their own and delivers them (Flush): for events that
// report an outcome (a file permission set, a URL purged) rather than a change of the database.
func (o *Outbox) Emit(ctx context.Context, evs ...Event) error {
	if o == nil || len(evs) == 0 {
		return nil
	}
	ctx = context.WithoutCancel(ctx)
	if err := o.Append(ctx, o.db.DB, evs...); err != nil {
		return err
	}
	o.Flush(ctx)
	return nil
}

// Flush delivers the waiting events now, when this instance holds the relay lease, so that this
// instance's subscribers have them when the change that recorded them returns; otherwise (or on
// failure) it wakes the relay, and the holder delivers them within its interval.
func (o *Outbox) Flush(ctx context.Context) {
	if o == nil {
		return
	}
	// The relay's statements are its own, not the caller's: a fresh context (no request values,
	// no query counter, no deadline).
	for range 4 {
		n, err := o.RelayOnce(context.Background())
		if err != nil {
			o.log.WarnContext(ctx, "event relay: flush", "err", err)
			o.Notify()
			return
		}
		if n < o.cfg.Batch {
			return
		}
	}
	o.Notify()
}

// Notify wakes the relay: call it after committing a transaction that appended events.
func (o *Outbox) Notify() {
	if o == nil {
		return
	}
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// Run relays events until ctx ends, then gives up the lease so another instance takes over at
// once. The caller owns it.
func (o *Outbox) Run(ctx context.Context) {
	tick := time.NewTicker(o.cfg.RelayInterval)
	defer tick.Stop()
	defer o.releaseLease()
	for {
		n, err := o.RelayOnce(ctx)
		if err != nil && ctx.Err() == nil {
			o.log.Error("event relay", "err", err)
		}
		if err == nil && n == o.cfg.Batch {
			continue // more are waiting
		}
		select {
		case <-ctx.Done():
			return
		case <-o.wake:
		case <-tick.C:
		}
	}
}

// RelayOnce delivers up to one batch of waiting events if this instance holds (or can take) the
// relay lease, and returns how many it delivered. Events a previous holder numbered but did not
// record as delivered go first, again, with the same cursors; then new events are numbered in the
// order they were inserted and delivered.
func (o *Outbox) RelayOnce(ctx context.Context) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	held, err := o.holdLease(ctx)
	if err != nil || !held {
		return 0, err
	}
	var rows []models.EventRow
	if err := o.db.NewSelect().Model(&rows).Column("id", "seq", "body").
		Where("sent_at IS NULL AND seq IS NOT NULL").Order("seq").Limit(o.cfg.Batch).Scan(ctx); err != nil {
		return 0, fmt.Errorf("events: unsent numbered events: %w", err)
	}
	if len(rows) == 0 {
		if rows, err = o.number(ctx); err != nil || len(rows) == 0 {
			return 0, err
		}
	}
	o.hook("relay.assigned")
	ids := make([]string, len(rows))
	for i, r := range rows {
		var ev Event
		if err := json.Unmarshal([]byte(r.Body), &ev); err != nil {
			o.log.Error("event relay: unreadable event skipped", "id", r.ID, "err", err)
		} else {
			ev.Seq = *r.Seq
			o.bus.Publish(ctx, ev)
		}
		ids[i] = strconv.FormatInt(r.ID, 10)
	}
	o.hook("relay.delivered")
	if _, err := o.db.NewUpdate().Model((*models.EventRow)(nil)).Set("sent_at = ?", o.cfg.Clock().UTC()).
		Where("id IN (" + strings.Join(ids, ",") + ")").Exec(context.WithoutCancel(ctx)); err != nil {
		return len(rows), fmt.Errorf("events: record delivery: %w", err)
	}
	return len(rows), nil
}

// number gives the oldest unnumbered events their cursors, after the highest given so far, in
// one transaction, and returns them in cursor order.
func (o *Outbox) number(ctx context.Context) ([]models.EventRow, error) {
	var rows []models.EventRow
	err := o.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		rows = rows[:0]
		if err := tx.NewSelect().Model(&rows).Column("id", "body").
			Where("sent_at IS NULL AND seq IS NULL").Order("id").Limit(o.cfg.Batch).Scan(ctx); err != nil {
			return fmt.Errorf("events: unsent events: %w", err)
		}
		if len(rows) == 0 {
			return nil
		}
		var top int64
		if err := tx.NewRaw("SELECT COALESCE(MAX(seq), 0) FROM events").Scan(ctx, &top); err != nil {
			return fmt.Errorf("events: highest cursor: %w", err)
		}
		for i := range rows {
			seq := top + int64(i) + 1
			rows[i].Seq = &seq
		}
		n, err := numberRows(ctx, tx, rows)
		if err != nil {
			return fmt.Errorf("events: number events: %w", err)
		}
		if n != int64(len(rows)) {
			return fmt.Errorf("events: numbered %d of %d events: another relay is numbering them", n, len(rows))
		}
		return nil
	})
	return rows, err
}

// maxRuns is the number of runs of consecutive ids above which numberRows writes one CASE
// statement instead of one range update a run.
const maxRuns = 8

// numberRows gives rows (in id order) the cursors already set in them, and returns how many rows
// the database changed. Events are inserted with consecutive ids, so a batch is usually one run:
// `seq = id + k` over an id range is one cheap statement, where a CASE of 500 branches costs a
// search per row.
func numberRows(ctx context.Context, tx bun.Tx, rows []models.EventRow) (int64, error) {
	var runs [][]models.EventRow
	for i, start := 1, 0; i <= len(rows); i++ {
		if i == len(rows) || rows[i].ID != rows[i-1].ID+1 {
			runs = append(runs, rows[start:i])
			start = i
		}
	}
	if len(runs) > maxRuns {
		var set, in strings.Builder
		set.WriteString("UPDATE events SET seq = CASE id")
		for i, r := range rows {
			fmt.Fprintf(&set, " WHEN %d THEN %d", r.ID, *r.Seq)
			if i > 0 {
				in.WriteByte(',')
			}
			in.WriteString(strconv.FormatInt(r.ID, 10))
		}
		set.WriteString(" END WHERE seq IS NULL AND id IN (" + in.String() + ")")
		res, err := tx.ExecContext(ctx, set.String())
		if err != nil {
			return 0, err
		}
		return res.RowsAffected()
	}
	var total int64
	for _, run := range runs {
		first, last := run[0], run[len(run)-1]
		res, err := tx.ExecContext(ctx, "UPDATE events SET seq = id + ? WHERE seq IS NULL AND id BETWEEN ? AND ?",
			*first.Seq-first.ID, first.ID, last.ID)
		if err != nil {
			return 0, err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return 0, err
		}
		total += n
	}
	return total, nil
}

// holdLease renews the relay lease when half of it has passed, or tries to take it when this
// instance does not hold it. It reports whether this instance holds it now.
func (o *Outbox) holdLease(ctx context.Context) (bool, error) {
	now := o.cfg.Clock().UTC()
	if !o.leaseUntil.IsZero() && now.Before(o.leaseUntil.Add(-o.cfg.Lease/2)) {
		return true, nil
	}
	until := now.Add(o.cfg.Lease)
	res, err := o.db.NewUpdate().Model((*models.EventRelay)(nil)).
		Set("holder = ?", o.instance).Set("expires_at = ?", until).
		Where("name = 'relay'").WhereGroup(" AND ", func(q *bun.UpdateQuery) *bun.UpdateQuery {
		return q.Where("holder = ?", o.instance).WhereOr("expires_at < ?", now)
	}).Exec(ctx)
	if err != nil {
		o.leaseUntil = time.Time{}
		return false, fmt.Errorf("events: relay lease: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		if !o.leaseUntil.IsZero() {
			o.log.Warn("event relay lease lost to another instance")
		}
		o.leaseUntil = time.Time{}
		return false, nil
	}
	if o.leaseUntil.IsZero() {
		o.log.Info("event relay lease taken", "instance", o.instance)
	}
	o.leaseUntil = until
	return true, nil
}

// releaseLease gives the lease up, if held, so another instance need not wait for it to expire.
func (o *Outbox) releaseLease() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.leaseUntil.IsZero() {
		return
	}
	o.leaseUntil = time.Time{}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := o.db.NewUpdate().Model((*models.EventRelay)(nil)).Set("holder = ''").Set("expires_at = ?", time.Unix(0, 0).UTC()).
		Where("name = 'relay' AND holder = ?", o.instance).Exec(ctx); err != nil {
		o.log.Warn("event relay lease not released", "err", err)
	}
}
