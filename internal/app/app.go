// Package app is Bulwark's one wiring place: from a config.Config it builds the
// stores, then the services, then the HTTP servers. The command line and the
// end-to-end tests both start the server through New and Serve.
package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"
	redislog "github.com/redis/go-redis/v9/logging"

	"github.com/bulwark-shop/bulwark/internal/addressbook"
	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/cart"
	"github.com/bulwark-shop/bulwark/internal/catalog"
	"github.com/bulwark-shop/bulwark/internal/checkout"
	"github.com/bulwark-shop/bulwark/internal/config"
	"github.com/bulwark-shop/bulwark/internal/dependency"
	"github.com/bulwark-shop/bulwark/internal/detect"
	"github.com/bulwark-shop/bulwark/internal/detection"
	"github.com/bulwark-shop/bulwark/internal/edge"
	"github.com/bulwark-shop/bulwark/internal/egress"
	"github.com/bulwark-shop/bulwark/internal/finding"
	"github.com/bulwark-shop/bulwark/internal/guest"
	"github.com/bulwark-shop/bulwark/internal/httpapi"
	"github.com/bulwark-shop/bulwark/internal/id"
	"github.com/bulwark-shop/bulwark/internal/identity"
	"github.com/bulwark-shop/bulwark/internal/identity/password"
	"github.com/bulwark-shop/bulwark/internal/inventory"
	"github.com/bulwark-shop/bulwark/internal/keys"
	"github.com/bulwark-shop/bulwark/internal/leader"
	"github.com/bulwark-shop/bulwark/internal/logging"
	"github.com/bulwark-shop/bulwark/internal/mail"
	"github.com/bulwark-shop/bulwark/internal/order"
	"github.com/bulwark-shop/bulwark/internal/ordermail"
	"github.com/bulwark-shop/bulwark/internal/pages"
	"github.com/bulwark-shop/bulwark/internal/payment"
	"github.com/bulwark-shop/bulwark/internal/payment/stripe"
	"github.com/bulwark-shop/bulwark/internal/pii"
	"github.com/bulwark-shop/bulwark/internal/pricing"
	"github.com/bulwark-shop/bulwark/internal/privacy"
	"github.com/bulwark-shop/bulwark/internal/rekey"
	"github.com/bulwark-shop/bulwark/internal/response"
	"github.com/bulwark-shop/bulwark/internal/scoring"
	"github.com/bulwark-shop/bulwark/internal/store"
	"github.com/bulwark-shop/bulwark/internal/threat"
	"github.com/bulwark-shop/bulwark/internal/throttle"
	"github.com/bulwark-shop/bulwark/internal/tlsserve"
	"github.com/bulwark-shop/bulwark/internal/vault"
	"github.com/bulwark-shop/bulwark/internal/vaultapi"
	"github.com/bulwark-shop/bulwark/internal/waf"
	"github.com/bulwark-shop/bulwark/internal/webhook"
)

// Server timeouts. A slow client cannot hold a connection by trickling headers
// or a body, nor keep an idle one open for long. The public API takes its read
// timeouts from the settings read-header-timeout and read-timeout (so that an
// operator, and the slow-client tests, can shorten them); the internal
// listeners (metrics, card vault) keep these.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 120 * time.Second
	maxHeaderBytes    = 32 << 10
	shutdownTimeout   = 15 * time.Second
)

// Tink keysets, one per purpose, in data-dir/<name>-keyset.json under the KEK.
const (
	VaultKeyset = "vault"
	MFAKeyset   = "mfa"
	// PIIKeyset wraps each person's data key; IndexKeyset computes blind indexes.
	PIIKeyset   = "pii"
	IndexKeyset = "index"
	// HooksKeyset seals the webhook signing secrets.
	HooksKeyset = "hooks"
	// LinksKeyset (a MAC keyset, made when guest checkout is first on)
	// signs the links mailed to guests to their orders.
	LinksKeyset = "links"
	// FingerprintKeyset (a PRF keyset) computes card fingerprints
	// (vault.Fingerprints). It is not among DataKeysets: rotating it would
	// give every card a new fingerprint, restarting its velocity and
	// ending its blocks.
	FingerprintKeyset = "fingerprints"
	// OutboxDir holds mail as files when no SMTP server is configured.
	OutboxDir = "outbox"
	// ACMECacheDir (0700) holds the ACME account key and certificates.
	ACMECacheDir = "acme"
)

// DataKeysets are the data keysets `bulwark keys rotate` and `keys status`
// know, and the only names they accept.
var DataKeysets = []string{VaultKeyset, MFAKeyset, PIIKeyset, IndexKeyset, HooksKeyset}

// dataKeysetsOf lists the data keysets a shop with cfg keeps: all but the
// vault's when the vault runs as a process of its own (its keyset is there).
func dataKeysetsOf(cfg config.Config) []string {
	if cfg.VaultURL != "" {
		return slices.DeleteFunc(slices.Clone(DataKeysets), func(n string) bool { return n == VaultKeyset })
	}
	return slices.Clone(DataKeysets)
}

// reencryptEvery is how often the re-encryption job looks for a rotation.
const reencryptEvery = 5 * time.Second

// App is a wired Bulwark.
type App struct {
	// hashWorkers compute the password hashes (WithHashWorkers), or nil.
	hashWorkers *password.Processes

	cfg      config.Config
	log      *slog.Logger
	DB       *store.DB
	VaultDB  *store.VaultDB // nil with a vault at vault-url
	vaultAPI *vaultapi.Client
	redis    *redis.Client
	Identity *identity.Service
	MFA      *identity.MFA
	Keys     *identity.Keys
	Resets   *identity.Resets
	Passkeys *identity.Passkeys
	Emails   *identity.Emails
	OIDC     *identity.OIDC
	Catalog  *catalog.Service
	Pricing  *pricing.Service
	Carts    *cart.Service
	Methods  *payment.Methods
	Checkout *checkout.Service
	Orders   *order.Service
	// Guests is guest checkout (off unless the guest-checkout setting is on).
	Guests *guest.Service
	Trail  *audit.Trail
	// AuditLog integrates the trail into its Merkle tree and signs its
	// checkpoints.
	AuditLog *audit.Checkpointer
	// instance names this process in what it owns (leases) and in its
	// start and stop records.
	instance string
	// Webhooks is the staff administration of webhook endpoints; webhooks
	// sends the outbox's deliveries through the egress guard.
	Webhooks *webhook.Service
	webhooks *webhook.Worker
	// MailTemplates is the staff administration of the order mail
	// templates; orderMail sends the queued order mail.
	MailTemplates *ordermail.Service
	orderMail     *ordermail.Worker
	// Addresses is the customers' address books.
	Addresses *addressbook.Service
	// Findings is the staff administration of threat findings; signals
	// takes the signals they are detected from.
	Findings *threat.Service
	signals  *threat.Intake
	// Edge admits or refuses client addresses (static lists and dynamic blocks).
	Edge *edge.Guard
	// blocks holds the dynamic blocks Edge enforces (see blockStore).
	blocks edge.Blocks
	// responder acts on findings (see responses); CardBlocks answers
	// whether a card fingerprint (or an account) is blocked, for checkout
	// to call; BlockAdmin lists and lifts the blocks responses raised.
	responder  *response.Responder
	CardBlocks *response.Checker
	BlockAdmin *response.Admin
	// Fraud keeps fraud scoring running the stored rules and serves the
	// rules API and backtests.
	Fraud *scoring.Admin
	// Rekey re-encrypts stored data after a key rotation; Serve runs it.
	Rekey    *rekey.Job
	keyring  *keys.Keyring
	handler  http.Handler
	registry *prometheus.Registry
	outbox   *mail.Dir // nil when mail goes over SMTP
	now      func() time.Time
	// tls is the API's TLS (nil over plain HTTP).
	tls *tlsserve.Server
	// health tracks the dependencies: outages, /readyz, bulwark_dependency_up.
	health *dependency.Tracker
	// posture runs the compliance checks (see posture.go); alert mails a
	// raised finding to alert-email (nil without one).
	posture *postureState
	// fimCache answers CheckFIM (fim.go).
	fimCache fimCache
	// backupRuns is bulwark_backup_last_run_timestamp_seconds (backup.go).
	backupRuns *prometheus.GaugeVec
	alert      func(context.Context, finding.Finding)
	// discoveryMu keeps one discovery run at a time (discovery.go).
	discoveryMu sync.Mutex
	// elector runs the jobs that must run once among the instances
	// sharing the database (useElection).
	elector *leader.Elector
}

