package app_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulwark-shop/bulwark/internal/app"
	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/config"
	"github.com/bulwark-shop/bulwark/internal/identity"
	"github.com/bulwark-shop/bulwark/internal/store"
	"github.com/bulwark-shop/bulwark/internal/testenv"
)

func TestAuditTrail(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		s := startServer(t, db)
		admin := s.createAdmin("audit-admin@example.com")
		u := s.register("audited@example.com")
		s.do(req{method: "POST", path: "/api/v1/auth/login", body: map[string]string{"email": "audited@example.com", "password": "wrong wrong wrong"}})
		s.do(req{method: "POST", path: "/api/v1/auth/login", body: map[string]string{"email": "ghost@example.com", "password": "wrong wrong wrong"}})
		token := s.login("audited@example.com", testPassword)
		s.must(204, req{method: "POST", path: "/api/v1/auth/logout", token: token})
		s.must(200, req{method: "POST", path: "/api/v1/admin/users/" + u.ID + "/roles", token: admin, body: map[string][]string{"roles": {"finance"}}})
		p := s.createProduct(admin, "AUDIT-1", 1)
		s.must(200, req{method: "PATCH", path: "/api/v1/admin/products/" + p.ID, token: admin, body: map[string]any{"name": "new"}})
		s.must(200, req{method: "POST", path: "/api/v1/admin/products/" + p.ID + "/stock", token: admin, body: map[string]any{"delta": 4, "reason": "delivery 42"}})

		var recs []audit.Record
		if _, err := s.App.DB.ScanAudit(context.Background(), func(r audit.Record) error { recs = append(recs, r); return nil }); err != nil {
			t.Fatal(err)
		}
		want := []struct{ action, outcome, target string }{
			{audit.ActionKEKCreate, audit.Success, "file kek-keyset.json"}, // the first start makes the keys
			{audit.ActionKeysetCreate, audit.Success, "vault"},
			{audit.ActionKeysetCreate, audit.Success, "pii"},
			{audit.ActionKeysetCreate, audit.Success, "index"},
			{audit.ActionKeysetCreate, audit.Success, "mfa"},
			{audit.ActionKeysetCreate, audit.Success, "models"},
			{audit.ActionKeysetCreate, audit.Success, "fingerprints"},
			{audit.ActionKeysetCreate, audit.Success, "hooks"},
			{audit.ActionKeysetCreate, audit.Success, "audit"}, // signs the audit log's checkpoints
			{app.ActionSettings, audit.Success, ""},            // the settings this first start runs with
			{app.ActionServerStart, audit.Success, ""},
			{audit.ActionAdminCreate, audit.Success, ""},
			{identity.ActionEnrollmentCode, audit.Success, ""}, // the staff account's first second factor needs it
			{audit.ActionLogin, audit.Success, ""},
			{identity.ActionEnrollmentCodeUsed, audit.Success, ""},
			{identity.ActionMFAEnroll, audit.Success, ""},
			{identity.ActionMFAConfirm, audit.Success, ""},
			{audit.ActionRegister, audit.Success, u.ID},
			{audit.ActionLogin, audit.Failure, u.ID},
			{audit.ActionLogin, audit.Failure, ""},
			{audit.ActionLogin, audit.Success, u.ID},
			{audit.ActionLogout, audit.Success, u.ID},
			{audit.ActionRolesChange, audit.Success, u.ID},
			{identity.ActionEnrollmentCode, audit.Success, u.ID}, // made staff without MFA
			{audit.ActionProductCreate, audit.Success, p.ID},
			{audit.ActionProductUpdate, audit.Success, p.ID},
			{audit.ActionStockAdjust, audit.Success, p.ID},
		}
		if len(recs) != len(want) {
			t.Fatalf("got %d audit records, want %d: %+v", len(recs), len(want), recs)
		}
		for i, w := range want {
			r := recs[i]
			if r.Action != w.action || r.Outcome != w.outcome || (w.target != "" && r.Target != w.target) {
				t.Errorf("record %d = %s %s %s, want %s %s %s", i+1, r.Action, r.Outcome, r.Target, w.action, w.outcome, w.target)
			}
			if r.Time.IsZero() || r.Actor == "" {
				t.Errorf("record %d lacks time or actor: %+v", i+1, r)
			}
			// Everything but the key events and the CLI bootstrap came over HTTP and names its request and client.
			if i > 12 && (r.RequestID == "" || r.IP != "127.0.0.1") {
				t.Errorf("record %d lacks request id or source IP: %+v", i+1, r)
			}
		}
		if recs[0].Actor != audit.ActorSystem || recs[10].Actor != audit.ActorSystem || recs[11].Actor != audit.ActorSystem || recs[22].Actor == audit.ActorAnonymous || recs[18].Actor != audit.ActorAnonymous {
			t.Errorf("actors: %s, %s, %s, %s, %s", recs[0].Actor, recs[10].Actor, recs[11].Actor, recs[22].Actor, recs[18].Actor)
		}
		if strings.Contains(fmt.Sprint(recs), "wrong wrong wrong") || strings.Contains(fmt.Sprint(recs), testPassword) {
			t.Fatal("an audit record holds a password")
		}

		code, out, _ := runCLI(t, s.Config, "", "audit", "verify")
		if code != 0 || !strings.Contains(out, fmt.Sprintf("%d records verified", len(want))) {
			t.Fatalf("audit verify on an intact trail: exit %d, %q", code, out)
		}
	})
}

