// SPDX-License-Identifier: GPL-2.0
/* snapaudit.bpf.c: who asked ZFS to create, destroy, rename, roll back, hold,
 * receive or program which snapshot, with the kernel's answer.
 *
 * ZFS user space (libzfs_core, libzfs, anything else) reaches the kernel
 * through one door: ioctl(fd of /dev/zfs, 0x5a00 + n, zfs_cmd_t *). So
 * syscalls:sys_enter_ioctl / sys_exit_ioctl see every call, whoever makes
 * it, statically linked or not.
 *
 * Entry, in cost order: the command must be in the ZFS range and one of the
 * operations asked for (two compares and a bit test: every other ioctl of the
 * system stops there), then the fd must be the ZFS control device (its
 * inode's rdev, a character device). Then the call is remembered by thread
 * id, and zfs_cmd_t's strings, the process's command line and the packed
 * input nvlist (up to nv_limit bytes) are copied into a capture slot: the
 * buffer can change or be freed once the call returns.
 *
 * Exit: the result decides (failed calls only with --attempts), the fields
 * the kernel wrote back are read (the kernel copies the whole zfs_cmd_t back
 * out), and the call goes out as one variable-size record, preceded by chunk
 * records when its nvlist is longer than SA_NV_INLINE. Nothing is cut
 * silently: each cut is a flag in the record and a counter in .bss.
 *
 * A process that made ZFS calls sends one more record when it exits, so user
 * space knows no zfs command line (ZFS_IOC_LOG_HISTORY) is coming for them. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "bpfkit.bpf.h"
#include "snapaudit.h"

#define S_IFMT 00170000
#define S_IFCHR 0020000
#define NO_SLOT 0xffffffff
#define CAPTURE_SLOTS 16

/* Configuration, set from Python before load. */
const volatile __u32 targ_rdev = 0;        /* kernel dev_t (major << 20 | minor) of the ZFS control device */
const volatile __u64 ops_lo = 0;           /* bit n: report ioctl ZFS_IOC_FIRST + n, n < 64 */
const volatile __u64 ops_hi = 0;           /* bit n - 64: n from 64 to 127 */
const volatile __u32 targ_uid = (__u32)-1; /* -1: everyone; else uid, euid or loginuid */
const volatile bool attempts = false;      /* report failed calls too */
const volatile bool only_failed = false;   /* report only failed calls */
const volatile __u32 nv_limit = SA_NV_CAP; /* nvlist bytes captured per call, <= SA_NV_CAP */

/* What could not be captured, counted in the kernel (Python reads .bss). */
__u64 calls_full;     /* calls not followed at all: the in-flight table was full */
__u64 capture_late;   /* no capture slot at entry: strings and nvlist read at exit */
__u64 capture_lost;   /* no slot at exit either: reported without the nvlist */
__u64 nv_cut;         /* calls whose nvlist was longer than nv_limit */
__u64 nv_missed;      /* ... and their bytes not captured */
__u64 read_faults;    /* user memory that could not be read (calls) */
__u64 chunks_lost;    /* chunk records that found the ring full */
__u64 failed_skipped; /* failed calls left out (no --attempts) */
__u64 ok_skipped;     /* successful calls left out (--failed) */
__u64 inflight;       /* calls between entry and exit: 0 makes every other exit one compare */

struct call {
	__u64 zc;       /* user pointer to the zfs_cmd_t */
	__u64 enter_ns;
	__u32 cmd;
	__u32 slot;     /* capture slot, or NO_SLOT */
	__u16 flags;    /* SA_COMPAT */
	__u16 __pad[3];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32); /* tid */
	__type(value, struct call);
} calls SEC(".maps");

/* The buffers global functions take: a pointer argument of a global
 * function is checked against the size of the type it points to. */
struct strings {
	__u8 b[SA_TAIL];
};

struct nvbuf {
	__u8 b[SA_NV_CAP];
};

#pragma clang diagnostic ignored "-Wgnu-variable-sized-type-not-at-end"
struct capture {
	struct snapaudit_event e;
	__u8 tail[SA_TAIL];  /* = e.data: strings, then the inline nvlist */
	__u8 nv[SA_NV_CAP];
};

