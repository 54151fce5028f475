//go:build !unix

package bench

import "time"

// cpuTime returns 0: the CPU time of the process is measured on unix systems only.
func cpuTime() time.Duration { return 0 }
