package guest

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// An order link's token is "v1.<expiry, Unix seconds>.<tag>": the tag is the
// MAC keyset's (Tink HMAC-SHA256, with its key id) over linkData, in
// unpadded base64url. The order id is not in the token but in the request:
// a token signed for one order opens no other.
const linkVersion = "v1"

// MaxLinkToken bounds a token the parser reads (a real one is about 60 bytes).
const MaxLinkToken = 200

var errBadLink = errors.New("not a valid order link")

// linkData is what a link's tag covers: a purpose label, so a tag of this
// keyset made for something else never passes, the order id and the expiry.
func linkData(orderID string, expires int64) []byte {
	return []byte("bulwark guest order link " + linkVersion + "\x00" + orderID + "\x00" + strconv.FormatInt(expires, 10))
}

// sign returns the link token of orderID, valid until expires.
func (s *Service) sign(orderID string, expires time.Time) (string, error) {
	exp := expires.Unix()
	tag, err := s.d.MAC.ComputeMAC(linkData(orderID, exp))
	if err != nil {
		return "", fmt.Errorf("sign order link: %w", err)
	}
	return linkVersion + "." + strconv.FormatInt(exp, 10) + "." + base64.RawURLEncoding.EncodeToString(tag), nil
}

// parseLink splits a link token into its expiry and tag, refusing anything
// not of the shape sign makes.
func parseLink(token string) (expires int64, tag []byte, err error) {
	if len(token) > MaxLinkToken {
		return 0, nil, errBadLink
	}
	version, rest, ok := strings.Cut(token, ".")
	if !ok || version != linkVersion {
		return 0, nil, errBadLink
	}
	exp, enc, ok := strings.Cut(rest, ".")
	if !ok || exp == "" || len(exp) > 12 || strings.TrimLeft(exp, "0123456789") != "" || exp[0] == '0' {
		return 0, nil, errBadLink
	}
	expires, err = strconv.ParseInt(exp, 10, 64)
	if err != nil {
		return 0, nil, errBadLink
	}
	tag, err = base64.RawURLEncoding.Strict().DecodeString(enc)
	if err != nil || len(tag) == 0 {
		return 0, nil, errBadLink
	}
	return expires, tag, nil
}

// verify checks that token is an unexpired link to orderID made by sign.
func (s *Service) verify(orderID, token string, now time.Time) error {
	expires, tag, err := parseLink(token)
	if err != nil {
		return err
	}
	if err := s.d.MAC.VerifyMAC(tag, linkData(orderID, expires)); err != nil {
		return errBadLink
	}
	// Checked after the tag, so the expiry is the signer's, not the caller's.
	if !now.Before(time.Unix(expires, 0)) {
		return errBadLink
	}
	return nil
}
