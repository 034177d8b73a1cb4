//go:build cgo

package keys

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/miekg/pkcs11"
	"github.com/tink-crypto/tink-go/v2/tink"
)

const (
	gcmNonceSize = 12
	gcmTagBits   = 128
)

// modules holds one initialised context per PKCS#11 library. C_Initialize and
// C_Finalize act on the whole process, so two keyrings in one process (the
// server and a test, or two tests) must share the context and finalise it only
// when the last one closes: this is the one piece of package state, and why.
var modules = struct {
	sync.Mutex
	m map[string]*moduleRef
}{m: map[string]*moduleRef{}}

type moduleRef struct {
	ctx  *pkcs11.Ctx
	refs int
}

func acquireModule(path string) (*pkcs11.Ctx, error) {
	modules.Lock()
	defer modules.Unlock()
	if r, ok := modules.m[path]; ok {
		r.refs++
		return r.ctx, nil
	}
	ctx := pkcs11.New(path)
	if ctx == nil {
		return nil, fmt.Errorf("load PKCS#11 module %s: not a loadable PKCS#11 library", path)
	}
	if err := ctx.Initialize(); err != nil && !errors.Is(err, pkcs11.Error(pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED)) {
		ctx.Destroy()
		return nil, fmt.Errorf("initialise PKCS#11 module %s: %w", path, err)
	}
	modules.m[path] = &moduleRef{ctx: ctx, refs: 1}
	return ctx, nil
}

func releaseModule(path string) {
	modules.Lock()
	defer modules.Unlock()
	r, ok := modules.m[path]
	if !ok {
		return
	}
	if r.refs--; r.refs == 0 {
		_ = r.ctx.Finalize()
		r.ctx.Destroy()
		delete(modules.m, path)
	}
}

// hsmProvider is a KEK in a PKCS#11 token, logged in with one session.
type hsmProvider struct {
	cfg     PKCS11
	dir     string
	ctx     *pkcs11.Ctx
	mu      sync.Mutex // a PKCS#11 session runs one operation at a time
	session pkcs11.SessionHandle
	state   pkcs11State
	made    bool
}

func openPKCS11(dir string, cfg PKCS11) (_ *hsmProvider, err error) {
	ctx, err := acquireModule(cfg.Module)
	if err != nil {
		return nil, err
	}
	p := &hsmProvider{cfg: cfg, dir: dir, ctx: ctx}
	defer func() {
		if err != nil {
			p.close()
		}
	}()
	slots, err := ctx.GetSlotList(true)
	if err != nil {
		return nil, fmt.Errorf("list PKCS#11 slots: %w", err)
	}
	slot, found := uint(0), false
	for _, s := range slots {
		info, err := ctx.GetTokenInfo(s)
		if err == nil && strings.TrimRight(info.Label, " \x00") == cfg.Token {
			slot, found = s, true
			break
		}
	}
	if !found {
		return nil, fmt.Errorf("no PKCS#11 token labelled %q in %s", cfg.Token, cfg.Module)
	}
	if p.session, err = ctx.OpenSession(slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION); err != nil {
		return nil, fmt.Errorf("open a session on PKCS#11 token %q: %w", cfg.Token, err)
	}
	// The library's error names the return code (CKR_PIN_INCORRECT), never the PIN.
	if err := ctx.Login(p.session, pkcs11.CKU_USER, cfg.PIN); err != nil && !errors.Is(err, pkcs11.Error(pkcs11.CKR_USER_ALREADY_LOGGED_IN)) {
		return nil, fmt.Errorf("log in to PKCS#11 token %q with kek-pkcs11-pin: %w", cfg.Token, err)
	}
	if err := p.loadState(); err != nil {
		return nil, err
	}
	if _, err := p.find(p.state.Current); errors.Is(err, errNoKey) && p.state.Version == 1 && !p.recorded() {
		// First start: make the key inside the token.
		if err := p.generate(p.state.Current); err != nil {
			return nil, err
		}
		p.made = true
	} else if err != nil {
		return nil, err
	}
	if !p.recorded() {
		if err := p.saveState(); err != nil {
			return nil, err
		}
	}
	return p, nil
}

