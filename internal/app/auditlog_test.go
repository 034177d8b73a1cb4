package app_test

import (
	"bytes"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/app"
	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/config"
	"github.com/bulwark-shop/bulwark/internal/httpapi"
	"github.com/bulwark-shop/bulwark/internal/order"
	"github.com/bulwark-shop/bulwark/internal/testenv"
	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
)

// auditCheckpoint runs `bulwark audit checkpoint` and returns the signed
// note it printed and the verifier key.
func auditCheckpoint(t *testing.T, cfg config.Config) (signed []byte, vkey string) {
	t.Helper()
	code, out, errOut := runCLI(t, cfg, "", "audit", "checkpoint")
	if code != 0 {
		t.Fatalf("audit checkpoint: exit %d\n%s%s", code, out, errOut)
	}
	body, rest, ok := strings.Cut(out, "\nverifier key: ")
	if !ok {
		t.Fatalf("audit checkpoint printed no verifier key:\n%s", out)
	}
	vkey, _, _ = strings.Cut(rest, "\n")
	return []byte(body), vkey
}

// independentCheckpoint verifies a checkpoint with the verifier key alone,
// through transparency-dev's checkpoint parser and the Go checksum
// database's note package, none of Bulwark's code.
func independentCheckpoint(t *testing.T, signed []byte, vkey string) *log.Checkpoint {
	t.Helper()
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatalf("verifier key %q: %v", vkey, err)
	}
	origin, _, _ := strings.Cut(string(signed), "\n")
	if !strings.HasPrefix(origin, "bulwark.audit/") {
		t.Fatalf("origin %q", origin)
	}
	cp, _, _, err := log.ParseCheckpoint(signed, origin, v)
	if err != nil {
		t.Fatalf("the checkpoint does not verify independently: %v\n%s", err, signed)
	}
	return cp
}

// rootOfRecords is RFC 6962's root over the first size records' hashes as
// the database holds them, computed with the library alone.
func rootOfRecords(t *testing.T, raw *sql.DB, size uint64) []byte {
	t.Helper()
	rows, err := raw.Query("SELECT hash FROM audit_records WHERE seq <= $1 ORDER BY seq", int64(size))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	h := rfc6962.DefaultHasher
	r := (&compact.RangeFactory{Hash: h.HashChildren}).NewEmptyRange(0)
	for rows.Next() {
		var hx string
		if err := rows.Scan(&hx); err != nil {
			t.Fatal(err)
		}
		b, _ := hex.DecodeString(hx)
		if err := r.Append(h.HashLeaf(b), nil); err != nil {
			t.Fatal(err)
		}
	}
	root, err := r.GetRootHash(nil)
	if err != nil || r.End() != size {
		t.Fatalf("root of %d records: %v (read %d)", size, err, r.End())
	}
	return root
}

