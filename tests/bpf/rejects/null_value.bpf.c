// SPDX-License-Identifier: GPL-2.0
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 1); __type(key, __u32); __type(value, __u64); } m SEC(".maps");
SEC("tracepoint/syscalls/sys_enter_getpid")
int prog(void *ctx) { __u32 k = 0; __u64 *v = bpf_map_lookup_elem(&m, &k); return *v; /* no NULL check */ }
char LICENSE[] SEC("license") = "GPL";
