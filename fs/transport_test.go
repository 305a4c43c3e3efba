package fs

import (
	"slices"
	"testing"

	gofs "github.com/hanwen/go-fuse/v2/fs"
)

// nodeIDs reads a field go-fuse does not export; this fails if a go-fuse
// upgrade renames it (the pruner would then fall back to entry
// invalidation over io_uring).
func TestNodeIDs(t *testing.T) {
	root := &gofs.Inode{}
	gofs.NewNodeFS(root, &gofs.Options{})
	ids, ok := nodeIDs([]*gofs.Inode{root})
	if !ok || !slices.Equal(ids, []uint64{1}) {
		t.Fatalf("nodeIDs(root) = %v, %v; want [1] (FUSE_ROOT_ID)", ids, ok)
	}
}

func TestParseTransport(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Transport
		ok   bool
	}{
		{"auto", "", false},
		{"io_uring", TransportURing, true},
		{"dev", TransportDev, true},
		{"uring", "", false},
		{"", "", false},
	} {
		got, err := ParseTransport(tc.in)
		if got != tc.want || (err == nil) != tc.ok {
			t.Errorf("ParseTransport(%q) = %q, %v; want %q, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}