// TestAuditLogCheckpoints: the running server integrates the trail and
// signs checkpoints by itself (after M records, after the interval), the
// CLI signs one on demand, each verifies with the verifier key alone and
// commits to the records as the database holds them, and `audit verify`
// checks the trail against them.
func TestAuditLogCheckpoints(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		s := startServer(t, db, func(c *config.Config) { c.AuditCheckpointRecords = 12 })
		dir := s.Config.AuditCheckpointDir()
		admin := s.createAdmin("log-admin@example.com")
		// The first start's records are signed within a tick: there was no checkpoint.
		first := waitCheckpoint(t, dir, 1)
		for i := range 13 {
			s.createProduct(admin, "LOG-"+string(rune('A'+i)), 1)
		}
		// More than twelve records since: signed without the interval.
		second := waitCheckpoint(t, dir, first+12)
		raw := rawDB(t, s.Config)
		for _, size := range []uint64{first, second} {
			b, err := os.ReadFile(filepath.Join(dir, audit.CheckpointFile(size)))
			if err != nil {
				t.Fatal(err)
			}
			_, vkey := auditCheckpoint(t, s.Config)
			cp := independentCheckpoint(t, b, vkey)
			if cp.Size != size || !bytes.Equal(cp.Hash, rootOfRecords(t, raw, size)) {
				t.Fatalf("checkpoint %d does not commit to the records: %d %x", size, cp.Size, cp.Hash)
			}
		}
		// The interval: one record, then the clock a minute on.
		s.createProduct(admin, "LOG-Z", 1)
		s.Clock.Advance(s.Config.AuditCheckpointEvery + time.Second)
		third := waitCheckpoint(t, dir, second+1)

		signed, vkey := auditCheckpoint(t, s.Config)
		cp := independentCheckpoint(t, signed, vkey)
		if cp.Size < third {
			t.Fatalf("audit checkpoint signed %d, the server already %d", cp.Size, third)
		}
		code, out, errOut := runCLI(t, s.Config, "", "audit", "verify")
		if code != 0 || !strings.Contains(out, "signed checkpoints in "+dir+" hold") {
			t.Fatalf("audit verify: exit %d\n%s%s", code, out, errOut)
		}
		// The metrics follow within a tick or two (the CLI's checkpoint included).
		for deadline := time.Now().Add(5 * time.Second); s.metric("bulwark_audit_checkpoint_size") < float64(cp.Size) || s.metric("bulwark_audit_tree_size") < float64(cp.Size); {
			if time.Now().After(deadline) {
				t.Fatalf("metrics: tree %v, checkpoint %v; want %d", s.metric("bulwark_audit_tree_size"), s.metric("bulwark_audit_checkpoint_size"), cp.Size)
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
}

// waitCheckpoint waits until dir holds a checkpoint of at least size and
// returns the largest size there.
func waitCheckpoint(t *testing.T, dir string, size uint64) uint64 {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		files, _ := filepath.Glob(filepath.Join(dir, "*.checkpoint"))
		var largest uint64
		for _, f := range files {
			var n uint64
			for _, c := range strings.TrimSuffix(filepath.Base(f), ".checkpoint") {
				n = n*10 + uint64(c-'0')
			}
			largest = max(largest, n)
		}
		if largest >= size {
			return largest
		}
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint of %d records in %s within 15 s (largest %d)", size, dir, largest)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// rebuild rewrites the whole trail as an attacker with the database (and
// no key) would: records changed by edit, the chain resealed with fresh
// hashes, the head and the tree made to match, the database's copies of
// the checkpoints deleted. Everything in the database is consistent after
// it; only the signed checkpoints outside it can tell.
func rebuild(t *testing.T, raw *sql.DB, engine string, edit func([]audit.Record) []audit.Record) {
	t.Helper()
	drops := []string{"DROP TRIGGER IF EXISTS audit_records_no_update", "DROP TRIGGER IF EXISTS audit_records_no_delete",
		"DROP TRIGGER IF EXISTS audit_nodes_no_update", "DROP TRIGGER IF EXISTS audit_nodes_no_delete"}
	if engine == "postgres" {
		drops = []string{"DROP TRIGGER IF EXISTS audit_records_no_change ON audit_records", "DROP TRIGGER IF EXISTS audit_nodes_no_change ON audit_nodes"}
	}
	for _, q := range drops {
		if _, err := raw.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	recs := edit(records(t, raw))
	tx, err := raw.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	prevSeq, prevHash := int64(0), audit.GenesisHash
	for _, q := range []string{"DELETE FROM audit_records", "DELETE FROM audit_nodes", "DELETE FROM audit_checkpoints"} {
		if _, err := tx.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range recs {
		r = audit.Seal(r, prevSeq, prevHash)
		if _, err := tx.Exec(`INSERT INTO audit_records (seq, at, actor, action, target, outcome, ip, request_id, detail, prev_hash, hash)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`, r.Seq, r.Time.UnixMicro(), r.Actor, r.Action, r.Target, r.Outcome, r.IP, r.RequestID, r.Detail, r.PrevHash, r.Hash); err != nil {
			t.Fatal(err)
		}
		prevSeq, prevHash = r.Seq, r.Hash
	}
	empty := audit.EmptyTree()
	if _, err := tx.Exec("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1", prevSeq, prevHash); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec("UPDATE audit_tree SET size = 0, root = $1, last_hash = $2 WHERE id = 1", hex.EncodeToString(empty.Root), empty.LastHash); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

// records reads the trail's records as the database holds them.
func records(t *testing.T, raw *sql.DB) []audit.Record {
	t.Helper()
	rows, err := raw.Query("SELECT seq, at, actor, action, target, outcome, ip, request_id, detail FROM audit_records ORDER BY seq")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var recs []audit.Record
	for rows.Next() {
		var r audit.Record
		var at int64
		if err := rows.Scan(&r.Seq, &at, &r.Actor, &r.Action, &r.Target, &r.Outcome, &r.IP, &r.RequestID, &r.Detail); err != nil {
			t.Fatal(err)
		}
		r.Time = time.UnixMicro(at).UTC()
		recs = append(recs, r)
	}
	return recs
}

// TestAuditLogFindsRewrites rewrites the trail the ways the hash chain
// alone cannot see (the chain resealed after each change, the head and
// tree made to match) and checks that `bulwark audit verify` fails against
// the checkpoints signed before, naming where.
func TestAuditLogFindsRewrites(t *testing.T) {
	var original []audit.Record
	cases := []struct {
		name string
		edit func([]audit.Record) []audit.Record
		sql  string // instead of a rebuild
		want string
	}{
		{name: "a record changed, the chain rebuilt", want: "are not those the checkpoint", edit: func(r []audit.Record) []audit.Record {
			r[3].Detail = "nothing happened"
			return r
		}},
		{name: "a record deleted, the chain rebuilt", want: "are not those the checkpoint", edit: func(r []audit.Record) []audit.Record {
			return append(r[:4], r[5:]...)
		}},
		{name: "a record inserted, the chain rebuilt", want: "are not those the checkpoint", edit: func(r []audit.Record) []audit.Record {
			forged := r[2]
			forged.Detail = "an event that never happened"
			return append(r[:3], append([]audit.Record{forged}, r[3:]...)...)
		}},
		{name: "two records swapped, the chain rebuilt", want: "are not those the checkpoint", edit: func(r []audit.Record) []audit.Record {
			r[4], r[5] = r[5], r[4]
			return r
		}},
		{name: "the tail cut off, the head rewritten", want: "records were deleted from the end", edit: func(r []audit.Record) []audit.Record {
			return r[:len(r)-3]
		}},
		{name: "a stored tree node changed", want: "the stored tree's node over records 1 to 2 is not their hash", sql: "UPDATE audit_nodes SET hash = '" + strings.Repeat("ab", 32) + "' WHERE level = 1 AND idx = 0"},
	}
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		s := startServer(t, db)
		admin := s.createAdmin("rewrite@example.com")
		p := s.createProduct(admin, "RW-1", 1)
		s.must(200, req{method: "POST", path: "/api/v1/admin/products/" + p.ID + "/stock", token: admin, body: map[string]any{"delta": 1, "reason": "r"}})
		auditCheckpoint(t, s.Config)
		// Records after the checkpoint, and a second one: consistency between them is proven too.
		s.must(200, req{method: "POST", path: "/api/v1/admin/products/" + p.ID + "/stock", token: admin, body: map[string]any{"delta": 1, "reason": "r"}})
		auditCheckpoint(t, s.Config)
		raw := rawDB(t, s.Config)
		intact := func(t *testing.T, when string) {
			t.Helper()
			// The server integrates what was rebuilt within a tick or two,
			// longer on a loaded machine under -race (once on PostgreSQL in
			// CI, verify ran before it had): the intact trail must verify
			// once it has, so verify is asked again until a deadline.
			deadline := time.Now().Add(30 * time.Second)
			for ; ; time.Sleep(50 * time.Millisecond) {
				var size int
				if err := raw.QueryRow("SELECT size FROM audit_tree WHERE id = 1").Scan(&size); err != nil {
					t.Fatal(err)
				}
				if size >= len(original) || time.Now().After(deadline) {
					break
				}
			}
			for {
				code, out, errOut := runCLI(t, s.Config, "", "audit", "verify")
				if code == 0 && strings.Contains(out, "signed checkpoints in") {
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s: exit %d\n%s%s", when, code, out, errOut)
				}
				time.Sleep(500 * time.Millisecond)
			}
		}
		original = records(t, raw)
		intact(t, "before")
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				if tc.sql != "" {
					nodes := []string{"DROP TRIGGER IF EXISTS audit_nodes_no_update"}
					if db.Engine == "postgres" {
						nodes = []string{"DROP TRIGGER IF EXISTS audit_nodes_no_change ON audit_nodes"}
					}
					for _, q := range append(nodes, tc.sql) {
						if _, err := raw.Exec(q); err != nil {
							t.Fatal(err)
						}
					}
				} else {
					rebuild(t, raw, db.Engine, tc.edit)
					// The chain alone holds: only the checkpoints tell.
					if code, out, errOut := runCLI(t, s.Config, "", "audit", "verify", "--checkpoints", t.TempDir()); code != 0 {
						t.Fatalf("the rebuilt chain should hold on its own: exit %d\n%s%s", code, out, errOut)
					}
				}
				code, out, errOut := runCLI(t, s.Config, "", "audit", "verify")
				if code == 0 || !strings.Contains(errOut, tc.want) || !strings.Contains(errOut, "NOT intact") {
					t.Fatalf("audit verify after %s: exit %d, stdout %q, stderr %q; want %q", tc.name, code, out, errOut, tc.want)
				}
				// The original trail put back (the same records resealed give the same
				// hashes; the tree is rebuilt from them): it verifies again.
				rebuild(t, raw, db.Engine, func(r []audit.Record) []audit.Record { return original })
				intact(t, "after putting the trail back")
			})
		}
	})
}

// TestAuditLogRefusesForgedCheckpoints: a checkpoint put in the directory
// by someone without the shop's key, or the audit key removed while
// checkpoints remain, fails verification; the server does not sign over a
// log that no longer extends its last checkpoint.
func TestAuditLogRefusesForgedCheckpoints(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		s := startServer(t, db)
		s.createAdmin("forged@example.com")
		signed, _ := auditCheckpoint(t, s.Config)
		dir := s.Config.AuditCheckpointDir()
		// The same text, its signature replaced by another key's.
		origin, _, _ := strings.Cut(string(signed), "\n")
		skey, _, err := note.GenerateKey(nil, origin)
		if err != nil {
			t.Fatal(err)
		}
		signer, err := note.NewSigner(skey)
		if err != nil {
			t.Fatal(err)
		}
		text, _, _ := strings.Cut(string(signed), "\n\n")
		forged, err := note.Sign(&note.Note{Text: text + "\n"}, signer)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, audit.CheckpointFile(999999))
		if err := os.WriteFile(path, forged, 0o400); err != nil {
			t.Fatal(err)
		}
		code, _, errOut := runCLI(t, s.Config, "", "audit", "verify")
		if code == 0 || !strings.Contains(errOut, "not signed by this shop's audit key") {
			t.Fatalf("a forged checkpoint: exit %d, %s", code, errOut)
		}
		os.Remove(path)
		if code, out, errOut := runCLI(t, s.Config, "", "audit", "verify"); code != 0 {
			t.Fatalf("without the forgery: exit %d\n%s%s", code, out, errOut)
		}
		// The audit keyset deleted: the checkpoints can no longer be checked, which is itself a break.
		if err := os.Rename(filepath.Join(s.Config.DataDir, "audit-keyset.json"), filepath.Join(t.TempDir(), "kept")); err != nil {
			t.Fatal(err)
		}
		code, _, errOut = runCLI(t, s.Config, "", "audit", "verify")
		if code == 0 || !strings.Contains(errOut, "no audit key to verify them") {
			t.Fatalf("the audit key removed: exit %d, %s", code, errOut)
		}
	})
}

