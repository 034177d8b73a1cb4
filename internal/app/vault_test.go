package app_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/app"
	"github.com/bulwark-shop/bulwark/internal/config"
	"github.com/bulwark-shop/bulwark/internal/keys"
	"github.com/bulwark-shop/bulwark/internal/rekey"
	"github.com/bulwark-shop/bulwark/internal/store"
	"github.com/bulwark-shop/bulwark/internal/testenv"
	"github.com/bulwark-shop/bulwark/internal/vault"
	"github.com/bulwark-shop/bulwark/internal/vaultapi"
)

// files lists the names in dir.
func files(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// TestRemoteVaultHoldsNoKeyMaterial runs a shop against a vault process and
// checks that the shop opened no vault database and holds no vault keyset,
// while the vault's own data directory holds both; that card reads are audited
// on both sides; and that the shop's `keys status` no longer lists the vault.
func TestRemoteVaultHoldsNoKeyMaterial(t *testing.T) {
	for _, mode := range []vaultMode{remoteVault, socketVault} {
		t.Run(strings.ReplaceAll(string(mode), " ", "-"), func(t *testing.T) { remoteVaultHoldsNoKeyMaterial(t, mode) })
	}
}

func remoteVaultHoldsNoKeyMaterial(t *testing.T, mode vaultMode) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		s := startServerWith(t, db, mode)
		admin := s.createAdmin("vault-admin@example.com")
		p := s.createProduct(admin, "VAULT-1", 5)
		pat := s.shopper("vault-pat@example.com", "4242424242424242")
		if res := s.checkout(pat, "vault-key", s.cartWith(pat, 1, p.ID), "123"); res.Status != 201 {
			t.Fatalf("checkout = %d %s", res.Status, res.Body)
		}

		if s.App.VaultDB != nil {
			t.Fatal("the shop opened a vault database")
		}
		shop := files(t, s.Config.DataDir)
		for _, name := range shop {
			if name == vaultKeysetFile || strings.HasPrefix(name, store.VaultSQLiteFile) {
				t.Fatalf("the shop's data directory holds %s: %v", name, shop)
			}
		}
		vaultDir := files(t, s.Vault.Config.DataDir)
		want := []string{vaultKeysetFile, keys.KEKFile}
		if db.Engine == "sqlite" {
			want = append(want, store.VaultSQLiteFile)
		}
		for _, name := range want {
			if !contains(vaultDir, name) {
				t.Fatalf("the vault's data directory lacks %s: %v", name, vaultDir)
			}
		}
		for _, name := range vaultDir {
			if strings.HasPrefix(name, store.SQLiteFile) || name == "mfa-keyset.json" {
				t.Fatalf("the vault's data directory holds the shop's %s", name)
			}
		}
		if s.countAudit(vault.ActionDetokenize) != 1 {
			t.Fatalf("the shop's audit trail has %d card reads, want 1", s.countAudit(vault.ActionDetokenize))
		}
		if !strings.Contains(s.Vault.Logs.String(), `"action":"vault.detokenize"`) || (mode == remoteVault && !strings.Contains(s.Vault.Logs.String(), "CN=bulwark-shop")) {
			t.Fatalf("the vault's log has no audit line for the read:\n%s", s.Vault.Logs.String())
		}
		code, out, errOut := runCLI(t, s.Config, "", "keys", "status")
		if code != 0 || strings.Contains(out, "vault") || !strings.Contains(out, "mfa ") {
			t.Fatalf("keys status: exit %d\n%s%s", code, out, errOut)
		}
	})
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestVaultSettingsAreChecked refuses the combinations that would blur the
// line between the shop and the vault, or weaken the channel between them.
func TestVaultSettingsAreChecked(t *testing.T) {
	dir := t.TempDir()
	certs := filepath.Join(dir, "certs")
	if code, _, errOut := runCLI(t, config.Config{}, "", "vault", "certs", "--dir", certs); code != 0 {
		t.Fatal(errOut)
	}
	for _, name := range []string{vaultapi.CAFile, vaultapi.CAKeyFile, vaultapi.ServerCertFile, vaultapi.ServerKeyFile, vaultapi.ClientCertFile, vaultapi.ClientKeyFile} {
		if info, err := os.Stat(filepath.Join(certs, name)); err != nil || info.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v, want mode 0600", name, err)
		}
	}
	client := []string{"--vault-client-cert", filepath.Join(certs, vaultapi.ClientCertFile), "--vault-client-key", filepath.Join(certs, vaultapi.ClientKeyFile), "--vault-ca", filepath.Join(certs, vaultapi.CAFile)}
	shopDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(shopDir, store.SQLiteFile), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	server := []string{"--vault-tls-cert", filepath.Join(certs, vaultapi.ServerCertFile), "--vault-tls-key", filepath.Join(certs, vaultapi.ServerKeyFile), "--vault-client-ca", filepath.Join(certs, vaultapi.CAFile)}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"certs never overwrite", []string{"vault", "certs", "--dir", certs}, "refusing to overwrite"},
		{"a plain-HTTP vault", append([]string{"migrate", "--vault-url", "http://127.0.0.1:8443"}, client...), "vault-url: want https://"},
		{"a vault without client certificates", []string{"migrate", "--vault-url", "https://127.0.0.1:8443"}, "needs vault-client-cert"},
		{"a vault-url and a vault database", append([]string{"migrate", "--vault-url", "https://127.0.0.1:8443", "--vault-database-url", "postgres://127.0.0.1/vault"}, client...), "opens no vault database"},
		{"a vault without server certificates", []string{"vault", "serve", "--data-dir", dir}, "needs vault-tls-cert"},
		{"a relative socket", []string{"vault", "serve", "--data-dir", dir, "--vault-socket", "vault.sock"}, "vault-socket: want an absolute path"},
		{"a socket user that is not a number", []string{"vault", "serve", "--data-dir", dir, "--vault-socket", "/tmp/v.sock", "--vault-socket-uid", "shop"}, "vault-socket-uid"},
		{"a vault in the shop's data directory", append([]string{"vault", "serve", "--data-dir", shopDir}, server...), "data directory (and KEK) of its own"},
		{"a vault given the shop's database", append([]string{"vault", "serve", "--data-dir", dir, "--database-url", "postgres://127.0.0.1/shop", "--vault-database-url", "postgres://127.0.0.1/vault"}, server...), "never opens"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := runCLI(t, config.Config{DataDir: dir}, "", tc.args...)
			if code == 0 || !strings.Contains(errOut, tc.want) {
				t.Fatalf("exit %d %q, want %q", code, errOut, tc.want)
			}
		})
	}
}

