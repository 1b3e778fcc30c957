// SPDX-License-Identifier: GPL-2.0
/* bpfkit.trace against the kernel: a bpf_printk for the trace_pipe reader, syscall
 * numbers and the cgroup id as the kernel reports them, a user stack to symbolise. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "bpfkit.bpf.h"

__u32 target_tgid = 0;
__u64 token = 0;
__s32 nr_getppid = -1, nr_openat = -1;
__u64 cgroup_id = 0;
__u64 ustack[32];
__s64 ustack_bytes = -1;

static __always_inline bool mine(void)
{
	return (bpf_get_current_pid_tgid() >> 32) == target_tgid;
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int on_getppid(struct bpfkit_sys_enter *ctx)
{
	if (!mine())
		return 0;
	nr_getppid = ctx->nr;
	cgroup_id = bpf_get_current_cgroup_id();
	bpf_printk("bpfkit-trace %llu nr=%d", token, ctx->nr);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_openat")
int on_openat(struct bpfkit_sys_enter *ctx)
{
	if (mine())
		nr_openat = ctx->nr;
	return 0;
}

SEC("uprobe")
int on_leaf(struct pt_regs *ctx)
{
	if (mine())
		ustack_bytes = bpf_get_stack(ctx, ustack, sizeof(ustack), BPF_F_USER_STACK);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