// TestAuditLogSignsAtStop: a server stopped the orderly way (SIGTERM) signs
// a checkpoint of every record it wrote before it exits; one killed with
// SIGKILL loses no record, and the next start integrates them and signs
// over the log the killed one left.
func TestAuditLogSignsAtStop(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		cfg := testConfig(db)
		dir := cfg.AuditCheckpointDir()
		first := startProcess(t, cfg)
		admin := first.createAdmin("stop-admin@example.com")
		for i := range 3 {
			first.createProduct(admin, fmt.Sprintf("STOP-%d", i), 1)
		}
		if err := first.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		<-first.done
		raw := rawDB(t, cfg)
		var head uint64
		if err := raw.QueryRow("SELECT seq FROM audit_head WHERE id = 1").Scan(&head); err != nil {
			t.Fatal(err)
		}
		// The stop is the last record, after the start (PCI DSS 10.2.1.6).
		var last string
		if err := raw.QueryRow("SELECT action FROM audit_records ORDER BY seq DESC LIMIT 1").Scan(&last); err != nil || last != app.ActionServerStop {
			t.Fatalf("the last record is %q (%v), want %s", last, err, app.ActionServerStop)
		}
		if n := countAuditRaw(t, cfg, app.ActionServerStart, audit.Success); n != 1 {
			t.Fatalf("%d start records", n)
		}
		if got := waitCheckpoint(t, dir, 1); got != head {
			t.Fatalf("after SIGTERM the largest checkpoint is of %d records, the trail has %d\n%s", got, head, first.Logs.String())
		}

		second := startProcess(t, cfg)
		for i := range 3 {
			second.createProduct(admin, fmt.Sprintf("KILL-%d", i), 1)
		}
		second.kill(t)
		third := startProcess(t, cfg, "--audit-checkpoint-interval", "1s")
		third.createProduct(admin, "AFTER", 1)
		if err := raw.QueryRow("SELECT seq FROM audit_head WHERE id = 1").Scan(&head); err != nil {
			t.Fatal(err)
		}
		waitCheckpoint(t, dir, head)
		// The settings: recorded at the first start, and the change of the
		// third start's (a flag) recorded as such; the second start changed
		// nothing and recorded nothing.
		if n := countAuditRaw(t, cfg, app.ActionSettings, audit.Success); n != 2 {
			t.Fatalf("%d records of the effective settings, want 2", n)
		}
		var diff string
		if err := raw.QueryRow("SELECT detail FROM audit_records WHERE action = $1", app.ActionSettingsDiff).Scan(&diff); err != nil || diff != "audit-checkpoint-interval: 1m -> 1s" {
			t.Fatalf("the settings' change: %q %v", diff, err)
		}
		if code, out, errOut := runCLI(t, cfg, "", "audit", "verify"); code != 0 || !strings.Contains(out, "hold") {
			t.Fatalf("audit verify after a kill: exit %d\n%s%s", code, out, errOut)
		}
	})
}

