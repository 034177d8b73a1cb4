package app

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"filippo.io/age"

	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/backup"
	"github.com/bulwark-shop/bulwark/internal/finding"
	"github.com/bulwark-shop/bulwark/internal/id"
	"github.com/bulwark-shop/bulwark/internal/identity"
	"github.com/bulwark-shop/bulwark/internal/privacy"
	"github.com/bulwark-shop/bulwark/internal/store"
)

// Backups (issue 16, "Backups"): an online copy of the shop's and the
// vault's databases and the data keysets, encrypted with age, signed, put
// on every backup target; drills that restore the newest into a scratch
// directory and check it. Package backup owns the format; this file
// gathers the files, keeps the outcomes and feeds posture.

// Audit actions of backups.
const (
	ActionBackupCreate  = "backup.create"
	ActionBackupDrill   = "backup.drill"
	ActionBackupRestore = "backup.restore"
)

// Kinds of backup_runs rows.
const (
	runBackup = "backup"
	runDrill  = "drill"
)

// stagingDir is the private directory under the data directory where a
// backup's copies and payload, and a drill's restore, are made: the copies
// are the databases in the clear, so they stay where the databases are.
func stagingDir(dataDir string) string { return filepath.Join(dataDir, ".backup-staging") }

// staleStaging is how old a create or drill directory left in staging must
// be before another run removes it: a process killed mid-backup leaves a
// clear copy of the databases there, which must not stay.
const staleStaging = time.Hour

// makeStaging makes the staging directory and a work directory in it for
// one run, removing what runs that died left behind.
func (a *App) makeStaging(pattern string) (string, error) {
	staging := stagingDir(a.cfg.DataDir)
	if err := os.MkdirAll(staging, 0o700); err != nil {
		return "", fmt.Errorf("backup: %w", err)
	}
	entries, _ := os.ReadDir(staging)
	for _, e := range entries {
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > staleStaging {
			if err := os.RemoveAll(filepath.Join(staging, e.Name())); err == nil {
				a.log.Warn("backup: removed what a run that died left in staging", "dir", e.Name())
			}
		}
	}
	dir, err := os.MkdirTemp(staging, pattern)
	if err != nil {
		return "", fmt.Errorf("backup: %w", err)
	}
	return dir, nil
}

// BackupReport is one backup made: what GET /api/v1/admin/backups lists.
type BackupReport struct {
	ID         string              `json:"id"`
	CreatedAt  time.Time           `json:"created_at"`
	Instance   string              `json:"instance"`
	Engine     string              `json:"engine"`
	Size       int64               `json:"size"`
	Payload    int64               `json:"payload_size"`
	Files      []string            `json:"files"`
	Checkpoint *backup.Checkpoint  `json:"checkpoint"`
	Targets    []backup.Placed     `json:"targets"`
	Pruned     map[string][]string `json:"pruned,omitempty"`
	Manifest   *backup.Manifest    `json:"-"`
}

// DrillReport is one restore drill.
type DrillReport struct {
	ID       string    `json:"id"`
	At       time.Time `json:"at"`
	OK       bool      `json:"ok"`
	Error    string    `json:"error,omitempty"`
	BackupID string    `json:"backup_id,omitempty"`
	Target   string    `json:"target,omitempty"`
	// RecoveryPoint is when the restored backup was taken; RecoveryTime how
	// long the restore and its checks took.
	RecoveryPoint  *time.Time `json:"recovery_point,omitempty"`
	RecoveryTimeMS int64      `json:"recovery_time_ms"`
	Rows           int64      `json:"rows"`
	AuditRecords   int64      `json:"audit_records"`
}

// backupKeys are the keys backups are signed and wrapped with: the audit
// keyset's Ed25519 key (the signature is domain-separated from the log's
// and the baseline's) and the KEK.
func (a *App) backupKeys() (backup.Keys, error) {
	sign, verify, err := fimKeys(a.keyring)
	if err != nil {
		return backup.Keys{}, err
	}
	return backup.Keys{Sign: backup.Signer(sign), Verify: backup.Verifier(verify),
		Wrap: a.keyring.WrapUnderKEK, Unwrap: a.keyring.UnwrapUnderKEK}, nil
}

// backupTargets parses backup-targets.
func (a *App) backupTargets() ([]backup.Target, error) {
	ts, err := backup.ParseTargets(a.cfg.BackupTargets, a.cfg.BackupRetention)
	if err != nil {
		return nil, err
	}
	if len(ts) == 0 {
		return nil, errors.New("no backup-targets: set at least one (three for 3-2-1)")
	}
	return ts, nil
}

