// SPDX-License-Identifier: GPL-2.0
/* fileaudit.bpf.c: who changed a watched file, by any syscall that changes
 * files, with the path the kernel resolved.
 *
 * Hooks, best first, chosen per family of calls at load (BPFKIT_HOOKS at the
 * end; --verbose says which were kept):
 *  1. BPF LSM path hooks (path_unlink, path_rename, path_chmod, ...) see the
 *     dentry and mount the call resolved, just before the change; an fexit
 *     on the kernel function that implements the call (do_unlinkat,
 *     do_renameat2, do_fchmodat, ...) adds its result. Opens and ftruncate
 *     need no before-hook: fexit on do_filp_open / do_sys_ftruncate sees the
 *     file itself.
 *  2. The same with fentry on the security_path_* functions, for kernels
 *     that have fentry but no "bpf" in their lsm= list (Ubuntu, RHEL).
 *  3. Syscall tracepoints (kernels with neither, such as this project's VMs).
 * 1 and 2 avoid the syscall-tracepoint floor (an enabled syscall tracepoint
 * sends every syscall of every task through the slow path) and watch by
 * inode too (see `marks`); 3 resolves the names the caller gave.
 *
 * Tracepoint path: entry programs save the arguments per thread; the exit
 * programs, which know the result, tail call one `finish` program (verified
 * once) that resolves the paths in the kernel and decides:
 *  - fd-based calls and successful opens: the file's own struct path
 *    (dentry walk up to the root, across mounts): exact, symlinks resolved;
 *  - path-based calls: the base directory (cwd or dirfd) resolved the same
 *    way, plus the string the caller gave;
 * then compares every leading component prefix of the result with the
 * watched prefixes (FNV-1a hashes in a map), so a prefix only matches whole
 * components and unrelated activity never reaches the ring buffer. Paths
 * with "." / ".." / empty components are handed to user space, which
 * normalises and filters them. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "bpfkit.bpf.h"
#include "fileaudit.h"

#define AT_FDCWD -100
#define AT_EMPTY_PATH 0x1000
#define O_ACCMODE 03
#define O_CREAT 0100
#define O_TRUNC 01000
#define O_TMPFILE_BIT 020000000
#define FMODE_WRITE 0x2
#define FMODE_CREATED 0x100000
#define S_IFMT 0170000
#define S_IFREG 0100000
#define S_IFDIR 0040000
#define S_IALLUGO 07777
#define PF_IO_WORKER 0x10
#define PF_KTHREAD 0x200000
#define TS_COMPAT 0x2          /* x86: thread_info.status of a 32-bit syscall */
#define MAX_ERRNO 4095
#define MAX_SYSCALLS 1024
#define MAX_DEPTH 64           /* components (and mount crossings) walked */
#define OFF_MASK 8191          /* path offsets stay below 8192: two paths of < 4096 */
#define DATA_SIZE 16384         /* >= 8192 + FA_PATH_MAX + 256, and the record mask below */
#define FNV_BASIS 14695981039346656037ULL
#define FNV_PRIME 1099511628211ULL

const volatile __u32 targ_uid = (__u32)-1; /* -1: every user */
const volatile bool attempts = false;      /* report failed calls too */
const volatile bool exclude_comms = false;
const volatile __u32 max_prefix_len = 4095; /* longest watched prefix: later boundaries cannot match */

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);  /* FNV-1a of a watched prefix, without trailing slash */
	__type(value, __u8);
} watched SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, char[FA_COMM_LEN]);
	__type(value, __u8);
} excluded SEC(".maps");

/* Verdicts of directories too deep to hold a watched prefix, so the next
 * file created there costs one lookup instead of a walk. A verdict is used
 * only while tree_gen is unchanged (bumped by every rename and directory
 * removal: a directory's path can change so), while its mount namespace
 * saw no mount change (mnt_namespace.event: mount, umount, move, pivot_root)
 * and while the dentry still holds the same inode (a freed dentry may be
 * reused). */
struct dir_key {
	__u64 dentry, mnt;
};

struct dir_verdict {
	__u64 gen, ino, sb, event;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct dir_key);
	__type(value, struct dir_verdict);
} unwatched_dirs SEC(".maps");

__u64 tree_gen;

static __always_inline void tree_changed(void)
{
	__sync_fetch_and_add(&tree_gen, 1);
}

/* Inodes watched whatever name reaches them, keyed by superblock and inode
 * number: the --watch paths themselves (marked at start, when user space
 * opens each with O_PATH from the thread mark_tid names: fexit_open sees the
 * inode the kernel resolved), watched files given another name (a hard link)
 * while we run, and a file renamed over a marked one (how passwd, visudo and
 * editors replace a file). Marks change only once the change succeeded
 * (after()): the before-hooks run ahead of the kernel's permission checks,
 * and a failed `rmdir /etc` or `ln ~/f /etc/x` by anyone must change nothing. A path is watched when its own inode or a directory above it
 * is marked: through bind mounts, other mount namespaces, chroots, and for a
 * file, its hard links. Only the LSM/fentry/fexit hooks see inodes. */
struct mark_key {
	__u64 sb, ino;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct mark_key);
	__type(value, __u8);
} marks SEC(".maps");

/* .bss: while set, the opens of this thread (its id in the pid namespace
 * pidns_dev/pidns_ino name: ours, set by user space) mark the inode they reach */
__u32 mark_tid;
const volatile __u64 pidns_dev = 0, pidns_ino = 0;

/* syscall number -> enum fileaudit_syscall, filled by user space from its
 * table: the LSM/fentry/fexit hooks run inside a syscall they do not name. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_SYSCALLS);
	__type(key, __u32);
	__type(value, __u8);
} syscall_ids SEC(".maps");

/* How a path argument is resolved. */
enum arg_kind { K_NONE, K_AT, K_FD, K_OPEN, K_TEXT };

struct pending {
	__u64 p1, p2;      /* strings: user memory, or kernel memory for p1 when kstr */
	__u64 file;        /* K_OPEN seen by fexit: the struct file the open returned */
	__s32 d1, d2;      /* dirfd (or AT_FDCWD) of each, or the fd for K_FD */
	__u32 mode, owner, group, oflags;
	__u8 op, sc, k1, k2, kstr;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32); /* tid */
	__type(value, struct pending);
} pending SEC(".maps");

#pragma clang diagnostic ignored "-Wgnu-variable-sized-type-not-at-end"
struct scratch {
	struct fileaudit_event e;
	__u8 data[DATA_SIZE]; /* path at 0, new_path right after its NUL */
	__u64 names[MAX_DEPTH];
	__u32 lens[MAX_DEPTH];
	struct pending a;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} heap SEC(".maps");

/* A watched change judged before it happened (LSM/fentry), waiting for its
 * result (fexit): the record as it will be sent, per thread. Allocated only
 * while a change is in flight. Its head is the start of struct scratch. */
struct mark_change {
	struct mark_key set, clear; /* sb 0: none */
};

struct inflight {
	struct fileaudit_event e;
	__u8 data[2 * FA_PATH_MAX];
	struct mark_change marks; /* on success; not sent */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32); /* tid */
	__type(value, struct inflight);
} inflight SEC(".maps");

/* --attempts: the thread's change in flight was judged unwatched before it
 * happened; if it fails, its names are not judged again. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32); /* tid */
	__type(value, __u8);
} judged SEC(".maps");

BPFKIT_RINGBUF(events, 1 << 22, struct fileaudit_event); /* the runner sets --ring-buffer-kb */

/* ---- filters, and each syscall's arguments ----------------------------- */

static __always_inline bool wanted(void)
{
	if (targ_uid != (__u32)-1 && (__u32)bpf_get_current_uid_gid() != targ_uid)
		return false;
	if (exclude_comms) {
		char comm[FA_COMM_LEN] = {};

		bpf_get_current_comm(comm, sizeof(comm));
		if (bpf_map_lookup_elem(&excluded, comm))
			return false;
	}
	return true;
}

#define NOID ((__u32)-1)

static __always_inline bool at1(struct pending *p, __u8 op, __u8 sc, __s32 dfd, __u64 path,
				__u32 mode, __u32 owner, __u32 group, __u32 oflags)
{
	*p = (struct pending){ .op = op, .sc = sc, .k1 = K_AT, .d1 = dfd, .p1 = path,
			       .mode = mode, .owner = owner, .group = group, .oflags = oflags };
	return true;
}

