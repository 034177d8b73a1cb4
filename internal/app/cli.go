package app

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/bulwark-shop/bulwark/internal/access"
	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/catalog"
	"github.com/bulwark-shop/bulwark/internal/config"
	"github.com/bulwark-shop/bulwark/internal/edge"
	"github.com/bulwark-shop/bulwark/internal/identity"
	"github.com/bulwark-shop/bulwark/internal/identity/password"
	"github.com/bulwark-shop/bulwark/internal/keys"
	"github.com/bulwark-shop/bulwark/internal/logging"
	"github.com/bulwark-shop/bulwark/internal/money"
	"github.com/bulwark-shop/bulwark/internal/rekey"
	"github.com/bulwark-shop/bulwark/internal/response"
	"github.com/bulwark-shop/bulwark/internal/store"
	"github.com/bulwark-shop/bulwark/internal/vault"
	"github.com/bulwark-shop/bulwark/internal/vaultapi"
	"github.com/redis/go-redis/v9"
)

// Env is what a command reads and writes besides its arguments.
type Env struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Started, when set, receives the listeners once `serve` accepts connections,
	// so a test that runs the command can find its ports.
	Started func(Listeners)
	// StartedVault, when set, receives the listener once `vault serve` accepts connections.
	StartedVault func(net.Listener)
	// PasswordHashForTests becomes the command's
	// config.Config.PasswordHashForTests (see there): the end-to-end tests
	// give their commands their servers' cheap argon2id cost, so that an
	// admin made by `admin create` logs in without a rehash. cmd/bulwark
	// leaves it zero: the production cost.
	PasswordHashForTests password.Params
	// HashWorker, when set, is the command `serve` starts its password hash
	// workers with (WithHashWorkers): cmd/bulwark's HashWorkerCommand.
	// Tests that run `serve` in their own process leave it nil.
	HashWorker func() *exec.Cmd
}

// HashWorkerCommand starts this executable as a password hash worker
// (bulwark hash-worker). On Linux it is /proc/self/exe, the very file this
// process runs even after an upgrade replaced it on disk, so a worker always
// speaks its server's protocol. It gets no environment but one scheduler
// slot: it hashes one password at a time, and the server's secrets (the
// BULWARK_* variables) are not its business.
func HashWorkerCommand() *exec.Cmd {
	self := "/proc/self/exe"
	if runtime.GOOS != "linux" {
		if p, err := os.Executable(); err == nil {
			self = p
		}
	}
	cmd := exec.Command(self, "hash-worker")
	cmd.Env = []string{"GOMAXPROCS=1"}
	cmd.Stderr = os.Stderr
	return cmd
}

