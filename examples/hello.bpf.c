// SPDX-License-Identifier: GPL-2.0
/* hello.bpf.c: counts openat calls per uid, streams one event per call,
 * takes its configuration from .rodata and keeps counters in .bss. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "bpfkit.bpf.h"

struct event {
	__u32 pid;
	__u32 uid;
	char comm[16];
	char filename[256];
};

const volatile __u32 target_uid = (__u32)-1;  /* -1: every uid */

__u64 total_calls = 0;
bool enabled;  /* .bss, so false until Python sets it */

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);   /* uid */
	__type(value, __u64); /* openat calls */
} counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);   /* tid */
	__type(value, __u64); /* start time, ns */
} start_ts SEC(".maps");

BPFKIT_RINGBUF(events, 1 << 20, struct event);

SEC("tracepoint/syscalls/sys_enter_openat")
int handle_openat(struct trace_event_raw_sys_enter *ctx)
{
	__u32 uid = (__u32)bpf_get_current_uid_gid();
	__u64 one = 1, *count;
	struct event *e;

	if (!enabled || (target_uid != (__u32)-1 && uid != target_uid))
		return 0;
	__sync_fetch_and_add(&total_calls, 1);

	count = bpf_map_lookup_elem(&counts, &uid);
	if (count)
		__sync_fetch_and_add(count, 1);
	else
		bpf_map_update_elem(&counts, &uid, &one, BPF_NOEXIST);

	e = bpfkit_reserve(events, sizeof(*e));
	if (!e)
		return 0;
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->uid = uid;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_probe_read_user_str(e->filename, sizeof(e->filename), (const char *)ctx->args[1]);
	bpfkit_submit(ctx, events, e);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
