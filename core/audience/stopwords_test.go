package audience

import (
	"strings"
	"testing"
)

func TestAudienceStopWords(t *testing.T) {
	s, _ := newTestService(t, Options{StopWords: []string{"STOP", "Stop All", " unsubscribe ", "BAJA", ""}})
	for _, c := range []struct {
		text string
		want bool
	}{
		{"STOP", true}, {"stop", true}, {"  Stop \n", true}, {"sToP", true},
		{"stop all", true}, {"STOP   ALL", true}, {"\tstop\tall ", true}, {"UNSUBSCRIBE", true}, {"baja", true},
		{"", false}, {"   ", false}, {"please stop", false}, {"stop!", false}, {"stopall", false},
		{"STOP STOP", false}, {strings.Repeat(" ", 100) + "stop", true}, {"stop" + strings.Repeat("p", 100), false},
	} {
		if got := s.IsStopWord(c.text); got != c.want {
			t.Errorf("IsStopWord(%q) = %v, want %v", c.text, got, c.want)
		}
	}
	none, _ := newTestService(t, Options{})
	if none.IsStopWord("STOP") {
		t.Error("a service without stop words matched STOP")
	}
}