static __always_inline bool fd1(struct pending *p, __u8 op, __u8 sc, __s32 fd, __u32 mode,
				__u32 owner, __u32 group)
{
	*p = (struct pending){ .op = op, .sc = sc, .k1 = K_FD, .d1 = fd,
			       .mode = mode, .owner = owner, .group = group };
	return true;
}

static __always_inline bool two(struct pending *p, __u8 op, __u8 sc, __u8 k1, __s32 d1, __u64 p1,
				__s32 d2, __u64 p2, __u32 oflags)
{
	*p = (struct pending){ .op = op, .sc = sc, .k1 = k1, .d1 = d1, .p1 = p1,
			       .k2 = K_AT, .d2 = d2, .p2 = p2, .oflags = oflags };
	return true;
}

static __always_inline bool open1(struct pending *p, __u8 sc, __s32 dfd, __u64 path, __u32 flags,
				  __u32 mode)
{
	/* Only opens that can change something: for writing, creating or truncating. */
	if ((flags & O_ACCMODE) == 0 && !(flags & (O_CREAT | O_TRUNC)))
		return false;
	if (flags & O_TMPFILE_BIT) /* nameless until linkat(): seen there */
		return false;
	*p = (struct pending){ .sc = sc, .k1 = K_OPEN, .d1 = dfd, .p1 = path,
			       .mode = mode, .oflags = flags };
	return true;
}

struct sysargs {
	__u64 a[6];
};

/* The arguments of syscall `sc` as a pending call: the one place that knows
 * each syscall's argument layout, for the entry tracepoints and for the
 * fexit programs (which read them from the task's registers when a call
 * failed before the kernel resolved its file). false: nothing to audit. */
static __always_inline bool args_of(__u8 sc, const struct sysargs *s, struct pending *p)
{
	const __u64 *a = s->a;

	switch (sc) {
	case FS_OPEN:      return open1(p, sc, AT_FDCWD, a[0], a[1], a[2]);
	case FS_OPENAT:    return open1(p, sc, a[0], a[1], a[2], a[3]);
	case FS_CREAT:     return open1(p, sc, AT_FDCWD, a[0], O_CREAT | O_TRUNC | 01, a[1]);
	case FS_OPENAT2: {
		struct { __u64 flags, mode; } how = {};

		bpf_probe_read_user(&how, sizeof(how), (void *)a[2]);
		return open1(p, sc, a[0], a[1], how.flags, how.mode);
	}
	case FS_TRUNCATE:  return at1(p, FA_TRUNCATE, sc, AT_FDCWD, a[0], 0, NOID, NOID, 0);
	case FS_FTRUNCATE: return fd1(p, FA_TRUNCATE, sc, a[0], 0, NOID, NOID);
	case FS_RENAME:    return two(p, FA_RENAME, sc, K_AT, AT_FDCWD, a[0], AT_FDCWD, a[1], 0);
	case FS_RENAMEAT:
	case FS_RENAMEAT2: return two(p, FA_RENAME, sc, K_AT, a[0], a[1], a[2], a[3], 0);
	case FS_UNLINK:
	case FS_RMDIR:     return at1(p, FA_DELETE, sc, AT_FDCWD, a[0], 0, NOID, NOID, 0);
	case FS_UNLINKAT:  return at1(p, FA_DELETE, sc, a[0], a[1], 0, NOID, NOID, 0);
	case FS_CHMOD:     return at1(p, FA_CHMOD, sc, AT_FDCWD, a[0], a[1], NOID, NOID, 0);
	case FS_FCHMOD:    return fd1(p, FA_CHMOD, sc, a[0], a[1], NOID, NOID);
	case FS_FCHMODAT:  return at1(p, FA_CHMOD, sc, a[0], a[1], a[2], NOID, NOID, 0);
	case FS_FCHMODAT2: return at1(p, FA_CHMOD, sc, a[0], a[1], a[2], NOID, NOID, a[3]);
	case FS_CHOWN:
	case FS_LCHOWN:    return at1(p, FA_CHOWN, sc, AT_FDCWD, a[0], 0, a[1], a[2], 0);
	case FS_FCHOWN:    return fd1(p, FA_CHOWN, sc, a[0], 0, a[1], a[2]);
	case FS_FCHOWNAT:  return at1(p, FA_CHOWN, sc, a[0], a[1], 0, a[2], a[3], a[4]);
	case FS_LINK:      return two(p, FA_LINK, sc, K_AT, AT_FDCWD, a[0], AT_FDCWD, a[1], 0);
	case FS_LINKAT:    return two(p, FA_LINK, sc, K_AT, a[0], a[1], a[2], a[3], a[4]);
	case FS_SYMLINK:   return two(p, FA_SYMLINK, sc, K_TEXT, 0, a[0], AT_FDCWD, a[1], 0);
	case FS_SYMLINKAT: return two(p, FA_SYMLINK, sc, K_TEXT, 0, a[0], a[1], a[2], 0);
	case FS_MKDIR:     return at1(p, FA_MKDIR, sc, AT_FDCWD, a[0], a[1], NOID, NOID, 0);
	case FS_MKDIRAT:   return at1(p, FA_MKDIR, sc, a[0], a[1], a[2], NOID, NOID, 0);
	}
	return false;
}

/* ---- tracepoint path, entry: filters, then the arguments per thread ---- */

static __always_inline int remember(__u8 sc, struct bpfkit_sys_enter *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct sysargs s;
	struct pending p;

	/* copied out first: ctx may only be read at constant offsets */
	__builtin_memcpy(s.a, ctx->args, sizeof(s.a));
	if (!args_of(sc, &s, &p) || !wanted())
		return 0;
	bpf_map_update_elem(&pending, &tid, &p, BPF_ANY);
	return 0;
}

#define ENTER(name) SEC("tracepoint/syscalls/sys_enter_" #name) \
	int enter_##name(struct bpfkit_sys_enter *ctx)
#define A(i) (ctx->args[i])

ENTER(open)      { return remember(FS_OPEN, ctx); }
ENTER(openat)    { return remember(FS_OPENAT, ctx); }
ENTER(creat)     { return remember(FS_CREAT, ctx); }
ENTER(openat2)   { return remember(FS_OPENAT2, ctx); }
ENTER(truncate)  { return remember(FS_TRUNCATE, ctx); }
ENTER(ftruncate) { return remember(FS_FTRUNCATE, ctx); }
ENTER(rename)    { tree_changed(); return remember(FS_RENAME, ctx); }
ENTER(renameat)  { tree_changed(); return remember(FS_RENAMEAT, ctx); }
ENTER(renameat2) { tree_changed(); return remember(FS_RENAMEAT2, ctx); }
ENTER(unlink)    { return remember(FS_UNLINK, ctx); }
ENTER(unlinkat)
{
	if (A(2) & 0x200) /* AT_REMOVEDIR */
		tree_changed();
	return remember(FS_UNLINKAT, ctx);
}
ENTER(rmdir)     { tree_changed(); return remember(FS_RMDIR, ctx); }
ENTER(chmod)     { return remember(FS_CHMOD, ctx); }
ENTER(fchmod)    { return remember(FS_FCHMOD, ctx); }
ENTER(fchmodat)  { return remember(FS_FCHMODAT, ctx); }
ENTER(fchmodat2) { return remember(FS_FCHMODAT2, ctx); }
ENTER(chown)     { return remember(FS_CHOWN, ctx); }
ENTER(lchown)    { return remember(FS_LCHOWN, ctx); }
ENTER(fchown)    { return remember(FS_FCHOWN, ctx); }
ENTER(fchownat)  { return remember(FS_FCHOWNAT, ctx); }
ENTER(link)      { return remember(FS_LINK, ctx); }
ENTER(linkat)    { return remember(FS_LINKAT, ctx); }
ENTER(symlink)   { return remember(FS_SYMLINK, ctx); }
ENTER(symlinkat) { return remember(FS_SYMLINKAT, ctx); }
#define TREE_CHANGE(name) SEC("tracepoint/syscalls/sys_enter_" #name) \
	int change_##name(void *ctx) { tree_changed(); return 0; }
TREE_CHANGE(mount) TREE_CHANGE(umount) TREE_CHANGE(move_mount) TREE_CHANGE(pivot_root)
TREE_CHANGE(mount_setattr)

ENTER(mkdir)     { return remember(FS_MKDIR, ctx); }
ENTER(mkdirat)   { return remember(FS_MKDIRAT, ctx); }

