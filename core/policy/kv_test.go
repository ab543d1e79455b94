package policy

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestMemKV(t *testing.T) {
	ctx := context.Background()
	store := NewMemKV(KVLimits{MaxKeyLen: 8, MaxValueLen: 16, MaxKeys: 3, MaxBytes: 40})
	a, b := store.For("a"), store.For("b")

	if err := a.Set(ctx, "k", []byte("v1")); err != nil {
		t.Fatal(err)
	}
	if v, ok, err := a.Get(ctx, "k"); err != nil || !ok || string(v) != "v1" {
		t.Fatalf("get: %q %v %v", v, ok, err)
	}
	if _, ok, _ := b.Get(ctx, "k"); ok {
		t.Fatal("tenant b sees tenant a's key")
	}
	if store.For("a") != a {
		t.Fatal("For returns a new store for a known tenant")
	}
	// The value returned is a copy.
	v, _, _ := a.Get(ctx, "k")
	v[0] = 'X'
	if v, _, _ := a.Get(ctx, "k"); string(v) != "v1" {
		t.Fatalf("stored value changed through a returned copy: %q", v)
	}
	for _, tc := range []struct {
		name, key, value string
		want             error
	}{
		{"empty key", "", "v", ErrKVKey},
		{"long key", "123456789", "v", ErrKVKey},
		{"key not UTF-8", "\xff", "v", ErrKVKey},
		{"long value", "k", strings.Repeat("v", 17), ErrKVValue},
	} {
		if err := a.Set(ctx, tc.key, []byte(tc.value)); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	// Key count: k, k2, k3 fit; k4 does not; overwriting a key does not count.
	for _, k := range []string{"k2", "k3"} {
		if err := a.Set(ctx, k, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Set(ctx, "k4", []byte("x")); !errors.Is(err, ErrKVFull) {
		t.Errorf("4th key: %v, want ErrKVFull", err)
	}
	if err := a.Set(ctx, "k3", []byte("yy")); err != nil {
		t.Errorf("overwrite at the key bound: %v", err)
	}
	// Bytes: k(1)+v1(2) + k2(2)+x(1) + k3(2)+yy(2) = 10; growing k to 16 bytes makes 24.
	if err := a.Set(ctx, "k", []byte(strings.Repeat("v", 16))); err != nil {
		t.Fatal(err)
	}
	if err := b.Set(ctx, "big", []byte(strings.Repeat("v", 16))); err != nil {
		t.Fatal(err) // tenant b has its own budget
	}
	if err := a.Set(ctx, "k2", []byte(strings.Repeat("v", 16))); err != nil {
		t.Fatal(err) // 24 - 1 + 16 = 39
	}
	if err := a.Set(ctx, "k3", []byte("yyyy")); !errors.Is(err, ErrKVFull) {
		t.Errorf("past MaxBytes: %v, want ErrKVFull", err) // 39 - 2 + 4 = 41
	}
	if v, _, _ := a.Get(ctx, "k3"); string(v) != "yy" {
		t.Errorf("a refused write changed the value: %q", v)
	}
	// Deleting frees room.
	if err := a.Set(ctx, "k2", nil); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := a.Get(ctx, "k2"); ok {
		t.Error("deleted key still there")
	}
	if err := a.Set(ctx, "k4", []byte("x")); err != nil {
		t.Errorf("after a delete: %v", err)
	}
	store.Drop("a")
	if _, ok, _ := store.For("a").Get(ctx, "k"); ok {
		t.Error("dropped tenant's data survived")
	}
	if err := KVOf(Spec{}).Set(ctx, "k", []byte("v")); !errors.Is(err, ErrKVFull) {
		t.Errorf("no store: %v", err)
	}
}
