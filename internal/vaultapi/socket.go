package vaultapi

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
)

// ListenUnix opens a Unix socket at path for the vault's API, the alternative
// to mutual TLS when the shop and the vault share one machine. Only processes
// running as uid get through: every connection's peer credentials
// (SO_PEERCRED, from the kernel, not from the client) are checked before a
// byte is read, and others are closed and logged. The socket file is made
// with mode 0660 and a stale socket left by a stopped vault is replaced;
// any other file at path is an error.
func ListenUnix(path string, uid int, log *slog.Logger) (net.Listener, error) {
	if info, err := os.Lstat(path); err == nil {
		if info.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("vault-socket: %s exists and is not a socket", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("vault-socket: remove the stale socket: %w", err)
		}
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("vault-socket: %w", err)
	}
	if err := os.Chmod(path, 0o660); err != nil {
		l.Close()
		return nil, fmt.Errorf("vault-socket: %w", err)
	}
	return &peerListener{Listener: l, uid: uid, log: log}, nil
}

// peerListener accepts only connections whose peer runs as uid.
type peerListener struct {
	net.Listener
	uid int
	log *slog.Logger
}

func (l *peerListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		uc, ok := c.(*net.UnixConn)
		if !ok {
			c.Close()
			return nil, errors.New("vault-socket: not a Unix connection")
		}
		uid, err := peerUID(uc)
		if err == nil && uid == l.uid {
			return c, nil
		}
		l.log.Warn("vault refused a connection on its socket", "peer_uid", uid, "want_uid", l.uid, "err", err)
		c.Close()
	}
}