/* Capture slots: an array (no per-CPU copies of 80 KiB values), each owned
 * by one thread from entry to exit. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, CAPTURE_SLOTS);
	__type(key, __u32);
	__type(value, struct capture);
} captures SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, CAPTURE_SLOTS);
	__type(key, __u32);  /* slot */
	__type(value, __u32); /* owner tid */
} slot_owner SEC(".maps");

/* Chunk records, and a call with no capture slot even at exit. */
struct chunk_buf {
	struct snapaudit_event e;
	__u8 data[SA_CHUNK];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct chunk_buf);
} chunk_bufs SEC(".maps");

/* Processes that made a reported call: their exit is reported too. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u8);
} callers SEC(".maps");

BPFKIT_RINGBUF(events, 1 << 22, struct snapaudit_event);

BPFKIT_HOOKS(ioctl, enter_ioctl+exit_ioctl);
BPFKIT_HOOKS_OPTIONAL(process_exit, proc_exit);

/* ---- helpers ------------------------------------------------------------ */

static __always_inline struct file *fd_file(__s32 fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task_btf();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds;
	struct file *f = NULL;

	if (fd < 0 || (__u32)fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	fds = BPF_CORE_READ(fdt, fd);
	bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
	return f;
}

static __always_inline bool zfs_device(__s32 fd)
{
	struct file *f = fd_file(fd);
	struct inode *inode;

	if (!f)
		return false;
	inode = BPF_CORE_READ(f, f_inode);
	return BPF_CORE_READ(inode, i_rdev) == targ_rdev &&
	       (BPF_CORE_READ(inode, i_mode) & S_IFMT) == S_IFCHR;
}

static __always_inline __u32 loginuid_of(struct task_struct *task)
{
	if (bpf_core_field_exists(task->loginuid))
		return BPF_CORE_READ(task, loginuid.val);
	return (__u32)-1;
}

static __always_inline bool uid_matches(void)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task_btf();

	return (__u32)bpf_get_current_uid_gid() == targ_uid ||
	       BPF_CORE_READ(task, cred, euid.val) == targ_uid || loginuid_of(task) == targ_uid;
}

static __always_inline __u32 claim_slot(__u32 tid)
{
	for (__u32 i = 0; i < CAPTURE_SLOTS; i++) {
		__u32 key = i; /* the counter itself stays in a register the verifier follows */

		if (!bpf_map_update_elem(&slot_owner, &key, &tid, BPF_NOEXIST))
			return i;
	}
	return NO_SLOT;
}

static __always_inline void release_slot(__u32 slot)
{
	if (slot != NO_SLOT)
		bpf_map_delete_elem(&slot_owner, &slot);
}

/* An offset into a tail the verifier can bound (the compiler drops a plain
 * mask it can prove redundant; the verifier cannot prove it). */
static __always_inline __u64 soff(__u64 x)
{
	asm volatile("%[x] &= 8191" : [x] "+r"(x)); /* SA_STR_AREA - 1 */
	return x;
}

/* 1..2^k for 1 <= x <= 2^k, in a form the verifier keeps. */
#define UPTO(val, mask) ({ __u64 __v = (val) - 1; asm volatile("%[v] &= " #mask : [v] "+r"(__v)); __v + 1; })

/* A user string into tail[off]: its length (NUL not counted), the NUL
 * always written; *cut when it filled the cap. */
static __always_inline __u32 user_str(__u8 *tail, __u32 off, __u64 src, __u32 cap,
				      __u16 cut_flag, __u16 *flags)
{
	long n = -1;

	/* `cap` is a constant at every call site */
	if (src)
		n = bpf_probe_read_user_str(&tail[soff(off)], cap, (void *)src);
	if (n == 0) { /* "": Linux 6.1 does not count the NUL of an empty string (newer: 1) */
		tail[soff(off)] = 0;
		return 0;
	}
	if (n < 0) {
		tail[soff(off)] = 0;
		if (src) {
			*flags |= SA_READ_FAULT;
			__sync_fetch_and_add(&read_faults, 1);
		}
		return 0;
	}
	if (n == cap)
		*flags |= cut_flag;
	return n - 1;
}