const usage = `bulwark — a secure-by-default e-commerce backend

Usage:
  bulwark serve [--demo] [settings]          run the server
  bulwark migrate [settings]                 apply database migrations and exit
  bulwark admin create --email E --password-stdin [--name N] [settings]
                                             create a staff user with role admin; prints the
                                             one-time code its first MFA enrolment needs
  bulwark audit verify [--checkpoints DIR] [settings]
                                             check the audit trail's hash chain and its Merkle tree
                                             against the signed checkpoints
  bulwark audit checkpoint [settings]        integrate the trail and sign a checkpoint now; print it
                                             with the key that verifies it
  bulwark version [--json]                   the build's version, commit and Go version (--json: and
                                             every module compiled in)
  bulwark sbom                               the build's CycloneDX software bill of materials (JSON)
  bulwark instances [--since D] [--json] [settings]
                                             which build (version, module digest) runs on how
                                             many instances, from their start and stop records
  bulwark fim baseline [settings]            record the monitored files (binary, settings, keys,
                                             certificates, data directory layout) in a signed
                                             baseline; audited as fim.baseline
  bulwark fim check [settings]               compare them with the baseline (exit 1 on a change)
  bulwark vulns --db DIR [--json]            match this build's modules against an offline Go
                                             vulnerability database (exit 1 when any is known)
  bulwark discover [--json] [settings] [PATH...]
                                             scan the shop database, the outbox and each PATH
                                             for card numbers, secrets and personal data; masked
                                             samples of what is found where
  bulwark posture [--json] [settings]        run the posture checks (PCI DSS 4.0.1, ASVS 5.0) against
                                             the running shop now: scores, failures with remedies
  bulwark backup create [--json] [settings] back up the shop now to every backup-targets target
  bulwark backup list [--json] [settings]   the backups on the targets, newest first
  bulwark backup verify ID [settings]        read backup ID on every target and check every byte
  bulwark backup restore ID --to DIR [--into-database URL] [settings]
                                             restore backup ID into the empty directory DIR
                                             (a data directory: serve it with the same KEK);
                                             PostgreSQL dumps into the database URL
  bulwark backup drill [--json] [settings]   restore the newest backup into scratch and check it
  bulwark audit export [--format jsonl|syslog] [--since T] [--until T] [settings]
                                             write the trail for a SIEM: OCSF-shaped JSON lines or
                                             RFC 5424 syslog messages
  bulwark keys status [settings]             show the KEK's source and age, the data keysets,
                                             their keys' ages and re-encryption progress
  bulwark keys rotate [--keyset NAME] [settings]
                                             give every data keyset (or NAME) a new primary
                                             key; old data is re-encrypted in the background
  bulwark keys retire [--keyset NAME] [--destroy] [settings]
                                             re-encrypt what is left under older keys, then
                                             disable them (or, with --destroy, delete them)
  bulwark keys rotate-kek [settings]         re-wrap every data keyset under a new KEK version
  bulwark vault serve [settings]             run the card vault as a process of its own
                                             (its own data-dir, database and KEK; mutual TLS)
  bulwark vault rotate [settings]            give the vault process's keyset a new primary key;
                                             a running vault re-encrypts every card under it
  bulwark vault retire [--destroy] [settings] the vault's keys retire, as keys retire does
  bulwark vault certs --dir D [--hosts H,...] write a private CA, a vault server and a shop
                                             client certificate for the vault's mutual TLS
  bulwark blocks list [settings]             list the blocks in force (bot trap, operator, responses to findings)
  bulwark blocks lift ID [settings]          lift a block (audited as edge.block_lifted; response.block_lifted for an rbk_ id)
  bulwark webhooks list [settings]           list the webhook endpoints (never a secret)
  bulwark webhooks deliveries [--webhook ID] [--status S] [--limit N] [settings]
                                             list deliveries, newest first (--status dead: the
                                             dead letters)
  bulwark webhooks retry ID [settings]       send a dead or delivered delivery again now, same
                                             id and body (audited as webhook.retry)
  bulwark findings list [--status S] [--type T] [--severity-min N] [--subject S] [--limit N] [settings]
                                             list threat findings, newest first
  bulwark findings show ID [settings]        show one finding with its evidence
  bulwark findings resolve ID [--suppress] [settings]
                                             resolve a finding (or suppress it as known
                                             benign); audited as finding.resolve/suppress
  bulwark detection show [settings]          print the threat detectors and responses in force
                                             (the detection file's, else the built-in ones) as
                                             a detection file to start from; refuses a bad one
  bulwark fraud generate --out FILE [--orders N] [--seed S]
                                             write realistic labelled history (JSONL) to train on
  bulwark fraud train [--history FILE] [--version V] [--activate|--shadow] [settings]
                                             train a fraud model on FILE and the shop's labelled
                                             orders; prints its held-out AUC, precision, recall
  bulwark fraud evaluate [--version V] [--history FILE] [settings]
                                             measure a model on FILE or the labelled orders
  bulwark fraud models [settings]            list the trained models and which one runs
  bulwark fraud activate VERSION [--shadow|--off] [settings]
                                             enforce a model (or run it in shadow, or stop it)
  bulwark settings [--markdown]              list every setting
  bulwark hash-worker                        (started by serve) compute password hashes asked
                                             for on standard input

Run "bulwark <command> -h" for the settings. Secrets (database-url, redis-url,
kek, new-kek, kek-pkcs11-pin) are read from BULWARK_* variables or *-file
settings, never from arguments.
`

