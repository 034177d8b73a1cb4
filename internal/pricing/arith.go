package pricing

import (
	"math/big"

	"github.com/bulwark-shop/bulwark/internal/money"
)

// inRange reports whether a is an amount the shop handles.
func inRange(a int64) bool { return a >= 0 && a <= money.MaxAmount }

// add returns a + b, or ErrOutOfRange past money.MaxAmount. Both are already
// in range, so the int64 sum cannot wrap before the check.
func add(a, b int64) (int64, error) {
	if !inRange(a) || !inRange(b) || a+b > money.MaxAmount {
		return 0, ErrOutOfRange
	}
	return a + b, nil
}

// times returns a × n, or ErrOutOfRange past money.MaxAmount. The check is a
// division, so the product is never formed when it would pass the bound.
func times(a, n int64) (int64, error) {
	if !inRange(a) || n < 0 {
		return 0, ErrOutOfRange
	}
	if n != 0 && a > money.MaxAmount/n {
		return 0, ErrOutOfRange
	}
	return a * n, nil
}

// mulDiv returns the quotient and remainder of a × b / c, exactly, for
// a, b ≥ 0 and c > 0; the product may pass int64 (a discount of 10¹² times a
// line of 10¹²), so it is formed in math/big. Callers ensure the quotient fits.
func mulDiv(a, b, c int64) (q, r int64) {
	p := new(big.Int).Mul(big.NewInt(a), big.NewInt(b))
	qq, rr := new(big.Int).QuoRem(p, big.NewInt(c), new(big.Int))
	return qq.Int64(), rr.Int64()
}

// mulDivHalfEven returns a × b / c rounded half-even to an integer, for
// a, b ≥ 0 and c > 0: above half rounds up, below half down, and exactly half
// to the even neighbour.
func mulDivHalfEven(a, b, c int64) int64 {
	q, r := mulDiv(a, b, c)
	// 2r vs c without overflow: r < c ≤ MaxInt64, so compare r with c - r.
	switch {
	case r > c-r:
		return q + 1
	case r == c-r && q%2 == 1:
		return q + 1
	default:
		return q
	}
}

// allocate splits total over weights in proportion, by the largest-remainder
// method: floor shares first, then one unit each to the largest remainders,
// the earlier index first on a tie. The parts sum to total exactly. total must
// not exceed the sum of weights, so no part exceeds its weight.
func allocate(total int64, weights []int64) []int64 {
	parts := make([]int64, len(weights))
	var sum int64
	for _, w := range weights {
		sum += w // each weight and their sum are within money.MaxAmount (checked by the caller)
	}
	if total == 0 || sum == 0 {
		return parts
	}
	rems := make([]int64, len(weights))
	left := total
	for i, w := range weights {
		parts[i], rems[i] = mulDiv(total, w, sum)
		left -= parts[i]
	}
	// left < len(weights): each floor lost less than one unit.
	for ; left > 0; left-- {
		best := -1
		for i, r := range rems {
			if r > 0 && (best < 0 || r > rems[best]) {
				best = i
			}
		}
		parts[best]++
		rems[best] = -1 // one extra unit per line at most
	}
	return parts
}