/* Which zfs_cmd_t strings an operation uses besides zc_name. */
static __always_inline bool uses_value(__u32 cmd)
{
	return cmd == 0x5a1a /* RENAME */ || cmd == 0x5a1b /* RECV */ || cmd == 0x5a37 /* TMP_SNAPSHOT */;
}

/* The strings known at entry, the scalars, and the command line; returns
 * the bytes used in t. Global functions (verified once, not per caller). */
__noinline __u32 sa_strings(struct snapaudit_event *e, struct strings *t, __u64 zc, __u32 cmd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task_btf();
	__u32 off = 0, len;
	__u64 start, end, v = 0;
	__u8 *tail;

	if (!e || !t)
		return 0;
	tail = t->b;

	e->name_len = user_str(tail, off, zc + ZC_NAME, SA_NAME_CAP, SA_NAME_CUT, &e->flags);
	off += e->name_len + 1;
	e->value_len = user_str(tail, off, uses_value(cmd) ? zc + ZC_VALUE : 0, SA_VALUE_CAP,
				SA_VALUE_CUT, &e->flags);
	off += e->value_len + 1;
	e->string_len = user_str(tail, off, cmd == 0x5a1b ? zc + ZC_STRING : 0, SA_STRING_CAP,
				 SA_STRING_CUT, &e->flags);
	off += e->string_len + 1;
	if (bpf_probe_read_user(&v, 8, (void *)(zc + ZC_COOKIE)))
		e->flags |= SA_READ_FAULT;
	e->cookie = v;
	bpf_probe_read_user(&e->guid, 8, (void *)(zc + ZC_GUID));
	bpf_probe_read_user(&e->objset_type, 8, (void *)(zc + ZC_OBJSET_TYPE));
	bpf_probe_read_user(&e->defer_destroy, 4, (void *)(zc + ZC_DEFER_DESTROY));
	bpf_probe_read_user(&e->cleanup_fd, 4, (void *)(zc + ZC_CLEANUP_FD));

	/* The command line: arguments separated by NULs, as in /proc/PID/cmdline. */
	start = BPF_CORE_READ(task, mm, arg_start);
	end = BPF_CORE_READ(task, mm, arg_end);
	len = 0;
	if (!start || end <= start) {
		e->flags |= SA_ARGS_NONE;
	} else {
		len = end - start;
		if (len > SA_ARGS_CAP - 1) {
			len = SA_ARGS_CAP - 1;
			e->flags |= SA_ARGS_CUT;
		}
		if (bpf_probe_read_user(&tail[soff(off)], len & (SA_ARGS_CAP - 1), (void *)start)) {
			len = 0;
			e->flags |= SA_READ_FAULT;
		}
	}
	e->args_len = len;
	tail[soff(off + len)] = 0;
	off += len + 1;
	return off;
}

/* The packed input nvlist, up to nv_limit bytes, in pieces: a fault keeps
 * what was read before it. */
__noinline int sa_nvlist(struct snapaudit_event *e, struct nvbuf *buf, __u64 zc)
{
	__u64 src = 0, size = 0, want, got = 0;
	__u8 *nv;

	if (!e || !buf)
		return 0;
	nv = buf->b;

	bpf_probe_read_user(&src, 8, (void *)(zc + ZC_NVLIST_SRC));
	bpf_probe_read_user(&size, 8, (void *)(zc + ZC_NVLIST_SRC_SIZE));
	e->nv_size = size;
	if (!src || !size)
		return 0;
	want = size < nv_limit ? size : nv_limit;
	for (__u32 i = 0; i < SA_NV_CAP / SA_NV_PIECE; i++) {
		__u64 off = (__u64)i * SA_NV_PIECE, len;

		if (off >= want)
			break;
		len = want - off;
		if (len > SA_NV_PIECE)
			len = SA_NV_PIECE;
		if (bpf_probe_read_user(&nv[off], UPTO(len, 0xfff), (void *)(src + off))) {
			e->flags |= SA_NV_FAULT;
			__sync_fetch_and_add(&read_faults, 1);
			break;
		}
		got = off + len;
	}
	e->nv_captured = got;
	if (size > want) {
		e->flags |= SA_NV_CUT;
		__sync_fetch_and_add(&nv_cut, 1);
		__sync_fetch_and_add(&nv_missed, size - want);
	}
	return 0;
}