/* ---- tracepoint path, exit: tail call into finish when this thread has a
 * pending call ------------------------------------------------------------- */

int finish(struct bpfkit_sys_exit *ctx);

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, int (void *));
} finisher SEC(".maps") = {
	.values = { [0] = (void *)&finish },
};

#define EXIT(name) SEC("tracepoint/syscalls/sys_exit_" #name) \
	int exit_##name(struct bpfkit_sys_exit *ctx)                           \
	{                                                                      \
		__u32 tid = (__u32)bpf_get_current_pid_tgid();                 \
		if (bpf_map_lookup_elem(&pending, &tid))                       \
			bpf_tail_call(ctx, &finisher, 0);                      \
		return 0;                                                      \
	}

EXIT(open) EXIT(openat) EXIT(creat) EXIT(openat2) EXIT(truncate) EXIT(ftruncate)
EXIT(rename) EXIT(renameat) EXIT(renameat2) EXIT(unlink) EXIT(unlinkat) EXIT(rmdir)
EXIT(chmod) EXIT(fchmod) EXIT(fchmodat) EXIT(fchmodat2) EXIT(chown) EXIT(lchown)
EXIT(fchown) EXIT(fchownat) EXIT(link) EXIT(linkat) EXIT(symlink) EXIT(symlinkat)
EXIT(mkdir) EXIT(mkdirat)

/* ---- path resolution in the kernel ------------------------------------- */

/* An offset into b->data the verifier can bound: the compiler drops a plain
 * `& OFF_MASK` it can prove redundant, and the verifier cannot prove it. */
static __always_inline __u64 idx(__u64 x)
{
	asm volatile("%[x] &= 8191" : [x] "+r"(x));
	return x;
}

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

static __always_inline bool inode_marked(struct inode *inode)
{
	struct mark_key k;

	if (!inode)
		return false;
	k.sb = (__u64)BPF_CORE_READ(inode, i_sb);
	k.ino = BPF_CORE_READ(inode, i_ino);
	return bpf_map_lookup_elem(&marks, &k) != NULL;
}

static __always_inline void mark_key_of(struct inode *inode, struct mark_key *k)
{
	k->sb = inode ? (__u64)BPF_CORE_READ(inode, i_sb) : 0;
	k->ino = inode ? BPF_CORE_READ(inode, i_ino) : 0;
}

static __always_inline void mark_inode(struct inode *inode)
{
	struct mark_key k;
	__u8 one = 1;

	mark_key_of(inode, &k);
	if (k.sb)
		bpf_map_update_elem(&marks, &k, &one, BPF_ANY);
}

/* Removing this name leaves the inode nameless: its number may be reused. */
static __always_inline bool last_name(struct inode *inode)
{
	return (BPF_CORE_READ(inode, i_mode) & S_IFMT) == S_IFDIR ||
	       BPF_CORE_READ(inode, i_nlink) <= 1;
}

/* The mount-tree generation of the namespace a mount is in (0: detached). */
static __always_inline __u64 mnt_event(struct vfsmount *vm)
{
	struct mount *m = (void *)vm - bpf_core_field_offset(struct mount, mnt);

	return BPF_CORE_READ(m, mnt_ns, event);
}

/* The dentry walk, the copy and the prefix check are bpf_loop() callbacks
 * inside global functions: each is verified once, not once per iteration
 * and call site (unrolled, the walk alone is over the verifier's budget).
 * Kernel pointers travel as plain numbers read with CO-RE. */
struct walk {
	struct scratch *b;
	struct dentry *d;
	struct mount *m;
	__u32 n;
	bool complete, marks, marked;
};

static long walk_step(__u32 i, struct walk *w)
{
	struct dentry *d = w->d, *parent = BPF_CORE_READ(d, d_parent);
	struct mount *m = w->m;

	/* every dentry on the way, a mount's root included: a marked one makes
	 * the path watched whatever its name (see marks) */
	if (w->marks && !w->marked && inode_marked(BPF_CORE_READ(d, d_inode)))
		w->marked = true;
	if (d == BPF_CORE_READ(m, mnt.mnt_root)) {
		struct mount *mp = BPF_CORE_READ(m, mnt_parent);

		if (m == mp) { /* the root of the mount tree */
			w->complete = true;
			return 1;
		}
		w->d = BPF_CORE_READ(m, mnt_mountpoint); /* cross into the parent mount */
		w->m = mp;
		return 0;
	}
	if (d == parent) { /* a filesystem root no mount shows: stop */
		w->complete = true;
		return 1;
	}
	w->b->names[w->n & (MAX_DEPTH - 1)] = (__u64)BPF_CORE_READ(d, d_name.name);
	w->b->lens[w->n & (MAX_DEPTH - 1)] = BPF_CORE_READ(d, d_name.len);
	w->n++;
	w->d = parent;
	return 0;
}

#define WALK_CUT (1U << 31)    /* the walk did not reach the root (too deep) */
#define WALK_MARKED (1U << 30) /* a marked inode on the way (only when asked) */

/* Collects the names from (dentry, vfsmount) up to the root into b->names,
 * leaf first; returns their count with WALK_* bits. `marks`: look each
 * dentry's inode up in `marks` on the way. */
__noinline __u32 fa_walk(struct scratch *b, __u64 dentry, __u64 vfsmount, __u32 marks)
{
	struct walk w = { .b = b, .marks = marks };

	if (!b)
		return 0;
	w.d = (struct dentry *)dentry;
	w.m = (void *)vfsmount - bpf_core_field_offset(struct mount, mnt);
	bpf_loop(MAX_DEPTH, walk_step, &w, 0);
	return w.n | (w.complete ? 0 : WALK_CUT) | (w.marked ? WALK_MARKED : 0);
}

struct copy_state {
	__u32 n, start, off, limit, next;
	__u8 cut, more;
};

struct copy {
	struct scratch *b;
	struct copy_state s;
};

static long copy_step(__u32 i, struct copy *c)
{
	__u32 k, len, j = i + c->s.next;

	if (j >= c->s.n)
		return 1;
	if (c->s.off - c->s.start > c->s.limit) { /* far enough to judge: resume if watched */
		c->s.next = j;
		c->s.more = 1;
		return 1;
	}
	k = (c->s.n - 1 - j) & (MAX_DEPTH - 1);
	len = c->b->lens[k] & 255;
	if (c->s.off - c->s.start + 1 + len > FA_PATH_MAX - 1) {
		c->s.cut = 1;
		return 1;
	}
	c->b->data[c->s.off++ & OFF_MASK] = '/';
	bpf_probe_read_kernel(&c->b->data[c->s.off & OFF_MASK], len, (void *)c->b->names[k]);
	c->s.off += len;
	return 0;
}

/* Writes the collected names root first at data[st->start]; stops at the
 * first component boundary past st->limit (st->more: call again to finish). */
__noinline __u32 fa_copy(struct scratch *b, struct copy_state *st)
{
	struct copy c = { .b = b };

	if (!b || !st)
		return 0;
	c.s = *st;
	c.s.more = 0;
	if (c.s.n == 0 && c.s.off == c.s.start)
		b->data[c.s.off++ & OFF_MASK] = '/';
	bpf_loop(MAX_DEPTH, copy_step, &c, 0);
	b->data[c.s.off & OFF_MASK] = '\0';
	*st = c.s;
	return c.s.off - c.s.start;
}

/* The absolute path of (dentry, vfsmount) at data[start], judged from its
 * first `limit` bytes: see fa_copy(). *marked: a marked inode on the way
 * (looked for only when `marks`). */
static __always_inline __u32 dentry_path_lim(struct scratch *b, struct dentry *d,
					     struct vfsmount *vm, __u32 start, __u8 *cut,
					     struct copy_state *st, __u32 limit, bool marks,
					     bool *marked)
{
	__u32 n = fa_walk(b, (__u64)d, (__u64)vm, marks), len;

	*st = (struct copy_state){ .n = n & (MAX_DEPTH * 2 - 1), .start = start, .off = start,
				   .limit = limit };
	len = fa_copy(b, st);
	if ((n & WALK_CUT) || st->cut)
		*cut = 1;
	*marked = n & WALK_MARKED;
	return len;
}

