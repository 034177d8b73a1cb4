package app_test

import (
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/bulwark-shop/bulwark/internal/config"
	"github.com/bulwark-shop/bulwark/internal/store"
	"github.com/bulwark-shop/bulwark/internal/testenv"
)

// Backups on three directory targets while the shop serves: made, listed,
// verified, restored and drilled through the real commands and the API; a
// corrupt copy is passed over for a good one, and with no good copy left
// (or another shop's keys) the drill fails loudly: an error, a finding, a
// failed posture check.
func TestBackupCreateVerifyRestoreDrill(t *testing.T) {
	db := testenv.Databases(t)[0] // SQLite: PostgreSQL is dumped by pg_dump (below)
	root := t.TempDir()
	targets := []string{filepath.Join(root, "a"), filepath.Join(root, "b"), filepath.Join(root, "c")}
	list := "file://" + targets[0] + ",file://" + targets[1] + "?retention=1000h,file://" + targets[2]
	// The operator's offline key: every backup is encrypted to it too.
	operator, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	identityFile := filepath.Join(root, "operator.key")
	if err := os.WriteFile(identityFile, []byte(operator.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	adjust := func(c *config.Config) {
		c.BackupTargets, c.BackupRecipients, c.BackupSchedule = list, operator.Recipient().String(), 0
	}
	s := startServer(t, db, adjust)
	admin := s.createAdmin("backup@example.com")
	customer := s.register("backup-customer@example.com")
	env := map[string]string{"BULWARK_BACKUP_TARGETS": list, "BULWARK_BACKUP_RECIPIENTS": operator.Recipient().String()}
	cli := func(args ...string) (int, string, string) { return runCLIWith(t, s.Config, env, args...) }

	// What a backup killed mid-way left: a clear copy of the database.
	stale := filepath.Join(s.Config.DataDir, ".backup-staging", "create-killed")
	if err := os.MkdirAll(stale, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(stale, "bulwark.db"), []byte("a clear copy"), 0o600); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}

	code, out, errOut := cli("backup", "create", "--json")
	if code != 0 {
		t.Fatalf("backup create: exit %d\n%s%s", code, out, errOut)
	}
	var made struct {
		ID      string
		Files   []string
		Targets []struct{ Target, Error string }
	}
	if err := json.Unmarshal([]byte(out), &made); err != nil || len(made.Targets) != 3 {
		t.Fatalf("backup create printed %s (%v)", out, err)
	}
	if !strings.Contains(strings.Join(made.Files, ","), store.SQLiteFile) || strings.Contains(strings.Join(made.Files, ","), "kek-keyset.json") {
		t.Fatalf("files %v: want the database, never the KEK", made.Files)
	}
	for _, tg := range made.Targets {
		if tg.Error != "" {
			t.Fatalf("target %s: %s", tg.Target, tg.Error)
		}
	}
	// Nothing of the database in the clear on a target, and no staging left.
	payload := filepath.Join(targets[0], made.ID, "payload.age")
	raw, err := os.ReadFile(payload)
	if err != nil || strings.Contains(string(raw), "backup-customer") || strings.Contains(string(raw), "CREATE TABLE") {
		t.Fatalf("payload readable? %v", err)
	}
	if entries, _ := os.ReadDir(filepath.Join(s.Config.DataDir, ".backup-staging")); len(entries) != 0 {
		t.Fatalf("staging left behind (or a killed run's not removed): %v", entries)
	}

	var st struct {
		Configured bool
		Backups    []struct {
			ID         string
			Size       int64
			Checkpoint *struct{ Size uint64 }
			Targets    []struct{ Target, Error string }
		}
		LastDrill *struct {
			OK             bool
			Error          string
			BackupID       string     `json:"backup_id"`
			RecoveryPoint  *time.Time `json:"recovery_point"`
			RecoveryTimeMS int64      `json:"recovery_time_ms"`
			Rows           int64
			AuditRecords   int64 `json:"audit_records"`
		} `json:"last_drill"`
	}
	s.must(200, req{method: "GET", path: "/api/v1/admin/backups", token: admin}).JSON(t, &st)
	if !st.Configured || len(st.Backups) != 1 || st.Backups[0].ID != made.ID || len(st.Backups[0].Targets) != 3 || st.LastDrill != nil {
		t.Fatalf("GET /admin/backups: %+v", st)
	}

	if code, out, errOut := cli("backup", "verify", made.ID); code != 0 || strings.Count(out, " ok") != 3 {
		t.Fatalf("backup verify: exit %d\n%s%s", code, out, errOut)
	}
	if code, out, errOut := cli("backup", "verify", made.ID, "--identity", identityFile); code != 0 || strings.Count(out, " ok") != 3 {
		t.Fatalf("backup verify with the operator's key: exit %d\n%s%s", code, out, errOut)
	}
	if code, _, errOut := cli("backup", "verify", made.ID, "--identity", filepath.Join(root, "b")); code == 0 {
		t.Fatalf("verify with an unreadable identity file: exit %d %s", code, errOut)
	}
	if code, out, errOut := cli("backup", "drill"); code != 0 || !strings.Contains(out, "restored and checked") {
		t.Fatalf("backup drill: exit %d\n%s%s", code, out, errOut)
	}
	s.must(200, req{method: "GET", path: "/api/v1/admin/backups", token: admin}).JSON(t, &st)
	if d := st.LastDrill; d == nil || !d.OK || d.BackupID != made.ID || d.RecoveryPoint == nil || d.Rows == 0 || d.AuditRecords == 0 {
		t.Fatalf("last drill: %+v", st.LastDrill)
	}

	// A restore is a data directory the shop opens, whole.
	into := filepath.Join(root, "restored")
	if code, out, errOut := cli("backup", "restore", made.ID, "--to", into); code != 0 {
		t.Fatalf("backup restore: exit %d\n%s%s", code, out, errOut)
	}
	if _, err := store.SQLiteFileCheck(t.Context(), filepath.Join(into, store.SQLiteFile)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(into, "pii-keyset.json")); err != nil {
		t.Fatalf("the data keysets are not restored: %v", err)
	}
	if code, _, errOut := cli("backup", "restore", made.ID, "--to", into); code == 0 || !strings.Contains(errOut, "empty directory") {
		t.Fatalf("restore over a directory in use: exit %d %s", code, errOut)
	}

	// Erasure survives restore: the customer, erased after the backup was
	// taken, is erased again when it is restored.
	s.must(204, req{method: "DELETE", path: "/api/v1/admin/users/" + customer.ID, token: admin})
	code, out, errOut = cli("backup", "create", "--json") // pushes the ledger first (the server does every 30 s)
	if code != 0 {
		t.Fatalf("second backup: exit %d\n%s%s", code, out, errOut)
	}
	var second struct{ ID string }
	if err := json.Unmarshal([]byte(out), &second); err != nil {
		t.Fatal(err)
	}
	for _, dir := range targets {
		if _, err := os.Stat(filepath.Join(dir, "erasures", customer.ID)); err != nil {
			t.Fatalf("the erasure is not in the ledger on %s: %v", dir, err)
		}
	}
	again := filepath.Join(root, "restored-after-erasure")
	if code, out, errOut := cli("backup", "restore", made.ID, "--to", again); code != 0 || !strings.Contains(out, "1 erasures since replayed") {
		t.Fatalf("restore of the backup before the erasure: exit %d\n%s%s", code, out, errOut)
	}
	if erased := erasedIn(t, filepath.Join(again, store.SQLiteFile), customer.ID); !erased {
		t.Fatal("the erased customer came back with the restore")
	}
	if erased := erasedIn(t, filepath.Join(into, store.SQLiteFile), customer.ID); erased {
		t.Fatal("the test proves nothing: the customer was erased in the first restore too")
	}
	made.ID = second.ID
	payload = filepath.Join(targets[0], made.ID, "payload.age")

	// One copy corrupted: verify names it, the drill uses another.
	flip := func(path string) {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		b[len(b)/2] ^= 0x40
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	flip(payload)
	if code, out, _ := cli("backup", "verify", made.ID); code == 0 || strings.Count(out, " ok") != 2 || !strings.Contains(out, "not the one its manifest names") {
		t.Fatalf("verify with one copy corrupt: exit %d\n%s", code, out)
	}
	if code, out, errOut := cli("backup", "drill"); code != 0 {
		t.Fatalf("drill with one copy corrupt: exit %d\n%s%s", code, out, errOut)
	}
	// Every copy corrupted: the drill fails, loudly.
	flip(filepath.Join(targets[1], made.ID, "payload.age"))
	flip(filepath.Join(targets[2], made.ID, "payload.age"))
	if code, _, errOut := cli("backup", "drill"); code == 0 || !strings.Contains(errOut, "drill FAILED") {
		t.Fatalf("drill with every copy corrupt: exit %d %s", code, errOut)
	}
	s.must(200, req{method: "GET", path: "/api/v1/admin/backups", token: admin}).JSON(t, &st)
	if st.LastDrill == nil || st.LastDrill.OK || st.LastDrill.Error == "" {
		t.Fatalf("failed drill: %+v", st.LastDrill)
	}
	var found struct{ Items []struct{ Severity int } }
	s.must(200, req{method: "GET", path: "/api/v1/admin/findings?type=Backup:Drill/Failed", token: admin}).JSON(t, &found)
	if len(found.Items) != 1 || found.Items[0].Severity < 70 {
		t.Fatalf("drill finding: %+v", found.Items)
	}

	// Another shop (its own KEK and signing key) cannot use these backups.
	other := testConfig(testenv.Database{DataDir: t.TempDir()})
	if code, _, errOut := runCLIWith(t, other, env, "backup", "create"); code != 0 {
		t.Fatalf("other shop's backup: %s", errOut)
	}
	code, out, _ = runCLIWith(t, other, env, "backup", "verify", made.ID)
	if code == 0 || !strings.Contains(out, "signature does not verify") {
		t.Fatalf("another shop verifying ours: exit %d\n%s", code, out)
	}
}

// Bad settings stop the start; PostgreSQL says what it needs.
func TestBackupSettingsRefused(t *testing.T) {
	for _, db := range testenv.Databases(t) {
		cfg := testConfig(db)
		for name, env := range map[string]map[string]string{
			"relative directory": {"BULWARK_BACKUP_TARGETS": "file://relative"},
			"credentials in URL": {"BULWARK_BACKUP_TARGETS": "s3://key:secret@bucket/x"},
			"bad recipient":      {"BULWARK_BACKUP_TARGETS": "file://" + t.TempDir(), "BULWARK_BACKUP_RECIPIENTS": "age1nope"},
		} {
			if code, _, errOut := runCLIWith(t, cfg, env, "backup", "create"); code == 0 || strings.Contains(errOut, "secret") {
				t.Errorf("%s %s: exit %d %s", db.Engine, name, code, errOut)
			}
		}
	}
}

// erasedIn reports whether the account userID is erased in the SQLite
// database file path.
func erasedIn(t *testing.T, path, userID string) bool {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var erased sql.NullInt64
	if err := db.QueryRow("SELECT erased_at FROM users WHERE id = $1", userID).Scan(&erased); err != nil {
		t.Fatal(err)
	}
	return erased.Valid
}

// PostgreSQL: pg_dump attached to an exported snapshot, a drill into the
// scratch database (test_drill) that never touches the shop's, a restore
// into a database of the operator's with the erasures replayed.
func TestBackupPostgres(t *testing.T) {
	dbs := testenv.Databases(t)
	if len(dbs) < 2 {
		t.Skip("no PostgreSQL: " + testenv.DatabaseURLVar + " is not set")
	}
	db := dbs[1]
	drill := testenv.DrillDatabaseURL(t)
	root := t.TempDir()
	list := "file://" + filepath.Join(root, "a") + ",file://" + filepath.Join(root, "b")
	s := startServer(t, db, func(c *config.Config) { c.BackupTargets, c.BackupSchedule, c.DrillDatabaseURL = list, 0, drill })
	admin := s.createAdmin("pg-backup@example.com")
	customer := s.register("pg-backup-customer@example.com")
	env := map[string]string{"BULWARK_BACKUP_TARGETS": list, "BULWARK_DRILL_DATABASE_URL": drill}
	cli := func(args ...string) (int, string, string) { return runCLIWith(t, s.Config, env, args...) }

	code, out, errOut := cli("backup", "create", "--json")
	if code != 0 {
		t.Fatalf("backup create: exit %d\n%s%s", code, out, errOut)
	}
	var made struct {
		ID    string
		Files []string
	}
	if err := json.Unmarshal([]byte(out), &made); err != nil || !strings.Contains(strings.Join(made.Files, ","), "shop.pgdump,vault.pgdump") {
		t.Fatalf("backup create printed %s (%v)", out, err)
	}
	if code, out, errOut := cli("backup", "drill"); code != 0 || !strings.Contains(out, "restored and checked") {
		t.Fatalf("backup drill: exit %d\n%s%s", code, out, errOut)
	}
	// The drill cleaned the scratch database, and left the shop serving.
	if n := schemasLike(t, drill, "test_%"); n != 0 {
		t.Fatalf("%d schemas left in the drill database", n)
	}
	s.must(200, req{method: "GET", path: "/api/v1/admin/backups", token: admin})

	// Never into the shop's own database.
	bad := map[string]string{"BULWARK_BACKUP_TARGETS": list, "BULWARK_RESTORE_DATABASE_URL": db.DatabaseURL}
	if code, _, errOut := runCLIWith(t, s.Config, bad, "backup", "restore", made.ID, "--to", filepath.Join(root, "x")); code == 0 || !strings.Contains(errOut, "shop's own") {
		t.Fatalf("restore over the shop: exit %d %s", code, errOut)
	}
	if code, _, errOut := cli("backup", "restore", made.ID, "--to", filepath.Join(root, "y"), "--into-database", "postgres://u:pw@127.0.0.1/x"); code != 2 || strings.Contains(errOut, "pw@") {
		t.Fatalf("a password in a flag: exit %d %s", code, errOut)
	}

	// Erased after the backup; restored into the operator's database: erased.
	s.must(204, req{method: "DELETE", path: "/api/v1/admin/users/" + customer.ID, token: admin})
	if code, out, errOut := cli("backup", "create"); code != 0 {
		t.Fatalf("second backup: exit %d\n%s%s", code, out, errOut)
	}
	into := map[string]string{"BULWARK_BACKUP_TARGETS": list, "BULWARK_RESTORE_DATABASE_URL": drill}
	t.Cleanup(func() { dropSchemasLike(t, drill, "test_%") })
	code, out, errOut = runCLIWith(t, s.Config, into, "backup", "restore", made.ID, "--to", filepath.Join(root, "restored"))
	if code != 0 || !strings.Contains(out, "1 erasures since replayed") {
		t.Fatalf("restore: exit %d\n%s%s", code, out, errOut)
	}
	schema := strings.TrimPrefix(db.DatabaseURL[strings.Index(db.DatabaseURL, "search_path=")+len("search_path="):], "")
	if i := strings.IndexByte(schema, '&'); i >= 0 {
		schema = schema[:i]
	}
	conn, err := sql.Open("pgx", drill)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var erased sql.NullInt64
	if err := conn.QueryRow(`SELECT erased_at FROM "`+schema+`".users WHERE id = $1`, customer.ID).Scan(&erased); err != nil || !erased.Valid {
		t.Fatalf("the erased customer in the restored database: %v %v", erased, err)
	}
}

func schemasLike(t *testing.T, databaseURL, like string) int {
	t.Helper()
	conn, err := sql.Open("pgx", databaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var n int
	if err := conn.QueryRow("SELECT count(*) FROM information_schema.schemata WHERE schema_name LIKE $1", like).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func dropSchemasLike(t *testing.T, databaseURL, like string) {
	conn, err := sql.Open("pgx", databaseURL)
	if err != nil {
		t.Error(err)
		return
	}
	defer conn.Close()
	rows, err := conn.Query("SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE $1", like)
	if err != nil {
		t.Error(err)
		return
	}
	var names []string
	for rows.Next() {
		var n string
		if rows.Scan(&n) == nil {
			names = append(names, n)
		}
	}
	rows.Close()
	for _, n := range names {
		if _, err := conn.Exec(`DROP SCHEMA "` + n + `" CASCADE`); err != nil {
			t.Error(err)
		}
	}
}

// 3-2-1-1: two directories and an S3 bucket with object lock (versitygw, a
// real S3-compatible server): the backup goes to all three, posture's
// 3-2-1 check passes, and with both directory copies corrupt the drill
// restores from the bucket.
func TestBackupToObjectStore(t *testing.T) {
	srv := testenv.StartVersityGW(t)
	t.Setenv("AWS_ACCESS_KEY_ID", srv.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", srv.SecretKey)
	t.Setenv("AWS_SESSION_TOKEN", "")
	mc, err := minio.New(srv.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(srv.AccessKey, srv.SecretKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	if err := mc.MakeBucket(t.Context(), "shop-backups", minio.MakeBucketOptions{ObjectLocking: true}); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	dirs := []string{filepath.Join(root, "a"), filepath.Join(root, "b")}
	list := "file://" + dirs[0] + ",file://" + dirs[1] + ",s3://shop-backups/bulwark?endpoint=" + srv.Endpoint + "&insecure=1&retention=1h"
	s := startServer(t, testenv.Databases(t)[0], func(c *config.Config) { c.BackupTargets, c.BackupSchedule = list, 0 })
	admin := s.createAdmin("s3-backup@example.com")
	env := map[string]string{"BULWARK_BACKUP_TARGETS": list}
	code, out, errOut := runCLIWith(t, s.Config, env, "backup", "create", "--json")
	if code != 0 {
		t.Fatalf("backup create: exit %d\n%s%s", code, out, errOut)
	}
	var made struct{ ID string }
	if err := json.Unmarshal([]byte(out), &made); err != nil {
		t.Fatal(err)
	}
	var st struct {
		Backups []struct {
			ID      string
			Targets []struct{ Target, Error string }
		}
	}
	s.must(200, req{method: "GET", path: "/api/v1/admin/backups", token: admin}).JSON(t, &st)
	if len(st.Backups) != 1 || len(st.Backups[0].Targets) != 3 || !strings.HasPrefix(st.Backups[0].Targets[2].Target, "s3://shop-backups/bulwark") {
		t.Fatalf("GET /admin/backups: %+v", st)
	}
	// The bucket holds it under lock: the store refuses to delete it.
	obj := "bulwark/" + made.ID + "/payload.age"
	info, err := mc.StatObject(t.Context(), "shop-backups", obj, minio.StatObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := mc.RemoveObject(t.Context(), "shop-backups", obj, minio.RemoveObjectOptions{VersionID: info.VersionID}); err == nil {
		t.Fatal("a locked backup was deleted")
	}
	code, out, _ = runCLIWith(t, s.Config, env, "posture", "--json")
	var rep struct {
		Checks []struct{ ID, Status, Detail string }
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("posture --json (exit %d): %v\n%s", code, err, out)
	}
	for _, c := range rep.Checks {
		if c.ID == "backups.3-2-1" && c.Status != "pass" {
			t.Fatalf("backups.3-2-1: %s (%s)", c.Status, c.Detail)
		}
	}
	for _, d := range dirs {
		path := filepath.Join(d, made.ID, "payload.age")
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		b[len(b)/3] ^= 1
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	code, out, errOut = runCLIWith(t, s.Config, env, "backup", "drill", "--json")
	var drill struct {
		OK     bool
		Target string
	}
	if err := json.Unmarshal([]byte(out), &drill); code != 0 || err != nil || !drill.OK || !strings.HasPrefix(drill.Target, "s3://") {
		t.Fatalf("drill with both directory copies corrupt: exit %d %+v\n%s%s", code, drill, out, errOut)
	}
}