var errNoKey = errors.New("no such key")

func (p *hsmProvider) statePath() string { return filepath.Join(p.dir, PKCS11StateFile) }

// recorded reports whether the state file exists.
func (p *hsmProvider) recorded() bool {
	_, err := os.Stat(p.statePath())
	return err == nil
}

// loadState reads the state file; one written for another configured key
// label (the operator chose a new key) is ignored.
func (p *hsmProvider) loadState() error {
	fresh := pkcs11State{Key: p.cfg.Key, Version: 1, Current: p.cfg.Key}
	b, err := os.ReadFile(p.statePath())
	if errors.Is(err, fs.ErrNotExist) {
		p.state = fresh
		return nil
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", PKCS11StateFile, err)
	}
	st, err := parsePKCS11State(b, p.cfg.Key)
	if err != nil {
		return err
	}
	p.state = st
	return nil
}

func (p *hsmProvider) saveState() error {
	if p.state.Created.IsZero() {
		p.state.Created = time.Now().UTC().Truncate(time.Second)
	}
	b, err := json.MarshalIndent(p.state, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", PKCS11StateFile, err)
	}
	if err := writeFileAtomic(p.statePath(), append(b, '\n')); err != nil {
		return fmt.Errorf("record the current HSM key: %w", err)
	}
	return nil
}

// find returns the handle of the secret key labelled label.
func (p *hsmProvider) find(label string) (pkcs11.ObjectHandle, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	tmpl := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_AES),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
	}
	if err := p.ctx.FindObjectsInit(p.session, tmpl); err != nil {
		return 0, fmt.Errorf("find HSM key %q: %w", label, err)
	}
	objs, _, err := p.ctx.FindObjects(p.session, 2)
	if ferr := p.ctx.FindObjectsFinal(p.session); err == nil && ferr != nil {
		err = ferr
	}
	switch {
	case err != nil:
		return 0, fmt.Errorf("find HSM key %q: %w", label, err)
	case len(objs) == 0:
		return 0, fmt.Errorf("HSM key %q is not in token %q: %w", label, p.cfg.Token, errNoKey)
	case len(objs) > 1:
		return 0, fmt.Errorf("token %q holds more than one key labelled %q", p.cfg.Token, label)
	}
	return objs[0], nil
}

// generate makes an AES-256 key inside the token that can never be read out:
// sensitive, not extractable, usable only to encrypt and decrypt.
func (p *hsmProvider) generate(label string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	tmpl := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_AES),
		pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, 32),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, false),
		pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, true),
		pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, true),
		pkcs11.NewAttribute(pkcs11.CKA_WRAP, false),
		pkcs11.NewAttribute(pkcs11.CKA_UNWRAP, false),
		pkcs11.NewAttribute(pkcs11.CKA_SIGN, false),
		pkcs11.NewAttribute(pkcs11.CKA_VERIFY, false),
	}
	mech := []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_KEY_GEN, nil)}
	if _, err := p.ctx.GenerateKey(p.session, mech, tmpl); err != nil {
		return fmt.Errorf("generate HSM key %q in token %q: %w", label, p.cfg.Token, err)
	}
	return nil
}

// keyAEAD returns the AEAD of the key labelled label.
func (p *hsmProvider) keyAEAD(label string) (*hsmAEAD, error) {
	h, err := p.find(label)
	if err != nil {
		return nil, err
	}
	return &hsmAEAD{p: p, key: h, label: label}, nil
}

func (p *hsmProvider) aead() (tink.AEAD, error) {
	cur, err := p.keyAEAD(p.state.Current)
	if err != nil {
		return nil, err
	}
	if p.state.Next == "" {
		return cur, nil
	}
	next, err := p.keyAEAD(p.state.Next)
	if err != nil {
		return nil, fmt.Errorf("a KEK rotation is under way: %w", err)
	}
	return &rotatingAEAD{enc: next, dec: []tink.AEAD{next, cur}}, nil
}

