// SPDX-License-Identifier: GPL-2.0
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
SEC("tracepoint/syscalls/sys_enter_getpid")
int prog(void *ctx)
{
	struct task_struct *t = (void *)bpf_get_current_task();
	return *(volatile int *)((char *)t + 64); /* plain load of kernel memory */
}
char LICENSE[] SEC("license") = "GPL";