// Option changes how New builds the application: options for tests, and
// what only a process's main knows (WithHashWorkers).
type Option func(*options)

type options struct {
	gateway    payment.Gateway
	counter    detect.Counter
	hashWorker func() *exec.Cmd
}

// WithHashWorkers makes the application compute password hashes in worker
// processes that command starts (password.Processes: bulwark hash-worker),
// one per hash worker, so that a hash's garbage is not the server's. bulwark
// serve and bulwark-bench use it; tests that run the application in their
// own process leave it out (their executable is not bulwark), and the
// hashes are computed in the server.
func WithHashWorkers(command func() *exec.Cmd) Option {
	return func(o *options) { o.hashWorker = command }
}

// countEvictions serves how many live counters an in-memory store of use
// dropped to stay within its capacity: above 0, the shop's traffic needs
// more than one instance's memory holds, some velocities were forgiven
// early, and the counters belong in Redis.
func (a *App) countEvictions(m *throttle.Memory, use string) {
	a.registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name:        "bulwark_memory_counters_evicted_total",
		Help:        "Live counters an in-memory counter store dropped to stay within its capacity (throttle.MemoryCapacity); above 0, keep the counters in Redis.",
		ConstLabels: prometheus.Labels{"use": use},
	}, func() float64 { return float64(m.Evicted()) }))
}

// Metrics gathers the application's metrics, as the metrics listener serves
// them (bulwark-bench reads them in process).
func (a *App) Metrics() prometheus.Gatherer { return a.registry }

// WithGateway makes the application pay through g instead of the gateway of
// the payment-gateway setting. Tests and bulwark-bench only: tests inject a
// gateway that fails on command (paymenttest.FailingGateway) to reach the
// compensations of the money path end to end; the card-testing scenario
// counts what reaches the simulated processor.
func WithGateway(g payment.Gateway) Option { return func(o *options) { o.gateway = g } }

// WithDetectionCounter makes threat detection count in c instead of memory
// or Redis. Tests only: a counter that fails shows that a sign-in's answer
// does not depend on detection.
func WithDetectionCounter(c detect.Counter) Option { return func(o *options) { o.counter = c } }

