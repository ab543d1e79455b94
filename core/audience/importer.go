package audience

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/dgraph-io/badger/v4"

	"github.com/wagate/wagate/core/store"
)

// Format is the encoding of an import body.
type Format int

// Import formats.
const (
	// CSV: a header row, then one contact per row (docs/campaigns.md).
	CSV Format = iota + 1
	// JSON: one array of {chatId, name?, attrs?}.
	JSON
	// NDJSON: one {chatId, name?, attrs?} per line.
	NDJSON
)

// String names the format as its media type.
func (f Format) String() string {
	switch f {
	case CSV:
		return "text/csv"
	case JSON:
		return "application/json"
	case NDJSON:
		return "application/x-ndjson"
	}
	return "Format(" + strconv.Itoa(int(f)) + ")"
}

// Row error codes of an import report.
const (
	CodeMissingPhone   = "missing_phone"
	CodeInvalidPhone   = "invalid_phone"
	CodeAttrTooLong    = "attr_too_long"
	CodeTooManyColumns = "too_many_columns"
	CodeListFull       = "list_full"
	CodeMalformedRow   = "malformed_row"
)

// maxLineBytes bounds one NDJSON line.
const maxLineBytes = 1 << 20

// ImportReport is what an import did.
type ImportReport struct {
	// Imported counts the contacts added to the list.
	Imported int `json:"imported"`
	// Duplicates counts the rows whose chat id the list already had (from an earlier
	// row or import): the row replaced that contact.
	Duplicates int `json:"duplicates"`
	// Invalid counts the rows skipped, all of them (Errors lists the first 1000).
	Invalid int `json:"invalid"`
	// Errors are the first MaxReportErrors skipped rows.
	Errors []RowError `json:"errors"`
	// Count is the list's size after the import.
	Count int `json:"count"`
}

