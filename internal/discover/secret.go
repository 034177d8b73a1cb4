package discover

import "bytes"

// Secrets are found by the prefixes their issuers put on them so that
// scanners like this one can (GitHub's, Stripe's, Slack's, AWS's key ids,
// Bulwark's own) and by the shape of a JWT; a prefix alone, or one
// followed by too few or the wrong characters, is documentation, not a
// secret. A sample keeps the prefix only.

// charset is the characters of a secret's body.
type charset uint8

const (
	alnum     charset = iota // letters and digits
	upperNum                 // capitals and digits (AWS key ids)
	base32Low                // Bulwark's ids' alphabet: a-z, 2-7 (internal/id)
	base64Std                // letters, digits, '+', '/', '='
	slackBody                // letters, digits, '-'
	patBody                  // letters, digits, '_'
)

func (cs charset) has(c byte) bool {
	switch cs {
	case alnum:
		return isAlnum(c)
	case upperNum:
		return isUpper(c) || isDigit(c)
	case base32Low:
		return isLower(c) || (c >= '2' && c <= '7')
	case base64Std:
		return isAlnum(c) || c == '+' || c == '/' || c == '='
	case slackBody:
		return isAlnum(c) || c == '-'
	case patBody:
		return isAlnum(c) || c == '_'
	}
	return false
}

// secretRule is a prefix and what must follow it: min to max characters
// of body, then a byte that is not.
type secretRule struct {
	prefix   string
	issuer   string
	body     charset
	min, max int
	test     bool // a test-mode credential
}

// secretRules are the prefixes. Bulwark's are internal/identity's,
// internal/guest's and internal/webhook's (a test keeps them in step):
// each is followed by id.Token's 52 characters.
var secretRules = []secretRule{
	{"sk_live_", "stripe", alnum, 16, 247, false},
	{"rk_live_", "stripe", alnum, 16, 247, false},
	{"sk_test_", "stripe", alnum, 16, 247, true},
	{"rk_test_", "stripe", alnum, 16, 247, true},
	{"whsec_", "webhook", base64Std, 24, 128, false}, // Stripe's and Bulwark's signing secrets
	{"AKIA", "aws", upperNum, 16, 16, false},
	{"ASIA", "aws", upperNum, 16, 16, false}, // temporary credentials
	{"ghp_", "github", alnum, 36, 251, false},
	{"gho_", "github", alnum, 36, 251, false},
	{"ghs_", "github", alnum, 36, 251, false},
	{"ghu_", "github", alnum, 36, 251, false},
	{"ghr_", "github", alnum, 36, 251, false},
	{"github_pat_", "github", patBody, 22, 244, false},
	{"xoxb-", "slack", slackBody, 10, 250, false},
	{"xoxa-", "slack", slackBody, 10, 250, false},
	{"xoxp-", "slack", slackBody, 10, 250, false},
	{"xoxr-", "slack", slackBody, 10, 250, false},
	{"xoxs-", "slack", slackBody, 10, 250, false},
	{"bwk_", "bulwark", base32Low, 52, 52, false}, // API key
	{"bws_", "bulwark", base32Low, 52, 52, false}, // session token
	{"bwm_", "bulwark", base32Low, 52, 52, false}, // MFA ticket
	{"bwe_", "bulwark", base32Low, 52, 52, false}, // enrolment ticket
	{"bwv_", "bulwark", base32Low, 52, 52, false}, // verification token
	{"bwr_", "bulwark", base32Low, 52, 52, false}, // password reset token
	{"bgc_", "bulwark", base32Low, 52, 52, false}, // guest cart token
}

// rulesByFirst holds the rules by the first byte of their prefix: a word
// is compared with the few that can start it.
var rulesByFirst = func() (t [256][]secretRule) {
	for _, r := range secretRules {
		t[r.prefix[0]] = append(t[r.prefix[0]], r)
	}
	return t
}()

// secretStarts are the lower-case first bytes of the prefixes (the
// capital ones are tried with IBANs), and 'e' of a JWT.
const secretStarts = "srwgxbe"

// JWT bounds: a header and a signature rarely pass a kilobyte, a payload
// a few; a longer token is missed rather than the scan made unbounded.
const (
	maxJWTPart    = 1024
	maxJWTPayload = 4096
	maxJWT        = 2*maxJWTPart + maxJWTPayload + 2
)

