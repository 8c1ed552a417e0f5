package cgroups

import (
	"encoding/binary"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// On cgroup v2 there are no devices.allow files: the kernel runs an eBPF
// program of type BPF_PROG_TYPE_CGROUP_DEVICE on every open and mknod of a
// device node, and the program returns 1 to allow or 0 to deny. This file
// assembles that program from the device rules, the way runc and crun do,
// without an eBPF library: the program needs nine instruction kinds, and
// writing them out keeps the package's init free and shows a learner what
// runs in the kernel.
//
// The program's input (struct bpf_cgroup_dev_ctx) is three u32s:
//
//	r1+0: access_type = device type (low 16 bits) | access (high 16 bits)
//	r1+4: major
//	r1+8: minor
//
// Program shape, for an allow-list:
//
//	r2 = type; r3 = access; r4 = major; r5 = minor
//	block 0: if r2 != 'c' goto block 1
//	         if (r3 & rw) != r3 goto block 1   # request within the rule's access
//	         if r4 != 1 goto block 1
//	         if r5 != 3 goto block 1
//	         r0 = 1; exit                      # allowed
//	block 1: ...
//	default: r0 = 0; exit                      # denied
//
// In an allow-by-default (deny-list) cgroup the blocks deny, and a rule
// matches when the request shares any access bit with it, as the kernel's
// v1 check does.

// eBPF opcodes used (include/uapi/linux/bpf.h, bpf_common.h).
const (
	opLdxMemW = 0x61 // BPF_LDX|BPF_MEM|BPF_W:  dst = *(u32 *)(src + off)
	opAnd32K  = 0x54 // BPF_ALU|BPF_AND|BPF_K:  dst &= imm
	opRsh32K  = 0x74 // BPF_ALU|BPF_RSH|BPF_K:  dst >>= imm
	opMov32X  = 0xbc // BPF_ALU|BPF_MOV|BPF_X:  dst = src
	opMov32K  = 0xb4 // BPF_ALU|BPF_MOV|BPF_K:  dst = imm
	opJneK    = 0x55 // BPF_JMP|BPF_JNE|BPF_K:  if dst != imm goto +off
	opJneX    = 0x5d // BPF_JMP|BPF_JNE|BPF_X:  if dst != src goto +off
	opJeqK    = 0x15 // BPF_JMP|BPF_JEQ|BPF_K:  if dst == imm goto +off
	opExit    = 0x95 // BPF_JMP|BPF_EXIT:       return r0
)

// insn is one struct bpf_insn, plus the label a jump goes to until the
// program is finished.
type insn struct {
	op       uint8
	dst, src uint8
	off      int16
	imm      int32
	target   int // block number a jump goes to; -1 for none
}

// DeviceProgram is an assembled device filter.
type DeviceProgram struct {
	insns []insn
	text  []string // one line of pseudo-assembly per instruction
	// DefaultAllow is the program's answer when no block matches.
	DefaultAllow bool
	// Rules is the number of exception blocks.
	Rules int
}

// DeviceFilter assembles the eBPF program equivalent to applying rules to a
// fresh cgroup (see DeviceRules).
func DeviceFilter(rules []DeviceRule) (*DeviceProgram, error) {
	st, err := emulate(rules)
	if err != nil {
		return nil, err
	}
	return assemble(st), nil
}

func assemble(st *deviceState) *DeviceProgram {
	p := &DeviceProgram{DefaultAllow: st.defaultAllow, Rules: len(st.ex)}
	var blockStart []int
	p.emit(insn{op: opLdxMemW, dst: 2, src: 1, off: 0, target: -1}, "r2 = *(u32 *)(r1 + 0)   # access_type")
	p.emit(insn{op: opAnd32K, dst: 2, imm: 0xffff, target: -1}, "w2 &= 0xffff            # device type")
	p.emit(insn{op: opLdxMemW, dst: 3, src: 1, off: 0, target: -1}, "r3 = *(u32 *)(r1 + 0)")
	p.emit(insn{op: opRsh32K, dst: 3, imm: 16, target: -1}, "w3 >>= 16               # requested access")
	p.emit(insn{op: opLdxMemW, dst: 4, src: 1, off: 4, target: -1}, "r4 = *(u32 *)(r1 + 4)   # major")
	p.emit(insn{op: opLdxMemW, dst: 5, src: 1, off: 8, target: -1}, "r5 = *(u32 *)(r1 + 8)   # minor")
	exc := st.exceptions()
	for i, r := range exc {
		next := i + 1
		blockStart = append(blockStart, len(p.insns))
		typ := int32(unix.BPF_DEVCG_DEV_CHAR)
		if r.Type == 'b' {
			typ = unix.BPF_DEVCG_DEV_BLOCK
		}
		p.emit(insn{op: opJneK, dst: 2, imm: typ, target: next}, fmt.Sprintf("if r2 != %d goto block%d   # rule %s", typ, next, r))
		a := int32(r.access())
		switch {
		case r.Allow && a != accAll:
			// allowed only if every requested bit is in the rule
			p.emit(insn{op: opMov32X, dst: 1, src: 3, target: -1}, "w1 = w3")
			p.emit(insn{op: opAnd32K, dst: 1, imm: a, target: -1}, fmt.Sprintf("w1 &= %d", a))
			p.emit(insn{op: opJneX, dst: 1, src: 3, target: next}, fmt.Sprintf("if r1 != r3 goto block%d", next))
		case !r.Allow && a != accAll:
			// denied if any requested bit is in the rule
			p.emit(insn{op: opMov32X, dst: 1, src: 3, target: -1}, "w1 = w3")
			p.emit(insn{op: opAnd32K, dst: 1, imm: a, target: -1}, fmt.Sprintf("w1 &= %d", a))
			p.emit(insn{op: opJeqK, dst: 1, imm: 0, target: next}, fmt.Sprintf("if r1 == 0 goto block%d", next))
		}
		if r.Major >= 0 {
			p.emit(insn{op: opJneK, dst: 4, imm: int32(r.Major), target: next}, fmt.Sprintf("if r4 != %d goto block%d", r.Major, next))
		}
		if r.Minor >= 0 {
			p.emit(insn{op: opJneK, dst: 5, imm: int32(r.Minor), target: next}, fmt.Sprintf("if r5 != %d goto block%d", r.Minor, next))
		}
		p.ret(r.Allow)
	}
	blockStart = append(blockStart, len(p.insns))
	p.ret(st.defaultAllow)
	for i := range p.insns {
		if t := p.insns[i].target; t >= 0 {
			p.insns[i].off = int16(blockStart[t] - (i + 1))
		}
	}
	for b, at := range blockStart {
		name := fmt.Sprintf("block%d", b)
		if b == len(blockStart)-1 {
			name += " (default)"
		}
		p.text[at] = name + ": " + p.text[at]
	}
	return p
}

func (p *DeviceProgram) emit(in insn, text string) {
	p.insns = append(p.insns, in)
	p.text = append(p.text, text)
}

func (p *DeviceProgram) ret(allow bool) {
	v := int32(0)
	if allow {
		v = 1
	}
	p.emit(insn{op: opMov32K, dst: 0, imm: v, target: -1}, fmt.Sprintf("w0 = %d%s", v, map[bool]string{true: "                  # allow", false: "                  # deny"}[allow]))
	p.emit(insn{op: opExit, target: -1}, "exit")
}

// Len is the number of instructions.
func (p *DeviceProgram) Len() int { return len(p.insns) }

// Bytes is the program in the kernel's encoding: 8 bytes per instruction,
// code, dst_reg (low nibble) | src_reg (high nibble), off, imm, little
// endian on x86 and arm64.
func (p *DeviceProgram) Bytes() []byte {
	b := make([]byte, 0, 8*len(p.insns))
	for _, in := range p.insns {
		b = append(b, in.op, in.dst&0xf|in.src<<4)
		b = binary.NativeEndian.AppendUint16(b, uint16(in.off))
		b = binary.NativeEndian.AppendUint32(b, uint32(in.imm))
	}
	return b
}

// String is the program as readable pseudo-assembly, one instruction a line.
func (p *DeviceProgram) String() string {
	var b strings.Builder
	for i, t := range p.text {
		fmt.Fprintf(&b, "%3d: %s\n", i, t)
	}
	return b.String()
}
