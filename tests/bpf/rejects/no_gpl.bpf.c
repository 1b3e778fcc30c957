// SPDX-License-Identifier: MIT
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
SEC("tracepoint/syscalls/sys_enter_getpid")
int prog(void *ctx) { bpf_printk("hi"); return 0; }
char LICENSE[] SEC("license") = "MIT";
