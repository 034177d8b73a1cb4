package pricing

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"golang.org/x/text/language"

	"github.com/bulwark-shop/bulwark/internal/apperr"
)

// TaxMode says whether the shop's prices include tax.
type TaxMode string

// The tax modes (a shop setting).
const (
	// TaxExclusive prices are before tax; tax is added to the total (US style).
	TaxExclusive TaxMode = "exclusive"
	// TaxInclusive prices include tax; the tax lines show what is in them (EU style).
	TaxInclusive TaxMode = "inclusive"
)

// ParseTaxMode returns the mode named s, or false.
func ParseTaxMode(s string) (TaxMode, bool) {
	m := TaxMode(s)
	return m, m == TaxExclusive || m == TaxInclusive
}

// Limits of the pricing inputs.
const (
	// MaxBasisPoints is 100 % in basis points (discount percentages).
	MaxBasisPoints = 10_000
	// MaxRatePPM is 100 % in parts per million (tax rates: basis points
	// cannot hold 8.875 % or 9.975 %, which real sales taxes are).
	MaxRatePPM    = 1_000_000
	MaxNameLength = 100
)

var (
	countryShape  = regexp.MustCompile(`^[A-Z]{2}$`)
	regionShape   = regexp.MustCompile(`^[A-Z0-9]{1,3}$`)
	currencyShape = regexp.MustCompile(`^[A-Z]{3}$`)
)

// Place is a country (ISO 3166-1 alpha-2), or one region of it when Region
// is set (the part after the hyphen of an ISO 3166-2 code: "CA" of US-CA).
type Place struct {
	Country string
	Region  string
}

// Destination is where an order ships to.
type Destination = Place

// CheckDestination returns validation_failed, naming field, unless d is a
// well-formed country and region.
func CheckDestination(d Destination, field string) error {
	var v apperr.Validator
	checkPlace(&v, field, d)
	return v.Err()
}

// IsCountry reports whether c is an assigned ISO 3166-1 alpha-2 country code
// (DE, US), not just two capital letters: a made-up country (ZZ) would match
// no tax rate and no shipping zone and so pay neither.
func IsCountry(c string) bool {
	if !countryShape.MatchString(c) {
		return false
	}
	r, err := language.ParseRegion(c)
	return err == nil && r.IsCountry() && r.String() == c
}

func checkPlace(v *apperr.Validator, field string, p Place) {
	v.Check(IsCountry(p.Country), join(field, "country"), "must be an ISO 3166-1 alpha-2 country code such as DE")
	v.Check(p.Region == "" || regionShape.MatchString(p.Region), join(field, "region"), "must be the 1 to 3 letters or digits after the hyphen of an ISO 3166-2 code, such as CA for US-CA")
}

// CodeRegionRequired is the code of a destination without a region (or with
// one the shop does not know) in a country whose taxes or shipping differ by
// region.
const CodeRegionRequired = "region_required"

// CheckRegion refuses (region_required) a destination in a country where the
// shop's tax rates or shipping zones name regions, unless the destination
// names one of those regions. Without it, leaving the region out (or making
// one up) would escape a regional sales tax: a shop that taxes by region
// lists every region it sells to, with a rate of 0 where none applies.
func CheckRegion(d Destination, rates []TaxRate, opts []ShippingOption) error {
	known := map[string]bool{}
	for _, r := range rates {
		if r.Place.Country == d.Country && r.Place.Region != "" {
			known[r.Place.Region] = true
		}
	}
	for _, o := range opts {
		for _, z := range o.Zones {
			if z.Country == d.Country && z.Region != "" {
				known[z.Region] = true
			}
		}
	}
	if len(known) == 0 || known[d.Region] {
		return nil
	}
	names := make([]string, 0, len(known))
	for r := range known {
		names = append(names, r)
	}
	slices.Sort(names)
	if len(names) > 20 {
		names = append(names[:20], "…")
	}
	return apperr.New(CodeRegionRequired, "taxes and shipping to %s depend on the region: give the address's region, one of %s", d.Country, strings.Join(names, ", "))
}

// covers reports whether p covers d: the same country, and either the whole
// country or d's region.
func (p Place) covers(d Destination) bool {
	return p.Country == d.Country && (p.Region == "" || p.Region == d.Region)
}

// TaxRate is a rate of tax for a country, or one region of it.
type TaxRate struct {
	ID    string
	Place Place
	// RatePPM is the rate in parts per million: 19 % is 190000.
	RatePPM   int64
	Name      string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Validate reports every invalid field of r as a validation_failed error.
func (r TaxRate) Validate() error {
	var v apperr.Validator
	checkPlace(&v, "", r.Place)
	v.Check(r.RatePPM >= 0 && r.RatePPM <= MaxRatePPM, "rate_ppm", fmt.Sprintf("must be between 0 and %d (100 %%), in parts per million", MaxRatePPM))
	v.CheckText("name", r.Name, 1, MaxNameLength, false)
	return v.Err()
}

// Overlaps reports whether a and b would both claim one country and region:
// such a pair is refused (ErrTaxRateOverlap), as it would tax twice by mistake.
// A country-wide rate and a regional one do not overlap: both apply.
func (r TaxRate) Overlaps(o TaxRate) bool {
	return r.ID != o.ID && r.Place == o.Place
}

// ApplicableRates returns the rates of rates that apply to d, in the order given.
func ApplicableRates(rates []TaxRate, d Destination) []TaxRate {
	var out []TaxRate
	for _, r := range rates {
		if r.Place.covers(d) {
			out = append(out, r)
		}
	}
	return out
}

// join names a field inside prefix ("zones[0].country"), or at the top level.
func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}
