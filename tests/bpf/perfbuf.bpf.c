// SPDX-License-Identifier: GPL-2.0
/* A native PERF_EVENT_ARRAY written with bpf_perf_event_output: one sample
 * per getppid() of the target process. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct perf_sample {
	__u64 seq;
	__u32 pid;
	__u32 cpu;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} samples SEC(".maps");

/* a global of the type keeps it in BTF, so Python can decode samples by name */
struct perf_sample *perf_sample_type;
__u32 target_tgid;
__u64 next_seq, failed;

SEC("tracepoint/syscalls/sys_enter_getppid")
int on_getppid(void *ctx)
{
	struct perf_sample s = {};

	if ((bpf_get_current_pid_tgid() >> 32) != target_tgid)
		return 0;
	s.seq = __sync_fetch_and_add(&next_seq, 1);
	s.pid = target_tgid;
	s.cpu = bpf_get_smp_processor_id();
	if (bpf_perf_event_output(ctx, &samples, BPF_F_CURRENT_CPU, &s, sizeof(s)))
		__sync_fetch_and_add(&failed, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
