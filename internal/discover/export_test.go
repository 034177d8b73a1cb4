package discover

import (
	"slices"
	"strconv"
)

// SetChunk makes s read chunk bytes at a time, so tests cross many chunk
// boundaries with small inputs. Call it before the first scan.
func SetChunk(s *Scanner, chunk int) { s.chunk = chunk }

// Overlap is how many bytes consecutive chunks share.
const Overlap = lookBehind + lookAhead

// PublishedTestCards lists the published test numbers.
func PublishedTestCards() []string {
	var out []string
	for n := range testCards {
		out = append(out, strconv.FormatUint(n, 10))
	}
	slices.Sort(out)
	return out
}
