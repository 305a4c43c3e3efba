package main

import (
	"fmt"

	"github.com/tierfs/tierfs/config"
	"github.com/tierfs/tierfs/policy"
)

// bucketOf says which bucket of a list put a file on its member, so
// that a file misplaced after the list changed names the reason for its
// new member: " (bucket 5a of [nfs1, nfs2])".
func bucketOf(names config.TierNames, caps policy.Captures) string {
	if !names.IsList() {
		return ""
	}
	return fmt.Sprintf(" (bucket %s of %s)", caps.Hash, names)
}
