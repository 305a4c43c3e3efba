package mover

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tierfs/tierfs/control"
)

// gatedMove is tierMove whose first move waits for gate, after saying
// so on started.
type gatedMove struct {
	tierMove
	started chan string
	gate    chan struct{}
	once    sync.Once
	moves   atomic.Int64
}

func (g *gatedMove) Move(ctx context.Context, p string, dst int) (int64, error) {
	g.once.Do(func() {
		g.started <- p
		<-g.gate
	})
	g.moves.Add(1)
	return g.tierMove.Move(ctx, p, dst)
}

// holdObserver records the holds it is told of.
type holdObserver struct {
	mu    sync.Mutex
	holds []time.Time
}

func (o *holdObserver) Moved(from, to string, bytes int64) {}
func (o *holdObserver) Failed(from, to string)             {}
func (o *holdObserver) MadeRoom(tier string, bytes int64)  {}
func (o *holdObserver) Held(until time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.holds = append(o.holds, until)
}

// A hold cancels the running pass after the file being moved, returns
// once that pass ended, refuses passes asked for and skips scheduled
// ones until it is released; then the schedule moves the rest.
func TestHold(t *testing.T) {
	ts := localTiers(t, "fast", "slow")
	old := time.Now().Add(-40 * 24 * time.Hour)
	files := []string{"mail/f5/alice/cur/1", "mail/f5/alice/cur/2", "mail/f5/alice/cur/3", "mail/f5/alice/cur/4"}
	for _, p := range files {
		put(t, ts[0], p, "0123456789", old)
	}
	prim := &gatedMove{tierMove: tierMove{ts: ts}, started: make(chan string, 1), gate: make(chan struct{})}
	obs := &holdObserver{}
	m, err := New(Config{Tiers: ts, Policy: localPolicy(t, localRules), Move: prim, Observer: obs})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	reps := make(chan *Report, 1)
	go func() {
		rep, err := m.RunOnce(ctx, Options{})
		if err != nil {
			t.Errorf("pass: %v", err)
		}
		reps <- rep
	}()
	<-prim.started

	until := time.Now().Add(time.Hour)
	held := make(chan error, 1)
	go func() { held <- m.Hold(ctx, until) }()
	select {
	case err := <-held:
		t.Fatalf("Hold returned (%v) while a move of the pass was running", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(prim.gate)
	if err := <-held; err != nil {
		t.Fatalf("Hold: %v", err)
	}
	returned := time.Now()
	rep := <-reps
	if rep.Files != 1 || rep.Stopped != "held (tierfs hold)" || rep.Failed != 0 {
		t.Errorf("the held pass: %d files, stopped %q, %d failed; want 1, held, 0", rep.Files, rep.Stopped, rep.Failed)
	}
	if rep.Finished.After(returned) {
		t.Fatalf("Hold returned at %v, before the running pass ended (%v)", returned, rep.Finished)
	}
	onFast := func() int {
		n := 0
		for _, p := range files {
			if _, err := os.Stat(filepath.Join(ts[0].Path, p)); err == nil {
				n++
			}
		}
		return n
	}
	if n := onFast(); n != 3 {
		t.Fatalf("%d files on fast after the held pass, want 3", n)
	}

	_, err = m.RunOnce(ctx, Options{})
	if !errors.Is(err, ErrHeld) || !strings.Contains(err.Error(), until.Format(time.RFC3339)) {
		t.Errorf("a pass asked for under the hold: %v, want ErrHeld naming %s", err, until.Format(time.RFC3339))
	}
	if got := m.Stats().HeldUntil; got == nil || !got.Equal(until) {
		t.Errorf("Stats().HeldUntil = %v, want %v", got, until)
	}

	// The schedule comes due many times under the hold: no pass runs.
	m.SetLimits(Limits{Interval: 10 * time.Millisecond})
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { m.Run(runCtx); close(done) }()
	defer func() { stop(); <-done }()
	time.Sleep(300 * time.Millisecond)
	if n, runs := onFast(), m.Stats().Runs; n != 3 || runs != 1 || prim.moves.Load() != 1 {
		t.Fatalf("under the hold: %d files on fast, %d passes, %d moves; want 3, 1, 1", n, runs, prim.moves.Load())
	}

	if !m.Release() {
		t.Error("Release of a hold said there was none")
	}
	if m.Release() {
		t.Error("a second Release said there was a hold")
	}
	deadline := time.Now().Add(10 * time.Second)
	for onFast() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d files still on fast 10 s after the release", onFast())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if m.Stats().HeldUntil != nil {
		t.Error("Stats().HeldUntil set after the release")
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if len(obs.holds) != 3 || !obs.holds[0].Equal(until) || !obs.holds[1].IsZero() || !obs.holds[2].IsZero() {
		t.Errorf("the observer was told %v, want the hold's end then two releases", obs.holds)
	}
}

// A hold ends by itself at its time; one not in the future is refused.
func TestHoldExpires(t *testing.T) {
	ts := localTiers(t, "fast", "slow")
	var now atomic.Int64
	now.Store(time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC).UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	m, err := New(Config{Tiers: ts, Policy: localPolicy(t, localRules), Move: &tierMove{ts: ts}, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Hold(t.Context(), clock()); err == nil {
		t.Error("a hold until now was accepted")
	}
	if err := m.Hold(t.Context(), clock().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	// A shorter hold beside it (another backup) does not shorten it.
	if err := m.Hold(t.Context(), clock().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got, want := m.HeldUntil(), clock().Add(time.Hour); !got.Equal(want) {
		t.Errorf("after a shorter second hold, HeldUntil = %v, want %v", got, want)
	}
	if _, err := m.RunOnce(t.Context(), Options{DryRun: true}); !errors.Is(err, ErrHeld) {
		t.Fatalf("a dry run under the hold: %v, want ErrHeld", err)
	}
	now.Add(int64(time.Hour + time.Second))
	if !m.HeldUntil().IsZero() {
		t.Errorf("HeldUntil = %v after the hold's end", m.HeldUntil())
	}
	if _, err := m.RunOnce(t.Context(), Options{DryRun: true}); err != nil {
		t.Errorf("a dry run after the hold's end: %v", err)
	}
	if m.Release() {
		t.Error("Release after the hold's end said there was a hold")
	}
}

// The control endpoints: a hold out of range is refused naming the
// field; a hold answers its end and shows in GET /mover; a pass asked
// for meanwhile is refused; DELETE releases it once.
func TestHoldEndpoints(t *testing.T) {
	ts := localTiers(t, "fast", "slow")
	m, err := New(Config{Tiers: ts, Policy: localPolicy(t, localRules), Move: &tierMove{ts: ts}})
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "c.sock")
	srv, err := control.Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	m.Register(srv)
	go srv.Serve()
	defer srv.Close()
	c, ctx := control.NewClient(sock), t.Context()

	for _, d := range []time.Duration{0, -time.Second, MaxHold + time.Second} {
		if err := c.Do(ctx, http.MethodPost, "/hold", HoldRequest{For: d}, nil); err == nil || !strings.Contains(err.Error(), "for_ns") {
			t.Errorf("POST /hold for %v: %v, want a refusal naming for_ns", d, err)
		}
	}
	var st HoldState
	before := time.Now()
	if err := c.Do(ctx, http.MethodPost, "/hold", HoldRequest{For: time.Hour}, &st); err != nil {
		t.Fatal(err)
	}
	if st.HeldUntil == nil || st.HeldUntil.Before(before.Add(time.Hour)) || st.HeldUntil.After(time.Now().Add(time.Hour)) {
		t.Fatalf("POST /hold for 1h answered %+v", st)
	}
	err = c.Do(ctx, http.MethodPost, "/migrate", Options{}, nil)
	if err == nil || !strings.Contains(err.Error(), "migrate: the mover is held until") {
		t.Errorf("POST /migrate under the hold: %v", err)
	}
	var s Stats
	if err := c.Do(ctx, http.MethodGet, "/mover", nil, &s); err != nil || s.HeldUntil == nil || !s.HeldUntil.Equal(*st.HeldUntil) {
		t.Errorf("GET /mover under the hold: %v, held until %v, want %v", err, s.HeldUntil, st.HeldUntil)
	}
	for i, want := range []bool{true, false} {
		var rel HoldState
		if err := c.Do(ctx, http.MethodDelete, "/hold", nil, &rel); err != nil || rel.Released != want {
			t.Errorf("DELETE /hold #%d: %v, released %v, want %v", i+1, err, rel.Released, want)
		}
	}
	if err := c.Do(ctx, http.MethodPost, "/migrate", Options{DryRun: true}, nil); err != nil {
		t.Errorf("POST /migrate after the release: %v", err)
	}
}
