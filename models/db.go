package models

import (
	"crypto/rand"
	"encoding/hex"

	"github.com/veil-media/veil/config"

	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"
	"github.com/uptrace/bun/dialect/sqlitedialect"
	"github.com/uptrace/bun/driver/pgdriver"
	"modernc.org/sqlite" // pure-Go SQLite driver, registered as "sqlite"
)

// DBConfig says which database to open.
type DBConfig struct {
	// URL is "sqlite:<path>" (also "sqlite://<path>", "file:<path>") or "postgres://…".
	URL string
	// DirMode is the mode of the folder Veil creates for a SQLite file that does not exist yet.
	DirMode os.FileMode
	// MaxOpenConns caps the pool (default 16 on Postgres, 8 on SQLite).
	MaxOpenConns int
	// StatementTimeout bounds one statement on Postgres (VEIL_DB_STATEMENT_TIMEOUT, default 5s):
	// the server cancels it (statement_timeout) and Veil stops waiting for a server that does not
	// answer at all. 0 means the default.
	StatementTimeout time.Duration
	// AcquireTimeout bounds getting a connection on Postgres, from the pool or a new one
	// (VEIL_DB_ACQUIRE_TIMEOUT, default 2s). 0 means the default.
	AcquireTimeout time.Duration
}

// Default timeouts of DBConfig.
const (
	DefaultStatementTimeout = 5 * time.Second
	DefaultAcquireTimeout   = 2 * time.Second
)

func (c DBConfig) timeouts() (statement, acquire time.Duration) {
	statement, acquire = c.StatementTimeout, c.AcquireTimeout
	if statement <= 0 {
		statement = DefaultStatementTimeout
	}
	if acquire <= 0 {
		acquire = DefaultAcquireTimeout
	}
	return statement, acquire
}

// Validate reports a configuration error naming the VEIL_DATABASE_URL setting.
func (c DBConfig) Validate() error {
	if _, _, err := parseDBURL(c.URL); err != nil {
		return config.Errorf("URL", "%v", err)
	}
	return nil
}

// Dialect names the database family.
type Dialect string

// Supported dialects.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

func parseDBURL(raw string) (Dialect, string, error) {
	switch {
	case raw == "":
		return "", "", errors.New("is empty; use sqlite:<path> or postgres://user@host/db")
	case strings.HasPrefix(raw, "postgres://"), strings.HasPrefix(raw, "postgresql://"):
		if _, err := url.Parse(raw); err != nil {
			return "", "", fmt.Errorf("is not a valid URL: %w", err)
		}
		return Postgres, raw, nil
	case strings.HasPrefix(raw, "sqlite://"):
		return SQLite, strings.TrimPrefix(raw, "sqlite://"), nil
	case strings.HasPrefix(raw, "sqlite:"):
		return SQLite, strings.TrimPrefix(raw, "sqlite:"), nil
	case strings.HasPrefix(raw, "file:"):
		return SQLite, strings.TrimPrefix(raw, "file:"), nil
	default:
		return "", "", fmt.Errorf("%q has an unknown scheme; use sqlite:<path> or postgres://user@host/db", redactURL(raw))
	}
}

// redactURL hides a password in a database URL so it can be printed.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// RedactURL is redactURL for other packages (diagnostics, logs).
func RedactURL(raw string) string { return redactURL(raw) }

// NewMemoryURL returns the URL of a new SQLite database held in this process's memory: shared by
// the connections of one pool (SQLite's memdb VFS, with the usual locking), gone when the pool is
// closed, never on disk. For `veil serve --ephemeral` and tests.
func NewMemoryURL() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "sqlite:/veil-memory-" + hex.EncodeToString(b[:]) + "?vfs=memdb"
}

// DB is an open database with its dialect and a query counter hook installed.
type DB struct {
	*bun.DB
	Dialect Dialect
	stmts   *stmtCache // Select's prepared statements; nil in a DB built by hand (no caching)
}

