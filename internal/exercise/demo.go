package exercise

import (
	"context"
	_ "embed"
	"fmt"
)

// helsinki is the demo exercise, written from the seed documents (see its description).
//
//go:embed scenarios/helsinki-summit.json
var helsinki []byte

// Demo returns the "Helsinki summit" scenario: an SSH brute-force wave on Finnish networks
// from ChinaNet ranges, then APT28-style phishing domains aimed at election staff, with tasks
// to identify and block-list the source ranges, attribute with a stated confidence and
// coordinate the take-down in a case. It is directed by the demo's hub operator and played by
// the five active demo members. Each call returns a new copy.
func Demo() *Scenario {
	s, err := ParseScenario(helsinki)
	if err != nil {
		// The file is embedded at build time and tested; failing here is a broken build.
		panic(fmt.Sprintf("exercise: embedded demo scenario: %v", err))
	}
	return s
}

// SeedDemo imports the demo exercise (Demo) for the demo hub, directed by director (the hub
// operator's organisation), ready for the director to start.
func (s *Service) SeedDemo(ctx context.Context, director string) error {
	sc := Demo()
	sc.Director = director
	return s.Import(ctx, sc, Actor{Org: director, User: "system"})
}
