package store

// hashLen is the length of each hash JoinHashes packs: SHA-256.
const hashLen = 32

// JoinHashes packs SHA-256 hashes into one column value; nil for none.
func JoinHashes(hs [][]byte) []byte {
	if len(hs) == 0 {
		return nil
	}
	out := make([]byte, 0, len(hs)*hashLen)
	for _, h := range hs {
		out = append(out, h...)
	}
	return out
}

// SplitHashes unpacks what JoinHashes packed. A trailing partial hash, which JoinHashes never
// writes, is dropped rather than returned as a hash that nothing could match.
func SplitHashes(b []byte) [][]byte {
	var out [][]byte
	for len(b) >= hashLen {
		out = append(out, b[:hashLen:hashLen])
		b = b[hashLen:]
	}
	return out
}
