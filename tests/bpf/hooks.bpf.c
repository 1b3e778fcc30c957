// SPDX-License-Identifier: GPL-2.0
/* Hook alternatives declared once. unlink: fentry -> kprobe -> tracepoint
 * (here only the tracepoint works); exec: tp_btf -> raw_tp; never: none of
 * its hooks exists. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "bpfkit.bpf.h"

__u32 target_tgid;
__u64 hits_fentry, hits_kprobe, hits_tp, execs_btf, execs_raw;

static __always_inline bool mine(void)
{
	return (bpf_get_current_pid_tgid() >> 32) == target_tgid;
}

SEC("fentry/do_unlinkat")
int BPF_PROG(unlink_fentry)
{
	if (mine())
		hits_fentry++;
	return 0;
}

SEC("kprobe/do_unlinkat")
int BPF_KPROBE(unlink_kprobe)
{
	if (mine())
		hits_kprobe++;
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_unlinkat")
int unlink_tp(void *ctx)
{
	if (mine())
		hits_tp++;
	return 0;
}

BPFKIT_HOOKS(unlink, unlink_fentry, unlink_kprobe, unlink_tp);

SEC("tp_btf/sched_process_exec")
int BPF_PROG(exec_btf)
{
	execs_btf++;
	return 0;
}

SEC("raw_tp/sched_process_exec")
int exec_raw(void *ctx)
{
	execs_raw++;
	return 0;
}

BPFKIT_HOOKS(exec, exec_btf, exec_raw);

SEC("tracepoint/bpfkit_none/no_such_event")
int never_tp(void *ctx) { return 0; }

SEC("kprobe/bpfkit_no_such_function")
int never_kprobe(void *ctx) { return 0; }

char LICENSE[] SEC("license") = "GPL";
