// SPDX-License-Identifier: GPL-2.0
/* Tail calls: a dispatcher jumps through a PROG_ARRAY by a condition.
 * raw_tp: by the first argument (driven with test_run); tracepoint: by the
 * caller's uid, for getpgid(MAGIC) calls only. After a tail call the
 * dispatcher never resumes, so fell_through counts empty slots. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#define MAGIC 0x7ffff123

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u32);
} progs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u32);
} by_uid SEC(".maps");

__u64 ran_root, ran_user, fell_through, uid_root, uid_user, uid_fell;

SEC("raw_tp/sys_enter")
int dispatch(__u64 *ctx)
{
	bpf_tail_call(ctx, &progs, (__u32)ctx[0]);
	fell_through++;
	return 99;
}

SEC("raw_tp/sys_enter")
int handle_root(__u64 *ctx)
{
	ran_root++;
	return 1;
}

SEC("raw_tp/sys_enter")
int handle_user(__u64 *ctx)
{
	ran_user++;
	return 2;
}

struct getpgid_args {
	__u64 __common;
	__s32 nr;
	__u32 __pad;
	__u64 pid;
};

SEC("tracepoint/syscalls/sys_enter_getpgid")
int uid_dispatch(struct getpgid_args *ctx)
{
	if (ctx->pid != MAGIC)
		return 0;
	bpf_tail_call(ctx, &by_uid, (__u32)bpf_get_current_uid_gid() == 0 ? 0 : 1);
	uid_fell++;
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_getpgid")
int uid_is_root(void *ctx)
{
	uid_root++;
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_getpgid")
int uid_is_user(void *ctx)
{
	uid_user++;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
