package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"time"

	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/config"
	"github.com/bulwark-shop/bulwark/internal/fraudmodel"
	"github.com/bulwark-shop/bulwark/internal/keys"
	"github.com/bulwark-shop/bulwark/internal/order"
	"github.com/bulwark-shop/bulwark/internal/scoring"
	"github.com/bulwark-shop/bulwark/internal/store"
)

// The fraud model's commands (issue 14): generate labelled history, train
// a model on it and the shop's labelled orders, evaluate it, list the
// models, and switch one on (enforced or in shadow). Running servers load
// the switch within scoring.SyncEvery.

// Audit actions of the model commands.
const (
	ActionModelTrained = "fraud.model_trained"
)

// maxHistoryBytes bounds a history file read by train and evaluate.
const maxHistoryBytes = 512 << 20

// heldOut is the share of the history a model is evaluated on, never
// trained on; splitSeed makes the split the same for the same history.
const (
	heldOut   = 0.2
	splitSeed = 1
)

var modelVersion = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

func fraudGenerate(args []string, env Env) error {
	fs := flag.NewFlagSet("bulwark fraud generate", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	out := fs.String("out", "", "write the history here (JSONL; - for standard output)")
	n := fs.Int("orders", 20000, "how many records, 1 to 1,000,000")
	seed := fs.Uint64("seed", 1, "the generator's seed: the same seed, the same history")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return usageError{err}
	}
	if *out == "" || *n < 1 || *n > fraudmodel.MaxRecords {
		return usageError{errors.New("fraud generate: give --out FILE and --orders from 1 to 1,000,000")}
	}
	records := fraudmodel.Generate(*n, *seed)
	w := env.Stdout
	if *out != "-" {
		f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return fmt.Errorf("fraud generate: %w", err)
		}
		defer f.Close()
		w = f
	}
	if err := fraudmodel.WriteJSONL(w, records); err != nil {
		return fmt.Errorf("fraud generate: %w", err)
	}
	fraud := 0
	for _, r := range records {
		if r.IsFraud() {
			fraud++
		}
	}
	if *out != "-" {
		fmt.Fprintf(env.Stdout, "wrote %d records (%d fraud) to %s\n", len(records), fraud, *out)
	}
	return nil
}

// readHistoryFile reads a labelled history file, bounded.
func readHistoryFile(path string) ([]fraudmodel.Record, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rs, err := fraudmodel.ReadHistory(io.LimitReader(f, maxHistoryBytes))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return rs, nil
}

// labelledOrders returns the shop's orders staff labelled, as records.
func labelledOrders(ctx context.Context, db *store.DB, now time.Time) ([]fraudmodel.Record, error) {
	os, err := db.ScoredOrders(ctx, now.Add(-5*365*24*time.Hour), fraudmodel.MaxRecords)
	if err != nil {
		return nil, err
	}
	var out []fraudmodel.Record
	for _, o := range os {
		if o.Label == "" || o.Risk == nil {
			continue
		}
		l := fraudmodel.Legitimate
		if o.Label == order.LabelFraud {
			l = fraudmodel.Fraud
		}
		out = append(out, fraudmodel.Record{Features: o.Risk.Features, Label: l, Kind: "shop"})
	}
	return out, nil
}

// withModelKeys runs fn with the shop's database and the keyset that signs
// its models (made, and audited, at first use).
func withModelKeys(ctx context.Context, name string, args []string, env Env, extra func(*flag.FlagSet),
	fn func(config.Config, *store.DB, *keys.LiveMAC, *audit.Trail) error) error {
	return withMigratedDBFlags(ctx, name, args, env, extra, func(cfg config.Config, db *store.DB) error {
		trail := audit.NewTrail(db, env.Now)
		ring, err := openKeyringAudited(ctx, cfg, trail)
		if err != nil {
			return err
		}
		defer ring.Close()
		made := !ring.Has(scoring.ModelsKeyset)
		mac, err := ring.MAC(scoring.ModelsKeyset)
		if err != nil {
			return err
		}
		if made {
			if err := trail.Record(ctx, audit.ActionKeysetCreate, scoring.ModelsKeyset, audit.Success, "model keyset made, under the KEK from "+ring.KEKStatus().Source); err != nil {
				return err
			}
		}
		return fn(cfg, db, mac, trail)
	})
}

