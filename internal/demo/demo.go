// Package demo holds the content of cshub's demonstration hub: the organisations (the hub
// operator and the national CERTs of the 29 allied states of 2019), the MITRE ATT&CK Enterprise
// bundle for the community workspace, a hand-written STIX 2.1 seed scenario built from public
// 2018-2019 reporting, and the source paragraphs for the free-text pipeline.
//
// Everything here is fixed data embedded in the binary; the package does no I/O beyond reading
// its own embedded files and holds no state, so every function is safe for concurrent use. It
// says nothing about how the content is stored or served: the demo command wires that.
package demo

import (
	"bytes"
	"compress/gzip"
	"embed"
	"encoding/json"
	"fmt"
	"io"
)

//go:embed data/enterprise-attack-18.1.stix21.json.gz data/LICENSE-ATTACK.txt
//go:embed data/seed-scenario.json data/seed-texts.json
var files embed.FS

// The names of the embedded files.
const (
	attackFile    = "data/enterprise-attack-18.1.stix21.json.gz"
	attackLicence = "data/LICENSE-ATTACK.txt"
	seedFile      = "data/seed-scenario.json"
	seedTextsFile = "data/seed-texts.json"
)

// AttackObjects is the number of objects in the bundle AttackBundle returns.
const AttackObjects = 24771

// AttackBundle returns the MITRE ATT&CK Enterprise v18.1 domain as one STIX 2.1 bundle (JSON,
// decompressed, about 46 MB, AttackObjects objects). The caller must close it. Copies of the
// data must keep MITRE's notice; see AttackLicence.
func AttackBundle() (io.ReadCloser, error) {
	f, err := files.Open(attackFile)
	if err != nil {
		return nil, fmt.Errorf("demo: open ATT&CK bundle: %w", err)
	}
	zr, err := gzip.NewReader(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("demo: read ATT&CK bundle: %w", err)
	}
	return &gzipFile{Reader: zr, file: f}, nil
}

// gzipFile closes both the gzip stream and the file under it.
type gzipFile struct {
	*gzip.Reader
	file io.Closer
}

func (g *gzipFile) Close() error {
	err := g.Reader.Close()
	if ferr := g.file.Close(); err == nil {
		err = ferr
	}
	return err
}

// AttackLicence returns the ATT&CK terms of use that must accompany any copy of AttackBundle.
func AttackLicence() []byte {
	b, err := files.ReadFile(attackLicence)
	if err != nil {
		// The file is embedded at build time; failing to read it is a broken build.
		panic(fmt.Sprintf("demo: embedded %s: %v", attackLicence, err))
	}
	return b
}

// SeedBundle returns the seed scenario: a STIX 2.1 bundle written by hand from public reporting
// of 2018-2019 (Symantec on Seedworm, Microsoft's take-down of APT28 phishing domains, F5 Labs on
// SSH brute force against Finland, and UN General Assembly resolutions on cyberspace). Its ids are
// fixed, so loading it twice gives the same objects. Some of its references point at ATT&CK
// objects rather than at objects in the bundle; ExternalRefs lists them. The returned slice is
// the caller's to keep or change.
func SeedBundle() []byte {
	b, err := files.ReadFile(seedFile)
	if err != nil {
		panic(fmt.Sprintf("demo: embedded %s: %v", seedFile, err))
	}
	return bytes.Clone(b)
}

// ExternalRefs returns the ids the seed bundle refers to but does not contain: all of them are
// objects of the ATT&CK bundle, so a hub that has loaded AttackBundle into the same workspace
// resolves every reference of the seed scenario.
func ExternalRefs() []string {
	return []string{
		"intrusion-set--269e8108-68c6-4f99-b911-14b2e765dec2", // MuddyWater (G0069), alias Seedworm
		"intrusion-set--bef4c620-0787-42a8-a96d-b7eb6e85917c", // APT28 (G0007)
		"tool--b76b2d94-60e4-4107-a903-4a3a7622fb3b",          // LaZagne (S0349)
		"tool--c4810609-7da6-48ec-8057-1b70a7814db0",          // CrackMapExec (S0488)
		"relationship--97068a5a-faff-4212-a841-c06db163452e",  // MuddyWater uses LaZagne
		"relationship--aa0e4bee-a9a4-4d32-bb62-f024058842c6",  // MuddyWater uses CrackMapExec
	}
}

// SeedText is one item of public reporting, verbatim, for the free-text extraction pipeline.
type SeedText struct {
	Title string `json:"title"` // ours, for display
	Text  string `json:"text"`  // one or more paragraphs of the source, unchanged
}

// SeedTexts returns the threat and policy reporting of the demo's two source pages (GIP Digital
// Watch, 2018-2019): Seedworm, the APT28 domains, the SSH brute force on Finland, the UN
// resolutions, Locked Shields and the other news items, in the order they appear there.
func SeedTexts() []SeedText {
	b, err := files.ReadFile(seedTextsFile)
	if err != nil {
		panic(fmt.Sprintf("demo: embedded %s: %v", seedTextsFile, err))
	}
	var texts []SeedText
	if err := json.Unmarshal(b, &texts); err != nil {
		// The tests decode the same bytes; this is a broken build, not bad input.
		panic(fmt.Sprintf("demo: embedded %s: %v", seedTextsFile, err))
	}
	return texts
}

// Operator is the organisation code of the hub operator.
const Operator = "hub-operator"

// ActiveMembers returns the codes of the hub's first participants, in the order the 2019
// announcement names them: the CERTs of the United States, the United Kingdom, France, the
// Netherlands and Belgium. Only these members and the operator are active in the demo.
func ActiveMembers() []string {
	return []string{"cert-us", "cert-uk", "cert-fr", "cert-nl", "cert-be"}
}
