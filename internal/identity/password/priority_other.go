//go:build !linux

package password

import "errors"

// canLowerPriority is false outside Linux: there the hashes run at the
// process's priority, bounded by their slots alone, and MakeRoom adds no
// scheduler slots.
const canLowerPriority = false

func lowerThreadPriority() error { return errors.ErrUnsupported }

func threadNice() (int, error) { return 0, errors.ErrUnsupported }
