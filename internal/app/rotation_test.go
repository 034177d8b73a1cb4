package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-shop/bulwark/internal/app"
	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/config"
	"github.com/bulwark-shop/bulwark/internal/keys"
	"github.com/bulwark-shop/bulwark/internal/rekey"
	"github.com/bulwark-shop/bulwark/internal/store"
	"github.com/bulwark-shop/bulwark/internal/testenv"
	"github.com/bulwark-shop/bulwark/internal/vault"
)

// primaries reads the primary key of each data keyset from the files.
func primaries(t *testing.T, cfg config.Config) map[string]uint32 {
	t.Helper()
	ring, err := keys.OpenKeyring(cfg.DataDir, "")
	if err != nil {
		t.Fatal(err)
	}
	_, sts, err := ring.Status(app.DataKeysets...)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]uint32{}
	for _, st := range sts {
		out[st.Name] = st.PrimaryID
	}
	return out
}

// allCiphertexts lists every stored ciphertext of the cards and MFA secrets.
func allCiphertexts(t *testing.T, cfg config.Config) map[string][]rekey.Ciphertext {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, store.Options{DatabaseURL: cfg.DatabaseURL, DataDir: cfg.DataDir})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	v, err := store.OpenVault(ctx, store.Options{DatabaseURL: cfg.VaultDatabaseURL, DataDir: cfg.DataDir})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	cards, err := v.CardCiphertexts(ctx, "", 100000)
	if err != nil {
		t.Fatal(err)
	}
	secrets, err := db.TOTPCiphertexts(ctx, "", 100000)
	if err != nil {
		t.Fatal(err)
	}
	return map[string][]rekey.Ciphertext{app.VaultKeyset: cards, app.MFAKeyset: secrets}
}

