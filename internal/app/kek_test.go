package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/insecurecleartextkeyset"
	"github.com/tink-crypto/tink-go/v2/keyset"

	"github.com/bulwark-shop/bulwark/internal/app"
	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/config"
	"github.com/bulwark-shop/bulwark/internal/keys"
	"github.com/bulwark-shop/bulwark/internal/logging"
	"github.com/bulwark-shop/bulwark/internal/testenv"
)

// runCLIWith runs a bulwark command in-process against cfg's database, with
// more settings in the environment.
func runCLIWith(t testing.TB, cfg config.Config, more map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	env := map[string]string{
		"BULWARK_DATA_DIR":           cfg.DataDir,
		"BULWARK_DATABASE_URL":       cfg.DatabaseURL,
		"BULWARK_VAULT_DATABASE_URL": cfg.VaultDatabaseURL,
	}
	for k, v := range more {
		env[k] = v
	}
	code = app.Main(context.Background(), args, app.Env{
		Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb,
		Getenv: func(k string) string { return env[k] },
	})
	return code, out.String(), errb.String()
}

func tinkKeyset(t *testing.T) string {
	t.Helper()
	h, err := keyset.NewHandle(aead.AES256GCMKeyTemplate())
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := insecurecleartextkeyset.Write(h, keyset.NewJSONWriter(&buf)); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// kekCase is one source of the KEK: the settings before and after a rotation,
// and the environment of `keys rotate-kek`.
type kekCase struct {
	before, after func(*config.Config)
	rotateEnv     map[string]string
	source        string   // what keys status names before the rotation
	sourceAfter   string   // and after
	secrets       []string // must appear in no output or log
}

func hsmCase(t *testing.T) kekCase {
	tok := testenv.SoftHSM(t)
	set := func(c *config.Config) {
		c.KEKPKCS11Module, c.KEKPKCS11Token, c.KEKPKCS11PIN, c.KEKPKCS11Key = tok.Module, tok.Label, tok.PIN, "shop-kek"
	}
	return kekCase{before: set, after: set,
		rotateEnv: map[string]string{"BULWARK_KEK_PKCS11_MODULE": tok.Module, "BULWARK_KEK_PKCS11_TOKEN": tok.Label,
			"BULWARK_KEK_PKCS11_PIN": tok.PIN, "BULWARK_KEK_PKCS11_KEY": "shop-kek"},
		source: `key "shop-kek"`, sourceAfter: `key "shop-kek-v2"`, secrets: []string{tok.PIN}}
}

// TestKEKRotationKeepsData writes data, rotates the KEK with the command,
// restarts and reads the data, for each source of the KEK.
func TestKEKRotationKeepsData(t *testing.T) {
	cases := map[string]func(t *testing.T) kekCase{
		"file": func(t *testing.T) kekCase {
			return kekCase{before: func(*config.Config) {}, after: func(*config.Config) {}, source: "file kek-keyset.json", sourceAfter: "file kek-keyset.json"}
		},
		"secret": func(t *testing.T) kekCase {
			oldKEK, newKEK := tinkKeyset(t), tinkKeyset(t)
			return kekCase{before: func(c *config.Config) { c.KEK = oldKEK }, after: func(c *config.Config) { c.KEK = newKEK },
				rotateEnv: map[string]string{"BULWARK_KEK": oldKEK, "BULWARK_NEW_KEK": newKEK},
				source:    "secret", sourceAfter: "secret", secrets: []string{oldKEK, newKEK}}
		},
		"pkcs11": hsmCase,
	}
	for name, mk := range cases {
		t.Run(name, func(t *testing.T) {
			testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
				tc := mk(t)
				const email = "kek-rotation@example.com"
				var secret string
				cfg := testConfig(db)
				tc.before(&cfg)
				t.Run("first start: an MFA secret sealed under a data key", func(t *testing.T) {
					s := startServer(t, db, tc.before)
					s.register(email)
					secret = s.enableMFA(s.login(email, testPassword))
					if s.countAudit(audit.ActionKeysetCreate) != 8 { // vault, pii, index, mfa, models, fingerprints, hooks, audit
						t.Fatal("the data keysets' creation is not audited")
					}
					checkNoSecrets(t, s.Logs.String(), tc.secrets)
				})
				if name == "secret" {
					env := map[string]string{"BULWARK_KEK": tc.rotateEnv["BULWARK_KEK"]}
					if code, _, errOut := runCLIWith(t, cfg, env, "keys", "rotate-kek"); code != 1 || !strings.Contains(errOut, "new-kek") {
						t.Fatalf("rotation of the secret KEK without new-kek: exit %d %s", code, errOut)
					}
				}
				code, out, errOut := runCLIWith(t, cfg, tc.rotateEnv, "keys", "rotate-kek")
				if code != 0 || !strings.Contains(out, "re-wrapped mfa") || !strings.Contains(out, "re-wrapped vault") {
					t.Fatalf("keys rotate-kek: exit %d\n%s%s", code, out, errOut)
				}
				checkNoSecrets(t, out+errOut, tc.secrets)

				t.Run("after the rotation and a restart the data opens", func(t *testing.T) {
					s := startServer(t, db, tc.after)
					s.loginWithMFA(email, secret)
					if n := countOutcome(t, s, audit.ActionKEKRotate, audit.Success); n != 1 {
						t.Fatalf("%d rotation records, want 1", n)
					}
					if name == "secret" && countOutcome(t, s, audit.ActionKEKRotate, audit.Failure) != 1 {
						t.Fatal("the refused rotation is not audited")
					}
					after := testConfig(db)
					tc.after(&after)
					env := map[string]string{}
					for k, v := range tc.rotateEnv {
						if k != "BULWARK_NEW_KEK" && k != "BULWARK_KEK" {
							env[k] = v
						}
					}
					if after.KEK != "" {
						env["BULWARK_KEK"] = after.KEK
					}
					code, out, errOut := runCLIWith(t, after, env, "keys", "status")
					if code != 0 || !strings.Contains(out, "key-encryption key: ") || !strings.Contains(out, tc.sourceAfter) ||
						strings.Contains(out, "UNFINISHED") || !strings.Contains(out, "vault  1 key(s)") {
						t.Fatalf("keys status: exit %d\n%s%s", code, out, errOut)
					}
					checkNoSecrets(t, out+errOut+s.Logs.String(), tc.secrets)
				})
			})
		})
	}
}

