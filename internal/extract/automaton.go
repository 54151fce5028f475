package extract

// This file holds the Aho-Corasick automaton that finds every dictionary name in one pass over
// the text. Keys and text are normalised the same way (see normByte): ASCII letters are folded
// to lower case and every run of separators (white space, hyphens, underscores) becomes one
// space, so "Fancy  Bear", "fancy-bear" and "FANCY\nBEAR" all meet the key "fancy bear". Bytes
// outside ASCII pass unchanged, so keys with accents ("türkiye") match as written in lower case.

// maxKeyLen bounds a key's normalised length; it is the size of the ring of original offsets
// kept while scanning, so it must be a power of two.
const maxKeyLen = 128

// isSep reports whether c separates words inside a name.
func isSep(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v' || c == '-' || c == '_'
}

// sepTable[c] is isSep(c), for the scanning loop.
var sepTable = func() (t [256]bool) {
	for c := range 256 {
		t[c] = isSep(byte(c))
	}
	return t
}()

// normByte returns the normalised form of c: a space for separators, lower case for ASCII
// letters, c itself otherwise.
func normByte(c byte) byte {
	if isSep(c) {
		return ' '
	}
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// normalise returns the key form of s, without leading or trailing separators.
func normalise(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := normByte(s[i])
		if c == ' ' && (len(b) == 0 || b[len(b)-1] == ' ') {
			continue
		}
		b = append(b, c)
	}
	for len(b) > 0 && b[len(b)-1] == ' ' {
		b = b[:len(b)-1]
	}
	return string(b)
}

// automaton is a dense Aho-Corasick DFA over byte classes. Only bytes that occur in some key
// get a class of their own; all others share class 0, which always leads back towards the root.
type automaton struct {
	class    [256]uint8 // class of a normalised byte
	rawClass [256]uint8 // class of the normalised form of a text byte
	nclass   int
	delta    []int32 // delta[state*nclass+class] is the next state
	out      []int32 // out[state] is the key ending at state, or -1
	outLink  []int32 // outLink[state] is the nearest proper suffix state with an output, or -1
	keyLen   []int32 // normalised length of each key
}

// match is one key found in the text: the key's index and its span in the original text.
type match struct {
	key        int
	start, end int
}

// buildAutomaton compiles the keys, which must be normalised, non-empty, at most maxKeyLen
// bytes long and distinct. Key i is reported as key index i.
func buildAutomaton(keys []string) *automaton {
	a := &automaton{}
	a.nclass = 1
	for _, k := range keys {
		for i := 0; i < len(k); i++ {
			if a.class[k[i]] == 0 {
				a.class[k[i]] = uint8(a.nclass)
				a.nclass++
			}
		}
	}
	for c := range 256 {
		a.rawClass[c] = a.class[normByte(byte(c))]
	}
	// The trie first, with -1 for missing edges.
	nc := a.nclass
	// The trie has at most one state per key byte, plus the root: allocate it at once.
	maxStates := 1
	for _, k := range keys {
		maxStates += len(k)
	}
	goTo := make([]int32, nc, maxStates*nc)
	for i := range goTo {
		goTo[i] = -1
	}
	out := make([]int32, 1, maxStates)
	out[0] = -1
	for ki, k := range keys {
		s := int32(0)
		for i := 0; i < len(k); i++ {
			c := int32(a.class[k[i]])
			next := goTo[s*int32(nc)+c]
			if next < 0 {
				next = int32(len(out))
				out = append(out, -1)
				for range nc {
					goTo = append(goTo, -1)
				}
				goTo[s*int32(nc)+c] = next
			}
			s = next
		}
		out[s] = int32(ki)
		a.keyLen = append(a.keyLen, int32(len(k)))
	}
	n := len(out)
	fail := make([]int32, n)
	outLink := make([]int32, n)
	outLink[0] = -1
	// Breadth first: every state's failure link is final before its children need it, and
	// missing edges become the failure state's edge, which turns the trie into a DFA.
	queue := make([]int32, 0, n)
	for c := range nc {
		t := goTo[c]
		if t < 0 {
			goTo[c] = 0
			continue
		}
		fail[t] = 0
		outLink[t] = -1
		queue = append(queue, t)
	}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		for c := range int32(nc) {
			t := goTo[s*int32(nc)+c]
			if t < 0 {
				goTo[s*int32(nc)+c] = goTo[fail[s]*int32(nc)+c]
				continue
			}
			f := goTo[fail[s]*int32(nc)+c]
			fail[t] = f
			if out[f] >= 0 {
				outLink[t] = f
			} else {
				outLink[t] = outLink[f]
			}
			queue = append(queue, t)
		}
	}
	a.delta = goTo
	a.out = out
	a.outLink = outLink
	return a
}

// scan calls found for every occurrence of every key in text, in order of the end offset.
// Offsets are those of the original text: start is the first byte of the first character the
// key covers, end the byte after its last.
func (a *automaton) scan(text string, found func(match)) {
	if a == nil || len(a.out) <= 1 {
		return
	}
	var ring [maxKeyLen]int32 // original offset of the last maxKeyLen normalised bytes
	nc := int32(a.nclass)
	state := int32(0)
	pos := 0 // normalised bytes emitted so far
	prevSpace := true
	for i := 0; i < len(text); i++ {
		c := text[i]
		if sepTable[c] {
			if prevSpace {
				continue
			}
			prevSpace = true
		} else {
			prevSpace = false
		}
		ring[pos&(maxKeyLen-1)] = int32(i)
		pos++
		state = a.delta[state*nc+int32(a.rawClass[c])]
		if state == 0 {
			continue
		}
		for s := state; s >= 0; s = a.outLink[s] {
			k := a.out[s]
			if k < 0 {
				continue
			}
			l := int(a.keyLen[k])
			found(match{key: int(k), start: int(ring[(pos-l)&(maxKeyLen-1)]), end: i + 1})
		}
	}
}
