package dovecottest

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"os/user"
	"strconv"
)

// DefaultMailUser is the system account that owns all test mail. A
// dedicated account (rather than nobody) keeps test files recognisable and
// gives Dovecot a uid that no other service uses.
const DefaultMailUser = "tierfsmail"

// Account is a system account's numeric identity.
type Account struct {
	Name string
	UID  int
	GID  int
}

// EnsureMailUser looks up the system account name and creates it as a
// system user without home directory or login shell when it is missing.
func EnsureMailUser(ctx context.Context, name string) (Account, error) {
	u, err := user.Lookup(name)
	var unknown user.UnknownUserError
	if errors.As(err, &unknown) {
		cmd := exec.CommandContext(ctx, "useradd", "--system", "--user-group",
			"--no-create-home", "--home-dir", "/nonexistent",
			"--shell", "/usr/sbin/nologin", name)
		out, addErr := cmd.CombinedOutput()
		// Another test process may have created it meanwhile.
		if u, err = user.Lookup(name); err != nil && addErr != nil {
			return Account{}, fmt.Errorf("useradd %s: %w: %s", name, addErr, out)
		}
	}
	if err != nil {
		return Account{}, fmt.Errorf("look up mail user %s: %w", name, err)
	}
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		return Account{}, fmt.Errorf("mail user %s: uid %q: %w", name, u.Uid, err)
	}
	gid, err := strconv.Atoi(u.Gid)
	if err != nil {
		return Account{}, fmt.Errorf("mail user %s: gid %q: %w", name, u.Gid, err)
	}
	if uid == 0 {
		return Account{}, fmt.Errorf("mail user %s is uid 0: Dovecot refuses to deliver as root", name)
	}
	return Account{Name: name, UID: uid, GID: gid}, nil
}
