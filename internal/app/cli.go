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
	"strings"
	"time"

	"github.com/bulwark-shop/bulwark/internal/access"
	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/catalog"
	"github.com/bulwark-shop/bulwark/internal/config"
	"github.com/bulwark-shop/bulwark/internal/keys"
	"github.com/bulwark-shop/bulwark/internal/logging"
	"github.com/bulwark-shop/bulwark/internal/money"
	"github.com/bulwark-shop/bulwark/internal/store"
	"github.com/bulwark-shop/bulwark/internal/vaultapi"
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
}

const usage = `bulwark — a secure-by-default e-commerce backend

Usage:
  bulwark serve [--demo] [settings]          run the server
  bulwark migrate [settings]                 apply database migrations and exit
  bulwark admin create --email E --password-stdin [--name N] [settings]
                                             create a staff user with role admin
  bulwark audit verify [settings]            check the audit trail's hash chain
  bulwark keys status [settings]             show the data keysets and the KEK's source
  bulwark vault serve [settings]             run the card vault as a process of its own
                                             (its own data-dir, database and KEK; mutual TLS)
  bulwark vault certs --dir D [--hosts H,...] write a private CA, a vault server and a shop
                                             client certificate for the vault's mutual TLS
  bulwark settings [--markdown]              list every setting

Run "bulwark <command> -h" for the settings. Secrets (database-url, redis-url)
are read from BULWARK_* variables or *-file settings, never from arguments.
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
	case cmd == "migrate":
		err = migrate(ctx, rest, env)
	case cmd == "admin" && len(rest) > 0 && rest[0] == "create":
		err = adminCreate(ctx, rest[1:], env)
	case cmd == "audit" && len(rest) > 0 && rest[0] == "verify":
		err = auditVerify(ctx, rest[1:], env)
	case cmd == "keys" && len(rest) > 0 && rest[0] == "status":
		err = keysStatus(rest[1:], env)
	case cmd == "vault" && len(rest) > 0 && rest[0] == "serve":
		err = vaultServe(ctx, rest[1:], env)
	case cmd == "vault" && len(rest) > 0 && rest[0] == "certs":
		err = vaultCerts(rest[1:], env)
	case cmd == "settings":
		err = settings(rest, env)
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
	if fs.NArg() > 0 {
		return config.Config{}, nil, usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	cfg, err := settings.Load(env.Getenv)
	if err != nil {
		return config.Config{}, nil, usageError{err}
	}
	level, err := logging.ParseLevel(cfg.LogLevel)
	if err != nil {
		return config.Config{}, nil, usageError{err}
	}
	return cfg, logging.New(env.Stderr, level), nil
}

func serve(ctx context.Context, args []string, env Env) error {
	var demo bool
	cfg, log, err := parse("serve", args, env, func(fs *flag.FlagSet) {
		fs.BoolVar(&demo, "demo", false, "add a small demo catalog when the catalog is empty")
	})
	if err != nil {
		return err
	}
	a, err := New(ctx, cfg, log, env.Now)
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
	u, err := a.Identity.CreateAdmin(ctx, email, pw, name)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "created admin %s (%s)\n", u.ID, u.Email)
	return nil
}

func auditVerify(ctx context.Context, args []string, env Env) error {
	return withDB(ctx, "audit verify", args, env, func(_ config.Config, db *store.DB) error {
		n, err := audit.NewTrail(db, env.Now).Verify(ctx)
		if err != nil {
			return fmt.Errorf("audit trail is NOT intact: %w", err)
		}
		fmt.Fprintf(env.Stdout, "audit trail intact: %d records verified\n", n)
		return nil
	})
}

func keysStatus(args []string, env Env) error {
	cfg, _, err := parse("keys status", args, env, nil)
	if err != nil {
		return err
	}
	ring, err := keys.OpenKeyring(cfg.DataDir, cfg.KEK)
	if err != nil {
		return err
	}
	names := []string{VaultKeyset, MFAKeyset}
	if cfg.VaultURL != "" {
		names = names[1:] // the vault's keyset is the vault process's, in its data directory
	}
	source, sts, err := ring.Status(names...)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "key-encryption key: %s\n", source)
	for _, st := range sts {
		wrapped := "encrypted under the KEK"
		if !st.Wrapped {
			wrapped = "IN THE CLEAR (opens under the KEK at the next start)"
		}
		fmt.Fprintf(env.Stdout, "%-6s %d key(s), primary %d, %s, written %s (%s ago)\n", st.Name, st.Keys, st.PrimaryID, wrapped,
			st.Written.Format(time.RFC3339), env.Now().Sub(st.Written).Round(time.Second))
	}
	return nil
}

// vaultServe runs the card vault as a process of its own until ctx ends.
func vaultServe(ctx context.Context, args []string, env Env) error {
	cfg, log, err := parse("vault serve", args, env, nil)
	if err != nil {
		return err
	}
	v, err := NewVault(ctx, cfg, log, env.Now)
	if err != nil {
		return err
	}
	defer v.Close()
	l, err := v.Listen()
	if err != nil {
		return err
	}
	if env.StartedVault != nil {
		env.StartedVault(l)
	}
	return v.Serve(ctx, l)
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
		{SKU: "TEE-001", Name: "Bulwark T-shirt", Description: "Organic cotton, black.", Price: money.Money{Amount: 2500, Currency: cur}, Stock: 100},
		{SKU: "MUG-001", Name: "Enamel mug", Description: "Keeps coffee warm through a long audit.", Price: money.Money{Amount: 1400, Currency: cur}, Stock: 50},
		{SKU: "KEY-001", Name: "Hardware security key", Description: "FIDO2, USB-C.", Price: money.Money{Amount: 5500, Currency: cur}, Stock: 20},
		{SKU: "STK-001", Name: "Sticker pack", Description: "Ten vinyl stickers.", Price: money.Money{Amount: 500, Currency: cur}, Stock: 500},
	} {
		if _, err := a.Catalog.Create(system, p); err != nil {
			return fmt.Errorf("seed demo catalog: %w", err)
		}
	}
	a.log.Info("added the demo catalog")
	return nil
}
