package app

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"strings"

	"github.com/bulwark-shop/bulwark/internal/config"
	"github.com/bulwark-shop/bulwark/internal/posture"
)

// postureCmd runs the posture checks now against the shop its settings
// name (its listeners are dialled where the running server listens), keeps
// the run in the history like a scheduled one, and prints it: failures
// first, each with its remedy. It succeeds whatever the checks say: the
// scores and findings are the result, not the exit status.
func postureCmd(ctx context.Context, args []string, env Env) error {
	var asJSON bool
	return withApp(ctx, "posture", args, env, func(fs *flag.FlagSet) {
		fs.BoolVar(&asJSON, "json", false, "print the run as JSON (the API's shape)")
	}, nil, func(_ config.Config, a *App) error { return printPosture(ctx, a, asJSON, env) })
}

func printPosture(ctx context.Context, a *App, asJSON bool, env Env) error {
	rep, err := a.RunPosture(ctx)
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			posture.Report
			Listeners []posture.Listener `json:"listeners"`
		}{rep, a.ListenerInventory()})
	}
	fmt.Fprintf(env.Stdout, "posture at %s\n", rep.RunAt.Format("2006-01-02 15:04:05Z07:00"))
	for _, s := range rep.Standards {
		fmt.Fprintf(env.Stdout, "  %-16s %5.1f %%  %d of %d applicable checks pass\n", s.ID, 100*s.Score, s.Passed, s.Applicable)
	}
	for _, st := range []posture.Status{posture.Fail, posture.NoData, posture.Pass} {
		for _, c := range rep.Checks {
			if c.Status != st {
				continue
			}
			fmt.Fprintf(env.Stdout, "\n%-7s %s  %s  [%s]\n        %s\n", strings.ToUpper(strings.ReplaceAll(string(c.Status), "_", " ")), c.ID, c.Title, strings.Join(c.MapsTo, ", "), c.Detail)
			if c.Status == posture.Fail {
				fmt.Fprintf(env.Stdout, "        remedy: %s\n", c.Remedy)
			}
		}
	}
	fmt.Fprintln(env.Stdout, "\nlisteners:")
	for _, l := range a.ListenerInventory() {
		kind := "plain HTTP"
		if l.TLS {
			kind = "TLS"
		}
		fmt.Fprintf(env.Stdout, "  %-9s %-22s %-10s %s\n", l.Name, l.Addr, kind, l.Serves)
	}
	return nil
}
