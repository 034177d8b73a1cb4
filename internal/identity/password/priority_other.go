//go:build !linux

package password

import "errors"

// Outside Linux the hashes run at the process's priority, bounded by their
// slots alone.
func lowerThreadPriority() error { return errors.ErrUnsupported }

func threadNice() (int, error) { return 0, errors.ErrUnsupported }
