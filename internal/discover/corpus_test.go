package discover_test

import (
	"testing"

	"github.com/bulwark-shop/bulwark/internal/discover"
)

// The corpus goal: recall ≥ 99.5 % and precision ≥ 99 % on card numbers,
// no decoy of any kind taken for one, and the other kinds found too.
func TestCorpusRecallAndPrecision(t *testing.T) {
	c := discover.GenerateCorpus(1, 10_000, 10_000)
	recall, precision, e := discover.Evaluate(c)
	t.Logf("cards: recall %.4f, precision %.4f over %d bytes in %d documents", recall, precision, c.Size(), len(c.Docs))
	for _, k := range discover.Kinds() {
		s := e.Scores[k]
		t.Logf("%-11s found %5d, missed %3d, false %3d", k, s.Found, s.Missed, s.False)
	}
	if recall < 0.995 || precision < 0.99 {
		t.Errorf("cards: recall %.4f, precision %.4f; want ≥ 0.995 and ≥ 0.99", recall, precision)
	}
	if s := e.Scores[discover.Card]; s.Found+s.Missed != 10_000 {
		t.Errorf("%d cards labelled, want 10000", s.Found+s.Missed)
	}
	for _, kind := range discover.DecoyKinds() {
		if n := e.DecoysAsCards[kind]; n != 0 {
			t.Errorf("%d %s decoys taken for card numbers", n, kind)
		}
	}
	if n := e.DecoysAsCards[""]; n != 0 {
		t.Errorf("%d card numbers found where none was written", n)
	}
	for _, k := range []discover.Kind{discover.IBAN, discover.Email, discover.Phone, discover.PrivateKey, discover.Secret} {
		if s := e.Scores[k]; s.Found == 0 || s.Recall() < 0.995 || s.Precision() < 0.99 {
			t.Errorf("%s: %+v", k, s)
		}
	}
}
