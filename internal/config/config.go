// Package config owns Bulwark's settings: their names, defaults and documentation
// (one table, printed by `bulwark settings` and kept in the README), and how they
// are read: command-line flags over BULWARK_* environment variables over an
// optional JSON config file over defaults. Secrets are never taken from the
// command line, where other users of the machine can read them; each has a
// *_FILE form.
package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	netmail "net/mail"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bulwark-shop/bulwark/internal/edge"
	"github.com/bulwark-shop/bulwark/internal/identity/password"
	"github.com/bulwark-shop/bulwark/internal/pricing"
	"github.com/bulwark-shop/bulwark/internal/waf"
	"github.com/bulwark-shop/bulwark/internal/webhook"
)

// Setting documents one setting.
type Setting struct {
	Name    string // the flag, without dashes, and the config file key
	Default string
	Usage   string
	// Secret settings have a -file form and are refused as flag values, except
	// URL-shaped ones (URL true), which may be flags when they hold no credentials.
	Secret bool
	URL    bool
}

// Env is the setting's environment variable.
func (s Setting) Env() string {
	return "BULWARK_" + strings.ToUpper(strings.ReplaceAll(s.Name, "-", "_"))
}

// Settings lists every setting, in the order of the documentation table.
func Settings() []Setting {
	return []Setting{
		{Name: "config", Usage: "JSON file of settings, keyed by setting name"},
		{Name: "listen", Default: "127.0.0.1:8080", Usage: "address of the HTTP API"},
		{Name: "insecure-http", Default: "false", Usage: "allow plain HTTP on a non-loopback address (logged as a warning at every start)"},
		{Name: "tls-cert", Usage: "TLS certificate file (PEM, the chain after the leaf); with tls-key, the API serves TLS. Both files are reloaded when they change (checked at most once a second); a pair that does not load or match is logged and the old one stays"},
		{Name: "tls-key", Usage: "TLS private key file (PEM)"},
		{Name: "tls-min-version", Default: "1.3", Usage: "1.3 (TLS 1.3 only) or 1.2 (also TLS 1.2, with ECDHE and AES-GCM or ChaCha20-Poly1305 suites only)"},
		{Name: "acme-domain", Usage: "comma-separated names to obtain certificates for over ACME (tls-alpn-01 on listen, http-01 on http-redirect-listen); excludes tls-cert; handshakes for other names are refused"},
		{Name: "acme-directory", Default: "https://acme-v02.api.letsencrypt.org/directory", Usage: "ACME directory URL of the certificate authority"},
		{Name: "acme-email", Usage: "contact address given to the ACME certificate authority (optional)"},
		{Name: "acme-ca-file", Usage: "PEM roots to trust for the ACME server instead of the system's (a private CA)"},
		{Name: "http-redirect-listen", Usage: "address of a plain-HTTP listener (with TLS only): page requests get 308 to https on public-url's host (or the first acme-domain), /api/ requests 403 https_required; answers ACME http-01. Empty: off"},
		{Name: "metrics-listen", Default: "127.0.0.1:9090", Usage: "address of the Prometheus /metrics listener, never the API's; empty turns it off"},
		{Name: "data-dir", Default: "./data", Usage: "directory for the SQLite database and generated keys"},
		{Name: "database-url", Secret: true, URL: true, Usage: "postgres:// URL of a PostgreSQL database; empty means SQLite in the data directory"},
		{Name: "vault-database-url", Secret: true, URL: true, Usage: "postgres:// URL of the card vault's own database (another database or schema); required with database-url unless vault-url is set; empty means vault.db in the data directory"},
		{Name: "vault-url", Usage: "https://host:port (or unix:///path of its socket) of a card vault run apart by `bulwark vault serve`; the shop then opens no vault database and holds no vault key (empty: the vault is embedded)"},
		{Name: "vault-client-cert", Usage: "client certificate (PEM) the shop presents to the card vault at vault-url"},
		{Name: "vault-client-key", Usage: "private key (PEM) of vault-client-cert"},
		{Name: "vault-ca", Usage: "CA certificate (PEM) that signed the card vault's server certificate; the only root trusted for vault-url"},
		{Name: "vault-timeout", Default: "10s", Usage: "how long the shop waits for one answer of the card vault at vault-url"},
		{Name: "vault-listen", Default: "127.0.0.1:8443", Usage: "`bulwark vault serve`: address of the vault's internal API (mutual TLS 1.3 only)"},
		{Name: "vault-tls-cert", Usage: "`bulwark vault serve`: the vault's server certificate (PEM)"},
		{Name: "vault-tls-key", Usage: "`bulwark vault serve`: private key (PEM) of vault-tls-cert"},
		{Name: "vault-client-ca", Usage: "`bulwark vault serve`: CA certificate (PEM) whose client certificates the vault accepts; no other client gets in"},
		{Name: "vault-socket", Usage: "`bulwark vault serve`: serve on this Unix socket (absolute path) instead of vault-listen, for a shop on the same machine; peers are checked by user id"},
		{Name: "vault-socket-uid", Usage: "`bulwark vault serve`: the only user id allowed to connect to vault-socket (default: the vault's own)"},
		{Name: "redis-url", Secret: true, URL: true, Usage: "redis:// URL of a Redis server shared by instances (rate limits, dynamic address blocks); reported by /readyz, which stays ready without it (docs/OPERATIONS.md)"},
		{Name: "redis-key-prefix", Default: "bulwark:", Usage: "prefix of every Redis key, so shops or test runs can share one server"},
		{Name: "trusted-proxies", Usage: "comma-separated CIDRs of reverse proxies whose X-Forwarded-For is believed (the client is the right-most address not in them); empty: the direct peer is the client"},
		{Name: "rate-limits", Default: "on", Usage: "on or off; off turns every rate limit off (logged as unsafe at every start)"},
		{Name: "rate-limit-auth", Default: "20/1m:10", Usage: "per client address on login, register, email verification, password reset, passkey and OIDC sign-in and the second factor of an MFA ticket: COUNT/PERIOD:BURST (GCRA)"},
		{Name: "rate-limit-checkout", Default: "30/1m:10", Usage: "on POST /api/v1/checkout and on guest cart creation and checkout, per client address and per account (or guest)"},
		{Name: "rate-limit-admin", Default: "300/1m:60", Usage: "on /api/v1/admin/ routes, per client address and per account"},
		{Name: "rate-limit-reads", Default: "600/1m:100", Usage: "per client address on every other GET"},
		{Name: "rate-limit-writes", Default: "120/1m:30", Usage: "per client address on every other request"},
		{Name: "public-url", Default: "http://localhost:8080", Usage: "the storefront's address: links in mail, and the passkey relying party (its host must be a domain name, not an IP address)"},
		{Name: "mail-from", Default: "Bulwark <no-reply@localhost>", Usage: "sender of the shop's mail; without SMTP, mail is written to data-dir/outbox"},
		{Name: "smtp-url", Secret: true, URL: true, Usage: "smtp://user:password@host:port of the mail server (STARTTLS required); empty writes mail to data-dir/outbox"},
		{Name: "smtp-ca-file", Usage: "PEM roots to trust for the SMTP server instead of the system's"},
		{Name: "kek", Secret: true, Usage: "the key-encryption key as a Tink JSON keyset; empty (and no kek-pkcs11-module) means the file data-dir/kek-keyset.json, made at first start"},
		{Name: "new-kek", Secret: true, Usage: "the next key-encryption key (Tink JSON keyset) for `bulwark keys rotate-kek` with kek; keysets are written under it while it is set"},
		{Name: "kek-pkcs11-module", Usage: "PKCS#11 library (.so) of an HSM holding the key-encryption key; excludes kek"},
		{Name: "kek-pkcs11-token", Usage: "label of the HSM token that holds the key-encryption key"},
		{Name: "kek-pkcs11-pin", Secret: true, Usage: "user PIN of the HSM token"},
		{Name: "kek-pkcs11-key", Default: "bulwark-kek", Usage: "label of the HSM's AES-256 key-encryption key, made in the token (non-extractable) at first start; rotations add -v2, -v3, ..."},
		{Name: "oidc-issuer", Usage: "issuer URL of an OpenID Connect provider for social login; empty turns it off"},
		{Name: "oidc-client-id", Usage: "this shop's client id at the OpenID Connect provider"},
		{Name: "oidc-client-secret", Secret: true, Usage: "this shop's client secret at the OpenID Connect provider"},
		{Name: "oidc-redirect-url", Usage: "the callback URL registered at the provider (default: public-url + /api/v1/auth/oidc/callback)"},
		{Name: "alert-severity", Default: "70", Usage: "findings raised at this severity (1-100) or above alert: the finding.raised webhook event (written with the finding) and mail to alert-email; 101 turns alerts off"},
		{Name: "alert-email", Usage: "the address alert mail goes to (security staff); empty: no alert mail (the webhook event is sent either way)"},
		{Name: "detection", Usage: "a JSON file of threat detectors and responses ({\"detectors\": [{\"type\", \"signals\", \"per\", \"threshold\", \"window\", \"severity\"}], \"responses\": [{\"type\", \"subject\", \"action\", \"base\", \"cap\"}]}, docs/OPERATIONS.md); each list given replaces the built-in one; an invalid file refuses to start; `bulwark detection show` prints the lists in force. Every instance should be given the same file"},
		{Name: "fraud-rules", Usage: "a JSON file of fraud rules ({\"version\", \"mode\": \"enforce\", \"rules\": [{\"name\", \"action\": \"block|review|allow\", \"expr\"}]}, docs/FRAUD.md) that replaces the built-in ones; an invalid file refuses to start; empty: the built-in rules"},
		{Name: "fraud-block-at", Default: "75", Usage: "a trained model's score (0-99) from which a checkout is blocked (docs/FRAUD.md)"},
		{Name: "fraud-review-at", Default: "65", Usage: "a trained model's score (0-99) from which a checkout is held for review; at most fraud-block-at"},
		{Name: "guest-checkout", Default: "off", Usage: "on or off: on lets people buy without an account (POST /api/v1/guest/carts; the order is readable only through a signed link mailed to them); off answers every guest route 404"},
		{Name: "payment-gateway", Default: "simulator", Usage: "the card processor: simulator (built in, answers like a processor's test mode, moves no money) or stripe (PaymentIntents with manual capture; needs stripe-secret-key; docs/OPERATIONS.md)"},
		{Name: "stripe-secret-key", Secret: true, Usage: "the Stripe account's secret key (sk_…, or a restricted rk_… key allowed PaymentMethods, PaymentIntents and Refunds); required with payment-gateway=stripe"},
		{Name: "stripe-webhook-secret", Secret: true, Usage: "signing secret (whsec_…) of the Stripe webhook endpoint pointed at /api/v1/payment-events/stripe; with it the shop takes Stripe's events (checked signature, 5-minute tolerance, each event once) and audits them; empty: that route answers 404"},
		{Name: "stripe-api-base", Default: "https://api.stripe.com", Usage: "URL of Stripe's API: https, or http on a loopback address only (stripe-mock in tests)"},
		{Name: "currency", Default: "EUR", Usage: "ISO 4217 code of the shop's currency"},
		{Name: "currencies", Usage: "ISO 4217 codes the shop sells in, comma-separated; the first is a new cart's default; empty means just currency"},
		{Name: "max-body-bytes", Default: "1048576", Usage: "largest request body accepted (413 past it)"},
		{Name: "max-in-flight", Default: "256", Usage: "requests served at once; past it 503 overloaded with Retry-After (/healthz and /readyz exempt)"},
		{Name: "password-hash-workers", Default: "0", Usage: "password hashes (argon2id, one CPU each) computed at once; 0 means half the CPUs, at least 1, so a login flood leaves the rest to checkout; each is a process of its own (bulwark hash-worker, started at the first sign-in), so a hash's memory is not the server's; on Linux, while sign-ins queue for them, they run below the requests' priority"},
		{Name: "password-hash-queue", Default: "8", Usage: "logins, sign-ups and password changes that may wait for a hash worker; past it 503 overloaded with Retry-After"},
		{Name: "read-header-timeout", Default: "5s", Usage: "a client must send its request headers within this long of connecting (slow-client protection)"},
		{Name: "read-timeout", Default: "30s", Usage: "a client must send its whole request, body included, within this long"},
		{Name: "drain-delay", Default: "5s", Usage: "on SIGTERM, how long /readyz answers 503 draining while requests are still served, so a load balancer's health checks take the instance out before it stops accepting them; then in-flight requests get up to 15s to finish. 0: stop at once (docs/OPERATIONS.md, \"Several instances\")"},
		{Name: "session-idle-timeout", Default: "168h", Usage: "a customer session ends after this long unused"},
		{Name: "session-absolute-timeout", Default: "720h", Usage: "a customer session ends this long after login"},
		{Name: "staff-session-idle-timeout", Default: "15m", Usage: "a staff session ends after this long unused"},
		{Name: "staff-session-absolute-timeout", Default: "12h", Usage: "a staff session ends this long after login"},
		{Name: "pending-order-timeout", Default: "30s", Usage: "the lease of a running checkout, renewed by its instance every third of it: a checkout whose lease ran out (its server stopped) is voided and its stock released, at start-up or when its client retries; also how long a refund, capture, void, cancellation or return receipt holds its order before another may finish it"},
		{Name: "payment-capture", Default: "checkout", Usage: "when a card is charged: checkout (authorized and captured at checkout) or fulfilment (authorized at checkout; captured by staff or by the order's first fulfilment)"},
		{Name: "authorization-expiry", Default: "144h", Usage: "with payment-capture=fulfilment, an order authorized this long ago and not captured is voided, restocked and cancelled (processors drop authorizations after about 7 days)"},
		{Name: "return-window", Default: "720h", Usage: "how long after an order's last fulfilment its customer may ask to return shipped units"},
		{Name: "idempotency-retention", Default: "48h", Usage: "how long answers to Idempotency-Keys are kept (at least 24h)"},
		{Name: "cart-retention", Default: "720h", Usage: "carts untouched this long are deleted"},
		{Name: "audit-checkpoints", Usage: "directory the audit log's signed checkpoints are written to, one read-only file each, never rewritten: keep it (or a copy) where the database's owner cannot write; `bulwark audit verify` checks the log against it. Empty: audit-checkpoints in data-dir"},
		{Name: "audit-checkpoint-interval", Default: "1m", Usage: "a new audit checkpoint is signed this long after the last one when records were added since (and at every stop)"},
		{Name: "audit-checkpoint-records", Default: "1000", Usage: "a new audit checkpoint is signed once this many records were added since the last one, however soon"},
		{Name: "posture-interval", Default: "1h", Usage: "how often each instance runs the posture checks (bulwark posture) and keeps the result; a failing check raises a finding, a falling score alerts; 0 turns the schedule off"},
		{Name: "discovery-interval", Default: "24h", Usage: "how often each instance scans the shop database and the outbox for card numbers, secrets and personal data (bulwark discover); 0 turns the schedule off"},
		{Name: "backup-targets", Usage: "where backups go: a comma-separated list of file:///dir and s3://bucket/prefix?endpoint=host:port URLs, each with an optional retention=720h; three, one of them off the machine, for 3-2-1 (credentials for s3 from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"},
		{Name: "backup-recipients", Usage: "age public keys (age1…, comma-separated) every backup is also encrypted to: keys kept offline, which read a backup without the shop's KEK"},
		{Name: "backup-schedule", Default: "24h", Usage: "how often an instance backs up and then drills the new backup (with backup-targets set); 0 turns the schedule off"},
		{Name: "backup-retention", Default: "720h", Usage: "how long a target keeps backups unless its URL says retention=; the newest is always kept"},
		{Name: "drill-max-age", Default: "24h", Usage: "posture fails when no restore drill succeeded within this long"},
		{Name: "drill-database-url", Secret: true, URL: true, Usage: "PostgreSQL: a scratch database (postgres://…) restore drills restore into and then clean; its role needs CREATE there. Not the shop's database"},
		{Name: "pg-dump", Default: "pg_dump", Usage: "PostgreSQL: the pg_dump program backups run (a path, or a name on PATH); its major version must be at least the server's"},
		{Name: "pg-restore", Default: "pg_restore", Usage: "PostgreSQL: the pg_restore program drills and restores run"},
		{Name: "discovery-rate", Default: "20", Usage: "megabytes a second a discovery scan reads at most (it sleeps to keep to it, so a scan takes a fraction of a core)"},
		{Name: "vulns-db", Usage: "directory of an offline copy of the Go vulnerability database (govulncheck's layout); the posture check build.vulnerabilities matches this build's modules against it, and bulwark vulns reads it by default"},
		{Name: "fim-baseline", Usage: "the signed file integrity baseline (bulwark fim baseline writes it; the server watches the files it lists). Empty: fim-baseline.json in data-dir"},
		{Name: "fim-paths", Usage: "comma-separated files or directories to monitor besides the binary, the settings, certificate, key and rule files and the data directory's layout"},
		{Name: "fim-rescan", Default: "1h", Usage: "how often the server records every monitored file again, besides the kernel's change events"},
		{Name: "settings-baseline", Usage: "a JSON file of settings (the --config format) this shop is declared to run with; each setting that differs fails the posture check settings.baseline, a finding naming it (secrets: only whether one is set)"},
		{Name: "outbox-retention", Default: "168h", Usage: "mail files in data-dir/outbox are deleted after this long"},
		{Name: "reencrypt-batch", Default: "100", Usage: "rows re-encrypted per batch (and per committed cursor step) after a key rotation"},
		{Name: "reencrypt-pause", Default: "100ms", Usage: "pause between re-encryption batches, to spare the database"},
		{Name: "cors-origins", Usage: "comma-separated exact origins (https://shop.example.com) whose browsers may call the API cross-origin, with the session cookie; empty denies CORS"},
		{Name: "pages", Default: "on", Usage: "on or off: the storefront (HTML at /, for browsers) and the staff console at /console; off leaves the JSON API alone (a headless shop with its own storefront)"},
		{Name: "shop-name", Default: "Bulwark shop", Usage: "the shop's name in the storefront's and the console's pages"},
		{Name: "web-theme-dir", Usage: "folder of templates (*.html) and a site.css that replace the embedded files of the same names (docs/OPERATIONS.md, Theming); empty: the built-in look"},
		{Name: "security-contact", Usage: "mailto: or https: address for vulnerability reports, served in /.well-known/security.txt (empty: 404)"},
		{Name: "security-policy", Usage: "https: URL of the vulnerability disclosure policy, named in security.txt"},
		{Name: "ip-deny", Usage: "comma-separated CIDR prefixes or addresses refused everywhere (403 request_blocked)"},
		{Name: "ip-allow", Usage: "comma-separated CIDR prefixes or addresses; when set, only these clients get in"},
		{Name: "admin-ip-allow", Usage: "comma-separated CIDR prefixes or addresses; when set, only these clients reach /api/v1/admin/ routes"},
		{Name: "bot-block", Default: "24h", Usage: "how long a client that fetches the bot trap path is refused"},
		{Name: "waf", Default: "block", Usage: "web application firewall (OWASP Core Rule Set on Coraza): block, detect (log and count, never refuse) or off (logged as unsafe at every start)"},
		{Name: "waf-paranoia", Default: "1", Usage: "Core Rule Set paranoia level, 1 to 4: higher finds more attacks and refuses more legitimate requests"},
		{Name: "waf-inbound-threshold", Default: "5", Usage: "anomaly score at which a request is refused (one critical match scores 5)"},
		{Name: "waf-outbound-threshold", Default: "4", Usage: "anomaly score at which a response is refused (with waf-response-inspection)"},
		{Name: "waf-response-inspection", Default: "off", Usage: "on or off; on runs the Core Rule Set's data-leakage rules on every answer (held back until inspected)"},
		{Name: "waf-exclusions", Default: DefaultWAFExclusions, Usage: "Core Rule Set rules switched off per route, or per JSON or form field of a route: METHOD /path/{wildcard}[ field]=RULEID|FIRST-LAST,...; entries separated by ';' (the default lets catalog staff send HTML product descriptions)"},
		{Name: "egress-allow", Usage: "comma-separated CIDR prefixes or addresses that outbound calls (webhooks) may reach although they are loopback, private, link-local or otherwise internal; plain http is accepted for webhook URLs on these hosts only. Empty: every internal address refused"},
		{Name: "webhook-retry-schedule", Default: webhook.DefaultScheduleText, Usage: "comma-separated waits before each retry of a failed webhook delivery (each with up to a fifth of jitter); when they run out the delivery is dead-lettered"},
		{Name: "webhook-timeout", Default: "15s", Usage: "time limit of one webhook delivery attempt, from connecting to reading the answer"},
		{Name: "webhook-retention", Default: "720h", Usage: "webhook deliveries that succeeded, were dead-lettered or cancelled are deleted (with their attempts) this long after their last change, and events once they are this old and have no delivery left; pending deliveries are always kept"},
		{Name: "tax-mode", Default: "exclusive", Usage: "whether catalog and shipping prices include tax: exclusive (tax is added to the total) or inclusive (tax lines show what the prices hold)"},
		{Name: "log-level", Default: "info", Usage: "debug, info, warn or error"},
	}
}

