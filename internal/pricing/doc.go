// Package pricing owns every amount Bulwark charges: line totals, discounts,
// shipping, tax and the total. Carts and checkout both call Compute, so a
// customer sees in the cart exactly what checkout charges; the store only
// persists what this package decided. It also owns the staff-managed inputs
// of that computation — tax rates, shipping options and discount codes —
// with their validation, and the decisions about them (is a discount valid
// for this cart, is a shipping option available for this destination).
//
// The computation (Compute and the Check functions) is pure: no I/O, no
// clock (the time is an input), no floats. Every amount is an int64 of minor
// units of one currency, never above money.MaxAmount; a sum or product that
// would pass it is refused (ErrOutOfRange) instead of wrapping. Products of
// two amounts (allocation, tax) are computed exactly with math/big.
//
// # Rounding rules
//
// Discount percentages are basis points (1 bp = 0.01 %; 10000 = 100 %); tax
// rates are parts per million (190000 = 19 %), since basis points cannot hold
// real sales taxes such as 8.875 % or 9.975 %. Every rounding is
// half-even ("banker's rounding": a tie goes to the even neighbour), to the
// minor unit, and happens in exactly these places:
//
//  1. Line total = unit price × quantity, exact.
//  2. A percent discount is rounded once, on the eligible subtotal:
//     round(eligible × bp / 10000). A fixed discount is min(amount, eligible).
//  3. The discount is allocated to the eligible lines in proportion to their
//     totals with the largest-remainder method: each line gets
//     floor(discount × line / eligible), and the units left over go one each
//     to the lines with the largest remainders, earlier lines first on a tie.
//     The parts always sum to the discount exactly and no line goes below 0.
//  4. Tax is computed per line, after its discount part, and per rate, then
//     summed per rate into tax lines. Shipping is taxed like one more line, at
//     the same rates, after any free-shipping discount.
//     Exclusive mode (prices before tax): tax = round(base × ppm / 10⁶), and
//     the tax is added to the total.
//     Inclusive mode (prices include tax): with R the sum of the rates that
//     apply, tax = round(base × ppm / (10⁶ + R)); it is already in the prices
//     and is shown, not added. Each rate is rounded on its own, so the rates'
//     parts of one line may differ by a unit from rounding their sum once.
//  5. Total = subtotal − discount + shipping (+ tax in exclusive mode).
//
// # Which rates apply
//
// Every rate of the destination's country with no region, and every rate of
// the destination's country and region, applies to every line; rates add up
// (a federal and a provincial rate, say) and are never compounded. Two rates
// for the same country and region overlap and are refused. A destination
// with no rate is charged no tax; a rate of 0 bp (zero-rated) shows a tax
// line of 0. Without a destination (a cart before its address) no tax lines
// are computed and none is added.
//
// # Shipping
//
// An option serves a zone: a list of countries, each whole or one region of
// it. Its price is per currency and of one kind: flat; weight_bands, where a
// band [min_grams, max_grams) includes its lower bound and excludes its upper
// one, and a weight outside every band is unavailable; or free_above, free
// when the subtotal after discount is at least the threshold, the flat price
// below it. The weight is the sum of the lines' weight × quantity.
//
// # Discounts
//
// A code is case-insensitive: it is kept upper-case, with hyphens and spaces
// removed, and must then be 4 to 32 characters of DiscountAlphabet (ASCII letters and
// digits). A discount is valid from starts_at (inclusive) to ends_at
// (exclusive), when active, when the cart has at least one eligible line
// (any line when no products or categories are named), and when the subtotal
// before discount is at least the minimum in the cart's currency (a discount
// with minimums but none in this currency is not valid in it). Use limits
// (0 = none) make a valid discount exhausted: a different answer (409), as a
// customer cannot fix it by changing the cart.
package pricing
