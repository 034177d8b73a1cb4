package dependency

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
)

// MinFreeDisk is the free space below which the data directory counts as
// full: SQLite needs room for its write-ahead log and a checkpoint, and the
// outbox for its mail, before the disk is full to the last byte.
const MinFreeDisk = 1 << 20

// diskProbeBytes is what the write probe writes and syncs.
const diskProbeBytes = 16 << 10

// DiskProbe checks the data directory dir: at least minFree bytes free, where
// the platform says (statfs), and a small file can be written, synced and
// removed there (a full, read-only or vanished disk fails this anywhere).
func DiskProbe(dir string, minFree uint64) Probe {
	return func(ctx context.Context) error {
		if free, ok, err := freeBytes(dir); err != nil {
			return fmt.Errorf("free space in %s: %w", dir, err)
		} else if ok && free < minFree {
			return fmt.Errorf("free space in %s: %d bytes, below %d: %w", dir, free, minFree, errDiskLow)
		}
		f, err := os.CreateTemp(dir, ".bulwark-disk-probe-*")
		if err != nil {
			return fmt.Errorf("disk probe: %w", err)
		}
		name := f.Name()
		defer os.Remove(filepath.Clean(name))
		_, err = f.Write(make([]byte, diskProbeBytes))
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("disk probe: %w", err)
		}
		return ctx.Err()
	}
}

type diskLow struct{}

func (diskLow) Error() string { return "disk almost full" }

var errDiskLow error = diskLow{}