static __always_inline __u32 path_of_lim(struct scratch *b, const struct path *path, __u32 start,
					 __u8 *cut, struct copy_state *st, __u32 limit, bool marks,
					 bool *marked)
{
	return dentry_path_lim(b, BPF_CORE_READ(path, dentry), BPF_CORE_READ(path, mnt), start, cut,
			       st, limit, marks, marked);
}

static __always_inline __u32 path_resume(struct scratch *b, struct copy_state *st, __u8 *cut)
{
	__u32 len;

	st->limit = FA_PATH_MAX;
	len = fa_copy(b, st);
	if (st->cut)
		*cut = 1;
	return len;
}

static __always_inline __u32 path_of(struct scratch *b, const struct path *path, __u32 start,
				     __u8 *cut)
{
	struct copy_state st;
	bool marked;

	return path_of_lim(b, path, start, cut, &st, FA_PATH_MAX, false, &marked);
}

/* The path a *at() call names: `str` relative to `dfd` (or absolute);
 * `kstr`: the string is in kernel memory (a struct filename). */
static __always_inline __u32 path_at(struct scratch *b, __s32 dfd, __u64 str, __u32 start,
				     bool empty_ok, bool kstr, __u8 *cut)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task_btf();
	char c = 0;
	__u32 len = 0;
	long n;

	if (kstr)
		bpf_probe_read_kernel(&c, 1, (void *)str);
	else
		bpf_probe_read_user(&c, 1, (void *)str);
	if (c != '/') {
		if (dfd == AT_FDCWD) {
			/* read, not dereferenced: the walk wants a plain number */
			struct fs_struct *fs = BPF_CORE_READ(task, fs);

			len = path_of(b, (void *)fs + bpf_core_field_offset(struct fs_struct, pwd),
				      start, cut);
		} else {
			struct file *f = fd_file(dfd);

			if (!f) { /* a bad dirfd: the call failed with EBADF */
				b->data[idx(start)] = '\0';
				return 0;
			}
			len = path_of(b, __builtin_preserve_access_index(&f->f_path), start, cut);
		}
		if (c == '\0' && empty_ok) /* AT_EMPTY_PATH: dfd itself */
			return len;
		if (len != 1) /* not "/" */
			b->data[idx(start + len++)] = '/';
	}
	if (kstr)
		n = bpf_probe_read_kernel_str(&b->data[idx(start + len)], FA_PATH_MAX, (void *)str);
	else
		n = bpf_probe_read_user_str(&b->data[idx(start + len)], FA_PATH_MAX, (void *)str);
	if (n > 0)
		len += n - 1;
	if (len > FA_PATH_MAX - 1) {
		len = FA_PATH_MAX - 1;
		*cut = 1;
		b->data[idx(start + len)] = '\0';
	}
	return len;
}

static __always_inline __u32 text_at(struct scratch *b, __u64 str, __u32 start, bool kstr)
{
	long n = kstr ? bpf_probe_read_kernel_str(&b->data[idx(start)], FA_PATH_MAX, (void *)str) :
			bpf_probe_read_user_str(&b->data[idx(start)], FA_PATH_MAX, (void *)str);

	return n > 0 ? n - 1 : 0;
}

/* ---- the watched-prefix test: one pass over the path ------------------- */

struct check {
	struct scratch *b;
	__u32 start, len, comp;
	__u64 hash;
	bool watched, raw, resolved;
};

static long check_step(__u32 i, struct check *c)
{
	__u8 ch = '/'; /* past the end: a virtual '/' closes the last component */
	__u32 clen;

	if (i > c->len || (c->resolved && (c->watched || i > max_prefix_len)))
		return 1;
	if (i < c->len)
		ch = c->b->data[(c->start + i) & OFF_MASK];
	if (ch == '/') {
		clen = i - c->comp;
		if (i > 0 && !c->resolved) {
			__u8 a = c->b->data[(c->start + c->comp) & OFF_MASK];
			__u8 z = c->b->data[(c->start + c->comp + 1) & OFF_MASK];

			if (clen == 0 || (clen == 1 && a == '.') || (clen == 2 && a == '.' && z == '.'))
				c->raw = true;
		}
		if (i <= max_prefix_len && !c->watched && bpf_map_lookup_elem(&watched, &c->hash))
			c->watched = true;
		c->comp = i + 1;
	}
	if (i < c->len) {
		c->hash ^= ch;
		c->hash *= FNV_PRIME;
	}
	return 0;
}

/* `resolved`: a path built from dentries, which has no "."/".." components:
 * the scan stops once it has a verdict. */
__noinline __u32 fa_check(struct scratch *b, __u32 start, __u32 len, __u32 resolved)
{
	struct check c = { .b = b, .start = start, .len = len, .hash = FNV_BASIS,
			   .resolved = resolved };

	if (!b)
		return 0;
	bpf_loop(len + 1, check_step, &c, 0);
	return (c.watched ? 1 : 0) | (c.raw ? 2 : 0);
}

static __always_inline void check(struct scratch *b, __u32 start, __u32 len, bool resolved,
				  bool *watched, bool *raw)
{
	__u32 r = fa_check(b, start, len, resolved);

	*watched = r & 1;
	*raw = r & 2;
}

/* ---- watched by inode: hard links -------------------------------------- */

struct alias_walk {
	__u64 node, d;
	__u32 found;
};

static long alias_step(__u32 i, struct alias_walk *w)
{
	struct dentry *d = (struct dentry *)w->d, *parent;

	if (!d) { /* the file's next name */
		struct hlist_node *node = (struct hlist_node *)w->node;

		if (!node)
			return 1;
		d = (void *)node - bpf_core_field_offset(struct dentry, d_u.d_alias);
		w->node = (__u64)BPF_CORE_READ(node, next);
	} else if (inode_marked(BPF_CORE_READ(d, d_inode))) {
		w->found = 1;
		return 1;
	}
	parent = BPF_CORE_READ(d, d_parent);
	w->d = parent == d ? 0 : (__u64)parent; /* a filesystem's root: next name */
	return 0;
}

/* Whether any name of `inode` the dentry cache holds is under a marked
 * directory: a hard link's other names. The walk starts on the first name,
 * not on "none yet": before 6.7 the verifier checks a bpf_loop() callback
 * once, with the state of the first call, and drops as dead the branches
 * that state does not take (a constant 0 there lost the mark test). */
__noinline __u32 fa_alias(__u64 inode)
{
	struct hlist_node *first = BPF_CORE_READ((struct inode *)inode, i_dentry.first);
	struct alias_walk w = {};

	if (!first)
		return 0;
	w.d = (__u64)first - bpf_core_field_offset(struct dentry, d_u.d_alias);
	w.node = (__u64)BPF_CORE_READ(first, next);
	bpf_loop(8 * MAX_DEPTH, alias_step, &w, 0);
	return w.found;
}

/* A file watched whatever its path: marked itself, or a regular file with
 * several names one of which is under a marked directory. */
static __always_inline bool file_marked(struct inode *inode)
{
	if (!inode)
		return false;
	if (inode_marked(inode))
		return true;
	if ((BPF_CORE_READ(inode, i_mode) & S_IFMT) != S_IFREG || BPF_CORE_READ(inode, i_nlink) < 2)
		return false;
	return fa_alias((__u64)inode);
}

/* ---- the record: resolve, filter, fill ---------------------------------- */

/* The whole decision for a call in b->a that ended with `ret`: resolves its
 * paths, judges them and fills b->e and b->data. Returns the record's size,
 * 0 when there is nothing to send. `better`: called by an fexit program (the
 * file of an open comes in b->a.file; watched inodes count). */