// New opens the stores (migrating the database) and builds the services. now is
// the clock every service reads.
func New(ctx context.Context, cfg config.Config, log *slog.Logger, now func() time.Time, opts ...Option) (*App, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	// TLS first: a certificate that does not load stops the start before the
	// database is touched.
	serverTLS, err := newTLS(cfg, log)
	if err != nil {
		return nil, err
	}
	// Then the card processor: settings that cannot make one stop the start
	// before the database is touched too.
	gateway := o.gateway
	if gateway == nil {
		if gateway, err = newGateway(cfg, log); err != nil {
			return nil, err
		}
	}
	// The data directory holds the KEK and keysets on every engine: make it
	// (private) before migrating, rather than fail at the KEK after it.
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory %s: %w", cfg.DataDir, err)
	}
	db, err := Open(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if applied, err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate: %w", err)
	} else if len(applied) > 0 {
		log.Info("applied migrations", "migrations", applied)
	}
	a := &App{cfg: cfg, log: log, DB: db, registry: prometheus.NewRegistry(), now: now, tls: serverTLS}
	a.Trail = audit.NewTrail(db, now)
	// The card vault: embedded (its own database and keyset beside the shop's),
	// or in a process of its own at vault-url, when this process opens neither.
	var cards interface {
		payment.Vault
		checkout.Cards
	}
	if cfg.VaultURL != "" {
		var tlsConfig *tls.Config
		if strings.HasPrefix(cfg.VaultURL, "https:") {
			if tlsConfig, err = vaultapi.ClientTLSConfig(cfg.VaultClientCert, cfg.VaultClientKey, cfg.VaultCA); err != nil {
				db.Close()
				return nil, err
			}
		}
		if a.vaultAPI, err = vaultapi.NewClient(cfg.VaultURL, tlsConfig, a.Trail, cfg.VaultTimeout); err != nil {
			db.Close()
			return nil, err
		}
		cards = a.vaultAPI
	} else if a.VaultDB, err = store.OpenVault(ctx, store.Options{DatabaseURL: cfg.VaultDatabaseURL, DataDir: cfg.DataDir}); err != nil {
		db.Close()
		return nil, fmt.Errorf("open card vault: %w", err)
	}
	// The keysets serve the databases they were made for and no other: check
	// (and at the first start, record) that before a key is made or used.
	if err := a.bindKeysets(ctx); err != nil {
		a.Close()
		return nil, err
	}
	if err := a.openKeyring(ctx); err != nil {
		a.Close()
		return nil, err
	}
	// Every purpose with data under a data keyset here has one Reencrypter.
	var reencrypters []rekey.Reencrypter
	if a.VaultDB != nil {
		aead, err := a.dataKeyset(ctx, VaultKeyset)
		if err != nil {
			a.Close()
			return nil, err
		}
		cards = vault.New(a.VaultDB, aead, a.Trail, now)
		reencrypters = append(reencrypters, rekey.Rows{Name: VaultKeyset, AEAD: aead, List: a.VaultDB.CardCiphertexts, Swap: a.VaultDB.SwapCardCiphertexts})
	}
	piiKeys, indexKeys, err := a.usePersonalData(ctx)
	if err != nil {
		a.Close()
		return nil, err
	}
	if err := a.sanitizeDescriptions(ctx); err != nil {
		a.Close()
		return nil, err
	}
	if err := a.indexSearch(ctx); err != nil {
		a.Close()
		return nil, err
	}
	if cfg.RedisURL != "" {
		opts, err := redis.ParseURL(cfg.RedisURL)
		if err != nil {
			a.Close()
			return nil, errors.New("redis-url: not a valid redis:// URL") // the parser's message may echo the URL
		}
		failFast(opts)
		a.redis = redis.NewClient(opts)
		// go-redis prints a line to stderr for every failed dial, which made
		// a Redis outage cost log lines per request; the dependency tracker
		// logs Redis going down and coming back instead, once each. (The
		// library's logger is process-wide; only Bulwark uses Redis here.)
		redis.SetLogger(&redislog.VoidLogger{})
	}
	// Password hashing has a pool of its own, so that a login flood takes at
	// most its workers' CPUs and checkout keeps the rest.
	hashCost := password.DefaultParams()
	if cfg.PasswordHashForTests != (password.Params{}) {
		hashCost = cfg.PasswordHashForTests
	}
	hasher := password.NewHasher(hashCost, cfg.HashWorkers, cfg.HashQueue)
	if o.hashWorker != nil {
		a.hashWorkers = password.NewProcesses(hasher.Concurrency(), o.hashWorker, log)
		hasher.UseProcesses(a.hashWorkers)
		a.registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "bulwark_password_hash_workers_started_total", Help: "Password hash worker processes started: one per hash worker at the first sign-in, then one for each that failed.",
		}, func() float64 { return float64(a.hashWorkers.Started()) }))
	}
	a.registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "bulwark_password_hashes_total", Help: "argon2id computations (hashes and verifications, real and dummy).",
	}, func() float64 { return float64(hasher.Computed()) }), prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "bulwark_password_hash_busy_total", Help: "Logins, sign-ups and password changes refused 503 overloaded because every hash worker was busy and the queue full.",
	}, func() float64 { return float64(hasher.Refused()) }))
	mfaKeys, err := a.dataKeyset(ctx, MFAKeyset)
	if err != nil {
		a.Close()
		return nil, err
	}
	a.MFA = identity.NewMFA(db, db, mfaKeys, a.Trail, now)
	// Failed-login counts and locks live in the shop database, on either
	// engine: a lockout survives a Redis restart and a shop restart, and
	// login does not depend on Redis at all (docs/OPERATIONS.md, "Without
	// Redis"). API keys read the second-factor lock of their creator there.
	logins := throttle.New(db.LoginThrottle(now))
	a.Keys = identity.NewKeys(db, db, logins, now)
	var outbox mail.Sender
	if cfg.SMTPURL != "" {
		outbox, err = mail.NewSMTP(cfg.SMTPURL, cfg.SMTPCAFile, cfg.MailFrom, now)
	} else {
		a.outbox, err = mail.NewDir(filepath.Join(cfg.DataDir, OutboxDir), cfg.MailFrom, now)
		outbox = a.outbox
	}
	if err != nil {
		a.Close()
		return nil, err
	}
	a.Resets = identity.NewResets(db, db, hasher, outbox, cfg.PublicURL, now, log)
	a.Identity = identity.NewService(db, a.MFA, logins, hasher, a.Trail, identity.Timeouts{
		CustomerIdle: cfg.SessionIdle, CustomerAbsolute: cfg.SessionAbsolute,
		StaffIdle: cfg.StaffSessionIdle, StaffAbsolute: cfg.StaffSessionAbsolute,
	}, now, log)
	// Threat detection counts signals in memory, or in Redis so that every
	// instance counts together; its findings live in the shop database.
	// Signals are queued for its workers (Serve runs them): a sign-in or a
	// request never waits for detection, nor fails with it.
	local := throttle.NewMemory(now, 0)
	a.countEvictions(local, "detection")
	var counter detect.Counter = local
	if a.redis != nil {
		counter = throttle.NewRedis(a.redis, cfg.RedisKeyPrefix)
	}
	if o.counter != nil {
		counter = o.counter
	}
	// The detectors and responses: the built-in ones, or the lists the
	// detection setting's file gives; a file that cannot work refuses to
	// start.
	detecting := detection.Defaults()
	if cfg.Detection != "" {
		if detecting, err = detection.Read(cfg.Detection); err != nil {
			a.Close()
			return nil, err
		}
	}
	engine, err := detect.New(counter, detecting.Detectors)
	if err != nil {
		a.Close()
		return nil, err
	}
	a.alert = alertMail(cfg, outbox, log)
	a.signals = threat.NewIntake(threat.IntakeConfig{Engine: engine, Store: db, Log: log, Registry: a.registry, Now: now,
		AlertFrom: cfg.AlertSeverity, Raised: a.alert,
		// The responder is built with the edge below; the intake's workers
		// start in Serve, after it.
		Observed: func(ctx context.Context, f finding.Finding, raised bool) {
			if a.responder != nil {
				a.responder.Observed(ctx, f, raised)
			}
		}})
	a.Findings = threat.NewService(db, now)
	// The blocks responses raise, as checkout and sign-in ask about them
	// (responses, below, raises them).
	a.CardBlocks = response.NewChecker(db, now, log)
	a.Identity.UseStepUps(a.CardBlocks)
	a.Identity.UseSignals(a.signals)
	if a.Passkeys, err = identity.NewPasskeys(db, a.Identity, cfg.PublicURL, now); err != nil {
		a.Close()
		return nil, err
	}
	// Security events are mailed to the account's owner; registration and a
	// change of address wait for the address's verification.
	notifier := identity.NewNotifier(db, outbox, now, log)
	notifier.UseSignals(a.signals)
	a.Identity.UseNotifier(notifier)
	a.MFA.UseNotifier(notifier)
	a.Passkeys.UseNotifier(notifier)
	a.Resets.UseNotifier(notifier)
	a.Resets.UseSignals(a.signals)
	a.Emails = identity.NewEmails(identity.EmailsConfig{Store: db, Identity: a.Identity, Mail: outbox, Notifier: notifier,
		PublicURL: cfg.PublicURL, Now: now, Log: log})
	if cfg.OIDCIssuer != "" {
		a.OIDC = identity.NewOIDC(identity.OIDCConfig{Issuer: cfg.OIDCIssuer, ClientID: cfg.OIDCClientID,
			ClientSecret: cfg.OIDCClientSecret, RedirectURL: cfg.OIDCRedirectURL}, db, a.Identity, now)
	}
	a.Catalog = catalog.NewService(catalog.Deps{Store: db, Categories: db, Currencies: cfg.SoldCurrencies(), Now: now})
	a.Pricing = pricing.NewService(db, cfg.SoldCurrencies(), cfg.TaxMode, now)
	// Refused discount codes are counted like failed logins, in the shop
	// database (shared by every instance, kept over restarts), and exported
	// as a guessing signal.
	codesRefused := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "bulwark_discount_codes_refused_total",
		Help: "Discount codes refused on carts (discount_invalid or discount_exhausted), by whether the refusal locked code entry for the customer or address.",
	}, []string{"outcome"})
	a.registry.MustRegister(codesRefused)
	a.Carts = cart.NewService(cart.Deps{Store: db, Catalog: a.Catalog, Pricer: a.Pricing, Guard: pricing.NewGuard(db.LoginThrottle(now)),
		Trail: a.Trail, Now: now, CodeRefused: func(locked bool) {
			outcome := "refused"
			if locked {
				outcome = "locked"
			}
			codesRefused.WithLabelValues(outcome).Inc()
		}})
	a.Methods = payment.NewMethods(db, cards, now)
	a.Methods.UseSignals(a.signals)
	instance := id.New(id.Instance)
	a.instance = instance
	a.Addresses = addressbook.NewService(db, now)
	// Guest checkout sends guests' cards to the vault for one checkout (the
	// sweep of left-over ones runs even when it is off), and signs the
	// links to their orders with a keyset of its own.
	local = throttle.NewMemory(now, 0)
	a.countEvictions(local, "fraud scoring")
	scorer, base, err := newScorer(cfg, a.redis, local, db)
	if err != nil {
		a.Close()
		return nil, err
	}
	// The rules stored through the API (on any instance) run over the
	// setting's or the built-in ones; each instance reads them every few
	// seconds (Serve).
	baseFrom := scoring.SourceBuiltIn
	if cfg.FraudRules != "" {
		baseFrom = scoring.SourceFile
	}
	scorer.BlockAt, scorer.ReviewAt = cfg.FraudBlockAt, cfg.FraudReviewAt
	// Trained models are files signed with a keyset of the shop's: one made
	// elsewhere, or edited, does not run.
	modelKeys, err := a.macKeyset(ctx, scoring.ModelsKeyset)
	if err != nil {
		a.Close()
		return nil, err
	}
	a.Fraud = scoring.NewAdmin(scoring.AdminConfig{Scorer: scorer, Versions: db, History: db, Models: modelKeys, Base: base,
		BaseFrom: baseFrom, Now: now, Log: log})
	if err := a.Fraud.Sync(ctx); err != nil {
		a.Close()
		return nil, fmt.Errorf("load the stored fraud rules: %w", err)
	}
	// A response holding a subject's orders (card testing from an
	// address) sends its checkouts to the review queue.
	scorer.Held = a.CardBlocks.OrdersHeld
	// Cards are named by fingerprint (a PRF under a keyset of its own) to
	// scoring, detection and blocks.
	fingerprintKeys, err := a.prfKeyset(ctx, FingerprintKeyset)
	if err != nil {
		a.Close()
		return nil, err
	}
	checkoutDeps := checkout.Deps{Store: db, Carts: a.Carts, Methods: a.Methods, Cards: cards, Gateway: gateway, Addresses: a.Addresses,
		Now: now, Instance: instance, Lease: cfg.PendingOrderTimeout, CaptureAtFulfilment: cfg.CaptureAtFulfilment, Log: log,
		GuestCheckout: cfg.GuestCheckout, Vault: cards, Guests: db, Scorer: scorer, Registry: a.registry,
		Fingerprints: vault.Fingerprints{Keys: fingerprintKeys}, Signals: a.signals, CardBlocks: a.CardBlocks,
		EmailIndexes: db}
	var links *keys.LiveMAC
	if cfg.GuestCheckout {
		if links, err = a.macKeyset(ctx, LinksKeyset); err != nil {
			a.Close()
			return nil, err
		}
	}
	a.Checkout = checkout.NewService(checkoutDeps)
	a.Orders = order.NewService(db, gateway, now, cfg.PendingOrderTimeout)
	a.Orders.UseSignals(a.signals)
	a.Orders.UseReadAudit(a.Trail)
	a.Orders.ReturnWindow = cfg.ReturnWindow
	a.Guests = guest.NewService(guest.Deps{Enabled: cfg.GuestCheckout, Store: db, Carts: a.Carts, Checkout: a.Checkout,
		MAC: links, PublicURL: cfg.PublicURL, Now: now})
	hooksKeys, err := a.dataKeyset(ctx, HooksKeyset)
	if err != nil {
		a.Close()
		return nil, err
	}
	if err := a.useWebhooks(cfg, hooksKeys, instance); err != nil {
		a.Close()
		return nil, err
	}
	// Order mail is queued by the store with the change it reports, and sent
	// from the queue through the same sender as every other mail.
	a.MailTemplates = ordermail.NewService(db, now)
	a.orderMail = ordermail.NewWorker(ordermail.WorkerConfig{Store: db, Sender: outbox, PublicURL: cfg.PublicURL, GuestLink: a.Guests.Link,
		Owner: instance, Poll: orderMailPoll, Now: now, Log: log, Registry: a.registry, Busy: a.Checkout.Busy,
		Failed: func(err error) { a.backgroundFailed("sending order mail", err) }})
	a.registry.MustRegister(backlog{db: db,
		mail: prometheus.NewDesc("bulwark_order_mail_jobs",
			"Order mail jobs waiting to be sent (pending) and given up after every retry (failed).", []string{"status"}, nil),
		outbox: prometheus.NewDesc("bulwark_event_outbox_events",
			"Events committed and not yet moved to their webhook deliveries and mail jobs; it should stay near 0.", nil, nil)})
	reencrypters = append(reencrypters,
		rekey.Rows{Name: MFAKeyset, AEAD: mfaKeys, List: db.TOTPCiphertexts, Swap: db.SwapTOTPCiphertexts},
		rekey.Rows{Name: HooksKeyset, AEAD: hooksKeys, List: db.WebhookSecretCiphertexts, Swap: db.SwapWebhookSecretCiphertexts},
		subjectKeys{db: db, aead: piiKeys},
		emailIndexes{db: db, keys: indexKeys})
	a.Rekey = rekey.NewJob(db, reencrypters, rekey.Settings{Batch: cfg.ReencryptBatch, Pause: cfg.ReencryptPause, Every: reencryptEvery, Grace: 2 * keys.CheckInterval,
		Failed: func(purpose string, err error) { a.backgroundFailed("re-encryption of "+purpose, err) }}, now, log)
	guard, err := a.edgeGuard(cfg, now)
	if err != nil {
		a.Close()
		return nil, err
	}
	a.Edge = guard
	a.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	a.backupRuns = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "bulwark_backup_last_run_timestamp_seconds",
		Help: "When this instance last made a backup or ran a restore drill (kind), that succeeded or failed (outcome): alert when the success is older than the schedule."},
		[]string{"kind", "outcome"})
	a.registry.MustRegister(a.backupRuns)
	// Rate limits live in memory, or in Redis so that every instance shares
	// one budget per client and account.
	// While Redis cannot answer, each instance limits alone in memory
	// (localLimiter) instead of letting every request through.
	var limiter, localLimiter *edge.Limiter
	if cfg.RateLimits {
		var budgets edge.Store = edge.NewMemory(edge.MemoryCapacity)
		if a.redis != nil {
			budgets = edge.NewRedis(a.redis, cfg.RedisKeyPrefix+"ratelimit:")
			localLimiter = edge.NewLimiter(edge.NewMemory(edge.MemoryCapacity), now)
		}
		limiter = edge.NewLimiter(budgets, now)
	}
	a.health = a.newTracker()
	proxies, err := edge.ParsePrefixes(cfg.TrustedProxies)
	if err != nil {
		a.Close()
		return nil, fmt.Errorf("trusted-proxies: %w", err)
	}
	firewall, err := newWAF(cfg)
	if err != nil {
		a.Close()
		return nil, err
	}
	if err := a.responses(db, detecting.Responses, proxies, log, now); err != nil {
		a.Close()
		return nil, err
	}
	a.Identity.UseAccountLocks(a.CardBlocks)
	// Stripe's events are taken only from a shop paying through Stripe that
	// was given the endpoint's signing secret; otherwise the route is 404.
	var stripeEvents httpapi.EventVerifier
	var processorEvents *order.ProcessorEvents
	if cfg.PaymentGateway == config.PaymentStripe && cfg.StripeWebhookSecret != "" {
		v, err := stripe.NewEventVerifier(cfg.StripeWebhookSecret)
		if err != nil {
			a.Close()
			return nil, err
		}
		stripeEvents, processorEvents = v, order.NewProcessorEvents(db, now)
	}
	if err := a.useAuditLog(ctx); err != nil {
		a.Close()
		return nil, err
	}
	if err := a.usePosture(); err != nil {
		a.Close()
		return nil, err
	}
	if err := a.useElection(ctx); err != nil {
		a.Close()
		return nil, err
	}
	var site *pages.Site
	if cfg.Pages {
		site, err = pages.New(pages.Options{Log: log, Registry: a.registry, ThemeDir: cfg.WebThemeDir,
			ShopName: cfg.ShopName, OIDC: a.OIDC != nil, Now: now, AuditCheckpoints: a.AuditLog.Notary})
		if err != nil {
			a.Close()
			return nil, err
		}
	}
	a.handler = httpapi.New(httpapi.Deps{
		Identity: a.Identity, MFA: a.MFA, Keys: a.Keys, Resets: a.Resets, Passkeys: a.Passkeys, Emails: a.Emails, OIDC: a.OIDC, Privacy: privacy.NewService(db, db, a.Identity, cards, a.Trail, now), Catalog: a.Catalog, Carts: a.Carts, Methods: a.Methods, Pricing: a.Pricing,
		Checkout: a.Checkout, Orders: a.Orders, Webhooks: a.Webhooks, MailTemplates: a.MailTemplates, Guests: a.Guests, Log: log,
		StripeEvents: stripeEvents, ProcessorEvents: processorEvents,
		Metrics: httpapi.NewMetrics(a.registry), MaxBodyBytes: cfg.MaxBodyBytes, MaxInFlight: cfg.MaxInFlight, Passwords: hasher, Delayed: a.CardBlocks.Delayed,
		Health: a.health, Degraded: map[string]bool{dependency.Redis: true}, LocalRateLimiter: localLimiter,
		Now: now, TLS: cfg.TLS(), CORSOrigins: cfg.Origins(),
		SecurityContact: cfg.SecurityContact, SecurityPolicy: cfg.SecurityPolicy,
		Edge: a.Edge, Trap: edge.NewTrap(a.Edge, cfg.BotBlock, a.Trail, proxies), Blocks: edge.NewBlocklist(a.blocks, a.Trail),
		RateLimiter: limiter, RateLimits: cfg.RateLimit, TrustedProxies: proxies,
		WAF: firewall, WAFAudit: httpapi.NewSampledAudit(a.Trail, now),
		RefusedAudit: httpapi.NewSampledAudit(a.Trail, now), Addresses: a.Addresses,
		Signals: a.signals, Findings: a.Findings, ResponseBlocks: a.BlockAdmin, Fraud: a.Fraud,
		AuditLog: audit.NewReader(db, a.Trail),
		Posture:  a, SelfScan: a.posture.isSelfScan, Discovery: a, FIM: a, Backups: a, KeyStatus: a, Staff: a,
		Pages: site,
	})
	return a, nil
}

