// SPDX-License-Identifier: GPL-2.0
/* features.bpf.c: one trivial program per attach kind; `bpfkit doctor` and
 * the hook fallbacks load and attach each alone to learn what this kernel
 * allows (the way libbpf-tools probes fentry before using it). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

__u64 hits = 0;

SEC("tracepoint/syscalls/sys_enter_getpid")
int probe_tracepoint(void *ctx) { __sync_fetch_and_add(&hits, 1); return 0; }

SEC("raw_tp/sys_enter")
int probe_raw_tp(void *ctx) { return 0; }

SEC("tp_btf/sched_switch")
int probe_tp_btf(void *ctx) { return 0; }

SEC("kprobe/do_sys_openat2")
int probe_kprobe(void *ctx) { return 0; }

SEC("kretprobe/do_sys_openat2")
int probe_kretprobe(void *ctx) { return 0; }

SEC("fentry/do_sys_openat2")
int BPF_PROG(probe_fentry) { return 0; }

SEC("fexit/do_sys_openat2")
int BPF_PROG(probe_fexit) { return 0; }

SEC("uprobe")
int probe_uprobe(void *ctx) { return 0; }

SEC("uretprobe")
int probe_uretprobe(void *ctx) { return 0; }

char LICENSE[] SEC("license") = "GPL";
