package app

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"filippo.io/age"

	"github.com/bulwark-shop/bulwark/internal/config"
)

// backupCmd is `bulwark backup create|list|verify ID|restore ID --to DIR|drill`.
func backupCmd(ctx context.Context, args []string, env Env) error {
	if len(args) == 0 {
		return usageError{errors.New("backup needs create, list, verify, restore or drill")}
	}
	sub, args := args[0], args[1:]
	// The id comes first (bulwark backup restore ID --to DIR): flags
	// parse up to the first argument that is not one.
	var backupID string
	if (sub == "verify" || sub == "restore") && len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		backupID, args = args[0], args[1:]
	}
	var asJSON bool
	var to, databaseURL, identityFile string
	// identityFlag lets an operator read a backup with their offline age
	// key (a backup-recipients key), as when the KEK is lost.
	identityFlag := func(fs *flag.FlagSet) {
		fs.StringVar(&identityFile, "identity", "", "an age identity file (age-keygen's) whose key is among backup-recipients: read the backup with it as well as the KEK")
	}
	identities := func() ([]age.Identity, error) {
		if identityFile == "" {
			return nil, nil
		}
		f, err := os.Open(identityFile)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		ids, err := age.ParseIdentities(io.LimitReader(f, 64<<10))
		if err != nil {
			return nil, fmt.Errorf("--identity %s: %w", identityFile, err)
		}
		return ids, nil
	}
	jsonFlag := func(fs *flag.FlagSet) { fs.BoolVar(&asJSON, "json", false, "print the result as JSON") }
	printJSON := func(v any) error {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	switch sub {
	case "create":
		return withApp(ctx, "backup create", args, env, jsonFlag, nil, func(_ config.Config, a *App) error {
			rep, err := a.CreateBackup(ctx)
			if asJSON && rep.ID != "" {
				if perr := printJSON(rep); perr != nil {
					return perr
				}
			} else if rep.ID != "" {
				fmt.Fprintf(env.Stdout, "backup %s: %d files, %d bytes (%d encrypted)\n", rep.ID, len(rep.Files), rep.Size, rep.Payload)
				for _, p := range rep.Targets {
					fmt.Fprintf(env.Stdout, "  %-60s %s\n", p.Target, okOr(p.Error))
				}
			}
			return err
		})
	case "list":
		return withApp(ctx, "backup list", args, env, jsonFlag, nil, func(_ config.Config, a *App) error {
			listed, err := a.ListBackups(ctx)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(map[string]any{"items": listed})
			}
			if len(listed) == 0 {
				fmt.Fprintln(env.Stdout, "no backups on the targets")
			}
			for _, b := range listed {
				fmt.Fprintf(env.Stdout, "%s  %s  %d bytes\n", b.ID, b.CreatedAt.Format("2006-01-02 15:04:05Z07:00"), b.Size)
				for _, p := range b.Targets {
					fmt.Fprintf(env.Stdout, "  %-60s %s\n", p.Target, okOr(p.Error))
				}
			}
			return nil
		})
	case "verify":
		return withApp(ctx, "backup verify", args, env, identityFlag, nil, func(_ config.Config, a *App) error {
			if backupID == "" {
				return usageError{errors.New("backup verify needs a backup id")}
			}
			ids, err := identities()
			if err != nil {
				return err
			}
			placed, err := a.VerifyBackup(ctx, backupID, ids...)
			if err != nil {
				return err
			}
			bad := 0
			for _, p := range placed {
				fmt.Fprintf(env.Stdout, "%-60s %s\n", p.Target, okOr(p.Error))
				if p.Error != "" {
					bad++
				}
			}
			if bad > 0 {
				return fmt.Errorf("backup %s: %d of %d targets do not hold a good copy", backupID, bad, len(placed))
			}
			return nil
		})
	case "restore":
		return withApp(ctx, "backup restore", args, env, func(fs *flag.FlagSet) {
			identityFlag(fs)
			fs.StringVar(&to, "to", "", "the empty directory to restore into")
			fs.StringVar(&databaseURL, "into-database", "", "PostgreSQL: the database (postgres://…, not the shop's) to restore the dumps into")
		}, nil, func(_ config.Config, a *App) error {
			if backupID == "" || to == "" {
				return usageError{errors.New("backup restore needs a backup id and --to DIR")}
			}
			// A password on the command line is any local user's to read
			// (ps): it comes from the environment instead.
			if u, err := url.Parse(databaseURL); err == nil && u.User != nil {
				if _, has := u.User.Password(); has {
					return usageError{errors.New("--into-database: leave the password out of the URL; give the whole URL in BULWARK_RESTORE_DATABASE_URL instead")}
				}
			}
			if databaseURL == "" {
				databaseURL = env.Getenv("BULWARK_RESTORE_DATABASE_URL")
			}
			dir, err := filepath.Abs(to)
			if err != nil {
				return err
			}
			ids, err := identities()
			if err != nil {
				return err
			}
			m, replayed, err := a.RestoreBackup(ctx, backupID, dir, databaseURL, ids...)
			if err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "backup %s of %s restored into %s and checked; %d erasures since replayed\n",
				m.ID, m.CreatedAt.Format("2006-01-02 15:04:05Z07:00"), dir, replayed)
			return nil
		})
	case "drill":
		return withApp(ctx, "backup drill", args, env, jsonFlag, nil, func(_ config.Config, a *App) error {
			rep, err := a.Drill(ctx)
			if asJSON {
				if perr := printJSON(rep); perr != nil {
					return perr
				}
			} else if err == nil {
				fmt.Fprintf(env.Stdout, "drill %s: backup %s (taken %s) restored and checked in %d ms: %d rows, %d audit records\n",
					rep.ID, rep.BackupID, rep.RecoveryPoint.Format("2006-01-02 15:04:05Z07:00"), rep.RecoveryTimeMS, rep.Rows, rep.AuditRecords)
			}
			if err != nil {
				return fmt.Errorf("the restore drill FAILED: %w", err)
			}
			return nil
		})
	default:
		return usageError{fmt.Errorf("backup %s: want create, list, verify, restore or drill", sub)}
	}
}

func okOr(e string) string {
	if e == "" {
		return "ok"
	}
	return e
}
