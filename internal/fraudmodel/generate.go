package fraudmodel

import (
	"math"
	"math/rand/v2"
)

// GeneratedFeatures are the features the generator writes: fraud scoring's
// numeric features (scoring.Features, docs/FRAUD.md), by the same names.
var GeneratedFeatures = []string{
	"amount", "units", "lines", "guest", "account_age_hours", "prior_orders", "amount_vs_average",
	"card_attempts_hour", "card_declines_hour", "card_declines_day",
	"address_attempts_hour", "address_declines_hour", "address_declines_day", "address_cards_day",
	"account_attempts_hour", "account_declines_hour", "account_declines_day",
	"email_attempts_hour", "email_declines_hour", "email_declines_day", "card_country_mismatch", "billing_mismatch",
}

// Kinds of generated records, with their shares of a history.
var kinds = []struct {
	name  string
	share float64
	fraud bool
	gen   func(*rand.Rand) map[string]float64
}{
	{"card_testing", 0.02, true, cardTesting},
	{"stolen_card", 0.02, true, stolenCard},
	{"account_takeover", 0.015, true, takeover},
	{"friendly_fraud", 0.005, true, friendlyFraud},
	{"normal", 0, false, normal}, // the rest
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x6275_6c77_6172_6b)) }

// Generate returns n records of realistic labelled history, the same for
// the same seed: mostly normal buyers (returning customers, some guests,
// an occasional mistyped card), with card testing (small amounts, many
// cards and declines from one address, often one email), stolen cards (new
// accounts, big orders far above the account's usual, cards issued and
// billed abroad), account takeover (an old account
// suddenly ordering many times its average from a fresh card) and friendly
// fraud (orders that look normal and are disputed later, labelled
// legitimate with a chargeback). It is for tests, benchmarks and newcomers
// to train a model without real data; real history trains a shop's model.
func Generate(n int, seed uint64) []Record {
	rng := newRand(seed)
	out := make([]Record, n)
	for i := range out {
		u, kind := rng.Float64(), len(kinds)-1
		for k, acc := 0, 0.0; k < len(kinds)-1; k++ {
			if acc += kinds[k].share; u < acc {
				kind = k
				break
			}
		}
		k := kinds[kind]
		r := Record{Features: k.gen(rng), Kind: k.name, Label: Legitimate}
		switch {
		case k.name == "friendly_fraud":
			r.Chargeback = true // disputed after it was taken as legitimate
		case k.fraud:
			r.Label = Fraud
		}
		out[i] = r
	}
	return out
}

// logNormal draws e^N(mu, sigma).
func logNormal(rng *rand.Rand, mu, sigma float64) float64 {
	return math.Exp(mu + sigma*rng.NormFloat64())
}

// between draws an integer in [lo, hi].
func between(rng *rand.Rand, lo, hi int) float64 { return float64(lo + rng.IntN(hi-lo+1)) }

// chance is 1 with probability p, else 0.
func chance(rng *rand.Rand, p float64) float64 {
	if rng.Float64() < p {
		return 1
	}
	return 0
}

// buyer fills the order and account of an ordinary customer.
func buyer(rng *rand.Rand) map[string]float64 {
	f := map[string]float64{"units": between(rng, 1, 4), "lines": between(rng, 1, 3), "amount": math.Round(logNormal(rng, math.Log(45), 0.8)*100) / 100,
		"card_attempts_hour": 1, "address_attempts_hour": between(rng, 1, 2), "address_cards_day": 1, "account_attempts_hour": 1, "amount_vs_average": 1,
		"email_attempts_hour": 1,
		// A traveller's or an expatriate's card; a gift shipped to
		// someone else's address.
		"card_country_mismatch": chance(rng, 0.04), "billing_mismatch": chance(rng, 0.05)}
	if rng.Float64() < 0.12 {
		f["guest"] = 1
		f["account_attempts_hour"] = 0
		return f
	}
	f["account_age_hours"] = math.Round(math.Exp(math.Log(24) + rng.Float64()*(math.Log(30000)-math.Log(24))))
	f["prior_orders"] = math.Floor(logNormal(rng, math.Log(3), 1))
	if f["prior_orders"] > 0 {
		f["amount_vs_average"] = logNormal(rng, 0, 0.45)
	}
	return f
}

