package main

import (
	"context"

	"cshub/internal/access"
	"cshub/internal/hub"
	"cshub/internal/policy"
)

// The policy commands show the policy tracker as an organisation sees it: the catalogued
// instruments and every UN symbol cited, with the citing objects that organisation may read.

func policyCommands() []subcommand {
	return []subcommand{
		{"list", "--org ORG [--actor A] [--issue I] [--status S] [--kind K]", "list the tracked documents with their citations as JSON", runPolicyList},
		{"show", "--org ORG SYMBOL", "show one tracked document (e.g. A/RES/73/266) as JSON", runPolicyShow},
	}
}

func runPolicy(ctx context.Context, e *env, args []string) error {
	return runGroup(ctx, e, "policy", policyCommands(), args)
}

// policyView opens the hub and returns org's tracker view.
func policyView(ctx context.Context, e *env, c *common, org string) (*app, hub.Viewer, error) {
	if org == "" {
		return nil, hub.Viewer{}, hub.FieldError("org", "required: the organisation whose view to show")
	}
	a, err := openApp(ctx, e, c, false)
	if err != nil {
		return nil, hub.Viewer{}, err
	}
	v, err := access.ViewerFor(ctx, a.store, org, access.PathRead)
	if err != nil {
		a.close()
		return nil, hub.Viewer{}, err
	}
	return a, v, nil
}

func runPolicyList(ctx context.Context, e *env, args []string) error {
	var c common
	fs := subFlags(e, "policy", "list", &c)
	org := fs.String("org", "", "see the tracker as this organisation `code` (required)")
	var f policy.Filter
	fs.StringVar(&f.Actor, "actor", "", "only documents of this `actor` (UN GGE, OEWG, NATO, …)")
	fs.StringVar(&f.Issue, "issue", "", "only documents on this `issue` (cyberconflict, cybercrime, …)")
	fs.StringVar(&f.Status, "status", "", "only documents with this `status` (draft, adopted, …)")
	fs.StringVar(&f.Kind, "kind", "", "only documents of this `kind` (resolution, declaration, …)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if err := noArgs(pos); err != nil {
		return err
	}
	a, v, err := policyView(ctx, e, &c, *org)
	if err != nil {
		return err
	}
	defer a.close()
	docs, err := policy.New(a.kb).Documents(ctx, v, f)
	if err != nil {
		return err
	}
	return printJSON(e, map[string]any{"documents": docs})
}

func runPolicyShow(ctx context.Context, e *env, args []string) error {
	var c common
	fs := subFlags(e, "policy", "show", &c)
	org := fs.String("org", "", "see the tracker as this organisation `code` (required)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if err := exactArgs(pos, "SYMBOL"); err != nil {
		return err
	}
	a, v, err := policyView(ctx, e, &c, *org)
	if err != nil {
		return err
	}
	defer a.close()
	d, err := policy.New(a.kb).Document(ctx, v, pos[0])
	if err != nil {
		return err
	}
	return printJSON(e, d)
}