func checkNoSecrets(t *testing.T, text string, secrets []string) {
	t.Helper()
	for _, sec := range secrets {
		if strings.Contains(text, sec) {
			t.Fatalf("a secret appears in the output:\n%s", text)
		}
	}
}

func countOutcome(t *testing.T, s *server, action, outcome string) int {
	t.Helper()
	n := 0
	if _, err := s.App.DB.ScanAudit(context.Background(), func(r audit.Record) error {
		if r.Action == action && r.Outcome == outcome {
			n++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestKEKRotationCrashRecovery leaves the files as a crash midway through a
// rotation of the file KEK would (the new KEK version recorded beside the old
// one, one keyset re-wrapped, one not): the server starts and reads its data,
// and the command finishes the rotation.
func TestKEKRotationCrashRecovery(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		const email = "kek-crash@example.com"
		var secret string
		cfg := testConfig(db)
		t.Run("first start", func(t *testing.T) {
			s := startServer(t, db)
			s.register(email)
			secret = s.enableMFA(s.login(email, testPassword))
		})
		kekPath, mfaPath := filepath.Join(db.DataDir, keys.KEKFile), filepath.Join(db.DataDir, "mfa-keyset.json")
		oldKEK, oldMFA := mustRead(t, kekPath), mustRead(t, mfaPath)
		if code, out, errOut := runCLIWith(t, cfg, nil, "keys", "rotate-kek"); code != 0 {
			t.Fatalf("rotate-kek: %s%s", out, errOut)
		}
		// The crash: both KEK versions in the file, the mfa keyset still under the old one.
		var cur, old map[string]any
		if err := json.Unmarshal(mustRead(t, kekPath), &cur); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(oldKEK, &old); err != nil {
			t.Fatal(err)
		}
		cur["key"] = append(cur["key"].([]any), old["key"].([]any)...)
		merged, _ := json.Marshal(cur)
		mustWrite(t, kekPath, merged)
		mustWrite(t, mfaPath, oldMFA)

		if code, out, _ := runCLIWith(t, cfg, nil, "keys", "status"); code != 0 || !strings.Contains(out, "UNFINISHED") {
			t.Fatalf("keys status after the crash: exit %d\n%s", code, out)
		}
		t.Run("the server starts after the crash and reads its data", func(t *testing.T) {
			s := startServer(t, db)
			s.loginWithMFA(email, secret)
		})
		if code, out, errOut := runCLIWith(t, cfg, nil, "keys", "rotate-kek"); code != 0 || !strings.Contains(out, "1 earlier key(s) destroyed") {
			t.Fatalf("finishing the rotation: exit %d\n%s%s", code, out, errOut)
		}
		if code, out, _ := runCLIWith(t, cfg, nil, "keys", "status"); code != 0 || strings.Contains(out, "UNFINISHED") {
			t.Fatalf("keys status after finishing: exit %d\n%s", code, out)
		}
		t.Run("and after the finished rotation", func(t *testing.T) {
			s := startServer(t, db)
			s.Clock.Advance(2 * time.Minute) // the last login's one-time code cannot be used again
			s.loginWithMFA(email, secret)
			if n := s.countAudit(audit.ActionKEKRotate); n != 2 {
				t.Fatalf("%d rotation records, want 2", n)
			}
		})
	})
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustWrite(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestHSMWrongPINStopsStart: a wrong PIN stops the server with an error that
// names the problem and never the PIN.
func TestHSMWrongPINStopsStart(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		tok := testenv.SoftHSM(t)
		cfg := testConfig(db)
		cfg.KEKPKCS11Module, cfg.KEKPKCS11Token, cfg.KEKPKCS11PIN = tok.Module, tok.Label, "bad-"+tok.PIN
		logs := &testenv.SyncBuffer{}
		a, err := app.New(context.Background(), cfg, logging.New(logs, -4), newClock().Now)
		if err == nil {
			a.Close()
			t.Fatal("the server started with a wrong PIN")
		}
		if !strings.Contains(err.Error(), "CKR_PIN_INCORRECT") || !strings.Contains(err.Error(), tok.Label) ||
			strings.Contains(err.Error(), tok.PIN) || strings.Contains(logs.String(), tok.PIN) {
			t.Fatalf("error: %v", err)
		}
		code, _, errOut := runCLIWith(t, cfg, map[string]string{"BULWARK_KEK_PKCS11_MODULE": tok.Module,
			"BULWARK_KEK_PKCS11_TOKEN": tok.Label, "BULWARK_KEK_PKCS11_PIN": "bad-" + tok.PIN}, "keys", "status")
		if code != 1 || !strings.Contains(errOut, "CKR_PIN_INCORRECT") || strings.Contains(errOut, tok.PIN) {
			t.Fatalf("keys status with a wrong PIN: exit %d %s", code, errOut)
		}
	})
}
