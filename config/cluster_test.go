package config

import (
	"slices"
	"strings"
	"testing"
	"time"
)

const clusterTiers = `
[[tier]]
name = "tmp"
path = "/dev/shm/t"
kind = "tmpfs"

[[tier]]
name = "fast"
path = "/srv/fast"
kind = "nfs"
shared = true

[[tier]]
name = "slow"
path = "/srv/slow"
kind = "nfs"
shared = true

[[rule]]
match = "volatile/**"
tier = "tmp"

[[rule]]
match = "**"
tier = "fast"
`

func TestParseCluster(t *testing.T) {
	c, err := Parse("test.toml", []byte(clusterTiers+"\n[cluster]\nhost = \"mx1\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	cl := c.Cluster
	if cl == nil || cl.Host != "mx1" {
		t.Fatalf("Cluster = %+v", cl)
	}
	if cl.HostTimeout.Duration != DefaultHostTimeout || cl.ReleaseAfter.Duration != DefaultReleaseAfter || cl.LeaseWait.Duration != DefaultLeaseWait || cl.SharedTimeout.Duration != DefaultSharedTimeout {
		t.Errorf("defaults: %v %v %v %v", cl.HostTimeout, cl.ReleaseAfter, cl.LeaseWait, cl.SharedTimeout)
	}
	if !slices.Equal(cl.Users, DefaultUsers()) || len(cl.UserDirs) != len(cl.Users) {
		t.Errorf("Users = %q (%d compiled)", cl.Users, len(cl.UserDirs))
	}
	if dir, capt, ok := cl.UserDirs[3].UserDir("mail/ab/bob/cur/x"); !ok || dir != "mail/ab/bob" || capt.User != "bob" {
		t.Errorf("UserDir = %q %+v %v", dir, capt, ok)
	}
	if got := c.LeaseTier(); got != 1 {
		t.Errorf("LeaseTier = %d, want 1", got)
	}
	c, err = Parse("test.toml", []byte(clusterTiers+`
[cluster]
host = "mx2.example"
host_timeout = "10s"
release_after = "0s"
lease_wait = "1s"
users = ["mail/{hash}/{user}"]
shared_timeout = "0s"
`))
	if err != nil {
		t.Fatal(err)
	}
	if cl := c.Cluster; cl.HostTimeout.Duration != 10*time.Second || cl.ReleaseAfter.Duration != 0 || cl.LeaseWait.Duration != time.Second || len(cl.UserDirs) != 1 || cl.SharedTimeout.Duration != 0 {
		t.Errorf("Cluster = %+v", cl)
	}
	c, err = Parse("test.toml", []byte(goodConfig))
	if err != nil || c.Cluster != nil || c.LeaseTier() != -1 {
		t.Errorf("no [cluster]: %+v, %v", c.Cluster, err)
	}
}

func TestParseClusterErrors(t *testing.T) {
	unshared := strings.Replace(clusterTiers, "kind = \"nfs\"\nshared = true\n\n[[tier]]\nname = \"slow\"", "kind = \"nfs\"\n\n[[tier]]\nname = \"slow\"", 1)
	tests := []struct {
		name, config, want string
	}{
		{"no host", clusterTiers + "[cluster]\n", `cluster.host: missing`},
		{"bad host", clusterTiers + "[cluster]\nhost = \"mx 1\"\n", `cluster.host: "mx 1": use at most 64`},
		{"long host", clusterTiers + "[cluster]\nhost = \"" + strings.Repeat("h", 65) + "\"\n", `cluster.host: "hhh`},
		{"short timeout", clusterTiers + "[cluster]\nhost = \"a\"\nhost_timeout = \"1s\"\n", `cluster.host_timeout: "1s" is below the minimum of 3s`},
		{"negative release", clusterTiers + "[cluster]\nhost = \"a\"\nrelease_after = \"-1s\"\n", `cluster.release_after: "-1s"`},
		{"negative wait", clusterTiers + "[cluster]\nhost = \"a\"\nlease_wait = \"-1s\"\n", `cluster.lease_wait: "-1s"`},
		{"negative shared timeout", clusterTiers + "[cluster]\nhost = \"a\"\nshared_timeout = \"-2s\"\n", `cluster.shared_timeout: "-2s"`},
		{"no users", clusterTiers + "[cluster]\nhost = \"a\"\nusers = []\n", `cluster.users: empty`},
		{"user glob **", clusterTiers + "[cluster]\nhost = \"a\"\nusers = [\"mail/**/{user}\"]\n", `cluster.users[1]: "mail/**/{user}": the last segment must be {user}`},
		{"user glob no user", clusterTiers + "[cluster]\nhost = \"a\"\nusers = [\"mail/{hash}\"]\n", `cluster.users[1]: "mail/{hash}"`},
		{"user glob bad", clusterTiers + "[cluster]\nhost = \"a\"\nusers = [\"mail/[\"]\n", `cluster.users[1]: `},
		{"unknown key", clusterTiers + "[cluster]\nhost = \"a\"\nlease = \"1s\"\n", `cluster.lease: unknown key (want host, host_timeout, release_after, lease_wait, users, shared_timeout)`},
		{"shared without cluster", clusterTiers, `tier[2].shared: a shared tier needs a [cluster] table`},
		{"unshared persistent", unshared + "[cluster]\nhost = \"a\"\n", `tier[2].shared: false, but in a cluster every persistent tier must be shared`},
		{"shared tmpfs", strings.Replace(clusterTiers, "kind = \"tmpfs\"", "kind = \"tmpfs\"\nshared = true", 1) + "[cluster]\nhost = \"a\"\n", `tier[1].shared: a tmpfs tier is per host`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("test.toml", []byte(tc.config))
			if err == nil || !strings.Contains(err.Error(), "test.toml: "+tc.want) {
				t.Errorf("error = %v\nwant it to contain %q", err, tc.want)
			}
		})
	}
}
