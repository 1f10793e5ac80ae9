//go:build race

package analyze

// raceEnabled: the race detector's shadow memory multiplies RSS, so absolute RSS bounds do not apply.
const raceEnabled = true
