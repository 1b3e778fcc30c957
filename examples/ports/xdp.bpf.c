// SPDX-License-Identifier: GPL-2.0
/* xdp.bpf.c: count the packets an interface receives by IP protocol, and
 * drop UDP to one port, before the kernel allocates anything for them (XDP).
 * Counts are per CPU: no atomic operations on the fast path. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define ETH_P_IP  0x0800
#define NOT_IP    256      /* the slot of everything but IPv4 (ARP, IPv6...) */

struct counter {
	__u64 packets;
	__u64 bytes;
};

const volatile __u16 drop_udp_port = 0;   /* 0: drop nothing */

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 257);              /* IP protocol 0..255, then NOT_IP */
	__type(key, __u32);
	__type(value, struct counter);
} received SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct counter);
} dropped SEC(".maps");

static __always_inline void count(void *map, __u32 slot, __u64 len)
{
	struct counter *c = bpf_map_lookup_elem(map, &slot);

	if (c) {
		c->packets++;
		c->bytes += len;
	}
}

SEC("xdp")
int xdp_count(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct udphdr *udp;
	__u64 len = end - data;

	if ((void *)ip + sizeof(*ip) > end || eth->h_proto != bpf_htons(ETH_P_IP)) {
		count(&received, NOT_IP, len);
		return XDP_PASS;
	}
	count(&received, ip->protocol, len);
	if (ip->protocol != IPPROTO_UDP || !drop_udp_port)
		return XDP_PASS;
	udp = (void *)ip + ip->ihl * 4;
	if ((void *)(udp + 1) > end || udp->dest != bpf_htons(drop_udp_port))
		return XDP_PASS;
	count(&dropped, 0, len);
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
