// SPDX-License-Identifier: GPL-2.0
/* profile.bpf.c: a CPU profiler (libbpf-tools' profile, ported).
 *
 * Runs on every sample of a cpu-clock perf event on each CPU and counts
 * (process, thread name, kernel stack, user stack). The stacks go into a
 * STACK_TRACE map whose value size (the deepest stack kept) and number of
 * entries are set from user space before load, as libbpf-tools does with
 * its perf_max_stack_depth and stack_storage_size. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct sample_key {
	__u32 pid;
	__s32 kernel_stack;   /* stack id in stacks, or -errno: none */
	__s32 user_stack;
	char comm[16];        /* the thread's name */
};

const volatile __u32 target_pid = 0;   /* 0: every process */

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__type(key, __u32);
	/* value_size (depth * 8) and max_entries: set before load */
} stacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, struct sample_key);
	__type(value, __u64);
} counts SEC(".maps");

SEC("perf_event")
int on_sample(struct bpf_perf_event_data *ctx)
{
	__u64 id = bpf_get_current_pid_tgid(), one = 1, *count;
	struct sample_key key = {};

	if ((__u32)id == 0)   /* the idle task */
		return 0;
	key.pid = id >> 32;
	if (target_pid && key.pid != target_pid)
		return 0;
	bpf_get_current_comm(key.comm, sizeof(key.comm));
	key.kernel_stack = bpf_get_stackid(ctx, &stacks, 0);
	key.user_stack = bpf_get_stackid(ctx, &stacks, BPF_F_USER_STACK);

	count = bpf_map_lookup_elem(&counts, &key);
	if (count)
		__sync_fetch_and_add(count, 1);
	else
		bpf_map_update_elem(&counts, &key, &one, BPF_NOEXIST);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
