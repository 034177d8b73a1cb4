package scoring

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/bulwark-shop/bulwark/internal/access"
	"github.com/bulwark-shop/bulwark/internal/apperr"
	"github.com/bulwark-shop/bulwark/internal/audit"
	"github.com/bulwark-shop/bulwark/internal/fraudmodel"
	"github.com/bulwark-shop/bulwark/internal/order"
	"github.com/bulwark-shop/bulwark/internal/pacing"
)

// Audit actions of scoring's configuration.
const (
	ActionRulesSet       = "fraud.rules_set"
	ActionVersionChanged = "fraud.version_state"
)

// SyncEvery is how often each instance reads the running versions: a rule
// set stored on one instance runs on all within it.
const SyncEvery = 500 * time.Millisecond

// Sources of the enforced rules.
const (
	SourceBuiltIn = "built-in"
	SourceFile    = "file"
	SourceStored  = "stored"
)

// Admin is the operators' side of scoring: the rule sets stored and
// running, and backtests of a rule set against the shop's history. It keeps
// a Scorer running what the store says runs, falling back to the base rules
// (the fraud-rules file, or the built-in ones) while none is stored.
type Admin struct {
	scorer   *Scorer
	versions Versions
	history  Backtests
	models   fraudmodel.Signer
	base     RuleSet
	baseFrom string
	now      func() time.Time
	log      *slog.Logger

	mu sync.Mutex
	// running is what the scorer runs: the stored versions' (kind, state)
	// → version name, to tell what changed.
	running map[string]string
	// refused is the stored model versions refused, by (kind, state): said
	// once, not at every sync.
	refused map[string]string
	// enforced and shadow are the rule sets the scorer runs.
	enforced RuleSet
	shadow   *RuleSet
}

// ModelsKeyset names the MAC keyset that signs the shop's model files.
const ModelsKeyset = "models"

// Backtests reads the shop's history for backtests (the store).
type Backtests interface {
	// ScoredOrders returns the orders created since since that fraud
	// scoring scored, newest first, at most limit.
	ScoredOrders(ctx context.Context, since time.Time, limit int) ([]order.Order, error)
}

// AdminConfig is what an Admin needs. BaseFrom says where Base comes from
// (SourceFile or SourceBuiltIn).
type AdminConfig struct {
	Scorer   *Scorer
	Versions Versions
	History  Backtests
	// Models verifies stored model files (the shop's ModelsKeyset); nil
	// runs no model.
	Models   fraudmodel.Signer
	Base     RuleSet
	BaseFrom string
	Now      func() time.Time
	Log      *slog.Logger
}

// NewAdmin returns the admin of c.Scorer, running c.Base until Sync finds
// stored versions.
func NewAdmin(c AdminConfig) *Admin {
	return &Admin{scorer: c.Scorer, versions: c.Versions, history: c.History, models: c.Models, base: c.Base, baseFrom: c.BaseFrom, now: c.Now, log: c.Log,
		running: map[string]string{}, refused: map[string]string{}, enforced: c.Base}
}

// Rules is what GET /admin/fraud/rules answers.
type Rules struct {
	Enforced RuleSet  `json:"enforced"`
	Shadow   *RuleSet `json:"shadow"`
	// Source says where the enforced set comes from: stored through the
	// API, the fraud-rules file, or built in.
	Source string `json:"source"`
	// Model and ShadowModel are the versions of the trained models
	// running ("" for none).
	Model       string `json:"model"`
	ShadowModel string `json:"shadow_model"`
}

