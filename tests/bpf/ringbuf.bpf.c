// SPDX-License-Identifier: GPL-2.0
/* One event per getppid() of the target process, numbered in the kernel. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "bpfkit.bpf.h"

struct seq_event {
	__u64 seq;
	__u32 pid;
	__u32 tid;
	char comm[16];
};

__u32 target_tgid = 0; /* .bss: set live after load */
__u64 next_seq = 0;

BPFKIT_RINGBUF(events, 1 << 22, struct seq_event);

SEC("tracepoint/syscalls/sys_enter_getppid")
int on_getppid(void *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct seq_event *e;

	if ((id >> 32) != target_tgid)
		return 0;
	e = bpfkit_reserve(events, sizeof(*e));
	if (!e)
		return 0;
	e->seq = __sync_fetch_and_add(&next_seq, 1);
	e->pid = id >> 32;
	e->tid = (__u32)id;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpfkit_submit(ctx, events, e);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
