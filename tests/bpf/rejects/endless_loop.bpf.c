// SPDX-License-Identifier: GPL-2.0
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
SEC("tracepoint/syscalls/sys_enter_getpid")
int prog(void *ctx) { volatile int x = 0; while (x == 0) {} return 0; }
char LICENSE[] SEC("license") = "GPL";