__noinline __u32 fa_finish(struct scratch *b, long ret, __u32 better)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task_btf();
	__u32 len1 = 0, len2 = 0;
	__u8 cut1 = 0, cut2 = 0, flags = 0;
	bool w1 = false, r1 = false, w2 = false, r2 = false;
	__u8 op;

	if (!b)
		return 0;
	if (ret < 0 && !attempts)
		return 0;
	op = b->a.op;
	if (b->a.k1 == K_OPEN || b->a.k1 == K_FD) {
		__u32 of = b->a.oflags;
		struct file *f;
		struct copy_state c;
		bool marked = false, wm = false;

		if (b->a.k1 == K_OPEN && ret < 0) { /* a failed open: the name it was given */
			op = of & O_TRUNC ? FA_TRUNCATE : of & O_ACCMODE ? FA_WRITE : FA_CREATE;
			len1 = path_at(b, b->a.d1, b->a.p1, 0, false, b->a.kstr, &cut1);
			len1 &= FA_PATH_MAX - 1;
			check(b, 0, len1, false, &w1, &r1);
			goto judged;
		}
		f = b->a.file ? (struct file *)b->a.file :
				fd_file(b->a.k1 == K_OPEN ? ret : b->a.d1);
		if (!f)
			return 0;
		if (b->a.k1 == K_OPEN) {
			__u32 fmode = BPF_CORE_READ(f, f_mode);

			op = fmode & FMODE_CREATED ? FA_CREATE : of & O_TRUNC ? FA_TRUNCATE :
			     fmode & FMODE_WRITE ? FA_WRITE : 0;
			if (!op) /* O_CREAT of a file that existed, opened read-only */
				return 0;
		}
		/* The common case, cheapest: a directory known to be unwatched, or
		 * just enough of the path copied to judge it. A file watched by
		 * inode is past both. */
		struct dentry *dir = BPF_CORE_READ(f, f_path.dentry, d_parent);
		struct vfsmount *vm = BPF_CORE_READ(f, f_path.mnt);
		struct dir_key dk = { .dentry = (__u64)dir, .mnt = (__u64)vm };
		struct dir_verdict dv = { .gen = tree_gen, .ino = BPF_CORE_READ(dir, d_inode, i_ino),
					  .sb = (__u64)BPF_CORE_READ(dir, d_sb),
					  .event = mnt_event(vm) };
		struct dir_verdict *known;

		if (better)
			marked = file_marked(BPF_CORE_READ(f, f_path.dentry, d_inode));
		if (!marked) {
			known = bpf_map_lookup_elem(&unwatched_dirs, &dk);
			if (known && known->gen == dv.gen && known->ino == dv.ino &&
			    known->sb == dv.sb && known->event == dv.event)
				return 0;
		}
		len1 = path_of_lim(b, __builtin_preserve_access_index(&f->f_path), 0, &cut1, &c,
				   marked ? FA_PATH_MAX : max_prefix_len, better, &wm);
		check(b, 0, len1 & (FA_PATH_MAX - 1), true, &w1, &r1);
		w1 = w1 || marked || wm;
		if (!w1) {
			/* Cut short past every prefix: the directory and all below it are
			 * unwatched (nothing watched is that long, no marked inode above). */
			if (c.more && dv.event)
				bpf_map_update_elem(&unwatched_dirs, &dk, &dv, BPF_ANY);
			return 0;
		}
		if (c.more)
			len1 = path_resume(b, &c, &cut1);
		len1 &= FA_PATH_MAX - 1;
	} else if (b->a.k1 == K_TEXT) {
		len1 = text_at(b, b->a.p1, 0, false);
		flags |= FA_TARGET_TEXT;
		len1 &= FA_PATH_MAX - 1;
		if (b->data[0] == '/')
			check(b, 0, len1, true, &w1, &r1); /* text: never normalised */
	} else {
		len1 = path_at(b, b->a.d1, b->a.p1, 0, b->a.oflags & AT_EMPTY_PATH, false, &cut1);
		len1 &= FA_PATH_MAX - 1;
		check(b, 0, len1, false, &w1, &r1);
	}
judged:
	if (b->a.k2 == K_AT) {
		len2 = path_at(b, b->a.d2, b->a.p2, len1 + 1, false, false, &cut2);
		len2 &= FA_PATH_MAX - 1;
		check(b, len1 + 1, len2, false, &w2, &r2);
	}
	if (!(w1 || w2 || r1 || r2))
		return 0;
	flags |= (r1 ? FA_PATH_RAW : 0) | (r2 ? FA_NEW_RAW : 0) | (cut1 ? FA_PATH_CUT : 0) |
		 (cut2 ? FA_NEW_CUT : 0) | (w1 ? FA_PATH_WATCHED : 0) | (w2 ? FA_NEW_WATCHED : 0);

	b->e.ts_ns = bpf_ktime_get_ns();
	b->e.pid = bpf_get_current_pid_tgid() >> 32;
	b->e.tid = (__u32)bpf_get_current_pid_tgid();
	b->e.ppid = BPF_CORE_READ(task, real_parent, tgid);
	b->e.uid = (__u32)bpf_get_current_uid_gid();
	b->e.gid = bpf_get_current_uid_gid() >> 32;
	b->e.result = ret;
	b->e.mode = b->a.mode;
	b->e.owner = b->a.owner;
	b->e.group = b->a.group;
	b->e.path_len = len1;
	b->e.new_path_len = len2;
	b->e.op = op;
	b->e.syscall = b->a.sc;
	b->e.flags = flags;
	bpf_get_current_comm(b->e.comm, sizeof(b->e.comm));
	BPF_CORE_READ_STR_INTO(&b->e.pcomm, task, real_parent, comm);
	return sizeof(b->e) + len1 + 1 + (b->a.k2 ? len2 + 1 : 0);
}

static __always_inline int emit(void *ctx, struct scratch *b, __u64 total)
{
	if (!total)
		return 0;
	/* A bound the verifier keeps (the compiler drops a plain `if` here). */
	asm volatile("%[t] &= 0x3fff" : [t] "+r"(total));
	bpfkit_output(ctx, events, b, total);
	return 0;
}

SEC("tracepoint")
int finish(struct bpfkit_sys_exit *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid(), zero = 0;
	struct pending *p = bpf_map_lookup_elem(&pending, &tid);
	struct scratch *b = bpf_map_lookup_elem(&heap, &zero);

	if (!p || !b)
		return 0;
	b->a = *p;
	bpf_map_delete_elem(&pending, &tid);
	return emit(ctx, b, fa_finish(b, ctx->ret, 0));
}

/* ---- LSM / fentry / fexit path ------------------------------------------ */

/* The syscall this task is in, as enum fileaudit_syscall; 0 for none we
 * know: io_uring workers, kernel threads, 32-bit syscalls (other numbers). */
static __always_inline __u8 current_syscall(void)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task_btf();
	struct pt_regs *regs;
	__u32 nr;
	__u8 *id;

	if (BPF_CORE_READ(task, flags) & (PF_KTHREAD | PF_IO_WORKER))
		return 0;
	regs = (struct pt_regs *)bpf_task_pt_regs(task);
#if defined(__TARGET_ARCH_x86)
	if (BPF_CORE_READ(task, thread_info.status) & TS_COMPAT)
		return 0;
	nr = BPF_CORE_READ(regs, orig_ax);
#elif defined(__TARGET_ARCH_arm64)
	nr = BPF_CORE_READ(regs, syscallno);
#else
	return 0;
#endif
	id = bpf_map_lookup_elem(&syscall_ids, &nr);
	return id ? *id : 0;
}

/* The arguments of the syscall this task is in (valid until it returns). */
static __always_inline void syscall_args(struct sysargs *s)
{
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(
		(struct task_struct *)bpf_get_current_task_btf());

	s->a[0] = PT_REGS_PARM1_CORE_SYSCALL(regs);
	s->a[1] = PT_REGS_PARM2_CORE_SYSCALL(regs);
	s->a[2] = PT_REGS_PARM3_CORE_SYSCALL(regs);
	s->a[3] = PT_REGS_PARM4_CORE_SYSCALL(regs);
	s->a[4] = PT_REGS_PARM5_CORE_SYSCALL(regs);
	s->a[5] = 0;
}

#define R_CUT (1U << 16)
#define R_WATCHED (1U << 17)

/* A kernel pointer as a plain number: global functions take scalars only,
 * and to the verifier a hook's arguments are typed pointers. */
static __always_inline __u64 number(const void *p)
{
	__u64 v = 0;

	bpf_probe_read_kernel(&v, sizeof(v), &p);
	return v;
}

/* The resolved path of (dentry, vfsmount) at data[start], and whether it is
 * watched: by a watched prefix, or by a marked inode (the file itself, a
 * directory above it, another name of it). Returns its length | R_*.
 * `judge`: the path is wanted only if watched; an unwatched verdict may come
 * from the directory cache or from the first max_prefix_len bytes. */
static __always_inline __u32 dentry_path(struct scratch *b, struct dentry *d,
					 struct vfsmount *vm, __u32 start, bool judge)
{
	struct copy_state c;
	__u8 cut = 0;
	__u32 len;
	bool w = false, r, marked, wm = false;

