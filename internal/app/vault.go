package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/config"
	"github.com/bulwark-shop/bulwark/internal/keys"
	"github.com/bulwark-shop/bulwark/internal/rekey"
	"github.com/bulwark-shop/bulwark/internal/store"
	"github.com/bulwark-shop/bulwark/internal/vault"
	"github.com/bulwark-shop/bulwark/internal/vaultapi"
)

// VaultServer is the card vault as a process of its own (`bulwark vault
// serve`): its own database (vault.db in its data directory, or
// vault-database-url), its own keyring and KEK in its own data directory, and
// the internal API over mutual TLS 1.3. It opens nothing of the shop's.
type VaultServer struct {
	cfg     config.Config
	log     *slog.Logger
	DB      *store.VaultDB
	keyring *keys.Keyring
	handler http.Handler
	// Rekey re-encrypts the vault's cards after `bulwark vault rotate`; Serve runs it.
	Rekey *rekey.Job
}

// NewVault opens the vault's database and keyring and checks its TLS files.
func NewVault(ctx context.Context, cfg config.Config, log *slog.Logger, now func() time.Time) (*VaultServer, error) {
	switch {
	case cfg.VaultSocket == "" && (cfg.VaultTLSCert == "" || cfg.VaultClientCA == ""):
		return nil, errors.New("vault serve: needs vault-tls-cert, vault-tls-key and vault-client-ca (the vault speaks mutual TLS only), or vault-socket")
	case cfg.VaultURL != "":
		return nil, errors.New("vault serve: vault-url is the shop's setting, not the vault's")
	case cfg.DatabaseURL != "":
		return nil, errors.New("vault serve: database-url is the shop's database, which the vault never opens; give the vault vault-database-url")
	}
	// A vault in the shop's data directory would share the shop's KEK.
	for _, name := range []string{store.SQLiteFile, MFAKeyset + "-keyset.json", OutboxDir} {
		if _, err := os.Stat(filepath.Join(cfg.DataDir, name)); err == nil {
			return nil, fmt.Errorf("vault serve: data-dir holds the shop's %s: give the vault a data directory (and KEK) of its own", name)
		}
	}
	if cfg.VaultSocket == "" {
		if _, err := vaultapi.TLSConfig(cfg.VaultTLSCert, cfg.VaultTLSKey, cfg.VaultClientCA); err != nil {
			return nil, err
		}
	}
	db, err := store.OpenVault(ctx, store.Options{DatabaseURL: cfg.VaultDatabaseURL, DataDir: cfg.DataDir})
	if err != nil {
		return nil, fmt.Errorf("open card vault: %w", err)
	}
	// The vault's keyset serves this vault database and no other.
	vaultID, err := db.Identity(ctx)
	if err == nil {
		err = keys.BindDatabase(cfg.DataDir, keys.RoleVault, vaultID)
	}
	if err != nil {
		db.Close()
		return nil, err
	}
	// The vault's own KEK, from the same settings as the shop's: a file in its
	// data directory, a secret, or an HSM.
	ring, err := keys.OpenKeyringWith(cfg.DataDir, kekConfig(cfg))
	if err != nil {
		db.Close()
		return nil, err
	}
	if ring.KEKCreated() {
		log.Info("audit", "action", audit.ActionKEKCreate, "target", ring.KEKStatus().Source, "outcome", audit.Success)
	}
	made := !ring.Has(VaultKeyset)
	aead, err := ring.AEAD(VaultKeyset)
	if err != nil {
		ring.Close()
		db.Close()
		return nil, err
	}
	if made {
		log.Info("audit", "action", audit.ActionKeysetCreate, "target", VaultKeyset, "outcome", audit.Success)
	}
	v := vault.New(db, aead, vaultapi.LogAuditor{Log: log}, now)
	job := rekey.NewJob(db, []rekey.Reencrypter{
		rekey.Rows{Name: VaultKeyset, AEAD: aead, List: db.CardCiphertexts, Swap: db.SwapCardCiphertexts},
	}, rekey.Settings{Batch: cfg.ReencryptBatch, Pause: cfg.ReencryptPause, Every: reencryptEvery, Grace: 2 * keys.CheckInterval}, now, log)
	return &VaultServer{cfg: cfg, log: log, DB: db, keyring: ring, handler: vaultapi.NewHandler(v, log), Rekey: job}, nil
}

// Listen opens vault-socket when set, or else vault-listen.
func (v *VaultServer) Listen() (net.Listener, error) {
	if v.cfg.VaultSocket != "" {
		uid := v.cfg.VaultSocketUID
		if uid < 0 {
			uid = os.Getuid()
		}
		return vaultapi.ListenUnix(v.cfg.VaultSocket, uid, v.log)
	}
	l, err := net.Listen("tcp", v.cfg.VaultListen)
	if err != nil {
		return nil, fmt.Errorf("vault-listen: %w", err)
	}
	return l, nil
}

// Serve answers the internal API on l until ctx ends: over mutual TLS only,
// or in plain HTTP on vault-socket, whose listener lets in only the allowed user.
func (v *VaultServer) Serve(ctx context.Context, l net.Listener) error {
	srv := &http.Server{
		Handler:           v.handler,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(v.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	if v.cfg.VaultSocket != "" {
		go func() { errc <- srv.Serve(l) }()
	} else {
		tlsConfig, err := vaultapi.TLSConfig(v.cfg.VaultTLSCert, v.cfg.VaultTLSKey, v.cfg.VaultClientCA)
		if err != nil {
			return err
		}
		srv.TLSConfig = tlsConfig
		go func() { errc <- srv.ServeTLS(l, "", "") }()
	}
	v.log.Info("vault serving", "listen", l.Addr().String(), "engine", v.DB.Engine())
	jobCtx, stopJob := context.WithCancel(ctx)
	defer stopJob()
	go v.Rekey.Run(jobCtx)
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if e := srv.Shutdown(shutdownCtx); e != nil && err == nil {
		err = e
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// Close closes the vault's database and keyring.
func (v *VaultServer) Close() error {
	v.keyring.Close()
	return v.DB.Close()
}

// vaultRotate gives the vault process's keyset a new primary key, with the
// settings of `vault serve`. A running vault process switches within
// keys.CheckInterval and re-encrypts every card in the background. The event
// goes to the vault's own audit log, as its card reads do.
func vaultRotate(ctx context.Context, args []string, env Env) error {
	return withVault(ctx, "vault rotate", args, env, nil, func(v *VaultServer, log *slog.Logger) error {
		return RotateKeysets(ctx, v.keyring, vaultapi.LogAuditor{Log: log}, []string{VaultKeyset}, env.Stdout)
	})
}

// vaultRetire is `keys retire` for the vault process's keyset: once the new
// primary is old enough, it re-encrypts what is left under older keys and
// disables them, or deletes them with --destroy.
func vaultRetire(ctx context.Context, args []string, env Env) error {
	var destroy bool
	return withVault(ctx, "vault retire", args, env, func(fs *flag.FlagSet) {
		fs.BoolVar(&destroy, "destroy", false, "delete the old keys instead of disabling them: cards under them, backups included, become unreadable for good")
	}, func(v *VaultServer, log *slog.Logger) error {
		return retireKeysets(ctx, v.keyring, v.Rekey, vaultapi.LogAuditor{Log: log}, []string{VaultKeyset}, destroy, env)
	})
}
