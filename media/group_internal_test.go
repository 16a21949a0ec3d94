package media

import (
	"reflect"
	"testing"
)

// TestGroupInOrder: one group per id in the order of ids, nil for an id without rows, each group
// in row order, rows of ids not asked for ignored.
func TestGroupInOrder(t *testing.T) {
	type row struct{ k, v string }
	rows := []row{{"b", "1"}, {"a", "2"}, {"b", "3"}, {"z", "4"}}
	got := groupInOrder([]string{"a", "b", "c"}, rows, func(r row) (string, string) { return r.k, r.v })
	want := [][]string{{"2"}, {"1", "3"}, nil}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}
