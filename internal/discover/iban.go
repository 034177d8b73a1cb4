package discover

import "strings"

// ibanLengths is the IBAN length of each country that has one (SWIFT's
// IBAN registry).
var ibanLengths = func() map[[2]byte]int {
	m := map[[2]byte]int{}
	for _, e := range strings.Fields(`AD24 AE23 AL28 AT20 AZ28 BA20 BE16 BG22 BH22 BI27 BR29 BY28 CH21 CR22 CY28
		CZ24 DE22 DJ27 DK18 DO28 EE20 EG29 ES24 FI18 FK18 FO18 FR27 GB22 GE22 GI23 GL18 GR27 GT28 HN28 HR21
		HU28 IE22 IL23 IQ23 IS26 IT27 JO30 KW30 KZ20 LB28 LC32 LI21 LT20 LU20 LV21 LY25 MC27 MD24 ME22 MK19
		MN20 MR27 MT31 MU30 NI28 NL18 NO15 OM23 PK24 PL28 PS29 PT25 QA29 RO24 RS22 RU33 SA24 SC31 SD18 SE24
		SI19 SK24 SM27 SO23 ST25 SV28 TL23 TN24 TR26 UA29 VA22 VG24 XK20 YE30`) {
		m[[2]byte{e[0], e[1]}] = int(e[2]-'0')*10 + int(e[3]-'0')
	}
	return m
}()

// iban reports whether an IBAN starts at b[i] (a capital after no word):
// country, check digits, then capitals and digits, either in one run or in
// groups of four split by single spaces as IBANs are printed; exactly the
// country's length, then ISO 13616's mod-97 check.
func iban(b []byte, i int) (Match, bool) {
	if i+4 >= len(b) || !isUpper(b[i+1]) || !isDigit(b[i+2]) || !isDigit(b[i+3]) {
		return Match{}, false
	}
	want, ok := ibanLengths[[2]byte{b[i], b[i+1]}]
	if !ok {
		return Match{}, false
	}
	spaced := b[i+4] == ' '
	var v [34]byte
	n, j := 0, i
	for j < len(b) && n < want {
		c := b[j]
		if isDigit(c) || isUpper(c) {
			v[n] = c
			n++
			j++
			continue
		}
		if spaced && c == ' ' && n%4 == 0 && j+1 < len(b) && (isDigit(b[j+1]) || isUpper(b[j+1])) {
			j++
			continue
		}
		break
	}
	// A run that goes on is longer than the country's IBAN; a spaced one
	// may be followed by another word.
	if n != want || (j < len(b) && isWord(b[j])) || !mod97(v[:n]) {
		return Match{}, false
	}
	sample := string(v[:4]) + strings.Repeat("*", n-8) + string(v[n-4:n])
	return Match{Kind: IBAN, Offset: int64(i), Len: j - i, Sample: sample, Detail: string(v[:2])}, true
}

// mod97 is ISO 13616's check: the first four characters moved to the
// end, letters read as 10 to 35, the number mod 97 must be 1. The number
// is reduced a digit at a time, so it never needs more than an int.
func mod97(v []byte) bool {
	rem := 0
	for k := range v {
		c := v[(k+4)%len(v)]
		if isDigit(c) {
			rem = (rem*10 + int(c-'0')) % 97
		} else {
			rem = (rem*100 + int(c-'A'+10)) % 97
		}
	}
	return rem == 1
}
