package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"cshub/internal/bus"
	"cshub/internal/exercise"
	"cshub/internal/hub"
	"cshub/internal/members"
	"cshub/internal/schedule"
)

// runExercise is `cshub exercise validate|import|list`.
func runExercise(ctx context.Context, e *env, args []string) error {
	return runGroup(ctx, e, "exercise", exerciseCommands(), args)
}

func exerciseCommands() []subcommand {
	return []subcommand{
		{"validate", "FILE", "check a scenario (cshub's format or MISP CEXF) and summarise it, or list each problem with its place", exerciseValidate},
		{"import", "--director ORG [--teams ORG,...] FILE", "import a scenario as an exercise with its own isolated workspaces", exerciseImport},
		{"list", "--org ORG", "list the exercises an organisation directs or takes part in", exerciseList},
	}
}

// exercises returns the exercise service of the hub a; ws creates the workspaces of imported
// exercises and may be nil where nothing is imported.
func exercises(a *app, ws exercise.Workspaces) *exercise.Service {
	return exercise.New(exercise.Config{KB: a.kb, Dir: a.store, Workspaces: ws, Audit: a.audit, Log: a.log})
}

// exerciseClock is how often a serving hub runs the exercise clock: injects arrive, and
// automatic tasks are scored, within this long of becoming due.
const exerciseClock = 5 * time.Second

// startExercises returns the exercise service of a serving hub, for its API routes, and runs
// the exercise clock until ctx ends on whichever replica holds its lease.
func startExercises(ctx context.Context, a *app) *exercise.Service {
	svc := exercises(a, nil)
	if l, ok := a.bus.(bus.Leaser); ok {
		schedule.Every(ctx, l, "exercise-clock", exerciseClock, svc.Tick, a.log)
	} else {
		a.log.Error("exercise clock not started: the bus grants no leases")
	}
	return svc
}

// readScenario reads a scenario file in cshub's format or CEXF, telling them apart by content.
func readScenario(path string) (*exercise.Scenario, string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, "", err
	}
	if exercise.IsCEXF(data) {
		s, err := exercise.ParseCEXF(data)
		return s, "CEXF", err
	}
	s, err := exercise.ParseScenario(data)
	return s, "cshub scenario", err
}

// reportProblems prints each problem of a bad file on its own line, compiler style, and
// returns the error for the exit status.
func reportProblems(w io.Writer, path string, err error) error {
	var ps exercise.Problems
	if !errors.As(err, &ps) {
		return err
	}
	for _, p := range ps {
		at := path
		if p.Line > 0 {
			at += fmt.Sprintf(":%d:%d", p.Line, p.Col)
		}
		if p.Path != "" {
			at += ": " + p.Path
		}
		fmt.Fprintf(w, "%s: %s\n", at, p.Message)
	}
	return hub.Errorf(hub.EInvalid, "%s: %d problem(s)", path, len(ps))
}

func exerciseValidate(_ context.Context, e *env, args []string) error {
	fs := flags(e, "exercise")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return hub.FieldError("FILE", "give one scenario file")
	}
	s, format, err := readScenario(pos[0])
	if err != nil {
		return reportProblems(e.stderr, pos[0], err)
	}
	tasks, auto, points := 0, 0, 0
	for _, in := range s.Injects {
		for _, t := range in.Tasks {
			tasks++
			points += t.Points
			if t.Check != nil {
				auto++
			}
		}
	}
	fmt.Fprintf(e.stdout, "%s: valid %s %q (id %s)\n", pos[0], format, s.Name, s.ID)
	fmt.Fprintf(e.stdout, "  duration %v, %d team(s), %d inject(s), %d task(s) worth %d points: %d checked automatically, %d scored by the white team\n",
		s.Duration, len(s.Teams), len(s.Injects), tasks, points, auto, tasks-auto)
	if len(s.Unsupported) > 0 {
		fmt.Fprintf(e.stdout, "  cannot run on the hub (%d):\n", len(s.Unsupported))
		for _, u := range s.Unsupported {
			fmt.Fprintf(e.stdout, "    - %s\n", u)
		}
	}
	return nil
}

func exerciseImport(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "exercise")
	var c common
	c.register(fs)
	director := fs.String("director", "", "the directing organisation's `code` (default: the scenario's)")
	teams := fs.String("teams", "", "comma-separated organisation `codes` playing as blue teams (default: the scenario's)")
	id := fs.String("id", "", "the exercise `id` (default: the scenario's)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return hub.FieldError("FILE", "give one scenario file")
	}
	s, _, err := readScenario(pos[0])
	if err != nil {
		return reportProblems(e.stderr, pos[0], err)
	}
	if *director != "" {
		s.Director = *director
	}
	if *id != "" {
		s.ID = *id
	}
	if *teams != "" {
		s.Teams = nil
		for _, org := range list([]string{*teams}) {
			s.Teams = append(s.Teams, exercise.Team{ID: strings.TrimPrefix(org, "cert-"), Name: org, Org: org})
		}
	}
	a, err := openApp(ctx, e, &c, false)
	if err != nil {
		return err
	}
	defer a.close()
	m := members.New(a.store, a.barrier, a.auth, nil)
	m.SetAudit(a.audit)
	if err := exercises(a, m).Import(ctx, s, exercise.Actor{Org: s.Director, User: "cli"}); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "imported exercise %s (%q): %d team(s), %d inject(s), directed by %s\n", s.ID, s.Name, len(s.Teams), len(s.Injects), s.Director)
	return nil
}

func exerciseList(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "exercise")
	var c common
	c.register(fs)
	org := fs.String("org", "", "list the exercises this organisation `code` directs, scores or plays (required)")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if *org == "" {
		return hub.FieldError("org", "required: the organisation whose exercises to list")
	}
	a, err := openApp(ctx, e, &c, false)
	if err != nil {
		return err
	}
	defer a.close()
	list, err := exercises(a, nil).List(ctx, *org)
	if err != nil {
		return err
	}
	for _, x := range list {
		team := ""
		if x.Team != "" {
			team = " " + x.Team
		}
		fmt.Fprintf(e.stdout, "%s\t%s\t%s%s\t%s\t%v/%v\n", x.ID, x.Name, x.Role, team, x.Status, x.Elapsed, x.Duration)
	}
	return nil
}