static __always_inline void capture_all(struct capture *cap, __u64 zc, __u32 cmd)
{
	__builtin_memset(&cap->e, 0, sizeof(cap->e));
	cap->e.cmd = cmd;
	/* the string bytes, kept here until exit */
	cap->e.nv_offset = sa_strings(&cap->e, (struct strings *)cap->tail, zc, cmd);
	sa_nvlist(&cap->e, (struct nvbuf *)cap->nv, zc);
}

/* ---- entry --------------------------------------------------------------- */

static __noinline int track(__u32 cmd, __s32 fd, __u64 zc, __u16 flags)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct call c = { .zc = zc, .cmd = cmd, .flags = flags }, *old;
	struct capture *cap;

	if (!zfs_device(fd))
		return 0;
	if (targ_uid != (__u32)-1 && !uid_matches())
		return 0;
	c.enter_ns = bpf_ktime_get_ns();
	old = bpf_map_lookup_elem(&calls, &tid);
	if (old) { /* cannot happen (every entry has its exit); never leak a slot or the count */
		release_slot(old->slot);
		bpf_map_delete_elem(&calls, &tid);
		__sync_fetch_and_add(&inflight, -1);
	}
	c.slot = claim_slot(tid);
	if (bpf_map_update_elem(&calls, &tid, &c, BPF_NOEXIST)) {
		__sync_fetch_and_add(&calls_full, 1);
		release_slot(c.slot);
		return 0;
	}
	__sync_fetch_and_add(&inflight, 1);
	if (c.slot == NO_SLOT)
		return 0;
	cap = bpf_map_lookup_elem(&captures, &c.slot);
	if (cap)
		capture_all(cap, zc, cmd);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_ioctl")
int enter_ioctl(struct bpfkit_sys_enter *ctx)
{
	__u32 n = (__u32)ctx->args[1] - ZFS_IOC_FIRST;

	if (n >= SA_IOC_SPAN) /* every ioctl that is not ZFS's stops here */
		return 0;
	if (!(((n < 64 ? ops_lo : ops_hi) >> (n & 63)) & 1))
		return 0;
	return track(n + ZFS_IOC_FIRST, (__s32)ctx->args[0], ctx->args[2], 0);
}

/* ---- exit ---------------------------------------------------------------- */

static __always_inline void identity(struct snapaudit_event *e)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task_btf();
	__u64 id = bpf_get_current_pid_tgid(), ug = bpf_get_current_uid_gid();

	e->pid = id >> 32;
	e->tid = (__u32)id;
	e->uid = (__u32)ug;
	e->gid = ug >> 32;
	e->euid = BPF_CORE_READ(task, cred, euid.val);
	e->loginuid = loginuid_of(task);
	e->ppid = BPF_CORE_READ(task, real_parent, tgid);
	e->cgroup_id = bpf_get_current_cgroup_id();
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	BPF_CORE_READ_STR_INTO(&e->pcomm, task, real_parent, comm);
}

/* What the kernel wrote back into zfs_cmd_t, for the operations that have it. */
__noinline __u32 sa_exit_fields(struct snapaudit_event *e, struct strings *t, __u32 off, __u64 zc)
{
	__u64 src = 0;

	if (!e || !t)
		return 0;
	bpf_probe_read_user(&e->cookie_out, 8, (void *)(zc + ZC_COOKIE));
	bpf_probe_read_user(&e->obj_out, 8, (void *)(zc + ZC_OBJ));
	switch (e->cmd) {
	case 0x5a37: /* TMP_SNAPSHOT: the snapshot made */
		e->exit_what = SA_EXIT_VALUE;
		src = zc + ZC_VALUE;
		break;
	case 0x5a22: /* PROMOTE: the conflicting snapshot */
		e->exit_what = SA_EXIT_STRING;
		src = zc + ZC_STRING;
		break;
	case 0x5a1a: /* RENAME: where a recursive rename failed */
		e->exit_what = SA_EXIT_NAME;
		src = zc + ZC_NAME;
		break;
	}
	e->exit_len = user_str(t->b, off, src, SA_EXIT_CAP, SA_EXIT_CUT, &e->flags);
	return off + e->exit_len + 1;
}

