package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// checkConfig builds a config over tiers given as (kind, path) pairs,
// with a catch-all rule.
func checkConfig(t *testing.T, tiers ...string) *Config {
	t.Helper()
	var b strings.Builder
	for i := 0; i < len(tiers); i += 2 {
		b.WriteString("[[tier]]\nname = \"t" + string(rune('a'+i/2)) + "\"\npath = \"" + tiers[i+1] + "\"\nkind = \"" + tiers[i] + "\"\n")
	}
	b.WriteString("[[rule]]\nmatch = \"**\"\ntier = \"ta\"\n")
	c, err := Parse("cfg", []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func mkdirs(t *testing.T, root string, dirs ...string) {
	t.Helper()
	for _, d := range dirs {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCheck(t *testing.T) {
	root := t.TempDir()
	mkdirs(t, root, "fast/m", "fast/sub", "slow", "shm", "mnt", "nested/inner", "bind")
	if err := os.WriteFile(filepath.Join(root, "file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{"fastlink": "fast", "sublink": "fast/sub", "filelink": "file", "dangling": "gone"} {
		if err := os.Symlink(filepath.Join(root, target), filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	bindOK := bindMount(t, filepath.Join(root, "slow"), filepath.Join(root, "bind"))
	r := func(p string) string { return filepath.Join(root, p) }

	tests := []struct {
		name       string
		tiers      []string
		mountpoint string
		field      string // "" means Check must succeed
		reason     string
		needBind   bool
	}{
		{"good", []string{"tmpfs", r("shm/t"), "local", r("fast"), "nfs", r("slow")}, r("mnt"), "", "", false},
		{"good without mount point", []string{"local", r("fast")}, "", "", "", false},
		{"local missing", []string{"local", r("fast"), "local", r("gone")}, "", "tier[2].path", "does not exist", false},
		{"nfs missing", []string{"nfs", r("gone")}, "", "tier[1].path", "does not exist", false},
		{"not a directory", []string{"local", r("file")}, "", "tier[1].path", "is not a directory", false},
		{"tmpfs parent missing", []string{"tmpfs", r("nope/t")}, "", "tier[1].path", "neither does its parent", false},
		{"tmpfs parent is a file", []string{"tmpfs", r("file/t")}, "", "tier[1].path", "is not a directory", false},
		{"same path", []string{"local", r("fast"), "nfs", r("fast/")}, "", "tier[2].path", `is the same directory as tier[1] "ta"`, false},
		{"same via symlink", []string{"local", r("fast"), "local", r("fastlink")}, "", "tier[2].path", "is the same directory as tier[1]", false},
		{"same via bind mount", []string{"local", r("slow"), "local", r("bind")}, "", "tier[2].path", "same device and inode", true},
		{"nested", []string{"local", r("nested"), "local", r("nested/inner")}, "", "tier[2].path", `is inside tier[1] "ta"`, false},
		{"nesting", []string{"local", r("nested/inner"), "local", r("nested")}, "", "tier[2].path", `contains tier[1] "ta"`, false},
		{"tmpfs nested", []string{"local", r("fast"), "tmpfs", r("fast/shm")}, "", "tier[2].path", "is inside tier[1]", false},
		{"tier is mount point", []string{"local", r("mnt")}, r("mnt"), "tier[1].path", "is the mount point", false},
		{"tier inside mount point", []string{"local", r("nested/inner")}, r("nested"), "tier[1].path", "is inside the mount point", false},
		{"mount point inside tier", []string{"local", r("nested")}, r("nested/inner"), "mount point", `is inside tier[1] "ta"`, false},
		{"mount point inside tier via symlink", []string{"local", r("fast")}, r("fastlink/m"), "mount point", "is inside tier[1]", false},
		{"mount point is a symlink into a tier", []string{"local", r("fast")}, r("sublink"), "mount point", `"` + r("sublink") + `" is inside tier[1] "ta"`, false},
		{"mount point is a symlink to a tier", []string{"local", r("fast")}, r("fastlink"), "tier[1].path", "is the mount point", false},
		{"mount point is a file", []string{"local", r("fast")}, r("file"), "mount point", `"` + r("file") + `" is not a directory`, false},
		{"mount point is a symlink to a file", []string{"local", r("fast")}, r("filelink"), "mount point", "is not a directory", false},
		{"mount point missing", []string{"local", r("fast")}, r("gone"), "mount point", `"` + r("gone") + `" does not exist`, false},
		{"mount point is a dangling symlink", []string{"local", r("fast")}, r("dangling"), "mount point", "does not exist", false},
		{"relative mount point", []string{"local", r("fast")}, "mnt", "mount point", "is not an absolute path", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.needBind && !bindOK {
				if os.Getenv("TIERFS_REQUIRE_INTEGRATION") == "1" {
					t.Fatal("bind mount unavailable")
				}
				t.Skip("bind mount needs root")
			}
			err := checkConfig(t, tt.tiers...).Check(tt.mountpoint)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Check = %v", err)
				}
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("Check = %v, want a *FieldError", err)
			}
			want := "cfg: " + tt.field + ": "
			if fe.Field != tt.field || !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("Check = %q, want prefix %q and reason %q", err, want, tt.reason)
			}
		})
	}
}

// bindMount bind-mounts src on dst for the test, reporting whether it could.
func bindMount(t *testing.T, src, dst string) bool {
	if err := syscall.Mount(src, dst, "", syscall.MS_BIND, ""); err != nil {
		return false
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dst, 0); err != nil {
			_ = syscall.Unmount(dst, syscall.MNT_DETACH)
		}
	})
	return true
}

// TestCheckSpace compares min_free and target_free of different units on
// the tier's capacity.
func TestCheckSpace(t *testing.T) {
	dir := t.TempDir()
	var fs syscall.Statfs_t
	if err := syscall.Statfs(dir, &fs); err != nil {
		t.Fatal(err)
	}
	capacity := fs.Blocks * uint64(fs.Bsize)
	tests := []struct {
		name, min, target string
		ok                bool
	}{
		{"percent over bytes", "4096", "1%", capacity/100 >= 4096},
		{"bytes over percent", "50%", "4096", false},
		{"more than the tier", "1%", "1TiB", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := "[[tier]]\nname = \"a\"\npath = \"" + dir + "\"\nkind = \"local\"\nmin_free = \"" + tt.min + "\"\ntarget_free = \"" + tt.target + "\"\n[[rule]]\nmatch = \"**\"\ntier = \"a\"\n"
			c, err := Parse("cfg", []byte(cfg))
			if err != nil {
				t.Fatal(err)
			}
			err = c.Check("")
			if tt.ok != (err == nil) {
				t.Fatalf("Check = %v, want ok %v", err, tt.ok)
			}
			if err != nil && !strings.HasPrefix(err.Error(), "cfg: tier[1].target_free: ") {
				t.Errorf("Check = %q, want the field tier[1].target_free", err)
			}
		})
	}
}
