package btree

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestAgainstModel drives random sets and deletes against a sorted-slice model and compares every query.
func TestAgainstModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	tr := New[int, int](cmp.Compare[int])
	model := map[int]int{}
	for step := 0; step < 60000; step++ {
		k := rng.IntN(5000)
		switch rng.IntN(3) {
		case 0, 1:
			old, replaced := tr.Set(k, step)
			mold, mok := model[k]
			if replaced != mok || (mok && old != mold) {
				t.Fatalf("step %d: Set(%d) = %d,%v want %d,%v", step, k, old, replaced, mold, mok)
			}
			model[k] = step
		case 2:
			v, ok := tr.Delete(k)
			mv, mok := model[k]
			if ok != mok || (mok && v != mv) {
				t.Fatalf("step %d: Delete(%d) = %d,%v want %d,%v", step, k, v, ok, mv, mok)
			}
			delete(model, k)
		}
		if tr.Len() != len(model) {
			t.Fatalf("step %d: Len %d want %d", step, tr.Len(), len(model))
		}
		if step%5000 == 0 {
			checkOrder(t, tr, model)
		}
	}
	checkOrder(t, tr, model)
	for k := range model {
		tr.Delete(k)
	}
	if tr.Len() != 0 || tr.root != nil {
		t.Fatalf("tree not empty after deleting everything: len %d", tr.Len())
	}
}

func checkOrder(t *testing.T, tr *Tree[int, int], model map[int]int) {
	t.Helper()
	keys := make([]int, 0, len(model))
	for k := range model {
		keys = append(keys, k)
		if v, ok := tr.Get(k); !ok || v != model[k] {
			t.Fatalf("Get(%d) = %d,%v want %d", k, v, ok, model[k])
		}
	}
	slices.Sort(keys)
	var got []int
	tr.Ascend(0, false, func(k, _ int) bool { got = append(got, k); return true })
	if !slices.Equal(got, keys) {
		t.Fatalf("Ascend order differs: %d keys vs %d", len(got), len(keys))
	}
	for _, pivot := range []int{-1, 0, 17, 2500, 4999, 5000} {
		var asc, desc []int
		tr.Ascend(pivot, true, func(k, _ int) bool { asc = append(asc, k); return true })
		tr.Descend(pivot, true, func(k, _ int) bool { desc = append(desc, k); return true })
		i, _ := slices.BinarySearch(keys, pivot)
		if !slices.Equal(asc, keys[i:]) {
			t.Fatalf("Ascend(%d) wrong", pivot)
		}
		want := slices.Clone(keys[:i])
		slices.Reverse(want)
		if !slices.Equal(desc, want) {
			t.Fatalf("Descend(%d) wrong", pivot)
		}
	}
}

func TestEarlyStop(t *testing.T) {
	tr := New[int, int](cmp.Compare[int])
	for i := range 1000 {
		tr.Set(i, i)
	}
	var n int
	tr.Ascend(100, true, func(k, _ int) bool { n++; return n < 10 })
	if n != 10 {
		t.Fatalf("Ascend visited %d after stop, want 10", n)
	}
	var last int
	n = 0
	tr.Descend(100, true, func(k, _ int) bool { n++; last = k; return n < 5 })
	if n != 5 || last != 95 {
		t.Fatalf("Descend stopped at %d after %d calls, want 95 after 5", last, n)
	}
}

func key(i uint64) []byte { return binary.BigEndian.AppendUint64(nil, i) }

func BenchmarkGet(b *testing.B) {
	tr := New[[]byte, int](bytes.Compare)
	const n = 100000
	for i := range n {
		tr.Set(key(uint64(i)), i)
	}
	keys := make([][]byte, 1024)
	for i := range keys {
		keys[i] = key(uint64(i * 97 % n))
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, ok := tr.Get(keys[i&1023]); !ok {
			b.Fatal("missing key")
		}
	}
}

func BenchmarkSet(b *testing.B) {
	tr := New[[]byte, int](bytes.Compare)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < b.N; i++ {
		tr.Set(key(rng.Uint64()%1000000), i)
	}
}

func TestGetPtr(t *testing.T) {
	tr := New[int, string](cmp.Compare[int])
	for i := range 500 {
		tr.Set(i, "a")
	}
	if tr.GetPtr(1000) != nil {
		t.Fatal("GetPtr of a missing key is not nil")
	}
	*tr.GetPtr(321) = "b"
	if v, _ := tr.Get(321); v != "b" {
		t.Fatalf("write through GetPtr not visible: %q", v)
	}
}