/* A call with no capture slot even at exit: its strings, no nvlist. */
static __always_inline void emit_bare(void *ctx, struct call *c, long ret, __u64 id)
{
	__u32 zero = 0, off;
	struct chunk_buf *b = bpf_map_lookup_elem(&chunk_bufs, &zero);
	__u64 total;

	if (!b)
		return;
	__builtin_memset(&b->e, 0, sizeof(b->e));
	b->e.cmd = c->cmd;
	off = sa_strings(&b->e, (struct strings *)b->data, c->zc, c->cmd);
	bpf_probe_read_user(&b->e.nv_size, 8, (void *)(c->zc + ZC_NVLIST_SRC_SIZE));
	if (b->e.nv_size)
		b->e.flags |= SA_NV_CUT;
	b->e.flags |= SA_LATE | c->flags;
	off = sa_exit_fields(&b->e, (struct strings *)b->data, off, c->zc);
	identity(&b->e);
	b->e.kind = SA_CALL;
	b->e.call_id = id;
	b->e.enter_ns = c->enter_ns;
	b->e.result = ret;
	b->e.ts_ns = bpf_ktime_get_ns();
	total = sizeof(b->e) + off;
	asm volatile("%[t] &= 0x3fff" : [t] "+r"(total));
	bpfkit_output(ctx, events, b, total);
}

static __noinline int finish(void *ctx, struct call *c, long ret)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid(), zero = 0, off, n, pid;
	__u64 id = c ? c->enter_ns : 0, total;
	struct capture *cap = NULL;
	struct chunk_buf *b;
	__u8 one = 1;

	if (!c)
		return 0;
	if (c->slot != NO_SLOT) {
		cap = bpf_map_lookup_elem(&captures, &c->slot);
	} else {
		/* No slot at entry: maybe one is free now. */
		__sync_fetch_and_add(&capture_late, 1);
		c->slot = claim_slot(tid);
		if (c->slot != NO_SLOT) {
			cap = bpf_map_lookup_elem(&captures, &c->slot);
			if (cap) {
				capture_all(cap, c->zc, c->cmd);
				cap->e.flags |= SA_LATE;
			}
		}
	}
	pid = bpf_get_current_pid_tgid() >> 32;
	bpf_map_update_elem(&callers, &pid, &one, BPF_ANY);
	if (!cap) {
		__sync_fetch_and_add(&capture_lost, 1);
		emit_bare(ctx, c, ret, id);
		release_slot(c->slot);
		return 0;
	}
	cap->e.flags |= c->flags;
	off = cap->e.nv_offset; /* end of the strings captured at entry */
	cap->e.nv_offset = 0;
	off = sa_exit_fields(&cap->e, (struct strings *)cap->tail, off, c->zc);
	identity(&cap->e);
	cap->e.kind = SA_CALL;
	cap->e.call_id = id;
	cap->e.enter_ns = c->enter_ns;
	cap->e.result = ret;
	n = cap->e.nv_captured;
	if (n > SA_NV_INLINE) {
		b = bpf_map_lookup_elem(&chunk_bufs, &zero);
		if (!b) {
			release_slot(c->slot);
			return 0;
		}
		for (__u32 i = 0; i < SA_NV_CAP / SA_CHUNK; i++) {
			__u32 at = i * SA_CHUNK, len;

			if (at >= n)
				break;
			len = n - at;
			if (len > SA_CHUNK)
				len = SA_CHUNK;
			b->e = cap->e;
			b->e.kind = SA_CHUNK_REC;
			b->e.ts_ns = bpf_ktime_get_ns();
			b->e.nv_offset = at;
			b->e.data_len = len;
			bpf_probe_read_kernel(b->data, UPTO(len, 0x3fff), &cap->nv[at]);
			if (bpfkit_output(ctx, events, b, sizeof(b->e) + UPTO(len, 0x3fff))) {
				cap->e.flags |= SA_CHUNK_LOST;
				__sync_fetch_and_add(&chunks_lost, 1);
			}
		}
		cap->e.nv_inline = 0;
	} else {
		n &= 2 * SA_NV_INLINE - 1;
		if (n > SA_NV_INLINE)
			n = SA_NV_INLINE;
		if (n)
			bpf_probe_read_kernel(&cap->tail[soff(off)], UPTO(n, 0xfff), cap->nv);
		cap->e.nv_inline = n;
		off += n;
	}
	cap->e.ts_ns = bpf_ktime_get_ns();
	total = sizeof(cap->e) + off;
	asm volatile("%[t] &= 0x3fff" : [t] "+r"(total));
	bpfkit_output(ctx, events, cap, total);
	release_slot(c->slot);
	return 0;
}

