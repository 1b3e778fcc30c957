// SPDX-License-Identifier: GPL-2.0
/* syscount.bpf.c: count syscalls (and failed ones) per syscall number, from
 * the raw_syscalls:sys_exit tracepoint, into whichever of two count maps
 * slot 0 of `live` holds. User space swaps the other one in every interval,
 * then reads and empties the one it took out. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "bpfkit.bpf.h"      /* struct bpfkit_sys_exit: the tracepoint's stable record */

struct counts {
	__u64 calls;
	__u64 errors;
};

struct counts_map {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);                /* syscall number */
	__type(value, struct counts);
};

struct counts_map counts_a SEC(".maps"), counts_b SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct counts_map);
} live SEC(".maps") = {
	.values = { &counts_a },
};

const volatile __u32 target_pid = 0;   /* 0: every process */

SEC("tracepoint/raw_syscalls/sys_exit")
int on_exit(struct bpfkit_sys_exit *ctx)
{
	struct counts *c, first = { .calls = 1, .errors = ctx->ret < 0 };
	__u32 nr = ctx->nr, zero = 0;
	void *counts;

	if (target_pid && (bpf_get_current_pid_tgid() >> 32) != target_pid)
		return 0;
	if (ctx->nr < 0)   /* not a syscall (ptrace games) */
		return 0;
	counts = bpf_map_lookup_elem(&live, &zero);
	if (!counts)
		return 0;
	c = bpf_map_lookup_elem(counts, &nr);
	if (!c) {
		if (!bpf_map_update_elem(counts, &nr, &first, BPF_NOEXIST))
			return 0;
		c = bpf_map_lookup_elem(counts, &nr);   /* another CPU made it first */
		if (!c)
			return 0;
	}
	__sync_fetch_and_add(&c->calls, 1);
	if (ctx->ret < 0)
		__sync_fetch_and_add(&c->errors, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