// Config is the parsed settings.
type Config struct {
	// Effective is every setting as resolved, secrets redacted (see
	// effective), kept as text so that Config stays comparable.
	Effective    string
	Listen       string
	InsecureHTTP bool
	TLSCert      string
	TLSKey       string
	// TLSMinVersion is tlsserve.Version13 or tlsserve.Version12.
	TLSMinVersion string
	// ACMEDomains, comma-separated, turn on automatic certificates; see Domains.
	ACMEDomains, ACMEDirectory, ACMEEmail, ACMECAFile string
	// HTTPRedirectListen is the plain-HTTP listener that sends clients to HTTPS.
	HTTPRedirectListen string
	MetricsListen      string
	DataDir            string
	DatabaseURL        string
	// VaultDatabaseURL is the card vault's own database.
	VaultDatabaseURL string
	RedisURL         string
	RedisKeyPrefix   string
	Currency         string
	// Currencies is the currencies setting as given (comma-separated,
	// checked); SoldCurrencies reads it. A string keeps Config comparable.
	Currencies string
	SMTPURL    string
	SMTPCAFile string
	// TaxMode says whether prices include tax (pricing.TaxInclusive) or not.
	TaxMode pricing.TaxMode
	// VaultURL, when set, is a card vault in a process of its own, reached over
	// mutual TLS with VaultClientCert and VaultClientKey, trusting only VaultCA.
	VaultURL, VaultClientCert, VaultClientKey, VaultCA string
	VaultTimeout                                       time.Duration
	// What `bulwark vault serve` listens on and with which certificates.
	VaultListen, VaultTLSCert, VaultTLSKey, VaultClientCA string
	// VaultSocket, when set, replaces VaultListen and mutual TLS with a Unix
	// socket that only VaultSocketUID (-1: the vault's own user) may connect to.
	VaultSocket    string
	VaultSocketUID int
	// KEK is the key-encryption key (a Tink JSON keyset), or empty for the local file.
	KEK string
	// NewKEK is the next KEK during a rotation of the secret KEK.
	NewKEK string
	// The KEK in a PKCS#11 HSM: library, token label, user PIN, key label.
	KEKPKCS11Module, KEKPKCS11Token, KEKPKCS11PIN, KEKPKCS11Key string
	// Social login through an OpenID Connect provider.
	OIDCIssuer, OIDCClientID, OIDCClientSecret, OIDCRedirectURL string
	// PaymentGateway is "simulator" or "stripe"; with stripe, StripeSecretKey
	// authenticates to the API at StripeAPIBase.
	PaymentGateway, StripeSecretKey, StripeAPIBase string
	// AlertSeverity is the severity from which a raised finding alerts
	// (101: never); AlertEmail where alert mail goes ("" for none).
	AlertSeverity int
	AlertEmail    string
	// FraudBlockAt and FraudReviewAt are a trained model's thresholds.
	FraudBlockAt, FraudReviewAt int
	// FraudRules is the path of the fraud rules file ("" for the built-in
	// rules); the app reads and compiles it at start.
	FraudRules string
	// Detection is the path of the detection settings file ("" for the
	// built-in detectors and responses).
	Detection string
	// GuestCheckout is true when guest-checkout=on.
	GuestCheckout bool
	// StripeWebhookSecret verifies the events Stripe posts ("": not taken).
	StripeWebhookSecret string
	// PublicURL is where links in mail point; MailFrom signs the mail.
	PublicURL    string
	MailFrom     string
	MaxBodyBytes int64
	// Session limits, for customers and for staff.
	SessionIdle          time.Duration
	SessionAbsolute      time.Duration
	StaffSessionIdle     time.Duration
	StaffSessionAbsolute time.Duration
	// Retention of records that no longer serve.
	IdempotencyRetention, CartRetention, OutboxRetention time.Duration
	// PendingOrderTimeout is the lease of a running checkout: one left by a
	// stopped instance is released once it runs out.
	PendingOrderTimeout time.Duration
	// CaptureAtFulfilment (payment-capture=fulfilment): checkouts only
	// authorize; AuthorizationExpiry voids what is not captured in time.
	CaptureAtFulfilment bool
	AuthorizationExpiry time.Duration
	// ReturnWindow is how long after its last fulfilment an order may be returned.
	ReturnWindow time.Duration
	// Background re-encryption after a key rotation: rows per batch, pause between batches.
	ReencryptBatch int
	ReencryptPause time.Duration
	LogLevel       string
	// CORSOrigins are the exact origins allowed cross-origin requests,
	// comma-separated and checked (none: CORS denied); see Origins.
	CORSOrigins string
	// SecurityContact and SecurityPolicy fill /.well-known/security.txt.
	SecurityContact, SecurityPolicy string
	// Pages serves the storefront and the console; ShopName names the shop
	// in them and WebThemeDir replaces their templates and stylesheet.
	Pages                 bool
	ShopName, WebThemeDir string
	// Static client address lists, checked by edge.ParsePrefixes; kept as text
	// so that Config stays comparable.
	IPDeny, IPAllow, AdminIPAllow string
	// BotBlock is how long the bot trap blocks a client.
	BotBlock time.Duration
	// TrustedProxies are the comma-separated CIDRs of the peers whose
	// X-Forwarded-For names the client (validated; edge.ParsePrefixes).
	TrustedProxies string
	// Outbound calls (webhooks): the egress guard's allow list (checked by
	// edge.ParsePrefixes), the retry schedule (webhook.ParseSchedule), both
	// kept as text so that Config stays comparable, and the time limit of
	// one delivery attempt.
	EgressAllow          string
	WebhookRetrySchedule string
	WebhookTimeout       time.Duration
	// AuditCheckpoints is the directory of the audit log's signed
	// checkpoints (empty: data-dir/audit-checkpoints, see
	// AuditCheckpointDir); one is signed every AuditCheckpointEvery or
	// AuditCheckpointRecords records, whichever comes first.
	AuditCheckpoints       string
	AuditCheckpointEvery   time.Duration
	AuditCheckpointRecords int
	// PostureInterval is how often the posture checks run (0: never on
	// a schedule).
	PostureInterval time.Duration
	// DiscoveryInterval is how often discovery runs (0: never on a
	// schedule); DiscoveryRate its megabytes a second.
	DiscoveryInterval time.Duration
	DiscoveryRate     int
	// Backups (issue 16): targets and recipients as given (parsed by
	// internal/backup), the schedule (0: none), the default retention and
	// the age past which posture wants a new restore drill.
	BackupTargets, BackupRecipients              string
	BackupSchedule, BackupRetention, DrillMaxAge time.Duration
	// DrillDatabaseURL is PostgreSQL's scratch database for drills; PGDump
	// and PGRestore the programs.
	DrillDatabaseURL, PGDump, PGRestore string
	// ConfigFile is the settings file read, if any (posture checks its
	// permissions); SettingsBaseline the declared baseline's file.
	ConfigFile, SettingsBaseline string
	// VulnsDB is the offline vulnerability database's directory ("": none).
	VulnsDB string
	// File integrity: the baseline file (see FIMBaselineFile), more
	// paths to monitor, and the full rescan's period.
	FIMBaseline, FIMPaths string
	FIMRescan             time.Duration
	// WebhookRetention is how long the outbox keeps finished deliveries.
	WebhookRetention time.Duration
	// RateLimits is false when rate-limits=off.
	RateLimits bool
	// RateLimit is each route class's limit.
	RateLimit edge.Limits
	// WAF is the web application firewall's mode, paranoia level and anomaly
	// thresholds; WAFExclusions is kept as text (checked by
	// waf.ParseExclusions) so that Config stays comparable.
	WAF                   waf.Mode
	WAFParanoia           int
	WAFInboundThreshold   int
	WAFOutboundThreshold  int
	WAFResponseInspection bool
	WAFExclusions         string
	// Overload shedding: requests served at once, the password-hash pool (0
	// workers: password.DefaultConcurrency) and its queue.
	MaxInFlight, HashWorkers, HashQueue int
	// PasswordHashForTests, when not the zero value, replaces
	// password.DefaultParams as the argon2id cost of new hashes. It is no
	// setting (no flag, variable or file sets it, and Defaults leaves it
	// zero), so no deployment can lower its cost: only Go code sets it, and
	// only the end-to-end tests do, which hash hundreds of passwords under
	// the race detector and test the production cost where it matters.
	PasswordHashForTests password.Params
	// Slow-client protection: how long a client may take over its headers,
	// and over its whole request.
	ReadHeaderTimeout, ReadTimeout time.Duration
	// DrainDelay is how long a stopping server answers /readyz 503
	// draining while it still serves, before it shuts its listeners (0:
	// no drain).
	DrainDelay time.Duration
}

