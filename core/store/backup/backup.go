// Package backup writes, checks and loads wagate backup files: Badger's consistent
// backup stream (DB.Backup, full or incremental) wrapped in a framed container with a
// header, per-frame checksums or authenticated encryption, and a trailer that records
// the backup's version and its key counts per prefix.
//
//	sum, err := backup.Write(w, db.Badger(), 0, storeKey) // full backup; storeKey nil: plain
//	...
//	sum, err = backup.Verify(r, storeKey)                  // end to end, no store touched
//	sum, err = backup.Load(r, newDB.Badger(), storeKey)    // into an empty store
//	// next incremental: backup.Write(w, db.Badger(), sum.NextSince, storeKey)
//
// # Format (version 1)
//
// A file is a 64-byte header, then frames, the last of which is the trailer:
//
//	header:  "WAGATEBK" | version u8 (1) | flags u8 (bit 0: encrypted) | 2 zero bytes |
//	         since u64 | created unix ms i64 | salt [16] | key check [16] | crc32c u32
//	frame:   kind u8 ('D' data, 'E' end) | length u32 | body [length] | crc32c u32 (plain only)
//
// Integers are big-endian. The data frames, in order, carry Badger's backup stream
// (what badger.DB.Load reads). The 'E' frame carries the trailer as JSON (Summary) and
// must be followed by end of file: a file cut anywhere is detected.
//
// Plain files: each frame's crc32c (Castagnoli) covers kind, length and body, and the
// trailer holds the SHA-256 of the data stream. Encrypted files (the store is encrypted
// at rest, so its backup is too): each body is AES-256-GCM, with a key derived from the
// store key by HKDF-SHA256 (salt from the header, info "wagate backup v1"), nonce = 4
// zero bytes + the frame's sequence number (u64, from 0), additional data = header +
// kind. Frames cannot be altered, reordered, dropped or moved between files. The
// header's key check, HMAC-SHA256(derived key, "key check")[:16], tells a wrong key
// from a damaged file.
package backup

import (
	"bufio"
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"maps"
	"slices"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/pb"
	"google.golang.org/protobuf/proto"
)

// Errors. Every error of Verify and Load wraps one of them.
var (
	// ErrFormat: not a wagate backup file, or a version this build does not read.
	ErrFormat = errors.New("backup: not a wagate backup file")
	// ErrCorrupt: a checksum or authentication tag does not match, a frame is
	// malformed, or the file is truncated.
	ErrCorrupt = errors.New("backup: file is corrupt or truncated")
	// ErrKey: the file is encrypted and no key, or another key, was given.
	ErrKey = errors.New("backup: encryption key does not match the backup")
)