	marked = file_marked(BPF_CORE_READ(d, d_inode));
	struct dentry *dir = BPF_CORE_READ(d, d_parent);
	struct dir_key dk = { .dentry = (__u64)dir, .mnt = (__u64)vm };
	struct dir_verdict dv = { .gen = tree_gen, .ino = BPF_CORE_READ(dir, d_inode, i_ino),
				  .sb = (__u64)BPF_CORE_READ(dir, d_sb), .event = mnt_event(vm) };

	if (judge && !marked) {
		struct dir_verdict *known = bpf_map_lookup_elem(&unwatched_dirs, &dk);

		if (known && known->gen == dv.gen && known->ino == dv.ino && known->sb == dv.sb &&
		    known->event == dv.event)
			return 0;
	}
	len = dentry_path_lim(b, d, vm, start, &cut, &c,
			      judge && !marked ? max_prefix_len : FA_PATH_MAX, true, &wm);
	check(b, start, len & (FA_PATH_MAX - 1), true, &w, &r);
	w = w || marked || wm;
	if (!w && judge) {
		if (c.more && dv.event)
			bpf_map_update_elem(&unwatched_dirs, &dk, &dv, BPF_ANY);
		return 0;
	}
	if (c.more)
		len = path_resume(b, &c, &cut);
	return (len & (FA_PATH_MAX - 1)) | (cut ? R_CUT : 0) | (w ? R_WATCHED : 0);
}

/* Before a change (an LSM hook, or fentry on the security_path_* function
 * that calls it): judge it while its dentries are alive, and keep the record
 * of a watched one for the fexit that knows the result. d2: the second path
 * (rename, link: the new name); text: a symlink's target as written.
 * mark, unmark: inodes to mark and unmark if the change succeeds. */
static __always_inline void before(__u8 op, struct dentry *d1, struct vfsmount *vm1,
				   struct dentry *d2, struct vfsmount *vm2, const char *text,
				   __u32 mode, struct inode *mark, struct inode *unmark)
{
	struct mark_change *mc;
	__u32 tid = (__u32)bpf_get_current_pid_tgid(), zero = 0, r1 = 0, r2 = 0, len1 = 0;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task_btf();
	struct scratch *b;
	bool w1 = false, raw;
	__u8 flags = 0, one = 1;

	if (!wanted())
		return;
	b = bpf_map_lookup_elem(&heap, &zero);
	if (!b)
		return;
	d1 = (struct dentry *)number(d1);
	d2 = (struct dentry *)number(d2);
	if (text) {
		len1 = text_at(b, (__u64)text, 0, true) & (FA_PATH_MAX - 1);
		flags |= FA_TARGET_TEXT;
		if (b->data[0] == '/')
			check(b, 0, len1, true, &w1, &raw); /* text: never normalised */
	} else {
		r1 = dentry_path(b, d1, vm1, 0, !d2); /* two paths: either may be the watched one */
		len1 = r1 & (FA_PATH_MAX - 1);
		w1 = r1 & R_WATCHED;
	}
	if (d2)
		r2 = dentry_path(b, d2, vm2, len1 + 1, false);
	if (!w1 && !(r2 & R_WATCHED)) {
		if (attempts)
			bpf_map_update_elem(&judged, &tid, &one, BPF_ANY);
		/* a record left by a change whose fexit we never saw (it began
		 * before we attached) must not pass for this one's */
		bpf_map_delete_elem(&inflight, &tid);
		return;
	}
	/* struct inflight's head is struct scratch's: its marks lie in b->data,
	 * past both paths */
	mc = (struct mark_change *)((void *)b + offsetof(struct inflight, marks));
	mark_key_of(mark, &mc->set);
	mark_key_of(unmark, &mc->clear);
	flags |= (r1 & R_CUT ? FA_PATH_CUT : 0) | (r2 & R_CUT ? FA_NEW_CUT : 0) |
		 (w1 ? FA_PATH_WATCHED : 0) | (r2 & R_WATCHED ? FA_NEW_WATCHED : 0);
	b->e.ts_ns = 0; /* set after the change */
	b->e.pid = bpf_get_current_pid_tgid() >> 32;
	b->e.tid = tid;
	b->e.ppid = BPF_CORE_READ(task, real_parent, tgid);
	b->e.uid = (__u32)bpf_get_current_uid_gid();
	b->e.gid = bpf_get_current_uid_gid() >> 32;
	b->e.result = 0;
	b->e.mode = mode;
	b->e.owner = NOID;
	b->e.group = NOID;
	b->e.path_len = len1;
	b->e.new_path_len = d2 ? r2 & (FA_PATH_MAX - 1) : 0;
	b->e.op = op;
	b->e.syscall = current_syscall();
	b->e.flags = flags;
	bpf_get_current_comm(b->e.comm, sizeof(b->e.comm));
	BPF_CORE_READ_STR_INTO(&b->e.pcomm, task, real_parent, comm);
	bpf_map_update_elem(&inflight, &tid, &b->e, BPF_ANY);
}

#define SET_MODE 1
#define SET_OWNER 2

/* After a change (fexit on the function that made it): send the record kept
 * before it with the result. A call that failed before its file was resolved
 * (no such file, a directory not searchable, an earlier LSM's denial) is
 * judged, as on the tracepoint path, by the names its syscall gave. `mode`,
 * `owner`, `group`: the call's own arguments, as the syscall gave them. */
static __always_inline int after(void *ctx, __u8 op, long ret, __u32 mode, __u32 owner,
				 __u32 group, int set)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid(), zero = 0;
	struct inflight *v = bpf_map_lookup_elem(&inflight, &tid);
	__u8 sc = current_syscall();
	bool unwatched = false;
	struct scratch *b;
	struct sysargs s;

	if (attempts)
		unwatched = bpf_map_delete_elem(&judged, &tid) == 0;
	if (v) {
		bool mine = v->e.op == op && v->e.syscall == sc; /* else left by a call never finished */

		if (mine && ret >= 0) {
			__u8 one = 1;

			if (v->marks.set.sb)
				bpf_map_update_elem(&marks, &v->marks.set, &one, BPF_ANY);
			if (v->marks.clear.sb)
				bpf_map_delete_elem(&marks, &v->marks.clear);
		}
		if (mine && (ret >= 0 || attempts)) {
			__u64 total = sizeof(v->e) + v->e.path_len + 1;

			if (op == FA_RENAME || op == FA_LINK || op == FA_SYMLINK)
				total += v->e.new_path_len + 1;
			v->e.ts_ns = bpf_ktime_get_ns();
			v->e.result = ret;
			if (set & SET_MODE)
				v->e.mode = mode;
			if (set & SET_OWNER) {
				v->e.owner = owner;
				v->e.group = group;
			}
			if (total > offsetof(struct inflight, marks))
				total = offsetof(struct inflight, marks);
			bpfkit_output(ctx, events, v, total);
		}
		bpf_map_delete_elem(&inflight, &tid);
		if (mine)
			return 0;
	}
	if (ret >= 0 || !attempts || unwatched || !sc || !wanted())
		return 0;
	b = bpf_map_lookup_elem(&heap, &zero);
	if (!b)
		return 0;
	syscall_args(&s);
	if (!args_of(sc, &s, &b->a))
		return 0;
	return emit(ctx, b, fa_finish(b, ret, 1));
}

/* An LSM program's return value is the decision: pass on the one made
 * before ours (0, or -errno from another BPF LSM program). */
static __always_inline int pass(int ret)
{
	return ret < 0 && ret >= -MAX_ERRNO ? ret : 0;
}

static __always_inline long func_ret(void *ctx)
{
	__u64 ret = 0;

	bpf_get_func_ret(ctx, &ret);
	return (int)ret; /* every function below returns int (or a long that fits) */
}

/* The before-hooks, once per family; each as an LSM program and as an
 * fentry program on the security_path_* function that calls the LSM hook. */
static __always_inline void on_unlink(const struct path *dir, struct dentry *d)
{
	struct inode *inode = BPF_CORE_READ(d, d_inode);

	/* the last name of a marked inode: its mark goes with it */
	before(FA_DELETE, d, BPF_CORE_READ(dir, mnt), NULL, NULL, NULL, 0, NULL,
	       inode_marked(inode) && last_name(inode) ? inode : NULL);
}

static __always_inline void on_rmdir(const struct path *dir, struct dentry *d)
{
	tree_changed();
	on_unlink(dir, d);
}