// Rules returns the rule sets running on this instance.
func (a *Admin) Rules(ctx context.Context) (Rules, error) {
	if _, err := access.Require(ctx, access.FraudRules); err != nil {
		return Rules{}, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	src := a.baseFrom
	if a.running[KindRules+"/"+StateEnforce] != "" {
		src = SourceStored
	}
	return Rules{Enforced: a.enforced, Shadow: a.shadow, Source: src, Model: a.running[KindModel+"/"+StateEnforce],
		ShadowModel: a.running[KindModel+"/"+StateShadow]}, nil
}

// invalid is the answer to a rule set that does not compile: every problem,
// each naming its rule.
func invalid(err error) error {
	return &apperr.Error{Code: apperr.CodeValidation, Message: "the rule set is invalid",
		Fields: []apperr.FieldError{{Field: "rules", Message: err.Error()}}}
}

// PutRules stores rs (enforced or in shadow, as its mode says) and runs it
// on this instance at once, on the others within SyncEvery. It needs a
// login within the last minutes: rules decide which orders go through. An
// invalid set is refused whole and the running one stays.
func (a *Admin) PutRules(ctx context.Context, rs RuleSet) (Rules, error) {
	p, err := access.RequireRecent(ctx, access.FraudRules, a.now())
	if err != nil {
		return Rules{}, err
	}
	if _, err := Compile(rs); err != nil {
		return Rules{}, invalid(err)
	}
	body, err := json.Marshal(rs)
	if err != nil {
		return Rules{}, fmt.Errorf("encode rule set %s: %w", rs.Version, err)
	}
	at := a.now().UTC().Truncate(time.Microsecond)
	rec := audit.New(ctx, at, ActionRulesSet, rs.Version, audit.Success, fmt.Sprintf("mode=%s rules=%d", rs.Mode, len(rs.Rules)))
	if err := a.versions.PutVersion(ctx, Version{Kind: KindRules, Version: rs.Version, State: rs.Mode, Body: body, CreatedAt: at,
		CreatedBy: p.UserID}, rec); err != nil {
		return Rules{}, err
	}
	if err := a.Sync(ctx); err != nil {
		return Rules{}, err
	}
	return a.Rules(ctx)
}

// Sync loads the running versions from the store and gives the scorer the
// ones that changed. A stored version that no longer compiles (a later
// release's limits, say) is logged and skipped: the running set stays.
func (a *Admin) Sync(ctx context.Context) error {
	vs, err := a.versions.RunningVersions(ctx)
	if err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	now := map[string]Version{}
	for _, v := range vs {
		now[v.Kind+"/"+v.State] = v
	}
	a.syncModels(ctx, now)
	for _, state := range []string{StateEnforce, StateShadow} {
		k := KindRules + "/" + state
		v, ok := now[k]
		if a.running[k] == v.Version && ok == (a.running[k] != "") {
			continue
		}
		if !ok {
			// None stored in this state (any more): the base set is
			// enforced, nothing runs in shadow.
			if state == StateEnforce {
				if err := a.scorer.SetRules(a.base); err != nil {
					return err
				}
				a.enforced = a.base
			} else {
				a.scorer.ClearShadow()
				a.shadow = nil
			}
			delete(a.running, k)
			continue
		}
		var rs RuleSet
		if err := json.Unmarshal(v.Body, &rs); err != nil {
			a.logf(ctx, "fraud: stored rule set is unreadable; the running one stays", v.Version, err)
			continue
		}
		rs.Mode = state
		if err := a.scorer.SetRules(rs); err != nil {
			a.logf(ctx, "fraud: stored rule set does not compile; the running one stays", v.Version, err)
			continue
		}
		if state == StateEnforce {
			a.enforced = rs
		} else {
			a.shadow = &rs
		}
		a.running[k] = v.Version
	}
	return nil
}

// syncModels loads the models now says run, where they changed; the
// caller holds mu. A model file that does not verify under the shop's key
// or cannot score is logged and not run: the running model stays.
func (a *Admin) syncModels(ctx context.Context, now map[string]Version) {
	for _, state := range []string{StateEnforce, StateShadow} {
		k := KindModel + "/" + state
		v, ok := now[k]
		if a.running[k] == v.Version && ok == (a.running[k] != "") {
			continue
		}
		if !ok || a.models == nil {
			a.scorer.SetModel(nil, state == StateShadow)
			delete(a.running, k)
			continue
		}
		if a.refused[k] == v.Version {
			continue // said once
		}
		m, err := fraudmodel.Unmarshal(v.Body, a.models)
		if err != nil {
			a.refused[k] = v.Version
			a.logf(ctx, "fraud: stored model refused; the running one stays", v.Version, err)
			continue
		}
		a.scorer.SetModel(m, state == StateShadow)
		a.running[k] = v.Version
	}
}

func (a *Admin) logf(ctx context.Context, msg, version string, err error) {
	if a.log != nil {
		a.log.ErrorContext(ctx, msg, "version", version, "err", err)
	}
}

// Run syncs every SyncEvery until ctx ends; failures are logged at most
// once a minute (the running rules stay).
func (a *Admin) Run(ctx context.Context) {
	pacing.Every(ctx, SyncEvery, SyncEvery, a.Sync, func(err error) {
		if a.log != nil {
			a.log.WarnContext(ctx, "fraud: running versions not read; the loaded ones stay", "err", err)
		}
	})
}

// Backtest limits: how far back, and how many orders at most.
const (
	BacktestWindow = 90 * 24 * time.Hour
	BacktestMax    = 50_000
)

// Outcome counts orders by the decision a rule set made about them.
type Outcome struct {
	Allow  int `json:"allow"`
	Review int `json:"review"`
	Block  int `json:"block"`
}

func (o *Outcome) add(decision string) {
	switch decision {
	case order.DecisionBlock:
		o.Block++
	case order.DecisionReview:
		o.Review++
	default:
		o.Allow++
	}
}

// Backtest is what a rule set would have decided about the scored orders
// of the last BacktestWindow, beside what was decided then.
type Backtest struct {
	Version string    `json:"version"`
	Since   time.Time `json:"since"`
	Orders  int       `json:"orders"`
	// Would is the set's decisions; Was the decisions made at checkout.
	Would Outcome `json:"would"`
	Was   Outcome `json:"was"`
	// Changed counts the orders whose decision would differ.
	Changed int `json:"changed"`
	// Labelled: the set's decisions about the orders staff labelled
	// fraud, and legitimate.
	Fraud      Outcome `json:"fraud"`
	Legitimate Outcome `json:"legitimate"`
}

// Backtest runs rs over the features stored on the scored orders of the
// last BacktestWindow (at most BacktestMax, newest first) and counts what it
// would have decided. Text attributes are the stored ones: the shipping
// country; bin and brand are not stored on orders, so rules on them see "".
func (a *Admin) Backtest(ctx context.Context, rs RuleSet) (Backtest, error) {
	if _, err := access.Require(ctx, access.FraudRules); err != nil {
		return Backtest{}, err
	}
	if rs.Mode == "" {
		rs.Mode = Shadow
	}
	c, err := Compile(rs)
	if err != nil {
		return Backtest{}, invalid(err)
	}
	since := a.now().UTC().Add(-BacktestWindow)
	os, err := a.history.ScoredOrders(ctx, since, BacktestMax)
	if err != nil {
		return Backtest{}, err
	}
	bt := Backtest{Version: rs.Version, Since: since, Orders: len(os)}
	for _, o := range os {
		if o.Risk == nil {
			continue
		}
		f := FromMap(o.Risk.Features)
		f.ShipCountry = o.ShippingAddress.Country
		v := c.Evaluate(f)
		bt.Would.add(v.Decision)
		bt.Was.add(o.Risk.Decision)
		if v.Decision != o.Risk.Decision {
			bt.Changed++
		}
		switch o.Label {
		case order.LabelFraud:
			bt.Fraud.add(v.Decision)
		case order.LabelLegitimate:
			bt.Legitimate.add(v.Decision)
		}
		if ctx.Err() != nil {
			return Backtest{}, ctx.Err()
		}
	}
	return bt, nil
}