// CreateBackup makes a backup now, puts it on every target, records it and
// prunes each target to its retention.
func (a *App) CreateBackup(ctx context.Context) (BackupReport, error) {
	targets, err := a.backupTargets()
	if err != nil {
		return BackupReport{}, err
	}
	recipients, names, err := backup.ParseRecipients(a.cfg.BackupRecipients)
	if err != nil {
		return BackupReport{}, err
	}
	keys, err := a.backupKeys()
	if err != nil {
		return BackupReport{}, err
	}
	// The ledger first: the targets then know of every erasure this
	// backup holds, and of those it does not yet.
	if err := a.pushErasures(ctx, targets); err != nil {
		a.log.Warn("backup: copying the erasure ledger to the targets failed; retrying later", "err", err)
	}
	work, err := a.makeStaging("create-")
	if err != nil {
		return BackupReport{}, err
	}
	defer os.RemoveAll(work)

	// The newest checkpoint before the copy: the copy holds every record
	// it commits to.
	var cp *backup.Checkpoint
	if c, err := a.DB.LatestAuditCheckpoint(ctx); err == nil {
		cp = &backup.Checkpoint{Size: c.Size, Root: c.Root}
	} else if !errors.Is(err, audit.ErrNoCheckpoint) {
		return BackupReport{}, fmt.Errorf("backup: the audit checkpoint: %w", err)
	}
	var sources []backup.Source
	copyDB := func(name string, snapshot func(context.Context, string) error) error {
		path := filepath.Join(work, name)
		if err := snapshot(ctx, path); err != nil {
			return err
		}
		rows, err := store.SQLiteFileCheck(ctx, path)
		if err != nil {
			return err
		}
		sources = append(sources, backup.Source{Name: name, Path: path, Rows: rows})
		return nil
	}
	// PostgreSQL: pg_dump attached to a snapshot whose rows were counted.
	dumpDB := func(name, databaseURL string, export func(context.Context) (*store.PGSnapshot, error)) error {
		snap, err := export(ctx)
		if err != nil {
			return err
		}
		defer snap.Release()
		path := filepath.Join(work, name)
		if err := a.pgDump(ctx, snap, databaseURL, path); err != nil {
			return err
		}
		sources = append(sources, backup.Source{Name: name, Path: path, Rows: snap.Rows, Schema: snap.Schema})
		return nil
	}
	if a.DB.Engine() == store.SQLite {
		err = copyDB(store.SQLiteFile, a.DB.SnapshotTo)
	} else {
		err = dumpDB(pgShopDump, a.cfg.DatabaseURL, a.DB.ExportSnapshot)
	}
	if err != nil {
		return BackupReport{}, err
	}
	if a.VaultDB != nil {
		if a.VaultDB.Engine() == store.SQLite {
			err = copyDB(store.VaultSQLiteFile, a.VaultDB.SnapshotTo)
		} else {
			err = dumpDB(pgVaultDump, a.cfg.VaultDatabaseURL, a.VaultDB.ExportSnapshot)
		}
		if err != nil {
			return BackupReport{}, err
		}
	}
	// The data keysets, as they are on disk: wrapped under the KEK. The
	// KEK itself never goes in a backup (PCI DSS 3.6.1.2: keys that
	// protect keys are kept apart from the data).
	keysets, err := filepath.Glob(filepath.Join(a.cfg.DataDir, "*-keyset.json"))
	if err != nil {
		return BackupReport{}, err
	}
	sort.Strings(keysets)
	for _, k := range keysets {
		if filepath.Base(k) != "kek-keyset.json" {
			sources = append(sources, backup.Source{Name: filepath.Base(k), Path: k})
		}
	}
	now := a.now().UTC()
	m, placed, err := backup.Create(ctx, backup.Spec{ID: id.New(id.Backup), Instance: a.instance, Engine: string(a.DB.Engine()),
		Checkpoint: cp, Sources: sources, Recipients: recipients, RecipientNames: names, Staging: work, Now: now}, keys, targets)
	rep := BackupReport{ID: m.ID, CreatedAt: now, Instance: a.instance, Engine: m.Engine, Size: m.Size(), Payload: m.Payload.Size,
		Checkpoint: cp, Targets: placed, Manifest: &m}
	for _, f := range m.Files {
		rep.Files = append(rep.Files, f.Name)
	}
	failed := []string{}
	for _, p := range placed {
		if p.Error != "" {
			failed = append(failed, p.Target)
		}
	}
	a.noteRun(runBackup, err == nil && len(failed) == 0)
	if err != nil || len(failed) > 0 {
		why := fmt.Sprintf("not on %s", strings.Join(failed, ", "))
		if err != nil {
			why = err.Error()
		}
		if rep.ID != "" {
			if serr := a.DB.SaveBackupRun(ctx, rep.ID, runBackup, now, false, rep); serr != nil {
				return rep, errors.Join(err, serr)
			}
		}
		_ = a.Trail.Record(ctx, ActionBackupCreate, orDash(rep.ID), audit.Failure, why)
		if err != nil {
			return rep, err
		}
		return rep, fmt.Errorf("backup %s: %s", rep.ID, why)
	}
	if err := a.DB.SaveBackupRun(ctx, rep.ID, runBackup, now, true, rep); err != nil {
		return rep, err
	}
	if err := a.Trail.Record(ctx, ActionBackupCreate, rep.ID, audit.Success,
		fmt.Sprintf("%d files, %d bytes, on %d targets", len(m.Files), m.Payload.Size, len(placed))); err != nil {
		return rep, err
	}
	rep.Pruned = map[string][]string{}
	for _, t := range targets {
		pr, err := backup.Prune(ctx, t, keys.Verify, now)
		if err != nil {
			a.log.Warn("backup: pruning a target failed", "target", t.Name(), "err", err)
			continue
		}
		if len(pr.Deleted) > 0 {
			rep.Pruned[t.Name()] = pr.Deleted
		}
		for _, k := range pr.Kept {
			a.log.Info("backup: a backup past retention is kept by its target", "target", t.Name(), "backup", k)
		}
	}
	return rep, nil
}