// TestAuditLogAPI: admins read the log (filtered, paged), its latest
// checkpoint and proofs that an independent verifier checks; every read is
// itself recorded; no one else reads it; bad parameters are 4xx.
func TestAuditLogAPI(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		s := startServer(t, db)
		admin := s.createAdmin("auditor@example.com")
		for i := range 3 {
			s.createProduct(admin, fmt.Sprintf("API-%d", i), 1)
		}
		first, vkey := auditCheckpoint(t, s.Config)
		firstCP := independentCheckpoint(t, first, vkey)
		s.createProduct(admin, "API-LATER", 1)
		latest, _ := auditCheckpoint(t, s.Config)
		latestCP := independentCheckpoint(t, latest, vkey)

		// Who may read it.
		finance := s.staff(admin, "not-an-auditor@example.com", "finance")
		customer := s.login(s.register("customer-reads@example.com").Email, testPassword)
		for _, path := range []string{"/api/v1/admin/audit", "/api/v1/admin/audit/checkpoint", "/api/v1/admin/audit/records/1/proof", "/api/v1/admin/audit/consistency?from=1"} {
			s.must(401, req{method: "GET", path: path})
			if r := s.must(403, req{method: "GET", path: path, token: finance}); r.Code(t) != "forbidden" {
				t.Fatalf("finance on %s: %s", path, r.Body)
			}
			s.must(403, req{method: "GET", path: path, token: customer})
		}

		// Twelve refusals from one address leave one sampled record (PCI DSS
		// 10.2.1.2: refused access is logged; a flood of them cannot fill the log).
		if n := countAuditRaw(t, s.Config, httpapi.ActionRefused, audit.Failure); n != 1 {
			t.Fatalf("%d records of refused requests, want 1 (sampled)", n)
		}

		// The records, filtered and paged.
		var page struct {
			Items []struct {
				Seq                                                    int64
				Time, Actor, Action, Target, Outcome, IP, Detail, Hash string
				RequestID                                              string `json:"request_id"`
				PrevHash                                               string `json:"prev_hash"`
			}
			NextCursor string `json:"next_cursor"`
		}
		s.must(200, req{method: "GET", path: "/api/v1/admin/audit?action=product.create&limit=2", token: admin}).JSON(t, &page)
		if len(page.Items) != 2 || page.NextCursor == "" || page.Items[0].Action != "product.create" {
			t.Fatalf("first page: %+v", page)
		}
		cursor := page.NextCursor
		page.NextCursor = ""
		s.must(200, req{method: "GET", path: "/api/v1/admin/audit?action=product.create&limit=2&cursor=" + cursor, token: admin}).JSON(t, &page)
		if len(page.Items) != 2 || page.NextCursor != "" || page.Items[1].Target == "" {
			t.Fatalf("second page: %+v", page)
		}
		since := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
		s.must(200, req{method: "GET", path: "/api/v1/admin/audit?since=" + since, token: admin}).JSON(t, &page)
		if len(page.Items) != 0 {
			t.Fatalf("records from the future: %+v", page.Items)
		}
		for _, bad := range []string{"since=yesterday", "limit=0", "limit=101", "until=2020-01-01T00:00:00Z&since=2021-01-01T00:00:00Z", "actor=" + strings.Repeat("a", 201)} {
			if r := s.must(422, req{method: "GET", path: "/api/v1/admin/audit?" + bad, token: admin}); r.Code(t) != "validation_failed" {
				t.Fatalf("%s: %s", bad, r.Body)
			}
		}
		s.must(400, req{method: "GET", path: "/api/v1/admin/audit?cursor=abc", token: admin})
		// Each read is in the log, by whom.
		s.must(200, req{method: "GET", path: "/api/v1/admin/audit?action=audit.read", token: admin}).JSON(t, &page)
		if len(page.Items) < 4 || page.Items[0].Actor == "anonymous" || !strings.Contains(page.Items[0].Detail, "action=product.create") {
			t.Fatalf("the reads are not recorded: %+v", page.Items)
		}

		// The latest checkpoint, as a signed note.
		r := s.must(200, req{method: "GET", path: "/api/v1/admin/audit/checkpoint", token: admin})
		if !strings.HasPrefix(r.Header.Get("Content-Type"), "text/plain") || !bytes.Equal(r.Body, latest) {
			t.Fatalf("checkpoint: %s\n%s", r.Header.Get("Content-Type"), r.Body)
		}

		// An inclusion proof of record 3 in the latest checkpoint, checked with the library and the record's own hash.
		var inc struct {
			Record struct {
				Seq                                              int64
				Time, Actor, Action, Target, Outcome, IP, Detail string
				RequestID                                        string `json:"request_id"`
				PrevHash                                         string `json:"prev_hash"`
				Hash                                             string
			}
			LeafIndex  uint64 `json:"leaf_index"`
			TreeSize   uint64 `json:"tree_size"`
			Proof      [][]byte
			Root       []byte
			Checkpoint *string
		}
		s.must(200, req{method: "GET", path: "/api/v1/admin/audit/records/3/proof", token: admin}).JSON(t, &inc)
		rec := inc.Record
		at, err := time.Parse(time.RFC3339Nano, rec.Time)
		if err != nil {
			t.Fatal(err)
		}
		if audit.ComputeHash(audit.Record{Seq: rec.Seq, Time: at, Actor: rec.Actor, Action: rec.Action, Target: rec.Target, Outcome: rec.Outcome,
			IP: rec.IP, RequestID: rec.RequestID, Detail: rec.Detail, PrevHash: rec.PrevHash}) != rec.Hash {
			t.Fatalf("the record's hash is not over what the API shows: %+v", rec)
		}
		leafData, _ := hex.DecodeString(rec.Hash)
		h := rfc6962.DefaultHasher
		if inc.TreeSize != latestCP.Size || inc.Checkpoint == nil || *inc.Checkpoint != string(latest) || inc.LeafIndex != 2 {
			t.Fatalf("proof of 3: size %d, checkpoint %v", inc.TreeSize, inc.Checkpoint)
		}
		if err := proof.VerifyInclusion(h, inc.LeafIndex, inc.TreeSize, h.HashLeaf(leafData), inc.Proof, latestCP.Hash); err != nil {
			t.Fatalf("the inclusion proof does not verify against the signed root: %v", err)
		}
		// In an earlier size too.
		s.must(200, req{method: "GET", path: fmt.Sprintf("/api/v1/admin/audit/records/3/proof?size=%d", firstCP.Size), token: admin}).JSON(t, &inc)
		if err := proof.VerifyInclusion(h, 2, firstCP.Size, h.HashLeaf(leafData), inc.Proof, firstCP.Hash); err != nil {
			t.Fatalf("the proof in the first checkpoint: %v", err)
		}

		// Consistency between the two checkpoints, checked against both signed roots.
		var cons struct {
			From, To uint64
			Proof    [][]byte
		}
		s.must(200, req{method: "GET", path: fmt.Sprintf("/api/v1/admin/audit/consistency?from=%d", firstCP.Size), token: admin}).JSON(t, &cons)
		if cons.To != latestCP.Size {
			t.Fatalf("consistency to %d, want %d", cons.To, latestCP.Size)
		}
		if err := proof.VerifyConsistency(h, firstCP.Size, latestCP.Size, cons.Proof, firstCP.Hash, latestCP.Hash); err != nil {
			t.Fatalf("the consistency proof does not verify: %v", err)
		}

		// Proofs asked of what is not there.
		for path, want := range map[string]int{
			"/api/v1/admin/audit/records/abc/proof":                    422,
			"/api/v1/admin/audit/records/0/proof":                      422,
			"/api/v1/admin/audit/records/3/proof?size=0":               422,
			"/api/v1/admin/audit/records/3/proof?size=99999999":        422,
			fmt.Sprintf("/api/v1/admin/audit/records/%d/proof", 1<<40): 422,
			"/api/v1/admin/audit/records/99999999999999999999/proof":   422,
			"/api/v1/admin/audit/consistency":                          422,
			"/api/v1/admin/audit/consistency?from=5&to=2":              422,
			"/api/v1/admin/audit/consistency?from=-1":                  422,
		} {
			if r := s.do(req{method: "GET", path: path, token: admin}); r.Status != want {
				t.Fatalf("%s = %d, want %d\n%s", path, r.Status, want, r.Body)
			}
		}
	})
}

