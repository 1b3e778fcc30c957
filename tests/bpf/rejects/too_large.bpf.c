// SPDX-License-Identifier: GPL-2.0
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
/* A bounded loop the verifier must walk iteration by iteration: 2M iterations
 * of a few instructions each is past its 1M-instruction budget. */
SEC("tracepoint/syscalls/sys_enter_getpid")
int prog(void *ctx)
{
	__u64 acc = 0;
	for (__u32 i = 0; i < 2000000; i++)
		acc += bpf_get_prandom_u32() & i;
	return acc;
}
char LICENSE[] SEC("license") = "GPL";
