// SPDX-License-Identifier: GPL-2.0
/* fileopen.bpf.c: every open/openat/openat2/creat with its latency and result.
 * Syscall tracepoints only (no kprobes needed), read without CO-RE
 * relocations, so loading never parses the kernel BTF. Filters run at syscall entry so
 * filtered-out opens cost no ring buffer space; the path is read at exit,
 * when the kernel has copied it and the result is known. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "bpfkit.bpf.h"
#include "fileopen.h"

const volatile __u32 targ_tgid = 0;          /* 0: every process */
const volatile __u32 targ_uid = (__u32)-1;   /* -1: every user */
const volatile bool targ_failed = false;     /* only failed opens */
const volatile __u64 min_latency_ns = 0;
const volatile char targ_comm[FILEOPEN_COMM_LEN] = {};

struct start {
	__u64 ts;
	const char *path;
	__s32 flags;
	__u8 syscall;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32); /* tid */
	__type(value, struct start);
} starts SEC(".maps");

/* The event is built here: too big for the 512-byte stack. The header is
 * followed by its path, as in a ring record (hence the GNU extension). */
#pragma clang diagnostic ignored "-Wgnu-variable-sized-type-not-at-end"
struct scratch {
	struct fileopen_event e;
	char path[FILEOPEN_PATH_MAX + 1];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} heap SEC(".maps");

BPFKIT_RINGBUF(events, 1 << 22, struct fileopen_event); /* the runner sets --ring-buffer-kb */

static __always_inline bool comm_matches(void)
{
	char comm[FILEOPEN_COMM_LEN];

	if (!targ_comm[0])
		return true;
	bpf_get_current_comm(comm, sizeof(comm));
	for (int i = 0; i < FILEOPEN_COMM_LEN; i++) {
		if (comm[i] != targ_comm[i])
			return false;
		if (!comm[i])
			break;
	}
	return true;
}

static __always_inline int on_enter(const char *path, __s32 flags, __u8 syscall)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	struct start s = {};

	if (targ_tgid && (id >> 32) != targ_tgid)
		return 0;
	if (targ_uid != (__u32)-1 && (__u32)bpf_get_current_uid_gid() != targ_uid)
		return 0;
	if (!comm_matches())
		return 0;
	s.ts = bpf_ktime_get_ns();
	s.path = path;
	s.flags = flags;
	s.syscall = syscall;
	bpf_map_update_elem(&starts, &tid, &s, BPF_ANY);
	return 0;
}

static __always_inline int on_exit(void *ctx, long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id, zero = 0;
	struct scratch *b;
	struct start *s;
	__u64 now, lat;
	long n;
	__u32 len;

	s = bpf_map_lookup_elem(&starts, &tid);
	if (!s)
		return 0;
	now = bpf_ktime_get_ns();
	lat = now - s->ts;
	if ((targ_failed && ret >= 0) || lat < min_latency_ns)
		goto out;
	b = bpf_map_lookup_elem(&heap, &zero);
	if (!b)
		goto out;
	b->e.ts_ns = now;
	b->e.latency_ns = lat;
	b->e.pid = id >> 32;
	b->e.tid = tid;
	b->e.uid = (__u32)bpf_get_current_uid_gid();
	b->e.ret = ret;
	b->e.flags = s->flags;
	b->e.syscall = s->syscall;
	bpf_get_current_comm(b->e.comm, sizeof(b->e.comm));
	/* One byte more than PATH_MAX: a string that fills it was cut. */
	n = bpf_probe_read_user_str(b->path, sizeof(b->path), s->path);
	if (n <= 0) {
		b->path[0] = '\0';
		n = 1;
	}
	len = n;
	if (len > FILEOPEN_PATH_MAX) {
		len = FILEOPEN_PATH_MAX;
		b->path[FILEOPEN_PATH_MAX - 1] = '\0';
		b->e.truncated = 1;
	} else {
		b->e.truncated = 0;
	}
	b->e.path_len = len - 1;
	bpfkit_output(ctx, events, b, sizeof(b->e) + len);
out:
	bpf_map_delete_elem(&starts, &tid);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_open")
int enter_open(struct bpfkit_sys_enter *ctx)
{
	return on_enter((const char *)ctx->args[0], (__s32)ctx->args[1], FO_OPEN);
}

SEC("tracepoint/syscalls/sys_enter_openat")
int enter_openat(struct bpfkit_sys_enter *ctx)
{
	return on_enter((const char *)ctx->args[1], (__s32)ctx->args[2], FO_OPENAT);
}

SEC("tracepoint/syscalls/sys_enter_openat2")
int enter_openat2(struct bpfkit_sys_enter *ctx)
{
	__u64 flags = 0; /* struct open_how starts with its u64 flags (uapi) */

	bpf_probe_read_user(&flags, sizeof(flags), (void *)ctx->args[2]);
	return on_enter((const char *)ctx->args[1], (__s32)flags, FO_OPENAT2);
}

SEC("tracepoint/syscalls/sys_enter_creat")
int enter_creat(struct bpfkit_sys_enter *ctx)
{
	/* creat(path, mode) is open(path, O_CREAT|O_WRONLY|O_TRUNC, mode) */
	return on_enter((const char *)ctx->args[0], 00100 | 01 | 01000, FO_CREAT);
}

SEC("tracepoint/syscalls/sys_exit_open")
int exit_open(struct bpfkit_sys_exit *ctx) { return on_exit(ctx, ctx->ret); }

SEC("tracepoint/syscalls/sys_exit_openat")
int exit_openat(struct bpfkit_sys_exit *ctx) { return on_exit(ctx, ctx->ret); }

SEC("tracepoint/syscalls/sys_exit_openat2")
int exit_openat2(struct bpfkit_sys_exit *ctx) { return on_exit(ctx, ctx->ret); }

SEC("tracepoint/syscalls/sys_exit_creat")
int exit_creat(struct bpfkit_sys_exit *ctx) { return on_exit(ctx, ctx->ret); }

/* open(2) and creat(2) exist on x86-64, not on arm64; openat2 since 5.6 */
BPFKIT_HOOKS_OPTIONAL(open, enter_open+exit_open);
BPFKIT_HOOKS_OPTIONAL(openat2, enter_openat2+exit_openat2);
BPFKIT_HOOKS_OPTIONAL(creat, enter_creat+exit_creat);

char LICENSE[] SEC("license") = "GPL";
