// Package bench runs tierfs's benchmark suite: the same workloads on a
// native tmpfs directory, on tierfs, on mergerfs and on an emulated NFS
// tier (slowfs), and a report of medians and ratios as a table, JSON and
// an SVG chart.
//
// It is driven by the tierfs-bench command and is deliberately not part of
// `go test ./...`: a full run takes many minutes and needs root.
package bench
