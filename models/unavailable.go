package models

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/driver/pgdriver"
	"modernc.org/sqlite"
)

// ErrUnavailable marks a failure of the database itself: unreachable, refusing connections,
// shutting down, out of resources, or too slow (a statement or connection-acquire timeout). Callers
// map it to DATABASE_UNAVAILABLE / HTTP 503 with Retry-After, never to INTERNAL.
var ErrUnavailable = errors.New("database unavailable")

// Unavailable reports whether err is a failure of the database rather than of the statement. It
// decides by type, never by message text: ErrUnavailable (which every network error of a Postgres
// connection carries: a refused dial, a reset, a read or write timeout, the server closing the
// socket); a deadline that ran out (VEIL_DB_STATEMENT_TIMEOUT, VEIL_DB_ACQUIRE_TIMEOUT);
// database/sql's bad or closed connection; Postgres SQLSTATE classes 08 (connection exception), 53
// (insufficient resources), 57 (operator intervention: shutdown, statement timeout, cannot connect
// now) and 58 (system error); and SQLite's BUSY, LOCKED, NOMEM, READONLY, INTERRUPT, IOERR, FULL,
// CANTOPEN and PROTOCOL results. A constraint violation, a syntax error or sql.ErrNoRows is not.
func Unavailable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) {
		return true
	}
	var pgErr pgdriver.Error
	if errors.As(err, &pgErr) {
		code := pgErr.Field('C')
		for _, class := range []string{"08", "53", "57", "58"} {
			if strings.HasPrefix(code, class) {
				return true
			}
		}
		return false
	}
	var sqErr *sqlite.Error
	if errors.As(err, &sqErr) {
		switch sqErr.Code() & 0xff { // the primary result code
		case 5, 6, 7, 8, 9, 10, 13, 14, 15: // BUSY LOCKED NOMEM READONLY INTERRUPT IOERR FULL CANTOPEN PROTOCOL
			return true
		}
	}
	return false
}

// unavailableError is a network error of a database connection: it is ErrUnavailable and the
// cause (errors.Is and errors.As see both).
type unavailableError struct{ err error }

func (e *unavailableError) Error() string   { return "database unavailable: " + e.err.Error() }
func (e *unavailableError) Unwrap() []error { return []error{ErrUnavailable, e.err} }

// classifiedConn marks every error of its connection's reads and writes as ErrUnavailable: the
// socket of a Postgres connection only fails when the server or the network does.
type classifiedConn struct{ net.Conn }

func (c classifiedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err != nil {
		err = &unavailableError{err}
	}
	return n, err
}

func (c classifiedConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if err != nil {
		err = &unavailableError{err}
	}
	return n, err
}

// classifyDialer makes the connector's dial errors and connection errors ErrUnavailable.
func classifyDialer(conf *pgdriver.Config) {
	dial := conf.Dialer
	conf.Dialer = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, fmt.Errorf("connect to %s: %w", addr, &unavailableError{err})
		}
		return classifiedConn{c}, nil
	}
}

type noTimeoutKey struct{}

// WithoutTimeout returns a context whose statements are not bounded by VEIL_DB_STATEMENT_TIMEOUT
// (migrations, which may rewrite large tables).
func WithoutTimeout(ctx context.Context) context.Context {
	return context.WithValue(ctx, noTimeoutKey{}, true)
}

type cancelKey struct{}

// timeoutHook bounds every statement built with bun (not BEGIN, COMMIT and ROLLBACK, whose
// context is the transaction's) by the time to acquire a connection plus the statement timeout, so
// that a hung server or an exhausted pool answers within that time instead of waiting for the
// request to end. The socket timeouts of the connector bound the rest.
type timeoutHook struct{ limit time.Duration }

func (h timeoutHook) BeforeQuery(ctx context.Context, ev *bun.QueryEvent) context.Context {
	if ev.IQuery == nil || ctx.Value(noTimeoutKey{}) != nil {
		return ctx
	}
	if d, ok := ctx.Deadline(); ok && time.Until(d) <= h.limit {
		return ctx
	}
	ctx, cancel := context.WithTimeout(ctx, h.limit)
	return context.WithValue(ctx, cancelKey{}, cancel)
}

func (timeoutHook) AfterQuery(ctx context.Context, _ *bun.QueryEvent) {
	if cancel, ok := ctx.Value(cancelKey{}).(context.CancelFunc); ok {
		cancel()
	}
}
