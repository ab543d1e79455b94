package audience

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
)

func stringsReader(s string) io.Reader { return strings.NewReader(s) }

// importInto creates a list and imports body into it.
func importInto(t *testing.T, s *Service, format Format, body string) (List, ImportReport) {
	t.Helper()
	l, err := s.CreateList(context.Background(), "acme", "l")
	if err != nil {
		t.Fatal(err)
	}
	rep, err := s.Import(context.Background(), "acme", l.ID, format, strings.NewReader(body))
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	l, _ = s.GetList(context.Background(), "acme", l.ID)
	return l, rep
}

// errorLines lists the report's errors as "line:code".
func errorLines(rep ImportReport) []string {
	var out []string
	for _, e := range rep.Errors {
		out = append(out, fmt.Sprintf("%d:%s", e.Line, e.Code))
	}
	return out
}

func TestAudienceImportFormats(t *testing.T) {
	long := strings.Repeat("x", MaxAttrLen+1)
	var wide strings.Builder
	wide.WriteString("phone")
	for i := range MaxColumns + 1 {
		fmt.Fprintf(&wide, ",c%d", i)
	}
	wide.WriteString("\n15550000001" + strings.Repeat(",v", MaxColumns+1) + "\n")
	tests := []struct {
		name                string
		format              Format
		body                string
		imported, dups, bad int
		errors              []string
		columns             []string
	}{
		{name: "csv", format: CSV, body: "Phone,Name,city,tier\n+1 555 000 0001,Ana,Lisbon,gold\n15550000002,Bo,Porto,\n",
			imported: 2, columns: []string{"city", "tier"}},
		{name: "csv chatId header and bom", format: CSV, body: "\ufeffchatId,name\n15550000001@c.us,A\n123456789012345@lid,B\n", imported: 2, columns: []string{}},
		{name: "csv number and whatsapp: the first is the phone", format: CSV, body: "whatsapp,number\n15550000001,15550000002\n", imported: 1, columns: []string{"number"}},
		{name: "csv crlf and blank lines", format: CSV, body: "phone\r\n15550000001\r\n\r\n15550000002\r\n", imported: 2, columns: []string{}},
		{name: "csv bad rows", format: CSV,
			body: "phone,name,city\n" +
				"15550000001,A,x\n" + // 2 ok
				",B,x\n" + // 3 missing
				"abc,C,x\n" + // 4 invalid
				"120363012345678901@g.us,D,x\n" + // 5 group
				"15550000005,E," + long + "\n" + // 6 attr too long
				"15550000006,F,x,extra\n" + // 7 too many fields
				"15550000007,\"G,x\n" + // 8 malformed (quote never closed: eats the rest)
				"15550000008,H,x\n",
			imported: 1, bad: 6, columns: []string{"city"},
			errors: []string{"3:missing_phone", "4:invalid_phone", "5:invalid_phone", "6:attr_too_long", "7:too_many_columns", "8:malformed_row"}},
		{name: "csv bare quote, then more rows", format: CSV, body: "phone,name\n15550000001,a\"b\n15550000002,ok\n",
			imported: 1, bad: 1, errors: []string{"2:malformed_row"}, columns: []string{}},
		{name: "csv short row", format: CSV, body: "name,phone\nA\n", bad: 1, errors: []string{"2:missing_phone"}, columns: []string{}},
		{name: "csv no phone header", format: CSV, body: "name,city\nA,B\n", bad: 1, errors: []string{"1:missing_phone"}, columns: []string{}},
		{name: "csv header too wide", format: CSV, body: wide.String(), bad: 1, errors: []string{"1:too_many_columns"}, columns: []string{}},
		{name: "csv empty", format: CSV, body: "", columns: []string{}},
		{name: "csv duplicates, last row wins", format: CSV, body: "phone,name\n15550000001,A\n+15550000001,B\n15550000002,C\n",
			imported: 2, dups: 1, columns: []string{}},
		{name: "json", format: JSON, body: `[{"chatId":"15550000001","name":"A","attrs":{"city":"x"}},{"chatId":"15550000002@c.us"}]`,
			imported: 2, columns: []string{"city"}},
		{name: "json bad elements", format: JSON,
			body:     `[{"chatId":"15550000001"}, {"name":"no phone"}, {"chatId":5}, 7, {"chatId":"15550000003","attrs":{"":"x"}}, {"chatId":"15550000004","extra":1}]`,
			imported: 2, bad: 4, errors: []string{"2:missing_phone", "3:malformed_row", "4:malformed_row", "5:malformed_row"}, columns: []string{}},
		{name: "json not an array", format: JSON, body: `{"chatId":"15550000001"}`, bad: 1, errors: []string{"1:malformed_row"}, columns: []string{}},
		{name: "json cut short", format: JSON, body: `[{"chatId":"15550000001"},{"chatId":`, imported: 1, bad: 1, errors: []string{"2:malformed_row"}, columns: []string{}},
		{name: "json empty array", format: JSON, body: `[]`, columns: []string{}},
		{name: "ndjson", format: NDJSON, body: "{\"chatId\":\"15550000001\"}\n\n{\"chatId\":\"x\"}\nnot json\n{\"chatId\":\"15550000002\",\"attrs\":{\"a\":\"" + long + "\"}}\n{\"chatId\":\"15550000003\",\"name\":\"C\"}",
			imported: 2, bad: 3, errors: []string{"3:invalid_phone", "4:malformed_row", "5:attr_too_long"}, columns: []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newTestService(t, Options{})
			l, rep := importInto(t, s, tt.format, tt.body)
			if rep.Imported != tt.imported || rep.Duplicates != tt.dups || rep.Invalid != tt.bad {
				t.Errorf("report imported %d duplicates %d invalid %d, want %d %d %d (errors %v)",
					rep.Imported, rep.Duplicates, rep.Invalid, tt.imported, tt.dups, tt.bad, rep.Errors)
			}
			if tt.errors != nil && !slices.Equal(errorLines(rep), tt.errors) {
				t.Errorf("errors %v, want %v", errorLines(rep), tt.errors)
			}
			if rep.Count != tt.imported || l.Count != tt.imported {
				t.Errorf("count: report %d, list %d; want %d", rep.Count, l.Count, tt.imported)
			}
			if !slices.Equal(l.Columns, tt.columns) {
				t.Errorf("columns %q, want %q", l.Columns, tt.columns)
			}
		})
	}
}

