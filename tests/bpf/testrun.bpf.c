// SPDX-License-Identifier: GPL-2.0
/* Programs run with BPF_PROG_TEST_RUN: an XDP filter on a hand-built packet,
 * and a raw tracepoint program given its arguments as the context. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define ETH_P_IP 0x0800

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);   /* IPv4 source address, network order */
	__type(value, __u64); /* packets dropped */
} blocked SEC(".maps");

SEC("xdp")
int xdp_filter(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	__u64 *hits;

	if ((void *)(ip + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	hits = bpf_map_lookup_elem(&blocked, &ip->saddr);
	if (!hits)
		return XDP_PASS;
	__sync_fetch_and_add(hits, 1);
	return XDP_DROP;
}

__u64 last_sum = 0;

SEC("raw_tp/sys_enter")
int sum_args(struct bpf_raw_tracepoint_args *ctx)
{
	last_sum = ctx->args[0] + ctx->args[1];
	return 7;
}

char LICENSE[] SEC("license") = "GPL";
