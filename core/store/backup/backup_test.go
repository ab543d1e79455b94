package backup

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/wagate/wagate/core/store"
)

func openStore(t *testing.T, key []byte) *store.DB {
	t.Helper()
	db, err := store.Open(store.Options{Dir: t.TempDir(), EncryptionKey: key})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func put(t *testing.T, db *store.DB, kv map[string]string) {
	t.Helper()
	if err := db.Update(func(txn *badger.Txn) error {
		for k, v := range kv {
			if err := txn.Set([]byte(k), []byte(v)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func get(t *testing.T, db *store.DB, k string) (string, bool) {
	t.Helper()
	var v []byte
	err := db.View(func(txn *badger.Txn) error {
		it, err := txn.Get([]byte(k))
		if err != nil {
			return err
		}
		v, err = it.ValueCopy(nil)
		return err
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return "", false
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(v), true
}

func TestRoundTripFullAndIncremental(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	for _, tc := range []struct {
		name string
		key  []byte
	}{{"plain", nil}, {"encrypted", key}} {
		t.Run(tc.name, func(t *testing.T) {
			src := openStore(t, tc.key)
			big := string(bytes.Repeat([]byte("x"), 3<<20)) // spans several data frames
			put(t, src, map[string]string{"msg/t1/a": "1", "msg/t1/b": "2", "ses/t1/s": "3", "sys/big": big})

			var full bytes.Buffer
			sum, err := Write(&full, src.Badger(), 0, tc.key)
			if err != nil {
				t.Fatal(err)
			}
			if sum.Keys != 4 || sum.Prefixes["msg"] != 2 || sum.Prefixes["ses"] != 1 || sum.Encrypted != (tc.key != nil) {
				t.Fatalf("summary = %+v", sum)
			}
			if tc.key != nil && bytes.Contains(full.Bytes(), []byte("msg/t1/a")) {
				t.Fatal("an encrypted backup shows a key in clear")
			}
			if tc.key == nil && !bytes.Contains(full.Bytes(), []byte("msg/t1/a")) {
				t.Fatal("control: a plain backup should show its keys")
			}
			v, err := Verify(bytes.NewReader(full.Bytes()), tc.key)
			if err != nil {
				t.Fatal(err)
			}
			if v.Keys != sum.Keys || v.SHA256 != sum.SHA256 || v.NextSince != sum.NextSince {
				t.Fatalf("verify = %+v, want %+v", v, sum)
			}

			// Incremental: one change, one delete.
			put(t, src, map[string]string{"msg/t1/c": "4"})
			if err := src.Update(func(txn *badger.Txn) error { return txn.Delete([]byte("msg/t1/a")) }); err != nil {
				t.Fatal(err)
			}
			var inc bytes.Buffer
			isum, err := Write(&inc, src.Badger(), sum.NextSince, tc.key)
			if err != nil {
				t.Fatal(err)
			}
			if isum.Keys != 1 || isum.Deleted != 1 || isum.Since != sum.NextSince {
				t.Fatalf("incremental summary = %+v", isum)
			}

			dst := openStore(t, tc.key)
			if _, err := Load(bytes.NewReader(full.Bytes()), dst.Badger(), tc.key); err != nil {
				t.Fatal(err)
			}
			if _, err := Load(bytes.NewReader(inc.Bytes()), dst.Badger(), tc.key); err != nil {
				t.Fatal(err)
			}
			for k, want := range map[string]string{"msg/t1/b": "2", "msg/t1/c": "4", "ses/t1/s": "3", "sys/big": big} {
				if got, ok := get(t, dst, k); !ok || got != want {
					t.Errorf("%s: got %d bytes (found %v)", k, len(got), ok)
				}
			}
			if _, ok := get(t, dst, "msg/t1/a"); ok {
				t.Error("msg/t1/a deleted by the incremental is still there")
			}
		})
	}
}

func TestBadFiles(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	src := openStore(t, key)
	put(t, src, map[string]string{"msg/t1/a": "1"})
	var enc bytes.Buffer
	if _, err := Write(&enc, src.Badger(), 0, key); err != nil {
		t.Fatal(err)
	}
	plainSrc := openStore(t, nil)
	put(t, plainSrc, map[string]string{"msg/t1/a": "1"})
	var plain bytes.Buffer
	if _, err := Write(&plain, plainSrc.Badger(), 0, nil); err != nil {
		t.Fatal(err)
	}
	flip := func(b []byte, at int) []byte {
		c := bytes.Clone(b)
		c[at] ^= 0x40
		return c
	}
	other := bytes.Repeat([]byte{8}, 32)
	for _, tc := range []struct {
		name string
		file []byte
		key  []byte
		want error
	}{
		{"empty", nil, nil, ErrFormat},
		{"not a backup", []byte("hello, this is not a wagate backup file at all, just some text......"), nil, ErrFormat},
		{"plain: flipped data byte", flip(plain.Bytes(), headerSize+10), nil, ErrCorrupt},
		{"plain: flipped header byte", flip(plain.Bytes(), 14), nil, ErrCorrupt},
		{"plain: truncated", plain.Bytes()[:plain.Len()-3], nil, ErrCorrupt},
		{"plain: no trailer", plain.Bytes()[:headerSize], nil, ErrCorrupt},
		{"plain: garbage after trailer", append(bytes.Clone(plain.Bytes()), 0), nil, ErrCorrupt},
		{"encrypted: no key", enc.Bytes(), nil, ErrKey},
		{"encrypted: wrong key", enc.Bytes(), other, ErrKey},
		{"encrypted: flipped data byte", flip(enc.Bytes(), headerSize+10), key, ErrCorrupt},
		{"encrypted: truncated", enc.Bytes()[:enc.Len()-1], key, ErrCorrupt},
	} {
		_, err := Verify(bytes.NewReader(tc.file), tc.key)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: Verify err = %v, want %v", tc.name, err, tc.want)
		}
		dst := openStore(t, tc.key)
		_, err = Load(bytes.NewReader(tc.file), dst.Badger(), tc.key)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: Load err = %v, want %v", tc.name, err, tc.want)
		}
	}
}

// CheckFrames, for an encrypted file where the key is not at hand, passes a whole file
// and catches a cut or a damaged frame head.
func TestCheckFramesWithoutKey(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	src := openStore(t, key)
	put(t, src, map[string]string{"msg/t1/a": "1", "sys/big": string(bytes.Repeat([]byte("y"), 2<<20))})
	var enc bytes.Buffer
	if _, err := Write(&enc, src.Badger(), 0, key); err != nil {
		t.Fatal(err)
	}
	h, frames, err := CheckFrames(bytes.NewReader(enc.Bytes()))
	if err != nil || !h.Encrypted || frames < 3 {
		t.Fatalf("CheckFrames = %+v, %d, %v; want an encrypted file of 3+ frames", h, frames, err)
	}
	for _, bad := range [][]byte{
		enc.Bytes()[:enc.Len()-1],
		enc.Bytes()[:headerSize+3],
		append(bytes.Clone(enc.Bytes()), 'x'),
	} {
		if _, _, err := CheckFrames(bytes.NewReader(bad)); !errors.Is(err, ErrCorrupt) {
			t.Errorf("CheckFrames of a damaged file (%d bytes): %v", len(bad), err)
		}
	}
	damaged := bytes.Clone(enc.Bytes())
	damaged[headerSize] = 'Z' // the first frame's kind
	if _, _, err := CheckFrames(bytes.NewReader(damaged)); !errors.Is(err, ErrCorrupt) {
		t.Errorf("CheckFrames with a bad frame kind: %v", err)
	}
}

func ExampleWrite() {
	db, _ := store.Open(store.Options{InMemory: true})
	defer db.Close()
	_ = db.Update(func(txn *badger.Txn) error { return txn.Set([]byte("msg/t1/m1"), []byte("{}")) })
	var file bytes.Buffer
	sum, _ := Write(&file, db.Badger(), 0, nil)
	check, err := Verify(&file, nil)
	fmt.Println(sum.Keys, check.Prefixes["msg"], err)
	// Output: 1 1 <nil>
}

// BenchmarkWrite backs up 20,000 keys of 512 bytes (about 10 MiB), plain and encrypted:
// go test ./core/store/backup/ -run '^$' -bench Write -benchtime 5x
func BenchmarkWrite(b *testing.B) {
	for _, tc := range []struct {
		name string
		key  []byte
	}{{"plain", nil}, {"encrypted", bytes.Repeat([]byte{7}, 32)}} {
		b.Run(tc.name, func(b *testing.B) {
			db, err := store.Open(store.Options{Dir: b.TempDir(), EncryptionKey: tc.key})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			val := bytes.Repeat([]byte("v"), 512)
			wb := db.Badger().NewWriteBatch()
			for i := range 20000 {
				if err := wb.Set(fmt.Appendf(nil, "msg/t1/m%06d", i), val); err != nil {
					b.Fatal(err)
				}
			}
			if err := wb.Flush(); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for b.Loop() {
				var out countingDiscard
				sum, err := Write(&out, db.Badger(), 0, tc.key)
				if err != nil || sum.Keys != 20000 {
					b.Fatal(sum.Keys, err)
				}
				b.SetBytes(sum.DataBytes)
			}
		})
	}
}

type countingDiscard struct{ n int64 }

func (c *countingDiscard) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }
