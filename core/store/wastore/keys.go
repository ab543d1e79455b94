package wastore

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/dgraph-io/badger/v4"

	"github.com/wagate/wagate/core/store"
)

// Kinds of keys below a device, wam/<tenant>/<session>/dev/<device jid>/<kind>/...
// (the layout is in the package documentation).
const (
	kindRecord    = "rec" // the device record
	kindIdentity  = "idk" // idk/<address>: identity key
	kindSession   = "ses" // ses/<address>: Signal session
	kindPreKey    = "pre" // pre/<id, 8 hex>: one-time prekey
	kindSenderKey = "sk"  // sk/<sender address>/<group>: group sender key
	kindSyncKey   = "ask" // ask/<key id, hex>: app state sync key
	kindVersion   = "asv" // asv/<name>: app state version and hash
	kindMAC       = "asm" // asm/<name>/<index MAC, hex>/<version, 16 hex>: value MAC
	kindContact   = "ct"  // ct/<jid>: contact names
	kindChat      = "cs"  // cs/<chat jid>: chat settings
	kindSecret    = "ms"  // ms/<chat>/<sender>/<message id>: message secret
	kindToken     = "pt"  // pt/<jid>: privacy token
	kindEvent     = "evb" // evb/<ciphertext hash, hex>: buffered event
	kindEventTime = "evi" // evi/<insert ms, 16 hex>/<ciphertext hash, hex>: age index of evb
	kindNCTSalt   = "nct" // nct: the NCT salt (cstoken derivation)
	kindOutgoing  = "rtb" // rtb/<chat jid>/<message id>: sent message kept for retry receipts
	kindOutTime   = "rti" // rti/<insert ms, 16 hex>/<chat jid>/<message id>: age index of rtb
)

// Levels directly below wam/<tenant>/<session>.
const (
	levelDevice = "dev" // dev/<device jid>/...: one device
	levelLID    = "lid" // lid/<lid user>: its phone number user
	levelPN     = "pn"  // pn/<phone number user>: its LID user
)

// text encodes a string key part. '%' and '/' are percent-escaped, so no part contains
// the key separator, and the encoding works byte by byte: text(a+b) == text(a)+text(b),
// so "every address of phone 123" is the key prefix text("123:"). The empty string,
// which store.Key refuses, is "%", which no escaped string can be.
func text(s string) string {
	if s == "" {
		return "%"
	}
	if !strings.ContainsAny(s, "%/") {
		return s
	}
	var b strings.Builder
	for i := range len(s) {
		switch s[i] {
		case '%':
			b.WriteString("%25")
		case '/':
			b.WriteString("%2F")
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// untext reverses text.
func untext(s string) (string, error) {
	if s == "%" {
		return "", nil
	}
	if !strings.Contains(s, "%") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", fmt.Errorf("bad escape in key part %q", s)
		}
		v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
		if err != nil {
			return "", fmt.Errorf("bad escape in key part %q", s)
		}
		b.WriteByte(byte(v))
		i += 2
	}
	return b.String(), nil
}

// bin encodes a binary key part as lowercase hex, which keeps byte order; empty is "-".
func bin(b []byte) string {
	if len(b) == 0 {
		return "-"
	}
	return hex.EncodeToString(b)
}

// unbin reverses bin.
func unbin(s string) ([]byte, error) {
	if s == "-" {
		return nil, nil
	}
	return hex.DecodeString(s)
}

// num32 and num64 encode numbers as fixed-width hex, so key order is numeric order.
func num32(n uint32) string { return fmt.Sprintf("%08x", n) }
func num64(n uint64) string { return fmt.Sprintf("%016x", n) }

// rawCodec stores opaque whatsmeow blobs (Signal sessions, sender keys, MACs) as they
// are. An empty value reads back as nil, as an empty SQLite blob does in sqlstore.
type rawCodec struct{}

func (rawCodec) Encode(v []byte) ([]byte, error) { return v, nil }
func (rawCodec) Decode(b []byte) ([]byte, error) {
	if len(b) == 0 {
		return nil, nil
	}
	return append([]byte(nil), b...), nil
}

var raw = store.Table[[]byte]{Prefix: store.PrefixWhatsmeow, Codec: rawCodec{}}

// scan calls fn with every item whose key starts with prefix, in key order, until fn
// returns false or an error. Items are valid only during fn.
func scan(txn *badger.Txn, prefix []byte, values bool, fn func(item *badger.Item) (bool, error)) error {
	it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: values, PrefetchSize: 64, Prefix: prefix})
	defer it.Close()
	for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
		more, err := fn(it.Item())
		if err != nil || !more {
			return err
		}
	}
	return nil
}

// keysWithPrefix returns a copy of every key starting with prefix.
func keysWithPrefix(txn *badger.Txn, prefix []byte) ([][]byte, error) {
	var out [][]byte
	err := scan(txn, prefix, false, func(item *badger.Item) (bool, error) {
		out = append(out, item.KeyCopy(nil))
		return true, nil
	})
	return out, err
}

// rest returns the parts of key after prefix.
func rest(key, prefix []byte) []string {
	return strings.Split(string(key[len(prefix):]), "/")
}

// exists reports whether key is present; the read also makes a concurrent write of the
// key a conflict of txn.
func exists(txn *badger.Txn, key []byte) (bool, error) {
	_, err := txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return false, nil
	}
	return err == nil, err
}