// DefaultWAFExclusions lets catalog staff write HTML in product descriptions:
// only the description field, only on the two staff catalog write routes
// and the console's two product forms, only the cross-site scripting rules
// (941xxx). See docs/SECURITY.md.
const DefaultWAFExclusions = "POST /api/v1/admin/products description=941000-941999;" +
	"PATCH /api/v1/admin/products/{id} description=941000-941999;" +
	"POST /console/catalog/products description=941000-941999;" +
	"POST /console/catalog/products/{id} description=941000-941999"

// AuditCheckpointDir is where the audit log's checkpoints are written.
func (c Config) AuditCheckpointDir() string {
	if c.AuditCheckpoints != "" {
		return c.AuditCheckpoints
	}
	return filepath.Join(c.DataDir, "audit-checkpoints")
}

// FIMBaselineFile is the file integrity baseline's path.
func (c Config) FIMBaselineFile() string {
	if c.FIMBaseline != "" {
		return c.FIMBaseline
	}
	return filepath.Join(c.DataDir, "fim-baseline.json")
}

// TLS reports whether the API serves TLS, from files or over ACME.
func (c Config) TLS() bool { return c.TLSCert != "" || c.ACMEDomains != "" }

// Domains returns the names of acme-domain.
func (c Config) Domains() []string { return splitList(c.ACMEDomains) }

