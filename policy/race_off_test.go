//go:build !race

package policy

// raceEnabled scales floods in tests down under the race detector.
const raceEnabled = false
