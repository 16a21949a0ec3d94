package veiltest

import (
	"context"
	"io"
	"sort"
	"strings"
	"testing"

	"gocloud.dev/blob"

	"github.com/veil-media/veil/storage"
)

// ListKeys lists every object key in a store, sorted, skipping start-up probe objects.
func ListKeys(t testing.TB, s *storage.Store) []string {
	t.Helper()
	var keys []string
	it := s.Bucket.List(&blob.ListOptions{})
	for {
		obj, err := it.Next(context.Background())
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("veiltest: list bucket: %v", err)
		}
		if !strings.HasPrefix(obj.Key, ".veil-probe/") && !strings.Contains(obj.Key, "/.veil-probe-") {
			keys = append(keys, obj.Key)
		}
	}
	sort.Strings(keys)
	return keys
}
