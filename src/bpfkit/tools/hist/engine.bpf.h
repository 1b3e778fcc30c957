// SPDX-License-Identifier: GPL-2.0
/* engine.bpf.h: the latency and count engine, data-driven.
 *
 * A span starts on one event and ends on another with the same key (a
 * thread, an skb, a work item, a request, a socket). Its start time waits in
 * `starts` (LRU: a start that never ends cannot fill it); the end adds the
 * elapsed time to the histogram of the span's hist_key (chosen by --by) in
 * buckets, with the count and the exact sum.
 *
 * Dump and reset without losing an increment: histograms and counts live in
 * one of two maps (hists_a/hists_b, counts_a/counts_b); `.bss` hist_buf says
 * which one programs add to. Python flips hist_buf, then updates `fence`, an
 * ARRAY_OF_MAPS: the kernel returns from a map-in-map update only after every
 * BPF program that could be running has finished (an RCU grace period;
 * kernel/bpf/syscall.c, maybe_wait_bpf_programs). Every program that read
 * the old index has then finished its increments: the old map is quiescent,
 * Python reads it whole and empties it before it becomes current again.
 * Read-then-delete per key (libbpf-tools) loses what lands between the read
 * and the delete; LOOKUP_AND_DELETE_BATCH loses what a program adds through a
 * value pointer it looked up just before the delete. (The programs do not
 * reach their maps through the ARRAY_OF_MAPS itself: filling one at load
 * waits a grace period too, ~10 ms of start-up per map.)
 *
 * This header has no CO-RE relocation: an object made of it alone (lite.bpf.c)
 * loads without libbpf parsing the kernel's BTF. hist.bpf.c adds the typed
 * (tp_btf) presets. */
#ifndef __BPFKIT_ENGINE_BPF_H
#define __BPFKIT_ENGINE_BPF_H

#include "hist.h"

#ifndef READ_ONCE
#define READ_ONCE(x) (*(volatile typeof(x) *)&(x))
#endif

/* -- configuration (.rodata, set before load) ------------------------------------ */
const volatile __u64 unit_div = 1000;   /* ns per unit of the buckets */
const volatile __u64 linear_step = 0;   /* 0: log2 buckets */
const volatile __u32 targ_tgid = 0;     /* 0: every process */
const volatile bool filter_comm = false;
const volatile char targ_comm[HIST_NAME_LEN] = {};
const volatile bool filter_syscalls = false;
const volatile __u64 syscall_mask[HIST_MAX_SYSCALLS / 64] = {};
const volatile bool count_errors = false; /* count: only failed syscalls */
const volatile __u8 span_by[HIST_MAX_SPANS] = {};
const volatile __u8 count_by = BY_SYSCALL;

/* A zero histogram value to insert from (too big for the 512-byte stack). */
const struct hist_val zero_hist = {};

/* -- maps ------------------------------------------------------------------------- */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_COMMON_LRU); /* per-CPU LRU lists: no shared lock per start */
	__type(key, struct span_key);
	__type(value, struct span_start);
} starts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, HIST_MAX_SPANS);
	__type(key, __u32);
	__type(value, struct hist_stats);
} stats SEC(".maps");

struct hist_map {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 10240);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct hist_key);
	__type(value, struct hist_val);
} hists_a SEC(".maps"), hists_b SEC(".maps");

struct count_map {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 10240);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct hist_key);
	__type(value, struct count_val);
} counts_a SEC(".maps"), counts_b SEC(".maps");

/* 0: programs add to hists_a / counts_a, 1: to the _b maps. Python flips it. */
__u32 hist_buf = 0;

/* Updated by Python after a flip only to wait for running programs (above). */
struct fence_inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} fence_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct fence_inner);
} fence SEC(".maps");

/* Generic tracepoints: program slot -> how to read its tracepoint's record.
 * (A BPF program cannot tell which tracepoint called it: the record's first
 * 8 bytes, common_type included, are overwritten for BPF with a pt_regs
 * pointer. So each slot is its own program, tp_slot0..7.) */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, HIST_TP_SLOTS);
	__type(key, __u32);
	__type(value, struct hist_tp_conf);
} tp_conf SEC(".maps");

/* -- counters --------------------------------------------------------------------- */
/* Adds to per-CPU values. Programs on classic tracepoints never nest on a CPU
 * (the kernel's bpf_prog_active), so lite.bpf.c, made of those only, adds
 * plainly; typed (raw) tracepoint programs can nest (an interrupt's block
 * completion inside a task's issue), so hist.bpf.c adds atomically. */
