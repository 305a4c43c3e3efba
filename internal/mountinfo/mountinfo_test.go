package mountinfo

import "testing"

func TestUnescape(t *testing.T) {
	for p, want := range map[string]string{`/srv/my\040mail`: "/srv/my mail", `/a\\b`: `/a\\b`, "/plain": "/plain", `/t\011x\134`: "/t\tx\\"} {
		if got := Unescape(p); got != want {
			t.Errorf("Unescape(%q) = %q, want %q", p, got, want)
		}
	}
}

func TestParseLine(t *testing.T) {
	tests := []struct {
		line string
		want Entry
		ok   bool
	}{
		{`36 35 0:52 / /srv/my\040mail rw,nosuid shared:1 - fuse.tierfs /etc/tierfs/a\040b.toml rw,user_id=0`,
			Entry{MountPoint: "/srv/my mail", Dev: "0:52", FSType: "fuse.tierfs", Source: "/etc/tierfs/a b.toml", SuperOptions: "rw,user_id=0"}, true},
		{"42 27 0:39 / /tmp/a\\040b rw,nosuid - fuse.tierfs /etc/t.toml rw,user_id=0",
			Entry{MountPoint: "/tmp/a b", Dev: "0:39", FSType: "fuse.tierfs", Source: "/etc/t.toml", SuperOptions: "rw,user_id=0"}, true},
		{"36 25 0:32 / /mnt rw shared:1 master:2 - tmpfs tmpfs rw",
			Entry{MountPoint: "/mnt", Dev: "0:32", FSType: "tmpfs", Source: "tmpfs", SuperOptions: "rw"}, true},
		{"36 35 0:52 / /x rw", Entry{}, false},
		{"garbage", Entry{}, false},
	}
	for _, tc := range tests {
		got, ok := ParseLine(tc.line)
		if ok != tc.ok || got != tc.want {
			t.Errorf("ParseLine(%q) = %+v, %v; want %+v, %v", tc.line, got, ok, tc.want, tc.ok)
		}
	}
}

func TestReadFindsRoot(t *testing.T) {
	es, err := Read()
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		if e.MountPoint == "/" {
			return
		}
	}
	t.Errorf("no entry for / among %d mounts", len(es))
}