// ListedBackup is a backup as found on the targets.
type ListedBackup struct {
	ID         string             `json:"id"`
	CreatedAt  time.Time          `json:"created_at"`
	Size       int64              `json:"size"`
	Payload    int64              `json:"payload_size"`
	Checkpoint *backup.Checkpoint `json:"checkpoint"`
	Targets    []backup.Placed    `json:"targets"`
	manifest   backup.Manifest
}

// ListBackups reads every target's manifests: each backup with the targets
// holding it (a copy whose manifest does not verify is listed with why).
func (a *App) ListBackups(ctx context.Context) ([]ListedBackup, error) {
	targets, err := a.backupTargets()
	if err != nil {
		return nil, err
	}
	keys, err := a.backupKeys()
	if err != nil {
		return nil, err
	}
	byID := map[string]*ListedBackup{}
	var out []*ListedBackup
	for _, t := range targets {
		listed, err := backup.List(ctx, t, keys.Verify)
		if err != nil {
			a.log.Warn("backup: a target cannot be listed", "target", t.Name(), "err", err)
			continue
		}
		for _, l := range listed {
			b := byID[l.ID]
			if b == nil {
				b = &ListedBackup{ID: l.ID}
				byID[l.ID] = b
				out = append(out, b)
			}
			p := backup.Placed{Target: t.Name()}
			if l.Err != nil {
				p.Error = l.Err.Error()
			} else if b.CreatedAt.IsZero() {
				b.CreatedAt, b.Size, b.Payload, b.Checkpoint, b.manifest = l.Manifest.CreatedAt, l.Manifest.Size(), l.Manifest.Payload.Size, l.Manifest.Checkpoint, l.Manifest
			}
			b.Targets = append(b.Targets, p)
		}
	}
	slices.SortFunc(out, func(x, y *ListedBackup) int {
		if c := y.CreatedAt.Compare(x.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(y.ID, x.ID)
	})
	res := make([]ListedBackup, len(out))
	for i, b := range out {
		res[i] = *b
	}
	return res, nil
}

// VerifyBackup reads backup id on every target that holds it and checks
// every byte against its signed manifest, decrypting with the KEK's
// identity and any extra one (an operator's offline key); the outcome per
// target.
func (a *App) VerifyBackup(ctx context.Context, backupID string, extra ...age.Identity) ([]backup.Placed, error) {
	targets, err := a.backupTargets()
	if err != nil {
		return nil, err
	}
	keys, err := a.backupKeys()
	if err != nil {
		return nil, err
	}
	var out []backup.Placed
	for _, t := range targets {
		p := backup.Placed{Target: t.Name()}
		m, err := backup.Fetch(ctx, t, backupID, keys.Verify)
		if err == nil {
			var ids []age.Identity
			if ids, err = backup.Identities(m, keys, extra...); err == nil {
				err = backup.Check(ctx, t, m, ids)
			}
		}
		if errors.Is(err, fs.ErrNotExist) {
			err = errors.New("not there")
		}
		if err != nil {
			p.Error = err.Error()
		}
		out = append(out, p)
	}
	return out, nil
}

// restoreInto writes backup id's files, from the first target whose copy
// checks out, into dir (made 0700; it must be empty or absent), then
// verifies the restored audit log against the manifest's checkpoint and
// those of the checkpoint directory the restored log reaches. It returns
// the manifest and the target used.
func (a *App) restoreInto(ctx context.Context, backupID, dir string, extra ...age.Identity) (backup.Manifest, string, error) {
	targets, err := a.backupTargets()
	if err != nil {
		return backup.Manifest{}, "", err
	}
	keys, err := a.backupKeys()
	if err != nil {
		return backup.Manifest{}, "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return backup.Manifest{}, "", err
	}
	if entries, err := os.ReadDir(dir); err != nil || len(entries) > 0 {
		return backup.Manifest{}, "", fmt.Errorf("restore: %s must be an empty directory", dir)
	}
	var errs []error
	for _, t := range targets {
		m, err := backup.Fetch(ctx, t, backupID, keys.Verify)
		if err == nil {
			var ids []age.Identity
			if ids, err = backup.Identities(m, keys, extra...); err == nil {
				err = backup.Restore(ctx, t, m, ids, dir)
			}
		}
		if err != nil {
			errs = append(errs, err)
			clearDir(dir)
			continue
		}
		return m, t.Name(), nil
	}
	return backup.Manifest{}, "", fmt.Errorf("restore %s: no target holds a good copy: %w", backupID, errors.Join(errs...))
}

func clearDir(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		os.RemoveAll(filepath.Join(dir, e.Name()))
	}
}

