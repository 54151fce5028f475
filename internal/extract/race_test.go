//go:build race

package extract

// raceEnabled is true when the tests run under the race detector, which slows scanning down
// too much for timing checks to mean anything.
const raceEnabled = true
