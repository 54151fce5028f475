package exercise

import (
	"slices"
	"time"
)

// Status is where an exercise stands.
type Status string

// The statuses of an exercise, in the order they normally come.
const (
	StatusReady   Status = "ready"   // imported, not started
	StatusRunning Status = "running" // the clock of play runs
	StatusPaused  Status = "paused"  // the clock of play stands still
	StatusEnded   Status = "ended"   // over: no more injects or automatic scores
)

// State is everything that changes while an exercise runs. It is stored as a new version of
// the exercise's state object on every change, so its history is the exercise's history.
type State struct {
	Status  Status    `json:"status"`
	Started time.Time `json:"started,omitzero"`
	Ended   time.Time `json:"ended,omitzero"`
	// Elapsed is the time of play accumulated until RunningSince (or until now when not
	// running); jumps add to it.
	Elapsed      Duration  `json:"elapsed"`
	RunningSince time.Time `json:"running_since,omitzero"`
	// FrozenAt, when set, is when the scoreboard was frozen: teams see scores up to then only,
	// while scoring goes on.
	FrozenAt time.Time `json:"frozen_at,omitzero"`
	Releases []Release `json:"releases"`
	Scores   []Score   `json:"scores"`
	Log      []Entry   `json:"log"` // the director's and white team's actions
}

// Release is one inject delivered to one team.
type Release struct {
	Team   string    `json:"team"`
	Inject string    `json:"inject"`
	N      int       `json:"n"` // 1 for the first release, 2… for a periodic inject's repeats
	At     time.Time `json:"at"`
	Offset Duration  `json:"offset"` // time of play at release
	By     string    `json:"by"`     // "clock" or the director who released it by hand
	ID     string    `json:"id"`     // the delivery object in the team's workspace
}

// Score is points given to a team for one task: automatically (By "clock") or by the white
// team with a comment. A later manual score of the same task replaces earlier ones.
type Score struct {
	Team    string    `json:"team"`
	Inject  string    `json:"inject"`
	Task    string    `json:"task"`
	Points  int       `json:"points"`
	Auto    bool      `json:"auto"`
	By      string    `json:"by"`
	Comment string    `json:"comment,omitempty"`
	At      time.Time `json:"at"`
	Offset  Duration  `json:"offset"`
}

// Entry is one action of the director or the white team, for the after-action report.
type Entry struct {
	At     time.Time `json:"at"`
	Offset Duration  `json:"offset"`
	Org    string    `json:"org"`
	Actor  string    `json:"actor"`
	Action string    `json:"action"`
	Detail string    `json:"detail,omitempty"`
}

// elapsed returns the time of play at now.
func (st *State) elapsed(now time.Time) time.Duration {
	d := time.Duration(st.Elapsed)
	if st.Status == StatusRunning && !st.RunningSince.IsZero() && now.After(st.RunningSince) {
		d += now.Sub(st.RunningSince)
	}
	return d
}

// released returns how many times inject was released to team.
func (st *State) released(team, inject string) int {
	n := 0
	for _, r := range st.Releases {
		if r.Team == team && r.Inject == inject {
			n++
		}
	}
	return n
}

// taskScore returns the points team holds for one task and whether it was scored: the latest
// manual score if any, else the automatic one. Only scores given at or before until count,
// unless until is zero.
func (st *State) taskScore(team, inject, task string, until time.Time) (int, bool) {
	points, scored, manual := 0, false, false
	for _, s := range st.Scores {
		if s.Team != team || s.Inject != inject || s.Task != task || (!until.IsZero() && s.At.After(until)) {
			continue
		}
		if !s.Auto || !manual {
			points, scored = s.Points, true
			manual = manual || !s.Auto
		}
	}
	return points, scored
}

// autoScored reports whether the task has its automatic score already.
func (st *State) autoScored(team, inject, task string) bool {
	return slices.ContainsFunc(st.Scores, func(s Score) bool {
		return s.Auto && s.Team == team && s.Inject == inject && s.Task == task
	})
}

// resolved reports whether team has resolved inject: it was released to the team and every
// one of its tasks is scored.
func (st *State) resolved(s *Scenario, team, inject string) bool {
	if st.released(team, inject) == 0 {
		return false
	}
	for _, in := range s.Injects {
		if in.ID != inject {
			continue
		}
		for _, t := range in.Tasks {
			if _, ok := st.taskScore(team, inject, t.ID, time.Time{}); !ok {
				return false
			}
		}
	}
	return true
}

// due returns how many releases of in team should have had by time of play d: the trigger
// decides, and an inject waiting for another is due once the team resolved that one.
func (st *State) due(s *Scenario, team string, in Inject, d time.Duration) int {
	t := in.Trigger
	switch {
	case t.Manual:
		return 0
	case t.Every != nil:
		at := time.Duration(0)
		if t.At != nil {
			at = time.Duration(*t.At)
		}
		if d < at {
			return 0
		}
		return int((d-at)/time.Duration(*t.Every)) + 1
	case t.After != "":
		if st.resolved(s, team, t.After) {
			return 1
		}
		return 0
	case t.At != nil && d >= time.Duration(*t.At):
		return 1
	}
	return 0
}

// Scoreboard is the points of every team, per inject, as a viewer may see them.
type Scoreboard struct {
	Exercise string       `json:"exercise"`
	Frozen   bool         `json:"frozen"`
	AsOf     time.Time    `json:"as_of"` // scores given after this are not shown
	Max      int          `json:"max"`   // the points of every task of the scenario
	Teams    []TeamPoints `json:"teams"` // best first
}

// TeamPoints is one team's line of the scoreboard.
type TeamPoints struct {
	Team    string         `json:"team"`
	Org     string         `json:"org"`
	Total   int            `json:"total"`
	Injects []InjectPoints `json:"injects"`
}

// InjectPoints is one team's points for one inject.
type InjectPoints struct {
	Inject string `json:"inject"`
	Points int    `json:"points"`
	Max    int    `json:"max"`
}

// board computes the scoreboard at now; live ignores a freeze (for the director and white
// team, who see scoring go on underneath).
func (st *State) board(s *Scenario, now time.Time, live bool) *Scoreboard {
	b := &Scoreboard{Exercise: s.ID, AsOf: now}
	until := time.Time{}
	if !st.FrozenAt.IsZero() && !live {
		b.Frozen, b.AsOf, until = true, st.FrozenAt, st.FrozenAt
	}
	for _, in := range s.Injects {
		for _, t := range in.Tasks {
			b.Max += t.Points
		}
	}
	for _, team := range s.Teams {
		tp := TeamPoints{Team: team.ID, Org: team.Org, Injects: []InjectPoints{}}
		for _, in := range s.Injects {
			ip := InjectPoints{Inject: in.ID}
			for _, t := range in.Tasks {
				ip.Max += t.Points
				p, _ := st.taskScore(team.ID, in.ID, t.ID, until)
				ip.Points += min(p, t.Points)
			}
			tp.Total += ip.Points
			tp.Injects = append(tp.Injects, ip)
		}
		b.Teams = append(b.Teams, tp)
	}
	slices.SortStableFunc(b.Teams, func(x, y TeamPoints) int { return y.Total - x.Total })
	return b
}