func fraudTrain(ctx context.Context, args []string, env Env) error {
	var history, version string
	var activate, shadow bool
	flags := func(fs *flag.FlagSet) {
		fs.StringVar(&history, "history", "", "labelled history, JSONL or CSV (docs/FRAUD.md); the shop's labelled orders are added")
		fs.StringVar(&version, "version", "", "the model's version (default: model-YYYYMMDD-HHMMSS)")
		fs.BoolVar(&activate, "activate", false, "enforce the model at once (default: kept, not running; see fraud activate)")
		fs.BoolVar(&shadow, "shadow", false, "run the model in shadow at once: scored and kept on orders, not enforced")
	}
	return withModelKeys(ctx, "fraud train", args, env, flags, func(cfg config.Config, db *store.DB, mac *keys.LiveMAC, trail *audit.Trail) error {
		now := env.Now().UTC().Truncate(time.Microsecond)
		if version == "" {
			version = "model-" + now.Format("20060102-150405")
		}
		if !modelVersion.MatchString(version) || (activate && shadow) {
			return usageError{errors.New("fraud train: --version is 1 to 64 of A-Z a-z 0-9 _ . -; --activate and --shadow exclude each other")}
		}
		var records []fraudmodel.Record
		if history != "" {
			rs, err := readHistoryFile(history)
			if err != nil {
				return fmt.Errorf("fraud train: %w", err)
			}
			records = rs
		}
		shop, err := labelledOrders(ctx, db, now)
		if err != nil {
			return err
		}
		records = append(records, shop...)
		if len(records) > fraudmodel.MaxRecords {
			return fmt.Errorf("fraud train: %d records, at most %d", len(records), fraudmodel.MaxRecords)
		}
		train, test := fraudmodel.Split(records, heldOut, splitSeed)
		m, err := fraudmodel.Train(train, scoring.NumericNames(), fraudmodel.Options{Version: version, Now: now})
		if err != nil {
			return fmt.Errorf("fraud train: %w", err)
		}
		metrics := fraudmodel.Evaluate(m, test, cfg.FraudBlockAt, cfg.FraudReviewAt)
		m.Metrics = &metrics
		body, err := fraudmodel.Marshal(m, mac)
		if err != nil {
			return fmt.Errorf("fraud train: %w", err)
		}
		state := scoring.StateInactive
		switch {
		case activate:
			state = scoring.StateEnforce
		case shadow:
			state = scoring.StateShadow
		}
		rec := audit.New(ctx, now, ActionModelTrained, version, audit.Success,
			fmt.Sprintf("records=%d shop=%d auc=%.3f state=%s", len(records), len(shop), metrics.AUC, state))
		if err := db.PutVersion(ctx, scoring.Version{Kind: scoring.KindModel, Version: version, State: state, Body: body, CreatedAt: now, CreatedBy: "cli"}, rec); err != nil {
			if errors.Is(err, scoring.ErrVersionTaken) {
				return fmt.Errorf("fraud train: model %s exists: give --version a new name", version)
			}
			return err
		}
		fmt.Fprintf(env.Stdout, "trained %s on %d records (%d from the shop's labelled orders), held out %d\n", version, len(train), len(shop), len(test))
		printMetrics(env.Stdout, metrics)
		fmt.Fprintf(env.Stdout, "state: %s\n", state)
		return nil
	})
}

func printMetrics(w io.Writer, m fraudmodel.Metrics) {
	fmt.Fprintf(w, "held-out: %d records, %d fraud; AUC %.3f\n", m.N, m.Fraud, m.AUC)
	fmt.Fprintf(w, "  block at %d: precision %.3f, recall %.3f\n", m.BlockAt, m.BlockPrecision, m.BlockRecall)
	fmt.Fprintf(w, "  review at %d: precision %.3f, recall %.3f\n", m.ReviewAt, m.ReviewPrecision, m.ReviewRecall)
}

// loadModel reads the stored model version (the enforced one when
// version is empty), verifying its signature.
func loadModel(ctx context.Context, db *store.DB, mac *keys.LiveMAC, version string) (*fraudmodel.Model, error) {
	vs, err := db.RunningVersions(ctx)
	if err != nil {
		return nil, err
	}
	var body []byte
	for _, v := range vs {
		if v.Kind == scoring.KindModel && (v.Version == version || version == "" && v.State == scoring.StateEnforce) {
			body = v.Body
		}
	}
	if body == nil && version != "" {
		if body, err = db.VersionBody(ctx, scoring.KindModel, version); err != nil {
			return nil, err
		}
	}
	if body == nil {
		return nil, errors.New("no model is enforced: name one with --version")
	}
	return fraudmodel.Unmarshal(body, mac)
}