// RedirectOrigin is where the plain-HTTP listener sends page requests:
// public-url's origin when it is https, else the first ACME domain; empty when
// neither is known (and the listener is refused).
func (c Config) RedirectOrigin() string {
	if u, err := url.Parse(c.PublicURL); err == nil && u.Scheme == "https" && u.Host != "" {
		return "https://" + u.Host
	}
	if d := c.Domains(); len(d) > 0 {
		return "https://" + d[0]
	}
	return ""
}

// Flags binds the settings to a flag set; call Load after fs.Parse.
type Flags struct {
	fs     *flag.FlagSet
	values map[string]*string
}

// Bind defines a flag for every setting on fs (and a -file flag for each secret).
func Bind(fs *flag.FlagSet) *Flags {
	f := &Flags{fs: fs, values: map[string]*string{}}
	for _, s := range Settings() {
		usage := s.Usage
		if s.Default != "" {
			usage += " (default " + s.Default + ")"
		}
		if s.Secret {
			f.values[s.Name+"-file"] = fs.String(s.Name+"-file", "", "file holding "+s.Name)
			if s.URL {
				usage += "; only without credentials, use " + s.Env() + " or -" + s.Name + "-file for those"
			} else {
				usage += "; a secret: use " + s.Env() + " or -" + s.Name + "-file, never this flag"
			}
		}
		v := new(string)
		if s.Default == "true" || s.Default == "false" {
			fs.Var((*boolFlag)(v), s.Name, usage)
		} else {
			fs.StringVar(v, s.Name, "", usage)
		}
		f.values[s.Name] = v
	}
	return f
}

