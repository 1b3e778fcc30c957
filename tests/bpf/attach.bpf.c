// SPDX-License-Identifier: GPL-2.0
/* Attach kinds: tracepoint, raw_tp, tp_btf, uprobe/uretprobe, kprobe, fentry. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

__u32 target_tgid = 0;
__u64 tp_hits = 0, raw_hits = 0, btf_hits = 0, uprobe_hits = 0, uretprobe_hits = 0;
__u64 kprobe_hits = 0, fentry_hits = 0;

static __always_inline bool mine(void)
{
	return (bpf_get_current_pid_tgid() >> 32) == target_tgid;
}

SEC("tracepoint/syscalls/sys_enter_getpgid")
int on_tp(void *ctx) { if (mine()) __sync_fetch_and_add(&tp_hits, 1); return 0; }

/* No kernel has this one: a monitor's optional hook is switched off for it. */
SEC("tracepoint/syscalls/sys_enter_bpfkit_no_such_call")
int on_missing(void *ctx) { return 0; }

SEC("raw_tp/sys_enter")
int on_raw(void *ctx) { if (mine()) __sync_fetch_and_add(&raw_hits, 1); return 0; }

SEC("tp_btf/sched_process_fork")
int BPF_PROG(on_fork, struct task_struct *parent, struct task_struct *child)
{
	if (parent->tgid == target_tgid)
		__sync_fetch_and_add(&btf_hits, 1);
	return 0;
}

SEC("uprobe")
int on_uprobe(void *ctx) { if (mine()) __sync_fetch_and_add(&uprobe_hits, 1); return 0; }

SEC("uretprobe")
int on_uretprobe(void *ctx) { if (mine()) __sync_fetch_and_add(&uretprobe_hits, 1); return 0; }

SEC("kprobe/do_sys_openat2")
int on_kprobe(void *ctx) { if (mine()) __sync_fetch_and_add(&kprobe_hits, 1); return 0; }

SEC("fentry/do_sys_openat2")
int BPF_PROG(on_fentry) { if (mine()) __sync_fetch_and_add(&fentry_hits, 1); return 0; }

char LICENSE[] SEC("license") = "GPL";