// Names of the PostgreSQL dumps in a backup.
const (
	pgShopDump  = "shop.pgdump"
	pgVaultDump = "vault.pgdump"
)

// restored is where a backup's databases were restored: SQLite files in a
// directory, or PostgreSQL dumps restored into a database (schemas lists
// the schemas so made, for a drill to drop).
type restored struct {
	shop    store.Options
	vault   *store.Options
	schemas []string
	pgURL   string
}

// materialize makes the databases of the backup m, whose files are in dir,
// usable and checks each against the manifest: a SQLite file's integrity
// and row counts as restored; a PostgreSQL dump restored into pgURL (a
// database that is not the shop's), then its row counts. It returns where
// they are and the rows counted.
func (a *App) materialize(ctx context.Context, dir string, m backup.Manifest, pgURL string) (restored, int64, error) {
	r := restored{pgURL: pgURL}
	var rows int64
	for _, f := range m.Files {
		if f.Rows == nil {
			continue
		}
		var got map[string]int64
		var opts store.Options
		switch f.Name {
		case store.SQLiteFile, store.VaultSQLiteFile:
			var err error
			if got, err = store.SQLiteFileCheck(ctx, filepath.Join(dir, f.Name)); err != nil {
				return r, 0, err
			}
			opts = store.Options{DataDir: dir}
		case pgShopDump, pgVaultDump:
			if pgURL == "" {
				return r, 0, errors.New("a PostgreSQL backup is restored into a database: give backup restore --into-database URL, or set drill-database-url for drills")
			}
			for _, live := range []string{a.cfg.DatabaseURL, a.cfg.VaultDatabaseURL} {
				if live == "" {
					continue
				}
				same, err := sameCluster(ctx, pgURL, live)
				if err != nil {
					return r, 0, fmt.Errorf("compare the restore database with the shop's: %w", err)
				}
				if same {
					return r, 0, errors.New("the database to restore into is the shop's own (or the vault's): give a scratch database")
				}
			}
			if err := a.pgRestore(ctx, filepath.Join(dir, f.Name), pgURL); err != nil {
				return r, 0, err
			}
			r.schemas = append(r.schemas, f.Schema)
			url, err := withSearchPath(pgURL, f.Schema)
			if err != nil {
				return r, 0, err
			}
			if got, err = store.PGTableRows(ctx, url); err != nil {
				return r, 0, err
			}
			opts = store.Options{DatabaseURL: url}
		default:
			return r, 0, fmt.Errorf("%s: a database file this version does not know", f.Name)
		}
		for table, n := range f.Rows {
			if got[table] != n {
				return r, 0, fmt.Errorf("%s: table %s has %d rows, the manifest says %d", f.Name, table, got[table], n)
			}
			rows += n
		}
		if len(got) != len(f.Rows) {
			return r, 0, fmt.Errorf("%s: %d tables, the manifest names %d", f.Name, len(got), len(f.Rows))
		}
		if f.Name == store.SQLiteFile || f.Name == pgShopDump {
			r.shop = opts
		} else {
			r.vault = &opts
		}
	}
	if r.shop == (store.Options{}) {
		return r, 0, errors.New("the backup holds no shop database")
	}
	return r, rows, nil
}