// boolFlag lets a boolean setting be given as a bare flag (--insecure-http)
// while its value stays text like every other source's.
type boolFlag string

func (b *boolFlag) String() string     { return string(*b) }
func (b *boolFlag) Set(s string) error { *b = boolFlag(s); return nil }
func (b *boolFlag) IsBoolFlag() bool   { return true }

// Load resolves every setting from the parsed flags, the environment (getenv)
// and the config file, then validates the result.
func (f *Flags) Load(getenv func(string) string) (Config, error) {
	set := map[string]bool{}
	f.fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })

	// lookup returns a setting's value from the first source that has it.
	file := map[string]string{}
	lookup := func(s Setting) (string, error) {
		if s.Secret {
			if set[s.Name] {
				if err := refuseCredentials(s, *f.values[s.Name]); err != nil {
					return "", err
				}
				return *f.values[s.Name], nil
			}
			if set[s.Name+"-file"] {
				return readSecretFile(*f.values[s.Name+"-file"])
			}
			if v := getenv(s.Env() + "_FILE"); v != "" {
				return readSecretFile(v)
			}
		} else if set[s.Name] {
			return *f.values[s.Name], nil
		}
		if v, ok := lookupEnv(getenv, s.Env()); ok {
			return v, nil
		}
		if v, ok := file[s.Name]; ok {
			return v, nil
		}
		return s.Default, nil
	}

	configPath, err := lookup(Settings()[0])
	if err != nil {
		return Config{}, err
	}
	if configPath != "" {
		if file, err = readConfigFile(configPath); err != nil {
			return Config{}, err
		}
	}
	v := map[string]string{}
	for _, s := range Settings() {
		if v[s.Name], err = lookup(s); err != nil {
			return Config{}, err
		}
	}
	return parse(v)
}

// lookupEnv treats an empty variable as unset; to empty a setting that has a
// default (metrics-listen), use the flag or the config file.
func lookupEnv(getenv func(string) string, name string) (string, bool) {
	v := getenv(name)
	return v, v != ""
}

func refuseCredentials(s Setting, value string) error {
	if !s.URL {
		return fmt.Errorf("-%s is a secret, which other users can read in the process list: set %s or -%s-file instead", s.Name, s.Env(), s.Name)
	}
	u, err := url.Parse(value)
	if err != nil {
		return fmt.Errorf("-%s: not a URL", s.Name)
	}
	if _, has := u.User.Password(); has || u.Query().Has("password") {
		return fmt.Errorf("-%s holds a password, which other users can read in the process list: set %s or -%s-file instead", s.Name, s.Env(), s.Name)
	}
	return nil
}

func readSecretFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read secret file: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// readConfigFile reads a JSON object of setting names to strings, numbers or
// booleans. Unknown names and duplicate keys are errors, so a typo never
// silently leaves a default in place.
func readConfigFile(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config file: %w", err)
	}
	out, err := ParseFile(b)
	if err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	return out, nil
}

// Drift compares the effective settings (Config.Effective) with a
// declared baseline (a config file's settings) and returns, in the order
// of the settings table, each the baseline names whose running value
// differs: "name: baseline X, running Y". A secret is compared by whether
// it is set, never by value.
func Drift(effective string, baseline map[string]string) []string {
	running := map[string]string{}
	for _, line := range strings.Split(effective, "\n") {
		if name, val, ok := strings.Cut(line, "="); ok {
			running[name] = val
		}
	}
	var out []string
	for _, s := range Settings() {
		want, ok := baseline[s.Name]
		if !ok {
			continue
		}
		got := running[s.Name]
		if s.Secret {
			if (want != "") == (got != "") {
				continue
			}
			want, got = setOrNot(want), setOrNot(got)
		}
		if want != got {
			out = append(out, fmt.Sprintf("%s: baseline %q, running %q", s.Name, want, got))
		}
	}
	return out
}

func setOrNot(v string) string {
	if v == "" {
		return "(not set)"
	}
	return "(set)"
}

// ParseFile parses the content of a config file.
func ParseFile(b []byte) (map[string]string, error) {
	known := map[string]bool{}
	for _, s := range Settings() {
		known[s.Name] = s.Name != "config"
	}
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	if dec.More() {
		return nil, errors.New("data after the JSON object")
	}
	out := map[string]string{}
	for k, msg := range raw {
		if !known[k] {
			return nil, fmt.Errorf("unknown setting %q", k)
		}
		var val any
		d := json.NewDecoder(bytes.NewReader(msg))
		d.UseNumber()
		if err := d.Decode(&val); err != nil {
			return nil, fmt.Errorf("setting %q: %w", k, err)
		}
		switch x := val.(type) {
		case string:
			out[k] = x
		case bool:
			out[k] = strconv.FormatBool(x)
		case json.Number:
			out[k] = x.String()
		default:
			return nil, fmt.Errorf("setting %q: want a string, number or boolean", k)
		}
	}
	return out, nil
}

var currencyShape = regexp.MustCompile(`^[A-Z]{3}$`)

// SoldCurrencies are the currencies the shop sells in, its default first:
// the currencies setting, or just currency when that is empty.
func (c Config) SoldCurrencies() []string {
	if c.Currencies == "" {
		return []string{c.Currency}
	}
	var out []string
	for _, cur := range strings.Split(c.Currencies, ",") {
		out = append(out, strings.TrimSpace(cur))
	}
	return out
}

