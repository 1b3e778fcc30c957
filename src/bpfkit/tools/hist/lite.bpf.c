// SPDX-License-Identifier: GPL-2.0
/* lite.bpf.c: the engine without typed (tp_btf) programs. Presets and
 * counts that need only tracefs tracepoints load this object: it has no CO-RE
 * relocation, so libbpf never parses the kernel's BTF (~15 ms of start-up). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "bpfkit.bpf.h"
#define ENGINE_NEVER_NESTS /* classic tracepoints only: see pcpu_add() */
#include "engine.bpf.h"

char LICENSE[] SEC("license") = "GPL";
