// SPDX-License-Identifier: GPL-2.0
/* link_lib.bpf.c: the other half of link_main.bpf.c */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

extern struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} calls SEC(".maps");

const volatile int factor = 3;           /* .rodata of the linked object */

__noinline int scale(int x)
{
	return x * factor;
}

SEC("raw_tp")
int run_lib(__u64 *ctx)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&calls, &zero);

	return n ? *n : -1;
}
