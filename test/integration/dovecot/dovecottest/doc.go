// Package dovecottest starts throwaway Dovecot servers and tierfs mounts for
// tests and benchmarks.
//
// A Server is a real Dovecot master (the system's /usr/sbin/dovecot) run as a
// child process with its own base_dir, state_dir, log file and configuration,
// serving IMAP and LMTP on 127.0.0.1 ports picked free at start. Its users live
// in a passwd-file; their mail is owned by one unprivileged system account
// (DefaultMailUser, created with useradd -r when missing), and first_valid_uid
// is set to that account's uid so Dovecot accepts it whatever its number.
//
// A Storage is the directory tree Dovecot's mail settings point at: either a
// real tierfs mount over three tier directories (a tmpfs mount of its own, a
// "fast" and a "slow" directory), or, for comparison and for debugging Dovecot
// problems without FUSE in the loop, a plain tree whose top-level subtrees are
// symlinks into the same tier directories. Either way, the tier directories
// can be inspected to see where each file landed.
//
// Everything here needs root and real binaries; callers decide whether a
// missing prerequisite is a skip or a failure.
package dovecottest