// useElection makes the elector of the scheduled jobs that must run on one
// instance at a time. On PostgreSQL, where several instances share the
// database, they compete for an advisory lock named for the shop database
// (its identity, so shops sharing a PostgreSQL database in different schemas
// elect apart); on SQLite the one process always leads.
func (a *App) useElection(ctx context.Context) error {
	shopID, err := a.DB.Identity(ctx)
	if err != nil {
		return err
	}
	a.elector = leader.New(leader.Options{Locker: a.DB, Lock: "scheduled-jobs/" + shopID, Log: a.log, Registry: a.registry},
		// Retention deletes from the shared database: N instances would
		// run N identical purges an hour, contending for the same rows.
		leader.Job{Name: "retention", Run: a.runRetention},
		// Re-encryption is safe on several (a compare-and-set per row and
		// on the cursor), but each would read every batch and all but one
		// would lose every race: one does the work.
		leader.Job{Name: "reencryption", Run: a.Rekey.Run},
		// Audit checkpoints: every instance integrating the trail into one
		// Merkle tree each second fought for its write lock, and signed N
		// checkpoints for one log. The leader integrates and signs; every
		// instance still signs one at its stop (Serve).
		leader.Job{Name: "audit-checkpoints", Run: a.AuditLog.Run},
		// Discovery scans the shared database (the costly part, once is
		// enough) and raises or resolves findings from what it found:
		// instances scanning different outboxes would flap them.
		leader.Job{Name: "discovery", Run: a.runDiscovery},
		// Backups copy the shared database and the data keysets: one
		// backup per schedule, not one per instance.
		leader.Job{Name: "backups", Run: a.runBackups},
		// The erasure ledger is copied to the backup targets from the
		// shared database: once is enough (the copy is idempotent).
		leader.Job{Name: "erasure-ledger", Run: a.runErasurePush})
	return nil
}

