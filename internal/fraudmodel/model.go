// Package fraudmodel is fraud scoring's trained model (issue 14, "A trained
// model"): a logistic regression over a checkout's numeric features,
// learnt from labelled history (a file of past transactions, and the
// orders staff labelled), evaluated on a held-out part, and kept as a
// signed file that only this shop's key verifies.
//
// Logistic regression because each feature's push on a score can be read
// off (weight × its standardised value): staff see why an order was held
// ("address_cards_day +2.3"), scoring is a dot product (well under a
// microsecond), and it learns sensibly from the few thousand orders a small
// shop has. The optimisation is gonum's L-BFGS, not hand-written; AUC is
// gonum's ROC integrated with its trapezoidal rule.
package fraudmodel

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"time"

	"gonum.org/v1/gonum/integrate"
	"gonum.org/v1/gonum/optimize"
	"gonum.org/v1/gonum/stat"
)

// Labels of a record.
const (
	Fraud      = "fraud"
	Legitimate = "legitimate"
)

// Limits: of a model's features, and of a history.
const (
	MaxFeatures = 256
	MaxRecords  = 1_000_000
)

// Record is one labelled past transaction: its features by name, what it
// turned out to be, and what kind of case it was (for people; the
// generator's kinds: normal, card_testing, stolen_card, account_takeover,
// friendly_fraud).
type Record struct {
	Features   map[string]float64 `json:"features"`
	Label      string             `json:"label"`
	Kind       string             `json:"kind,omitempty"`
	Chargeback bool               `json:"chargeback,omitempty"`
}

// IsFraud is the record's class: fraud, or a chargeback whatever the label
// said (friendly fraud is labelled legitimate at the time, and disputed
// later).
func (r Record) IsFraud() bool { return r.Label == Fraud || r.Chargeback }

// Model is a trained logistic regression: p(fraud) = σ(Bias + Σ Weight_i ×
// (log1p(x_i) − Mean_i) / Scale_i). Every feature is a count, an amount, a
// duration or a ratio (never negative, heavy-tailed), hence log1p.
type Model struct {
	Version  string    `json:"version"`
	Created  time.Time `json:"created"`
	Features []string  `json:"features"`
	Mean     []float64 `json:"mean"`
	Scale    []float64 `json:"scale"`
	Weights  []float64 `json:"weights"`
	Bias     float64   `json:"bias"`
	// Metrics are the held-out evaluation made when it was trained.
	Metrics *Metrics `json:"metrics,omitempty"`
}

// Options tune training.
type Options struct {
	// Version names the model.
	Version string
	// L2 is the ridge penalty (default 0.001): it keeps weights finite on
	// separable data and small on features that barely help.
	L2 float64
	// MaxIterations bounds the optimiser's major iterations (default 200):
	// training is bounded in CPU whatever the history.
	MaxIterations int
	Now           time.Time
}

