package collab

import (
	"context"
	"fmt"
)

// Objects of the demo's seed scenario (package demo) the demo collaboration refers to.
const (
	seedAPT28Attribution = "relationship--ec15048f-a697-5c7b-b0c3-73f41415f400" // APT28 phishing campaign attributed-to APT28
	seedSeedwormReport   = "report--378b6710-b8ff-508a-b47a-7bddc88e1bed"       // Symantec: Seedworm espionage group …
	seedTakeDown         = "incident--850c6bad-b947-5549-98f0-8293d62acfe6"     // Microsoft take-down of APT28 phishing domains
	seedCampaign         = "campaign--ebbd72a6-5d33-5a2c-a573-d73a2c1a0492"     // APT28 credential phishing (2018)
	seedSenateGroup      = "indicator--1d495d52-3145-58fb-99f3-d1ccb18e98b5"    // APT28 phishing domain senate.group
	seedADFSServices     = "indicator--2f80b20e-278f-5ad4-8645-0e840a003738"    // APT28 phishing domain adfs-senate.services
)

// SeedDemo adds the demo's collaboration to a hub holding the seed scenario in workspace
// "community" with the demo's active members: the case "APT28 phishing-domain take-down" led
// by cert-fr with tasks for its participants, each nation's assessment of the APT28
// attribution and of the Seedworm report (cert-be disagreeing), sightings of the phishing
// domains (one anonymous, one a false positive) and a threaded discussion mentioning cert-uk.
func SeedDemo(ctx context.Context, s *Service) error {
	fr, uk, us, nl, be := Actor{"cert-fr", "system"}, Actor{"cert-uk", "system"}, Actor{"cert-us", "system"}, Actor{"cert-nl", "system"}, Actor{"cert-be", "system"}
	conf := func(n int) *int { return &n }
	opinions := []struct {
		a  Actor
		in OpinionInput
	}{
		{fr, OpinionInput{ObjectRef: seedAPT28Attribution, Opinion: "agree", Confidence: conf(85), Explanation: "Infrastructure overlaps with APT28 phishing domains we handled in 2017."}},
		{uk, OpinionInput{ObjectRef: seedAPT28Attribution, Opinion: "agree", Confidence: conf(60), Explanation: "Consistent tradecraft; registrar overlap only partly confirmed."}},
		{nl, OpinionInput{ObjectRef: seedAPT28Attribution, Opinion: "neutral", Confidence: conf(30), Explanation: "No national visibility on this infrastructure."}},
		{us, OpinionInput{ObjectRef: seedSeedwormReport, Opinion: "agree", Confidence: conf(80), Explanation: "Matches our PowerShell backdoor telemetry."}},
		{uk, OpinionInput{ObjectRef: seedSeedwormReport, Opinion: "agree", Confidence: conf(65)}},
		{be, OpinionInput{ObjectRef: seedSeedwormReport, Opinion: "disagree", Confidence: conf(55), Explanation: "The GitHub staging we saw points to a different operator sharing the tooling."}},
	}
	for _, o := range opinions {
		if _, err := s.RecordOpinion(ctx, o.a, o.in); err != nil {
			return fmt.Errorf("opinion of %s on %s: %w", o.a.Org, o.in.ObjectRef, err)
		}
	}
	title, sev, desc := "APT28 phishing-domain take-down", "high", "Coordinate registrar and hosting take-down requests for the APT28 phishing domains imitating the US Senate and political institutes."
	parts := []string{"cert-us", "cert-uk", "cert-nl", "cert-be"}
	c, err := s.OpenCase(ctx, fr, "community", CaseInput{Title: &title, Severity: &sev, Description: &desc, Participants: &parts,
		ObjectRefs: []string{seedTakeDown, seedCampaign}})
	if err != nil {
		return fmt.Errorf("case: %w", err)
	}
	tasks := []struct {
		a  Actor
		in TaskInput
	}{
		{fr, TaskInput{Title: "Send take-down request to the registrar of senate.group", Assignee: "cert-us", Due: "2018-08-24"}},
		{fr, TaskInput{Title: "Check national exposure to the six domains", Assignee: "cert-nl", Due: "2018-08-23"}},
		{uk, TaskInput{Title: "Sinkhole adfs-senate.services", Assignee: "cert-uk", Due: "2018-08-25"}},
	}
	var first *Task
	for _, t := range tasks {
		task, err := s.AddTask(ctx, t.a, c.ID, t.in)
		if err != nil {
			return fmt.Errorf("case task %q: %w", t.in.Title, err)
		}
		if first == nil {
			first = task
		}
	}
	if _, err := s.UpdateTask(ctx, us, c.ID, first.ID, TaskInput{Status: "in-progress"}); err != nil {
		return fmt.Errorf("case task update: %w", err)
	}
	if _, err := s.Link(ctx, be, c.ID, []string{seedSenateGroup, seedADFSServices}); err != nil {
		return fmt.Errorf("case links: %w", err)
	}
	status := "in-progress"
	if _, err := s.UpdateCase(ctx, fr, c.ID, CaseInput{Status: &status}); err != nil {
		return fmt.Errorf("case status: %w", err)
	}
	note, err := s.AddNote(ctx, fr, NoteInput{ObjectRefs: []string{c.ID}, Content: "Registrar contact found for senate.group; @cert-uk can you confirm the sinkhole capacity?"})
	if err != nil {
		return fmt.Errorf("case note: %w", err)
	}
	if _, err := s.AddNote(ctx, uk, NoteInput{InReplyTo: note.ID, Content: "Confirmed, sinkhole ready from tomorrow 06:00 UTC."}); err != nil {
		return fmt.Errorf("case reply: %w", err)
	}
	sightings := []struct {
		a  Actor
		in SightingInput
	}{
		{nl, SightingInput{SightingOf: seedSenateGroup, Count: 14, FirstSeen: "2018-08-15T08:00:00Z", LastSeen: "2018-08-20T17:30:00Z"}},
		{be, SightingInput{SightingOf: seedSenateGroup, Count: 3, FirstSeen: "2018-08-18T09:12:00Z", LastSeen: "2018-08-19T11:40:00Z", Anonymous: true}},
		{uk, SightingInput{SightingOf: seedADFSServices, Count: 1, FalsePositive: true, Description: "Hit on a training-lab mirror of the domain."}},
	}
	for _, sg := range sightings {
		if _, err := s.RecordSighting(ctx, sg.a, sg.in); err != nil {
			return fmt.Errorf("sighting by %s: %w", sg.a.Org, err)
		}
	}
	return nil
}
