package policy

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// exampleRouteInput is the worked example of docs/plugins.md ("A route input with two
// candidates"). TestABIDocExample decodes the document's hex dump and compares it with
// this value, and encodes this value and compares it with the dump: the document and
// the code cannot drift apart.
func exampleRouteInput() RouteInput {
	ms := func(v int64) time.Time { return time.UnixMilli(v).UTC() }
	return RouteInput{
		Now: ms(1767323045678), // 2026-01-02T03:04:05.678Z
		Message: Message{
			ID: "m1", Tenant: "acme", ChatID: "15551230000@c.us", Kind: "text", Text: "hi",
			CreatedAt: ms(1767323044678),
		},
		Candidates: []Candidate{
			{Session: "s1", Provider: "whatsmeow", State: "WORKING", QueueDepth: 3,
				SentMinute: 1, SentHour: 10, SentDay: 100,
				LinkedAt: ms(1764730800000), LastContact: ms(1767322800000), LastSentAt: ms(1767323040000)},
			{Session: "s2", Provider: "cloudapi", State: "WORKING",
				LinkedAt: ms(1767236400000)},
		},
	}
}

// docHexBlock returns the bytes of the hex dump that follows marker in docs/plugins.md:
// lines "OFFSET  XX XX ..." inside the next fenced block.
func docHexBlock(t *testing.T, marker string) []byte {
	t.Helper()
	doc, err := os.ReadFile("../../docs/plugins.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(doc), marker)
	if !ok {
		t.Fatalf("docs/plugins.md has no %q", marker)
	}
	_, after, ok = strings.Cut(after, "```")
	if !ok {
		t.Fatal("no fenced block after the marker")
	}
	_, body, _ := strings.Cut(after, "\n") // skip the info string
	body, _, _ = strings.Cut(body, "```")
	var out []byte
	for i, line := range strings.Split(strings.TrimSpace(body), "\n") {
		off, rest, ok := strings.Cut(strings.TrimSpace(line), "  ")
		if !ok {
			t.Fatalf("line %d: %q: want OFFSET, two spaces, bytes", i+1, line)
		}
		if n, err := strconv.ParseUint(off, 16, 32); err != nil || int(n) != len(out) {
			t.Fatalf("line %d: offset %q, want %04x", i+1, off, len(out))
		}
		rest, _, _ = strings.Cut(rest, "|") // an optional comment after '|'
		b, err := hex.DecodeString(strings.ReplaceAll(strings.TrimSpace(rest), " ", ""))
		if err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		out = append(out, b...)
	}
	return out
}

func TestABIDocExample(t *testing.T) {
	doc := docHexBlock(t, "<!-- abi-example: route -->")
	want := exampleRouteInput()
	got, err := DecodeABIInput(doc)
	if err != nil {
		t.Fatalf("decoding the document's example: %v", err)
	}
	if got.Hook != HookRoute || !reflect.DeepEqual(got.Route(), want) {
		t.Errorf("the document's example decodes to\n%+v\nwant\n%+v", got.Route(), want)
	}
	if enc := AppendRouteInput(nil, &want); !bytes.Equal(enc, doc) {
		t.Errorf("encoding the example differs from the document; encoder gives:\n%s", dump(enc))
	}
}

// dump formats b as the document's hex blocks are written.
func dump(b []byte) string {
	var sb strings.Builder
	for i := 0; i < len(b); i += 16 {
		fmt.Fprintf(&sb, "%04x ", i)
		for j := i; j < min(i+16, len(b)); j++ {
			fmt.Fprintf(&sb, " %02x", b[j])
		}
		sb.WriteByte('\n')
	}
	return sb.String()
}

// TestABIDocCHeader compiles the C declaration of the layout in docs/plugins.md, whose
// static assertions pin the offsets, with the system C compiler (skipped without one).
func TestABIDocCHeader(t *testing.T) {
	cc, err := exec.LookPath("cc")
	if err != nil {
		t.Skip("no C compiler")
	}
	doc, err := os.ReadFile("../../docs/plugins.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(doc), "<!-- abi-c-header -->\n```c\n")
	if !ok {
		t.Fatal("docs/plugins.md has no C header block")
	}
	src, _, _ := strings.Cut(after, "```")
	cmd := exec.Command(cc, "-std=c11", "-fsyntax-only", "-x", "c", "-")
	cmd.Stdin = strings.NewReader(src)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the document's C header does not compile: %v\n%s", err, out)
	}
}