// TestVaultProcess runs `bulwark vault certs`, `bulwark vault serve` and
// `bulwark serve` as an operator would, as real processes, and buys through
// them.
func TestVaultProcess(t *testing.T) {
	dbs := testenv.Databases(t)
	db := dbs[len(dbs)-1]
	certs := filepath.Join(t.TempDir(), "certs")
	if out, err := exec.Command(bulwarkBinary(t), "vault", "certs", "--dir", certs).CombinedOutput(); err != nil {
		t.Fatalf("vault certs: %v %s", err, out)
	}
	vaultDir := t.TempDir()
	cmd := exec.Command(bulwarkBinary(t), "vault", "serve", "--data-dir", vaultDir, "--vault-listen", "127.0.0.1:0",
		"--vault-tls-cert", filepath.Join(certs, vaultapi.ServerCertFile), "--vault-tls-key", filepath.Join(certs, vaultapi.ServerKeyFile),
		"--vault-client-ca", filepath.Join(certs, vaultapi.CAFile))
	cmd.Env = append(os.Environ(), "BULWARK_VAULT_DATABASE_URL="+db.VaultDatabaseURL)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logs := &testenv.SyncBuffer{}
	addr, done := make(chan string, 1), make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logs.Write([]byte(sc.Text() + "\n"))
			var l struct{ Msg, Listen string }
			if json.Unmarshal(sc.Bytes(), &l) == nil && l.Msg == "vault serving" {
				addr <- l.Listen
			}
		}
		cmd.Wait()
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
	})
	var vaultURL string
	select {
	case a := <-addr:
		vaultURL = "https://" + a
	case <-done:
		t.Fatalf("vault serve exited:\n%s", logs.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("vault serve did not start:\n%s", logs.String())
	}

	cfg := testConfig(db)
	cfg.VaultDatabaseURL = ""
	shop := startProcessWithEnv(t, cfg, []string{
		"BULWARK_VAULT_URL=" + vaultURL,
		"BULWARK_VAULT_CLIENT_CERT=" + filepath.Join(certs, vaultapi.ClientCertFile),
		"BULWARK_VAULT_CLIENT_KEY=" + filepath.Join(certs, vaultapi.ClientKeyFile),
		"BULWARK_VAULT_CA=" + filepath.Join(certs, vaultapi.CAFile),
	})
	pat := shop.shopper("process-pat@example.com", "5555555555554444")
	var list struct{ Items []struct{ Last4 string } }
	shop.must(200, req{method: "GET", path: "/api/v1/payment-methods", token: pat.token}).JSON(t, &list)
	if len(list.Items) != 1 || list.Items[0].Last4 != "4444" {
		t.Fatalf("payment methods = %+v", list.Items)
	}
	shop.must(204, req{method: "DELETE", path: "/api/v1/payment-methods/" + pat.method, token: pat.token})
	// The vault logs a request after answering it: its line may come through
	// the pipe a moment after the shop's answer.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && !strings.Contains(logs.String(), vaultapi.PathDelete); {
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), vaultapi.PathTokenize) || !strings.Contains(logs.String(), vaultapi.PathDelete) {
		t.Fatalf("the vault process served neither tokenize nor delete:\n%s", logs.String())
	}
	if strings.Contains(logs.String()+shop.Logs.String(), "5555555555554444") {
		t.Fatal("a log holds the card number")
	}
	if contains(files(t, cfg.DataDir), vaultKeysetFile) {
		t.Fatal("the shop process made a vault keyset")
	}
	res, err := (&http.Client{Timeout: 5 * time.Second}).Get(vaultURL)
	if err == nil {
		res.Body.Close()
		t.Fatal("the vault process answered a client without a certificate")
	}
}

