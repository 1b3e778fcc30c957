/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* bpfkit.bpf.h - BPF-side helpers for programs loaded with bpfkit.
 *
 * Include after vmlinux.h and <bpf/bpf_helpers.h>. `bpfkit build` puts this
 * header on the include path.
 */
#ifndef __BPFKIT_BPF_H
#define __BPFKIT_BPF_H

/* Wake the user-space reader only once this many bytes are queued (0: wake it
 * for every event, the kernel's default). The reader also looks at the ring
 * on a short timer, so batching never holds an event longer than that.
 * Set from Python before load: obj.rodata.bpfkit_wakeup_bytes = 65536. */
const volatile __u64 bpfkit_wakeup_bytes = 0;

/* Records of the syscalls:sys_enter_* and sys_exit_* tracepoints. Their
 * layout is a stable ABI (tracefs events/syscalls/NAME/format): the common
 * 8-byte header, the syscall number, then the arguments or the return value.
 * Prefer these to vmlinux.h's trace_event_raw_sys_enter/exit: those carry
 * CO-RE relocations, and one relocation makes libbpf read and parse the whole
 * kernel BTF (~6 MB, ~15 ms of start-up) at load. */
struct bpfkit_sys_enter {
	__u64 __common;
	__s32 nr;
	__u32 __pad;
	__u64 args[6];
};

struct bpfkit_sys_exit {
	__u64 __common;
	__s32 nr;
	__u32 __pad;
	__s64 ret;
};

/* BPFKIT_HOOKS(unlink, unlink_fentry, unlink_kprobe, unlink_tp);
 * Declares alternatives for one hook, best first: at load bpfkit keeps the
 * first alternative whose hooks this kernel offers and switches the others
 * off (obj.chosen_hooks tells which). An alternative of several programs
 * needed together is written with "+": enter_openat+exit_openat.
 * BPFKIT_HOOKS_OPTIONAL(...): the same, but a kernel that offers none of them
 * only switches them all off (a syscall this architecture does not have).
 * The Python twin of these names is bpfkit/core/bpfkit_h.py. */
#define BPFKIT_HOOKS(group, ...) \
	const volatile char bpfkit_hooks_##group[] = #__VA_ARGS__
#define BPFKIT_HOOKS_OPTIONAL(group, ...) \
	const volatile char bpfkit_hooks_##group[] = "?" #__VA_ARGS__

/* Ring buffer or perf buffer, chosen at load time (see libbpf-tools'
 * compat.bpf.h): the loader switches every BPFKIT_RINGBUF map to a
 * PERF_EVENT_ARRAY and sets this flag when the kernel has no ring buffer
 * (before 5.8) or the user forces the old path. The verifier sees the flag
 * as a constant and drops the branch that is not taken. */
const volatile __u8 bpfkit_perfbuf = 0;

/* BPFKIT_RINGBUF(events, 1 << 24, struct event);
 * Declares event map `events` (a ring buffer, or a perf event array when the
 * loader switches it) plus a .bss record that counts, in the kernel, every
 * event that could not be queued (buffer full) and keeps `struct event` in
 * BTF, so Python decodes events by type and reports drops. In perf mode
 * bpfkit_reserve() hands out a per-CPU scratch event instead of ring space. */
#define BPFKIT_RINGBUF(name, size_bytes, event_type)                         \
	struct {                                                             \
		__uint(type, BPF_MAP_TYPE_RINGBUF);                          \
		__uint(max_entries, size_bytes);                             \
	} name SEC(".maps");                                                 \
	struct bpfkit_ring_##name {                                          \
		__u64 dropped;                                               \
		event_type event[0];                                         \
	} bpfkit_ring_##name;                                                \
	struct {                                                             \
		__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);                     \
		__uint(max_entries, 1);                                      \
		__type(key, __u32);                                          \
		__type(value, event_type);                                   \
	} bpfkit_scratch_##name SEC(".maps")

static __always_inline void *bpfkit_reserve_(void *ring, void *scratch, __u64 size,
					     __u64 max, __u64 *dropped)
{
	__u32 zero = 0;
	void *e;

	if (bpfkit_perfbuf)
		e = size <= max ? bpf_map_lookup_elem(scratch, &zero) : NULL;
	else
		e = bpf_ringbuf_reserve(ring, size, 0);
	if (!e)
		__sync_fetch_and_add(dropped, 1);
	return e;
}

static __always_inline __u64 bpfkit_wakeup_flags(void *ring)
{
	if (!bpfkit_wakeup_bytes)
		return 0;
	return bpf_ringbuf_query(ring, BPF_RB_AVAIL_DATA) >= bpfkit_wakeup_bytes ?
		BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
}

/* Reserve `size` bytes (a constant) for an event of ring `name`; NULL (and
 * counted) when the ring is full. */
#define bpfkit_reserve(name, size)                                          \
	bpfkit_reserve_(&name, &bpfkit_scratch_##name, size,                 \
			sizeof(bpfkit_ring_##name.event[0]),                   \
			&bpfkit_ring_##name.dropped)

/* Send a reserved event: sizeof(*event) bytes in perf mode. `ctx` is the
 * program's context (bpf_perf_event_output needs it). */
#define bpfkit_submit(ctx, name, event)                                       \
	({                                                                   \
		if (bpfkit_perfbuf) {                                        \
			if (bpf_perf_event_output(ctx, &name, BPF_F_CURRENT_CPU, \
						  event, sizeof(*(event))))  \
				__sync_fetch_and_add(&bpfkit_ring_##name.dropped, 1); \
		} else {                                                     \
			bpf_ringbuf_submit(event, bpfkit_wakeup_flags(&name)); \
		}                                                            \
	})

#define bpfkit_discard(name, event)                                          \
	({                                                                   \
		if (!bpfkit_perfbuf)                                         \
			bpf_ringbuf_discard(event, BPF_RB_NO_WAKEUP);        \
	})

/* Copy `size` bytes (need not be constant) into ring `name`, counting drops. */
#define bpfkit_output(ctx, name, data, size)                                  \
	({                                                                   \
		long __r = bpfkit_perfbuf ?                                  \
			bpf_perf_event_output(ctx, &name, BPF_F_CURRENT_CPU, \
					      data, size) :                  \
			bpf_ringbuf_output(&name, data, size,                \
					   bpfkit_wakeup_flags(&name));      \
		if (__r)                                                     \
			__sync_fetch_and_add(&bpfkit_ring_##name.dropped, 1);\
		__r;                                                         \
	})

#endif /* __BPFKIT_BPF_H */