// dropSchemas drops the PostgreSQL schemas a drill restored ("public" is
// left: the next drill's restore replaces what it holds).
func (a *App) dropSchemas(ctx context.Context, r restored) {
	for _, s := range r.schemas {
		if s == "public" {
			continue
		}
		if err := store.DropSchema(context.WithoutCancel(ctx), r.pgURL, s); err != nil {
			a.log.Warn("backup: cleaning the drill database", "schema", s, "err", err)
		}
	}
}

// checkAudit verifies the restored shop's audit log against the backup's
// checkpoint and those of the checkpoint directory the restored log
// reaches; it returns the records verified.
func (a *App) checkAudit(ctx context.Context, r restored, m backup.Manifest) (int64, error) {
	db, err := store.Open(ctx, r.shop)
	if err != nil {
		return 0, fmt.Errorf("open the restored database: %w", err)
	}
	defer db.Close()
	tree, err := db.AuditTree(ctx)
	if err != nil {
		return 0, err
	}
	all, err := a.AuditLog.Notary.ReadCheckpoints(a.cfg.AuditCheckpointDir())
	if err != nil {
		return 0, fmt.Errorf("the checkpoints: %w", err)
	}
	var cps []audit.Checkpoint
	for _, c := range all {
		if c.Size <= tree.Size {
			cps = append(cps, c)
		}
	}
	if m.Checkpoint != nil {
		if m.Checkpoint.Size > tree.Size {
			return 0, fmt.Errorf("the restored audit log has %d records; the backup's checkpoint commits to %d", tree.Size, m.Checkpoint.Size)
		}
		if !slices.ContainsFunc(cps, func(c audit.Checkpoint) bool { return c.Size == m.Checkpoint.Size }) {
			cps = append(cps, audit.Checkpoint{Size: m.Checkpoint.Size, Root: m.Checkpoint.Root})
			slices.SortFunc(cps, func(x, y audit.Checkpoint) int { return cmp.Compare(x.Size, y.Size) })
		}
	}
	rep, err := audit.VerifyLog(ctx, db, cps, tree, db.AuditNodes)
	if err != nil {
		return 0, fmt.Errorf("the restored audit log: %w", err)
	}
	return rep.Records, nil
}

// RestoreBackup restores backup id into dir, an empty directory that then
// serves as a data directory (bulwark serve --data-dir DIR, with the KEK),
// and checks it as a drill does.
func (a *App) RestoreBackup(ctx context.Context, backupID, dir, databaseURL string, extra ...age.Identity) (backup.Manifest, int, error) {
	m, from, err := a.restoreInto(ctx, backupID, dir, extra...)
	var r restored
	if err == nil {
		r, _, err = a.materialize(ctx, dir, m, databaseURL)
	}
	if err == nil {
		_, err = a.checkAudit(ctx, r, m)
	}
	replayed := 0
	if err == nil {
		replayed, err = a.replayErasures(ctx, r, backupID)
	}
	outcome, detail := audit.Success, fmt.Sprintf("into %s from %s; %d erasures replayed", dir, from, replayed)
	if err != nil {
		outcome, detail = audit.Failure, err.Error()
	}
	if rerr := a.Trail.Record(ctx, ActionBackupRestore, backupID, outcome, detail); rerr != nil && err == nil {
		err = rerr
	}
	return m, replayed, err
}