func (p *hsmProvider) begin() (tink.AEAD, error) {
	if p.state.Next == "" {
		label := fmt.Sprintf("%s-v%d", p.state.Key, p.state.Version+1)
		// A rotation that stopped before recording its key made it already.
		if _, err := p.find(label); errors.Is(err, errNoKey) {
			if err := p.generate(label); err != nil {
				return nil, err
			}
		} else if err != nil {
			return nil, err
		}
		p.state.Next = label
		if err := p.saveState(); err != nil {
			return nil, err
		}
	}
	return p.aead()
}

func (p *hsmProvider) commit() (string, error) {
	old := p.state.Current
	p.state.Retired = append(p.state.Retired, old)
	p.state.Current, p.state.Next = p.state.Next, ""
	p.state.Version++
	p.state.Created = time.Now().UTC().Truncate(time.Second)
	if err := p.saveState(); err != nil {
		return "", err
	}
	return fmt.Sprintf("HSM key %q is now the KEK; %q stays in the token for older backups (destroy it with the HSM's tools when they expire)", p.state.Current, old), nil
}

func (p *hsmProvider) status() KEKStatus {
	return KEKStatus{Source: fmt.Sprintf("pkcs11 token %q key %q", p.cfg.Token, p.state.Current),
		Created: p.state.Created, Versions: p.state.Version, Pending: p.state.Next != ""}
}

func (p *hsmProvider) created() bool { return p.made }

func (p *hsmProvider) close() error {
	if p.ctx == nil {
		return nil
	}
	p.mu.Lock()
	if p.session != 0 {
		_ = p.ctx.CloseSession(p.session)
		p.session = 0
	}
	p.ctx = nil
	p.mu.Unlock()
	releaseModule(p.cfg.Module)
	return nil
}

// hsmAEAD is tink.AEAD over CKM_AES_GCM inside the token: a fresh random
// 96-bit nonce per message, 128-bit tag, the associated data bound as GCM's
// AAD. Ciphertext = nonce || GCM output.
type hsmAEAD struct {
	p     *hsmProvider
	key   pkcs11.ObjectHandle
	label string
}

var _ tink.AEAD = (*hsmAEAD)(nil)

func (a *hsmAEAD) Encrypt(plaintext, associatedData []byte) ([]byte, error) {
	nonce := make([]byte, gcmNonceSize)
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("hsm encrypt: nonce: %w", err)
	}
	params := pkcs11.NewGCMParams(nonce, associatedData, gcmTagBits)
	defer params.Free()
	a.p.mu.Lock()
	defer a.p.mu.Unlock()
	if a.p.ctx == nil {
		return nil, errors.New("hsm encrypt: the keyring is closed")
	}
	if err := a.p.ctx.EncryptInit(a.p.session, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_GCM, params)}, a.key); err != nil {
		return nil, fmt.Errorf("hsm encrypt with %q: %w", a.label, err)
	}
	ct, err := a.p.ctx.Encrypt(a.p.session, plaintext)
	if err != nil {
		return nil, fmt.Errorf("hsm encrypt with %q: %w", a.label, err)
	}
	return append(nonce, ct...), nil
}

func (a *hsmAEAD) Decrypt(ciphertext, associatedData []byte) ([]byte, error) {
	if len(ciphertext) < gcmNonceSize+gcmTagBits/8 {
		return nil, errors.New("hsm decrypt: ciphertext too short")
	}
	params := pkcs11.NewGCMParams(ciphertext[:gcmNonceSize], associatedData, gcmTagBits)
	defer params.Free()
	a.p.mu.Lock()
	defer a.p.mu.Unlock()
	if a.p.ctx == nil {
		return nil, errors.New("hsm decrypt: the keyring is closed")
	}
	if err := a.p.ctx.DecryptInit(a.p.session, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_GCM, params)}, a.key); err != nil {
		return nil, fmt.Errorf("hsm decrypt with %q: %w", a.label, err)
	}
	pt, err := a.p.ctx.Decrypt(a.p.session, ciphertext[gcmNonceSize:])
	if err != nil {
		return nil, fmt.Errorf("hsm decrypt with %q: %w", a.label, err)
	}
	return pt, nil
}
