package mover

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/tierfs/tierfs/fs"
)

// fakeHolder holds users by the third segment of a path (mail/ab/USER);
// users in busy are another host's.
type fakeHolder struct {
	busy            map[string]bool
	mine            []string // users held here ("ab/alice")
	holds, releases []string
	asked, peeks    int
}

func (f *fakeHolder) UserOf(p string) string {
	parts := strings.Split(p, "/")
	if len(parts) < 4 {
		return ""
	}
	return parts[1] + "/" + parts[2]
}

func (f *fakeHolder) HeldUsers() (users, dirs []string, ok bool) {
	for _, u := range f.mine {
		dirs = append(dirs, "mail/"+u, "index/"+u)
	}
	return f.mine, dirs, true
}

func (f *fakeHolder) HoldUser(ctx context.Context, p string) (string, func(), error) {
	f.asked++
	u := f.UserOf(p)
	switch {
	case u == "":
		return "", nil, fs.ErrNoUser
	case f.busy[u]:
		return u, nil, errors.New("held by b")
	}
	f.holds = append(f.holds, u)
	return u, func() { f.releases = append(f.releases, u) }, nil
}

func (f *fakeHolder) PeekUser(p string) (string, error) {
	f.peeks++
	u := f.UserOf(p)
	switch {
	case u == "":
		return "", fs.ErrNoUser
	case f.busy[u]:
		return u, errors.New("held by b")
	}
	return u, nil
}

// A user's lease is held across the user's files and released when the
// pass moves on; a user another host serves is asked once per pass. A
// dry run skips the same files and takes no lease.
func TestLeaseBatch(t *testing.T) {
	t.Run("move", func(t *testing.T) { leaseBatchRun(t, false) })
	t.Run("dry run", func(t *testing.T) { leaseBatchRun(t, true) })
}

func leaseBatchRun(t *testing.T, dryRun bool) {
	h := &fakeHolder{busy: map[string]bool{"cd/bob": true}}
	b := &leaseBatch{h: h, dryRun: dryRun, held: map[string]func(){}, skipped: map[string]bool{}}
	ctx := context.Background()
	var reasons []string
	for _, p := range []string{"mail/ab/alice/1", "mail/ab/alice/2", "mail/cd/bob/1", "mail/cd/bob/2", "mail/ef/carol/1", "mail/stray"} {
		reasons = append(reasons, b.take(ctx, candidate{path: p}))
	}
	b.done()
	want := []string{"", "", SkipOtherHost, SkipOtherHost, "", SkipNoUser}
	if !slices.Equal(reasons, want) {
		t.Errorf("reasons %q, want %q", reasons, want)
	}
	if asked := h.asked + h.peeks; asked != 5 {
		t.Errorf("asked %d times, want 5 (bob once)", asked)
	}
	// alice held twice (the second released at once), released when
	// bob's files came; carol at the end. A dry run holds nothing.
	wantReleases := "ab/alice,ab/alice,ef/carol"
	if dryRun {
		wantReleases = ""
	}
	if got := strings.Join(h.releases, ","); got != wantReleases || (dryRun && (h.asked != 0 || len(h.holds) != 0)) {
		t.Errorf("releases %q, holds %q after %d HoldUser calls; want releases %q", got, h.holds, h.asked, wantReleases)
	}
	r := &Report{Skipped: map[string]int64{SkipNoUser: 1}}
	b.note(r)
	if r.OtherHosts != 1 || len(r.Notes) != 1 {
		t.Errorf("report: %d other hosts, notes %q", r.OtherHosts, r.Notes)
	}
}
