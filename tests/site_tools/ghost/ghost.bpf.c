// SPDX-License-Identifier: GPL-2.0
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "bpfkit.bpf.h"
#include "ghost.h"

BPFKIT_RINGBUF(events, 1 << 16, struct ghost_event);

SEC("tracepoint/bpfkit_none/no_such_event")
int ghost_tp(void *ctx)
{
	struct ghost_event *e = bpfkit_reserve(events, sizeof(*e));

	if (!e)
		return 0;
	e->ts_ns = bpf_ktime_get_ns();
	e->pid = bpf_get_current_pid_tgid() >> 32;
	bpfkit_submit(ctx, events, e);
	return 0;
}

BPFKIT_HOOKS(ghost, ghost_tp);

char LICENSE[] SEC("license") = "GPL";