func normal(rng *rand.Rand) map[string]float64 {
	f := buyer(rng)
	if rng.Float64() < 0.05 { // a mistyped CVC, or a card refused once
		f["card_declines_hour"], f["card_declines_day"] = 1, 1
		f["address_declines_hour"], f["address_declines_day"] = 1, 1
		f["card_attempts_hour"] = 2
		f["email_attempts_hour"], f["email_declines_hour"], f["email_declines_day"] = 2, 1, 1
		if f["guest"] == 0 {
			f["account_declines_hour"], f["account_declines_day"] = 1, 1
		}
	}
	if rng.Float64() < 0.03 { // a household's second card
		f["address_cards_day"] = 2
	}
	return f
}

func cardTesting(rng *rand.Rand) map[string]float64 {
	tries := between(rng, 4, 60)
	declines := math.Round(tries * (0.6 + 0.35*rng.Float64()))
	f := map[string]float64{"amount": between(rng, 1, 5), "units": 1, "lines": 1, "guest": chance(rng, 0.7),
		"card_attempts_hour": between(rng, 1, 4), "card_declines_hour": between(rng, 0, 3),
		"address_attempts_hour": tries, "address_declines_hour": declines, "address_declines_day": declines + between(rng, 0, 20),
		"address_cards_day": between(rng, 3, 40), "amount_vs_average": 1}
	f["card_declines_day"] = f["card_declines_hour"] + between(rng, 0, 2)
	// Half the testers keep one email over their guest carts and cards.
	f["email_attempts_hour"] = 1
	if rng.Float64() < 0.5 {
		f["email_attempts_hour"] = between(rng, 2, int(tries))
		f["email_declines_hour"] = math.Round(f["email_attempts_hour"] * declines / tries)
		f["email_declines_day"] = f["email_declines_hour"]
	}
	f["card_country_mismatch"] = chance(rng, 0.3)
	if f["guest"] == 0 {
		f["account_age_hours"] = rng.Float64() * 3
		f["account_attempts_hour"] = between(rng, 3, 40)
		f["account_declines_hour"] = math.Min(declines, f["account_attempts_hour"])
		f["account_declines_day"] = f["account_declines_hour"]
	}
	return f
}

func stolenCard(rng *rand.Rand) map[string]float64 {
	f := buyer(rng)
	f["amount"] = math.Round(logNormal(rng, math.Log(420), 0.7)*100) / 100
	f["units"] = between(rng, 2, 12)
	f["card_declines_hour"] = between(rng, 0, 2)
	f["card_declines_day"] = f["card_declines_hour"]
	f["address_cards_day"] = between(rng, 1, 3)
	f["address_declines_day"] = f["card_declines_day"]
	f["email_declines_hour"], f["email_declines_day"] = f["card_declines_hour"], f["card_declines_day"]
	// Cards bought abroad, shipped to a reshipper here.
	f["card_country_mismatch"] = chance(rng, 0.6)
	f["billing_mismatch"] = chance(rng, 0.5)
	if f["guest"] == 0 {
		if rng.Float64() < 0.8 { // a fresh account for the purpose
			f["account_age_hours"] = rng.Float64() * 48
			f["prior_orders"], f["amount_vs_average"] = 0, 1
		} else {
			f["amount_vs_average"] = logNormal(rng, math.Log(6), 0.5)
		}
	}
	return f
}

func takeover(rng *rand.Rand) map[string]float64 {
	f := buyer(rng)
	f["guest"] = 0
	f["account_age_hours"] = between(rng, 2000, 30000)
	f["prior_orders"] = between(rng, 3, 40)
	f["amount_vs_average"] = logNormal(rng, math.Log(7), 0.5)
	f["amount"] = math.Round(f["amount"]*f["amount_vs_average"]*100) / 100
	f["account_attempts_hour"] = between(rng, 1, 4)
	f["address_cards_day"] = between(rng, 1, 3)
	f["card_attempts_hour"] = between(rng, 1, 3)
	f["email_attempts_hour"] = f["account_attempts_hour"]
	f["billing_mismatch"] = chance(rng, 0.3) // shipped to the thief
	return f
}

func friendlyFraud(rng *rand.Rand) map[string]float64 {
	f := buyer(rng)
	f["amount"] = math.Round(f["amount"]*logNormal(rng, math.Log(2.5), 0.5)*100) / 100
	if f["guest"] == 0 {
		f["prior_orders"] = math.Min(f["prior_orders"], between(rng, 0, 2))
		f["amount_vs_average"] = logNormal(rng, math.Log(2.5), 0.5)
	}
	return f
}
