package app

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"

	"github.com/bulwark-shop/bulwark/internal/config"
)

// discoverCmd scans the shop database, the outbox and the paths given for
// sensitive data now, keeps the run like a scheduled one and prints what
// was found where, with masked samples only.
func discoverCmd(ctx context.Context, args []string, env Env) error {
	var asJSON bool
	var paths []string
	return withApp(ctx, "discover", args, env, func(fs *flag.FlagSet) {
		fs.BoolVar(&asJSON, "json", false, "print the run as JSON (the API's shape)")
	}, &paths, func(_ config.Config, a *App) error { return printDiscovery(ctx, a, paths, asJSON, env) })
}

func printDiscovery(ctx context.Context, a *App, paths []string, asJSON bool, env Env) error {
	rep, err := a.RunDiscovery(ctx, paths)
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	fmt.Fprintf(env.Stdout, "discovery at %s: %d bytes read from %v\n", rep.RunAt.Format("2006-01-02 15:04:05Z07:00"), rep.Bytes, rep.Sources)
	if rep.Truncated {
		fmt.Fprintln(env.Stdout, "stopped at the byte limit: what follows is not everything")
	}
	if len(rep.Findings) == 0 {
		fmt.Fprintln(env.Stdout, "nothing found")
	}
	for _, f := range rep.Findings {
		test := ""
		if f.TestOnly {
			test = " (published test numbers only)"
		}
		fmt.Fprintf(env.Stdout, "\n%-11s %s: %d%s, severity %d\n", f.Kind, f.Location, f.Count, test, f.Severity)
		for _, s := range f.Samples {
			where := fmt.Sprintf("offset %d", s.Offset)
			if s.Row != "" {
				where = "row " + s.Row + ", " + where
			}
			fmt.Fprintf(env.Stdout, "  %s  (%s)\n", s.Masked, where)
		}
	}
	for _, e := range rep.Errors {
		fmt.Fprintf(env.Stdout, "could not read %s\n", e)
	}
	return nil
}