func TestAudienceImportLastRowWins(t *testing.T) {
	s, _ := newTestService(t, Options{})
	l, _ := importInto(t, s, CSV, "phone,name,city\n15550000001,A,x\n15550000001,B,y\n")
	rep, err := s.Import(context.Background(), "acme", l.ID, JSON, strings.NewReader(`[{"chatId":"15550000002","attrs":{"tier":"1"}},{"chatId":"15550000001","name":"C","attrs":{"city":"z"}}]`))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Imported != 1 || rep.Duplicates != 1 || rep.Count != 2 {
		t.Errorf("second import %+v, want 1 imported, 1 duplicate, count 2", rep)
	}
	cs, _, _ := s.Contacts(context.Background(), "acme", l.ID, "", 10)
	if len(cs) != 2 || cs[0].Name != "C" || cs[0].Attrs["city"] != "z" {
		t.Errorf("contacts %+v, want 15550000001 as C in z", cs)
	}
	got, _ := s.GetList(context.Background(), "acme", l.ID)
	if !slices.Equal(got.Columns, []string{"city", "tier"}) {
		t.Errorf("columns %q, want city, tier", got.Columns)
	}
}

func TestAudienceImportListFull(t *testing.T) {
	s, _ := newTestService(t, Options{MaxListSize: 3})
	_, rep := importInto(t, s, CSV, "phone\n15550000001\n15550000002\n15550000003\n15550000004\n15550000001\n15550000005\n")
	if rep.Imported != 3 || rep.Duplicates != 1 || rep.Invalid != 2 || !slices.Equal(errorLines(rep), []string{"5:list_full", "7:list_full"}) {
		t.Errorf("report %+v, want 3 imported, 1 duplicate (a duplicate fits), lines 5 and 7 list_full", rep)
	}
}

