// Package policy decides where files live: the path globs with {hash} and
// {user} captures, the rule list that maps a path to a tier, and Dovecot's
// %2.256Nu user hash. It is pure computation and issues no syscalls, so
// the FUSE hot path can call it freely.
package policy