#ifdef ENGINE_NEVER_NESTS
#define pcpu_add(p, n) (*(p) += (n))
#else
#define pcpu_add(p, n) __sync_fetch_and_add(p, n)
#endif

static __always_inline void stat_add(__u32 span, __u32 which, __u64 n)
{
	struct hist_stats *s = bpf_map_lookup_elem(&stats, &span);

	if (s && which < HIST_NSTATS)
		pcpu_add(&s->v[which], n);
}

/* -- buckets -------------------------------------------------------------------- */
static __always_inline __u32 log2_u64(__u64 v)
{
	__u32 r = 0, shift;

	shift = (v > 0xFFFFFFFFULL) << 5; v >>= shift; r |= shift;
	shift = (v > 0xFFFF) << 4; v >>= shift; r |= shift;
	shift = (v > 0xFF) << 3; v >>= shift; r |= shift;
	shift = (v > 0xF) << 2; v >>= shift; r |= shift;
	shift = (v > 0x3) << 1; v >>= shift; r |= shift;
	r |= (v >> 1);
	return r;
}

static __always_inline __u32 slot_of(__u64 v)
{
	if (linear_step) {
		__u64 i = v / linear_step;

		return i >= HIST_LINEAR_STEPS ? HIST_LINEAR_STEPS + 1 : (__u32)i + 1;
	}
	if (!v)
		return 1;
	return 2 + log2_u64(v);
}

/* Add one span of `delta_ns` to the histogram of `hk`, in the current buffer. */
static __always_inline void hist_add(struct hist_key *hk, __u64 delta_ns)
{
	__u32 slot;
	struct hist_val *v;
	void *inner;

	inner = READ_ONCE(hist_buf) ? (void *)&hists_b : (void *)&hists_a;
	v = bpf_map_lookup_elem(inner, hk);
	if (!v) {
		if (bpf_map_update_elem(inner, hk, &zero_hist, BPF_NOEXIST) &&
		    !bpf_map_lookup_elem(inner, hk)) {
			stat_add(hk->span, ST_KEYS_FULL, 1);
			return;
		}
		v = bpf_map_lookup_elem(inner, hk);
		if (!v)
			return;
	}
	slot = slot_of(delta_ns / unit_div);
	if (slot >= HIST_SLOTS)
		slot = HIST_SLOTS - 1;
	pcpu_add(&v->count, 1);
	pcpu_add(&v->sum_ns, delta_ns);
	pcpu_add(&v->slots[slot], 1);
	stat_add(hk->span, ST_MATCHED, 1);
}

/* Count one event (of `amount` bytes) for `hk`, in the current buffer. */
static __always_inline void count_add(struct hist_key *hk, __u64 amount)
{
	struct count_val *v, zv = {};
	void *inner;

	inner = READ_ONCE(hist_buf) ? (void *)&counts_b : (void *)&counts_a;
	v = bpf_map_lookup_elem(inner, hk);
	if (!v) {
		if (bpf_map_update_elem(inner, hk, &zv, BPF_NOEXIST) &&
		    !bpf_map_lookup_elem(inner, hk)) {
			stat_add(hk->span, ST_KEYS_FULL, 1);
			return;
		}
		v = bpf_map_lookup_elem(inner, hk);
		if (!v)
			return;
	}
	pcpu_add(&v->count, 1);
	if (amount)
		pcpu_add(&v->sum, amount);
	stat_add(hk->span, ST_COUNTED, 1);
}

/* -- spans -------------------------------------------------------------------- */
static __always_inline void span_start_at(struct span_key *k, struct hist_key *hk, __u64 now)
{
	struct span_start s = {.ts = now};

	s.hk = *hk;
	if (bpf_map_update_elem(&starts, k, &s, BPF_NOEXIST)) {
		/* a pending start of the same key never ended: replace it */
		stat_add(k->span, ST_RESTARTS, 1);
		bpf_map_update_elem(&starts, k, &s, BPF_ANY);
	}
	stat_add(k->span, ST_STARTS, 1);
}

/* End the span of `k`, whose start `s` was just looked up. */
static __always_inline void span_end_found(struct span_key *k, struct span_start *s, __u64 now)
{
	struct hist_key hk;
	__u64 ts;

	ts = s->ts;
	hk = s->hk;
	bpf_map_delete_elem(&starts, k);
	if (span_by[k->span & (HIST_MAX_SPANS - 1)] == BY_CPU)
		hk.id = bpf_get_smp_processor_id();
	hist_add(&hk, now > ts ? now - ts : 0);
}