const (
	magic       = "WAGATEBK"
	formatV1    = 1
	flagCrypt   = 1
	headerSize  = 64
	kindData    = 'D'
	kindEnd     = 'E'
	maxFrame    = 1 << 20 // plaintext bytes per data frame
	maxTrailer  = 1 << 20
	gcmOverhead = 16
	hkdfInfo    = "wagate backup v1"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Summary describes a backup: what its header and trailer say, and what Verify counted.
type Summary struct {
	// Since is the version the backup starts after: 0 for a full backup, else the
	// NextSince of the backup it follows. The backup holds the versions above it.
	Since uint64 `json:"since"`
	// Version is the highest Badger version in the backup (0 if it holds nothing).
	Version uint64 `json:"version"`
	// NextSince is what the next incremental backup passes as since: Version, or
	// Since when the backup holds nothing (an incremental holds the versions above
	// its since).
	NextSince uint64 `json:"nextSince"`
	// Created is when the backup was started.
	Created time.Time `json:"created"`
	// Encrypted tells whether the frames are encrypted with the store's key.
	Encrypted bool `json:"encrypted"`
	// Keys counts the key versions with a value; Deleted the deletion markers.
	Keys    int64 `json:"keys"`
	Deleted int64 `json:"deleted"`
	// Prefixes counts Keys per key prefix (the keyspace of docs/storage.md: msg, que, ...).
	Prefixes map[string]int64 `json:"prefixes"`
	// DataBytes is the length of the Badger stream; SHA256 its hex digest.
	DataBytes int64  `json:"dataBytes"`
	SHA256    string `json:"sha256"`
}

// PrefixNames returns the prefixes of s in order, for printing.
func (s Summary) PrefixNames() []string { return slices.Sorted(maps.Keys(s.Prefixes)) }

// Header is what a backup file's header says.
type Header struct {
	Since     uint64
	Created   time.Time
	Encrypted bool
	salt      [16]byte
	check     [16]byte
	raw       [headerSize]byte
}

// counter counts the entries of a Badger backup stream as it passes.
type counter struct {
	sum  *Summary
	hash hash.Hash
	n    int64
}

func newCounter(s *Summary) *counter {
	if s.Prefixes == nil {
		s.Prefixes = map[string]int64{}
	}
	return &counter{sum: s, hash: sha256.New()}
}

// list counts one KVList.
func (c *counter) list(l *pb.KVList) {
	for _, kv := range l.Kv {
		if kv.Version > c.sum.Version {
			c.sum.Version = kv.Version
		}
		if len(kv.Meta) > 0 && kv.Meta[0]&0x01 != 0 { // badger's bitDelete
			c.sum.Deleted++
			continue
		}
		c.sum.Keys++
		p := kv.Key
		if i := bytes.IndexByte(p, '/'); i >= 0 {
			p = p[:i]
		}
		c.sum.Prefixes[string(p)]++
	}
}

// decodeStream reads Badger's backup stream (u64 little-endian length + KVList) from r
// until EOF, handing every list to fn.
func decodeStream(r io.Reader, fn func(*pb.KVList)) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var buf []byte
	corrupt := func(err error) error {
		if errors.Is(err, ErrCorrupt) || errors.Is(err, ErrKey) { // from the frames below
			return err
		}
		return fmt.Errorf("%w: badger stream: %v", ErrCorrupt, err)
	}
	for {
		var sz uint64
		if err := binary.Read(br, binary.LittleEndian, &sz); err == io.EOF {
			return nil
		} else if err != nil {
			return corrupt(err)
		}
		if sz > 1<<31 {
			return fmt.Errorf("%w: badger stream: list of %d bytes", ErrCorrupt, sz)
		}
		if uint64(cap(buf)) < sz {
			buf = make([]byte, sz)
		}
		if _, err := io.ReadFull(br, buf[:sz]); err != nil {
			return corrupt(err)
		}
		var l pb.KVList
		if err := proto.Unmarshal(buf[:sz], &l); err != nil {
			return fmt.Errorf("%w: badger stream: %v", ErrCorrupt, err)
		}
		fn(&l)
	}
}

// deriveKey is the frame key of a file with salt, from the store key.
func deriveKey(storeKey []byte, salt []byte) ([]byte, error) {
	return hkdf.Key(sha256.New, storeKey, salt, hkdfInfo, 32)
}

func keyCheck(k []byte) []byte {
	m := hmac.New(sha256.New, k)
	m.Write([]byte("key check"))
	return m.Sum(nil)[:16]
}

