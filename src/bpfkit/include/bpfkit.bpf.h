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

/* BPFKIT_RINGBUF(events, 1 << 24, struct event);
 * Declares ring buffer map `events` plus a .bss record that counts, in the
 * kernel, every event that could not be reserved (ring full) and keeps
 * `struct event` in BTF, so Python decodes events by type and reports drops. */
#define BPFKIT_RINGBUF(name, size_bytes, event_type)                         \
	struct {                                                             \
		__uint(type, BPF_MAP_TYPE_RINGBUF);                          \
		__uint(max_entries, size_bytes);                             \
	} name SEC(".maps");                                                 \
	struct bpfkit_ring_##name {                                          \
		__u64 dropped;                                               \
		event_type event[0];                                         \
	} bpfkit_ring_##name

static __always_inline void *bpfkit_reserve_(void *ring, __u64 size, __u64 *dropped)
{
	void *e = bpf_ringbuf_reserve(ring, size, 0);

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

/* Reserve `size` bytes (a constant) in ring `name`; NULL (and counted) when full. */
#define bpfkit_reserve(name, size) \
	bpfkit_reserve_(&name, size, &bpfkit_ring_##name.dropped)

/* Submit a reserved event, waking the reader per bpfkit_wakeup_bytes. */
#define bpfkit_submit(name, event) \
	bpf_ringbuf_submit(event, bpfkit_wakeup_flags(&name))

#define bpfkit_discard(name, event) bpf_ringbuf_discard(event, BPF_RB_NO_WAKEUP)

/* Copy `size` bytes (need not be constant) into ring `name`, counting drops. */
#define bpfkit_output(name, data, size)                                       \
	({                                                                   \
		long __r = bpf_ringbuf_output(&name, data, size,             \
					      bpfkit_wakeup_flags(&name));   \
		if (__r)                                                     \
			__sync_fetch_and_add(&bpfkit_ring_##name.dropped, 1);\
		__r;                                                         \
	})

#endif /* __BPFKIT_BPF_H */
