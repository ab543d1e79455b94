package audience

import "strings"

// maxStopWordLen bounds the text IsStopWord folds: longer texts are never stop words.
const maxStopWordLen = 64

// IsStopWord reports whether an inbound text is one of Options.StopWords: the whole
// text, trimmed, its inner runs of white space made single spaces, and case-folded
// ("  stop " and "Stop  all" match STOP and STOP ALL; "please stop" does not).
func (s *Service) IsStopWord(text string) bool {
	text = strings.TrimSpace(text)
	if len(s.stops) == 0 || len(text) > maxStopWordLen {
		return false
	}
	return s.stops[foldText(text)]
}

// foldText is the form stop words are compared in.
func foldText(s string) string {
	return strings.ToLower(strings.Join(strings.Fields(s), " "))
}
