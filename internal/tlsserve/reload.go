package tlsserve

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// checkEvery is how often, at most, a handshake makes the Reloader look at
// the certificate files: a stat of two files per second costs nothing, and a
// renewed certificate is in use a second after it is written.
const checkEvery = time.Second

// Reloader serves a certificate from a pair of PEM files and picks up a new
// pair when the files change, without a restart. A pair that does not load
// (unreadable, half written, key not matching the certificate) is logged and
// the pair in use stays; the same files are tried again when they change again.
type Reloader struct {
	certFile, keyFile string
	log               *slog.Logger
	now               func() time.Time

	cert atomic.Pointer[tls.Certificate]

	mu        sync.Mutex
	lastCheck time.Time
	seen      [2]fileStamp // of certFile and keyFile when last loaded or tried
}

// fileStamp identifies a version of a file well enough to notice a new one.
type fileStamp struct {
	modTime time.Time
	size    int64
}

// NewReloader loads the pair once; it fails when the files do not load or the
// key does not match the certificate.
func NewReloader(certFile, keyFile string, log *slog.Logger) (*Reloader, error) {
	r := &Reloader{certFile: certFile, keyFile: keyFile, log: log, now: time.Now}
	stamps, err := r.stamps()
	if err != nil {
		return nil, err
	}
	if err := r.load(); err != nil {
		return nil, err
	}
	r.seen, r.lastCheck = stamps, r.now()
	return r, nil
}

// GetCertificate is tls.Config.GetCertificate: the current pair, after a
// check for new files at most once per checkEvery.
func (r *Reloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.maybeReload()
	return r.cert.Load(), nil
}

func (r *Reloader) maybeReload() {
	// One handshake looks at the files; the others go on with the pair in
	// use rather than wait on file I/O (a slow or hung file system).
	if !r.mu.TryLock() {
		return
	}
	defer r.mu.Unlock()
	now := r.now()
	if now.Sub(r.lastCheck) < checkEvery {
		return
	}
	r.lastCheck = now
	stamps, err := r.stamps()
	if err != nil {
		r.log.Error("TLS certificate files unreadable; the certificate in use stays", "err", err)
		return
	}
	if stamps == r.seen {
		return
	}
	r.seen = stamps
	if err := r.load(); err != nil {
		r.log.Error("new TLS certificate files do not load; the certificate in use stays", "err", err)
		return
	}
	if leaf := r.cert.Load().Leaf; leaf != nil {
		r.log.Info("TLS certificate reloaded", "subject", leaf.Subject.String(), "not_after", leaf.NotAfter, "serial", leaf.SerialNumber.String())
	}
}

// load reads and checks the pair and puts it in use. tls.LoadX509KeyPair
// refuses a key that does not match the certificate.
func (r *Reloader) load() error {
	pair, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("load TLS certificate %s and key %s: %w", r.certFile, r.keyFile, err)
	}
	r.cert.Store(&pair)
	return nil
}

func (r *Reloader) stamps() ([2]fileStamp, error) {
	var out [2]fileStamp
	for i, name := range []string{r.certFile, r.keyFile} {
		fi, err := os.Stat(name)
		if err != nil {
			return out, fmt.Errorf("TLS certificate files: %w", err)
		}
		out[i] = fileStamp{fi.ModTime(), fi.Size()}
	}
	return out, nil
}
