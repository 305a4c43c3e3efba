package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// maildirWorkload delivers messages the way an MDA writes a maildir:
// create in tmp/, write, fsync, close, rename into new/.
type maildirWorkload struct{}

func (maildirWorkload) Name() string      { return "maildir" }
func (maildirWorkload) Metrics() []string { return []string{"maildir-deliver"} }

func (maildirWorkload) Run(ctx context.Context, env *Env) ([]Sample, error) {
	for _, sub := range []string{"tmp", "new", "cur"} {
		if err := os.Mkdir(filepath.Join(env.Dir, sub), 0o700); err != nil {
			return nil, err
		}
	}
	const text = "From: a@example.com\r\nSubject: benchmark\r\n\r\nlorem ipsum "
	msg := make([]byte, env.Sizes.MsgSize)
	for i := range msg {
		msg[i] = text[i%len(text)]
	}
	pid := os.Getpid()
	v, err := rate(ctx, env.Sizes.MaildirMsgs, func(i int) error {
		base := fmt.Sprintf("1700000000.M%dP%dQ%d.bench", i, pid, i)
		tmp := filepath.Join(env.Dir, "tmp", base)
		if err := writeFileSync(tmp, msg, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY); err != nil {
			return err
		}
		return unix.Rename(tmp, filepath.Join(env.Dir, "new", base))
	})
	if err != nil {
		return nil, fmt.Errorf("maildir-deliver: %w", err)
	}
	ents, err := os.ReadDir(filepath.Join(env.Dir, "new"))
	if err != nil {
		return nil, err
	}
	if len(ents) != env.Sizes.MaildirMsgs {
		return nil, fmt.Errorf("maildir-deliver: new/ has %d messages, want %d", len(ents), env.Sizes.MaildirMsgs)
	}
	return []Sample{{"maildir-deliver", "msgs/s", v}}, nil
}