func newAEAD(k []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

func nonce(seq uint64) []byte {
	n := make([]byte, 12)
	binary.BigEndian.PutUint64(n[4:], seq)
	return n
}

// frameWriter writes frames after the header.
type frameWriter struct {
	w    io.Writer
	hdr  []byte
	aead cipher.AEAD
	seq  uint64
	buf  []byte // pending data, flushed as one frame at maxFrame
	err  error
}

func (f *frameWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 && f.err == nil {
		room := maxFrame - len(f.buf)
		take := min(room, len(p))
		f.buf = append(f.buf, p[:take]...)
		p = p[take:]
		if len(f.buf) == maxFrame {
			f.frame(kindData, f.buf)
			f.buf = f.buf[:0]
		}
	}
	if f.err != nil {
		return 0, f.err
	}
	return n, nil
}

func (f *frameWriter) flush() {
	if len(f.buf) > 0 {
		f.frame(kindData, f.buf)
		f.buf = f.buf[:0]
	}
}

func (f *frameWriter) frame(kind byte, body []byte) {
	if f.err != nil {
		return
	}
	if f.aead != nil {
		body = f.aead.Seal(nil, nonce(f.seq), body, append(slices.Clip(f.hdr), kind))
	}
	f.seq++
	head := make([]byte, 5)
	head[0] = kind
	binary.BigEndian.PutUint32(head[1:], uint32(len(body)))
	if _, f.err = f.w.Write(head); f.err != nil {
		return
	}
	if _, f.err = f.w.Write(body); f.err != nil {
		return
	}
	if f.aead == nil {
		c := crc32.Update(crc32.Checksum(head, castagnoli), castagnoli, body)
		_, f.err = f.w.Write(binary.BigEndian.AppendUint32(nil, c))
	}
}

// Write writes a backup of db to w: every key version above since (0: all), as
// of one consistent snapshot. With storeKey (32 bytes, the store's encryption key) the
// frames are encrypted; nil writes a plain file. The returned summary is the trailer
// written. A failed Write leaves w without a trailer, which Verify reports as
// truncated.
func Write(w io.Writer, db *badger.DB, since uint64, storeKey []byte) (Summary, error) {
	sum := Summary{Since: since, Created: time.Now().UTC().Truncate(time.Millisecond), Encrypted: len(storeKey) > 0}
	var h [headerSize]byte
	copy(h[:], magic)
	h[8] = formatV1
	binary.BigEndian.PutUint64(h[12:], since)
	binary.BigEndian.PutUint64(h[20:], uint64(sum.Created.UnixMilli()))
	fw := &frameWriter{w: w, hdr: h[:]}
	if sum.Encrypted {
		h[9] = flagCrypt
		if _, err := rand.Read(h[28:44]); err != nil {
			return sum, err
		}
		k, err := deriveKey(storeKey, h[28:44])
		if err != nil {
			return sum, fmt.Errorf("backup: deriving the key: %w", err)
		}
		copy(h[44:60], keyCheck(k))
		if fw.aead, err = newAEAD(k); err != nil {
			return sum, fmt.Errorf("backup: %w", err)
		}
	}
	binary.BigEndian.PutUint32(h[60:], crc32.Checksum(h[:60], castagnoli))
	if _, err := w.Write(h[:]); err != nil {
		return sum, err
	}

	// Badger writes its stream into a pipe; this side counts it on the way to the frames.
	pr, pw := io.Pipe()
	cnt := newCounter(&sum)
	tee := io.TeeReader(pr, io.MultiWriter(fw, cnt.hash, countWriter{&sum.DataBytes}))
	decoded := make(chan error, 1)
	go func() {
		err := decodeStream(tee, cnt.list)
		pr.CloseWithError(err) // unblocks Backup if decoding or writing failed
		decoded <- err
	}()
	_, berr := db.Backup(pw, since)
	pw.CloseWithError(berr)
	derr := <-decoded
	switch {
	case fw.err != nil: // the destination failed (client gone, disk full)
		return sum, fw.err
	case derr != nil:
		return sum, derr
	case berr != nil:
		return sum, fmt.Errorf("backup: badger: %w", berr)
	}
	fw.flush()
	sum.SHA256 = hex.EncodeToString(cnt.hash.Sum(nil))
	sum.NextSince = nextSince(sum)
	tr, err := json.Marshal(sum)
	if err != nil {
		return sum, err
	}
	fw.frame(kindEnd, tr)
	return sum, fw.err
}

func nextSince(s Summary) uint64 {
	return max(s.Version, s.Since)
}

type countWriter struct{ n *int64 }

func (c countWriter) Write(p []byte) (int, error) { *c.n += int64(len(p)); return len(p), nil }

// ReadHeader reads and checks a file's header (nothing else).
func ReadHeader(r io.Reader) (Header, error) {
	var h Header
	if _, err := io.ReadFull(r, h.raw[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return h, fmt.Errorf("%w: shorter than a header (%v)", ErrFormat, err)
		}
		return h, err
	}
	b := h.raw[:]
	if string(b[:8]) != magic {
		return h, fmt.Errorf("%w: no WAGATEBK magic", ErrFormat)
	}
	if crc32.Checksum(b[:60], castagnoli) != binary.BigEndian.Uint32(b[60:]) {
		return h, fmt.Errorf("%w: header checksum", ErrCorrupt)
	}
	if b[8] != formatV1 {
		return h, fmt.Errorf("%w: format version %d, this build reads %d", ErrFormat, b[8], formatV1)
	}
	h.Encrypted = b[9]&flagCrypt != 0
	h.Since = binary.BigEndian.Uint64(b[12:])
	h.Created = time.UnixMilli(int64(binary.BigEndian.Uint64(b[20:]))).UTC()
	copy(h.salt[:], b[28:44])
	copy(h.check[:], b[44:60])
	return h, nil
}

// reader yields the data stream of a file and, at its end, the trailer.
type reader struct {
	r       *bufio.Reader
	hdr     Header
	aead    cipher.AEAD
	seq     uint64
	cur     []byte // unread plaintext of the current data frame
	trailer *Summary
	err     error
}

func open(r io.Reader, storeKey []byte) (*reader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	h, err := ReadHeader(br)
	if err != nil {
		return nil, err
	}
	rd := &reader{r: br, hdr: h}
	if h.Encrypted {
		if len(storeKey) == 0 {
			return nil, fmt.Errorf("%w: the backup is encrypted and no store key was given (WAGATE_STORE_ENCRYPTION_KEY or store.encryption_key_file)", ErrKey)
		}
		k, err := deriveKey(storeKey, h.salt[:])
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrKey, err)
		}
		if !hmac.Equal(keyCheck(k), h.check[:]) {
			return nil, fmt.Errorf("%w: the backup was written with another store key", ErrKey)
		}
		if rd.aead, err = newAEAD(k); err != nil {
			return nil, err
		}
	}
	return rd, nil
}