// TestAuditExport: the trail leaves for a SIEM as OCSF-shaped JSON lines or
// RFC 5424 syslog, one line a record, the export itself recorded first.
func TestAuditExport(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		s := startServer(t, db)
		s.createAdmin("export@example.com")
		raw := rawDB(t, s.Config)
		var before int
		if err := raw.QueryRow("SELECT count(*) FROM audit_records").Scan(&before); err != nil {
			t.Fatal(err)
		}
		code, out, errOut := runCLI(t, s.Config, "", "audit", "export", "--format", "jsonl")
		if code != 0 {
			t.Fatalf("export: %d %s", code, errOut)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != before+1 {
			t.Fatalf("%d lines for %d records and the export", len(lines), before)
		}
		var last struct {
			ClassUID int `json:"class_uid"`
			API      struct{ Operation string }
		}
		if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil || last.ClassUID != 6003 || last.API.Operation != audit.ActionExport {
			t.Fatalf("the last line is not the export's record: %v %s", err, lines[len(lines)-1])
		}
		code, out, errOut = runCLI(t, s.Config, "", "audit", "export", "--format", "syslog", "--since", time.Now().Add(-time.Hour).UTC().Format(time.RFC3339))
		if code != 0 || len(strings.Split(strings.TrimSpace(out), "\n")) != before+2 || !strings.HasPrefix(out, "<110>1 ") {
			t.Fatalf("syslog export: %d %s %s", code, out, errOut)
		}
		code, out, _ = runCLI(t, s.Config, "", "audit", "export", "--since", time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
		if code != 0 || strings.TrimSpace(out) != "" {
			t.Fatalf("an export of the future: %d %q", code, out)
		}
		for _, bad := range [][]string{{"--format", "csv"}, {"--since", "yesterday"}} {
			if code, _, errOut := runCLI(t, s.Config, "", append([]string{"audit", "export"}, bad...)...); code == 0 || errOut == "" {
				t.Fatalf("audit export %v: exit %d", bad, code)
			}
		}
	})
}

