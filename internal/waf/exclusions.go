package waf

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Exclusion switches Core Rule Set rules off for one route, or, with Field
// set, only for one field of the route's body (JSON, or a form's). It is the narrow tool for
// a legitimate request a rule mistakes for an attack (a false positive): it
// never widens beyond the method, path, field and rule ids it names.
type Exclusion struct {
	Method string
	// Path is a path pattern: literal segments and {name} wildcards, each
	// matching exactly one segment, as in the API's route table.
	Path string
	// Field is a top-level field of the body: a JSON field (Coraza's
	// ARGS:json.<field>) or a form field (ARGS:<field>, which is also a
	// query parameter of that name on that route); empty excludes the rules
	// for the whole request.
	Field string
	Rules []RuleRange
}

// RuleRange is an inclusive range of rule ids; a single id has First == Last.
type RuleRange struct{ First, Last int }

func (r RuleRange) String() string {
	if r.First == r.Last {
		return strconv.Itoa(r.First)
	}
	return fmt.Sprintf("%d-%d", r.First, r.Last)
}

// The shapes ParseExclusions accepts. They are strict because an exclusion
// becomes SecLang: nothing but these characters can reach the rule parser.
var (
	methodShape  = regexp.MustCompile(`^[A-Z]{3,7}$`)
	segmentShape = regexp.MustCompile(`^(?:[A-Za-z0-9._~-]+|\{[a-z_]+\})$`)
	fieldShape   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)
)

// maxExclusions bounds the setting: each one is a rule run on every request.
const maxExclusions = 64

// ParseExclusions parses the waf-exclusions setting:
//
//	METHOD /path/{pattern}[ field]=ID|FIRST-LAST,...;...
//
// for example "PATCH /api/v1/admin/products/{id} description=941000-941999".
// Rule ids must lie in the Core Rule Set's request rules (900000-999999) so an
// exclusion cannot switch off Bulwark's own fail-closed rules. It returns an
// error naming the first malformed entry; empty input means no exclusions.
func ParseExclusions(s string) ([]Exclusion, error) {
	var out []Exclusion
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	for i, entry := range strings.Split(s, ";") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		x, err := parseExclusion(entry)
		if err != nil {
			return nil, fmt.Errorf("exclusion %d (%q): %w", i+1, entry, err)
		}
		out = append(out, x)
		if len(out) > maxExclusions {
			return nil, fmt.Errorf("more than %d exclusions", maxExclusions)
		}
	}
	return out, nil
}

func parseExclusion(entry string) (Exclusion, error) {
	target, ids, ok := strings.Cut(entry, "=")
	if !ok {
		return Exclusion{}, errors.New("want METHOD /path[ field]=rule ids")
	}
	parts := strings.Fields(target)
	if len(parts) < 2 || len(parts) > 3 {
		return Exclusion{}, errors.New("want METHOD /path[ field] before '='")
	}
	x := Exclusion{Method: parts[0], Path: parts[1]}
	if !methodShape.MatchString(x.Method) {
		return Exclusion{}, errors.New("method: want an HTTP method in capitals")
	}
	if !strings.HasPrefix(x.Path, "/") || len(x.Path) > 256 {
		return Exclusion{}, errors.New("path: want an absolute path of at most 256 characters")
	}
	for _, seg := range strings.Split(x.Path[1:], "/") {
		if !segmentShape.MatchString(seg) || seg == "." || seg == ".." {
			return Exclusion{}, fmt.Errorf("path: segment %q: want letters, digits, ._~- or a {name} wildcard", seg)
		}
	}
	if len(parts) == 3 {
		x.Field = parts[2]
		if !fieldShape.MatchString(x.Field) {
			return Exclusion{}, errors.New("field: want a JSON field name (letters, digits, _)")
		}
	}
	for _, id := range strings.Split(ids, ",") {
		r, err := parseRuleRange(strings.TrimSpace(id))
		if err != nil {
			return Exclusion{}, err
		}
		x.Rules = append(x.Rules, r)
	}
	return x, nil
}

func parseRuleRange(s string) (RuleRange, error) {
	first, last, isRange := strings.Cut(s, "-")
	a, err := parseRuleID(first)
	if err != nil {
		return RuleRange{}, err
	}
	b := a
	if isRange {
		if b, err = parseRuleID(last); err != nil {
			return RuleRange{}, err
		}
		if b < a {
			return RuleRange{}, fmt.Errorf("rule range %q: first id above the last", s)
		}
	}
	return RuleRange{a, b}, nil
}

func parseRuleID(s string) (int, error) {
	if len(s) != 6 || strings.TrimLeft(s, "0123456789") != "" {
		return 0, fmt.Errorf("rule id %q: want a six-digit Core Rule Set id", s)
	}
	n, _ := strconv.Atoi(s)
	if n < 900000 {
		return 0, fmt.Errorf("rule id %q: only Core Rule Set rules (900000-999999) can be excluded", s)
	}
	return n, nil
}

// pathRegexp is the anchored regular expression of an exclusion's path
// pattern, matched against Coraza's REQUEST_FILENAME (the decoded path).
func pathRegexp(pattern string) string {
	segs := strings.Split(pattern[1:], "/")
	for i, seg := range segs {
		if strings.HasPrefix(seg, "{") {
			segs[i] = "[^/]+"
		} else {
			segs[i] = regexp.QuoteMeta(seg)
		}
	}
	return "^/" + strings.Join(segs, "/") + "$"
}

// directives returns the SecLang rule of exclusion x with rule id id. It runs
// in phase 1, before the Core Rule Set's rules, and only removes rules (or
// one field from their targets) for the rest of this one transaction.
func (x Exclusion) directives(id int) string {
	var ctl []string
	for _, r := range x.Rules {
		if x.Field == "" {
			ctl = append(ctl, "ctl:ruleRemoveById="+r.String())
		} else {
			ctl = append(ctl, "ctl:ruleRemoveTargetById="+r.String()+";ARGS:json."+x.Field,
				"ctl:ruleRemoveTargetById="+r.String()+";ARGS:"+x.Field)
		}
	}
	return fmt.Sprintf("SecRule REQUEST_METHOD \"@streq %s\" \"id:%d,phase:1,pass,nolog,t:none,chain\"\n"+
		"  SecRule REQUEST_FILENAME \"@rx %s\" \"t:none,%s\"\n",
		x.Method, id, pathRegexp(x.Path), strings.Join(ctl, ","))
}
