package pricing

import (
	"slices"
	"testing"

	"github.com/bulwark-shop/bulwark/internal/money"
)

func TestMulDivHalfEven(t *testing.T) {
	tests := []struct{ a, b, c, want int64 }{
		{5, 1, 10, 0},  // 0.5 → 0
		{15, 1, 10, 2}, // 1.5 → 2
		{25, 1, 10, 2}, // 2.5 → 2
		{35, 1, 10, 4}, // 3.5 → 4
		{26, 1, 10, 3}, // 2.6 → 3
		{24, 1, 10, 2}, // 2.4 → 2
		{money.MaxAmount, money.MaxAmount, money.MaxAmount, money.MaxAmount}, // the product passes int64
		{money.MaxAmount, 1_000_000, 1_000_000 + 1_000_000, money.MaxAmount / 2},
	}
	for _, tt := range tests {
		if got := mulDivHalfEven(tt.a, tt.b, tt.c); got != tt.want {
			t.Errorf("%d×%d/%d = %d, want %d", tt.a, tt.b, tt.c, got, tt.want)
		}
	}
}

func TestAllocate(t *testing.T) {
	tests := []struct {
		total   int64
		weights []int64
		want    []int64
	}{
		{100, []int64{333, 333, 334}, []int64{33, 33, 34}},
		{2, []int64{1, 1, 1}, []int64{1, 1, 0}},
		{10, []int64{0, 5, 5}, []int64{0, 5, 5}},
		{0, []int64{5, 5}, []int64{0, 0}},
		{7, []int64{7}, []int64{7}},
		{money.MaxAmount, []int64{money.MaxAmount / 3, money.MaxAmount / 3, money.MaxAmount - 2*(money.MaxAmount/3)}, []int64{333_333_333_333, 333_333_333_333, 333_333_333_334}},
		{money.MaxAmount - 1, []int64{1, money.MaxAmount - 1}, []int64{1, money.MaxAmount - 2}},
	}
	for _, tt := range tests {
		got := allocate(tt.total, tt.weights)
		if !slices.Equal(got, tt.want) {
			t.Errorf("allocate(%d, %v) = %v, want %v", tt.total, tt.weights, got, tt.want)
		}
	}
}

func TestArithmeticRefusesOverflow(t *testing.T) {
	if _, err := add(money.MaxAmount, 1); err != ErrOutOfRange {
		t.Fatal("add past the maximum")
	}
	if _, err := add(-1, 1); err != ErrOutOfRange {
		t.Fatal("add of a negative")
	}
	if _, err := times(money.MaxAmount, 2); err != ErrOutOfRange {
		t.Fatal("times past the maximum")
	}
	if _, err := times(2, 1<<62); err != ErrOutOfRange {
		t.Fatal("times that would wrap")
	}
	if v, err := times(money.MaxAmount, 1); err != nil || v != money.MaxAmount {
		t.Fatal("times at the maximum")
	}
}