/* End the span of `k`: true when it had a start (else counted as an orphan). */
static __always_inline bool span_end_at(struct span_key *k, __u64 now)
{
	struct span_start *s = bpf_map_lookup_elem(&starts, k);

	if (!s) {
		stat_add(k->span, ST_ORPHAN_ENDS, 1);
		return false;
	}
	span_end_found(k, s, now);
	return true;
}

static __always_inline void span_cancel(struct span_key *k)
{
	if (!bpf_map_delete_elem(&starts, k))
		stat_add(k->span, ST_CANCELLED, 1);
}

/* -- the current task ----------------------------------------------------------- */
static __always_inline bool comm_matches(const char *comm)
{
	for (int i = 0; i < HIST_NAME_LEN; i++) {
		if (comm[i] != targ_comm[i])
			return false;
		if (!comm[i])
			return true;
	}
	return true;
}

/* The --pid / --comm filters for the current task; fills comm when `need`
 * (a filter or the histogram key wants it: it costs a helper call). */
static __always_inline bool current_wanted_(__u64 pid_tgid, char *comm, bool need)
{
	if (targ_tgid && (pid_tgid >> 32) != targ_tgid)
		return false;
	if (need || filter_comm)
		bpf_get_current_comm(comm, HIST_NAME_LEN);
	if (filter_comm && !comm_matches(comm))
		return false;
	return true;
}

static __always_inline bool wants_comm(__u8 by)
{
	return by == BY_COMM || by == BY_PID || by == BY_TID;
}

#define current_wanted(id, comm) current_wanted_(id, comm, true)

/* hist_key of the current task for `by` (comm already in hk->name). */
static __always_inline void by_current(struct hist_key *hk, __u8 by, __u64 pid_tgid, __u64 nr)
{
	switch (by) {
	case BY_PID:
		hk->id = pid_tgid >> 32;
		break;
	case BY_TID:
		hk->id = (__u32)pid_tgid;
		break;
	case BY_CPU:
		hk->id = bpf_get_smp_processor_id();
		__builtin_memset(hk->name, 0, sizeof(hk->name));
		break;
	case BY_SYSCALL:
		hk->id = nr;
		__builtin_memset(hk->name, 0, sizeof(hk->name));
		break;
	case BY_COMM:
		break;
	default:
		__builtin_memset(hk->name, 0, sizeof(hk->name));
		break;
	}
}

/* -- preset: syscall latency (raw_syscalls: one program for every syscall) ------- */
static __always_inline bool syscall_wanted(long nr)
{
	if (!filter_syscalls)
		return true;
	if (nr < 0 || nr >= HIST_MAX_SYSCALLS)
		return false;
	return (syscall_mask[(nr >> 6) & (HIST_MAX_SYSCALLS / 64 - 1)] >> (nr & 63)) & 1;
}

SEC("tracepoint/raw_syscalls/sys_enter")
int sys_enter(struct bpfkit_sys_enter *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct hist_key hk = {};
	struct span_key k = {};
	long nr = ctx->nr;

	if (!syscall_wanted(nr))
		return 0;
	if (!current_wanted_(id, hk.name, wants_comm(span_by[0])))
		return 0;
	by_current(&hk, span_by[0], id, nr);
	k.a = (__u32)id;
	span_start_at(&k, &hk, bpf_ktime_get_ns());
	return 0;
}

SEC("tracepoint/raw_syscalls/sys_exit")
int sys_exit(struct bpfkit_sys_exit *ctx)
{
	__u64 id = bpf_get_current_pid_tgid(), now = bpf_ktime_get_ns();
	struct span_key k = {.a = (__u32)id};
	struct span_start *s;

	char comm[HIST_NAME_LEN];

	s = bpf_map_lookup_elem(&starts, &k);
	if (s) {
		span_end_found(&k, s, now);
		return 0;
	}
	/* no start: an orphan if its entry would have passed the filters (it
	 * began before we attached, or its start was evicted) */
	if (syscall_wanted(ctx->nr) && current_wanted_(id, comm, false))
		stat_add(0, ST_ORPHAN_ENDS, 1);
	return 0;
}