// Main runs the command in args (without the program name) and returns the exit status.
func Main(ctx context.Context, args []string, env Env) int {
	if env.Now == nil {
		env.Now = time.Now
	}
	if len(args) == 0 {
		fmt.Fprint(env.Stderr, usage)
		return 2
	}
	var err error
	switch cmd, rest := args[0], args[1:]; {
	case cmd == "serve":
		err = serve(ctx, rest, env)
	case cmd == "hash-worker" && len(rest) == 0:
		err = password.ServeWorker(env.Stdin, env.Stdout)
	case cmd == "migrate":
		err = migrate(ctx, rest, env)
	case cmd == "admin" && len(rest) > 0 && rest[0] == "create":
		err = adminCreate(ctx, rest[1:], env)
	case cmd == "audit" && len(rest) > 0 && rest[0] == "verify":
		err = auditVerify(ctx, rest[1:], env)
	case cmd == "audit" && len(rest) > 0 && rest[0] == "checkpoint":
		err = auditCheckpoint(ctx, rest[1:], env)
	case cmd == "audit" && len(rest) > 0 && rest[0] == "export":
		err = auditExport(ctx, rest[1:], env)
	case cmd == "keys" && len(rest) > 0 && rest[0] == "status":
		err = keysStatus(ctx, rest[1:], env)
	case cmd == "keys" && len(rest) > 0 && rest[0] == "rotate":
		err = keysRotate(ctx, rest[1:], env)
	case cmd == "keys" && len(rest) > 0 && rest[0] == "retire":
		err = keysRetire(ctx, rest[1:], env)
	case cmd == "keys" && len(rest) > 0 && rest[0] == "rotate-kek":
		err = keysRotateKEK(ctx, rest[1:], env)
	case cmd == "vault" && len(rest) > 0 && rest[0] == "serve":
		err = vaultServe(ctx, rest[1:], env)
	case cmd == "vault" && len(rest) > 0 && rest[0] == "rotate":
		err = vaultRotate(ctx, rest[1:], env)
	case cmd == "vault" && len(rest) > 0 && rest[0] == "retire":
		err = vaultRetire(ctx, rest[1:], env)
	case cmd == "vault" && len(rest) > 0 && rest[0] == "certs":
		err = vaultCerts(rest[1:], env)
	case cmd == "blocks" && len(rest) > 0 && rest[0] == "list":
		err = blocksList(ctx, rest[1:], env)
	case cmd == "blocks" && len(rest) > 0 && rest[0] == "lift":
		err = blocksLift(ctx, rest[1:], env)
	case cmd == "webhooks" && len(rest) > 0 && rest[0] == "list":
		err = webhooksList(ctx, rest[1:], env)
	case cmd == "webhooks" && len(rest) > 0 && rest[0] == "deliveries":
		err = webhooksDeliveries(ctx, rest[1:], env)
	case cmd == "webhooks" && len(rest) > 0 && rest[0] == "retry":
		err = webhooksRetry(ctx, rest[1:], env)
	case cmd == "findings" && len(rest) > 0 && rest[0] == "list":
		err = findingsList(ctx, rest[1:], env)
	case cmd == "findings" && len(rest) > 0 && rest[0] == "show":
		err = findingsShow(ctx, rest[1:], env)
	case cmd == "findings" && len(rest) > 0 && rest[0] == "resolve":
		err = findingsResolve(ctx, rest[1:], env)
	case cmd == "detection" && len(rest) > 0 && rest[0] == "show":
		err = detectionShow(rest[1:], env)
	case cmd == "fraud" && len(rest) > 0 && rest[0] == "generate":
		err = fraudGenerate(rest[1:], env)
	case cmd == "fraud" && len(rest) > 0 && rest[0] == "train":
		err = fraudTrain(ctx, rest[1:], env)
	case cmd == "fraud" && len(rest) > 0 && rest[0] == "evaluate":
		err = fraudEvaluate(ctx, rest[1:], env)
	case cmd == "fraud" && len(rest) > 0 && rest[0] == "models":
		err = fraudModels(ctx, rest[1:], env)
	case cmd == "fraud" && len(rest) > 0 && rest[0] == "activate":
		err = fraudActivate(ctx, rest[1:], env)
	case cmd == "settings":
		err = settings(rest, env)
	case cmd == "version":
		err = version(rest, env)
	case cmd == "sbom":
		err = sbom(rest, env)
	case cmd == "posture":
		err = postureCmd(ctx, rest, env)
	case cmd == "instances":
		err = instances(ctx, rest, env)
	case cmd == "discover":
		err = discoverCmd(ctx, rest, env)
	case cmd == "vulns":
		err = vulnsCmd(rest, env)
	case cmd == "fim":
		err = fimCmd(ctx, rest, env)
	case cmd == "backup":
		err = backupCmd(ctx, rest, env)
	case cmd == "help" || cmd == "-h" || cmd == "--help":
		fmt.Fprint(env.Stdout, usage)
		return 0
	default:
		fmt.Fprintf(env.Stderr, "bulwark: unknown command %q\n\n%s", strings.Join(args, " "), usage)
		return 2
	}
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(env.Stderr, "bulwark: %v\n", err)
		return 2
	default:
		fmt.Fprintf(env.Stderr, "bulwark: %s\n", logging.Scrub(err.Error()))
		return 1
	}
}

