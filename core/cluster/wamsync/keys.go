package wamsync

import (
	"fmt"
	"strings"
)

// Subjects in the bucket, for a session with key <tenant>.<session>:
//
//	$KV.wagate_wam.<tenant>.<session>.d.<escaped key>   one wastore key
//	$KV.wagate_wam.<tenant>.<session>.fence             the session's fence record
//
// The escaped key is the wastore key after wam/<tenant>/<session>/, with every byte
// outside [A-Za-z0-9_/-] written =XX (uppercase hex): dots, which separate subject
// tokens, and '=', the escape, included. So the escaped key is one subject token and a
// valid KV key, and escaping is reversible.

const subjectRoot = "$KV." + Bucket + "."

// dataFilter is the subject filter of every data key of a session.
func dataFilter(sessionKey string) string { return sessionKey + ".d.>" }

// fenceKey is the KV key of a session's fence record.
func fenceKey(sessionKey string) string { return sessionKey + ".fence" }

// dataKey is the KV key of the wastore key whose part after the session's prefix is rest.
func dataKey(sessionKey string, rest []byte) string {
	var b strings.Builder
	b.Grow(len(sessionKey) + 3 + len(rest) + len(rest)/4)
	b.WriteString(sessionKey)
	b.WriteString(".d.")
	const hexDigits = "0123456789ABCDEF"
	for _, c := range rest {
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

// restOf reverses dataKey: the wastore key's part after the session's prefix.
func restOf(sessionKey, kvKey string) ([]byte, error) {
	esc, ok := strings.CutPrefix(kvKey, sessionKey+".d.")
	if !ok {
		return nil, fmt.Errorf("wamsync: key %q is not a data key of %s", kvKey, sessionKey)
	}
	out := make([]byte, 0, len(esc))
	for i := 0; i < len(esc); i++ {
		if esc[i] != '=' {
			out = append(out, esc[i])
			continue
		}
		if i+2 >= len(esc) || unhex(esc[i+1]) < 0 || unhex(esc[i+2]) < 0 {
			return nil, fmt.Errorf("wamsync: bad escape in key %q", kvKey)
		}
		out = append(out, byte(unhex(esc[i+1])<<4|unhex(esc[i+2])))
		i += 2
	}
	return out, nil
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