func TestAudienceImportColumnsBound(t *testing.T) {
	s, _ := newTestService(t, Options{})
	var b strings.Builder
	for i := range MaxColumns + 2 {
		fmt.Fprintf(&b, "{\"chatId\":\"1555000%04d\",\"attrs\":{\"c%d\":\"v\"}}\n", i, i)
	}
	l, rep := importInto(t, s, NDJSON, b.String())
	if rep.Imported != MaxColumns || !slices.Equal(errorLines(rep), []string{"51:too_many_columns", "52:too_many_columns"}) || len(l.Columns) != MaxColumns {
		t.Errorf("report %+v, %d columns; want %d imported and the last two too_many_columns", rep, len(l.Columns), MaxColumns)
	}
}

// A generated 100k-row CSV, streamed through a pipe with bad rows here and there: the
// report names their lines, counts the rest, and keeps at most 1000 errors.
func TestAudienceImportLargeCSVStream(t *testing.T) {
	if testing.Short() {
		t.Skip("100k rows")
	}
	s, _ := newTestService(t, Options{})
	l, err := s.CreateList(context.Background(), "acme", "big")
	if err != nil {
		t.Fatal(err)
	}
	const rows = 100_000
	bad := map[int]string{} // line -> code
	pr, pw := io.Pipe()
	go func() {
		w := bufioWriter(pw)
		fmt.Fprintln(w, "phone,name,city")
		for i := range rows {
			line := i + 2
			switch {
			case i%10007 == 5:
				bad[line] = CodeInvalidPhone
				fmt.Fprintf(w, "12ab,Bad %d,x\n", i)
			case i%20011 == 7:
				bad[line] = CodeMissingPhone
				fmt.Fprintf(w, ",Nobody,x\n")
			default:
				fmt.Fprintf(w, "+1 (555) %07d,Contact %d,city%d\n", i, i, i%7)
			}
		}
		w.Flush()
		pw.Close()
	}()
	rep, err := s.Import(context.Background(), "acme", l.ID, CSV, pr)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Imported != rows-len(bad) || rep.Invalid != len(bad) || rep.Duplicates != 0 || rep.Count != rows-len(bad) {
		t.Errorf("report imported %d invalid %d dups %d count %d; want %d, %d, 0", rep.Imported, rep.Invalid, rep.Duplicates, rep.Count, rows-len(bad), len(bad))
	}
	for _, e := range rep.Errors {
		if bad[e.Line] != e.Code {
			t.Errorf("error %+v: line %d is %q", e, e.Line, bad[e.Line])
		}
	}
	got, _ := s.GetList(context.Background(), "acme", l.ID)
	if got.Count != rows-len(bad) || !slices.Equal(got.Columns, []string{"city"}) {
		t.Errorf("list %+v", got)
	}
	// Paging walks every contact once, in order.
	n, after, prev := 0, "", ""
	for {
		cs, next, err := s.Contacts(context.Background(), "acme", l.ID, after, MaxPage)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cs {
			if c.ChatID.String() <= prev {
				t.Fatalf("contact %s after %s", c.ChatID, prev)
			}
			prev = c.ChatID.String()
		}
		n += len(cs)
		if next == "" {
			break
		}
		after = next
	}
	if n != got.Count {
		t.Errorf("paged %d contacts, list has %d", n, got.Count)
	}
}

func TestAudienceImportErrorsCapped(t *testing.T) {
	s, _ := newTestService(t, Options{})
	var b strings.Builder
	b.WriteString("phone\n")
	for range MaxReportErrors + 500 {
		b.WriteString("x\n")
	}
	b.WriteString("15550000001\n")
	_, rep := importInto(t, s, CSV, b.String())
	if rep.Invalid != MaxReportErrors+500 || len(rep.Errors) != MaxReportErrors || rep.Imported != 1 {
		t.Errorf("invalid %d, %d errors listed, imported %d; want %d, %d, 1", rep.Invalid, len(rep.Errors), rep.Imported, MaxReportErrors+500, MaxReportErrors)
	}
}