// Leads reports whether this instance leads, and so runs the elected jobs.
func (a *App) Leads() bool { return a.elector.Leads() }

// webhookPoll is how often each instance looks for due webhook deliveries.
const webhookPoll = time.Second

// orderMailPoll is how often each instance looks for due order mail.
const orderMailPoll = time.Second

// backlog exports the order mail queue and the event outbox at each scrape.
// A scrape during a database outage leaves the series out rather than
// failing the page.
type backlog struct {
	db           *store.DB
	mail, outbox *prometheus.Desc
}

func (b backlog) Describe(ch chan<- *prometheus.Desc) { ch <- b.mail; ch <- b.outbox }

func (b backlog) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if pending, failed, err := b.db.MailBacklog(ctx); err == nil {
		ch <- prometheus.MustNewConstMetric(b.mail, prometheus.GaugeValue, float64(pending), ordermail.StatusPending)
		ch <- prometheus.MustNewConstMetric(b.mail, prometheus.GaugeValue, float64(failed), ordermail.StatusFailed)
	}
	if n, err := b.db.EventOutboxLength(ctx); err == nil {
		ch <- prometheus.MustNewConstMetric(b.outbox, prometheus.GaugeValue, float64(n))
	}
}

// sentMailRetention is how long a sent (or skipped) order mail job is kept:
// ids only, for an operator who asks whether a mail went out.
const sentMailRetention = 30 * 24 * time.Hour

// useWebhooks builds the egress guard (every outbound call to an address
// that staff chose goes through it), the webhook administration and the
// outbox's delivery worker, which Serve runs.
func (a *App) useWebhooks(cfg config.Config, aead webhook.AEAD, instance string) error {
	allow, err := edge.ParsePrefixes(cfg.EgressAllow)
	if err != nil {
		return fmt.Errorf("egress-allow: %w", err)
	}
	schedule, err := webhook.ParseSchedule(cfg.WebhookRetrySchedule)
	if err != nil {
		return fmt.Errorf("webhook-retry-schedule: %w", err)
	}
	guard := egress.New(egress.Options{Allow: allow, Total: cfg.WebhookTimeout, Log: a.log, Registry: a.registry})
	a.Webhooks = webhook.NewService(a.DB, aead, guard, a.now)
	a.webhooks = webhook.NewWorker(webhook.WorkerConfig{Store: a.DB, AEAD: aead, Client: guard.Client(), Schedule: schedule,
		Owner: instance, Lease: cfg.WebhookTimeout + 5*time.Second, Poll: webhookPoll, Now: a.now, Log: a.log, Registry: a.registry,
		Busy:   a.Checkout.Busy,
		Failed: func(err error) { a.backgroundFailed("sending webhooks", err) }})
	return nil
}

// newTLS builds the API's TLS from cfg: certificate files (reloaded when they
// change) or ACME with its cache in data-dir/acme; nil without TLS.
func newTLS(cfg config.Config, log *slog.Logger) (*tlsserve.Server, error) {
	if !cfg.TLS() {
		return nil, nil
	}
	s, err := tlsserve.New(tlsserve.Options{
		MinVersion: cfg.TLSMinVersion, CertFile: cfg.TLSCert, KeyFile: cfg.TLSKey, Log: log,
		ACME: tlsserve.ACMEOptions{Domains: cfg.Domains(), Directory: cfg.ACMEDirectory, Email: cfg.ACMEEmail,
			CAFile: cfg.ACMECAFile, CacheDir: filepath.Join(cfg.DataDir, ACMECacheDir)},
	})
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	return s, nil
}

// newWAF compiles the web application firewall of cfg, or returns nil when
// the waf setting is off.
func newWAF(cfg config.Config) (*waf.WAF, error) {
	if cfg.WAF == waf.Off {
		return nil, nil
	}
	wc, err := cfg.WAFConfig()
	if err != nil {
		return nil, err
	}
	// The positive model: a JSON body valid against the API's own schema is
	// inspected in its free text only (docs/SECURITY.md).
	if wc.Bodies, err = waf.NewBodyModel(httpapi.OpenAPIDocument()); err != nil {
		return nil, err
	}
	return waf.New(wc)
}

// edgeGuard builds the client address lists from cfg, with dynamic blocks in
// Redis when it is configured (shared by every instance), else in memory.
func (a *App) edgeGuard(cfg config.Config, now func() time.Time) (*edge.Guard, error) {
	var l edge.Lists
	var err error
	for _, x := range []struct {
		name, value string
		dst         *[]netip.Prefix
	}{{"ip-deny", cfg.IPDeny, &l.Deny}, {"ip-allow", cfg.IPAllow, &l.Allow}, {"admin-ip-allow", cfg.AdminIPAllow, &l.AdminAllow}} {
		if *x.dst, err = edge.ParsePrefixes(x.value); err != nil {
			return nil, fmt.Errorf("%s: %w", x.name, err)
		}
	}
	a.blocks = blockStore(a.redis, cfg, a.DB, now)
	return edge.NewGuard(l, a.blocks, now), nil
}