// TestAuditVerifyFindsTampering changes, deletes and inserts records behind
// the server's back and checks that `bulwark audit verify` fails naming the
// first bad record. The append-only triggers are dropped first, as an attacker
// with database access could.
func TestAuditVerifyFindsTampering(t *testing.T) {
	tampers := []struct {
		name    string
		sql     []string
		wantSeq string
	}{
		{"a record changed", []string{"UPDATE audit_records SET detail = 'nothing happened' WHERE seq = 3"}, "audit record 3:"},
		{"a record's actor changed", []string{"UPDATE audit_records SET actor = 'usr_someoneelse' WHERE seq = 2"}, "audit record 2:"},
		{"a record deleted", []string{"DELETE FROM audit_records WHERE seq = 2"}, "audit record 3:"},
		{"the last record deleted", []string{"DELETE FROM audit_records WHERE seq = 20"}, "audit record 20:"},
		{"a record inserted", []string{"UPDATE audit_records SET seq = seq + 100 WHERE seq >= 3", "UPDATE audit_records SET seq = seq - 99 WHERE seq >= 103",
			"INSERT INTO audit_records (seq, at, actor, action, target, outcome, ip, request_id, detail, prev_hash, hash) SELECT 3, at, actor, action, target, outcome, ip, request_id, detail, prev_hash, hash FROM audit_records WHERE seq = 2"}, "audit record 3:"},
	}
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		for _, tt := range tampers {
			t.Run(tt.name, func(t *testing.T) {
				// A fresh database per case, each with twenty records (the first eleven the keys made at first start, the settings and the start).
				d := db
				if d.Engine == "sqlite" {
					d.DataDir = t.TempDir()
				} else {
					d = testenv.Databases(t)[1]
				}
				s := startServer(t, d)
				admin := s.createAdmin("tamper@example.com")
				p := s.createProduct(admin, "T-1", 1)
				s.must(200, req{method: "POST", path: "/api/v1/admin/products/" + p.ID + "/stock", token: admin, body: map[string]any{"delta": 1, "reason": "r"}})
				s.must(200, req{method: "POST", path: "/api/v1/admin/products/" + p.ID + "/stock", token: admin, body: map[string]any{"delta": 1, "reason": "r"}})
				if code, out, errOut := runCLI(t, s.Config, "", "audit", "verify"); code != 0 || !strings.Contains(out, "20 records") {
					t.Fatalf("before tampering: exit %d %s %s", code, out, errOut)
				}

				raw := rawDB(t, s.Config)
				dropTriggers(t, raw, d.Engine)
				for _, q := range tt.sql {
					if _, err := raw.Exec(q); err != nil {
						t.Fatalf("tamper %q: %v", q, err)
					}
				}
				code, _, errOut := runCLI(t, s.Config, "", "audit", "verify")
				if code == 0 || !strings.Contains(errOut, tt.wantSeq) {
					t.Fatalf("audit verify after tampering: exit %d, stderr %q, want it to name %q", code, errOut, tt.wantSeq)
				}
			})
		}
	})
}

// TestAuditRecordsAreAppendOnly checks that the database itself refuses to
// change or delete audit records.
func TestAuditRecordsAreAppendOnly(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		s := startServer(t, db)
		s.createAdmin("append@example.com")
		raw := rawDB(t, s.Config)
		for _, q := range []string{"UPDATE audit_records SET detail = 'x'", "DELETE FROM audit_records"} {
			if _, err := raw.Exec(q); err == nil || !strings.Contains(err.Error(), "append-only") {
				t.Fatalf("%s: err = %v, want the append-only refusal", q, err)
			}
		}
	})
}

// rawDB opens the server's database directly, as an attacker with file or
// database access would.
func rawDB(t *testing.T, cfg config.Config) *sql.DB {
	t.Helper()
	driver, dsn := "pgx", cfg.DatabaseURL
	if dsn == "" {
		driver, dsn = "sqlite", "file:"+filepath.Join(cfg.DataDir, store.SQLiteFile)+"?_pragma=busy_timeout(10000)"
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func dropTriggers(t *testing.T, db *sql.DB, engine string) {
	t.Helper()
	qs := []string{"DROP TRIGGER audit_records_no_update", "DROP TRIGGER audit_records_no_delete"}
	if engine == "postgres" {
		qs = []string{"DROP TRIGGER audit_records_no_change ON audit_records"}
	}
	for _, q := range qs {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}
