package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"sync"

	"modernc.org/sqlite"
)

// The pure-Go SQLite driver compiles every statement anew on every call
// (database/sql hands it the text each time): in a checkout that was about
// half of the database's CPU. cachingConnector wraps its connections so that
// each keeps its compiled statements by their text and reuses them; SQLite
// recompiles a cached statement by itself when the schema changes.
// PostgreSQL's driver (pgx) caches prepared statements per connection already.
//
// A connection's statement is lent to one use at a time: database/sql closes
// the statement when the use ends (after an Exec, or when Rows close), which
// here returns it to the cache. A second use of the same text while the first
// is still open (a query run again while its rows are being read) gets a
// statement of its own, compiled and finalized as before.
type cachingConnector struct {
	dsn    string
	driver *sqlite.Driver
}

func (c *cachingConnector) Connect(context.Context) (driver.Conn, error) {
	conn, err := c.driver.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	return &cachingConn{conn: conn, stmts: map[string]*cachedStmt{}}, nil
}

func (c *cachingConnector) Driver() driver.Driver { return c.driver }

// maxCachedStmts bounds a connection's cache: the store's statements are
// constants in its code, a few hundred in all, but some are assembled per
// call (lists of placeholders, filters), and those must not grow it without
// end. Past the bound, statements are compiled per use as before.
const maxCachedStmts = 512

// cachingConn is a driver connection that caches its statements. It leaves
// out the driver's direct Exec and Query (ExecerContext, QueryerContext) on
// purpose: database/sql then prepares every statement, which is where the
// cache sits.
type cachingConn struct {
	conn  driver.Conn
	mu    sync.Mutex // database/sql uses a connection from one goroutine at a time; this is for safety
	stmts map[string]*cachedStmt
}

var (
	_ driver.ConnPrepareContext = (*cachingConn)(nil)
	_ driver.ConnBeginTx        = (*cachingConn)(nil)
	_ driver.Pinger             = (*cachingConn)(nil)
	_ driver.SessionResetter    = (*cachingConn)(nil)
	_ driver.Validator          = (*cachingConn)(nil)
	_ driver.StmtExecContext    = (*cachedStmt)(nil)
	_ driver.StmtQueryContext   = (*cachedStmt)(nil)
)

func (c *cachingConn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

func (c *cachingConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	c.mu.Lock()
	cs, cached := c.stmts[query]
	if cached && !cs.lent {
		cs.lent = true
		c.mu.Unlock()
		return cs, nil
	}
	c.mu.Unlock()
	s, err := c.conn.(driver.ConnPrepareContext).PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if cached || len(c.stmts) >= maxCachedStmts {
		return s, nil // finalized when closed
	}
	cs = &cachedStmt{Stmt: s, conn: c, lent: true}
	c.stmts[query] = cs
	return cs, nil
}

func (c *cachingConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	return c.conn.(driver.ConnBeginTx).BeginTx(ctx, opts)
}

// Begin is the deprecated form database/sql no longer calls when BeginTx exists.
func (c *cachingConn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

func (c *cachingConn) Ping(ctx context.Context) error { return c.conn.(driver.Pinger).Ping(ctx) }

func (c *cachingConn) ResetSession(ctx context.Context) error {
	return c.conn.(driver.SessionResetter).ResetSession(ctx)
}

func (c *cachingConn) IsValid() bool { return c.conn.(driver.Validator).IsValid() }

// Close finalizes the cached statements, then closes the connection.
func (c *cachingConn) Close() error {
	c.mu.Lock()
	var errs []error
	for q, cs := range c.stmts {
		errs = append(errs, cs.Stmt.Close())
		delete(c.stmts, q)
	}
	c.mu.Unlock()
	return errors.Join(append(errs, c.conn.Close())...)
}

// cachedStmt is a compiled statement kept by its connection.
type cachedStmt struct {
	driver.Stmt
	conn *cachingConn
	lent bool // in use; guarded by conn.mu
}

// Close returns the statement to its connection's cache; the connection
// finalizes it when it closes.
func (s *cachedStmt) Close() error {
	s.conn.mu.Lock()
	s.lent = false
	s.conn.mu.Unlock()
	return nil
}

func (s *cachedStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	return s.Stmt.(driver.StmtExecContext).ExecContext(ctx, args)
}

func (s *cachedStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	return s.Stmt.(driver.StmtQueryContext).QueryContext(ctx, args)
}