func parse(v map[string]string) (Config, error) {
	var errs []error
	boolean := func(name string) bool {
		b, err := strconv.ParseBool(v[name])
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: want true or false", name))
		}
		return b
	}
	duration := func(name string) time.Duration {
		d, err := time.ParseDuration(v[name])
		if err != nil || d <= 0 {
			errs = append(errs, fmt.Errorf("%s: want a positive duration such as 15m or 12h", name))
		}
		return d
	}
	// durationOrOff is a duration where 0 turns the schedule off.
	durationOrOff := func(name string) time.Duration {
		if v[name] == "0" {
			return 0
		}
		return duration(name)
	}
	c := Config{
		Listen:               v["listen"],
		InsecureHTTP:         boolean("insecure-http"),
		TLSCert:              v["tls-cert"],
		TLSKey:               v["tls-key"],
		TLSMinVersion:        v["tls-min-version"],
		ACMEDomains:          v["acme-domain"],
		ACMEDirectory:        v["acme-directory"],
		ACMEEmail:            v["acme-email"],
		ACMECAFile:           v["acme-ca-file"],
		HTTPRedirectListen:   v["http-redirect-listen"],
		MetricsListen:        v["metrics-listen"],
		DataDir:              v["data-dir"],
		DatabaseURL:          v["database-url"],
		VaultDatabaseURL:     v["vault-database-url"],
		VaultURL:             v["vault-url"],
		VaultClientCert:      v["vault-client-cert"],
		VaultClientKey:       v["vault-client-key"],
		VaultCA:              v["vault-ca"],
		VaultTimeout:         duration("vault-timeout"),
		VaultListen:          v["vault-listen"],
		VaultTLSCert:         v["vault-tls-cert"],
		VaultTLSKey:          v["vault-tls-key"],
		VaultClientCA:        v["vault-client-ca"],
		VaultSocket:          v["vault-socket"],
		VaultSocketUID:       -1,
		RedisURL:             v["redis-url"],
		RedisKeyPrefix:       v["redis-key-prefix"],
		Currency:             v["currency"],
		TaxMode:              pricing.TaxMode(v["tax-mode"]),
		PublicURL:            v["public-url"],
		SMTPURL:              v["smtp-url"],
		KEK:                  v["kek"],
		NewKEK:               v["new-kek"],
		KEKPKCS11Module:      v["kek-pkcs11-module"],
		KEKPKCS11Token:       v["kek-pkcs11-token"],
		KEKPKCS11PIN:         v["kek-pkcs11-pin"],
		KEKPKCS11Key:         v["kek-pkcs11-key"],
		OIDCIssuer:           v["oidc-issuer"],
		OIDCClientID:         v["oidc-client-id"],
		OIDCClientSecret:     v["oidc-client-secret"],
		OIDCRedirectURL:      v["oidc-redirect-url"],
		PaymentGateway:       v["payment-gateway"],
		StripeSecretKey:      v["stripe-secret-key"],
		StripeWebhookSecret:  v["stripe-webhook-secret"],
		StripeAPIBase:        v["stripe-api-base"],
		SMTPCAFile:           v["smtp-ca-file"],
		MailFrom:             v["mail-from"],
		SessionIdle:          duration("session-idle-timeout"),
		SessionAbsolute:      duration("session-absolute-timeout"),
		StaffSessionIdle:     duration("staff-session-idle-timeout"),
		StaffSessionAbsolute: duration("staff-session-absolute-timeout"),
		PendingOrderTimeout:  duration("pending-order-timeout"),
		CaptureAtFulfilment:  v["payment-capture"] == "fulfilment",
		FraudRules:           v["fraud-rules"],
		Detection:            v["detection"],
		AlertEmail:           v["alert-email"],
		AuthorizationExpiry:  duration("authorization-expiry"),
		ReturnWindow:         duration("return-window"),
		IdempotencyRetention: duration("idempotency-retention"),
		CartRetention:        duration("cart-retention"),
		OutboxRetention:      duration("outbox-retention"),
		AuditCheckpoints:     v["audit-checkpoints"],
		AuditCheckpointEvery: duration("audit-checkpoint-interval"),
		PostureInterval:      durationOrOff("posture-interval"),
		DiscoveryInterval:    durationOrOff("discovery-interval"),
		BackupTargets:        v["backup-targets"],
		BackupRecipients:     v["backup-recipients"],
		BackupSchedule:       durationOrOff("backup-schedule"),
		BackupRetention:      duration("backup-retention"),
		DrillMaxAge:          duration("drill-max-age"),
		DrillDatabaseURL:     v["drill-database-url"],
		PGDump:               v["pg-dump"],
		PGRestore:            v["pg-restore"],
		ConfigFile:           v["config"],
		SettingsBaseline:     v["settings-baseline"],
		VulnsDB:              v["vulns-db"],
		FIMBaseline:          v["fim-baseline"],
		FIMPaths:             v["fim-paths"],
		FIMRescan:            duration("fim-rescan"),
		ReencryptPause:       duration("reencrypt-pause"),
		LogLevel:             v["log-level"],
		SecurityContact:      v["security-contact"],
		ShopName:             v["shop-name"],
		WebThemeDir:          v["web-theme-dir"],
		CORSOrigins:          v["cors-origins"],
		IPDeny:               v["ip-deny"],
		IPAllow:              v["ip-allow"],
		AdminIPAllow:         v["admin-ip-allow"],
		SecurityPolicy:       v["security-policy"],
		BotBlock:             duration("bot-block"),
		ReadHeaderTimeout:    duration("read-header-timeout"),
		ReadTimeout:          duration("read-timeout"),
		DrainDelay:           durationOrOff("drain-delay"),
	}
	for _, x := range []struct {
		name     string
		min, max int
		dst      *int
	}{{"max-in-flight", 1, 1 << 20, &c.MaxInFlight}, {"password-hash-workers", 0, 1024, &c.HashWorkers}, {"password-hash-queue", 0, 1 << 16, &c.HashQueue},
		{"alert-severity", 1, 101, &c.AlertSeverity}, {"fraud-block-at", 1, 99, &c.FraudBlockAt}, {"fraud-review-at", 1, 99, &c.FraudReviewAt},
		{"audit-checkpoint-records", 1, 1 << 30, &c.AuditCheckpointRecords}, {"discovery-rate", 1, 10_000, &c.DiscoveryRate}} {
		n, err := strconv.Atoi(v[x.name])
		if err != nil || n < x.min || n > x.max {
			errs = append(errs, fmt.Errorf("%s: want a number from %d to %d", x.name, x.min, x.max))
		}
		*x.dst = n
	}
	if c.FraudReviewAt > c.FraudBlockAt {
		errs = append(errs, errors.New("fraud-review-at: at most fraud-block-at"))
	}
	if c.AlertEmail != "" {
		if a, err := netmail.ParseAddress(c.AlertEmail); err != nil || a.Name != "" || strings.ContainsAny(c.AlertEmail, "\r\n") {
			errs = append(errs, errors.New("alert-email: want one plain address, such as security@example.com"))
		}
	}
	errs = append(errs, c.parseEdge(v)...)
	errs = append(errs, c.parseWAF(v)...)
	n, err := strconv.ParseInt(v["max-body-bytes"], 10, 64)
	if err != nil || n < 1024 || n > 64<<20 {
		errs = append(errs, errors.New("max-body-bytes: want a number of bytes from 1024 to 67108864"))
	}
	c.MaxBodyBytes = n
	batch, err := strconv.Atoi(v["reencrypt-batch"])
	if err != nil || batch < 1 || batch > 10000 {
		errs = append(errs, errors.New("reencrypt-batch: want a number of rows from 1 to 10000"))
	}
	c.ReencryptBatch = batch
	c.EgressAllow, c.WebhookRetrySchedule, c.WebhookTimeout = v["egress-allow"], v["webhook-retry-schedule"], duration("webhook-timeout")
	c.WebhookRetention = duration("webhook-retention")
	if _, err := edge.ParsePrefixes(c.EgressAllow); err != nil {
		errs = append(errs, fmt.Errorf("egress-allow: want comma-separated CIDRs such as 127.0.0.1/32: %w", err))
	}
	if _, err := webhook.ParseSchedule(c.WebhookRetrySchedule); err != nil {
		errs = append(errs, fmt.Errorf("webhook-retry-schedule: want comma-separated durations such as 5s,5m,30m: %w", err))
	}
	c.TrustedProxies = v["trusted-proxies"]
	if _, err := edge.ParsePrefixes(c.TrustedProxies); err != nil {
		errs = append(errs, fmt.Errorf("trusted-proxies: want comma-separated CIDRs such as 10.0.0.0/8: %w", err))
	}
	switch v["guest-checkout"] {
	case "on":
		c.GuestCheckout = true
	case "off":
	default:
		errs = append(errs, errors.New("guest-checkout: want on or off"))
	}
	switch v["pages"] {
	case "on":
		c.Pages = true
	case "off":
	default:
		errs = append(errs, errors.New("pages: want on or off"))
	}
	switch v["rate-limits"] {
	case "on":
		c.RateLimits = true
	case "off":
	default:
		errs = append(errs, errors.New("rate-limits: want on or off"))
	}
	for _, class := range edge.Classes() {
		name := "rate-limit-" + string(class)
		if *c.RateLimit.Of(class), err = edge.ParseLimit(v[name]); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	}
	if !currencyShape.MatchString(c.Currency) {
		errs = append(errs, errors.New("currency: want an ISO 4217 code such as EUR"))
	}
	if pc := v["payment-capture"]; pc != "checkout" && pc != "fulfilment" {
		errs = append(errs, errors.New("payment-capture: want checkout or fulfilment"))
	}
	if c.AuthorizationExpiry < time.Hour {
		errs = append(errs, errors.New("authorization-expiry: want at least 1h"))
	}
	if _, ok := pricing.ParseTaxMode(string(c.TaxMode)); !ok {
		errs = append(errs, errors.New("tax-mode: want exclusive or inclusive"))
	}
	c.Currencies = v["currencies"]
	if c.Currencies != "" {
		var seen []string
		for _, cur := range strings.Split(c.Currencies, ",") {
			cur = strings.TrimSpace(cur)
			switch {
			case !currencyShape.MatchString(cur):
				errs = append(errs, fmt.Errorf("currencies: %q is not an ISO 4217 code such as EUR", cur))
			case slices.Contains(seen, cur):
				errs = append(errs, fmt.Errorf("currencies: %s is listed twice", cur))
			default:
				seen = append(seen, cur)
			}
		}
		if len(seen) > 20 {
			errs = append(errs, errors.New("currencies: at most 20"))
		}
		if len(seen) > 0 {
			c.Currency = seen[0] // the default is the first sold
		}
	}
	errs = append(errs, c.checkTLS()...)
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("listen: want host:port: %w", err))
	} else if !IsLoopback(c.Listen) && !c.TLS() && !c.InsecureHTTP {
		errs = append(errs, fmt.Errorf("listen %s is not a loopback address: configure tls-cert and tls-key or acme-domain, or accept plain HTTP by name with -insecure-http", c.Listen))
	}
	if c.MetricsListen != "" {
		if _, _, err := net.SplitHostPort(c.MetricsListen); err != nil {
			errs = append(errs, fmt.Errorf("metrics-listen: want host:port: %w", err))
		}
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("data-dir: must not be empty"))
	}
	if c.DatabaseURL != "" && !strings.HasPrefix(c.DatabaseURL, "postgres://") && !strings.HasPrefix(c.DatabaseURL, "postgresql://") {
		errs = append(errs, errors.New("database-url: want a postgres:// URL"))
	}
	if c.VaultDatabaseURL != "" && !strings.HasPrefix(c.VaultDatabaseURL, "postgres://") && !strings.HasPrefix(c.VaultDatabaseURL, "postgresql://") {
		errs = append(errs, errors.New("vault-database-url: want a postgres:// URL"))
	}
	if c.VaultURL != "" {
		u, err := url.Parse(c.VaultURL)
		socket := err == nil && u.Scheme == "unix" && u.Host == "" && strings.HasPrefix(u.Path, "/") && u.RawQuery == ""
		if !socket && (err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "") {
			errs = append(errs, errors.New("vault-url: want https://host:port or unix:///path of `bulwark vault serve`"))
		}
		if !socket && (c.VaultClientCert == "" || c.VaultClientKey == "" || c.VaultCA == "") {
			errs = append(errs, errors.New("vault-url: needs vault-client-cert, vault-client-key and vault-ca (the vault speaks mutual TLS only)"))
		}
		if c.VaultDatabaseURL != "" {
			errs = append(errs, errors.New("vault-database-url: with vault-url the shop opens no vault database; give it to `bulwark vault serve` instead"))
		}
	}
	if _, _, err := net.SplitHostPort(c.VaultListen); err != nil {
		errs = append(errs, fmt.Errorf("vault-listen: want host:port: %w", err))
	}
	if c.VaultSocket != "" && !strings.HasPrefix(c.VaultSocket, "/") {
		errs = append(errs, errors.New("vault-socket: want an absolute path"))
	}
	if v["vault-socket-uid"] != "" {
		uid, err := strconv.Atoi(v["vault-socket-uid"])
		if err != nil || uid < 0 {
			errs = append(errs, errors.New("vault-socket-uid: want a user id (a number)"))
		}
		c.VaultSocketUID = uid
	}
	if (c.VaultTLSCert == "") != (c.VaultTLSKey == "") {
		errs = append(errs, errors.New("vault-tls-cert and vault-tls-key go together"))
	}
	if c.DatabaseURL != "" && c.VaultDatabaseURL == "" && c.VaultURL == "" {
		errs = append(errs, errors.New("vault-database-url: with database-url the card vault needs a PostgreSQL database (or schema) of its own"))
	}
	if c.DrillDatabaseURL != "" && (c.DrillDatabaseURL == c.DatabaseURL || c.DrillDatabaseURL == c.VaultDatabaseURL ||
		!strings.HasPrefix(c.DrillDatabaseURL, "postgres://") && !strings.HasPrefix(c.DrillDatabaseURL, "postgresql://")) {
		errs = append(errs, errors.New("drill-database-url: a postgres:// URL of a scratch database, never the shop's or the vault's: a drill replaces what it restores there"))
	}
	if c.VaultDatabaseURL != "" && c.VaultDatabaseURL == c.DatabaseURL {
		errs = append(errs, errors.New("vault-database-url: must differ from database-url, so card ciphertexts never share the shop's database"))
	}
	if c.RedisURL != "" && !strings.HasPrefix(c.RedisURL, "redis://") && !strings.HasPrefix(c.RedisURL, "rediss://") {
		errs = append(errs, errors.New("redis-url: want a redis:// or rediss:// URL"))
	}
	if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, errors.New("public-url: want an http:// or https:// URL"))
	}
	if strings.ContainsAny(c.MailFrom, "\r\n") || c.MailFrom == "" {
		errs = append(errs, errors.New("mail-from: want one line such as Shop <shop@example.com>"))
	}
	if c.IdempotencyRetention > 0 && c.IdempotencyRetention < 24*time.Hour {
		errs = append(errs, errors.New("idempotency-retention: at least 24h, so a client's retry a day later is still recognised"))
	}
	errs = append(errs, c.checkKEK()...)
	if c.OIDCIssuer != "" && c.OIDCClientID == "" {
		errs = append(errs, errors.New("oidc-client-id: needed with oidc-issuer"))
	}
	if c.OIDCIssuer != "" && c.OIDCRedirectURL == "" {
		c.OIDCRedirectURL = strings.TrimRight(c.PublicURL, "/") + "/api/v1/auth/oidc/callback"
	}
	errs = append(errs, c.checkPayment()...)
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, errors.New("log-level: want debug, info, warn or error"))
	}
	c.Effective = effective(v)
	return c, errors.Join(errs...)
}

