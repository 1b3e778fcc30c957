// SPDX-License-Identifier: GPL-2.0
/* The kinds this project's kernel refuses and stock kernels offer: kprobe,
 * kretprobe, ksyscall, fentry, fexit, LSM. Each counts the calls of one
 * process; the tests run where the kernel has them (make test-kernels). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h> /* BPF_KSYSCALL reads the arguments with it */

__u32 target_tgid = 0;
__u64 kprobe_hits, kretprobe_hits, ksyscall_hits, fentry_hits, fexit_hits, lsm_hits;
long fexit_ret; /* do_unlinkat's return: -errno */

static __always_inline bool mine(void)
{
	return (bpf_get_current_pid_tgid() >> 32) == target_tgid;
}

SEC("kprobe/do_unlinkat")
int BPF_KPROBE(on_kprobe) { if (mine()) __sync_fetch_and_add(&kprobe_hits, 1); return 0; }

SEC("kretprobe/do_unlinkat")
int BPF_KRETPROBE(on_kretprobe) { if (mine()) __sync_fetch_and_add(&kretprobe_hits, 1); return 0; }

SEC("ksyscall/getpgid")
int BPF_KSYSCALL(on_ksyscall, pid_t pid)
{
	if (mine() && pid == 0x7ffff0f0)
		__sync_fetch_and_add(&ksyscall_hits, 1);
	return 0;
}

SEC("fentry/do_unlinkat")
int BPF_PROG(on_fentry) { if (mine()) __sync_fetch_and_add(&fentry_hits, 1); return 0; }

SEC("fexit/do_unlinkat")
int BPF_PROG(on_fexit, int dfd, struct filename *name, int ret) /* do_unlinkat returns int */
{
	if (mine()) {
		__sync_fetch_and_add(&fexit_hits, 1);
		fexit_ret = ret;
	}
	return 0;
}

SEC("lsm/file_open")
int BPF_PROG(on_lsm, struct file *file)
{
	if (mine())
		__sync_fetch_and_add(&lsm_hits, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
