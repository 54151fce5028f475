package auth

import (
	_ "embed"
	"strings"
	"unicode"
	"unicode/utf8"

	"cshub/internal/hub"
)

// MinPasswordLen is the fewest characters (Unicode code points) a password may have.
const MinPasswordLen = 12

// commonText is the embedded list of common passwords, see common.txt for what it is.
//
//go:embed common.txt
var commonText string

// common is the set parsed from commonText; it is read-only after package initialisation.
var common = parseCommon(commonText)

func parseCommon(text string) map[string]bool {
	m := make(map[string]bool)
	for line := range strings.Lines(text) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.ToLower(line)
		m[line] = true
		// Entries with digits or symbols ("trustno1") are also kept as CheckPassword reads
		// them after undoing leetspeak.
		for _, v := range unleet(line) {
			m[v] = true
		}
	}
	return m
}

// CheckPassword refuses weak passwords. It returns nil for an acceptable password, or a
// *hub.Error with code EInvalid, field "password" and the reason, when password
//
//   - has fewer than MinPasswordLen characters or more than 1024 bytes;
//   - contains the user name or the organisation code, ignoring case and leetspeak ("4l1ce"
//     contains "alice"); names shorter than three characters are not checked;
//   - is one short pattern repeated ("abcabcabcabc") or uses fewer than five distinct
//     characters;
//   - is a run of consecutive characters ("123456789012", "abcdefghijkl", "zyxwvutsrqpo") or
//     a straight walk along a keyboard row;
//   - is, once lower-cased, stripped of leading and trailing digits and symbols (or of all of
//     them) and undone of leetspeak (0→o, 1→i or l, 3→e, 4 and @→a, 5 and $→s, 7→t, 8→b, 9→g,
//     !→i), one of the entries of the embedded list or a concatenation of entries of four or
//     more letters ("P@ssw0rd2024!", "Qwertyuiop123", "monkeydragon", "letmein!letmein").
//
// The embedded list (common.txt) is hand-written: the classic worst passwords that published
// top-N lists repeat, keyboard walks on QWERTY, AZERTY and QWERTZ, and words people use for work
// accounts at a CERT. It is not a breached-password corpus and not a dictionary, so it stops the
// obvious choices, not a targeted guess; CheckPassword makes no network calls.
func CheckPassword(pw, username, org string) error {
	if n := utf8.RuneCountInString(pw); n < MinPasswordLen {
		return hub.FieldError("password", "must be at least %d characters long", MinPasswordLen)
	}
	if len(pw) > maxPasswordBytes {
		return hub.FieldError("password", "must be at most %d bytes long", maxPasswordBytes)
	}
	if !utf8.ValidString(pw) {
		return hub.FieldError("password", "must be valid UTF-8")
	}
	lower := strings.ToLower(pw)
	readings := append([]string{lower}, unleet(lower)...)
	if containsName(readings, username) {
		return hub.FieldError("password", "must not contain the user name")
	}
	if containsName(readings, org) {
		return hub.FieldError("password", "must not contain the organisation code")
	}
	runes := []rune(lower)
	if isRepetition(runes) {
		return hub.FieldError("password", "must not be a short pattern repeated")
	}
	if distinct(runes) < 5 {
		return hub.FieldError("password", "must use at least 5 different characters")
	}
	if isSequence(runes) {
		return hub.FieldError("password", "must not be a sequence of consecutive characters or keys")
	}
	if isCommon(lower) {
		return hub.FieldError("password", "is too common: it is, or is built from, a well-known password")
	}
	return nil
}

// containsName reports whether any of the readings of a password contains name, lower-cased.
func containsName(readings []string, name string) bool {
	name = strings.ToLower(strings.TrimSpace(name))
	if utf8.RuneCountInString(name) < 3 {
		return false
	}
	for _, r := range readings {
		if strings.Contains(r, name) {
			return true
		}
	}
	return false
}

// isRepetition reports whether r is a shorter unit repeated whole, at least twice.
func isRepetition(r []rune) bool {
	n := len(r)
	for unit := 1; unit <= n/2; unit++ {
		if n%unit != 0 {
			continue
		}
		rep := true
		for i := unit; i < n; i++ {
			if r[i] != r[i-unit] {
				rep = false
				break
			}
		}
		if rep {
			return true
		}
	}
	return false
}

func distinct(r []rune) int {
	seen := make(map[rune]bool, len(r))
	for _, c := range r {
		seen[c] = true
	}
	return len(seen)
}

// keyboardRows are strings along which a straight walk is a sequence; digits wrap ("7890123").
var keyboardRows = []string{
	"0123456789",
	"abcdefghijklmnopqrstuvwxyz",
	"`1234567890-=",
	"qwertyuiop[]\\",
	"asdfghjkl;'",
	"zxcvbnm,./",
	"azertyuiop",
	"qsdfghjklm",
	"wxcvbn",
	"qwertzuiop",
	"yxcvbnm",
}

// isSequence reports whether r, or r reversed, is a substring of one keyboard row or alphabet,
// allowing the walk to wrap round once ("789012345678").
func isSequence(r []rune) bool {
	s := string(r)
	rev := reverse(r)
	for _, row := range keyboardRows {
		// A doubled row lets a walk wrap round once.
		wrapped := row + row
		if strings.Contains(wrapped, s) || strings.Contains(wrapped, rev) {
			return true
		}
	}
	return false
}

func reverse(r []rune) string {
	out := make([]rune, len(r))
	for i, c := range r {
		out[len(r)-1-i] = c
	}
	return string(out)
}

// isCommon reports whether lower, reduced to its core, is an entry of the common list or a
// concatenation of entries.
func isCommon(lower string) bool {
	cores := []string{lower, strings.TrimFunc(lower, notLetter), strings.Map(dropNonLetter, lower)}
	for _, c := range append([]string(nil), cores...) {
		for _, v := range unleet(c) {
			cores = append(cores, v, strings.TrimFunc(v, notLetter))
		}
	}
	for _, c := range cores {
		if c != "" && (common[c] || concatenation(c)) {
			return true
		}
	}
	return false
}

func notLetter(r rune) bool { return !unicode.IsLetter(r) }

func dropNonLetter(r rune) rune {
	if unicode.IsLetter(r) {
		return r
	}
	return -1
}

// unleet returns s with leetspeak substitutions undone, in the two readings of "1".
func unleet(s string) []string {
	repl := func(one rune) string {
		return strings.Map(func(r rune) rune {
			switch r {
			case '0':
				return 'o'
			case '1':
				return one
			case '3':
				return 'e'
			case '4', '@':
				return 'a'
			case '5', '$':
				return 's'
			case '7':
				return 't'
			case '8':
				return 'b'
			case '9':
				return 'g'
			case '!':
				return 'i'
			}
			return r
		}, s)
	}
	return []string{repl('i'), repl('l')}
}

// concatenation reports whether s splits wholly into two or more entries of the common list of
// at least four characters each.
func concatenation(s string) bool {
	// ok[i]: s[:i] splits into entries; count is not tracked since a single entry is caught by
	// the direct lookup before this is called.
	ok := make([]bool, len(s)+1)
	ok[0] = true
	for i := 4; i <= len(s); i++ {
		for j := 0; j+4 <= i; j++ {
			if ok[j] && common[s[j:i]] {
				ok[i] = true
				break
			}
		}
	}
	return ok[len(s)]
}
