package main

import (
	"context"
	"encoding/json"
	"fmt"

	"cshub/internal/hub"
	"cshub/internal/seal"
)

// integrityChecker is a store that can check its own files (store/sqlite: PRAGMA
// integrity_check). PostgreSQL checks its pages itself and has no such method.
type integrityChecker interface {
	Check(ctx context.Context) error
}

// maxReported bounds the problems check prints of each kind: a store broken everywhere is
// reported by its count, not by a million lines.
const maxReported = 10

// runCheck checks that a hub is whole: the store's own integrity check, that the keyring opens
// with the root key, that every object version's body opens at its location and is the STIX
// object its row says it is, that every TOTP secret opens, and that the audit chain verifies.
// It prints one line per check and returns an EIntegrity error naming how many problems it
// found, so the exit status is non-zero when anything is wrong. It only reads.
func runCheck(ctx context.Context, e *env, args []string) error {
	fs := flags(e, "check")
	var c common
	c.register(fs)
	if _, err := parse(fs, args); err != nil {
		return err
	}
	a, err := openApp(ctx, e, &c, false)
	if err != nil {
		return fmt.Errorf("keyring: %w", err)
	}
	defer a.close()
	problems := 0
	report := func(what string, n int, errs []string) {
		if len(errs) == 0 {
			fmt.Fprintf(e.stdout, "ok    %s (%d)\n", what, n)
			return
		}
		problems += len(errs)
		fmt.Fprintf(e.stdout, "FAIL  %s: %d of %d bad\n", what, len(errs), n)
		for i, s := range errs {
			if i == maxReported {
				fmt.Fprintf(e.stdout, "      … and %d more\n", len(errs)-maxReported)
				break
			}
			fmt.Fprintf(e.stdout, "      %s\n", s)
		}
	}

	if ic, ok := a.store.(integrityChecker); ok {
		var errs []string
		if err := ic.Check(ctx); err != nil {
			errs = append(errs, err.Error())
		}
		report("store integrity check", 1, errs)
	}
	terms, err := a.barrier.Status()
	if err != nil {
		return err
	}
	report("keyring opens with the root key; terms", len(terms), nil)

	n, errs, err := checkObjects(ctx, a)
	if err != nil {
		return err
	}
	report("object versions open and parse", n, errs)

	n, errs, err = checkTOTP(ctx, a)
	if err != nil {
		return err
	}
	report("TOTP secrets open", n, errs)

	rep, err := a.audit.Verify(ctx)
	errs = nil
	if err != nil {
		if hub.ErrorCode(err) != hub.EIntegrity {
			return err
		}
		errs = append(errs, err.Error())
	}
	report("audit chain entries verify", int(rep.Verified), errs)

	if problems > 0 {
		return hub.Errorf(hub.EIntegrity, "%d problems in %s", problems, c.data)
	}
	return nil
}

// checkObjects opens every stored version, all workspaces and versions, and checks that its
// body is the STIX object its row names.
func checkObjects(ctx context.Context, a *app) (int, []string, error) {
	var errs []string
	n := 0
	f := hub.Filter{Viewer: hub.Viewer{System: true}, AllVersions: true, Limit: 1000}
	for {
		objs, err := a.store.ListObjects(ctx, f)
		if err != nil {
			return n, errs, err
		}
		for _, o := range objs {
			n++
			body, err := a.barrier.Decrypt(seal.ObjectLocation(o), o.Body)
			if err != nil {
				errs = append(errs, fmt.Sprintf("seq %d (%s in %s): does not open: %v", o.Seq, o.ID, o.Workspace, err))
				continue
			}
			var head struct{ ID, Type string }
			if err := json.Unmarshal(body, &head); err != nil {
				errs = append(errs, fmt.Sprintf("seq %d (%s): not JSON: %v", o.Seq, o.ID, err))
			} else if head.ID != o.ID || head.Type != o.Type {
				errs = append(errs, fmt.Sprintf("seq %d: row says %s, body says %s", o.Seq, o.ID, head.ID))
			}
			clear(body)
		}
		if len(objs) < f.Limit {
			return n, errs, nil
		}
		f.AfterSeq = objs[len(objs)-1].Seq
	}
}

// checkTOTP opens every enrolled user's TOTP secret.
func checkTOTP(ctx context.Context, a *app) (int, []string, error) {
	users, err := a.store.Users(ctx, "")
	if err != nil {
		return 0, nil, err
	}
	var errs []string
	n := 0
	for _, u := range users {
		if u.TOTPSecret == nil {
			continue
		}
		n++
		secret, err := a.barrier.Decrypt(seal.TOTPLocation(u.ID), u.TOTPSecret)
		if err != nil {
			errs = append(errs, fmt.Sprintf("user %s (id %d): %v", u.Username, u.ID, err))
		}
		clear(secret)
	}
	return n, errs, nil
}