static __always_inline void on_rename(const struct path *old_dir, struct dentry *old,
				      const struct path *new_dir, struct dentry *new)
{
	struct inode *replaced = BPF_CORE_READ(new, d_inode);
	bool onto_marked = inode_marked(replaced);

	tree_changed();
	/* a file renamed over a marked one (passwd, visudo, editors) is the
	 * watched file from now on; the one it replaced, if that was its last
	 * name, is gone */
	before(FA_RENAME, old, BPF_CORE_READ(old_dir, mnt), new, BPF_CORE_READ(new_dir, mnt), NULL,
	       0, onto_marked ? BPF_CORE_READ(old, d_inode) : NULL,
	       onto_marked && last_name(replaced) ? replaced : NULL);
}

static __always_inline void on_link(struct dentry *old, const struct path *new_dir,
				    struct dentry *new)
{
	struct vfsmount *vm = BPF_CORE_READ(new_dir, mnt); /* a link never crosses mounts */

	/* a watched file given another name is watched through it from now on */
	before(FA_LINK, old, vm, new, vm, NULL, 0, BPF_CORE_READ(old, d_inode), NULL);
}

static __always_inline void on_symlink(const struct path *dir, struct dentry *d, const char *target)
{
	before(FA_SYMLINK, NULL, NULL, d, BPF_CORE_READ(dir, mnt), target, 0, NULL, NULL);
}

static __always_inline void on_mkdir(const struct path *dir, struct dentry *d, __u32 mode)
{
	before(FA_MKDIR, d, BPF_CORE_READ(dir, mnt), NULL, NULL, NULL, mode, NULL, NULL);
}

static __always_inline void on_path(__u8 op, const struct path *path, __u32 mode)
{
	before(op, BPF_CORE_READ(path, dentry), BPF_CORE_READ(path, mnt), NULL, NULL, NULL, mode,
	       NULL, NULL);
}

static __always_inline void on_truncate(const struct path *path)
{
	/* also called for ftruncate and O_TRUNC opens (before 6.2): those
	 * have their file at exit */
	if (current_syscall() == FS_TRUNCATE)
		on_path(FA_TRUNCATE, path, 0);
}

SEC("lsm/path_unlink")
int BPF_PROG(lsm_unlink, const struct path *dir, struct dentry *d, int ret)
{
	on_unlink(dir, d);
	return pass(ret);
}

SEC("lsm/path_rmdir")
int BPF_PROG(lsm_rmdir, const struct path *dir, struct dentry *d, int ret)
{
	on_rmdir(dir, d);
	return pass(ret);
}

SEC("lsm/path_rename")
int BPF_PROG(lsm_rename, const struct path *old_dir, struct dentry *old, const struct path *new_dir,
	     struct dentry *new, unsigned int flags, int ret)
{
	on_rename(old_dir, old, new_dir, new);
	return pass(ret);
}

SEC("lsm/path_link")
int BPF_PROG(lsm_link, struct dentry *old, const struct path *new_dir, struct dentry *new, int ret)
{
	on_link(old, new_dir, new);
	return pass(ret);
}

SEC("lsm/path_symlink")
int BPF_PROG(lsm_symlink, const struct path *dir, struct dentry *d, const char *target, int ret)
{
	on_symlink(dir, d, target);
	return pass(ret);
}

SEC("lsm/path_mkdir")
int BPF_PROG(lsm_mkdir, const struct path *dir, struct dentry *d, umode_t mode, int ret)
{
	on_mkdir(dir, d, mode);
	return pass(ret);
}

SEC("lsm/path_chmod")
int BPF_PROG(lsm_chmod, const struct path *path, umode_t mode, int ret)
{
	on_path(FA_CHMOD, path, mode);
	return pass(ret);
}

SEC("lsm/path_chown")
int BPF_PROG(lsm_chown, const struct path *path)
{
	on_path(FA_CHOWN, path, 0);
	return pass(ctx[3]); /* after kuid_t uid, kgid_t gid: structs BPF_PROG cannot cast */
}

SEC("lsm/path_truncate")
int BPF_PROG(lsm_truncate, const struct path *path, int ret)
{
	on_truncate(path);
	return pass(ret);
}

SEC("fentry/security_path_unlink")
int BPF_PROG(fentry_unlink, const struct path *dir, struct dentry *d)
{
	on_unlink(dir, d);
	return 0;
}

SEC("fentry/security_path_rmdir")
int BPF_PROG(fentry_rmdir, const struct path *dir, struct dentry *d)
{
	on_rmdir(dir, d);
	return 0;
}

SEC("fentry/security_path_rename")
int BPF_PROG(fentry_rename, const struct path *old_dir, struct dentry *old,
	     const struct path *new_dir, struct dentry *new)
{
	on_rename(old_dir, old, new_dir, new);
	return 0;
}

SEC("fentry/security_path_link")
int BPF_PROG(fentry_link, struct dentry *old, const struct path *new_dir, struct dentry *new)
{
	on_link(old, new_dir, new);
	return 0;
}

SEC("fentry/security_path_symlink")
int BPF_PROG(fentry_symlink, const struct path *dir, struct dentry *d, const char *target)
{
	on_symlink(dir, d, target);
	return 0;
}

SEC("fentry/security_path_mkdir")
int BPF_PROG(fentry_mkdir, const struct path *dir, struct dentry *d, umode_t mode)
{
	on_mkdir(dir, d, mode);
	return 0;
}

SEC("fentry/security_path_chmod")
int BPF_PROG(fentry_chmod, const struct path *path, umode_t mode)
{
	on_path(FA_CHMOD, path, mode);
	return 0;
}

SEC("fentry/security_path_chown")
int BPF_PROG(fentry_chown, const struct path *path)
{
	on_path(FA_CHOWN, path, 0);
	return 0;
}

SEC("fentry/security_path_truncate")
int BPF_PROG(fentry_truncate, const struct path *path)
{
	on_truncate(path);
	return 0;
}

/* After: the functions behind each family of syscalls, which io_uring's
 * unlinkat, renameat, mkdirat, ... call too (large, and called from two
 * files: never inlined away). */
/* the result is all these add to what the before-hook saw */
#define FEXIT_RESULT(prog, fn, op) \
	SEC("fexit/" fn) int BPF_PROG(prog) { return after(ctx, op, func_ret(ctx), 0, 0, 0, 0); }

FEXIT_RESULT(fexit_unlink, "do_unlinkat", FA_DELETE)
FEXIT_RESULT(fexit_rmdir, "do_rmdir", FA_DELETE)
FEXIT_RESULT(fexit_rename, "do_renameat2", FA_RENAME)
FEXIT_RESULT(fexit_link, "do_linkat", FA_LINK)
FEXIT_RESULT(fexit_symlink, "do_symlinkat", FA_SYMLINK)

SEC("fexit/do_mkdirat")
int BPF_PROG(fexit_mkdir, int dfd, struct filename *name, umode_t mode)
{
	return after(ctx, FA_MKDIR, func_ret(ctx), mode, 0, 0, SET_MODE); /* before the umask */
}

/* chmod, chown and truncate: their do_* functions are small and called only
 * by their syscalls, in the same file, which a compiler may inline them into
 * (6.1 inlines vfs_fchmod and vfs_fchown into fchmod(2) and fchown(2): an
 * fexit there never runs for them); the syscall's own entry point is called
 * through the syscall table, never inlined. */
#if defined(__TARGET_ARCH_x86)
#define SYSCALL_FN(name) "__x64_sys_" #name
#elif defined(__TARGET_ARCH_arm64)
#define SYSCALL_FN(name) "__arm64_sys_" #name
#else
#define SYSCALL_FN(name) "sys_" #name /* not attachable: the tracepoints are kept */
#endif
#define ARG(regs, n) PT_REGS_PARM##n##_CORE_SYSCALL(regs)

/* the mode: as the syscall gave it, path_chmod's */
FEXIT_RESULT(fexit_chmod, SYSCALL_FN(chmod), FA_CHMOD)
FEXIT_RESULT(fexit_fchmod, SYSCALL_FN(fchmod), FA_CHMOD)
FEXIT_RESULT(fexit_fchmodat, SYSCALL_FN(fchmodat), FA_CHMOD)
FEXIT_RESULT(fexit_fchmodat2, SYSCALL_FN(fchmodat2), FA_CHMOD)

/* owner and group: as the syscall gave them (path_chown's are mapped into
 * the initial user namespace) */