static __always_inline int on_exit(void *ctx, long ret)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct call *cp, c;

	cp = bpf_map_lookup_elem(&calls, &tid);
	if (!cp)
		return 0;
	c = *cp;
	bpf_map_delete_elem(&calls, &tid);
	__sync_fetch_and_add(&inflight, -1);
	if (ret < 0 && !attempts) {
		__sync_fetch_and_add(&failed_skipped, 1);
		release_slot(c.slot);
		return 0;
	}
	if (ret >= 0 && only_failed) {
		__sync_fetch_and_add(&ok_skipped, 1);
		release_slot(c.slot);
		return 0;
	}
	return finish(ctx, &c, ret);
}

SEC("tracepoint/syscalls/sys_exit_ioctl")
int exit_ioctl(struct bpfkit_sys_exit *ctx)
{
	if (!inflight) /* no ZFS call in flight anywhere: every other ioctl stops here */
		return 0;
	return on_exit(ctx, ctx->ret);
}

/* ---- 32-bit callers (--compat) ---------------------------------------------
 * Syscall tracepoints (sys_enter_ioctl...) leave out compat syscalls: the
 * kernel's syscall events skip in_32bit_syscall() tasks. A 32-bit program, or
 * a 64-bit one issuing `int $0x80`, would reach ZFS unseen. The raw sys_enter
 * and sys_exit tracepoints see every syscall, compat ones included, so these
 * run on every syscall of the system: one compare each on the common path,
 * hence an option. x86-64 only (TS_COMPAT in thread_info.status). */
#define IA32_NR_IOCTL 54
#define TS_COMPAT 0x0002

static __always_inline bool in_compat(void)
{
#ifdef __TARGET_ARCH_x86
	struct task_struct *task = (struct task_struct *)bpf_get_current_task_btf();

	return BPF_CORE_READ(task, thread_info.status) & TS_COMPAT;
#else
	return false;
#endif
}

SEC("raw_tp/sys_enter")
int compat_enter(struct bpf_raw_tracepoint_args *ctx)
{
	struct pt_regs *regs;
	__u32 n, cmd;

	if (ctx->args[1] != IA32_NR_IOCTL || !in_compat()) /* 54 is setsockopt on x86-64 */
		return 0;
#ifdef __TARGET_ARCH_x86
	regs = (struct pt_regs *)ctx->args[0];
	cmd = BPF_CORE_READ(regs, cx);
	n = cmd - ZFS_IOC_FIRST;
	if (n >= SA_IOC_SPAN || !(((n < 64 ? ops_lo : ops_hi) >> (n & 63)) & 1))
		return 0;
	return track(cmd, (__s32)BPF_CORE_READ(regs, bx), (__u32)BPF_CORE_READ(regs, dx), SA_COMPAT);
#else
	return 0;
#endif
}

SEC("raw_tp/sys_exit")
int compat_exit(struct bpf_raw_tracepoint_args *ctx)
{
	if (!inflight || !in_compat())
		return 0;
	return on_exit(ctx, (long)ctx->args[1]);
}

BPFKIT_HOOKS_OPTIONAL(compat, compat_enter+compat_exit);

/* ---- the end of a process that made ZFS calls ----------------------------- */

SEC("tracepoint/sched/sched_process_exit")
int proc_exit(void *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 pid = id >> 32;
	struct snapaudit_event *e;

	if (pid != (__u32)id || !bpf_map_lookup_elem(&callers, &pid))
		return 0;
	bpf_map_delete_elem(&callers, &pid);
	e = bpfkit_reserve(events, sizeof(*e));
	if (!e)
		return 0;
	__builtin_memset(e, 0, sizeof(*e));
	e->kind = SA_PROC_EXIT;
	e->ts_ns = bpf_ktime_get_ns();
	e->pid = pid;
	e->tid = pid;
	bpfkit_submit(ctx, events, e);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