/* `bpfkit count syscalls`: at exit, where the result is known (as syscount). */
SEC("tracepoint/raw_syscalls/sys_exit")
int sys_count(struct bpfkit_sys_exit *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct hist_key hk = {};
	long nr = ctx->nr;

	if (count_errors && ctx->ret >= 0)
		return 0;
	if (!syscall_wanted(nr))
		return 0;
	if (!current_wanted_(id, hk.name, wants_comm(count_by)))
		return 0;
	by_current(&hk, count_by, id, nr);
	count_add(&hk, 0);
	return 0;
}

/* -- generic tracefs tracepoints ------------------------------------------------ */
static __always_inline __u64 read_num(void *ctx, __u16 off, __u8 size)
{
	__u64 v = 0;

	if (!size)
		return 0;
	bpf_probe_read_kernel(&v, size > 8 ? 8 : size, ctx + off);
	return v;
}

/* A string field into `out` (zero-filled): char[N] or __data_loc char[]. */
static __always_inline void read_str(void *ctx, __u16 off, __u8 kind, char *out)
{
	__u32 loc = 0;

	if (kind == FIELD_LOC) {
		bpf_probe_read_kernel(&loc, sizeof(loc), ctx + off);
		bpf_probe_read_kernel_str(out, HIST_NAME_LEN, ctx + (loc & 0xffff));
	} else {
		bpf_probe_read_kernel_str(out, HIST_NAME_LEN, ctx + off);
	}
}

static __always_inline bool str_eq(const char *a, const char *b)
{
	for (int i = 0; i < HIST_NAME_LEN; i++) {
		if (a[i] != b[i])
			return false;
		if (!a[i])
			return true;
	}
	return true;
}

static __always_inline bool tp_filter(void *ctx, const struct hist_tp_conf *c)
{
	char s[HIST_NAME_LEN] = {};

	switch (c->filt_kind) {
	case FIELD_NUM:
		return read_num(ctx, c->filt_off, c->filt_size) == c->filt_num;
	case FIELD_STR:
	case FIELD_LOC:
		read_str(ctx, c->filt_off, c->filt_kind, s);
		return str_eq(s, c->filt_str);
	default:
		return true;
	}
}

/* The program of every generic tracepoint; Python attaches tp_slotN to the
 * N-th one and fills tp_conf[N] from its tracefs format. */
static __always_inline int tp_generic(void *ctx, __u32 slot)
{
	__u64 id = bpf_get_current_pid_tgid(), now = bpf_ktime_get_ns();
	struct hist_tp_conf *c;
	struct hist_key hk = {};
	struct span_key k = {};
	c = bpf_map_lookup_elem(&tp_conf, &slot);
	if (!c)
		return 0;
	if (!tp_filter(ctx, c))
		return 0;
	k.span = c->span & (HIST_MAX_SPANS - 1);
	if (c->key_kind == KEY_TID) {
		k.a = (__u32)id;
	} else {
		k.a = read_num(ctx, c->key_off[0], c->key_size[0]);
		k.b = read_num(ctx, c->key_off[1], c->key_size[1]);
	}
	if (c->role & ROLE_END) {
		struct span_start *s = bpf_map_lookup_elem(&starts, &k);

		if (s)
			span_end_found(&k, s, now);
		else if (c->key_kind != KEY_TID || current_wanted(id, hk.name))
			stat_add(k.span, ST_ORPHAN_ENDS, 1);
	}
	if (!(c->role & (ROLE_START | ROLE_COUNT)))
		return 0;
	if (!current_wanted(id, hk.name))
		return 0;
	hk.span = k.span;
	if (c->by == BY_FIELD) {
		__builtin_memset(hk.name, 0, sizeof(hk.name));
		if (c->by_kind == FIELD_NUM)
			hk.id = read_num(ctx, c->by_off, c->by_size);
		else
			read_str(ctx, c->by_off, c->by_kind, hk.name);
	} else {
		by_current(&hk, c->by, id, 0);
	}
	if (c->role & ROLE_COUNT)
		count_add(&hk, 0);
	else
		span_start_at(&k, &hk, now);
	return 0;
}

#define TP_SLOT(n) \
	SEC("tracepoint") int tp_slot##n(void *ctx) { return tp_generic(ctx, n); }
TP_SLOT(0)
TP_SLOT(1)
TP_SLOT(2)
TP_SLOT(3)
TP_SLOT(4)
TP_SLOT(5)
TP_SLOT(6)
TP_SLOT(7)

#endif /* __BPFKIT_ENGINE_BPF_H */
