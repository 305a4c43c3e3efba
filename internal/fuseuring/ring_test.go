package fuseuring

import (
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
