//go:build race

package stream_test

// raceEnabled tells the heavier tests to scale down under the race detector, which slows
// hundreds of concurrent streams tenfold.
const raceEnabled = true