// Diff describes how two Effective listings differ: "name: old -> new" for
// each setting whose value changed, "; " between them, in the settings'
// order. A name only one side has is shown against "(absent)".
func Diff(before, after string) string {
	parse := func(s string) (map[string]string, []string) {
		m := map[string]string{}
		var order []string
		for _, line := range strings.Split(s, "\n") {
			if name, val, ok := strings.Cut(line, "="); ok {
				m[name] = val
				order = append(order, name)
			}
		}
		return m, order
	}
	b, bOrder := parse(before)
	a, aOrder := parse(after)
	var out []string
	seen := map[string]bool{}
	for _, name := range append(aOrder, bOrder...) {
		if seen[name] {
			continue
		}
		seen[name] = true
		old, inBefore := b[name]
		cur, inAfter := a[name]
		if !inBefore {
			old = "(absent)"
		}
		if !inAfter {
			cur = "(absent)"
		}
		if old != cur {
			out = append(out, name+": "+quoteEmpty(old)+" -> "+quoteEmpty(cur))
		}
	}
	return strings.Join(out, "; ")
}

func quoteEmpty(s string) string {
	if s == "" {
		return `""`
	}
	return s
}

// effective lists every setting's value as it was resolved, one
// "name=value" line each in the settings' order, a secret's value replaced
// by "(set)" when it has one: what the audit log records at each start.
func effective(v map[string]string) string {
	var b strings.Builder
	for _, s := range Settings() {
		val := v[s.Name]
		if s.Secret && val != "" {
			val = "(set)"
		}
		b.WriteString(s.Name + "=" + strings.NewReplacer("\n", " ", "\r", " ").Replace(val) + "\n")
	}
	return b.String()
}

// checkPayment checks the card processor's settings: a known gateway, and
// for Stripe a key and an API URL the key may be sent to.
func (c Config) checkPayment() []error {
	var errs []error
	switch c.PaymentGateway {
	case PaymentSimulator:
	case PaymentStripe:
		if c.StripeSecretKey == "" {
			errs = append(errs, errors.New("stripe-secret-key: needed with payment-gateway=stripe (set BULWARK_STRIPE_SECRET_KEY or BULWARK_STRIPE_SECRET_KEY_FILE)"))
		}
	default:
		errs = append(errs, errors.New("payment-gateway: want simulator or stripe"))
	}
	if c.StripeWebhookSecret != "" && !strings.HasPrefix(c.StripeWebhookSecret, "whsec_") {
		errs = append(errs, errors.New("stripe-webhook-secret: want the endpoint's signing secret, which starts with whsec_"))
	}
	u, err := url.Parse(c.StripeAPIBase)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || (u.Path != "" && u.Path != "/") ||
		(u.Scheme != "https" && !(u.Scheme == "http" && IsLoopback(u.Host))) {
		errs = append(errs, errors.New("stripe-api-base: want an https:// URL (http:// only on a loopback address), with no path"))
	}
	return errs
}

// The payment gateways.
const (
	PaymentSimulator = "simulator"
	PaymentStripe    = "stripe"
)

