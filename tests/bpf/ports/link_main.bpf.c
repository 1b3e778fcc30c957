// SPDX-License-Identifier: GPL-2.0
/* link_main.bpf.c + link_lib.bpf.c: one program split over two files, linked
 * into one object by `bpfkit build link_main.bpf.c link_lib.bpf.c -o OUT`
 * (bpftool gen object, libbpf's static linker). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

extern int scale(int x);                 /* defined in link_lib.bpf.c */

struct {                                 /* shared with link_lib.bpf.c */
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} calls SEC(".maps");

SEC("raw_tp")
int run_main(__u64 *ctx)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&calls, &zero);

	if (n)
		__sync_fetch_and_add(n, 1);
	return scale(ctx[0]);
}

char LICENSE[] SEC("license") = "GPL";