// blockStore is where the dynamic blocks live: in Redis when it is
// configured (every instance and the CLI share it), else in the shop
// database (table edge_blocks), which the CLI reaches as well and every
// instance on one PostgreSQL shares. Never only in a process's memory: an
// operator could then neither see nor lift a block without a restart.
func blockStore(rc *redis.Client, cfg config.Config, db *store.DB, now func() time.Time) edge.Blocks {
	if rc != nil {
		return liftRecorded{edge.NewRedisBlocks(rc, cfg.RedisKeyPrefix+"edge:block:", now), db, now}
	}
	return liftRecorded{store.NewEdgeBlocks(db, now), db, now}
}

// usePersonalData gives the shop database the cipher for personal data and
// seals what an earlier version kept in the clear. It returns the pii keyset,
// which wraps every person's data key, and the blind-index keyset.
func (a *App) usePersonalData(ctx context.Context) (*keys.Live, *keys.LivePRF, error) {
	master, err := a.dataKeyset(ctx, PIIKeyset)
	if err != nil {
		return nil, nil, err
	}
	index, err := a.prfKeyset(ctx, IndexKeyset)
	if err != nil {
		return nil, nil, err
	}
	a.DB.UsePersonalData(pii.New(master, index))
	users, orders, err := a.DB.SealLegacy(ctx, a.now())
	if err != nil {
		return nil, nil, fmt.Errorf("seal personal data: %w", err)
	}
	if users+orders > 0 {
		a.log.Info("sealed personal data kept in the clear by an earlier version", "accounts", users, "orders", orders)
	}
	skeletons, err := a.DB.BackfillSkeletonIndexes(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("index look-alike addresses: %w", err)
	}
	if skeletons > 0 {
		a.log.Info("indexed the confusable skeletons of accounts made by an earlier version", "accounts", skeletons)
	}
	return master, index, nil
}

// sanitizeDescriptions sanitizes the product descriptions stored before the
// catalog sanitized on write (migration 0017), so no stored <script> is ever
// served. It finds nothing once done; a pass that changed rows is audited as
// one record with their count.
func (a *App) sanitizeDescriptions(ctx context.Context) error {
	n, err := a.DB.SanitizeDescriptions(ctx, catalog.Sanitize)
	if err != nil {
		return fmt.Errorf("sanitize stored descriptions: %w", err)
	}
	if n == 0 {
		return nil
	}
	rec := audit.New(ctx, a.now(), catalog.ActionSanitizePass, "products", audit.Success, fmt.Sprintf("descriptions=%d", n))
	if err := a.DB.AppendAudit(ctx, rec); err != nil {
		return fmt.Errorf("audit the sanitizing of stored descriptions: %w", err)
	}
	a.log.Info("sanitized product descriptions stored by an earlier version", "products", n)
	return nil
}

// indexSearch indexes for full-text search the products stored before
// migration 0020, or indexed by another catalog.SearchVersion; after the
// descriptions are sanitized, so it indexes what is served. It finds nothing
// once done.
func (a *App) indexSearch(ctx context.Context) error {
	n, err := a.DB.IndexSearch(ctx)
	if err != nil {
		return fmt.Errorf("index products for search: %w", err)
	}
	if n > 0 {
		a.log.Info("indexed products for search", "products", n, "version", catalog.SearchVersion)
	}
	return nil
}

// subjectKeys is the re-encryption of the pii keyset: every person's data key
// wrapped again under its primary. Once a pass is done, `keys retire
// --keyset pii --destroy` makes any lingering copy of an erased person's key
// (a dead row, a write-ahead log, a backup) unreadable for good.
type subjectKeys struct {
	db   *store.DB
	aead *keys.Live
}

var _ rekey.Reencrypter = subjectKeys{}

func (s subjectKeys) Keyset() string  { return PIIKeyset }
func (s subjectKeys) Primary() uint32 { return s.aead.Primary() }
func (s subjectKeys) Reencrypt(ctx context.Context, after string, limit int) (string, bool, error) {
	return s.db.RewrapSubjectKeys(ctx, after, limit)
}

// emailIndexes is the re-encryption of the blind-index keyset: every
// account's email index computed again under its primary. Once a pass is
// done, `keys retire --keyset index` takes the old key out of lookups.
type emailIndexes struct {
	db   *store.DB
	keys *keys.LivePRF
}

var _ rekey.Reencrypter = emailIndexes{}

func (e emailIndexes) Keyset() string  { return IndexKeyset }
func (e emailIndexes) Primary() uint32 { return e.keys.Primary() }
func (e emailIndexes) Reencrypt(ctx context.Context, after string, limit int) (string, bool, error) {
	return e.db.RecomputeEmailIndexes(ctx, after, limit)
}

// newGateway is the card processor of the payment-gateway setting.
func newGateway(cfg config.Config, log *slog.Logger) (payment.Gateway, error) {
	if cfg.PaymentGateway != config.PaymentStripe {
		return payment.Simulator{}, nil
	}
	g, err := stripe.New(stripe.Config{SecretKey: cfg.StripeSecretKey, APIBase: cfg.StripeAPIBase, Retries: 2, Log: log})
	if err != nil {
		return nil, fmt.Errorf("payment gateway: %w", err)
	}
	log.Info("payment gateway", "gateway", "stripe", "api", cfg.StripeAPIBase)
	return g, nil
}

// Open opens the configured database without migrating it.
func Open(ctx context.Context, cfg config.Config) (*store.DB, error) {
	db, err := store.Open(ctx, store.Options{DatabaseURL: cfg.DatabaseURL, DataDir: cfg.DataDir})
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	return db, nil
}

// Close releases the stores.
func (a *App) Close() error {
	if a.hashWorkers != nil {
		a.hashWorkers.Close()
	}
	if a.redis != nil {
		a.redis.Close()
	}
	if a.VaultDB != nil {
		a.VaultDB.Close()
	}
	if a.keyring != nil {
		a.keyring.Close()
	}
	if a.vaultAPI != nil {
		a.vaultAPI.Close()
	}
	return a.DB.Close()
}

// failFast bounds what one Redis command may cost while Redis is out, unless
// the URL says otherwise (dial_timeout=..., max_retries=...): go-redis's
// defaults (three retries of five dials each, 100 ms apart, and 3 s socket
// timeouts) held each request for seconds in a Redis outage, where the shop
// has an answer without Redis at once (a local rate limit, the static
// address lists). The tracker finds Redis again when it is back.
func failFast(o *redis.Options) {
	if o.DialTimeout == 0 {
		o.DialTimeout = time.Second
	}
	if o.ReadTimeout == 0 {
		o.ReadTimeout = 500 * time.Millisecond
	}
	if o.WriteTimeout == 0 {
		o.WriteTimeout = 500 * time.Millisecond
	}
	if o.MaxRetries == 0 {
		o.MaxRetries = -1
	}
	o.DialerRetries = 1
}

