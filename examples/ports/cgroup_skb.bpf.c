// SPDX-License-Identifier: GPL-2.0
/* cgroup_skb.bpf.c: count the IP packets and bytes the processes of one
 * cgroup (v2) send and receive. The programs see each packet from its IP
 * header and return 1 to let it through (0 would drop it). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

/* .bss: read live from Python */
__u64 egress_packets, egress_bytes, ingress_packets, ingress_bytes;

SEC("cgroup_skb/egress")
int count_egress(struct __sk_buff *skb)
{
	__sync_fetch_and_add(&egress_packets, 1);
	__sync_fetch_and_add(&egress_bytes, skb->len);
	return 1;
}

SEC("cgroup_skb/ingress")
int count_ingress(struct __sk_buff *skb)
{
	__sync_fetch_and_add(&ingress_packets, 1);
	__sync_fetch_and_add(&ingress_bytes, skb->len);
	return 1;
}

char LICENSE[] SEC("license") = "GPL";