// vaultKeysetFile is where the keyring keeps the vault's data keyset.
const vaultKeysetFile = app.VaultKeyset + "-keyset.json"

// TestVaultDownFailsClosed stops the vault under a running shop: saving a card
// and paying with one answer 503 unavailable with Retry-After (a 500 before;
// nothing of the card, nothing of the cause), checkout gives the stock back,
// /readyz says not ready (vault), and the shop stays up. Once the vault is back
// where it was, the same checkout goes through.
func TestVaultDownFailsClosed(t *testing.T) {
	s := startServerWith(t, testenv.Databases(t)[0], remoteVault)
	admin := s.createAdmin("down-admin@example.com")
	p := s.createProduct(admin, "DOWN-1", 5)
	pat := s.shopper("down-pat@example.com", "4242424242424242")
	cart := s.cartWith(pat, 2, p.ID)
	s.Vault.Stop()
	o := &outage{t: t, s: s}
	res := o.do(req{method: "POST", path: "/api/v1/payment-methods", token: pat.token, body: map[string]any{
		"number": "5555555555554444", "exp_month": 12, "exp_year": 2031, "holder": "Pat Payer"}})
	if res.Status != 503 || res.Code(t) != "unavailable" || res.Header.Get("Retry-After") == "" || strings.Contains(string(res.Body), "5555") || strings.Contains(string(res.Body), "127.0.0.1") {
		t.Fatalf("saving a card with the vault down = %d %s", res.Status, res.Body)
	}
	o.unavailable("checkout", checkoutReq(pat, "down-key", cart, "123"))
	if got := s.stock(p.ID); got != 5 {
		t.Fatalf("stock %d after a failed card read, want 5", got)
	}
	if rd := s.readiness(503); rd.Dependencies["vault"] != "down" || rd.Dependencies["database"] != "up" {
		t.Fatalf("readyz with the vault down = %+v", rd)
	}
	s.must(200, req{method: "GET", path: "/healthz"})

	restartVault(t, s.Vault)
	o.until("checkout", 201, checkoutReq(pat, "down-key", cart, "123"))
	s.readiness(200)
	o.noServerErrors()
}

