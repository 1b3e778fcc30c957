// SPDX-License-Identifier: GPL-2.0
/* Maps of maps: the program reads key 0 of whichever inner map the outer
 * slot (raw_tp argument 0) holds, and writes key 1 of it. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
};

struct inner inner_a SEC(".maps"), inner_b SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct inner);
} outer SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, 8);
	__type(key, __u32);
	__array(values, struct inner);
} by_tenant SEC(".maps");

__u64 seen;

static __always_inline int read_through(void *outer_map, __u32 key, __u64 mark)
{
	__u32 zero = 0, one = 1;
	__u64 *v;
	void *in;

	in = bpf_map_lookup_elem(outer_map, &key);
	if (!in)
		return -1;
	v = bpf_map_lookup_elem(in, &zero);
	if (!v)
		return -2;
	seen = *v;
	bpf_map_update_elem(in, &one, &mark, BPF_ANY);
	return 0;
}

SEC("raw_tp/sys_enter")
int read_outer(__u64 *ctx)
{
	return read_through(&outer, (__u32)ctx[0], ctx[1]);
}

SEC("raw_tp/sys_enter")
int read_tenant(__u64 *ctx)
{
	return read_through(&by_tenant, (__u32)ctx[0], ctx[1]);
}

char LICENSE[] SEC("license") = "GPL";
