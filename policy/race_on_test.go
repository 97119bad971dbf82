//go:build race

package policy

// raceEnabled scales floods in tests down: the race detector keeps a record
// for every address used atomically, which makes each new counter of the
// failure limiter cost about 20 µs under it.
const raceEnabled = true
