package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/config"
	"github.com/bulwark-shop/bulwark/internal/keys"
	"github.com/bulwark-shop/bulwark/internal/store"
)

// AuditKeyset (an Ed25519 signing keyset under the KEK) signs the audit
// log's checkpoints. It is not among DataKeysets: nothing is encrypted
// under it, and a rotation would only add a key to verify with.
const AuditKeyset = "audit"

// notary returns the audit log's notary: its origin names the shop's
// database, its key is the audit keyset (made at the first start).
func notary(ctx context.Context, ring *keys.Keyring, db *store.DB) (*audit.Notary, error) {
	id, err := db.Identity(ctx)
	if err != nil {
		return nil, err
	}
	s, err := ring.Signing(AuditKeyset)
	if err != nil {
		return nil, err
	}
	return audit.NewNotary(audit.Origin(id), s.Signer, s.Public, s.All)
}

// useAuditLog sets up the checkpointer: the audit keyset (its creation
// audited at the first start) and the checkpoint directory.
func (a *App) useAuditLog(ctx context.Context) error {
	made := !a.keyring.Has(AuditKeyset)
	n, err := notary(ctx, a.keyring, a.DB)
	if err != nil {
		return err
	}
	if err := a.auditKeysetMade(ctx, AuditKeyset, made); err != nil {
		return err
	}
	a.AuditLog = newCheckpointer(a.cfg, a.DB, n, a.now)
	a.AuditLog.Failed = func(err error) { a.backgroundFailed("audit log: integration or checkpoint failed", err) }
	a.AuditLog.Register(a.registry)
	return nil
}

func newCheckpointer(cfg config.Config, db *store.DB, n *audit.Notary, now func() time.Time) *audit.Checkpointer {
	return &audit.Checkpointer{Store: db, Notary: n, Dir: cfg.AuditCheckpointDir(), Every: cfg.AuditCheckpointEvery,
		Records: cfg.AuditCheckpointRecords, Now: now}
}

// withAuditLog runs fn with the shop's database migrated and the audit
// log's notary, for the audit commands (which need the KEK: the key that
// signs checkpoints is under it). Unless create is set, a shop without the
// audit key yet (never started) gets a nil notary and nothing is made.
func withAuditLog(ctx context.Context, name string, args []string, env Env, create bool, extra func(*flag.FlagSet),
	fn func(config.Config, *store.DB, *audit.Notary) error) error {
	return withMigratedDBFlags(ctx, name, args, env, extra, func(cfg config.Config, db *store.DB) error {
		if err := checkKeysetsServe(ctx, cfg, db); err != nil {
			return err
		}
		if !create && kekConfig(cfg).InFile() && !keys.KEKFileExists(cfg.DataDir) {
			return fn(cfg, db, nil)
		}
		trail := audit.NewTrail(db, env.Now)
		ring, err := openKeyringAudited(ctx, cfg, trail)
		if err != nil {
			return err
		}
		defer ring.Close()
		made := !ring.Has(AuditKeyset)
		if made && !create {
			return fn(cfg, db, nil)
		}
		n, err := notary(ctx, ring, db)
		if err != nil {
			return err
		}
		if made {
			if err := trail.Record(ctx, audit.ActionKeysetCreate, AuditKeyset, audit.Success, "data keyset made, under the KEK from "+ring.KEKStatus().Source); err != nil {
				return err
			}
		}
		return fn(cfg, db, n)
	})
}

