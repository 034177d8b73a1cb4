//go:build race

package bench

// raceEnabled: the race detector slows the server several times over.
const raceEnabled = true
