// SPDX-License-Identifier: GPL-2.0
/* custom.bpf.c: programs under section names libbpf does not know. They load
 * only once Python says what they are: prog.set_type() and, for kinds whose
 * attach point is part of the type, prog.set_expected_attach_type(). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

__u64 egress_packets;

/* a socket filter: keeps packets longer than 4 bytes */
SEC("bpfkit_custom/filter")
int custom_filter(struct __sk_buff *skb)
{
	return skb->len > 4 ? skb->len : 0;
}

/* a cgroup_skb program, for the cgroup's egress */
SEC("bpfkit_custom/egress")
int custom_egress(struct __sk_buff *skb)
{
	__sync_fetch_and_add(&egress_packets, 1);
	return 1;
}

char LICENSE[] SEC("license") = "GPL";
