package models

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/driver/pgdriver"
	"github.com/uptrace/bun/schema"
)

// Select runs q, a select built on db itself (not on a transaction, whose connection it would
// leave), as a prepared statement whose values are bound parameters instead of literals in the
// text, and scans the result as q.Scan(ctx, dest...) does (sql.ErrNoRows included).
//
// bun writes every value into the SQL text, so each call of a query with other values is a new
// statement that the database parses and plans again (Postgres has no plan cache for the simple
// protocol). Select formats q with placeholders ($1… on Postgres, ? on SQLite), keeps one
// *sql.Stmt per distinct text (prepared once per pooled connection by database/sql), and sends
// only the values. Strings, bytes and times are bound; integers and booleans, which come from
// code (LIMIT 51, TRUE), stay in the text. The query still goes through bun, with its hooks (the
// query counter, the statement timeout) and, but for the slices of rows lists read (handScan),
// its scanning.
func (db *DB) Select(ctx context.Context, q *bun.SelectQuery, dest ...any) error {
	b := &binder{Dialect: db.DB.Dialect(), dollar: db.Dialect == Postgres}
	text, err := q.AppendQuery(schema.NewQueryGen(b), nil)
	if err != nil {
		return err
	}
	if len(dest) == 0 {
		if m := handScan(q.GetModel()); m != nil {
			dest = []any{m}
		}
	}
	return q.Conn(preparedConn{db: db, query: string(text), args: b.args}).Scan(ctx, dest...)
}

// binder is the dialect of one query's formatting: the values bun would quote into the text are
// collected as arguments and replaced by placeholders.
type binder struct {
	schema.Dialect
	dollar bool
	args   []any
}

func (b *binder) placeholder(dst []byte, v any) []byte {
	b.args = append(b.args, v)
	if !b.dollar {
		return append(dst, '?')
	}
	return appendDollar(dst, len(b.args))
}

func appendDollar(dst []byte, n int) []byte {
	dst = append(dst, '$')
	var digits [20]byte
	i := len(digits)
	for {
		i--
		digits[i] = byte('0' + n%10)
		if n /= 10; n == 0 {
			break
		}
	}
	return append(dst, digits[i:]...)
}

func (b *binder) AppendString(dst []byte, s string) []byte { return b.placeholder(dst, s) }

func (b *binder) AppendBytes(dst []byte, bs []byte) []byte {
	if bs == nil {
		return b.Dialect.AppendBytes(dst, bs) // NULL
	}
	return b.placeholder(dst, bs)
}

// AppendTime binds the text bun would have quoted, so both databases compare and store exactly
// what an inlined literal gives (SQLite keeps times as text).
func (b *binder) AppendTime(dst []byte, tm time.Time) []byte {
	return b.placeholder(dst, tm.UTC().Format(timeLiteral))
}

// timeLiteral is bun's time format (schema.BaseDialect.AppendTime), used by both dialects.
const timeLiteral = "2006-01-02 15:04:05.999999-07:00"

// maxPrepared bounds the statements kept per database; texts past it run unprepared.
const maxPrepared = 512

// stmtCache holds the prepared statements of one database, by text. Statements are never evicted
// (a statement in use must not be closed under its caller); past maxPrepared a new text runs
// unprepared.
type stmtCache struct {
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

func newStmtCache() *stmtCache { return &stmtCache{m: map[string]*sql.Stmt{}} }

// forget drops st, if it is still query's statement. It is not closed: another caller may hold it
// (database/sql releases it with its connections).
func (c *stmtCache) forget(query string, st *sql.Stmt) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m[query] == st {
		delete(c.m, query)
	}
}

// stmt returns the prepared statement of query, preparing it on first use, or nil when the cache
// is full or absent (a DB built by hand). A failed prepare is returned as an error.
func (db *DB) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	c := db.stmts
	if c == nil {
		return nil, nil
	}
	c.mu.Lock()
	st, ok := c.m[query]
	full := len(c.m) >= maxPrepared
	c.mu.Unlock()
	if ok || full {
		return st, nil
	}
	st, err := db.DB.DB.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev, ok := c.m[query]; ok {
		_ = st.Close() // another caller prepared it first
		return prev, nil
	}
	c.m[query] = st
	return st, nil
}

// preparedConn is the bun.IConn of one Select: bun formats the query with its values inlined (what
// hooks see), and preparedConn runs the placeholder text with its arguments instead.
type preparedConn struct {
	db    *DB
	query string
	args  []any
}

func (c preparedConn) QueryContext(ctx context.Context, _ string, _ ...any) (*sql.Rows, error) {
	st, err := c.db.stmt(ctx, c.query)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return c.db.DB.DB.QueryContext(ctx, c.query, c.args...)
	}
	rows, err := st.QueryContext(ctx, c.args...)
	if err != nil && planChanged(err) {
		// A migration changed a table under the statement (a "*" select gained a column): prepare
		// the text anew on next use, and answer this one unprepared.
		c.db.stmts.forget(c.query, st)
		return c.db.DB.DB.QueryContext(ctx, c.query, c.args...)
	}
	return rows, err
}

// planChanged reports Postgres refusing a prepared statement as feature_not_supported (SQLSTATE
// 0A000), the code of "cached plan must not change result type" (its result columns changed since
// it was prepared). Decided by the code alone, never the message: any other 0A000 fails the same
// way again when the text runs unprepared, so retrying once changes no answer.
func planChanged(err error) bool {
	var pgErr pgdriver.Error
	return errors.As(err, &pgErr) && pgErr.Field('C') == "0A000"
}

func (c preparedConn) QueryRowContext(ctx context.Context, _ string, _ ...any) *sql.Row {
	st, err := c.db.stmt(ctx, c.query)
	if err != nil || st == nil {
		return c.db.DB.DB.QueryRowContext(ctx, c.query, c.args...)
	}
	return st.QueryRowContext(ctx, c.args...)
}

func (c preparedConn) ExecContext(ctx context.Context, _ string, _ ...any) (sql.Result, error) {
	st, err := c.db.stmt(ctx, c.query)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return c.db.DB.DB.ExecContext(ctx, c.query, c.args...)
	}
	return st.ExecContext(ctx, c.args...)
}