// RowError is one skipped row. Line is 1-based: the line of the row in a CSV body (the
// header is line 1) or an NDJSON body, the position of the element in a JSON array.
type RowError struct {
	Line    int    `json:"line"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (r *ImportReport) fail(line int, code, msg string) {
	r.Invalid++
	if len(r.Errors) < MaxReportErrors {
		r.Errors = append(r.Errors, RowError{Line: line, Code: code, Message: msg})
	}
}

// row is one contact read from the body, with where it came from.
type row struct {
	line    int
	contact Contact
}

// jsonContact is one element of a JSON or NDJSON body.
type jsonContact struct {
	ChatID *string           `json:"chatId"`
	Name   string            `json:"name"`
	Attrs  map[string]string `json:"attrs"`
}

// Import reads contacts from r and adds them to the list, in batches of BatchSize per
// transaction; a row whose chat id the list has replaces that contact. Bad rows are
// skipped and reported; the rest is kept, and a batch written stays written if a later
// one fails. Imports of one list run one at a time, so its Count and Columns are exact.
// An error (ErrListNotFound, reading r, the store) ends the import; the report says
// what was done until then.
func (s *Service) Import(ctx context.Context, tenant, id string, format Format, r io.Reader) (ImportReport, error) {
	rep := ImportReport{Errors: []RowError{}}
	if err := checkListID(id); err != nil {
		return rep, err
	}
	unlock := s.lockList(tenant, id)
	defer unlock()
	l, err := s.GetList(ctx, tenant, id)
	if err != nil {
		return rep, err
	}
	rep.Count = l.Count
	im := &importer{s: s, ctx: ctx, tenant: tenant, id: id, rep: &rep, columns: len(l.Columns), known: make(map[string]bool, len(l.Columns)),
		maxSize: s.o.MaxListSize, sizeFrom: "campaigns.max_list_size"}
	if s.o.ListSize != nil {
		if n, err := s.o.ListSize(ctx, tenant); err == nil && n > 0 {
			im.maxSize, im.sizeFrom = n, "the tenant's plan (maxListSize)"
		}
	}
	for _, c := range l.Columns {
		im.known[c] = true
	}
	switch format {
	case CSV:
		err = im.readCSV(r)
	case JSON:
		err = im.readJSON(r)
	case NDJSON:
		err = im.readNDJSON(r)
	default:
		err = fmt.Errorf("audience: unknown import format %d", format)
	}
	if err == nil {
		err = im.flush()
	}
	if err != nil {
		return rep, fmt.Errorf("importing into list %s of tenant %s: %w", id, tenant, err)
	}
	return rep, nil
}

// importer is the state of one import.
type importer struct {
	s          *Service
	ctx        context.Context
	tenant, id string
	rep        *ImportReport
	batch      []row
	// known are the list's columns, and columns their number, as rows add them.
	known   map[string]bool
	columns int
	// maxSize caps the list's contacts; sizeFrom names where the cap comes from.
	maxSize  int
	sizeFrom string
}

// add checks a contact read from the body and queues it for the next batch.
func (im *importer) add(line int, phone string, hasPhone bool, name string, attrs map[string]string) error {
	if !hasPhone || strings.TrimSpace(phone) == "" {
		im.rep.fail(line, CodeMissingPhone, "the row has no phone or chat id")
		return nil
	}
	chat, err := ParseChat(phone)
	if err != nil {
		im.rep.fail(line, CodeInvalidPhone, err.Error())
		return nil
	}
	if len(name) > MaxAttrLen {
		im.rep.fail(line, CodeAttrTooLong, "name is over "+strconv.Itoa(MaxAttrLen)+" bytes")
		return nil
	}
	var fresh []string
	for k, v := range attrs {
		if len(k) > MaxAttrLen || len(v) > MaxAttrLen {
			im.rep.fail(line, CodeAttrTooLong, fmt.Sprintf("attribute %.40q is over %d bytes", k, MaxAttrLen))
			return nil
		}
		if k == "" {
			im.rep.fail(line, CodeMalformedRow, "an attribute has an empty name")
			return nil
		}
		if !im.known[k] {
			fresh = append(fresh, k)
		}
	}
	if im.columns+len(fresh) > MaxColumns {
		im.rep.fail(line, CodeTooManyColumns, "the list would have more than "+strconv.Itoa(MaxColumns)+" attribute columns")
		return nil
	}
	for _, k := range fresh {
		im.known[k] = true
	}
	im.columns += len(fresh)
	if attrs == nil {
		attrs = map[string]string{}
	}
	im.batch = append(im.batch, row{line: line, contact: Contact{ChatID: chat, Name: name, Attrs: attrs}})
	if len(im.batch) >= BatchSize {
		return im.flush()
	}
	return nil
}

// flush writes the queued batch.
func (im *importer) flush() error {
	if len(im.batch) == 0 {
		return nil
	}
	if err := im.ctx.Err(); err != nil {
		return err
	}
	err := im.write(im.batch)
	im.batch = im.batch[:0]
	return err
}

// write writes rows in one transaction, with the list's new count and columns; a
// batch too big for one transaction is split in halves.
func (im *importer) write(rows []row) error {
	var res ImportReport
	err := im.s.db.Update(func(txn *badger.Txn) error {
		res = ImportReport{}
		l, err := getList(txn, im.tenant, im.id)
		if err != nil {
			return err
		}
		cols := map[string]bool{}
		for _, c := range l.Columns {
			cols[c] = true
		}
		for _, r := range rows {
			key := store.Key(store.PrefixListContact, im.tenant, im.id, r.contact.ChatID.String())
			_, err := txn.Get(key)
			exists := err == nil
			if err != nil && !errors.Is(err, badger.ErrKeyNotFound) {
				return err
			}
			if !exists && l.Count >= im.maxSize {
				res.fail(r.line, CodeListFull, "the list has "+strconv.Itoa(im.maxSize)+" contacts, the most "+im.sizeFrom+" allows")
				continue
			}
			if err := contacts.Put(txn, r.contact, im.tenant, im.id, r.contact.ChatID.String()); err != nil {
				return err
			}
			if exists {
				res.Duplicates++
			} else {
				res.Imported++
				l.Count++
			}
			for k := range r.contact.Attrs {
				cols[k] = true
			}
		}
		l.Columns = slices.Sorted(maps.Keys(cols))
		l.UpdatedAt = im.s.o.Now().UTC()
		res.Count = l.Count
		return lists.Put(txn, l, im.tenant, im.id)
	})
	if errors.Is(err, badger.ErrTxnTooBig) && len(rows) > 1 {
		half := len(rows) / 2
		if err := im.write(rows[:half]); err != nil {
			return err
		}
		return im.write(rows[half:])
	}
	if err != nil {
		return err
	}
	im.rep.Imported += res.Imported
	im.rep.Duplicates += res.Duplicates
	im.rep.Count = res.Count
	for _, e := range res.Errors { // a batch has fewer than MaxReportErrors
		im.rep.fail(e.Line, e.Code, e.Message)
	}
	return nil
}

// phoneHeaders name the phone column of a CSV header (case-insensitive).
var phoneHeaders = []string{"phone", "chatid", "number", "whatsapp"}

// readCSV reads a CSV body: a header row, then contacts.
func (im *importer) readCSV(r io.Reader) error {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	cr.FieldsPerRecord = -1
	cr.LazyQuotes = false
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil
	}
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		im.rep.fail(1, CodeMalformedRow, "the header row: "+pe.Err.Error())
		return nil
	}
	if err != nil {
		return err
	}
	phoneCol, nameCol := -1, -1
	attrCols := map[int]string{}
	for i, h := range header {
		h = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
		switch {
		case phoneCol < 0 && slices.Contains(phoneHeaders, strings.ToLower(h)):
			phoneCol = i
		case nameCol < 0 && strings.EqualFold(h, "name"):
			nameCol = i
		case h != "":
			attrCols[i] = h
		}
	}
	if len(attrCols) > MaxColumns {
		im.rep.fail(1, CodeTooManyColumns, fmt.Sprintf("the header has %d attribute columns, more than %d", len(attrCols), MaxColumns))
		return nil
	}
	if phoneCol < 0 {
		im.rep.fail(1, CodeMissingPhone, "the header has no phone column (phone, chatId, number or whatsapp)")
		return nil
	}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if errors.As(err, &pe) {
			line := pe.StartLine
			if line == 0 {
				line = pe.Line
			}
			im.rep.fail(line, CodeMalformedRow, pe.Err.Error())
			continue
		}
		if err != nil {
			return err
		}
		line, _ := cr.FieldPos(0)
		if len(rec) == 1 && rec[0] == "" {
			continue // a blank line
		}
		if len(rec) > len(header) {
			im.rep.fail(line, CodeTooManyColumns, fmt.Sprintf("the row has %d fields, the header %d", len(rec), len(header)))
			continue
		}
		phone, hasPhone := "", phoneCol < len(rec)
		if hasPhone {
			phone = rec[phoneCol]
		}
		name := ""
		if nameCol >= 0 && nameCol < len(rec) {
			name = strings.TrimSpace(rec[nameCol])
		}
		attrs := make(map[string]string, len(attrCols))
		for i, k := range attrCols {
			v := ""
			if i < len(rec) {
				v = rec[i]
			}
			attrs[k] = v
		}
		if err := im.add(line, phone, hasPhone, name, attrs); err != nil {
			return err
		}
	}
}

// readJSON reads a JSON array of contacts, element by element.
func (im *importer) readJSON(r io.Reader) error {
	dec := json.NewDecoder(r)
	tok, err := dec.Token()
	if errors.Is(err, io.EOF) {
		return nil
	}
	if d, ok := tok.(json.Delim); err != nil || !ok || d != '[' {
		im.rep.fail(1, CodeMalformedRow, "the body is not a JSON array of {chatId, name, attrs}")
		return nil
	}
	n := 0
	for dec.More() {
		n++
		var c jsonContact
		err := dec.Decode(&c)
		if err != nil {
			var syn *json.SyntaxError
			if errors.As(err, &syn) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
				// The stream is lost: nothing after this point can be read.
				im.rep.fail(n, CodeMalformedRow, "not JSON from here on: "+err.Error())
				return nil
			}
			var typ *json.UnmarshalTypeError
			if !errors.As(err, &typ) {
				return err
			}
			im.rep.fail(n, CodeMalformedRow, "not a {chatId, name, attrs} object of strings: "+err.Error())
			continue
		}
		if err := im.addJSON(n, c); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil {
		im.rep.fail(n+1, CodeMalformedRow, "the JSON array does not end: "+err.Error())
	}
	return nil
}

// readNDJSON reads one contact per line.
func (im *importer) readNDJSON(r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLineBytes)
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var c jsonContact
		if err := json.Unmarshal(b, &c); err != nil {
			im.rep.fail(line, CodeMalformedRow, "not a {chatId, name, attrs} JSON object: "+err.Error())
			continue
		}
		if err := im.addJSON(line, c); err != nil {
			return err
		}
	}
	if errors.Is(sc.Err(), bufio.ErrTooLong) {
		im.rep.fail(line+1, CodeMalformedRow, "the line is over 1 MiB; nothing after it was read")
		return nil
	}
	return sc.Err()
}

func (im *importer) addJSON(line int, c jsonContact) error {
	phone := ""
	if c.ChatID != nil {
		phone = *c.ChatID
	}
	return im.add(line, phone, c.ChatID != nil, strings.TrimSpace(c.Name), c.Attrs)
}
