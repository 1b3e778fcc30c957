// SPDX-License-Identifier: GPL-2.0
/* tcx.bpf.c: a tc program in libbpf 1.3+'s tcx section: attached as a tcx
 * link (no qdisc) where libbpf has them; an older libbpf does not know the
 * section, and the program is then typed from Python and attached to clsact. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#define TCX_NEXT_ -1 /* enum tcx_action_base: not in vmlinux.h of kernels before 6.6 */

__u64 packets;

SEC("tcx/ingress")
int count_in(struct __sk_buff *skb)
{
	__sync_fetch_and_add(&packets, 1);
	return TCX_NEXT_;
}

char LICENSE[] SEC("license") = "GPL";
