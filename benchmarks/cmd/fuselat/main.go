// Command fuselat reads the kernel's FUSE tracepoints, as `perf script`
// prints them, and reports for each mount in the trace how many requests
// of each opcode the kernel sent and how long they took from the kernel's
// side: from queueing the request to its reply.
//
// With the daemon's read(2) returns in the trace as well, it splits that
// time into waiting (queued until a daemon thread has read the request)
// and service (from that read to the reply). This is how the README's
// per-request latencies of tierfs and mergerfs were measured:
//
//	perf record -e fuse:fuse_request_send,fuse:fuse_request_end \
//	    -e raw_syscalls:sys_exit --filter 'id == 0' -a -o fuse.data -- \
//	    tierfs-bench -targets tierfs,mergerfs -workloads dovecot -rounds 1
//	perf script -i fuse.data -F comm,tid,time,event,trace | go run ./benchmarks/cmd/fuselat
//
// Requests are matched to mounts by connection number, so mounts that
// are up at the same time (tierfs-bench mounts every target of a round
// at once) stay apart. A FUSE_INIT request starts a new mount (the
// kernel reuses connection numbers); a mount is named after the process
// that answers it.
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
)

func main() {
	mounts, err := parse(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fuselat:", err)
		os.Exit(1)
	}
	report(os.Stdout, mounts)
}

// opStats accumulates the requests of one opcode, times in seconds.
type opStats struct {
	n, split      int
	flight        float64
	wait, service float64
}

// mount is one FUSE connection's requests, from its INIT on.
type mount struct {
	server  string // comm of the process that answered
	ops     map[string]*opStats
	pending map[string]pendingReq // by request number
}

func newMount() *mount {
	return &mount{ops: map[string]*opStats{}, pending: map[string]pendingReq{}}
}

type pendingReq struct {
	at float64
	op string
}

var (
	lineRE = regexp.MustCompile(`^\s*(.+?)\s+(\d+)\s+(\d+\.\d+):\s+(\S+):\s*(.*)$`)
	sendRE = regexp.MustCompile(`connection (\d+) req (\d+) opcode \d+ \((\w+)\)`)
	endRE  = regexp.MustCompile(`connection (\d+) req (\d+)`)
)

// parse reads perf script output and returns the mounts in trace order.
func parse(r io.Reader) ([]*mount, error) {
	var mounts []*mount
	byConn := map[string]*mount{} // connection number → its current mount
	reads := map[string]float64{} // daemon thread → time its last read(2) returned
	mountOf := func(conn string) *mount {
		m := byConn[conn]
		if m == nil { // mounted before the trace started
			m = newMount()
			byConn[conn] = m
			mounts = append(mounts, m)
		}
		return m
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		m := lineRE.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		comm, tid, event, rest := m[1], m[2], m[4], m[5]
		at, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			return nil, fmt.Errorf("bad time in %q: %w", sc.Text(), err)
		}
		switch event {
		case "fuse:fuse_request_send":
			s := sendRE.FindStringSubmatch(rest)
			if s == nil {
				continue
			}
			if s[3] == "FUSE_INIT" {
				delete(byConn, s[1])
			}
			mountOf(s[1]).pending[s[2]] = pendingReq{at, s[3]}
		case "fuse:fuse_request_end":
			e := endRE.FindStringSubmatch(rest)
			if e == nil {
				continue
			}
			if mt := byConn[e[1]]; mt != nil {
				mt.end(comm+"/"+tid, e[2], at, reads)
			}
		case "raw_syscalls:sys_exit":
			if strings.HasPrefix(rest, "NR 0 ") {
				reads[comm+"/"+tid] = at
			}
		}
	}
	return mounts, sc.Err()
}

// end completes request req, whose reply thread wrote at time at. The
// reply is written by the daemon thread that read the request, so that
// thread's last read(2) return (if it is after the request was queued)
// splits the time.
func (m *mount) end(thread, req string, at float64, reads map[string]float64) {
	p, ok := m.pending[req]
	if !ok {
		return
	}
	delete(m.pending, req)
	if m.server == "" && p.op != "FUSE_INIT" {
		m.server, _, _ = strings.Cut(thread, "/")
	}
	st := m.ops[p.op]
	if st == nil {
		st = &opStats{}
		m.ops[p.op] = st
	}
	st.n++
	st.flight += at - p.at
	if rd, ok := reads[thread]; ok && rd >= p.at && rd <= at {
		st.split++
		st.wait += rd - p.at
		st.service += at - rd
		delete(reads, thread)
	}
}

// report prints one table per mount, opcodes by count.
func report(w io.Writer, mounts []*mount) {
	for _, m := range mounts {
		var total opStats
		names := make([]string, 0, len(m.ops))
		for name, st := range m.ops {
			names = append(names, name)
			total.n += st.n
			total.split += st.split
			total.flight += st.flight
			total.wait += st.wait
			total.service += st.service
		}
		if total.n == 0 {
			continue
		}
		sort.Slice(names, func(i, j int) bool {
			a, b := m.ops[names[i]], m.ops[names[j]]
			return a.n > b.n || a.n == b.n && names[i] < names[j]
		})
		fmt.Fprintf(w, "%s: %d requests, %.0f ms in flight\n", m.server, total.n, total.flight*1e3)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "opcode\trequests\tavg µs\twait µs\tservice µs\t")
		for _, name := range names {
			row(tw, strings.TrimPrefix(name, "FUSE_"), m.ops[name])
		}
		row(tw, "all", &total)
		tw.Flush()
		fmt.Fprintln(w)
	}
}

func row(w io.Writer, name string, st *opStats) {
	us := func(sum float64, n int) string {
		if n == 0 {
			return "-"
		}
		return strconv.FormatFloat(sum/float64(n)*1e6, 'f', 1, 64)
	}
	fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t\n", name, st.n, us(st.flight, st.n), us(st.wait, st.split), us(st.service, st.split))
}
