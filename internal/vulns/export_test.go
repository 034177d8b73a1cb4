package vulns

// ParseEntry and ParseIndex are the parsers of an entry and of the index,
// for the fuzz targets.
var (
	ParseEntry = parseEntry
	ParseIndex = parseIndex
)

// SetPlatform says which platform s's binary was built for, as
// BinarySymbols reads it from a binary's build information.
func (s *Symbols) SetPlatform(goos, goarch string) { s.goos, s.goarch = goos, goarch }

// Platform is the platform s's binary was built for ("" when not known).
func (s *Symbols) Platform() (goos, goarch string) { return s.goos, s.goarch }
