package app

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/config"
	"github.com/bulwark-shop/bulwark/internal/inventory"
	"github.com/bulwark-shop/bulwark/internal/store"
)

// version prints the build's version, commit and Go version; with --json
// the modules compiled in too.
func version(args []string, env Env) error {
	fs := flag.NewFlagSet("bulwark version", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	asJSON := fs.Bool("json", false, "print the version and every module compiled in as JSON")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	in, err := inventory.Read()
	if err != nil {
		return err
	}
	if !*asJSON {
		fmt.Fprintf(env.Stdout, "bulwark %s\n", in.Short())
		return nil
	}
	b, err := json.MarshalIndent(in, "", "  ")
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "%s\n", b)
	return nil
}

// sbom prints the build's CycloneDX software bill of materials.
func sbom(args []string, env Env) error {
	fs := flag.NewFlagSet("bulwark sbom", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	in, err := inventory.Read()
	if err != nil {
		return err
	}
	b, err := inventory.SBOM(in, env.Now())
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "%s\n", b)
	return nil
}

// instances lists which build runs on how many instances, from the start
// and stop records of the audit log (each start names the version and
// the module list's digest). Reading them is recorded, as every read of
// the audit log is.
func instances(ctx context.Context, args []string, env Env) error {
	var since time.Duration
	var asJSON bool
	return withMigratedDBFlags(ctx, "instances", args, env, func(fs *flag.FlagSet) {
		fs.DurationVar(&since, "since", 30*24*time.Hour, "only instances started within this long (one killed without a stop record leaves the list after it)")
		fs.BoolVar(&asJSON, "json", false, "print the builds as JSON")
	}, func(cfg config.Config, db *store.DB) error {
		from := env.Now().Add(-since)
		if err := audit.NewTrail(db, env.Now).Record(ctx, audit.ActionRead, "", audit.Success, "instances since="+from.UTC().Format(time.RFC3339)); err != nil {
			return err
		}
		var recs []inventory.Start
		for _, action := range []string{ActionServerStart, ActionServerStop} {
			q := audit.Query{Action: action, Since: from, Limit: audit.MaxList}
			for {
				page, more, err := db.AuditRecords(ctx, q)
				if err != nil {
					return err
				}
				for _, r := range page {
					recs = append(recs, inventory.Start{Instance: r.Actor, At: r.Time, Stop: action == ActionServerStop, Detail: r.Detail})
				}
				if !more || len(page) == 0 {
					break
				}
				q.After = page[len(page)-1].Seq
			}
		}
		sort.SliceStable(recs, func(i, j int) bool { return recs[i].At.Before(recs[j].At) })
		fleet := inventory.Fleet(recs)
		if asJSON {
			enc := json.NewEncoder(env.Stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(fleet)
		}
		if len(fleet) == 0 {
			fmt.Fprintf(env.Stdout, "no instance started since %s is running\n", from.UTC().Format(time.RFC3339))
		}
		for _, b := range fleet {
			fmt.Fprintf(env.Stdout, "%d instance(s)  version %s  modules %s  last started %s\n    %s\n", len(b.Instances), b.Version, b.Modules,
				b.LastStart.UTC().Format(time.RFC3339), strings.Join(b.Instances, " "))
		}
		return nil
	})
}
