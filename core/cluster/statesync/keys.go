package statesync

import (
	"fmt"
	"strings"
)

// Keys in the bucket wagate_state (subjects $KV.wagate_state.<key>):
//
//	d.<escaped Badger key>     one shared Badger key (ses/acme/main -> d.ses/acme/main)
//	f.<tenant>.<session>       a session's fence record: {"token":N}
//	s.<node>                   a node's sync marker (Sync)
//
// The escaped key is the Badger key with every byte outside [A-Za-z0-9_/-] written =XX
// (uppercase hex): dots, which separate subject tokens, and '=', the escape, included.
// So it is one subject token and a valid KV key, and escaping is reversible.

// Bucket is the KV bucket of the shared state; its stream is KV_wagate_state.
const Bucket = "wagate_state"

const subjectRoot = "$KV." + Bucket + "."

// dataKey is the bucket key of a Badger key.
func dataKey(key []byte) string {
	var b strings.Builder
	b.Grow(2 + len(key) + len(key)/4)
	b.WriteString("d.")
	const hexDigits = "0123456789ABCDEF"
	for _, c := range key {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '/' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('=')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

// badgerKey reverses dataKey; ok is false for a key that is not a data key.
func badgerKey(kvKey string) (key []byte, ok bool, err error) {
	esc, ok := strings.CutPrefix(kvKey, "d.")
	if !ok {
		return nil, false, nil
	}
	out := make([]byte, 0, len(esc))
	for i := 0; i < len(esc); i++ {
		if esc[i] != '=' {
			out = append(out, esc[i])
			continue
		}
		if i+2 >= len(esc) || unhex(esc[i+1]) < 0 || unhex(esc[i+2]) < 0 {
			return nil, true, fmt.Errorf("statesync: bad escape in key %q", kvKey)
		}
		out = append(out, byte(unhex(esc[i+1])<<4|unhex(esc[i+2])))
		i += 2
	}
	return out, true, nil
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'A' && c <= 'F':
		return int(c - 'A' + 10)
	}
	return -1
}
