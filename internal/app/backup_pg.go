package app

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"strings"

	"github.com/bulwark-shop/bulwark/internal/logging"
	"github.com/bulwark-shop/bulwark/internal/store"
)

// PostgreSQL backups (issue 16): pg_dump in its custom format, attached to
// a snapshot the shop exported and counted its rows in, so the manifest's
// counts are the dump's; drills and restores run pg_restore into a
// database of the operator's choosing, never the shop's own.

// libpqEnv turns a postgres:// URL, as pgx reads it, into libpq's
// environment for pg_dump and pg_restore, so the password never goes on a
// command line (where any local user's ps would read it). It returns the
// search_path the URL sets, if any. The process's own PG* variables are
// left out: the URL alone says where to connect.
func libpqEnv(raw string) (env []string, searchPath string, err error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return nil, "", errors.New("not a postgres:// URL")
	}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") {
			env = append(env, kv)
		}
	}
	var hosts, ports []string
	for _, hp := range strings.Split(u.Host, ",") {
		h, p := hp, ""
		if i := strings.LastIndex(hp, ":"); i >= 0 && !strings.HasSuffix(hp, "]") {
			h, p = hp[:i], hp[i+1:]
		}
		hosts, ports = append(hosts, strings.Trim(h, "[]")), append(ports, p)
	}
	env = append(env, "PGHOST="+strings.Join(hosts, ","), "PGPORT="+strings.Join(ports, ","),
		"PGDATABASE="+strings.TrimPrefix(u.Path, "/"))
	if u.User != nil {
		env = append(env, "PGUSER="+u.User.Username())
		if pw, ok := u.User.Password(); ok {
			env = append(env, "PGPASSWORD="+pw)
		}
	}
	libpq := map[string]string{"sslmode": "PGSSLMODE", "sslrootcert": "PGSSLROOTCERT", "sslcert": "PGSSLCERT", "sslkey": "PGSSLKEY",
		"target_session_attrs": "PGTARGETSESSIONATTRS", "connect_timeout": "PGCONNECT_TIMEOUT", "application_name": "PGAPPNAME"}
	for k, vs := range u.Query() {
		switch name, ok := libpq[k]; {
		case k == "search_path":
			searchPath = vs[0]
		case ok:
			env = append(env, name+"="+vs[0])
		default:
			return nil, "", fmt.Errorf("the URL parameter %q has no libpq equivalent for pg_dump", k)
		}
	}
	return env, searchPath, nil
}

// withSearchPath is databaseURL with its search_path set to schema.
func withSearchPath(databaseURL, schema string) (string, error) {
	u, err := url.Parse(databaseURL)
	if err != nil {
		return "", errors.New("not a URL")
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// runPG runs a PostgreSQL client program with the URL's connection in its
// environment; its error output, scrubbed and bounded, explains a failure.
func runPG(ctx context.Context, program, databaseURL string, args ...string) error {
	env, _, err := libpqEnv(databaseURL)
	if err != nil {
		return fmt.Errorf("%s: %w", program, err)
	}
	cmd := exec.CommandContext(ctx, program, args...)
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &limitedBuffer{b: &stderr, max: 4096}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w: %s", program, err, logging.Scrub(strings.TrimSpace(stderr.String())))
	}
	return nil
}

type limitedBuffer struct {
	b   *bytes.Buffer
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.max - l.b.Len(); room > 0 {
		l.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// pgDump dumps the schema of snap, as snap sees it, to path.
func (a *App) pgDump(ctx context.Context, snap *store.PGSnapshot, databaseURL, path string) error {
	if err := runPG(ctx, a.cfg.PGDump, databaseURL, "--format=custom", "--no-owner", "--no-privileges",
		"--snapshot="+snap.ID, "--schema="+snap.Schema, "--file="+path); err != nil {
		return err
	}
	return os.Chmod(path, 0o600)
}

// pgRestore restores the dump at path into databaseURL, replacing what it
// holds of the dump's objects, in one transaction.
func (a *App) pgRestore(ctx context.Context, path, databaseURL string) error {
	env, _, err := libpqEnv(databaseURL)
	if err != nil {
		return err
	}
	var db string
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PGDATABASE="); ok {
			db = v
		}
	}
	return runPG(ctx, a.cfg.PGRestore, databaseURL, "--no-owner", "--no-privileges", "--clean", "--if-exists",
		"--exit-on-error", "--single-transaction", "--dbname="+db, path)
}

// sameCluster reports whether two URLs reach the same database of the same
// PostgreSQL cluster (its system identifier and the database's name): a
// drill must never restore over the shop.
func sameCluster(ctx context.Context, a, b string) (bool, error) {
	id := func(raw string) (string, error) {
		db, err := sql.Open("pgx", raw)
		if err != nil {
			return "", err
		}
		defer db.Close()
		var sys, name string
		err = db.QueryRowContext(ctx, "SELECT system_identifier::text, current_database() FROM pg_control_system()").Scan(&sys, &name)
		return sys + "/" + name, err
	}
	x, err := id(a)
	if err != nil {
		return false, err
	}
	y, err := id(b)
	if err != nil {
		return false, err
	}
	return x == y, nil
}
