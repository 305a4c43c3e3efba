package bench

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// postmarkWorkload runs Debian's PostMark (a mail/news server small-file
// benchmark), configured on stdin.
type postmarkWorkload struct{}

func (postmarkWorkload) Name() string      { return "postmark" }
func (postmarkWorkload) Metrics() []string { return []string{"postmark"} }

// postmarkConfig is the command script PostMark reads on stdin.
func postmarkConfig(dir string, s Sizes) string {
	return strings.Join([]string{
		"set location " + dir,
		fmt.Sprintf("set number %d", s.PostmarkFiles),
		fmt.Sprintf("set transactions %d", s.PostmarkTx),
		"set subdirectories 10",
		"set size 500 10000",
		"set seed 42",
		"set buffering false",
		"run",
		"quit",
	}, "\n") + "\n"
}

// Run reports PostMark operations per second of wall-clock time, where an
// operation is a file creation or deletion of the setup and teardown
// phases or a transaction. PostMark's own report counts whole seconds,
// too coarse for short runs, so the time is measured here.
func (postmarkWorkload) Run(ctx context.Context, env *Env) ([]Sample, error) {
	bin := env.ws.Opts.PostmarkBin
	cmd := exec.CommandContext(ctx, bin)
	cmd.Stdin = strings.NewReader(postmarkConfig(env.Dir, env.Sizes))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	elapsed := time.Since(start)
	if err != nil {
		return nil, fmt.Errorf("%s: %w\n%s", bin, err, out.String())
	}
	if !strings.Contains(out.String(), "Time:") || strings.Contains(out.String(), "Error") {
		return nil, fmt.Errorf("%s did not complete:\n%s", bin, out.String())
	}
	ops := float64(2*env.Sizes.PostmarkFiles + env.Sizes.PostmarkTx)
	return []Sample{{"postmark", "ops/s", perSecond(ops, elapsed)}}, nil
}
