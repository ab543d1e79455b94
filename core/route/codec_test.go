package route

import (
	"testing"
	"time"

	"github.com/wagate/wagate/core/store"
)

func TestContactCodec(t *testing.T) {
	at := time.Date(2026, 12, 7, 12, 0, 0, 123456789, time.UTC)
	for _, c := range []Contact{{Session: "sales", At: at}, {Session: "", At: at}, {Session: "s/with·utf8", At: time.Time{}}} {
		b, err := contactCodec{}.Encode(c)
		if err != nil {
			t.Fatal(err)
		}
		got, err := contactCodec{}.Decode(b)
		if err != nil || got.Session != c.Session || !got.At.Equal(c.At) || got.At.IsZero() != c.At.IsZero() {
			t.Errorf("%+v: round trip %+v %v", c, got, err)
		}
	}
	// Values written before the binary layout, by the JSON codec, in both of its forms.
	old, _ := store.JSONCodec[Contact]{}.Encode(Contact{Session: "sales", At: at})
	if got, err := (contactCodec{}).Decode(old); err != nil || got.Session != "sales" || !got.At.Equal(at) {
		t.Errorf("JSON record: %+v %v", got, err)
	}
	if got, err := (contactCodec{}).Decode(append([]byte{1}, `"sales"`...)); err != nil || got.Session != "sales" || !got.At.IsZero() {
		t.Errorf("first-format record: %+v %v", got, err)
	}
	for _, bad := range [][]byte{nil, {codecBinary}, {codecBinary, 1, 2, 3}, {9, 'x'}} {
		if _, err := (contactCodec{}).Decode(bad); err == nil {
			t.Errorf("Decode(%v) accepted", bad)
		}
	}
}

func TestTimeCodec(t *testing.T) {
	at := time.Date(2026, 12, 7, 12, 0, 0, 1, time.UTC)
	for _, v := range []time.Time{at, {}} {
		b, _ := timeCodec{}.Encode(v)
		if got, err := (timeCodec{}).Decode(b); err != nil || !got.Equal(v) || got.IsZero() != v.IsZero() {
			t.Errorf("%v: round trip %v %v", v, got, err)
		}
	}
	old, _ := store.JSONCodec[time.Time]{}.Encode(at)
	if got, err := (timeCodec{}).Decode(old); err != nil || !got.Equal(at) {
		t.Errorf("JSON time: %v %v", got, err)
	}
	for _, bad := range [][]byte{nil, {codecBinary}, {codecBinary, 0, 0, 0, 0, 0, 0, 0, 0, 0}, {7}} {
		if _, err := (timeCodec{}).Decode(bad); err == nil {
			t.Errorf("Decode(%v) accepted", bad)
		}
	}
}

func BenchmarkContactCodec(b *testing.B) {
	c := Contact{Session: "sales-number-1", At: time.Now().UTC()}
	b.Run("binary", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			v, _ := contactCodec{}.Encode(c)
			_, _ = contactCodec{}.Decode(v)
		}
	})
	b.Run("json", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			v, _ := store.JSONCodec[Contact]{}.Encode(c)
			_, _ = store.JSONCodec[Contact]{}.Decode(v)
		}
	})
}