// Drill restores the newest backup into a scratch directory, checks it
// and records the outcome with the recovery point and time; a failure is a
// finding and an error, never a quiet log line.
func (a *App) Drill(ctx context.Context) (DrillReport, error) {
	start := time.Now()
	rep := DrillReport{ID: id.New(id.Drill), At: a.now().UTC()}
	err := func() error {
		listed, err := a.ListBackups(ctx)
		if err != nil {
			return err
		}
		var newest *ListedBackup
		for i := range listed {
			if !listed[i].CreatedAt.IsZero() {
				newest = &listed[i]
				break
			}
		}
		if newest == nil {
			return errors.New("no backup to drill: run bulwark backup create")
		}
		rep.BackupID = newest.ID
		scratch, err := a.makeStaging("drill-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(scratch)
		m, from, err := a.restoreInto(ctx, newest.ID, scratch)
		if err != nil {
			return err
		}
		rep.Target = from
		r, rows, err := a.materialize(ctx, scratch, m, a.cfg.DrillDatabaseURL)
		defer a.dropSchemas(ctx, r)
		if err != nil {
			return err
		}
		rep.Rows = rows
		if rep.AuditRecords, err = a.checkAudit(ctx, r, m); err != nil {
			return err
		}
		point := m.CreatedAt
		rep.RecoveryPoint = &point
		return nil
	}()
	rep.RecoveryTimeMS = time.Since(start).Milliseconds()
	rep.OK = err == nil
	a.noteRun(runDrill, rep.OK)
	if err != nil {
		rep.Error = err.Error()
		a.log.Error("backup: the restore drill FAILED", "backup", rep.BackupID, "err", err)
		if e := a.observe(ctx, finding.Observation{Type: finding.BackupDrillFailed, Severity: 80,
			Subject: finding.Subject{Kind: finding.Backup, ID: orDash(rep.BackupID)}, At: a.now(),
			Evidence: map[string]string{"error": err.Error(), "drill": rep.ID}}); e != nil {
			a.backgroundFailed("backup: recording the failed drill", e)
		}
	}
	if serr := a.DB.SaveBackupRun(ctx, rep.ID, runDrill, rep.At, rep.OK, rep); serr != nil {
		return rep, errors.Join(err, serr)
	}
	outcome, detail := audit.Success, fmt.Sprintf("backup %s restored and checked in %d ms: %d rows, %d audit records", rep.BackupID, rep.RecoveryTimeMS, rep.Rows, rep.AuditRecords)
	if err != nil {
		outcome, detail = audit.Failure, err.Error()
	}
	if rerr := a.Trail.Record(ctx, ActionBackupDrill, rep.ID, outcome, detail); rerr != nil && err == nil {
		err = rerr
	}
	if err == nil {
		if e := a.resolveFindings(ctx, finding.BackupDrillFailed, finding.Subject{}, "a drill passed: "+rep.ID); e != nil {
			a.log.Warn("backup: resolving drill findings", "err", e)
		}
	}
	return rep, err
}

// BackupStatus is GET /api/v1/admin/backups: the backups on the targets,
// newest first, and the latest drill and latest successful drill.
func (a *App) BackupStatus(ctx context.Context) (any, error) {
	type status struct {
		Configured    bool           `json:"configured"`
		Targets       []string       `json:"targets"`
		Backups       []ListedBackup `json:"backups"`
		LastDrill     *DrillReport   `json:"last_drill"`
		LastGoodDrill *DrillReport   `json:"last_successful_drill"`
	}
	st := status{Targets: []string{}, Backups: []ListedBackup{}}
	if targets, err := a.backupTargets(); err == nil {
		st.Configured = true
		for _, t := range targets {
			st.Targets = append(st.Targets, t.Name())
		}
		if st.Backups, err = a.ListBackups(ctx); err != nil {
			return nil, err
		}
	}
	for _, d := range []struct {
		okOnly bool
		into   **DrillReport
	}{{false, &st.LastDrill}, {true, &st.LastGoodDrill}} {
		var rep DrillReport
		switch err := a.DB.LatestBackupRun(ctx, runDrill, d.okOnly, &rep); {
		case err == nil:
			*d.into = &rep
		case !errors.Is(err, store.ErrNoBackupRun):
			return nil, err
		}
	}
	return st, nil
}

// runBackups backs up and drills every backup-schedule until ctx ends.
// Every instance runs it (one elected instance is issue 16's next step):
// several backups a period are more copies, not a fault.
func (a *App) runBackups(ctx context.Context) {
	every := a.cfg.BackupSchedule
	if every <= 0 || strings.TrimSpace(a.cfg.BackupTargets) == "" {
		return
	}
	wait := min(every, 5*time.Minute)
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = every
		if _, err := a.CreateBackup(ctx); err != nil {
			if ctx.Err() == nil {
				a.backgroundFailed("backup: a scheduled backup failed", err)
			}
			continue
		}
		if _, err := a.Drill(ctx); err != nil && ctx.Err() == nil {
			a.backgroundFailed("backup: a scheduled drill failed", err)
		}
	}
}

