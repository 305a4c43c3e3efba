package dovecot

import (
	"testing"
	"time"
)

func TestParseMaildirName(t *testing.T) {
	tests := []struct {
		name      string
		ok        bool
		delivered int64
		size      int64
		flags     string
		seen      bool
	}{
		{"1700000000.M123P456.host,S=1234,W=1260:2,S", true, 1700000000, 1234, "S", true},
		{"1700000000.M123P456.host,S=1234,W=1260:2,FRS", true, 1700000000, 1234, "FRS", true},
		{"1700000000.M123P456.host,S=1234:2,", true, 1700000000, 1234, "", false},
		{"1700000000.M123P456.host:2,RT", true, 1700000000, -1, "RT", false},
		{"1700000000.M123P456.host", true, 1700000000, -1, "", false},
		{"1700000000.M1P2.host!2,S", true, 1700000000, -1, "S", true},
		{"dovecot-uidlist", false, 0, 0, "", false},
		{".temp.host.1.x", false, 0, 0, "", false},
		{"170000.", false, 0, 0, "", false},
		{"u.12", false, 0, 0, "", false},
	}
	for _, tt := range tests {
		m, ok := ParseMaildirName(tt.name)
		if ok != tt.ok {
			t.Errorf("%q: ok = %v, want %v", tt.name, ok, tt.ok)
			continue
		}
		if !ok {
			continue
		}
		if !m.Delivered.Equal(time.Unix(tt.delivered, 0)) || m.Size != tt.size || m.Flags != tt.flags || m.Seen() != tt.seen {
			t.Errorf("%q: got %+v seen=%v", tt.name, m, m.Seen())
		}
	}
}

func TestMustSurvive(t *testing.T) {
	tests := map[string]bool{
		"index/f5/alice/mailboxes/INBOX/dovecot.index":                             true,
		"index/f5/alice/mailboxes/INBOX/dovecot.index.log":                         true,
		"index/f5/alice/mailboxes/INBOX/dovecot.index.cache":                       true,
		"index/f5/alice/mailboxes/INBOX/dovecot.index.backup":                      true,
		"index/f5/alice/mailboxes/INBOX/dovecot.index.tmp":                         false,
		"index/f5/alice/mailboxes/INBOX/dovecot.index.log.newlock":                 false,
		"index/f5/alice/storage/dovecot.map.index.log":                             true,
		"index/f5/alice/dovecot-uidlist":                                           true,
		"index/f5/alice/dovecot-uidlist.lock":                                      false,
		"index/f5/alice/.Sent/dovecot-keywords":                                    true,
		"index/f5/alice/subscriptions":                                             true,
		"mail/f5/alice/dovecot-uidvalidity.65a1b2c3":                               true,
		"mail/f5/alice/cur/1700000000.M1P2.h,S=10:2,S":                             true,
		"mail/f5/alice/new/1700000000.M1P2.h":                                      true,
		"mail/f5/alice/tmp/1700000000.M1P2.h":                                      false,
		"mail/f5/alice/mailboxes/INBOX/dbox-Mails/u.1":                             true,
		"mail/f5/alice/mailboxes/INBOX/dbox-Mails/.temp.x":                         false,
		"mail/f5/alice/storage/m.7":                                                true,
		"mail/f5/alice/storage/m.x":                                                false,
		"listindex/f5/alice/dovecot.list.index":                                    false,
		"listindex/f5/alice/dovecot.list.index.log":                                false,
		"volatile/f5/alice/mailboxes.lockda39a3ee5e6b4b0d3255bfef95601890afd80709": false,
		"volatile/f5/alice/dovecot-vsize.lock.0123":                                false,
	}
	for p, want := range tests {
		if got := MustSurvive(p); got != want {
			t.Errorf("MustSurvive(%q) = %v, want %v", p, got, want)
		}
	}
}
