// SPDX-License-Identifier: GPL-2.0
/* usdt.bpf.c: one event per firing of a USDT probe (sys/sdt.h), with its
 * arguments, as libbpf-tools' USDT-based tools read them: BPF_USDT() from
 * libbpf's <bpf/usdt.bpf.h> decodes each argument from the location the
 * compiler recorded in the binary's .note.stapsdt (register, stack, constant).
 *
 * The probe here is bpfkit:tick(int seq, long long value, const char *msg).
 * A plain ring buffer carries the events; struct event is kept in BTF at
 * build time (--keep-type). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/usdt.bpf.h>

struct event {
	__u32 pid;
	__s32 seq;
	__s64 value;
	char msg[32];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} events SEC(".maps");

SEC("usdt")
int BPF_USDT(on_tick, int seq, long long value, const char *msg)
{
	struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e)
		return 0;
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->seq = seq;
	e->value = value;
	bpf_probe_read_user_str(e->msg, sizeof(e->msg), msg);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
