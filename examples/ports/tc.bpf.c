// SPDX-License-Identifier: GPL-2.0
/* tc.bpf.c: count an interface's packets and bytes per direction and IP
 * protocol, from tc's clsact hooks (a direct-action classifier on ingress
 * and one on egress). Packets always pass (TC_ACT_OK). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define ETH_P_IP   0x0800
#define TC_ACT_OK  0
#define NOT_IP     256

enum direction { INGRESS = 0, EGRESS = 1 };

struct flow_key {
	__u8 direction;        /* enum direction */
	__u8 pad;
	__u16 protocol;        /* IP protocol, or NOT_IP */
};

struct counter {
	__u64 packets;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct flow_key);
	__type(value, struct counter);
} traffic SEC(".maps");

static __always_inline int count(struct __sk_buff *skb, enum direction dir)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	struct flow_key key = { .direction = dir, .protocol = NOT_IP };
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct counter *c, zero = {};

	if ((void *)(ip + 1) <= end && eth->h_proto == bpf_htons(ETH_P_IP))
		key.protocol = ip->protocol;
	c = bpf_map_lookup_elem(&traffic, &key);
	if (!c) {
		bpf_map_update_elem(&traffic, &key, &zero, BPF_NOEXIST);
		c = bpf_map_lookup_elem(&traffic, &key);
		if (!c)
			return TC_ACT_OK;
	}
	__sync_fetch_and_add(&c->packets, 1);
	__sync_fetch_and_add(&c->bytes, skb->len);   /* skb->len: from the Ethernet header */
	return TC_ACT_OK;
}

SEC("tc")
int tc_ingress(struct __sk_buff *skb)
{
	return count(skb, INGRESS);
}

SEC("tc")
int tc_egress(struct __sk_buff *skb)
{
	return count(skb, EGRESS);
}

char LICENSE[] SEC("license") = "GPL";