// Read returns the data stream; io.EOF once the trailer was read and checked.
func (rd *reader) Read(p []byte) (int, error) {
	for len(rd.cur) == 0 {
		if rd.err != nil {
			return 0, rd.err
		}
		rd.err = rd.next()
	}
	n := copy(p, rd.cur)
	rd.cur = rd.cur[n:]
	return n, nil
}

// next reads one frame: data goes to cur, the trailer ends the stream (io.EOF).
func (rd *reader) next() error {
	if rd.trailer != nil {
		return io.EOF
	}
	var head [5]byte
	if _, err := io.ReadFull(rd.r, head[:]); err != nil {
		return fmt.Errorf("%w: frame %d: %v (no trailer)", ErrCorrupt, rd.seq, err)
	}
	return rd.nextAfterHead(head)
}

// nextAfterHead is next once the frame's head was read.
func (rd *reader) nextAfterHead(head [5]byte) error {
	kind, n := head[0], binary.BigEndian.Uint32(head[1:])
	limit := uint32(maxFrame)
	if kind == kindEnd {
		limit = maxTrailer
	} else if kind != kindData {
		return fmt.Errorf("%w: frame %d: unknown kind %q", ErrCorrupt, rd.seq, kind)
	}
	if rd.aead != nil {
		limit += gcmOverhead
	}
	if n > limit {
		return fmt.Errorf("%w: frame %d: %d bytes", ErrCorrupt, rd.seq, n)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(rd.r, body); err != nil {
		return fmt.Errorf("%w: frame %d: %v", ErrCorrupt, rd.seq, err)
	}
	if rd.aead != nil {
		var err error
		body, err = rd.aead.Open(body[:0], nonce(rd.seq), body, append(slices.Clip(rd.hdr.raw[:]), kind))
		if err != nil {
			return fmt.Errorf("%w: frame %d: authentication failed", ErrCorrupt, rd.seq)
		}
	} else {
		var sum [4]byte
		if _, err := io.ReadFull(rd.r, sum[:]); err != nil {
			return fmt.Errorf("%w: frame %d: %v", ErrCorrupt, rd.seq, err)
		}
		if crc32.Update(crc32.Checksum(head[:], castagnoli), castagnoli, body) != binary.BigEndian.Uint32(sum[:]) {
			return fmt.Errorf("%w: frame %d: checksum", ErrCorrupt, rd.seq)
		}
	}
	rd.seq++
	if kind == kindData {
		rd.cur = body
		return nil
	}
	var t Summary
	if err := json.Unmarshal(body, &t); err != nil {
		return fmt.Errorf("%w: trailer: %v", ErrCorrupt, err)
	}
	if t.Since != rd.hdr.Since || t.Encrypted != rd.hdr.Encrypted {
		return fmt.Errorf("%w: trailer does not match the header", ErrCorrupt)
	}
	if _, err := rd.r.ReadByte(); err != io.EOF {
		return fmt.Errorf("%w: bytes after the trailer", ErrCorrupt)
	}
	rd.trailer = &t
	return io.EOF
}

// Verify reads a backup end to end: header, every frame's checksum or tag, the Badger
// stream inside, and checks the trailer against what it counted. storeKey is needed
// for an encrypted file.
func Verify(r io.Reader, storeKey []byte) (Summary, error) {
	rd, err := open(r, storeKey)
	if err != nil {
		return Summary{}, err
	}
	got := Summary{Since: rd.hdr.Since, Created: rd.hdr.Created, Encrypted: rd.hdr.Encrypted}
	cnt := newCounter(&got)
	h := io.TeeReader(rd, io.MultiWriter(cnt.hash, countWriter{&got.DataBytes}))
	if err := decodeStream(h, cnt.list); err != nil {
		return got, err
	}
	got.SHA256 = hex.EncodeToString(cnt.hash.Sum(nil))
	got.NextSince = nextSince(got)
	return got, rd.check(got)
}

// check compares what was read with the trailer.
func (rd *reader) check(got Summary) error {
	t := rd.trailer
	if t == nil {
		return fmt.Errorf("%w: no trailer", ErrCorrupt)
	}
	if t.SHA256 != got.SHA256 || t.DataBytes != got.DataBytes || t.Keys != got.Keys || t.Deleted != got.Deleted ||
		t.Version != got.Version || !maps.Equal(t.Prefixes, got.Prefixes) {
		return fmt.Errorf("%w: contents do not match the trailer (%d keys, sha256 %s; trailer says %d keys, %s)",
			ErrCorrupt, got.Keys, got.SHA256, t.Keys, t.SHA256)
	}
	return nil
}

// Load writes a backup into db (badger.DB.Load), which should be a store no one else
// writes to: a new, empty one for a full backup, or the store its previous backups
// were loaded into for an incremental one. Verify the file first: a corrupt file is
// detected only when Load reaches the damage, after what came before was written.
func Load(r io.Reader, db *badger.DB, storeKey []byte) (Summary, error) {
	rd, err := open(r, storeKey)
	if err != nil {
		return Summary{}, err
	}
	got := Summary{Since: rd.hdr.Since, Created: rd.hdr.Created, Encrypted: rd.hdr.Encrypted}
	cnt := newCounter(&got)
	pr, pw := io.Pipe()
	counted := make(chan error, 1)
	go func() {
		err := decodeStream(pr, cnt.list)
		pr.CloseWithError(err)
		counted <- err
	}()
	tee := io.TeeReader(rd, io.MultiWriter(pw, cnt.hash, countWriter{&got.DataBytes}))
	lerr := db.Load(tee, 16)
	pw.CloseWithError(lerr)
	cerr := <-counted
	if lerr != nil {
		if errors.Is(lerr, ErrCorrupt) || errors.Is(lerr, ErrKey) {
			return got, lerr
		}
		return got, fmt.Errorf("backup: loading into badger: %w", lerr)
	}
	if cerr != nil {
		return got, cerr
	}
	got.SHA256 = hex.EncodeToString(cnt.hash.Sum(nil))
	got.NextSince = nextSince(got)
	return got, rd.check(got)
}

// CheckFrames checks the framing of a file without its key: the header, every frame's
// length (and, in a plain file, its checksum), and that the trailer frame ends the
// file. It is what can be checked of an encrypted backup where the store key is not
// at hand; Verify checks everything.
func CheckFrames(r io.Reader) (Header, int, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	h, err := ReadHeader(br)
	if err != nil {
		return h, 0, err
	}
	rd := &reader{r: br, hdr: h}
	for frames := 0; ; frames++ {
		var head [5]byte
		if _, err := io.ReadFull(br, head[:]); err != nil {
			return h, frames, fmt.Errorf("%w: frame %d: %v (no trailer)", ErrCorrupt, frames, err)
		}
		kind, n := head[0], binary.BigEndian.Uint32(head[1:])
		if kind != kindData && kind != kindEnd || n > maxFrame+gcmOverhead {
			return h, frames, fmt.Errorf("%w: frame %d: kind %q, %d bytes", ErrCorrupt, frames, kind, n)
		}
		if !h.Encrypted {
			// The plain path checks the checksum (and parses the trailer).
			rd.seq = uint64(frames)
			if err := rd.nextAfterHead(head); err != nil && err != io.EOF {
				return h, frames, err
			}
		} else if _, err := io.CopyN(io.Discard, br, int64(n)); err != nil {
			return h, frames, fmt.Errorf("%w: frame %d: %v", ErrCorrupt, frames, err)
		}
		if kind == kindEnd {
			if _, err := br.ReadByte(); err != io.EOF {
				return h, frames + 1, fmt.Errorf("%w: bytes after the trailer", ErrCorrupt)
			}
			return h, frames + 1, nil
		}
	}
}