// TestStaffReadsOfOrdersAreAudited: a staff read of an order (its customer's
// contact and address, its card's last digits) or of a page of orders is in
// the audit log with the reader (PCI DSS 10.2.1.1); a customer reading their
// own orders is not a staff read.
func TestStaffReadsOfOrdersAreAudited(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		s := startServer(t, db)
		admin := s.createAdmin("reads-admin@example.com")
		support := s.staff(admin, "reads-support@example.com", "support")
		p := s.createProduct(admin, "READ-1", 5)
		sh := s.shopper("reads-customer@example.com", "4242424242424242")
		var o struct{ ID string }
		s.checkout(sh, "reads-1", s.cartWith(sh, 1, p.ID), "123").JSON(t, &o)
		before := countAuditRaw(t, s.Config, order.ActionRead, audit.Success)
		s.must(200, req{method: "GET", path: "/api/v1/orders/" + o.ID, token: sh.token})
		s.must(200, req{method: "GET", path: "/api/v1/orders", token: sh.token})
		if n := countAuditRaw(t, s.Config, order.ActionRead, audit.Success); n != before {
			t.Fatalf("a customer's own reads were recorded as staff reads: %d", n-before)
		}
		s.must(200, req{method: "GET", path: "/api/v1/admin/orders/" + o.ID, token: support})
		s.must(200, req{method: "GET", path: "/api/v1/admin/orders?email=reads-customer@example.com", token: admin})
		var page struct {
			Items []struct{ Actor, Target, Detail string }
		}
		s.must(200, req{method: "GET", path: "/api/v1/admin/audit?action=" + order.ActionRead, token: admin}).JSON(t, &page)
		if len(page.Items) != 2 || page.Items[0].Target != o.ID || page.Items[0].Actor == page.Items[1].Actor ||
			page.Items[1].Detail != "list=all orders=1 by customer email" {
			t.Fatalf("staff reads: %+v", page.Items)
		}
		if strings.Contains(page.Items[1].Detail, "reads-customer") {
			t.Fatal("the email searched is in the audit record")
		}
	})
}

