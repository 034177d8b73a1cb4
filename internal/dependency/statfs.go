//go:build linux || darwin || freebsd

package dependency

import "syscall"

// freeBytes returns the space in dir's file system that an unprivileged
// writer may still use.
func freeBytes(dir string) (uint64, bool, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, false, err
	}
	return uint64(st.Bavail) * uint64(st.Bsize), true, nil //nolint:unconvert // the field types differ by platform
}
