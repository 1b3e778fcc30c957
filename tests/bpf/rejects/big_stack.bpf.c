// SPDX-License-Identifier: GPL-2.0
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
/* Each function fits in 512 bytes alone; the call chain does not. (A socket
 * filter: newer kernels give tracing programs a larger private stack.) */
static __noinline int inner(int n)
{
	volatile char buf[320];
	buf[n & 255] = n;
	return buf[(n + 1) & 255];
}
SEC("socket")
int prog(struct __sk_buff *skb)
{
	volatile char buf[320];
	int n = skb->len;
	buf[n & 255] = 1;
	return inner(n) + buf[(n + 3) & 255];
}
char LICENSE[] SEC("license") = "GPL";
