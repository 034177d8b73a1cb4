package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/bulwark-shop/bulwark/internal/config"
	"github.com/bulwark-shop/bulwark/internal/detection"
	"github.com/bulwark-shop/bulwark/internal/finding"
	"github.com/bulwark-shop/bulwark/internal/store"
	"github.com/bulwark-shop/bulwark/internal/threat"
)

// The findings commands read and change findings in the shop database
// directly: they work while the server is down, with the rules of the API
// (threat.Operator).

// withFindings runs fn on the migrated shop database's findings administration.
func withFindings(ctx context.Context, name string, args []string, env Env, extra func(*flag.FlagSet),
	fn func(*threat.Operator) error) error {
	return withMigratedDBFlags(ctx, name, args, env, extra, func(_ config.Config, db *store.DB) error {
		return fn(threat.NewOperator(db, env.Now))
	})
}

func findingLine(f finding.Finding) string {
	return fmt.Sprintf("%s  %-10s  %3d %-8s  %s  %s  count=%d  last %s", f.ID, f.Status, f.Severity, finding.Level(f.Severity),
		f.Type, f.Subject, f.Count, f.LastSeen.UTC().Format(time.RFC3339))
}

func findingsList(ctx context.Context, args []string, env Env) error {
	var status, typ, severity, subject string
	var limit int
	flags := func(fs *flag.FlagSet) {
		fs.StringVar(&status, "status", "", "only findings in this status: active, resolved or suppressed")
		fs.StringVar(&typ, "type", "", "only findings of this type, such as "+string(finding.AccountBruteForce))
		fs.StringVar(&severity, "severity-min", "", "only findings at least this severe: 0-100, or low, medium, high, critical")
		fs.StringVar(&subject, "subject", "", "only findings about this subject: kind:id (ip:192.0.2.1, account:usr_...) or an id")
		fs.IntVar(&limit, "limit", threat.DefaultList, "at most this many, 1 to 100")
	}
	return withFindings(ctx, "findings list", args, env, flags, func(o *threat.Operator) error {
		q, err := threat.ParseQuery(status, typ, severity, subject, limit, "")
		if err != nil {
			return cliRefusal(err)
		}
		fs, more, err := o.List(ctx, q)
		if err != nil {
			return err
		}
		if len(fs) == 0 {
			fmt.Fprintln(env.Stdout, "no findings")
			return nil
		}
		for _, f := range fs {
			fmt.Fprintln(env.Stdout, findingLine(f))
		}
		if more {
			fmt.Fprintf(env.Stdout, "(more: narrow the filters or raise --limit)\n")
		}
		return nil
	})
}

// findingArg takes the finding id that leads args.
func findingArg(args []string, env Env, usageLine string) (string, []string, error) {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprintln(env.Stdout, "usage: "+usageLine)
			return "", nil, flag.ErrHelp
		}
		return "", nil, usageError{errors.New("give the finding's ID (from bulwark findings list): " + usageLine)}
	}
	return args[0], args[1:], nil
}

func findingsShow(ctx context.Context, args []string, env Env) error {
	findingID, rest, err := findingArg(args, env, "bulwark findings show ID [settings]")
	if err != nil {
		return err
	}
	return withFindings(ctx, "findings show", rest, env, nil, func(o *threat.Operator) error {
		f, err := o.Get(ctx, findingID)
		if err != nil {
			return cliRefusal(err)
		}
		fmt.Fprintf(env.Stdout, "id:              %s\ntype:            %s\ndetection point: %s\nseverity:        %d (%s)\nstatus:          %s\nsubject:         %s\nfirst seen:      %s\nlast seen:       %s\ncount:           %d\nresponse:        %s\nevidence:\n",
			f.ID, f.Type, f.Type.DetectionPoint(), f.Severity, finding.Level(f.Severity), f.Status, f.Subject,
			f.FirstSeen.UTC().Format(time.RFC3339), f.LastSeen.UTC().Format(time.RFC3339), f.Count, f.Response)
		for _, k := range slices.Sorted(maps.Keys(f.Evidence)) {
			// Quoted: evidence holds what a client sent (a path), and no
			// escape sequence of theirs reaches the operator's terminal.
			fmt.Fprintf(env.Stdout, "  %s: %q\n", k, f.Evidence[k])
		}
		return nil
	})
}

func findingsResolve(ctx context.Context, args []string, env Env) error {
	findingID, rest, err := findingArg(args, env, "bulwark findings resolve ID [--suppress] [settings]")
	if err != nil {
		return err
	}
	var suppress bool
	flags := func(fs *flag.FlagSet) {
		fs.BoolVar(&suppress, "suppress", false, "suppress the finding as known benign instead: recurrences are counted on it silently")
	}
	return withFindings(ctx, "findings resolve", rest, env, flags, func(o *threat.Operator) error {
		to := finding.Resolved
		if suppress {
			to = finding.Suppressed
		}
		f, err := o.SetStatus(ctx, findingID, to)
		if err != nil {
			return cliRefusal(err)
		}
		fmt.Fprintf(env.Stdout, "%s is %s\n", f.ID, f.Status)
		return nil
	})
}

// detectionShow prints the detection settings in force: the detection
// file's lists, the built-in ones for a list it leaves out (or with no
// file). A file that would refuse to start refuses here, naming each
// problem: an operator checks a new file with it before deploying.
func detectionShow(args []string, env Env) error {
	cfg, _, err := parse("detection show", args, env, nil)
	if err != nil {
		return err
	}
	s := detection.Defaults()
	if cfg.Detection != "" {
		if s, err = detection.Read(cfg.Detection); err != nil {
			return err
		}
	}
	b, err := s.JSON()
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(env.Stdout, "%s\n", b)
	return err
}