// checkAllReadable decrypts every card and MFA secret with the keysets on
// disk, and fails unless each is under want[keyset] (when want is not nil).
func checkAllReadable(t *testing.T, cfg config.Config, want map[string]uint32) {
	t.Helper()
	ring, err := keys.OpenKeyring(cfg.DataDir, "")
	if err != nil {
		t.Fatal(err)
	}
	for name, cts := range allCiphertexts(t, cfg) {
		a, err := ring.AEAD(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cts {
			if _, err := a.Decrypt(c.Ciphertext, c.AssociatedData); err != nil {
				t.Fatalf("%s %s does not decrypt: %v", name, c.Key, err)
			}
			if id, _ := keys.KeyID(c.Ciphertext); want != nil && id != want[name] {
				t.Fatalf("%s %s is under key %d, want the primary %d", name, c.Key, id, want[name])
			}
		}
	}
}

// TestKeyRotationUnderLoad rotates every data keyset with `bulwark keys
// rotate` while checkouts with saved cards run: every checkout succeeds, the
// running server switches to the new primary keys without a restart, the
// rotation is audited, and the background job re-encrypts every card and MFA
// secret under the new primary, all still readable.
func TestKeyRotationUnderLoad(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		s := startServer(t, db)
		admin := s.createAdmin("rotate-admin@example.com")
		p := s.createProduct(admin, "ROT-1", 1000)
		var shoppers []shopper
		for i := range 4 {
			shoppers = append(shoppers, s.shopper(fmt.Sprintf("rot%d@example.com", i), "4242424242424242"))
		}
		type job struct {
			who  shopper
			cart string
		}
		var jobs []job
		for i := range 48 {
			sh := shoppers[i%len(shoppers)]
			jobs = append(jobs, job{sh, s.cartWith(sh, 1, p.ID)})
		}
		old := primaries(t, s.Config)

		var (
			sent, failed atomic.Int64
			mu           sync.Mutex
			failures     []string
		)
		work := make(chan int)
		var wg sync.WaitGroup
		for range 6 {
			wg.Go(func() {
				for i := range work {
					sent.Add(1)
					res := s.do(checkoutReq(jobs[i].who, fmt.Sprintf("rot-%d", i), jobs[i].cart, "123"))
					if res.Status != 201 {
						failed.Add(1)
						mu.Lock()
						failures = append(failures, fmt.Sprintf("%d %s", res.Status, res.Body))
						mu.Unlock()
					}
				}
			})
		}
		rotated := make(chan string, 1)
		for i := range jobs {
			if i == 12 {
				go func() {
					code, out, errOut := runCLI(t, s.Config, "", "keys", "rotate")
					rotated <- fmt.Sprintf("%d %s%s", code, out, errOut)
				}()
			}
			work <- i
		}
		close(work)
		wg.Wait()
		if r := <-rotated; !strings.HasPrefix(r, "0 ") {
			t.Fatalf("keys rotate: %s", r)
		}
		if failed.Load() > 0 {
			t.Fatalf("%d of %d checkouts failed during the rotation: %v", failed.Load(), sent.Load(), failures)
		}
		now := primaries(t, s.Config)
		for _, name := range app.DataKeysets {
			if now[name] == old[name] {
				t.Fatalf("%s still has primary %d", name, old[name])
			}
		}

		t.Run("the rotation is audited", func(t *testing.T) {
			if n := s.countAudit(app.ActionKeysRotate); n != len(app.DataKeysets) {
				t.Fatalf("%d keys.rotate records, want %d", n, len(app.DataKeysets))
			}
			if code, out, errOut := runCLI(t, s.Config, "", "audit", "verify"); code != 0 {
				t.Fatalf("audit verify: %s%s", out, errOut)
			}
		})

		t.Run("the running server encrypts under the new primary without a restart", func(t *testing.T) {
			time.Sleep(keys.CheckInterval + 500*time.Millisecond)
			s.shopper("after-rotation@example.com", "5555555555554444")
			sh := s.shopper("mfa-after-rotation@example.com", "4242424242424242")
			s.enableMFA(sh.token)
			for name, cts := range allCiphertexts(t, s.Config) {
				underNew := 0
				for _, c := range cts {
					if id, _ := keys.KeyID(c.Ciphertext); id == now[name] {
						underNew++
					}
				}
				if underNew == 0 {
					t.Fatalf("no %s ciphertext under the new primary %d", name, now[name])
				}
			}
		})

		t.Run("the job re-encrypts everything under the new primary", func(t *testing.T) {
			deadline := time.Now().Add(60 * time.Second)
			for _, name := range app.DataKeysets {
				for {
					pr, err := s.App.DB.ReencryptionProgress(context.Background(), name)
					if err == nil && pr.Done && pr.Primary == now[name] {
						break
					}
					if time.Now().After(deadline) {
						var log []string
						for _, l := range strings.Split(s.Logs.String(), "\n") {
							if strings.Contains(l, "re-encryption") {
								log = append(log, l)
							}
						}
						t.Fatalf("%s re-encryption not done: %+v %v\n%s", name, pr, err, strings.Join(log, "\n"))
					}
					s.Clock.Advance(time.Second) // the server's clock runs, past the grace that lets every instance switch
					time.Sleep(200 * time.Millisecond)
				}
			}
			checkAllReadable(t, s.Config, now)
			code, out, errOut := runCLI(t, s.Config, "", "keys", "status")
			if code != 0 || !strings.Contains(out, "PRIMARY") || !strings.Contains(out, "retired, decrypts only") ||
				!strings.Contains(out, "re-encryption: done") {
				t.Fatalf("keys status: %d\n%s%s", code, out, errOut)
			}
		})

		t.Run("old and re-encrypted data still serve", func(t *testing.T) {
			s.loginWithMFA("rotate-admin@example.com", s.secrets["rotate-admin@example.com"])
			cart := s.cartWith(shoppers[0], 1, p.ID)
			if res := s.checkout(shoppers[0], "rot-after", cart, "123"); res.Status != 201 {
				t.Fatalf("checkout with a re-encrypted card: %d %s", res.Status, res.Body)
			}
		})
		if n := countAuditRaw(t, s.Config, "order.checkout", audit.Success); n < len(jobs) {
			t.Fatalf("%d paid checkouts, want at least %d", n, len(jobs))
		}
	})
}

