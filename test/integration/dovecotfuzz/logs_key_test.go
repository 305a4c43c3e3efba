package dovecotfuzz

import "testing"

// The same problem on two sides, told apart only by time, process,
// session and root, has one key; another user or folder has another.
func TestProblemKey(t *testing.T) {
	const want = "imap(alice): Error: Mailbox Public/Team: stat(<root>/public/.Team/new) failed: No such file or directory"
	tests := []struct {
		line, root string
		same       bool
	}{
		{"Dec 07 14:53:59 imap(alice)<23896><tYAjZQxi+Jh/AAAB>: Error: Mailbox Public/Team: stat(/host-a/mnt/public/.Team/new) failed: No such file or directory", "/host-a/mnt", true},
		{"Dec  7 09:01:02 imap(alice)<31><x>: Error: Mailbox Public/Team: stat(/host-b/mnt/public/.Team/new) failed: No such file or directory", "/host-b/mnt", true},
		{"Dec 07 14:53:59 imap(bob)<23896><tYAjZQxi+Jh/AAAB>: Error: Mailbox Public/Team: stat(/host-a/mnt/public/.Team/new) failed: No such file or directory", "/host-a/mnt", false},
		{"Dec 07 14:53:59 imap(alice)<23896><tYAjZQxi+Jh/AAAB>: Error: Mailbox Public/Team: stat(/host-a/mnt/public/.Team/cur) failed: No such file or directory", "/host-a/mnt", false},
	}
	for _, tt := range tests {
		if got := problemKey(tt.line, tt.root); (got == want) != tt.same {
			t.Errorf("problemKey(%q) = %q; same as %q: %v, want %v", tt.line, got, want, got == want, tt.same)
		}
	}
	stamped := "Dec 07 14:33:07 imap(alice)<1><s>: Error: Mailbox INBOX: Failed to autocreate mailbox: Internal error occurred. Refer to server log for more information. [2026-12-07 14:33:07]"
	if got, want := problemKey(stamped, "/host-a/mnt"), "imap(alice): Error: Mailbox INBOX: Failed to autocreate mailbox: Internal error occurred. Refer to server log for more information."; got != want {
		t.Errorf("problemKey(%q) = %q, want %q", stamped, got, want)
	}
}