// TestVaultProcessKeyRotation rotates the keyset of a vault running as its
// own process: `bulwark vault rotate` gives it a new primary, the running
// vault switches and re-encrypts every card in the background (its progress
// in the vault's own database), `vault retire --destroy` deletes the old key
// so a backup copy of a card under it opens no more, and checkouts with the
// saved cards go on working throughout.
func TestVaultProcessKeyRotation(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		s := startServerWith(t, db, remoteVault)
		admin := s.createAdmin("vault-rotate-admin@example.com")
		p := s.createProduct(admin, "VROT-1", 20)
		var shoppers []shopper
		for i, card := range []string{"4242424242424242", "5555555555554444", "4000056655665556"} {
			shoppers = append(shoppers, s.shopper(fmt.Sprintf("vault-rotate-%d@example.com", i), card))
		}
		vcfg := s.Vault.Config
		backup := vaultCiphertexts(t, vcfg)[0]

		code, out, errOut := runCLI(t, vcfg, "", "vault", "rotate")
		if code != 0 || !strings.Contains(out, "vault  new primary key") {
			t.Fatalf("vault rotate: exit %d %s%s", code, out, errOut)
		}
		ring, err := keys.OpenKeyring(vcfg.DataDir, "")
		if err != nil {
			t.Fatal(err)
		}
		defer ring.Close()
		live, err := ring.AEAD(app.VaultKeyset)
		if err != nil {
			t.Fatal(err)
		}
		primary := live.Primary()
		if id, _ := keys.KeyID(backup.Ciphertext); id == primary {
			t.Fatal("the rotation made no new primary")
		}
		if !strings.Contains(errOut, app.ActionKeysRotate) {
			t.Fatalf("the rotation is not in the vault's audit log: %s", errOut)
		}

		// The running vault re-encrypts every card under the new primary.
		deadline := time.Now().Add(60 * time.Second)
		for {
			under := 0
			cts := vaultCiphertexts(t, vcfg)
			for _, c := range cts {
				if id, _ := keys.KeyID(c.Ciphertext); id == primary {
					under++
				}
			}
			if under == len(cts) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("after a minute, %d of %d cards are under the new primary", under, len(cts))
			}
			time.Sleep(250 * time.Millisecond)
		}
		for i, sh := range shoppers {
			if res := s.checkout(sh, fmt.Sprintf("vrot-%d", i), s.cartWith(sh, 1, p.ID), "123"); res.Status != 201 {
				t.Fatalf("checkout after the rotation: %d %s", res.Status, res.Body)
			}
		}

		code, out, errOut = runCLIAt(t, vcfg, time.Now().Add(app.RetireAfter+time.Second), "vault", "retire", "--destroy")
		if code != 0 || !strings.Contains(out, "destroyed keys") {
			t.Fatalf("vault retire --destroy: exit %d %s%s", code, out, errOut)
		}
		fresh, _ := keys.OpenKeyring(vcfg.DataDir, "")
		defer fresh.Close()
		a, _ := fresh.AEAD(app.VaultKeyset)
		if _, err := a.Decrypt(backup.Ciphertext, backup.AssociatedData); err == nil {
			t.Fatal("a backup copy of a card under the destroyed key still decrypts")
		}
		if !strings.Contains(errOut, app.ActionKeysRetire) {
			t.Fatalf("the retirement is not in the vault's audit log: %s", errOut)
		}
		time.Sleep(keys.CheckInterval + 500*time.Millisecond) // the vault re-reads its keyset
		sh := shoppers[0]
		if res := s.checkout(sh, "vrot-after-retire", s.cartWith(sh, 1, p.ID), "123"); res.Status != 201 {
			t.Fatalf("checkout after retiring the old key: %d %s", res.Status, res.Body)
		}
	})
}

// vaultCiphertexts lists the cards in a vault process's own database.
func vaultCiphertexts(t *testing.T, vcfg config.Config) []rekey.Ciphertext {
	t.Helper()
	v, err := store.OpenVault(context.Background(), store.Options{DatabaseURL: vcfg.VaultDatabaseURL, DataDir: vcfg.DataDir})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	cts, err := v.CardCiphertexts(context.Background(), "", 100000)
	if err != nil {
		t.Fatal(err)
	}
	if len(cts) == 0 {
		t.Fatal("the vault holds no card: nothing is tested")
	}
	return cts
}