// Concurrent imports into one list keep its count exact.
func TestAudienceImportConcurrent(t *testing.T) {
	s, _ := newTestService(t, Options{})
	l, _ := s.CreateList(context.Background(), "acme", "l")
	var wg sync.WaitGroup
	const parts, each = 8, 1500
	for p := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var b bytes.Buffer
			b.WriteString("phone\n")
			for i := range each {
				// Half the numbers are shared by every part.
				n := i
				if i%2 == 1 {
					n = 100000 + p*each + i
				}
				fmt.Fprintf(&b, "1555%07d\n", n)
			}
			if _, err := s.Import(context.Background(), "acme", l.ID, CSV, &b); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	got, _ := s.GetList(context.Background(), "acme", l.ID)
	want := each/2 + parts*each/2
	if got.Count != want {
		t.Errorf("count %d, want %d", got.Count, want)
	}
}

func TestAudienceImportUnknownList(t *testing.T) {
	s, _ := newTestService(t, Options{})
	if _, err := s.Import(context.Background(), "acme", "lst_nope", CSV, strings.NewReader("phone\n15550000001\n")); err == nil {
		t.Error("import into an unknown list succeeded")
	}
}

func TestAudienceExportRoundTrip(t *testing.T) {
	s, _ := newTestService(t, Options{})
	l, _ := importInto(t, s, CSV, "phone,name,city,note\n15550000002,\"Bo, Jr\",Porto,\"say \"\"hi\"\"\"\n15550000001,Ana,Lisbon,\n123456789012345@lid,Li,,x\n")
	var out bytes.Buffer
	if err := s.Export(context.Background(), "acme", l.ID, &out); err != nil {
		t.Fatal(err)
	}
	want := "chatId,name,city,note\n123456789012345@lid,Li,,x\n15550000001@c.us,Ana,Lisbon,\n15550000002@c.us,\"Bo, Jr\",Porto,\"say \"\"hi\"\"\"\n"
	if out.String() != want {
		t.Errorf("export:\n%s\nwant:\n%s", out.String(), want)
	}
	l2, rep := importInto(t, s, CSV, out.String())
	if rep.Imported != 3 || rep.Invalid != 0 {
		t.Fatalf("re-import %+v", rep)
	}
	var again bytes.Buffer
	if err := s.Export(context.Background(), "acme", l2.ID, &again); err != nil || again.String() != want {
		t.Errorf("second export differs: %q, %v", again.String(), err)
	}
}

func TestAudienceContactsCursor(t *testing.T) {
	s, _ := newTestService(t, Options{})
	l, _ := importInto(t, s, CSV, "phone\n15550000003\n15550000001\n15550000002\n")
	var got []string
	after := ""
	for {
		cs, next, err := s.Contacts(context.Background(), "acme", l.ID, after, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cs {
			got = append(got, c.ChatID.String())
		}
		if next == "" {
			break
		}
		after = next
	}
	if !slices.Equal(got, []string{"15550000001@c.us", "15550000002@c.us", "15550000003@c.us"}) {
		t.Errorf("paged %v", got)
	}
	// A cursor past a removed contact still works: it is a position, not a record.
	cs, next, err := s.Contacts(context.Background(), "acme", l.ID, "15550000001@c.us", 5)
	if err != nil || len(cs) != 2 || next != "" {
		t.Errorf("after 1: %v %q %v", cs, next, err)
	}
	for _, bad := range []string{"x", "15550000001", "120363012345678901@g.us/"} {
		if _, _, err := s.Contacts(context.Background(), "acme", l.ID, bad, 5); err != ErrInvalidCursor {
			t.Errorf("cursor %q: %v, want ErrInvalidCursor", bad, err)
		}
	}
}

func bufioWriter(w io.Writer) *bufio.Writer { return bufio.NewWriterSize(w, 64<<10) }