func TestKeysRotateCommand(t *testing.T) {
	s := startServer(t, testenv.Databases(t)[0])
	before := primaries(t, s.Config)
	if code, _, errOut := runCLI(t, s.Config, "", "keys", "rotate", "--keyset", "nope"); code != 2 {
		t.Fatalf("an unknown keyset: exit %d %s", code, errOut)
	}
	code, out, errOut := runCLI(t, s.Config, "", "keys", "rotate", "--keyset", app.MFAKeyset)
	if code != 0 || !strings.Contains(out, "mfa    new primary key") {
		t.Fatalf("keys rotate --keyset mfa: %d %s%s", code, out, errOut)
	}
	after := primaries(t, s.Config)
	if after[app.MFAKeyset] == before[app.MFAKeyset] || after[app.VaultKeyset] != before[app.VaultKeyset] {
		t.Fatalf("primaries %v -> %v: want only mfa rotated", before, after)
	}
	if n := s.countAudit(app.ActionKeysRotate); n != 1 {
		t.Fatalf("%d keys.rotate audit records, want 1", n)
	}
	_, out, _ = runCLI(t, s.Config, "", "keys", "status")
	if !strings.Contains(out, "mfa    2 key(s)") || strings.Count(out, "PRIMARY") != len(app.DataKeysets) {
		t.Fatalf("keys status after rotating mfa:\n%s", out)
	}
}

