package fraudmodel

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// MaxFileBytes bounds a model file.
const MaxFileBytes = 1 << 20

// Signer signs and verifies model files: a Tink MAC keyset of the shop's,
// under its KEK (keys.LiveMAC), so a model file made elsewhere — or edited
// after it was made — is refused.
type Signer interface {
	ComputeMAC(data []byte) ([]byte, error)
	VerifyMAC(mac, data []byte) error
}

// file is a model file: the model's JSON, and the MAC over exactly those
// bytes.
type file struct {
	Model json.RawMessage `json:"model"`
	MAC   []byte          `json:"mac"`
}

// ErrNotSigned is the answer to a model file this shop did not sign.
var ErrNotSigned = errors.New("the model file was not made by this shop (its signature does not verify)")

// Marshal writes m as a signed model file.
func Marshal(m *Model, s Signer) ([]byte, error) {
	if err := m.check(); err != nil {
		return nil, err
	}
	body, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode model: %w", err)
	}
	mac, err := s.ComputeMAC(body)
	if err != nil {
		return nil, fmt.Errorf("sign model: %w", err)
	}
	out, err := json.Marshal(file{Model: body, MAC: mac})
	if err != nil {
		return nil, fmt.Errorf("encode model file: %w", err)
	}
	if len(out) > MaxFileBytes {
		return nil, fmt.Errorf("the model file would be %d bytes, at most %d", len(out), MaxFileBytes)
	}
	return out, nil
}

// Unmarshal reads a signed model file: its signature must verify under s
// before anything in it is read, and the model must be able to score.
func Unmarshal(data []byte, s Signer) (*Model, error) {
	if len(data) > MaxFileBytes {
		return nil, fmt.Errorf("the model file is %d bytes, at most %d", len(data), MaxFileBytes)
	}
	var f file
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("not a model file: %w", err)
	}
	if len(f.Model) == 0 || len(f.MAC) == 0 {
		return nil, errors.New("not a model file: no model or no signature")
	}
	if err := s.VerifyMAC(f.MAC, f.Model); err != nil {
		return nil, ErrNotSigned
	}
	var m Model
	dec = json.NewDecoder(bytes.NewReader(f.Model))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("not a model: %w", err)
	}
	if err := m.check(); err != nil {
		return nil, fmt.Errorf("the model cannot score: %w", err)
	}
	return &m, nil
}