// erasurePushEvery is how often the erasure ledger's new entries are
// copied to the backup targets.
const erasurePushEvery = 30 * time.Second

// pushErasures copies the ledger entries not yet on every target to every
// target; an entry is marked pushed once all took it, so a target that was
// down gets it on a later pass.
func (a *App) pushErasures(ctx context.Context, targets []backup.Target) error {
	pending, err := a.DB.PendingErasures(ctx, 500)
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range pending {
		ok := true
		for _, t := range targets {
			if err := backup.PutErasure(ctx, t, e.UserID, e.ErasedAt); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", t.Name(), err))
				ok = false
			}
		}
		if ok {
			if err := a.DB.MarkErasurePushed(ctx, e.UserID, a.now()); err != nil {
				return err
			}
		}
	}
	return errors.Join(errs...)
}

// runErasurePush pushes the erasure ledger every erasurePushEvery while
// backup targets are set.
func (a *App) runErasurePush(ctx context.Context) {
	targets, err := a.backupTargets()
	if err != nil {
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(erasurePushEvery):
		}
		if err := a.pushErasures(ctx, targets); err != nil && ctx.Err() == nil {
			a.log.Warn("backup: copying the erasure ledger to the targets failed; retrying", "err", err)
		}
	}
}

// replayErasures erases, in the data directory dir just restored, every
// account the targets' erasure ledgers name that the backup still holds,
// and deletes their saved cards from the restored vault: a backup taken
// before an erasure must not bring the person back. It returns how many
// accounts it erased.
func (a *App) replayErasures(ctx context.Context, r restored, backupID string) (int, error) {
	targets, err := a.backupTargets()
	if err != nil {
		return 0, err
	}
	ids := map[string]bool{}
	var errs []error
	for _, t := range targets {
		list, err := backup.Erasures(ctx, t)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, u := range list {
			ids[u] = true
		}
	}
	if len(errs) == len(targets) {
		return 0, fmt.Errorf("no target's erasure ledger could be read: %w", errors.Join(errs...))
	}
	db, err := store.Open(ctx, r.shop)
	if err != nil {
		return 0, fmt.Errorf("open the restored database: %w", err)
	}
	defer db.Close()
	var vdb *store.VaultDB
	if r.vault != nil {
		if vdb, err = store.OpenVault(ctx, *r.vault); err != nil {
			return 0, fmt.Errorf("open the restored vault: %w", err)
		}
		defer vdb.Close()
	}
	n := 0
	sorted := make([]string, 0, len(ids))
	for u := range ids {
		sorted = append(sorted, u)
	}
	sort.Strings(sorted)
	for _, u := range sorted {
		rec := audit.Record{Time: a.now().UTC(), Actor: audit.ActorSystem, Action: privacy.ActionErase, Target: u, Outcome: audit.Success,
			Detail: "replayed from the erasure ledger after restoring " + backupID}
		tokens, err := db.Erase(ctx, u, rec)
		if errors.Is(err, identity.ErrNotFound) {
			continue // erased in the backup already, or made after it
		}
		if err != nil {
			return n, fmt.Errorf("replay the erasure of %s: %w", u, err)
		}
		n++
		for _, tok := range tokens {
			if vdb == nil {
				return n, fmt.Errorf("replay the erasure of %s: its cards are in a vault this backup does not hold; delete %d tokens there", u, len(tokens))
			}
			if err := vdb.DeleteCard(ctx, tok); err != nil {
				return n, fmt.Errorf("replay the erasure of %s: delete card: %w", u, err)
			}
		}
	}
	return n, nil
}

// noteRun sets the metric of a backup or drill that ended now.
func (a *App) noteRun(kind string, ok bool) {
	if a.backupRuns == nil {
		return
	}
	outcome := "failure"
	if ok {
		outcome = "success"
	}
	a.backupRuns.WithLabelValues(kind, outcome).Set(float64(time.Now().Unix()))
}