func fraudEvaluate(ctx context.Context, args []string, env Env) error {
	var history, version string
	flags := func(fs *flag.FlagSet) {
		fs.StringVar(&history, "history", "", "evaluate on this labelled history (JSONL or CSV) instead of the shop's labelled orders")
		fs.StringVar(&version, "version", "", "the model (default: the enforced one)")
	}
	return withModelKeys(ctx, "fraud evaluate", args, env, flags, func(cfg config.Config, db *store.DB, mac *keys.LiveMAC, _ *audit.Trail) error {
		m, err := loadModel(ctx, db, mac, version)
		if err != nil {
			return fmt.Errorf("fraud evaluate: %w", err)
		}
		fmt.Fprintf(env.Stdout, "model %s, trained %s\n", m.Version, m.Created.Format(time.RFC3339))
		if m.Metrics != nil {
			fmt.Fprintln(env.Stdout, "when trained:")
			printMetrics(env.Stdout, *m.Metrics)
		}
		var records []fraudmodel.Record
		from := "the shop's labelled orders"
		if history != "" {
			if records, err = readHistoryFile(history); err != nil {
				return fmt.Errorf("fraud evaluate: %w", err)
			}
			from = history
		} else if records, err = labelledOrders(ctx, db, env.Now()); err != nil {
			return err
		}
		if len(records) == 0 {
			fmt.Fprintf(env.Stdout, "nothing to evaluate on in %s\n", from)
			return nil
		}
		fmt.Fprintf(env.Stdout, "on %s:\n", from)
		printMetrics(env.Stdout, fraudmodel.Evaluate(m, records, cfg.FraudBlockAt, cfg.FraudReviewAt))
		return nil
	})
}

func fraudModels(ctx context.Context, args []string, env Env) error {
	return withMigratedDB(ctx, "fraud models", args, env, func(cfg config.Config, db *store.DB) error {
		vs, err := db.ListVersions(ctx, scoring.KindModel)
		if err != nil {
			return err
		}
		if len(vs) == 0 {
			fmt.Fprintln(env.Stdout, "no models: train one with bulwark fraud train")
			return nil
		}
		for _, v := range vs {
			fmt.Fprintf(env.Stdout, "%-32s  %-8s  trained %s by %s\n", v.Version, v.State, v.CreatedAt.Format(time.RFC3339), v.CreatedBy)
		}
		return nil
	})
}

func fraudActivate(ctx context.Context, args []string, env Env) error {
	if len(args) == 0 || args[0] == "" || args[0][0] == '-' {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprintln(env.Stdout, "usage: bulwark fraud activate VERSION [--shadow|--off] [settings]")
			return nil
		}
		return usageError{errors.New("fraud activate: give the model's version (from bulwark fraud models)")}
	}
	version := args[0]
	var shadow, off bool
	flags := func(fs *flag.FlagSet) {
		fs.BoolVar(&shadow, "shadow", false, "run it in shadow: scored and kept on orders, not enforced")
		fs.BoolVar(&off, "off", false, "stop it (kept, not running)")
	}
	return withModelKeys(ctx, "fraud activate", args[1:], env, flags, func(cfg config.Config, db *store.DB, mac *keys.LiveMAC, _ *audit.Trail) error {
		if shadow && off {
			return usageError{errors.New("fraud activate: --shadow and --off exclude each other")}
		}
		// Only a model this shop signed, able to score, is switched on.
		if !off {
			if _, err := loadModel(ctx, db, mac, version); err != nil {
				return fmt.Errorf("fraud activate %s: %w", version, err)
			}
		}
		state := scoring.StateEnforce
		switch {
		case shadow:
			state = scoring.StateShadow
		case off:
			state = scoring.StateInactive
		}
		now := env.Now().UTC().Truncate(time.Microsecond)
		rec := audit.New(ctx, now, scoring.ActionVersionChanged, "model "+version, audit.Success, "state="+state+" by cli")
		if err := db.ActivateVersion(ctx, scoring.KindModel, version, state, now, rec); err != nil {
			if errors.Is(err, scoring.ErrNoVersion) {
				return fmt.Errorf("fraud activate: no model %q", version)
			}
			return err
		}
		fmt.Fprintf(env.Stdout, "model %s: %s (running servers follow within %s)\n", version, state, scoring.SyncEvery)
		return nil
	})
}