// newTracker tracks what the shop depends on: the database, the disk under
// the data directory, the card vault (its database when embedded, its health
// route over mutual TLS when remote) and Redis when configured. The tracker
// reads the wall clock, not the shop's (tests freeze that one): its times only
// pace probes.
func (a *App) newTracker() *dependency.Tracker {
	t := dependency.NewTracker(dependency.TrackerOptions{Log: a.log, Now: time.Now, Registry: a.registry})
	t.Add(dependency.Database, a.DB.Ping)
	t.Add(dependency.Disk, dependency.DiskProbe(a.cfg.DataDir, dependency.MinFreeDisk))
	switch {
	case a.VaultDB != nil:
		t.Add(dependency.Vault, a.VaultDB.Ping)
	case a.vaultAPI != nil:
		t.Add(dependency.Vault, a.vaultAPI.Ping)
	}
	if a.redis != nil {
		t.Add(dependency.Redis, func(ctx context.Context) error { return a.redis.Ping(ctx).Err() })
	}
	return t
}

// Health is the tracker of the shop's dependencies.
func (a *App) Health() *dependency.Tracker { return a.health }

// Purge applies the retention settings once: to the shared database
// (purgeDatabase) and to this instance's outbox (purgeOutbox).
func (a *App) Purge(ctx context.Context) error {
	if err := a.purgeDatabase(ctx); err != nil {
		return err
	}
	return a.purgeOutbox()
}

// purgeDatabase deletes what the retention settings say has expired from the
// shop database, which every instance shares: an elected job (runRetention).
func (a *App) purgeDatabase(ctx context.Context) error {
	p, err := a.DB.Purge(ctx, a.now(), store.Retention{IdempotencyKeys: a.cfg.IdempotencyRetention, AbandonedCarts: a.cfg.CartRetention,
		SentMail: sentMailRetention, Webhooks: a.cfg.WebhookRetention})
	if err != nil {
		return err
	}
	if err := a.DB.TruncateLog(ctx); err != nil { // what an erasure could not truncate at once
		return err
	}
	cards, err := a.Checkout.SweepGuestCards(ctx)
	if err != nil {
		return err
	}
	a.log.Info("retention purge", logging.Count("sessions", int64(p.Sessions)), logging.Count("idempotency_keys", int64(p.IdempotencyKeys)),
		logging.Count("carts", int64(p.Carts)), logging.Count("one_time_tokens", int64(p.Tokens)),
		logging.Count("mail_jobs", p.MailJobs), logging.Count("webhook_deliveries", p.WebhookDeliveries),
		logging.Count("webhook_events", p.WebhookEvents), logging.Count("guests", p.Guests), logging.Count("guest_cards", int64(cards)),
		logging.Count("findings", p.Findings))
	return nil
}

// purgeOutbox deletes the mail files older than outbox-retention from this
// instance's data-dir/outbox (none with SMTP). Each instance has its own.
func (a *App) purgeOutbox() error {
	if a.outbox == nil {
		return nil
	}
	files, err := a.outbox.Purge(a.cfg.OutboxRetention)
	if err != nil {
		return err
	}
	if files > 0 {
		a.log.Info("outbox purge", logging.Count("mail_files", int64(files)))
	}
	return nil
}

// runRetention applies the retention settings to the shop database at once
// and then every hour, until ctx ends.
func (a *App) runRetention(ctx context.Context) {
	for {
		if err := a.purgeDatabase(ctx); err != nil && ctx.Err() == nil {
			a.backgroundFailed("retention purge", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Hour):
		}
	}
}

// backgroundFailed logs a failed background task: an outage goes to the
// dependency tracker, which logs it once however often the task meets it
// (an ERROR line every third of the lease for the whole outage before),
// anything else is an error.
func (a *App) backgroundFailed(task string, err error) {
	if name, outage := dependency.Classify(err); outage {
		a.health.Down(name, err)
		return
	}
	a.log.Error(task, "err", err)
}