// Train fits a model to records over the features names (each record's
// missing features count as 0).
func Train(records []Record, names []string, o Options) (*Model, error) {
	if len(records) > MaxRecords {
		return nil, fmt.Errorf("%d records: at most %d", len(records), MaxRecords)
	}
	if err := checkNames(names); err != nil {
		return nil, err
	}
	n, d := len(records), len(names)
	y := make([]float64, n)
	pos := 0
	for i, r := range records {
		if r.IsFraud() {
			y[i], pos = 1, pos+1
		}
	}
	if pos == 0 || pos == n {
		return nil, errors.New("the history must hold both fraud and legitimate records")
	}
	if o.L2 <= 0 {
		o.L2 = 0.001
	}
	if o.MaxIterations <= 0 {
		o.MaxIterations = 200
	}
	m := &Model{Version: o.Version, Created: o.Now.UTC(), Features: slices.Clone(names), Mean: make([]float64, d), Scale: make([]float64, d),
		Weights: make([]float64, d)}
	// Standardise log1p(x) with the training set's mean and deviation.
	x := make([][]float64, n)
	col := make([]float64, n)
	for j, name := range names {
		for i, r := range records {
			col[i] = transform(r.Features[name])
		}
		mean, sd := stat.MeanStdDev(col, nil)
		if !(sd > 1e-9) {
			sd = 1 // a constant feature: it carries nothing, its weight stays ~0
		}
		m.Mean[j], m.Scale[j] = mean, sd
	}
	for i, r := range records {
		x[i] = make([]float64, d)
		for j, name := range names {
			x[i][j] = (transform(r.Features[name]) - m.Mean[j]) / m.Scale[j]
		}
	}
	// Parameters: d weights, then the bias. Mean log-loss plus the ridge.
	loss := func(p []float64) float64 {
		var sum float64
		for i := range x {
			z := p[d] + dot(p[:d], x[i])
			// log(1+e^z) - y*z, computed without overflow.
			sum += softplus(z) - y[i]*z
		}
		return sum/float64(n) + o.L2/2*dot(p[:d], p[:d])
	}
	grad := func(g, p []float64) {
		clear(g)
		for i := range x {
			r := sigmoid(p[d]+dot(p[:d], x[i])) - y[i]
			for j, v := range x[i] {
				g[j] += r * v
			}
			g[d] += r
		}
		for j := range g {
			g[j] /= float64(n)
		}
		for j := range d {
			g[j] += o.L2 * p[j]
		}
	}
	res, err := optimize.Minimize(optimize.Problem{Func: loss, Grad: grad}, make([]float64, d+1),
		&optimize.Settings{MajorIterations: o.MaxIterations, GradientThreshold: 1e-6}, &optimize.LBFGS{})
	if err != nil && res == nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	// An iteration limit reached is a model all the same (the limit bounds
	// CPU; the held-out evaluation says how good it is).
	copy(m.Weights, res.X[:d])
	m.Bias = res.X[d]
	if err := m.check(); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	return m, nil
}

func transform(v float64) float64 {
	if !(v > 0) { // negatives and NaN: 0
		return 0
	}
	return math.Log1p(v)
}

