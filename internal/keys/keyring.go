package keys

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/insecurecleartextkeyset"
	"github.com/tink-crypto/tink-go/v2/keyset"
	tinkpb "github.com/tink-crypto/tink-go/v2/proto/tink_go_proto"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// KEKFile is the default key-encryption key, generated at first start.
const KEKFile = "kek-keyset.json"

// Keyring opens the data keysets (one per purpose), each kept in a file
// encrypted under the key-encryption key (KEK): the files alone reveal nothing.
type Keyring struct {
	mu       sync.Mutex // guards kek and source, which a KEK rotation changes
	kek      tink.AEAD
	dir      string
	source   string
	provider kekProvider // where kek comes from; see kek.go
	// failAfter > 0 stops RotateKEK after that many keysets, as a crash would (tests).
	failAfter int
}

// OpenKeyring returns the keyring of dataDir. kekKeyset, when not empty, is the
// KEK as a Tink JSON keyset given as a secret (environment or file); otherwise
// the KEK is the local file dataDir/kek-keyset.json, made at first start with
// mode 0600. OpenKeyringWith also offers an HSM.
func OpenKeyring(dataDir, kekKeyset string) (*Keyring, error) {
	return OpenKeyringWith(dataDir, KEKConfig{Secret: kekKeyset})
}

func (k *Keyring) path(name string) string { return filepath.Join(k.dir, name+"-keyset.json") }

// currentKEK is the KEK keysets are read and written under.
func (k *Keyring) currentKEK() tink.AEAD {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.kek
}

func (k *Keyring) setKEK(a tink.AEAD, source string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.kek, k.source = a, source
}

// readUnderKEK opens an encrypted keyset file's bytes under the KEK. A
// re-read that fails under the KEK in memory tries once more under the KEK
// read afresh from its source: another process may have run `keys rotate-kek`
// (the file KEK; an HSM KEK rotation needs a restart of the other instances).
func (k *Keyring) readUnderKEK(b []byte, reread bool) (*keyset.Handle, error) {
	h, err := keyset.Read(keyset.NewJSONReader(bytes.NewReader(b)), k.currentKEK())
	if err == nil || !reread {
		return h, err
	}
	fresh, ferr := k.provider.aead()
	if ferr != nil {
		return nil, err
	}
	h, ferr = keyset.Read(keyset.NewJSONReader(bytes.NewReader(b)), fresh)
	if ferr != nil {
		return nil, err
	}
	k.setKEK(fresh, k.provider.status().Source)
	return h, nil
}

// AEAD returns the data keyset called name, creating it when there is none.
// A keyset still kept in the clear (written before the KEK existed) is
// re-written under the KEK.
//
// The AEAD is live: it notices when the keyset file is replaced (by `bulwark
// keys rotate`, perhaps on another instance sharing the data directory) and
// switches to the new primary without a restart. See Live.
func (k *Keyring) AEAD(name string) (*Live, error) {
	h, info, err := k.load(name, aead.AES256GCMKeyTemplate())
	if err != nil {
		return nil, err
	}
	return newLive(k, name, aeadKeys, h, info)
}