// parseEdge reads the settings of the edge layer: CORS origins, security.txt and
// the client address lists.
func (c *Config) parseEdge(v map[string]string) []error {
	var errs []error
	for _, o := range c.Origins() {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || o != u.Scheme+"://"+u.Host {
			errs = append(errs, fmt.Errorf("cors-origins: %q is not an exact origin such as https://shop.example.com", o))
		}
	}
	if s := c.SecurityContact; s != "" && !strings.HasPrefix(s, "mailto:") && !strings.HasPrefix(s, "https://") {
		errs = append(errs, errors.New("security-contact: want a mailto: or https:// URI"))
	}
	if s := c.SecurityContact + c.SecurityPolicy; strings.ContainsAny(s, "\r\n") {
		errs = append(errs, errors.New("security-contact, security-policy: one line each"))
	}
	if s := c.SecurityPolicy; s != "" && !strings.HasPrefix(s, "https://") {
		errs = append(errs, errors.New("security-policy: want an https:// URL"))
	}
	for _, name := range []string{"ip-deny", "ip-allow", "admin-ip-allow"} {
		if _, err := edge.ParsePrefixes(v[name]); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	}
	return errs
}

// WAFConfig is the web application firewall's configuration from these
// settings, with the API's body limit. Load has validated it.
func (c Config) WAFConfig() (waf.Config, error) {
	exclusions, err := waf.ParseExclusions(c.WAFExclusions)
	if err != nil {
		return waf.Config{}, fmt.Errorf("waf-exclusions: %w", err)
	}
	return waf.Config{
		Mode: c.WAF, Paranoia: c.WAFParanoia,
		InboundThreshold: c.WAFInboundThreshold, OutboundThreshold: c.WAFOutboundThreshold,
		ResponseInspection: c.WAFResponseInspection, BodyLimit: c.MaxBodyBytes,
		Exclusions: exclusions,
		// public-url's host is a domain name (the passkey relying party), which
		// 920350 never scores, so only the listen address is named here.
		OwnHosts: waf.OwnHosts(c.Listen),
	}, nil
}

// parseWAF reads the waf-* settings.
func (c *Config) parseWAF(v map[string]string) []error {
	var errs []error
	var err error
	if c.WAF, err = waf.ParseMode(v["waf"]); err != nil {
		errs = append(errs, fmt.Errorf("waf: %w", err))
	}
	for _, n := range []struct {
		name     string
		dst      *int
		min, max int
	}{
		{"waf-paranoia", &c.WAFParanoia, 1, 4},
		{"waf-inbound-threshold", &c.WAFInboundThreshold, 1, 10000},
		{"waf-outbound-threshold", &c.WAFOutboundThreshold, 1, 10000},
	} {
		if *n.dst, err = strconv.Atoi(v[n.name]); err != nil || *n.dst < n.min || *n.dst > n.max {
			errs = append(errs, fmt.Errorf("%s: want a number from %d to %d", n.name, n.min, n.max))
		}
	}
	switch v["waf-response-inspection"] {
	case "on":
		c.WAFResponseInspection = true
	case "off":
	default:
		errs = append(errs, errors.New("waf-response-inspection: want on or off"))
	}
	c.WAFExclusions = v["waf-exclusions"]
	if _, err := waf.ParseExclusions(c.WAFExclusions); err != nil {
		errs = append(errs, fmt.Errorf("waf-exclusions: %w", err))
	}
	return errs
}

// Origins returns the CORS origins, one per entry of cors-origins.
func (c Config) Origins() []string { return splitList(c.CORSOrigins) }

// splitList returns the non-empty entries of a comma-separated setting.
func splitList(s string) []string {
	var out []string
	for _, o := range strings.Split(s, ",") {
		if o = strings.TrimSpace(o); o != "" {
			out = append(out, o)
		}
	}
	return out
}

// acmeName is a DNS name autocert can obtain a certificate for: at least two
// labels of letters, digits and hyphens (no wildcard, no IP address).
var acmeName = regexp.MustCompile(`^(?i:[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.(?i:[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?))+$`)

// checkTLS refuses inconsistent TLS settings: one source of certificates,
// a known minimum version, and a redirect listener only next to TLS.
func (c Config) checkTLS() []error {
	var errs []error
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("tls-cert and tls-key go together"))
	}
	if c.TLSCert != "" && c.ACMEDomains != "" {
		errs = append(errs, errors.New("tls-cert and acme-domain: choose one source of certificates"))
	}
	if c.TLSMinVersion != "1.3" && c.TLSMinVersion != "1.2" {
		errs = append(errs, fmt.Errorf("tls-min-version %q: want 1.3 or 1.2 (nothing older is offered)", c.TLSMinVersion))
	}
	for _, d := range c.Domains() {
		if !acmeName.MatchString(d) || len(d) > 253 || net.ParseIP(d) != nil {
			errs = append(errs, fmt.Errorf("acme-domain %q: want a DNS name such as shop.example.com", d))
		}
	}
	if c.ACMEDomains != "" {
		if u, err := url.Parse(c.ACMEDirectory); err != nil || u.Scheme != "https" || u.Host == "" {
			errs = append(errs, errors.New("acme-directory: want an https:// URL"))
		}
	}
	if c.ACMEDomains == "" && (c.ACMEEmail != "" || c.ACMECAFile != "") {
		errs = append(errs, errors.New("acme-email and acme-ca-file need acme-domain"))
	}
	if c.HTTPRedirectListen != "" {
		if _, _, err := net.SplitHostPort(c.HTTPRedirectListen); err != nil {
			errs = append(errs, fmt.Errorf("http-redirect-listen: want host:port: %w", err))
		}
		if !c.TLS() {
			errs = append(errs, errors.New("http-redirect-listen: only with TLS (tls-cert or acme-domain); without it there is no HTTPS to send clients to"))
		} else if c.RedirectOrigin() == "" {
			errs = append(errs, errors.New("http-redirect-listen: set public-url to the https:// address of the shop (or acme-domain), where clients are sent; the Host header is never trusted for it"))
		}
	}
	return errs
}

// checkKEK allows one source of the key-encryption key, each complete.
func (c Config) checkKEK() []error {
	var errs []error
	if c.KEK != "" && c.KEKPKCS11Module != "" {
		errs = append(errs, errors.New("kek and kek-pkcs11-module: choose one source of the key-encryption key"))
	}
	if c.NewKEK != "" && c.KEK == "" {
		errs = append(errs, errors.New("new-kek: rotates the secret kek, which is not set"))
	}
	if c.KEKPKCS11Module != "" {
		if c.KEKPKCS11Token == "" {
			errs = append(errs, errors.New("kek-pkcs11-token: needed with kek-pkcs11-module"))
		}
		if c.KEKPKCS11PIN == "" {
			errs = append(errs, errors.New("kek-pkcs11-pin: needed with kek-pkcs11-module (BULWARK_KEK_PKCS11_PIN or --kek-pkcs11-pin-file)"))
		}
		if c.KEKPKCS11Key == "" {
			errs = append(errs, errors.New("kek-pkcs11-key: must not be empty"))
		}
	} else if c.KEKPKCS11Token != "" || c.KEKPKCS11PIN != "" {
		errs = append(errs, errors.New("kek-pkcs11-token and kek-pkcs11-pin need kek-pkcs11-module"))
	}
	return errs
}

// IsLoopback reports whether the host of addr is a loopback address or
// "localhost". An empty host means every interface, which is not loopback.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Markdown returns the settings table for the README.
func Markdown() string {
	var b strings.Builder
	b.WriteString("| flag | environment | default | meaning |\n| --- | --- | --- | --- |\n")
	for _, s := range Settings() {
		flagName := "`--" + s.Name + "`"
		env := "`" + s.Env() + "`"
		if s.Secret && s.URL {
			flagName += " (no credentials), `--" + s.Name + "-file`"
			env += ", `" + s.Env() + "_FILE`"
		} else if s.Secret {
			flagName = "`--" + s.Name + "-file`"
			env += ", `" + s.Env() + "_FILE`"
		}
		def := s.Default
		if def != "" {
			def = "`" + def + "`"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", flagName, env, def, s.Usage)
	}
	return b.String()
}

// Defaults returns the configuration with every setting at its default.
func Defaults() Config {
	v := map[string]string{}
	for _, s := range Settings() {
		v[s.Name] = s.Default
	}
	c, err := parse(v)
	if err != nil {
		panic("config: the defaults do not validate: " + err.Error()) // a programming error, caught by any test
	}
	return c
}
