// SPDX-License-Identifier: GPL-2.0
/* syslat.bpf.c: a log2 histogram of syscall latency per syscall, from the
 * sys_enter and sys_exit raw tracepoints (tp_btf: typed arguments, no tracefs).
 * Buckets as libbpf-tools' log2l(): slot 0 holds 0 and 1, slot i [2^i, 2^(i+1)). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#define MAX_SLOTS 27   /* up to 2^27 us: over two minutes */

struct hist {
	__u32 slots[MAX_SLOTS];
};

struct start {
	__u64 ts;
	__u32 nr;
};

const volatile __u32 target_pid = 0;   /* 0: every process */

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, __u32);              /* thread id */
	__type(value, struct start);
} starts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 512);
	__type(key, __u32);              /* syscall number */
	__type(value, struct hist);
} hists SEC(".maps");

/* floor(log2(v)) for v > 0, in a few steps and no loop */
static __always_inline __u32 log2_u64(__u64 v)
{
	__u32 r = 0, shift;

	shift = (v > 0xFFFFFFFF) << 5; v >>= shift; r |= shift;
	shift = (v > 0xFFFF) << 4; v >>= shift; r |= shift;
	shift = (v > 0xFF) << 3; v >>= shift; r |= shift;
	shift = (v > 0xF) << 2; v >>= shift; r |= shift;
	shift = (v > 0x3) << 1; v >>= shift; r |= shift;
	return r | (v >> 1);
}

SEC("tp_btf/sys_enter")
int BPF_PROG(on_enter, struct pt_regs *regs, long id)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct start s = { .ts = bpf_ktime_get_ns(), .nr = id };
	__u32 tid = pid_tgid;

	if (target_pid && (pid_tgid >> 32) != target_pid)
		return 0;
	bpf_map_update_elem(&starts, &tid, &s, BPF_ANY);
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(on_exit, struct pt_regs *regs, long ret)
{
	static const struct hist zero;
	__u32 tid = bpf_get_current_pid_tgid(), slot;
	struct start *s;
	struct hist *h;
	__u64 us;

	s = bpf_map_lookup_elem(&starts, &tid);
	if (!s)
		return 0;
	us = (bpf_ktime_get_ns() - s->ts) / 1000;
	h = bpf_map_lookup_elem(&hists, &s->nr);
	if (!h) {
		bpf_map_update_elem(&hists, &s->nr, &zero, BPF_NOEXIST);
		h = bpf_map_lookup_elem(&hists, &s->nr);
	}
	bpf_map_delete_elem(&starts, &tid);
	if (!h)
		return 0;
	slot = us ? log2_u64(us) : 0;
	if (slot >= MAX_SLOTS)
		slot = MAX_SLOTS - 1;
	__sync_fetch_and_add(&h->slots[slot], 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