// TestReencryptionResumesAfterKill re-encrypts many cards in a real process
// with small, slow batches, kills it with SIGKILL once a few batches are
// committed, and restarts it: the job resumes from the cursor in the
// database (not from the start) and finishes, every card readable and under
// the new primary.
func TestReencryptionResumesAfterKill(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		cfg := testConfig(db)
		ctx := context.Background()
		const cards, batch = 300, 10
		seedCards(t, cfg, cards)
		if code, out, errOut := runCLI(t, cfg, "", "keys", "rotate", "--keyset", app.VaultKeyset); code != 0 {
			t.Fatalf("keys rotate: %s%s", out, errOut)
		}
		primary := primaries(t, cfg)[app.VaultKeyset]
		progress := func() rekey.Progress {
			t.Helper()
			sdb, err := store.Open(ctx, store.Options{DatabaseURL: cfg.DatabaseURL, DataDir: cfg.DataDir})
			if err != nil {
				t.Fatal(err)
			}
			defer sdb.Close()
			pr, err := sdb.ReencryptionProgress(ctx, app.VaultKeyset)
			if err != nil && !errors.Is(err, rekey.ErrNoProgress) {
				t.Fatal(err)
			}
			return pr
		}

		first := startProcess(t, cfg, "--reencrypt-batch", strconv.Itoa(batch), "--reencrypt-pause", "300ms")
		deadline := time.Now().Add(60 * time.Second)
		for pr := progress(); pr.Batches < 3; pr = progress() {
			if pr.Done || time.Now().After(deadline) {
				t.Fatalf("no chance to kill mid-pass: %+v\n%s", pr, first.Logs.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
		first.kill(t)
		atKill := progress()
		if atKill.Done || atKill.Cursor == "" || atKill.Primary != primary {
			t.Fatalf("progress at the kill: %+v", atKill)
		}
		underOld := 0
		for _, c := range allCiphertexts(t, cfg)[app.VaultKeyset] {
			if id, _ := keys.KeyID(c.Ciphertext); id != primary {
				underOld++
			}
		}
		if underOld == 0 {
			t.Fatal("every card was re-encrypted before the kill: nothing is tested")
		}

		second := startProcess(t, cfg, "--reencrypt-batch", strconv.Itoa(batch), "--reencrypt-pause", "10ms")
		deadline = time.Now().Add(60 * time.Second)
		var final rekey.Progress
		for final = progress(); !final.Done; final = progress() {
			if time.Now().After(deadline) {
				t.Fatalf("re-encryption did not finish after the restart: %+v\n%s", final, second.Logs.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
		// The pass is recorded done in the database a moment before its
		// last log line is written: read the logs until the vault's is there.
		var resumedAfter string
		secondBatches := -1
		for logged := time.Now().Add(5 * time.Second); secondBatches < 0; time.Sleep(20 * time.Millisecond) {
			for _, line := range strings.Split(second.Logs.String(), "\n") {
				var l struct {
					Msg, Purpose, After string
					Batches             int
				}
				if json.Unmarshal([]byte(line), &l) != nil || l.Purpose != app.VaultKeyset {
					continue
				}
				switch l.Msg {
				case "re-encryption started":
					t.Fatalf("the restarted process began the pass again:\n%s", second.Logs.String())
				case "re-encryption resumed":
					resumedAfter = l.After
				case "re-encryption done":
					secondBatches = l.Batches
				}
			}
			if time.Now().After(logged) {
				break
			}
		}
		if resumedAfter != atKill.Cursor {
			t.Fatalf("resumed after %q, the cursor at the kill was %q\n%s", resumedAfter, atKill.Cursor, second.Logs.String())
		}
		// 300 rows in batches of 10 is 31 batches (the last one finds the end).
		if secondBatches != int(final.Batches-atKill.Batches) || secondBatches >= cards/batch {
			t.Fatalf("the restarted process ran %d batches; %d were committed before the kill, %d in all",
				secondBatches, atKill.Batches, final.Batches)
		}
		checkAllReadable(t, cfg, map[string]uint32{app.VaultKeyset: primary, app.MFAKeyset: 0})
		t.Logf("killed after %d batches (%d cards still under the old key); the restart ran %d batches", atKill.Batches, underOld, secondBatches)
	})
}

// seedCards stores n cards in cfg's vault under the current vault keyset.
func seedCards(t *testing.T, cfg config.Config, n int) {
	t.Helper()
	ctx := context.Background()
	ring, err := keys.OpenKeyring(cfg.DataDir, "")
	if err != nil {
		t.Fatal(err)
	}
	a, err := ring.AEAD(app.VaultKeyset)
	if err != nil {
		t.Fatal(err)
	}
	v, err := store.OpenVault(ctx, store.Options{DatabaseURL: cfg.VaultDatabaseURL, DataDir: cfg.DataDir})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	cv := vault.New(v, a, nil, time.Now)
	for range n {
		if _, err := cv.Tokenize(ctx, vault.Card{Number: "4242424242424242", ExpMonth: 12, ExpYear: 2031, Holder: "Pat Payer"}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestReencryptionAcrossInstances rotates the vault keyset under two server
// processes sharing one PostgreSQL and data directory: both switch without a
// restart, the elected one runs the job (the job is safe on both at once,
// which is how it ran before the election), and every card ends up
// readable and under the new primary with no error.
func TestReencryptionAcrossInstances(t *testing.T) {
	dbs := testenv.Databases(t)
	if len(dbs) < 2 {
		t.Skip("needs PostgreSQL: " + testenv.DatabaseURLVar + " is not set")
	}
	cfg := testConfig(dbs[1])
	const cards = 300
	seedCards(t, cfg, cards)
	a := startProcess(t, cfg, "--reencrypt-batch", "10", "--reencrypt-pause", "200ms")
	b := startProcess(t, cfg, "--reencrypt-batch", "10", "--reencrypt-pause", "200ms")
	if code, out, errOut := runCLI(t, cfg, "", "keys", "rotate", "--keyset", app.VaultKeyset); code != 0 {
		t.Fatalf("keys rotate: %s%s", out, errOut)
	}
	primary := primaries(t, cfg)[app.VaultKeyset]

	time.Sleep(keys.CheckInterval + 500*time.Millisecond)
	b.shopper("across@example.com", "5555555555554444") // a card saved through the other instance
	ctx := context.Background()
	sdb, err := store.Open(ctx, store.Options{DatabaseURL: cfg.DatabaseURL, DataDir: cfg.DataDir})
	if err != nil {
		t.Fatal(err)
	}
	defer sdb.Close()
	deadline := time.Now().Add(90 * time.Second)
	for {
		pr, err := sdb.ReencryptionProgress(ctx, app.VaultKeyset)
		if err == nil && pr.Done && pr.Primary == primary {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("re-encryption not done: %+v %v", pr, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	checkAllReadable(t, cfg, map[string]uint32{app.VaultKeyset: primary, app.MFAKeyset: primaries(t, cfg)[app.MFAKeyset]})
	if n := len(allCiphertexts(t, cfg)[app.VaultKeyset]); n != cards+1 {
		t.Fatalf("%d cards in the vault, want %d", n, cards+1)
	}
	ran := 0
	for _, p := range []*process{a, b} {
		logs := p.Logs.String()
		for _, line := range strings.Split(logs, "\n") {
			if strings.Contains(line, `"level":"ERROR"`) {
				t.Fatalf("an instance logged an error:\n%s", line)
			}
		}
		if strings.Contains(logs, fmt.Sprintf(`"primary":%d`, primary)) {
			ran++
		}
	}
	t.Logf("%d of 2 instances worked on the pass", ran)
}

// runCLIAt is runCLI with the command's clock at now.
func runCLIAt(t testing.TB, cfg config.Config, now time.Time, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb strings.Builder
	env := cliEnv(cfg)
	code = app.Main(context.Background(), args, app.Env{
		Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb,
		Getenv: func(k string) string { return env[k] }, Now: func() time.Time { return now },
		PasswordHashForTests: cfg.PasswordHashForTests,
	})
	return code, out.String(), errb.String()
}

// TestKeysRetireCommand retires the keys a rotation replaced: refused while
// the new primary is young, then a sweep leaves every ciphertext under the
// primary and --destroy deletes the old keys, so a backup copy under them no
// longer opens, while the running server serves on. Audited.
func TestKeysRetireCommand(t *testing.T) {
	testenv.ForEachDatabase(t, func(t *testing.T, db testenv.Database) {
		s := startServer(t, db)
		admin := s.createAdmin("retire-admin@example.com")
		p := s.createProduct(admin, "RET-1", 10)
		sh := s.shopper("retire@example.com", "4242424242424242")
		backup := allCiphertexts(t, s.Config)[app.VaultKeyset][0]
		if code, out, errOut := runCLI(t, s.Config, "", "keys", "rotate"); code != 0 {
			t.Fatalf("keys rotate: %s%s", out, errOut)
		}
		now := primaries(t, s.Config)

		if code, _, errOut := runCLIAt(t, s.Config, time.Now(), "keys", "retire"); code != 1 || !strings.Contains(errOut, "too new") {
			t.Fatalf("retire right after the rotation: exit %d %s", code, errOut)
		}
		code, out, errOut := runCLIAt(t, s.Config, time.Now().Add(app.RetireAfter+time.Second), "keys", "retire", "--destroy")
		if code != 0 || strings.Count(out, "destroyed keys") != len(app.DataKeysets) {
			t.Fatalf("keys retire --destroy: exit %d\n%s%s", code, out, errOut)
		}
		checkAllReadable(t, s.Config, now)
		ring, _ := keys.OpenKeyring(s.Config.DataDir, "")
		a, _ := ring.AEAD(app.VaultKeyset)
		if _, err := a.Decrypt(backup.Ciphertext, backup.AssociatedData); err == nil {
			t.Fatal("a backup copy under a destroyed key still decrypts")
		}
		if n, want := s.countAudit(app.ActionKeysRetire), 1+len(app.DataKeysets); n != want { // the refusal and one retirement each
			t.Fatalf("%d keys.retire records, want %d", n, want)
		}
		_, out, _ = runCLI(t, s.Config, "", "keys", "status")
		if !strings.Contains(out, "vault  1 key(s)") || !strings.Contains(out, "mfa    1 key(s)") || !strings.Contains(out, "pii    1 key(s)") {
			t.Fatalf("keys status after retiring:\n%s", out)
		}

		time.Sleep(keys.CheckInterval + 500*time.Millisecond) // the server re-reads the keysets
		s.loginWithMFA("retire-admin@example.com", s.secrets["retire-admin@example.com"])
		if res := s.checkout(sh, "ret-1", s.cartWith(sh, 1, p.ID), "123"); res.Status != 201 {
			t.Fatalf("checkout after retiring the old keys: %d %s", res.Status, res.Body)
		}
	})
}

// TestAdminKeyAndStaffRoutes runs the console's two admin reads on one server.
func TestAdminKeyAndStaffRoutes(t *testing.T) {
	onEngine(t, "sqlite", func(t *testing.T, db testenv.Database) {
		s := startServer(t, db)
		admin := s.createAdmin("admin-reads@example.com")
		t.Run("keys", func(t *testing.T) { testKeyStatusRoute(t, s, admin) })
		t.Run("staff", func(t *testing.T) { testStaffListRoute(t, s, admin) })
	})
}

// testKeyStatusRoute: GET /api/v1/admin/keys says what `keys status` says —
// the KEK's source, each keyset's keys with their roles, the re-encryption
// after a rotation — holds no key material, and is the admin's alone.
func testKeyStatusRoute(t *testing.T, s *server, admin string) {
	var st struct {
		KEK struct {
			Source    string
			CreatedAt string `json:"created_at"`
		}
		Keysets []struct {
			Name    string
			Keys    int
			Wrapped bool
			KeyList []struct {
				ID   uint32
				Role string
			} `json:"key_list"`
			Reencryption string
		}
	}
	res := s.must(200, req{method: "GET", path: "/api/v1/admin/keys", token: admin})
	res.JSON(t, &st)
	if !strings.Contains(st.KEK.Source, "kek-keyset.json") || st.KEK.CreatedAt == "" {
		t.Errorf("the KEK: %+v", st.KEK)
	}
	names := map[string]bool{}
	for _, ks := range st.Keysets {
		names[ks.Name] = true
		if !ks.Wrapped || len(ks.KeyList) != ks.Keys || ks.KeyList[0].Role != "primary" || ks.Reencryption == "" {
			t.Errorf("keyset %s: %+v", ks.Name, ks)
		}
	}
	if !names["pii"] || !names["mfa"] {
		t.Errorf("keysets listed: %v", names)
	}
	for _, bad := range []string{"primaryKeyId", "keyData", "encryptedKeyset", "value"} {
		if strings.Contains(string(res.Body), bad) {
			t.Errorf("the answer holds %q", bad)
		}
	}
	support := s.staff(admin, "keys-support@example.com", "support")
	s.must(403, req{method: "GET", path: "/api/v1/admin/keys", token: support})
	s.must(401, req{method: "GET", path: "/api/v1/admin/keys"})
}

// testStaffListRoute: GET /api/v1/admin/staff lists every account holding a
// staff role with its staff roles and second factor — customers not at all —
// and is the admin's alone.
func testStaffListRoute(t *testing.T, s *server, admin string) {
	customer := s.register("staff-list-customer@example.com")
	support := s.register("staff-list-support@example.com")
	s.grantRoles(admin, support.ID, "support") // no second factor yet
	var out struct {
		Items []struct {
			ID    string
			Roles []string
			MFA   bool
		}
	}
	s.must(200, req{method: "GET", path: "/api/v1/admin/staff", token: admin}).JSON(t, &out)
	got := map[string]string{}
	for _, a := range out.Items {
		got[a.ID] = strings.Join(a.Roles, ",") + fmt.Sprint(" mfa=", a.MFA)
	}
	if got[support.ID] != "support mfa=false" || got[customer.ID] != "" {
		t.Fatalf("staff: %v", got)
	}
	finance := s.staff(admin, "staff-list-finance@example.com", "finance")
	s.must(403, req{method: "GET", path: "/api/v1/admin/staff", token: finance})
}