// recoverAbandoned releases checkouts a stopped server left half done and
// finishes its interrupted refunds, once at start and then every third of
// the checkout lease, renews the leases of this
// instance's running checkouts as often, and purges this instance's outbox
// every hour, until ctx ends. Every instance does all of it: the leases are
// its own, and recovery is safe on several at once (each checkout is
// claimed in a transaction) and must not wait for an election when the
// instance that died was the leader.
func (a *App) recoverAbandoned(ctx context.Context) {
	every := max(a.Checkout.Lease()/3, 100*time.Millisecond)
	tick := time.NewTicker(every)
	defer tick.Stop()
	lastPurge := time.Time{}
	for {
		if time.Since(lastPurge) >= time.Hour { // once an hour, starting now
			lastPurge = time.Now()
			if err := a.purgeOutbox(); err != nil && ctx.Err() == nil {
				a.backgroundFailed("outbox purge", err)
			}
		}
		if err := a.Checkout.Heartbeat(ctx); err != nil && ctx.Err() == nil {
			a.backgroundFailed("renewing checkout leases", err)
		}
		n, err := a.Checkout.RecoverAbandoned(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			a.backgroundFailed("recovering abandoned checkouts", err)
		case n > 0:
			a.log.Warn("released abandoned checkouts", "count", n)
		}
		n, err = a.Orders.RecoverRefunds(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			a.backgroundFailed("recovering interrupted refunds", err)
		case n > 0:
			a.log.Warn("finished interrupted refunds", "count", n)
		}
		// Authorizations the processor is about to drop are voided while
		// they can be, and their stock goes back on sale (a batch a tick).
		n, err = a.Orders.ExpireAuthorizations(ctx, a.authorizationExpiry(), 100)
		switch {
		case err != nil && ctx.Err() == nil:
			a.backgroundFailed("expiring authorizations", err)
		case n > 0:
			a.log.Info("voided expired authorizations", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// authorizationExpiry is the authorization-expiry setting; a configuration
// built without it (zero) gets the default, never "expire everything now".
func (a *App) authorizationExpiry() time.Duration {
	if a.cfg.AuthorizationExpiry <= 0 {
		return 144 * time.Hour
	}
	return a.cfg.AuthorizationExpiry
}

// drain keeps serving for the drain-delay setting while /readyz answers 503
// draining, so that a load balancer's health checks (deploy/haproxy: every
// second, out after two failures) take the instance out of its pool before
// its listeners close; until then a request routed here is still served.
// Keep-alives end too: each answer now closes its connection, so a client
// (or the load balancer) opens its next one to an instance that stays.
// /healthz stays 200: the process is alive, only leaving.
func (a *App) drain(api *http.Server) {
	a.health.Drain()
	api.SetKeepAlivesEnabled(false)
	if a.cfg.DrainDelay <= 0 {
		return
	}
	a.log.Info("draining: /readyz answers 503 while requests are still served", "drain_delay", a.cfg.DrainDelay.String())
	time.Sleep(a.cfg.DrainDelay)
	a.log.Info("drained: shutting down", "shutdown_timeout", shutdownTimeout.String())
}

// Listeners are where the servers accept connections; Metrics and Redirect
// (the plain-HTTP listener next to TLS) may be nil.
type Listeners struct {
	API      net.Listener
	Metrics  net.Listener
	Redirect net.Listener
}

// Listen opens the configured addresses.
func (a *App) Listen() (Listeners, error) {
	var ls Listeners
	var err error
	if ls.API, err = net.Listen("tcp", a.cfg.Listen); err != nil {
		return ls, fmt.Errorf("listen: %w", err)
	}
	if a.cfg.MetricsListen != "" {
		if ls.Metrics, err = net.Listen("tcp", a.cfg.MetricsListen); err != nil {
			ls.API.Close()
			return ls, fmt.Errorf("metrics-listen: %w", err)
		}
	}
	if a.cfg.HTTPRedirectListen != "" {
		if ls.Redirect, err = net.Listen("tcp", a.cfg.HTTPRedirectListen); err != nil {
			ls.API.Close()
			if ls.Metrics != nil {
				ls.Metrics.Close()
			}
			return ls, fmt.Errorf("http-redirect-listen: %w", err)
		}
	}
	// The start is recorded once the addresses are held (PCI DSS 10.2.1.6:
	// the audit log starts with the server); a server that cannot record it
	// does not start.
	detail := fmt.Sprintf("listen=%s tls=%t engine=%s", ls.API.Addr(), a.cfg.TLS(), a.DB.Engine())
	// Which build runs where (issue 15, "Inventory"): the start names it.
	if in, err := inventory.Read(); err == nil {
		detail += " version=" + strings.ReplaceAll(in.Short(), " ", "_") + " modules=" + in.ModulesDigest()
	}
	if err := a.recordSettings(context.Background()); err != nil {
		ls.close()
		return Listeners{}, err
	}
	if err := a.Trail.Record(context.Background(), ActionServerStart, a.instance, audit.Success, detail); err != nil {
		ls.close()
		return Listeners{}, err
	}
	return ls, nil
}

// close closes the listeners opened.
func (ls Listeners) close() {
	for _, l := range []net.Listener{ls.API, ls.Metrics, ls.Redirect} {
		if l != nil {
			l.Close()
		}
	}
}

// The server's own records: it started serving, it stopped, the settings
// it runs with and how they differ from the last start's.
const (
	ActionServerStart  = "server.start"
	ActionServerStop   = "server.stop"
	ActionSettings     = "settings.effective"
	ActionSettingsDiff = "settings.change"
)

// recordSettings records the effective settings (secrets redacted) when
// they differ from those the log last recorded, and what changed: a
// configuration's history, in the audit log (issue 15, "configuration
// history").
func (a *App) recordSettings(ctx context.Context) error {
	cur := a.cfg.Effective
	last, err := a.DB.LastAuditRecord(ctx, ActionSettings)
	switch {
	case errors.Is(err, audit.ErrNoRecord):
	case err != nil:
		return err
	case last.Detail == cur:
		return nil
	default:
		if diff := config.Diff(last.Detail, cur); diff != "" {
			if err := a.Trail.Record(ctx, ActionSettingsDiff, a.instance, audit.Success, diff); err != nil {
				return err
			}
		}
	}
	return a.Trail.Record(ctx, ActionSettings, a.instance, audit.Success, cur)
}

// Serve runs the API (and the metrics listener, if any) until ctx ends, then
// stops gracefully: it drains (drain), lets in-flight requests finish within
// shutdownTimeout, and records the stop.
func (a *App) Serve(ctx context.Context, ls Listeners) error {
	if !config.IsLoopback(ls.API.Addr().String()) && !a.cfg.TLS() {
		a.log.Warn("serving plain HTTP on a non-loopback address: credentials and personal data cross the network unencrypted",
			"listen", ls.API.Addr().String(), "setting", "insecure-http")
	}
	if !a.cfg.RateLimits {
		a.log.Warn("rate limits are off: nothing slows password guessing, card testing or scraping",
			"setting", "rate-limits")
	}
	switch a.cfg.WAF {
	case waf.Off:
		a.log.Warn("the web application firewall is off: injection, scanning and protocol attacks reach the API unfiltered",
			"setting", "waf")
	case waf.Detect:
		a.log.Warn("the web application firewall only detects: hostile requests are logged and counted but reach the API",
			"setting", "waf")
	}
	api := &http.Server{
		Handler:           a.handler,
		ReadHeaderTimeout: a.cfg.ReadHeaderTimeout,
		ReadTimeout:       a.cfg.ReadTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}
	servers := []*http.Server{api}
	errc := make(chan error, 3)
	if a.tls != nil {
		// The certificate comes from TLSConfig.GetCertificate (files
		// reloaded on change, or ACME), hence no file names here.
		api.TLSConfig = a.tls.Config()
		go func() { errc <- api.ServeTLS(ls.API, "", "") }()
	} else {
		// Plain HTTP: the raw bytes are watched for requests framed two ways
		// (request smuggling); see httpapi.FramingListener.
		api.ConnContext = httpapi.FramingConnContext
		go func() { errc <- api.Serve(httpapi.FramingListener(ls.API)) }()
	}
	a.log.Info("serving", "listen", ls.API.Addr().String(), "tls", a.cfg.TLS(), "engine", a.DB.Engine())
	a.setListeners(ls)
	if ls.Redirect != nil && a.tls != nil {
		redirect := &http.Server{Handler: a.tls.HTTPHandler(httpapi.HTTPSRedirect(a.cfg.RedirectOrigin())),
			ReadHeaderTimeout: readHeaderTimeout, ReadTimeout: readTimeout, WriteTimeout: writeTimeout,
			IdleTimeout: idleTimeout, MaxHeaderBytes: maxHeaderBytes,
			ErrorLog: slog.NewLogLogger(a.log.Handler(), slog.LevelWarn)}
		servers = append(servers, redirect)
		go func() { errc <- redirect.Serve(ls.Redirect) }()
		a.log.Info("serving the plain-HTTP redirect", "listen", ls.Redirect.Addr().String(), "to", a.cfg.RedirectOrigin())
	}
	if ls.Metrics != nil {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", promhttp.HandlerFor(a.registry, promhttp.HandlerOpts{}))
		metrics := &http.Server{Handler: mux, ReadHeaderTimeout: readHeaderTimeout, ReadTimeout: readTimeout,
			WriteTimeout: writeTimeout, IdleTimeout: idleTimeout, MaxHeaderBytes: maxHeaderBytes}
		servers = append(servers, metrics)
		go func() { errc <- metrics.Serve(ls.Metrics) }()
		a.log.Info("serving metrics", "listen", ls.Metrics.Addr().String())
	}
	recoverCtx, stopRecovery := context.WithCancel(ctx)
	defer stopRecovery()
	// Every instance runs these: each serves its own queue, its own
	// checkout leases, its own caches, or checks the instance itself.
	go a.recoverAbandoned(recoverCtx) // leases of this instance's checkouts; recovery (see there)
	go a.webhooks.Run(recoverCtx)     // deliveries claimed under a lease: N instances deliver N times faster, never twice
	go a.orderMail.Run(recoverCtx)    // the same, for order mail
	go a.signals.Run(recoverCtx)      // this instance's queue of threat signals
	go a.CardBlocks.Run(recoverCtx)   // this instance's cache of the blocks
	go a.Fraud.Run(recoverCtx)        // reloads the stored fraud rules into this instance
	go a.health.Run(recoverCtx)       // this instance's view of its dependencies (/readyz)
	go a.runPosture(recoverCtx)       // checks this instance: its settings, TLS, files, live gate
	go a.runFIM(recoverCtx)           // this machine's files
	// The elected instance runs the rest (jobs, in New).
	elected := make(chan struct{})
	go func() { defer close(elected); a.elector.Run(recoverCtx) }()
	var err error
	select {
	case <-ctx.Done():
		a.drain(api)
	case err = <-errc: // a listener failed: no drain, the instance is already out
	}
	// In-flight requests get shutdownTimeout to finish; the listeners close
	// at once, so a request that arrives now is refused (a load balancer
	// retries it elsewhere: deploy/haproxy).
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	for _, s := range servers {
		if e := s.Shutdown(shutdownCtx); e != nil && err == nil {
			err = e
		}
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	// The last records: the stop, then the checkpoint that signs every
	// record of this run. The elected jobs stop first and leadership is
	// released, so another instance takes over at once.
	stopRecovery()
	select {
	case <-elected:
	case <-shutdownCtx.Done():
	}
	if e := a.Trail.Record(shutdownCtx, ActionServerStop, a.instance, audit.Success, ""); e != nil {
		a.backgroundFailed("audit: recording the stop failed", e)
	}
	if e := a.AuditLog.Stop(shutdownCtx); e != nil {
		a.backgroundFailed("audit log: the checkpoint at stop failed", e)
	}
	return err
}
