package fuseuring

import (
	"os"
	"slices"
	"testing"
	"unsafe"
)

func TestABISizes(t *testing.T) {
	for _, tc := range []struct {
		name      string
		got, want uintptr
	}{
		{"fuse_uring_ent_in_out", unsafe.Sizeof(EntInOut{}), 32},
		{"fuse_uring_cmd_req", unsafe.Sizeof(cmdReq{}), 24},
		{"io_uring_sqe (SQE128)", unsafe.Sizeof(sqe{}), sqeSize},
		{"io_uring_cqe", unsafe.Sizeof(CQE{}), cqeSize},
		{"io_uring_params", unsafe.Sizeof(ringParams{}), 120},
	} {
		if tc.got != tc.want {
			t.Errorf("%s is %d bytes, want %d", tc.name, tc.got, tc.want)
		}
	}
	if off := unsafe.Offsetof(sqe{}.Cmd); off != 48 {
		t.Errorf("SQE command area at offset %d, want 48", off)
	}
	if HeaderSize != 288 {
		t.Errorf("fuse_uring_req_header is %d bytes, want 288", HeaderSize)
	}
}

func TestParseCPUList(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []int
	}{
		{"0", []int{0}},
		{"0-1", []int{0, 1}},
		{"0-2,4,6-7", []int{0, 1, 2, 4, 6, 7}},
		{"", nil},
		{"1-0", nil},
		{"a", nil},
	} {
		got, err := ParseCPUList(tc.in)
		if tc.want == nil {
			if err == nil {
				t.Errorf("ParseCPUList(%q) = %v, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("ParseCPUList(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

// A registration that worked completes only when a request arrives,
// which can be before RegisterError looks: such a completion must stay
// on the ring for Reap (taking it for an error lost the request and hung
// its caller). A NOP stands in for the delivered request, a REGISTER on
// a regular file for a refused one.
func TestRegisterErrorLeavesRequests(t *testing.T) {
	u, err := NewRing(4)
	if err != nil {
		if os.Getenv("TIERFS_REQUIRE_INTEGRATION") == "1" {
			t.Fatalf("no io_uring: %v", err)
		}
		t.Skipf("no io_uring: %v", err)
	}
	defer u.Close()
	u.push(func(q *sqe) { q.Opcode, q.UserData = 0, 7 }) // IORING_OP_NOP
	if err := u.RegisterError(0); err != nil {
		t.Fatalf("RegisterError with a request waiting = %v, want nil", err)
	}
	var got []uint64
	u.Reap(func(c *CQE) bool { got = append(got, c.UserData); return true })
	if !slices.Equal(got, []uint64{7}) {
		t.Fatalf("Reap after RegisterError saw %v, want the waiting completion [7]", got)
	}

	// Not /dev/null: it takes any command (for benchmarking io_uring).
	f, err := os.CreateTemp(t.TempDir(), "not-fuse")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	e, err := NewEntry(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Free()
	u.Register(int(f.Fd()), 0, e, 1)
	if err := u.RegisterError(0); err == nil {
		t.Fatal("RegisterError of a REGISTER on a regular file = nil, want the kernel's refusal")
	}
}
