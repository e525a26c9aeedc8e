package bench

import (
	"slices"
	"testing"
	"time"
)

func TestBenchSelect(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		only    string
		want    []string
		wantErr bool
	}{
		{"", []string{"B1", "B2", "B3", "B4", "B5", "B6"}, false},
		{"b3, B1", []string{"B3", "B1"}, false},
		{"B2,B2", []string{"B2"}, false},
		{"b5", []string{"B5"}, false},
		{"b6", []string{"B6"}, false},
		{"B7", nil, true},
		{"B1,", nil, true},
	} {
		got, err := selectBenchmarks(tc.only)
		if (err != nil) != tc.wantErr {
			t.Errorf("selectBenchmarks(%q) error = %v", tc.only, err)
			continue
		}
		var ids []string
		for _, b := range got {
			ids = append(ids, b.id)
		}
		if !slices.Equal(ids, tc.want) {
			t.Errorf("selectBenchmarks(%q) = %v, want %v", tc.only, ids, tc.want)
		}
	}
}

func TestBenchPercentile(t *testing.T) {
	t.Parallel()
	ds := []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for _, tc := range []struct {
		p    float64
		want time.Duration
	}{{0, 1}, {10, 1}, {50, 5}, {90, 9}, {99, 10}, {100, 10}} {
		if got := percentile(ds, tc.p); got != tc.want {
			t.Errorf("percentile(%v) = %v, want %v", tc.p, got, tc.want)
		}
	}
	if percentile(nil, 50) != 0 {
		t.Error("percentile of nothing is not 0")
	}
}