// secret reports whether a secret starts at b[i], a byte after no word.
func secret(b []byte, i int) (Match, bool) {
	rest := b[i:]
	if len(rest) > 3 && rest[0] == 'e' && rest[1] == 'y' && rest[2] == 'J' {
		return jwt(b, i)
	}
	for _, r := range rulesByFirst[rest[0]] {
		// Most words that start like a prefix differ at their second byte.
		if len(rest) < len(r.prefix) || rest[1] != r.prefix[1] || string(rest[:len(r.prefix)]) != r.prefix {
			continue
		}
		j := i + len(r.prefix)
		for j < len(b) && j-i-len(r.prefix) <= r.max && r.body.has(b[j]) {
			j++
		}
		n := j - i - len(r.prefix)
		if n < r.min || n > r.max || (j < len(b) && (isWord(b[j]) || r.body.has(b[j]))) {
			return Match{}, false
		}
		return Match{Kind: Secret, Offset: int64(i), Len: j - i, Sample: r.prefix + "****", Test: r.test, Detail: r.issuer}, true
	}
	return Match{}, false
}

// jwt reports whether a JSON Web Token starts at b[i]: three base64url
// parts split by dots, the first two JSON objects ("eyJ" is the base64 of
// `{"`), the signature at least 16 characters (an unsigned token is not
// a credential).
func jwt(b []byte, i int) (Match, bool) {
	j, ok := b64urlPart(b, i, 10, maxJWTPart)
	if !ok || j+4 > len(b) || b[j] != '.' || !bytes.HasPrefix(b[j+1:], []byte("eyJ")) {
		return Match{}, false
	}
	j, ok = b64urlPart(b, j+1, 10, maxJWTPayload)
	if !ok || j >= len(b) || b[j] != '.' {
		return Match{}, false
	}
	j, ok = b64urlPart(b, j+1, 16, maxJWTPart)
	if !ok || (j < len(b) && (b[j] == '.' || b[j] == '=')) {
		return Match{}, false
	}
	return Match{Kind: Secret, Offset: int64(i), Len: j - i, Sample: "eyJ****", Detail: "jwt"}, true
}

// b64urlPart reads min to max base64url characters from b[i] and returns
// where they end; more than max is not a part.
func b64urlPart(b []byte, i, min, max int) (int, bool) {
	j := i
	for j < len(b) && j-i <= max && (isAlnum(b[j]) || b[j] == '-' || b[j] == '_') {
		j++
	}
	return j, j-i >= min && j-i <= max
}

// privateKey reports whether a PEM private key's armour starts at b[i]:
// "-----BEGIN … PRIVATE KEY-----" (PKCS #1, #8, SEC 1, OpenSSH, PGP's
// "PRIVATE KEY BLOCK") followed by its body or an armour header (an
// encrypted PEM's Proc-Type, PGP's Version). Armour alone is
// documentation.
func privateKey(b []byte, i int) (Match, bool) {
	const begin = "-----BEGIN "
	if !bytes.HasPrefix(b[i:], []byte(begin)) {
		return Match{}, false
	}
	s := i + len(begin)
	e := s
	for e < len(b) && e-s < 48 && (isUpper(b[e]) || isDigit(b[e]) || b[e] == ' ') {
		e++
	}
	label := b[s:e]
	if !bytes.HasPrefix(b[e:], []byte("-----")) ||
		!(bytes.HasSuffix(label, []byte("PRIVATE KEY")) || bytes.HasSuffix(label, []byte("PRIVATE KEY BLOCK"))) {
		return Match{}, false
	}
	end := e + 5
	if !keyBody(b, end) {
		return Match{}, false
	}
	return Match{Kind: PrivateKey, Offset: int64(i), Len: end - i, Sample: begin + string(label) + "-----", Detail: string(label)}, true
}

// keyBody reports whether a key's body follows its armour at b[j]: after
// line breaks (raw, or escaped in JSON), an armour header or eight base64
// characters.
func keyBody(b []byte, j int) bool {
breaks:
	for k := 0; k < 8 && j < len(b); k++ {
		switch {
		case b[j] == '\n' || b[j] == '\r' || b[j] == ' ' || b[j] == '\t':
			j++
		case b[j] == '\\' && j+1 < len(b) && (b[j+1] == 'n' || b[j+1] == 'r'):
			j += 2
		default:
			break breaks
		}
	}
	if armourHeader(b[j:]) {
		return true
	}
	n := 0
	for j < len(b) && n < 8 && base64Std.has(b[j]) {
		j++
		n++
	}
	return n == 8
}

// armourHeader reports whether b starts with a header line of PEM (RFC
// 1421) or PGP (RFC 4880) armour: a name of letters and dashes, ": ".
func armourHeader(b []byte) bool {
	n := 0
	for n < len(b) && n <= 20 && (isAlnum(b[n]) || b[n] == '-') {
		n++
	}
	return n >= 2 && n <= 20 && n+1 < len(b) && b[n] == ':' && b[n+1] == ' '
}
