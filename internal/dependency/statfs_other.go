//go:build !(linux || darwin || freebsd)

package dependency

// freeBytes is unknown here; the write probe still runs.
func freeBytes(string) (uint64, bool, error) { return 0, false, nil }
