package web

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"cshub/internal/extract"
	"cshub/internal/gather"
)

// The browser tests drive Debian's Chromium, headless, against the test hub on loopback TLS.
// They skip when no Chromium is installed (CI installs it). Screenshots are test artifacts:
// run with -artifacts to keep them.

// chromium returns the path of a Chromium binary, or skips the test.
func chromium(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("browser tests skipped with -short")
	}
	for _, name := range []string{"chromium", "chromium-browser", "/usr/bin/chromium"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no chromium found: install Debian's chromium package to run the browser tests")
	return ""
}

// newChrome starts a headless Chromium for h and returns a browser context bound to the test.
// The certificate of h's own server is trusted by its public key hash alone, so that no other
// certificate error would be ignored.
func newChrome(t *testing.T, h *testHub) context.Context {
	t.Helper()
	path := chromium(t)
	cert := h.srv.Certificate()
	spki := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("ignore-certificate-errors-spki-list", base64.StdEncoding.EncodeToString(spki[:])),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(cancel)
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(cancelTimeout)
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("starting chromium: %v", err)
	}
	return ctx
}

// run runs steps and fails the test with what was being done.
func run(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// value runs an action that returns a value and fails the test with what was being done.
func value[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// shoot saves a full-page screenshot of the current page as a test artifact.
func shoot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png := value(t, ctx, "screenshot "+name, chromedp.FullScreenshot(100))
	if err := os.WriteFile(filepath.Join(t.ArtifactDir(), name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// signIn logs u in through the login form.
func signIn(t *testing.T, ctx context.Context, h *testHub, u testUser) {
	t.Helper()
	h.clock.Advance(30 * time.Second)
	run(t, ctx, "sign in as "+u.username,
		chromedp.Navigate(h.srv.URL+"/login"),
		chromedp.WaitVisible(chromedp.CSS(`#username`)),
		chromedp.SendKeys(chromedp.CSS(`#username`), u.username),
		chromedp.SendKeys(chromedp.CSS(`#password`), u.password),
		chromedp.SendKeys(chromedp.CSS(`#totp`), h.code(t, u)),
		chromedp.Click(chromedp.CSS(`button[type=submit].primary`)),
		chromedp.WaitVisible(chromedp.CSS(`#counts-title`)),
	)
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	return value(t, ctx, "read "+sel, chromedp.Text(chromedp.CSS(sel)))
}

func activeID(t *testing.T, ctx context.Context) string {
	t.Helper()
	return value(t, ctx, "read the focused element", chromedp.Evaluate[string](`document.activeElement.id || document.activeElement.tagName`))
}

// seedParagraph is a paragraph in the style of the seed documents.
const seedParagraph = `Relay reuse by APT28
CERT-FR observed APT28 (Fancy Bear) operators sending spear-phishing mail through the relay 203.0.113.77 and hosting a credential page on secure-mail.example.net. The lure exploited CVE-2017-11882 against ministries in Ukraine.`

// TestBrowserAnalystJourney signs in with a password and TOTP, reads the dashboard, searches
// for Fancy Bear and opens APT28, pastes a report and saves it after dropping one entity, signs
// out, and signs in as another member who fails to reach a TLP:RED object by its URL.
func TestBrowserAnalystJourney(t *testing.T) {
	h := newTestHub(t)
	h.ingest(t, "cert-fr", file(t, "apt28.json"))
	h.ingest(t, "cert-fr", file(t, "red-finding.json"), "cert-be")
	const red = "/objects/indicator--2fd6d87e-3bbb-528b-ab8e-d2816ad3b1ca"
	ctx := newChrome(t, h)

	// Login form: focus starts on the user name, and Tab walks the fields in order.
	run(t, ctx, "open login", chromedp.Navigate(h.srv.URL+"/"), chromedp.WaitVisible(chromedp.CSS(`#username`)))
	if loc := value(t, ctx, "read location", chromedp.Location()); !strings.HasSuffix(loc, "/login") {
		t.Fatalf("signed out, / went to %s, want /login", loc)
	}
	var order []string
	order = append(order, activeID(t, ctx))
	for range 3 {
		run(t, ctx, "tab", chromedp.KeyEvent(kb.Tab))
		order = append(order, activeID(t, ctx))
	}
	if got := strings.Join(order, " "); got != "username password totp BUTTON" {
		t.Errorf("focus order on the login page: %s, want username password totp BUTTON", got)
	}
	shoot(t, ctx, "login")

	u := h.users["cert-fr"]
	signIn(t, ctx, h, u)
	if got := text(t, ctx, ".whoami-user"); got != u.username {
		t.Errorf("signed in as %q, want %q", got, u.username)
	}
	if got := text(t, ctx, "#timeline-title"); !strings.Contains(got, "New objects") {
		t.Errorf("dashboard chart title %q", got)
	}
	shoot(t, ctx, "dashboard")
	// The first Tab reaches the skip link, which takes the focus past the navigation.
	run(t, ctx, "tab to the skip link", chromedp.KeyEvent(kb.Tab))
	if got := value(t, ctx, "read the focused link", chromedp.Evaluate[string](`document.activeElement.textContent`)); got != "Skip to content" {
		t.Errorf("first Tab on the dashboard focuses %q, want the skip link", got)
	}
	run(t, ctx, "follow the skip link", chromedp.KeyEvent(kb.Enter))
	if id := activeID(t, ctx); id != "main" {
		t.Errorf("after the skip link the focus is on %q, want main", id)
	}

	// "/" opens the search page from the dashboard, and focuses the field on the search page.
	run(t, ctx, "press /", chromedp.KeyEvent("/"), chromedp.WaitVisible(chromedp.CSS(`#q`)))
	run(t, ctx, "blur", chromedp.Blur(chromedp.CSS("#q")), chromedp.KeyEvent("/"))
	if id := activeID(t, ctx); id != "q" {
		t.Errorf(`after "/" the focus is on %q, want the search field`, id)
	}
	// SetValue, not SendKeys: the DevTools protocol types the "/" of the shortcut as a separate
	// character event that the page's keydown handler cannot cancel, as it would for a person.
	run(t, ctx, "search Fancy Bear",
		chromedp.SetValue(chromedp.CSS(`#q`), "Fancy Bear"),
		chromedp.Submit(chromedp.CSS(`#q`)),
		chromedp.WaitVisible(chromedp.CSS(`#results-title`)),
	)
	if got := text(t, ctx, `table.objects tbody tr:first-child td:first-child a`); got != "APT28" {
		t.Fatalf("first result %q, want APT28", got)
	}
	shoot(t, ctx, "search")
	run(t, ctx, "open APT28",
		chromedp.Click(chromedp.CSS(`table.objects tbody tr:first-child td:first-child a`)),
		chromedp.WaitVisible(chromedp.CSS(`#object-title`)),
	)
	if got := text(t, ctx, "#object-title"); got != "APT28" {
		t.Errorf("object page title %q, want APT28", got)
	}
	nodes := value(t, ctx, "count graph nodes", chromedp.Evaluate[int](`document.querySelectorAll("svg.graph-svg a.node").length`))
	if nodes != 3 {
		t.Errorf("graph draws %d linked neighbours, want 3", nodes)
	}
	shoot(t, ctx, "object")
	// The graph's nodes are links that need no script.
	run(t, ctx, "follow the graph to X-Agent",
		chromedp.Click(chromedp.CSS(`svg.graph-svg a.node-malware`)),
		chromedp.WaitVisible(chromedp.CSS(`#object-title`)),
	)
	if got := text(t, ctx, "#object-title"); got != "X-Agent" {
		t.Errorf("after following the graph, title %q, want X-Agent", got)
	}

	// The demo's take-down case: from the list of cases to its tasks and timeline.
	h.seedDemoCase(t)
	takeDown := h.demoCaseID(t)
	run(t, ctx, "open the cases",
		chromedp.Click(chromedp.CSS(`.site-nav a[href="/cases"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#cases`)),
	)
	shoot(t, ctx, "cases")
	run(t, ctx, "open the APT28 take-down case",
		chromedp.Click(chromedp.CSS(`#cases a[href="/cases/`+takeDown+`"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#case-title`)),
	)
	if got := text(t, ctx, "#case-title"); got != "APT28 phishing-domain take-down" {
		t.Errorf("case page title %q", got)
	}
	tasks := text(t, ctx, "#tasks")
	for _, want := range []string{"Send take-down request to the registrar of senate.group", "Sinkhole adfs-senate.services", "cert-us"} {
		if !strings.Contains(tasks, want) {
			t.Errorf("the case's tasks lack %q: %s", want, tasks)
		}
	}
	timeline := text(t, ctx, "#timeline")
	for _, want := range []string{"case.opened", "task.updated", "objects.linked", "sinkhole ready"} {
		if !strings.Contains(timeline, want) {
			t.Errorf("the case's timeline lacks %q: %s", want, timeline)
		}
	}
	shoot(t, ctx, "case")

	// Ingest: paste, preview, drop the domain, save.
	run(t, ctx, "paste a report",
		chromedp.Navigate(h.srv.URL+"/ingest"),
		chromedp.WaitVisible(chromedp.CSS(`#text`)),
		chromedp.SetValue(chromedp.CSS(`#text`), seedParagraph),
		chromedp.Click(chromedp.CSS(`button[value=preview]`)),
		chromedp.WaitVisible(chromedp.CSS(`fieldset.preview`)),
	)
	found := text(t, ctx, "ul.entities")
	for _, want := range []string{"APT28", "203.0.113.77", "secure-mail.example.net", "CVE-2017-11882"} {
		if !strings.Contains(found, want) {
			t.Errorf("preview lacks %s: %s", want, found)
		}
	}
	shoot(t, ctx, "ingest-preview")
	dropped := gather.CandidateID(extract.Entity{Kind: extract.KindDomain, Value: "secure-mail.example.net"})
	run(t, ctx, "drop the domain and save",
		chromedp.Click(chromedp.CSS(`ul.entities input[value="`+dropped+`"]`)),
		chromedp.Click(chromedp.CSS(`button[value=save]`)),
		chromedp.WaitVisible(chromedp.CSS(`#summary-title`)),
	)
	summary := text(t, ctx, "#summary-title")
	if !strings.HasPrefix(summary, "Saved:") {
		t.Errorf("summary %q", summary)
	}
	ids := text(t, ctx, "ul.ids")
	if !strings.Contains(ids, "report--") || strings.Contains(ids, "domain-name") {
		t.Errorf("saved %s: want a report and no domain", ids)
	}
	shoot(t, ctx, "ingest-saved")

	// A form post without the CSRF token is refused, even from the hub's own page.
	status := value(t, ctx, "post without a token", chromedp.Evaluate[int](`fetch("/ingest", {method: "POST", body: new URLSearchParams({text: "x", workspace: "community"})}).then(r => r.status)`, chromedp.EvalAwaitPromise))
	if status != 403 {
		t.Errorf("POST /ingest without a CSRF token = %d, want 403", status)
	}

	// Sign out.
	run(t, ctx, "sign out", chromedp.Click(chromedp.CSS(`.logout button`)), chromedp.WaitVisible(chromedp.CSS(`#username`)))
	run(t, ctx, "back to the dashboard", chromedp.Navigate(h.srv.URL+"/"), chromedp.WaitVisible(chromedp.CSS(`#username`)))

	// Another member does not reach the RED object by its URL; its recipient does.
	signIn(t, ctx, h, h.users["cert-uk"])
	run(t, ctx, "open the RED object", chromedp.Navigate(h.srv.URL+red), chromedp.WaitVisible(chromedp.CSS(`#nf-title`)))
	shoot(t, ctx, "red-hidden")
	run(t, ctx, "sign out", chromedp.Click(chromedp.CSS(`.logout button`)), chromedp.WaitVisible(chromedp.CSS(`#username`)))
	signIn(t, ctx, h, h.users["cert-be"])
	run(t, ctx, "open the RED object as its recipient", chromedp.Navigate(h.srv.URL+red), chromedp.WaitVisible(chromedp.CSS(`.tlp-banner.tlp-red`)))
	shoot(t, ctx, "red-recipient")
}

// TestBrowserScriptPayloadsDoNotRun opens every page that shows the hostile objects and
// feature data of TestObjectValuesAreEscaped in Chromium, with alert, confirm and prompt replaced before any
// page script runs by a function that records the call: no payload may reach one.
func TestBrowserScriptPayloadsDoNotRun(t *testing.T) {
	h := newTestHub(t)
	sum := h.ingest(t, "cert-fr", bundleOf(hostile()...))
	hostileCase := hostileFeatures(t, h)
	ctx := newChrome(t, h)
	run(t, ctx, "trap dialogs", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, cdppage.AddScriptToEvaluateOnNewDocument, cdppage.AddScriptToEvaluateOnNewDocumentParams{
			Source: `for (const f of ["alert", "confirm", "prompt"]) { window[f] = () => { document.documentElement.dataset.ran = "yes"; }; }`,
		})
		return err
	}))
	signIn(t, ctx, h, h.users["cert-be"])
	paths := []string{"/", "/search?q=alert", "/search?q=script", "/cases", "/cases/" + hostileCase, "/exercises/drill", "/policy/A/RES/73/266"}
	for _, id := range sum.IDs {
		paths = append(paths, "/objects/"+id)
	}
	for _, p := range paths {
		run(t, ctx, "open "+p, chromedp.Navigate(h.srv.URL+p), chromedp.WaitVisible(chromedp.CSS("footer")))
		ran := value(t, ctx, "check "+p, chromedp.Evaluate[string](`document.documentElement.dataset.ran || "no"`))
		if ran != "no" {
			t.Errorf("%s: a payload ran", p)
		}
		// The trap itself works: a script of the test can trigger it.
		if p == "/" {
			if v := value(t, ctx, "check the trap", chromedp.Evaluate[string](`alert(1), document.documentElement.dataset.ran`)); v != "yes" {
				t.Fatalf("the dialog trap is not installed: %q", v)
			}
			run(t, ctx, "reset the trap", chromedp.Navigate(h.srv.URL+"/"), chromedp.WaitVisible(chromedp.CSS("footer")))
		}
	}
	shoot(t, ctx, "hostile-object")
}