// Open opens the database named by cfg. For SQLite it creates the file's folder (with DirMode),
// turns on WAL, a busy timeout, foreign keys, and BEGIN IMMEDIATE transactions so concurrent
// writers queue instead of failing with "database is locked".
func Open(ctx context.Context, cfg DBConfig) (*DB, error) {
	dialect, dsn, err := parseDBURL(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("models: VEIL_DATABASE_URL: %w", err)
	}
	var db *bun.DB
	switch dialect {
	case SQLite:
		path, query, _ := strings.Cut(dsn, "?")
		inMemory := path == ":memory:" || path == "" || strings.Contains(query, "vfs=memdb")
		if !inMemory {
			mode := cfg.DirMode
			if mode == 0 {
				mode = 0o750
			}
			if err := os.MkdirAll(filepath.Dir(path), mode); err != nil {
				return nil, fmt.Errorf("models: create database folder: %w", err)
			}
			if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
				// Create the file ourselves so it is owner-only: it holds private metadata.
				f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
				if err != nil {
					return nil, fmt.Errorf("models: create database file: %w", err)
				}
				f.Close()

			}
		}
		q := url.Values{}
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "busy_timeout(15000)")
		q.Add("_pragma", "foreign_keys(1)")
		q.Add("_pragma", "synchronous(NORMAL)")
		q.Set("_txlock", "immediate")
		sep := "?"
		if strings.Contains(dsn, "?") {
			sep = "&"
		}
		sqldb, err := sql.Open("sqlite", "file:"+dsn+sep+q.Encode())
		if err != nil {
			return nil, fmt.Errorf("models: open sqlite: %w", err)
		}
		n := cfg.MaxOpenConns
		if n == 0 {
			n = 8
		}
		sqldb.SetMaxOpenConns(n)
		sqldb.SetMaxIdleConns(n)
		sqldb.SetConnMaxIdleTime(0)
		db = bun.NewDB(sqldb, sqlitedialect.New())
	case Postgres:
		statement, acquire := cfg.timeouts()
		conn := pgdriver.NewConnector(pgdriver.WithDSN(dsn))
		conf := conn.Config()
		// A server that stops answering (hung, or a network that drops packets) is given up on
		// once the statement and a connection's acquisition could have finished; each network
		// error is ErrUnavailable (see Unavailable).
		conf.DialTimeout = acquire
		conf.ReadTimeout = statement + acquire
		conf.WriteTimeout = statement + acquire
		if conf.ConnParams == nil {
			conf.ConnParams = map[string]any{}
		}
		if _, set := conf.ConnParams["statement_timeout"]; !set {
			conf.ConnParams["statement_timeout"] = statement.Milliseconds()
		}
		classifyDialer(conf)
		sqldb := sql.OpenDB(conn)
		n := cfg.MaxOpenConns
		if n == 0 {
			n = 16
		}
		sqldb.SetMaxOpenConns(n)
		sqldb.SetMaxIdleConns(n)
		db = bun.NewDB(sqldb, pgdialect.New())
	}
	db.AddQueryHook(counterHook{})
	if dialect == Postgres {
		statement, acquire := cfg.timeouts()
		db.AddQueryHook(timeoutHook{limit: statement + acquire})
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("models: connect to %s: %w", redactURL(cfg.URL), err)
	}
	return &DB{DB: db, Dialect: dialect, stmts: newStmtCache()}, nil
}

type counterKey struct{}

// QueryCounter counts the SQL statements executed with a context derived from WithQueryCounter.
type QueryCounter struct{ n atomic.Int64 }

// Count returns the number of statements seen so far.
func (c *QueryCounter) Count() int64 { return c.n.Load() }

// WithQueryCounter returns a context whose SQL statements are counted by the returned counter.
// Tests and benchmarks use it to prove a request costs a constant number of queries.
func WithQueryCounter(ctx context.Context) (context.Context, *QueryCounter) {
	c := &QueryCounter{}
	return context.WithValue(ctx, counterKey{}, c), c
}

type counterHook struct{}

func (counterHook) BeforeQuery(ctx context.Context, _ *bun.QueryEvent) context.Context { return ctx }

func (counterHook) AfterQuery(ctx context.Context, _ *bun.QueryEvent) {
	if c, ok := ctx.Value(counterKey{}).(*QueryCounter); ok {
		c.n.Add(1)
	}
}

// EscapeLike quotes LIKE's wildcards in s, for a `LIKE … ESCAPE '\'` pattern, so an id or a search
// text matches only itself ('_' of "col_" would otherwise match any character).
func EscapeLike(s string) string { return likeEscaper.Replace(s) }

var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// IsUniqueViolation reports a unique-constraint failure on either database, by its code.
func IsUniqueViolation(err error) bool {
	var pgErr pgdriver.Error
	if errors.As(err, &pgErr) {
		return pgErr.Field('C') == "23505"
	}
	var sqErr *sqlite.Error
	if errors.As(err, &sqErr) {
		return sqErr.Code() == 2067 || sqErr.Code() == 1555 // SQLITE_CONSTRAINT_UNIQUE / _PRIMARYKEY
	}
	return false
}