// load reads the keyset called name and the file's identity, wrapping a
// keyset kept in the clear as AEAD describes, and creating it from create
// when that is not nil: never when re-reading, where a missing file is an
// accident, not a first start.
func (k *Keyring) load(name string, create *tinkpb.KeyTemplate) (*keyset.Handle, os.FileInfo, error) {
	path := k.path(name)
	b, info, err := readFile(path)
	if errors.Is(err, fs.ErrNotExist) && create != nil {
		h, err := keyset.NewHandle(create)
		if err != nil {
			return nil, nil, fmt.Errorf("generate %s keyset: %w", name, err)
		}
		if err := k.noteKeys(name, h); err != nil {
			return nil, nil, err
		}
		if err := k.write(path, h); err != nil {
			return nil, nil, err
		}
		info, err := os.Stat(path)
		if err != nil {
			return nil, nil, fmt.Errorf("read %s keyset: %w", name, err)
		}
		return h, info, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read %s keyset: %w", name, err)
	}
	if info.Mode().Perm()&0o077 != 0 {
		return nil, nil, fmt.Errorf("keyset %s has mode %v: it must be readable by its owner only (chmod 600)", path, info.Mode().Perm())
	}
	h, err := k.readUnderKEK(b, create == nil)
	if err != nil {
		// A keyset in the clear is one written before the KEK existed: wrapped
		// on its first open at start, and never taken on a re-read, where it
		// could only be a key someone put there to have the server adopt it.
		clear, cerr := insecurecleartextkeyset.Read(keyset.NewJSONReader(bytes.NewReader(b)))
		if cerr != nil || create == nil {
			return nil, nil, fmt.Errorf("open %s keyset: it is not encrypted under this KEK: %w", name, err)
		}
		if err := k.write(path, clear); err != nil {
			return nil, nil, fmt.Errorf("wrap %s keyset: %w", name, err)
		}
		h = clear
		if info, err = os.Stat(path); err != nil {
			return nil, nil, fmt.Errorf("read %s keyset: %w", name, err)
		}
	}
	return h, info, nil
}

// readFile reads path and describes the very file it read (a rotation may
// rename another over it at any moment): the bytes and the identity a Live
// compares later must belong together.
func readFile(path string) ([]byte, os.FileInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	b, err := io.ReadAll(f)
	return b, info, err
}

// write stores h encrypted under the KEK, replacing path atomically.
func (k *Keyring) write(path string, h *keyset.Handle) error {
	var buf bytes.Buffer
	if err := h.Write(keyset.NewJSONWriter(&buf), k.currentKEK()); err != nil {
		return fmt.Errorf("encrypt keyset: %w", err)
	}
	return writeFileAtomic(path, buf.Bytes())
}

// writeFileAtomic writes b to a private temporary file and renames it over
// path, so a reader sees the old file or the new one, never a part.
func writeFileAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".keyset-*")
	if err != nil {
		return fmt.Errorf("write keyset: %w", err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	if err := tmp.Chmod(0o600); err != nil {
		return fmt.Errorf("write keyset: %w", err)
	}
	if _, err := tmp.Write(b); err != nil {
		return fmt.Errorf("write keyset: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("write keyset: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write keyset: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write keyset: %w", err)
	}
	return nil
}

// Status describes one data keyset.
type Status struct {
	Name      string
	Keys      int
	PrimaryID uint32
	Wrapped   bool
	Written   time.Time
	// KeyList is every key, newest first.
	KeyList []KeyStatus
}

// Status reports the named data keysets and where the KEK comes from.
func (k *Keyring) Status(names ...string) (kek string, out []Status, err error) {
	for _, name := range names {
		path := k.path(name)
		b, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return "", nil, err
		}
		info, err := os.Stat(path)
		if err != nil {
			return "", nil, err
		}
		st := Status{Name: name, Written: info.ModTime().UTC()}
		h, err := keyset.Read(keyset.NewJSONReader(bytes.NewReader(b)), k.currentKEK())
		if err != nil {
			if h, err = insecurecleartextkeyset.Read(keyset.NewJSONReader(bytes.NewReader(b))); err != nil {
				return "", nil, fmt.Errorf("keyset %s: %w", name, err)
			}
		} else {
			st.Wrapped = true
		}
		ki := h.KeysetInfo()
		st.Keys, st.PrimaryID = len(ki.GetKeyInfo()), ki.GetPrimaryKeyId()
		if st.KeyList, err = k.keyStatuses(name, h); err != nil {
			return "", nil, err
		}
		out = append(out, st)
	}
	k.mu.Lock()
	source := k.source
	k.mu.Unlock()
	return source, out, nil
}
