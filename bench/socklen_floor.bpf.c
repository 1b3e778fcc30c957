// SPDX-License-Identifier: GPL-2.0
/* The floor of bench/dnswatch.py: empty programs on the two tracepoints
 * dnswatch uses. What any tool hooking them costs each socket send and
 * receive, so that dnswatch's own filter can be told apart from it. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

SEC("tp_btf/sock_send_length")
int BPF_PROG(floor_send, struct sock *sk, int ret, int flags)
{
	return 0;
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(floor_recv, struct sock *sk, int ret, int flags)
{
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