// A webhook endpoint subscribed to audit.checkpoint gets every checkpoint
// the shop signs, the signed note as written: a copy out of reach of
// whoever can rewrite the database, verifiable with the key alone.
func TestAuditCheckpointsPushedToWebhooks(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		s := startServer(t, db, allowLoopback)
		recv := newHookReceiver(t)
		admin := s.createAdmin("witness@example.com")
		var hook webhookJSON
		s.must(201, req{method: "POST", path: "/api/v1/admin/webhooks", token: admin,
			body: map[string]any{"url": hookURL(recv.Server), "events": []string{"audit.checkpoint"}}}).JSON(t, &hook)
		s.createProduct(admin, "WITNESS-1", 1)
		signed, vkey := auditCheckpoint(t, s.Config)
		want := independentCheckpoint(t, signed, vkey)
		// The command signed on the real clock; the server's stands still
		// until moved, and sends what is due by it.
		s.Clock.Set(time.Now().Add(time.Second))
		for {
			call := recv.next(t)
			if err := verifyHook(hook.Secret, call, s.Clock.Now()); err != nil {
				t.Fatal(err)
			}
			var event struct {
				Type string
				Data struct {
					Size uint64
					Root string
					Note string
				}
			}
			if err := json.Unmarshal(call.Body, &event); err != nil || event.Type != "audit.checkpoint" {
				t.Fatalf("event %s: %v", call.Body, err)
			}
			if event.Data.Size != want.Size {
				continue // an earlier checkpoint (the server's own), pushed as well
			}
			got := independentCheckpoint(t, []byte(event.Data.Note), vkey)
			if !bytes.Equal(got.Hash, want.Hash) || event.Data.Note != string(signed) {
				t.Fatalf("pushed %q, signed %q", event.Data.Note, signed)
			}
			return
		}
	})
}