SEC("fexit/" SYSCALL_FN(chown))
int BPF_PROG(fexit_chown, const struct pt_regs *regs)
{
	return after(ctx, FA_CHOWN, func_ret(ctx), 0, ARG(regs, 2), ARG(regs, 3), SET_OWNER);
}

SEC("fexit/" SYSCALL_FN(lchown))
int BPF_PROG(fexit_lchown, const struct pt_regs *regs)
{
	return after(ctx, FA_CHOWN, func_ret(ctx), 0, ARG(regs, 2), ARG(regs, 3), SET_OWNER);
}

SEC("fexit/" SYSCALL_FN(fchown))
int BPF_PROG(fexit_fchown, const struct pt_regs *regs)
{
	return after(ctx, FA_CHOWN, func_ret(ctx), 0, ARG(regs, 2), ARG(regs, 3), SET_OWNER);
}

SEC("fexit/" SYSCALL_FN(fchownat))
int BPF_PROG(fexit_fchownat, const struct pt_regs *regs)
{
	return after(ctx, FA_CHOWN, func_ret(ctx), 0, ARG(regs, 3), ARG(regs, 4), SET_OWNER);
}

FEXIT_RESULT(fexit_truncate, SYSCALL_FN(truncate), FA_TRUNCATE)

/* ftruncate: the file is still open at exit. */
SEC("fexit/" SYSCALL_FN(ftruncate))
int BPF_PROG(fexit_ftruncate, const struct pt_regs *regs)
{
	long ret = func_ret(ctx);
	__s32 fd = ARG(regs, 1);
	__u32 zero = 0;
	struct scratch *b;

	if ((ret < 0 && !attempts) || !wanted())
		return 0;
	b = bpf_map_lookup_elem(&heap, &zero);
	if (!b)
		return 0;
	b->a = (struct pending){ .op = FA_TRUNCATE, .sc = current_syscall(), .k1 = K_FD,
				 .d1 = fd, .owner = NOID, .group = NOID };
	return emit(ctx, b, fa_finish(b, ret, 1));
}

/* Every open (syscalls, io_uring, the kernel's own filp_open): the file it
 * returned, or on failure the name it was given (the kernel's copy). */
SEC("fexit/do_filp_open")
int BPF_PROG(fexit_open, int dfd, struct filename *name, const struct open_flags *op,
	     struct file *file)
{
	__u32 flags = BPF_CORE_READ(op, open_flag), zero = 0;
	__u64 f = number(file); /* an ERR_PTR() on failure */
	long ret = f >= (__u64)-MAX_ERRNO ? (long)f : 0;
	struct scratch *b;

	if (mark_tid) { /* start-up: see marks */
		struct bpf_pidns_info ns;

		if (!bpf_get_ns_current_pid_tgid(pidns_dev, pidns_ino, &ns, sizeof(ns)) &&
		    ns.pid == mark_tid) {
			if (ret == 0)
				mark_inode(BPF_CORE_READ(file, f_path.dentry, d_inode));
			return 0;
		}
	}
	if ((flags & O_ACCMODE) == 0 && !(flags & (O_CREAT | O_TRUNC)))
		return 0;
	if ((flags & O_TMPFILE_BIT) || (ret < 0 && !attempts) || !wanted())
		return 0;
	b = bpf_map_lookup_elem(&heap, &zero);
	if (!b)
		return 0;
	/* mode as the syscall's: build_open_flags() added S_IFREG */
	b->a = (struct pending){ .sc = current_syscall(), .k1 = K_OPEN, .d1 = dfd,
				 .p1 = (__u64)BPF_CORE_READ(name, name), .kstr = 1,
				 .file = ret < 0 ? 0 : f, .oflags = flags,
				 .mode = BPF_CORE_READ(op, mode) & S_IALLUGO };
	return emit(ctx, b, fa_finish(b, ret, 1));
}

/* ---- which hooks: best first, per family of calls ----------------------- */

/* Each group, named after the syscall whose tracepoints are its last
 * alternative, keeps the first alternative this kernel offers: LSM hook +
 * fexit, fentry + fexit, or the syscall tracepoints. Where one function
 * serves a family of syscalls (do_filp_open, do_unlinkat, ...), the groups
 * of the family repeat the same better alternatives, so that where the
 * family has them no tracepoint of any of its syscalls is attached.
 * Syscalls not every kernel has (the legacy ones are x86-64 only, renameat
 * is gone on newer architectures, openat2 came in 5.6, fchmodat2 in 6.6)
 * are optional groups. The mount calls' tracepoints (the directory cache's
 * invalidation on the tracepoint path) follow the opens'. The extra level of
 * macros expands these lists before BPFKIT_HOOKS turns them into strings. */
#define OPEN_X fexit_open
#define UNLINK_LSM lsm_unlink+lsm_rmdir+fexit_unlink+fexit_rmdir
#define UNLINK_FENTRY fentry_unlink+fentry_rmdir+fexit_unlink+fexit_rmdir
#define RENAME_LSM lsm_rename+fexit_rename
#define RENAME_FENTRY fentry_rename+fexit_rename
#define LINK_LSM lsm_link+fexit_link
#define LINK_FENTRY fentry_link+fexit_link
#define SYMLINK_LSM lsm_symlink+fexit_symlink
#define SYMLINK_FENTRY fentry_symlink+fexit_symlink
#define MKDIR_LSM lsm_mkdir+fexit_mkdir
#define MKDIR_FENTRY fentry_mkdir+fexit_mkdir
#define HOOKS(group, ...) BPFKIT_HOOKS(group, __VA_ARGS__)
#define OPTIONAL(group, ...) BPFKIT_HOOKS_OPTIONAL(group, __VA_ARGS__)
#define TP(name) enter_##name+exit_##name
/* one syscall: its family's before-hook and its own fexit, or its tracepoints */
#define BY_SYSCALL(kind, family, name) \
	kind(name, lsm_##family+fexit_##name, fentry_##family+fexit_##name, TP(name))

HOOKS(openat, OPEN_X, TP(openat));
OPTIONAL(open, OPEN_X, TP(open));
OPTIONAL(creat, OPEN_X, TP(creat));
OPTIONAL(openat2, OPEN_X, TP(openat2));
BY_SYSCALL(HOOKS, truncate, truncate);
HOOKS(ftruncate, fexit_ftruncate, TP(ftruncate));
HOOKS(unlinkat, UNLINK_LSM, UNLINK_FENTRY, TP(unlinkat));
OPTIONAL(unlink, UNLINK_LSM, UNLINK_FENTRY, TP(unlink));
OPTIONAL(rmdir, UNLINK_LSM, UNLINK_FENTRY, TP(rmdir));
HOOKS(renameat2, RENAME_LSM, RENAME_FENTRY, TP(renameat2));
OPTIONAL(rename, RENAME_LSM, RENAME_FENTRY, TP(rename));
OPTIONAL(renameat, RENAME_LSM, RENAME_FENTRY, TP(renameat));
BY_SYSCALL(HOOKS, chmod, fchmodat);
BY_SYSCALL(HOOKS, chmod, fchmod);
BY_SYSCALL(OPTIONAL, chmod, chmod);
BY_SYSCALL(OPTIONAL, chmod, fchmodat2);
BY_SYSCALL(HOOKS, chown, fchownat);
BY_SYSCALL(HOOKS, chown, fchown);
BY_SYSCALL(OPTIONAL, chown, chown);
BY_SYSCALL(OPTIONAL, chown, lchown);
HOOKS(linkat, LINK_LSM, LINK_FENTRY, TP(linkat));
OPTIONAL(link, LINK_LSM, LINK_FENTRY, TP(link));
HOOKS(symlinkat, SYMLINK_LSM, SYMLINK_FENTRY, TP(symlinkat));
OPTIONAL(symlink, SYMLINK_LSM, SYMLINK_FENTRY, TP(symlink));
HOOKS(mkdirat, MKDIR_LSM, MKDIR_FENTRY, TP(mkdirat));
OPTIONAL(mkdir, MKDIR_LSM, MKDIR_FENTRY, TP(mkdir));
OPTIONAL(mount, OPEN_X, change_mount);
OPTIONAL(umount, OPEN_X, change_umount);
OPTIONAL(move_mount, OPEN_X, change_move_mount);
OPTIONAL(pivot_root, OPEN_X, change_pivot_root);
OPTIONAL(mount_setattr, OPEN_X, change_mount_setattr);

char LICENSE[] SEC("license") = "GPL";