type usageError struct{ error }

// parse reads the settings and the command's own flags.
func parse(name string, args []string, env Env, extra func(*flag.FlagSet)) (config.Config, *slog.Logger, error) {
	return parseArgs(name, args, env, extra, nil)
}

// parseArgs is parse for a command that takes arguments after its flags
// (into rest; nil refuses any).
func parseArgs(name string, args []string, env Env, extra func(*flag.FlagSet), rest *[]string) (config.Config, *slog.Logger, error) {
	fs := flag.NewFlagSet("bulwark "+name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	settings := config.Bind(fs)
	if extra != nil {
		extra(fs)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return config.Config{}, nil, err
		}
		return config.Config{}, nil, usageError{err}
	}
	if rest != nil {
		*rest = fs.Args()
	} else if fs.NArg() > 0 {
		return config.Config{}, nil, usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	cfg, err := settings.Load(env.Getenv)
	if err != nil {
		return config.Config{}, nil, usageError{err}
	}
	cfg.PasswordHashForTests = env.PasswordHashForTests
	level, err := logging.ParseLevel(cfg.LogLevel)
	if err != nil {
		return config.Config{}, nil, usageError{err}
	}
	return cfg, logging.New(env.Stderr, level), nil
}

// withApp runs fn on the shop its settings name, built as the server
// builds it (a command that reads or changes what the server does: its
// checks, scans, baselines), with the flags extra adds and the arguments
// after them in rest (nil refuses any).
func withApp(ctx context.Context, name string, args []string, env Env, extra func(*flag.FlagSet), rest *[]string,
	fn func(config.Config, *App) error) error {
	cfg, log, err := parseArgs(name, args, env, extra, rest)
	if err != nil {
		return err
	}
	a, err := New(ctx, cfg, log, env.Now)
	if err != nil {
		return err
	}
	defer a.Close()
	return fn(cfg, a)
}

func serve(ctx context.Context, args []string, env Env) error {
	var demo bool
	cfg, log, err := parse("serve", args, env, func(fs *flag.FlagSet) {
		fs.BoolVar(&demo, "demo", false, "add a small demo catalog when the catalog is empty")
	})
	if err != nil {
		return err
	}
	// The process serves requests: where the executable is bulwark, its
	// password hashes are computed in processes of their own.
	var opts []Option
	if env.HashWorker != nil {
		opts = append(opts, WithHashWorkers(env.HashWorker))
	}
	a, err := New(ctx, cfg, log, env.Now, opts...)
	if err != nil {
		return err
	}
	defer a.Close()
	if demo {
		if err := a.SeedDemo(ctx); err != nil {
			return err
		}
	}
	ls, err := a.Listen()
	if err != nil {
		return err
	}
	if env.Started != nil {
		env.Started(ls)
	}
	return a.Serve(ctx, ls)
}

// withDB runs fn on the configured shop database, for the maintenance
// commands that need no services.
func withDB(ctx context.Context, name string, args []string, env Env, fn func(config.Config, *store.DB) error) error {
	cfg, _, err := parse(name, args, env, nil)
	if err != nil {
		return err
	}
	db, err := Open(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	return fn(cfg, db)
}

// withMigratedDB runs fn on the configured shop database, for the commands
// that read or maintain it: on a database never migrated (or a data directory
// that does not exist) it says so, fails, and creates nothing, KEK included.
func withMigratedDB(ctx context.Context, name string, args []string, env Env, fn func(config.Config, *store.DB) error) error {
	return withMigratedDBFlags(ctx, name, args, env, nil, fn)
}

// withMigratedDBFlags is withMigratedDB for a command with flags of its own
// (extra adds them).
func withMigratedDBFlags(ctx context.Context, name string, args []string, env Env, extra func(*flag.FlagSet),
	fn func(config.Config, *store.DB) error) error {
	cfg, _, err := parse(name, args, env, extra)
	if err != nil {
		return err
	}
	db, err := store.OpenMigrated(ctx, store.Options{DatabaseURL: cfg.DatabaseURL, DataDir: cfg.DataDir})
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	defer db.Close()
	return fn(cfg, db)
}

// migrate migrates the shop database and the card vault's.
func migrate(ctx context.Context, args []string, env Env) error {
	return withDB(ctx, "migrate", args, env, func(cfg config.Config, db *store.DB) error {
		applied, err := db.Migrate(ctx)
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		fmt.Fprintf(env.Stdout, "applied %d migrations on %s\n", len(applied), db.Engine())
		for _, m := range applied {
			fmt.Fprintf(env.Stdout, "  %s\n", m)
		}
		if cfg.VaultURL != "" {
			fmt.Fprintln(env.Stdout, "card vault at vault-url: it migrates its own database when it starts")
			return nil
		}
		v, err := store.OpenVault(ctx, store.Options{DatabaseURL: cfg.VaultDatabaseURL, DataDir: cfg.DataDir})
		if err != nil {
			return fmt.Errorf("card vault: %w", err)
		}
		fmt.Fprintln(env.Stdout, "card vault database migrated")
		return v.Close()
	})
}

func adminCreate(ctx context.Context, args []string, env Env) error {
	var email, name string
	var fromStdin bool
	cfg, log, err := parse("admin create", args, env, func(fs *flag.FlagSet) {
		fs.StringVar(&email, "email", "", "the admin's email address")
		fs.StringVar(&name, "name", "Administrator", "the admin's name")
		fs.BoolVar(&fromStdin, "password-stdin", false, "read the password from standard input (required)")
	})
	if err != nil {
		return err
	}
	if email == "" || !fromStdin {
		return usageError{errors.New("admin create needs --email and --password-stdin (the password is never taken from an argument)")}
	}
	line, err := bufio.NewReader(io.LimitReader(env.Stdin, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read password: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	a, err := New(ctx, cfg, log, env.Now)
	if err != nil {
		return err
	}
	defer a.Close()
	u, code, err := a.Identity.CreateAdmin(ctx, email, pw, name)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "created admin %s (%s)\n", u.ID, u.Email)
	// The code goes to the admin apart from the password: a password thief
	// cannot enrol the account's first second factor without it.
	fmt.Fprintf(env.Stdout, "enrollment code (shown once, valid %.0f hours, single use): %s\n", identity.EnrollmentLifetime.Hours(), code)
	return nil
}

// Audit actions of data key management.
const (
	ActionKeysRotate = "keys.rotate"
	ActionKeysRetire = "keys.retire"
)

// RetireAfter is how old a primary key must be before the keys it replaced
// are retired: every instance has switched to it (keys.CheckInterval) and any
// request that encrypted under an older key has ended (the server's write
// timeout), so a sweep after it leaves nothing under an older key.
const RetireAfter = keys.CheckInterval + writeTimeout + 30*time.Second

// keysRetire sweeps each data keyset (or the one named) and takes its keys
// other than the primary out of use, audited.
func keysRetire(ctx context.Context, args []string, env Env) error {
	var only string
	var destroy bool
	cfg, log, err := parse("keys retire", args, env, func(fs *flag.FlagSet) {
		fs.StringVar(&only, "keyset", "", "retire the old keys of this keyset only ("+strings.Join(DataKeysets, ", ")+")")
		fs.BoolVar(&destroy, "destroy", false, "delete the old keys instead of disabling them: data under them, backups included, becomes unreadable for good")
	})
	if err != nil {
		return err
	}
	names, err := keysetsNamed(cfg, only)
	if err != nil {
		return err
	}
	a, err := New(ctx, cfg, log, env.Now)
	if err != nil {
		return err
	}
	defer a.Close()
	return retireKeysets(ctx, a.keyring, a.Rekey, a.Trail, names, destroy, env)
}

// retireKeysets sweeps each keyset of names with job and takes its keys other
// than the primary out of use, recording each outcome with trail.
func retireKeysets(ctx context.Context, ring *keys.Keyring, job *rekey.Job, trail vault.Auditor, names []string, destroy bool, env Env) error {
	verb := "disabled"
	if destroy {
		verb = "destroyed"
	}
	for _, name := range names {
		ids, err := ring.Retire(name, env.Now(), RetireAfter, destroy, func(primary uint32) error {
			return job.Sweep(ctx, name, primary)
		})
		if errors.Is(err, keys.ErrNoKeyset) {
			fmt.Fprintf(env.Stdout, "%-6s no keyset yet, nothing to retire\n", name)
			continue
		}
		if err != nil {
			if aerr := trail.Record(ctx, ActionKeysRetire, name, audit.Failure, "retire refused or failed"); aerr != nil {
				return errors.Join(err, aerr)
			}
			return err
		}
		if len(ids) == 0 {
			fmt.Fprintf(env.Stdout, "%-6s nothing to retire\n", name)
			continue
		}
		if err := trail.Record(ctx, ActionKeysRetire, name, audit.Success, fmt.Sprintf("%s keys %v", verb, ids)); err != nil {
			return fmt.Errorf("keyset %s: keys %v %s but not audited: %w", name, ids, verb, err)
		}
		fmt.Fprintf(env.Stdout, "%-6s %s keys %v; every ciphertext is under the primary\n", name, verb, ids)
	}
	return nil
}

func keysStatus(ctx context.Context, args []string, env Env) error {
	return withMigratedDB(ctx, "keys status", args, env, func(cfg config.Config, db *store.DB) error {
		if err := checkKeysetsServe(ctx, cfg, db); err != nil {
			return err
		}
		if kekConfig(cfg).InFile() && !keys.KEKFileExists(cfg.DataDir) {
			// A status reads; it makes no KEK (that is the first start's, audited).
			fmt.Fprintf(env.Stdout, "key-encryption key: none yet in %s (the first `bulwark serve` makes it, audited)\n", cfg.DataDir)
			return nil
		}
		ring, err := openKeyringAudited(ctx, cfg, audit.NewTrail(db, env.Now))
		if err != nil {
			return err
		}
		defer ring.Close()
		_, sts, err := ring.Status(dataKeysetsOf(cfg)...)
		if err != nil {
			return err
		}
		now := env.Now()
		printKEKStatus(env, ring.KEKStatus())
		for _, st := range sts {
			wrapped := "encrypted under the KEK"
			if !st.Wrapped {
				wrapped = "IN THE CLEAR (opens under the KEK at the next start)"
			}
			fmt.Fprintf(env.Stdout, "%-6s %d key(s), primary %d, %s, written %s (%s ago)\n", st.Name, st.Keys, st.PrimaryID, wrapped,
				st.Written.Format(time.RFC3339), now.Sub(st.Written).Round(time.Second))
			for _, k := range st.KeyList {
				age := "age unknown (made before key times were kept)"
				if !k.Created.IsZero() {
					age = fmt.Sprintf("made %s (%s ago)", k.Created.Format(time.RFC3339), now.Sub(k.Created).Round(time.Second))
				}
				role := map[string]string{keyPrimary: "PRIMARY", keyDisabled: "disabled", keyDecryptOnly: "retired, decrypts only"}[keyRole(k)]
				fmt.Fprintf(env.Stdout, "    key %-10d %-22s %s\n", k.ID, role, age)
			}
			fmt.Fprintf(env.Stdout, "    re-encryption: %s\n", reencryptionOf(ctx, db, st))
		}
		return nil
	})
}

// keysetsNamed is the data keysets a command acts on: every one this shop
// keeps, or only the one named by --keyset.
func keysetsNamed(cfg config.Config, only string) ([]string, error) {
	names := dataKeysetsOf(cfg)
	if only == "" {
		return names, nil
	}
	if !slices.Contains(names, only) {
		return nil, usageError{fmt.Errorf("--keyset: want one of %s", strings.Join(names, ", "))}
	}
	return []string{only}, nil
}

// keysRotate gives each data keyset (or the one named) a new primary key,
// audited. Running servers pick it up and re-encrypt in the background.
func keysRotate(ctx context.Context, args []string, env Env) error {
	var only string
	cfg, _, err := parse("keys rotate", args, env, func(fs *flag.FlagSet) {
		fs.StringVar(&only, "keyset", "", "rotate only this keyset ("+strings.Join(DataKeysets, ", ")+")")
	})
	if err != nil {
		return err
	}
	names, err := keysetsNamed(cfg, only)
	if err != nil {
		return err
	}
	// The database first: no rotation while the audit trail is out of reach.
	db, err := Open(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if err := checkKeysetsServe(ctx, cfg, db); err != nil {
		return err
	}
	trail := audit.NewTrail(db, env.Now)
	ring, err := openKeyringAudited(ctx, cfg, trail)
	if err != nil {
		return err
	}
	defer ring.Close()
	return RotateKeysets(ctx, ring, trail, names, env.Stdout)
}

// RotateKeysets rotates the named keysets of ring, recording each rotation
// (or its failure) in trail, and says what it did on out.
func RotateKeysets(ctx context.Context, ring *keys.Keyring, trail vault.Auditor, names []string, out io.Writer) error {
	for _, name := range names {
		r, err := ring.Rotate(name)
		if errors.Is(err, keys.ErrNoKeyset) {
			fmt.Fprintf(out, "%-6s no keyset yet, nothing to rotate\n", name)
			continue
		}
		if err != nil {
			if aerr := trail.Record(ctx, ActionKeysRotate, name, audit.Failure, "rotation failed"); aerr != nil {
				return errors.Join(err, aerr)
			}
			return err
		}
		if err := trail.Record(ctx, ActionKeysRotate, name, audit.Success, fmt.Sprintf("new primary key %d, was %d", r.NewPrimary, r.OldPrimary)); err != nil {
			return fmt.Errorf("keyset %s rotated to key %d but not audited: %w", name, r.NewPrimary, err)
		}
		fmt.Fprintf(out, "%-6s new primary key %d (was %d); running servers switch within %s and re-encrypt in the background\n",
			name, r.NewPrimary, r.OldPrimary, keys.CheckInterval)
	}
	return nil
}

// vaultServe runs the card vault as a process of its own until ctx ends.
func vaultServe(ctx context.Context, args []string, env Env) error {
	return withVault(ctx, "vault serve", args, env, nil, func(v *VaultServer, _ *slog.Logger) error {
		l, err := v.Listen()
		if err != nil {
			return err
		}
		if env.StartedVault != nil {
			env.StartedVault(l)
		}
		return v.Serve(ctx, l)
	})
}

// withVault runs fn on the vault process that the settings in args describe.
func withVault(ctx context.Context, name string, args []string, env Env, extra func(*flag.FlagSet), fn func(*VaultServer, *slog.Logger) error) error {
	cfg, log, err := parse(name, args, env, extra)
	if err != nil {
		return err
	}
	v, err := NewVault(ctx, cfg, log, env.Now)
	if err != nil {
		return err
	}
	defer v.Close()
	return fn(v, log)
}

// vaultCerts writes the certificates of the vault's mutual TLS.
func vaultCerts(args []string, env Env) error {
	fs := flag.NewFlagSet("bulwark vault certs", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	dir := fs.String("dir", "", "directory to write the PEM files to (created with mode 0700; existing files are never replaced)")
	hosts := fs.String("hosts", "127.0.0.1,localhost", "comma-separated IP addresses and DNS names the vault is reached at")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if *dir == "" || fs.NArg() > 0 {
		return usageError{errors.New("vault certs needs --dir and no other argument")}
	}
	var names []string
	for _, h := range strings.Split(*hosts, ",") {
		if h = strings.TrimSpace(h); h != "" {
			names = append(names, h)
		}
	}
	if err := vaultapi.WriteCerts(*dir, names, env.Now()); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "wrote %s, %s and %s to %s\n", vaultapi.CAFile, vaultapi.ServerCertFile, vaultapi.ClientCertFile, *dir)
	fmt.Fprintf(env.Stdout, "vault:  --vault-tls-cert %[1]s/%[2]s --vault-tls-key %[1]s/%[3]s --vault-client-ca %[1]s/%[4]s\n",
		*dir, vaultapi.ServerCertFile, vaultapi.ServerKeyFile, vaultapi.CAFile)
	fmt.Fprintf(env.Stdout, "shop:   --vault-client-cert %[1]s/%[2]s --vault-client-key %[1]s/%[3]s --vault-ca %[1]s/%[4]s\n",
		*dir, vaultapi.ClientCertFile, vaultapi.ClientKeyFile, vaultapi.CAFile)
	fmt.Fprintf(env.Stdout, "keep %s/%s offline: it only issues new certificates\n", *dir, vaultapi.CAKeyFile)
	return nil
}

func settings(args []string, env Env) error {
	fs := flag.NewFlagSet("bulwark settings", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	markdown := fs.Bool("markdown", false, "print the README's table")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if *markdown {
		fmt.Fprint(env.Stdout, config.Markdown())
		return nil
	}
	for _, s := range config.Settings() {
		fmt.Fprintf(env.Stdout, "--%-32s %-40s %s\n", s.Name, s.Env(), s.Default)
	}
	return nil
}

// SeedDemo adds a small catalog when there is none, as the system, audited.
func (a *App) SeedDemo(ctx context.Context) error {
	existing, err := a.DB.ListProducts(ctx, catalog.ListQuery{Limit: 1}) // inactive products count too
	if err != nil {
		return fmt.Errorf("seed demo catalog: %w", err)
	}
	if len(existing) > 0 {
		return nil
	}
	// The server itself, not a person: it has no second factor to present.
	system := access.WithPrincipal(ctx, &access.Principal{UserID: audit.ActorSystem, Roles: []access.Role{access.Catalog}, MFAEnabled: true})
	cur := a.Catalog.Currency()
	for _, p := range []catalog.NewProduct{
		catalog.SingleVariant("TEE-001", "Bulwark T-shirt", "Organic cotton, black.", money.Money{Amount: 2500, Currency: cur}, 100),
		catalog.SingleVariant("MUG-001", "Enamel mug", "Keeps coffee warm through a long audit.", money.Money{Amount: 1400, Currency: cur}, 50),
		catalog.SingleVariant("KEY-001", "Hardware security key", "FIDO2, USB-C.", money.Money{Amount: 5500, Currency: cur}, 20),
		catalog.SingleVariant("STK-001", "Sticker pack", "Ten vinyl stickers.", money.Money{Amount: 500, Currency: cur}, 500),
	} {
		if _, err := a.Catalog.Create(system, p); err != nil {
			return fmt.Errorf("seed demo catalog: %w", err)
		}
	}
	a.log.Info("added the demo catalog")
	return nil
}

// withBlocks runs fn on the block list the server enforces: in Redis when
// redis-url is set, else in the shop database (see blockStore).
// With it, fn gets the administration of the blocks responses to findings
// raised (lifts audited as from the command line).
func withBlocks(ctx context.Context, name string, args []string, env Env, fn func(*edge.Blocklist, *response.Admin) error) error {
	return withDB(ctx, name, args, env, func(cfg config.Config, db *store.DB) error {
		var rc *redis.Client
		if cfg.RedisURL != "" {
			opts, err := redis.ParseURL(cfg.RedisURL)
			if err != nil {
				return usageError{errors.New("redis-url: not a valid redis:// URL")} // the parser's message may echo the URL
			}
			rc = redis.NewClient(opts)
			defer rc.Close()
		}
		blocks := blockStore(rc, cfg, db, env.Now)
		return fn(edge.NewBlocklist(blocks, audit.NewTrail(db, env.Now)), response.NewAdmin(db, addressLifter{blocks}, nil, env.Now))
	})
}

func blocksList(ctx context.Context, args []string, env Env) error {
	return withBlocks(ctx, "blocks list", args, env, func(l *edge.Blocklist, r *response.Admin) error {
		bs, err := l.List(ctx)
		if err != nil {
			return err
		}
		rs, err := r.ListAll(ctx)
		if err != nil {
			return err
		}
		if len(bs) == 0 && len(rs) == 0 {
			fmt.Fprintln(env.Stdout, "no blocks in force")
			return nil
		}
		for _, b := range bs {
			fmt.Fprintf(env.Stdout, "%s  %-39s  until %s  %s\n", b.ID, b.Address, b.Until.UTC().Format(time.RFC3339), b.Reason)
		}
		// The response blocks: an address among them is listed above too
		// (either id lifts it); a card or account block only here.
		for _, b := range rs {
			fmt.Fprintf(env.Stdout, "%s  %-39s  until %s  %s for finding %s (repeat %d)\n", b.ID, b.Subject.String(),
				b.ExpiresAt.UTC().Format(time.RFC3339), b.Action, b.FindingID, b.Repeat)
		}
		return nil
	})
}

func blocksLift(ctx context.Context, args []string, env Env) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprintln(env.Stdout, "usage: bulwark blocks lift ID [settings] (the ID from bulwark blocks list)")
			return nil
		}
		return usageError{errors.New("blocks lift: give the block's ID (from bulwark blocks list)")}
	}
	id := args[0]
	return withBlocks(ctx, "blocks lift", args[1:], env, func(l *edge.Blocklist, r *response.Admin) error {
		if strings.HasPrefix(id, "rbk_") {
			if _, err := r.LiftAsOperator(ctx, id); err != nil {
				if errors.Is(err, response.ErrBlockNotFound) {
					return fmt.Errorf("blocks lift: no block %q in force", id)
				}
				return err
			}
			fmt.Fprintf(env.Stdout, "lifted %s\n", id)
			return nil
		}
		if err := l.Lift(ctx, id, "cli"); err != nil {
			if errors.Is(err, edge.ErrNoBlock) {
				return fmt.Errorf("blocks lift: no block %q in force", id)
			}
			return err
		}
		fmt.Fprintf(env.Stdout, "lifted %s\n", id)
		return nil
	})
}
