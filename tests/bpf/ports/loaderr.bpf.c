// SPDX-License-Identifier: GPL-2.0
/* loaderr.bpf.c: one load failure per build, chosen with -D (bpfkit build
 * -DCASE_...): each must be reported as libbpf's real cause, in one line. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#if defined(CASE_MAX_ENTRIES_0)
/* a hash map with no max_entries: libbpf-tools set it from user space */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, __u64);
} start SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_getppid")
int uses_start(void *ctx)
{
	__u32 k = 0;

	return bpf_map_lookup_elem(&start, &k) != 0;
}

#elif defined(CASE_MISSING_PROG_TYPE)
SEC("socket/tail")       /* "socket" takes no "/...": libbpf has no type for it */
int tail(struct __sk_buff *skb)
{
	return 0;
}

#elif defined(CASE_MISSING_EXTERN)
extern const int bpfkit_no_such_ksym __ksym;

SEC("raw_tp/sys_enter")
int uses_ksym(void *ctx)
{
	return bpfkit_no_such_ksym;
}

#elif defined(CASE_FREPLACE_NO_TARGET)
SEC("freplace/handler")
int replacement(void *ctx)
{
	return 0;
}

#elif defined(CASE_FENTRY_MISSING)
SEC("fentry/bpfkit_no_such_function")
int BPF_PROG(on_missing)
{
	return 0;
}

#elif defined(CASE_RING_TOO_LARGE)
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 29);      /* 512 MiB: more than the test's memory cgroup allows */
} events SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_getppid")
int emit(void *ctx)
{
	__u64 v = 1;

	bpf_ringbuf_output(&events, &v, sizeof(v), 0);
	return 0;
}
#endif

char LICENSE[] SEC("license") = "GPL";