// auditVerify checks the trail's chain, and with the checkpoints the whole
// log: see audit.VerifyLog.
func auditVerify(ctx context.Context, args []string, env Env) error {
	var dir string
	return withAuditLog(ctx, "audit verify", args, env, false, func(fs *flag.FlagSet) {
		fs.StringVar(&dir, "checkpoints", "", "directory of signed checkpoints to check the log against (default: the audit-checkpoints setting)")
	}, func(cfg config.Config, db *store.DB, n *audit.Notary) (err error) {
		if dir == "" {
			dir = cfg.AuditCheckpointDir()
		}
		var cps []audit.Checkpoint
		if n != nil {
			if cps, err = n.ReadCheckpoints(dir); err != nil {
				return fmt.Errorf("audit log is NOT intact: %w", err)
			}
		} else if files, _ := filepath.Glob(filepath.Join(dir, "*.checkpoint")); len(files) > 0 {
			return fmt.Errorf("audit log is NOT intact: %s holds %d signed checkpoints but the shop has no audit key to verify them with: the %s keyset was removed", dir, len(files), AuditKeyset)
		}
		tree, err := db.AuditTree(ctx)
		if err != nil {
			return err
		}
		rep, err := audit.VerifyLog(ctx, db, cps, tree, db.AuditNodes)
		if err != nil {
			return fmt.Errorf("audit trail is NOT intact: %w", err)
		}
		fmt.Fprintf(env.Stdout, "audit trail intact: %d records verified\n", rep.Records)
		if rep.Checkpoints == 0 {
			fmt.Fprintf(env.Stdout, "no signed checkpoints in %s: the chain holds, but nothing proves it was not rebuilt or cut short\n", dir)
			return nil
		}
		fmt.Fprintf(env.Stdout, "%d signed checkpoints in %s hold; the latest, of %d records, signed %s; consistency between them proven\n",
			rep.Checkpoints, dir, rep.Latest.Size, rep.Latest.At.Format("2006-01-02 15:04:05Z07:00"))
		if after := rep.Records - int64(rep.Latest.Size); after > 0 {
			fmt.Fprintf(env.Stdout, "%d records after the latest checkpoint are verified by the chain only until the next one\n", after)
		}
		return nil
	})
}

// auditCheckpoint integrates every record and signs a checkpoint now, and
// prints it with the key to verify it with.
func auditCheckpoint(ctx context.Context, args []string, env Env) error {
	return withAuditLog(ctx, "audit checkpoint", args, env, true, nil, func(cfg config.Config, db *store.DB, n *audit.Notary) error {
		c := newCheckpointer(cfg, db, n, env.Now)
		cp, err := c.Step(ctx, true)
		if err != nil {
			return err
		}
		if cp.Size == 0 {
			return errors.New("the audit trail is empty: nothing to sign")
		}
		fmt.Fprintf(env.Stdout, "%s", cp.Note)
		fmt.Fprintf(env.Stdout, "\nverifier key: %s\nwritten to %s\n", n.VerifierKey(), cfg.AuditCheckpointDir())
		return nil
	})
}

// auditExport writes the trail (or the records of a time range) for a
// SIEM: OCSF-shaped JSON lines or RFC 5424 syslog messages, on standard
// output. The export is itself recorded first.
func auditExport(ctx context.Context, args []string, env Env) error {
	var format, since, until string
	return withMigratedDBFlags(ctx, "audit export", args, env, func(fs *flag.FlagSet) {
		fs.StringVar(&format, "format", audit.FormatJSONL, "jsonl (OCSF-shaped JSON lines) or syslog (RFC 5424 messages)")
		fs.StringVar(&since, "since", "", "only records at or after this RFC 3339 time")
		fs.StringVar(&until, "until", "", "only records before this RFC 3339 time")
	}, func(cfg config.Config, db *store.DB) error {
		q, err := audit.ParseQuery("", "", "", since, until, "", "")
		if err != nil {
			return fmt.Errorf("audit export: %w", err)
		}
		host, _ := os.Hostname()
		ex, err := audit.NewExporter(env.Stdout, format, host)
		if err != nil {
			return err
		}
		detail := "format=" + format
		if s := q.String(); s != "limit=50" {
			detail += " " + strings.TrimSuffix(s, " limit=50")
		}
		if err := audit.NewTrail(db, env.Now).Record(ctx, audit.ActionExport, "", audit.Success, detail); err != nil {
			return err
		}
		if _, err := db.ScanAudit(ctx, func(r audit.Record) error {
			if (!q.Since.IsZero() && r.Time.Before(q.Since)) || (!q.Until.IsZero() && !r.Time.Before(q.Until)) {
				return nil
			}
			return ex.Write(r)
		}); err != nil {
			return err
		}
		return ex.Flush()
	})
}