func dot(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

func sigmoid(z float64) float64 { return 1 / (1 + math.Exp(-z)) }

func softplus(z float64) float64 {
	if z > 0 {
		return z + math.Log1p(math.Exp(-z))
	}
	return math.Log1p(math.Exp(z))
}

// Probability returns the model's probability that f is fraud.
func (m *Model) Probability(f map[string]float64) float64 {
	z := m.Bias
	for j, name := range m.Features {
		z += m.Weights[j] * (transform(f[name]) - m.Mean[j]) / m.Scale[j]
	}
	return sigmoid(z)
}

// Score returns f's risk score 0-99 (99 × the probability, rounded down)
// and the features that pushed it up most (at most three, as "model:
// name +push"). A feature missing from f counts as 0.
func (m *Model) Score(f map[string]float64) (int, []string) {
	type push struct {
		name string
		v    float64
	}
	var top [3]push
	z := m.Bias
	for j, name := range m.Features {
		c := m.Weights[j] * (transform(f[name]) - m.Mean[j]) / m.Scale[j]
		z += c
		for k := range top {
			if c > top[k].v {
				copy(top[k+1:], top[k:len(top)-1])
				top[k] = push{name, c}
				break
			}
		}
	}
	score := int(math.Floor(99 * sigmoid(z)))
	var reasons []string
	for _, t := range top {
		if t.v > 0 {
			reasons = append(reasons, "model: "+t.name+" +"+strconv.FormatFloat(t.v, 'f', 2, 64))
		}
	}
	return score, reasons
}

// Metrics is an evaluation on records the model did not learn from.
type Metrics struct {
	N     int     `json:"n"`
	Fraud int     `json:"fraud"`
	AUC   float64 `json:"auc"`
	// Precision and recall of scores at or above the block and review
	// thresholds.
	BlockAt         int     `json:"block_at"`
	BlockPrecision  float64 `json:"block_precision"`
	BlockRecall     float64 `json:"block_recall"`
	ReviewAt        int     `json:"review_at"`
	ReviewPrecision float64 `json:"review_precision"`
	ReviewRecall    float64 `json:"review_recall"`
}

// Evaluate scores records and measures the model against their labels.
func Evaluate(m *Model, records []Record, blockAt, reviewAt int) Metrics {
	type scored struct {
		p     float64
		score int
		fraud bool
	}
	s := make([]scored, len(records))
	out := Metrics{N: len(records), BlockAt: blockAt, ReviewAt: reviewAt}
	for i, r := range records {
		score, _ := m.Score(r.Features)
		s[i] = scored{m.Probability(r.Features), score, r.IsFraud()}
		if s[i].fraud {
			out.Fraud++
		}
	}
	sort.Slice(s, func(i, j int) bool { return s[i].p < s[j].p })
	y, classes := make([]float64, len(s)), make([]bool, len(s))
	for i, v := range s {
		y[i], classes[i] = v.p, v.fraud
	}
	if out.Fraud > 0 && out.Fraud < out.N {
		tpr, fpr, _ := stat.ROC(nil, y, classes, nil)
		out.AUC = integrate.Trapezoidal(fpr, tpr)
	}
	pr := func(at int) (precision, recall float64) {
		var tp, flagged int
		for _, v := range s {
			if v.score >= at {
				flagged++
				if v.fraud {
					tp++
				}
			}
		}
		if flagged > 0 {
			precision = float64(tp) / float64(flagged)
		}
		if out.Fraud > 0 {
			recall = float64(tp) / float64(out.Fraud)
		}
		return precision, recall
	}
	out.BlockPrecision, out.BlockRecall = pr(blockAt)
	out.ReviewPrecision, out.ReviewRecall = pr(reviewAt)
	return out
}

// Split divides records into a training and a held-out part, heldOut of
// them (0.2 for a fifth) chosen by a seeded shuffle: the same split for the
// same records and seed.
func Split(records []Record, heldOut float64, seed uint64) (train, test []Record) {
	idx := make([]int, len(records))
	for i := range idx {
		idx[i] = i
	}
	rng := newRand(seed)
	rng.Shuffle(len(idx), func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
	cut := int(float64(len(records)) * heldOut)
	for k, i := range idx {
		if k < cut {
			test = append(test, records[i])
		} else {
			train = append(train, records[i])
		}
	}
	return train, test
}

var featureName = func(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

func checkNames(names []string) error {
	if len(names) == 0 || len(names) > MaxFeatures {
		return fmt.Errorf("%d features: 1 to %d", len(names), MaxFeatures)
	}
	seen := map[string]bool{}
	for _, n := range names {
		if !featureName(n) {
			return fmt.Errorf("feature %q: 1 to 64 of a-z 0-9 _", n)
		}
		if seen[n] {
			return fmt.Errorf("feature %q named twice", n)
		}
		seen[n] = true
	}
	return nil
}

// check refuses a model that cannot score: mismatched lengths, names, or a
// number that is not finite.
func (m *Model) check() error {
	if err := checkNames(m.Features); err != nil {
		return err
	}
	d := len(m.Features)
	if len(m.Mean) != d || len(m.Scale) != d || len(m.Weights) != d {
		return errors.New("the model's mean, scale and weights must have one value per feature")
	}
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	if !finite(m.Bias) {
		return errors.New("the model's bias is not a finite number")
	}
	for j := range d {
		if !finite(m.Mean[j]) || !finite(m.Weights[j]) || !finite(m.Scale[j]) || !(m.Scale[j] > 0) {
			return fmt.Errorf("feature %q: mean, weight and scale must be finite (scale above 0)", m.Features[j])
		}
	}
	return nil
}
