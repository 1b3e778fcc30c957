// SPDX-License-Identifier: GPL-2.0
/* execsnoop.bpf.c: one event per execve(), with the whole argv.
 *
 * As in libbpf-tools' execsnoop, argv travels as one char array holding the
 * arguments one after the other, each ending in its NUL, and the event goes
 * out through a perf buffer (bpf_perf_event_output). The event struct is
 * only ever a local variable here, so clang leaves it out of BTF: build with
 * `bpfkit build execsnoop.bpf.c --keep-type 'struct event'` and Python can
 * decode it by name without any change to this file. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#define ARG_LEN   64                     /* room for one argument */
#define ARGS_LEN  384                    /* room for all of them */
#define MAX_ARGS  12                     /* argv[0] plus 11 more */
#define LAST_ARG  (ARGS_LEN - ARG_LEN)   /* no argument starts past this */

struct event {
	__u32 pid;
	__u32 ppid;
	__u32 uid;
	__u32 args_count;   /* arguments in args[] */
	__u32 args_size;    /* bytes of args[] used, NULs included */
	__u32 truncated;    /* argv had more than fitted */
	char comm[16];
	char args[ARGS_LEN];
};

const volatile __u32 target_uid = (__u32)-1;   /* -1: every uid */

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} events SEC(".maps");

/* syscalls:sys_enter_execve: args[0] is the filename, args[1] argv */
SEC("tracepoint/syscalls/sys_enter_execve")
int on_execve(struct trace_event_raw_sys_enter *ctx)
{
	const char **argv = (const char **)ctx->args[1];
	struct task_struct *task;
	struct event e = {};
	const char *arg;
	__u32 off = 0;
	long n;
	int i;

	e.uid = (__u32)bpf_get_current_uid_gid();
	if (target_uid != (__u32)-1 && e.uid != target_uid)
		return 0;
	e.pid = bpf_get_current_pid_tgid() >> 32;
	task = (struct task_struct *)bpf_get_current_task();
	e.ppid = BPF_CORE_READ(task, real_parent, tgid);
	bpf_get_current_comm(e.comm, sizeof(e.comm));

	for (i = 0; i < MAX_ARGS; i++) {
		if (bpf_probe_read_user(&arg, sizeof(arg), &argv[i]) || !arg)
			goto send;
		if (off > LAST_ARG)
			break;
		n = bpf_probe_read_user_str(&e.args[off], ARG_LEN, arg);
		if (n < 0)
			goto send;
		/* An empty argument: its NUL was copied, but Linux 6.1's
		 * strncpy_from_user_nofault() counts it only after a character
		 * (newer kernels return 1). */
		off += n ? n : 1;
		e.args_count++;
	}
	/* out of room (or of argument slots) with argv not at its end */
	if (!bpf_probe_read_user(&arg, sizeof(arg), &argv[i]) && arg)
		e.truncated = 1;
send:
	e.args_size = off;
	bpf_perf_event_output(ctx, &events, BPF_F_CURRENT_CPU, &e, sizeof(e));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
