// SPDX-License-Identifier: GPL-2.0
/* fileaudit.bpf.c: who changed a watched file, by any syscall that changes
 * files, with the path the kernel resolved.
 *
 * Only syscall tracepoints (no kprobe/fentry/LSM here). Entry programs save
 * the arguments per thread; the exit programs, which know the result, tail
 * call one `finish` program (verified once) that resolves the paths in the
 * kernel and decides:
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
 * only while tree_gen is unchanged (bumped by every rename, directory
 * removal and mount change: a directory's path can change only so) and
 * the dentry still holds the same inode (a freed dentry may be reused). */
struct dir_key {
	__u64 dentry, mnt;
};

struct dir_verdict {
	__u64 gen, ino, sb;
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

/* How a path argument is resolved. */
enum arg_kind { K_NONE, K_AT, K_FD, K_OPEN, K_TEXT };

struct pending {
	__u64 p1, p2;      /* user strings */
	__s32 d1, d2;      /* dirfd (or AT_FDCWD) of each, or the fd for K_FD */
	__u32 mode, owner, group, oflags;
	__u8 op, sc, k1, k2;
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

BPFKIT_RINGBUF(events, 1 << 22, struct fileaudit_event); /* the runner sets --ring-buffer-kb */

/* ---- entry: filters, then the arguments per thread --------------------- */

static __always_inline int remember(struct pending *p)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;

	if (targ_uid != (__u32)-1 && (__u32)bpf_get_current_uid_gid() != targ_uid)
		return 0;
	if (exclude_comms) {
		char comm[FA_COMM_LEN] = {};

		bpf_get_current_comm(comm, sizeof(comm));
		if (bpf_map_lookup_elem(&excluded, comm))
			return 0;
	}
	bpf_map_update_elem(&pending, &tid, p, BPF_ANY);
	return 0;
}

static __always_inline int at1(__u8 op, __u8 sc, __s32 dfd, __u64 path, __u32 mode,
			       __u32 owner, __u32 group, __u32 oflags)
{
	struct pending p = { .op = op, .sc = sc, .k1 = K_AT, .d1 = dfd, .p1 = path,
			     .mode = mode, .owner = owner, .group = group, .oflags = oflags };
	return remember(&p);
}

static __always_inline int fd1(__u8 op, __u8 sc, __s32 fd, __u32 mode, __u32 owner, __u32 group)
{
	struct pending p = { .op = op, .sc = sc, .k1 = K_FD, .d1 = fd,
			     .mode = mode, .owner = owner, .group = group };
	return remember(&p);
}

static __always_inline int two(__u8 op, __u8 sc, __u8 k1, __s32 d1, __u64 p1, __s32 d2, __u64 p2,
			       __u32 oflags)
{
	struct pending p = { .op = op, .sc = sc, .k1 = k1, .d1 = d1, .p1 = p1,
			     .k2 = K_AT, .d2 = d2, .p2 = p2, .oflags = oflags };
	return remember(&p);
}

static __always_inline int open1(__u8 sc, __s32 dfd, __u64 path, __u32 flags, __u32 mode)
{
	/* Only opens that can change something: for writing, creating or truncating. */
	if ((flags & O_ACCMODE) == 0 && !(flags & (O_CREAT | O_TRUNC)))
		return 0;
	if (flags & O_TMPFILE_BIT) /* nameless until linkat(): seen there */
		return 0;
	struct pending p = { .sc = sc, .k1 = K_OPEN, .d1 = dfd, .p1 = path,
			     .mode = mode, .oflags = flags };
	return remember(&p);
}

#define ENTER(name) SEC("tracepoint/syscalls/sys_enter_" #name) \
	int enter_##name(struct bpfkit_sys_enter *ctx)
#define A(i) (ctx->args[i])
#define NOID ((__u32)-1)

ENTER(open)      { return open1(FS_OPEN, AT_FDCWD, A(0), A(1), A(2)); }
ENTER(openat)    { return open1(FS_OPENAT, A(0), A(1), A(2), A(3)); }
ENTER(creat)     { return open1(FS_CREAT, AT_FDCWD, A(0), O_CREAT | O_TRUNC | 01, A(1)); }
ENTER(openat2)
{
	struct { __u64 flags, mode; } how = {};

	bpf_probe_read_user(&how, sizeof(how), (void *)A(2));
	return open1(FS_OPENAT2, A(0), A(1), how.flags, how.mode);
}
ENTER(truncate)  { return at1(FA_TRUNCATE, FS_TRUNCATE, AT_FDCWD, A(0), 0, NOID, NOID, 0); }
ENTER(ftruncate) { return fd1(FA_TRUNCATE, FS_FTRUNCATE, A(0), 0, NOID, NOID); }
ENTER(rename)    { tree_changed(); return two(FA_RENAME, FS_RENAME, K_AT, AT_FDCWD, A(0), AT_FDCWD, A(1), 0); }
ENTER(renameat)  { tree_changed(); return two(FA_RENAME, FS_RENAMEAT, K_AT, A(0), A(1), A(2), A(3), 0); }
ENTER(renameat2) { tree_changed(); return two(FA_RENAME, FS_RENAMEAT2, K_AT, A(0), A(1), A(2), A(3), 0); }
ENTER(unlink)    { return at1(FA_DELETE, FS_UNLINK, AT_FDCWD, A(0), 0, NOID, NOID, 0); }
ENTER(unlinkat)
{
	if (A(2) & 0x200) /* AT_REMOVEDIR */
		tree_changed();
	return at1(FA_DELETE, FS_UNLINKAT, A(0), A(1), 0, NOID, NOID, 0);
}
ENTER(rmdir)     { tree_changed(); return at1(FA_DELETE, FS_RMDIR, AT_FDCWD, A(0), 0, NOID, NOID, 0); }
ENTER(chmod)     { return at1(FA_CHMOD, FS_CHMOD, AT_FDCWD, A(0), A(1), NOID, NOID, 0); }
ENTER(fchmod)    { return fd1(FA_CHMOD, FS_FCHMOD, A(0), A(1), NOID, NOID); }
ENTER(fchmodat)  { return at1(FA_CHMOD, FS_FCHMODAT, A(0), A(1), A(2), NOID, NOID, 0); }
ENTER(fchmodat2) { return at1(FA_CHMOD, FS_FCHMODAT2, A(0), A(1), A(2), NOID, NOID, A(3)); }
ENTER(chown)     { return at1(FA_CHOWN, FS_CHOWN, AT_FDCWD, A(0), 0, A(1), A(2), 0); }
ENTER(lchown)    { return at1(FA_CHOWN, FS_LCHOWN, AT_FDCWD, A(0), 0, A(1), A(2), 0); }
ENTER(fchown)    { return fd1(FA_CHOWN, FS_FCHOWN, A(0), 0, A(1), A(2)); }
ENTER(fchownat)  { return at1(FA_CHOWN, FS_FCHOWNAT, A(0), A(1), 0, A(2), A(3), A(4)); }
ENTER(link)      { return two(FA_LINK, FS_LINK, K_AT, AT_FDCWD, A(0), AT_FDCWD, A(1), 0); }
ENTER(linkat)    { return two(FA_LINK, FS_LINKAT, K_AT, A(0), A(1), A(2), A(3), A(4)); }
ENTER(symlink)   { return two(FA_SYMLINK, FS_SYMLINK, K_TEXT, 0, A(0), AT_FDCWD, A(1), 0); }
ENTER(symlinkat) { return two(FA_SYMLINK, FS_SYMLINKAT, K_TEXT, 0, A(0), A(1), A(2), 0); }
#define TREE_CHANGE(name) SEC("tracepoint/syscalls/sys_enter_" #name) \
	int change_##name(void *ctx) { tree_changed(); return 0; }
TREE_CHANGE(mount) TREE_CHANGE(umount) TREE_CHANGE(move_mount) TREE_CHANGE(pivot_root)
TREE_CHANGE(mount_setattr)

ENTER(mkdir)     { return at1(FA_MKDIR, FS_MKDIR, AT_FDCWD, A(0), A(1), NOID, NOID, 0); }
ENTER(mkdirat)   { return at1(FA_MKDIR, FS_MKDIRAT, A(0), A(1), A(2), NOID, NOID, 0); }

/* ---- exit: tail call into finish when this thread has a pending call ---- */

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

/* Syscalls not every kernel has: the legacy ones are x86-64 only, renameat is
 * gone on newer architectures, openat2 came in 5.6, fchmodat2 in 6.6,
 * move_mount in 5.2, mount_setattr in 5.12. Each is switched off where missing. */
#define OPTIONAL_CALL(name) BPFKIT_HOOKS_OPTIONAL(name, enter_##name+exit_##name);
OPTIONAL_CALL(open) OPTIONAL_CALL(creat) OPTIONAL_CALL(rename) OPTIONAL_CALL(unlink)
OPTIONAL_CALL(rmdir) OPTIONAL_CALL(chmod) OPTIONAL_CALL(chown) OPTIONAL_CALL(lchown)
OPTIONAL_CALL(link) OPTIONAL_CALL(symlink) OPTIONAL_CALL(mkdir) OPTIONAL_CALL(openat2)
OPTIONAL_CALL(fchmodat2) OPTIONAL_CALL(renameat)
BPFKIT_HOOKS_OPTIONAL(mount, change_mount);
BPFKIT_HOOKS_OPTIONAL(umount, change_umount);
BPFKIT_HOOKS_OPTIONAL(move_mount, change_move_mount);
BPFKIT_HOOKS_OPTIONAL(pivot_root, change_pivot_root);
BPFKIT_HOOKS_OPTIONAL(mount_setattr, change_mount_setattr);

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

/* The dentry walk, the copy and the prefix check are bpf_loop() callbacks
 * inside global functions: each is verified once, not once per iteration
 * and call site (unrolled, the walk alone is over the verifier's budget).
 * Kernel pointers travel as plain numbers read with CO-RE. */
struct walk {
	struct scratch *b;
	struct dentry *d;
	struct mount *m;
	__u32 n;
	bool complete;
};

static long walk_step(__u32 i, struct walk *w)
{
	struct dentry *d = w->d, *parent = BPF_CORE_READ(d, d_parent);
	struct mount *m = w->m;

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

/* Collects the names from `path` (a struct path *) up to the root into
 * b->names, leaf first; returns their count, with bit 31 set when the
 * walk did not reach the root (too deep). */
__noinline __u32 fa_walk(struct scratch *b, __u64 path)
{
	struct vfsmount *vm;
	struct walk w = { .b = b };

	if (!b)
		return 0;
	vm = BPF_CORE_READ((struct path *)path, mnt);
	w.d = BPF_CORE_READ((struct path *)path, dentry);
	w.m = (void *)vm - bpf_core_field_offset(struct mount, mnt);
	bpf_loop(MAX_DEPTH, walk_step, &w, 0);
	return w.n | (w.complete ? 0 : 1U << 31);
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

/* The absolute path of `path` at data[start], judged from its first
 * `limit` bytes: see fa_copy(). */
static __always_inline __u32 path_of_lim(struct scratch *b, const struct path *path, __u32 start,
					 __u8 *cut, struct copy_state *st, __u32 limit)
{
	__u32 n = fa_walk(b, (__u64)path), len;

	*st = (struct copy_state){ .n = n & (MAX_DEPTH * 2 - 1), .start = start, .off = start,
				   .limit = limit };
	len = fa_copy(b, st);
	if ((n >> 31) || st->cut)
		*cut = 1;
	return len;
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

	return path_of_lim(b, path, start, cut, &st, FA_PATH_MAX);
}

/* The path a *at() call names: `user` relative to `dfd` (or absolute). */
static __always_inline __u32 path_at(struct scratch *b, __s32 dfd, __u64 user, __u32 start,
				     bool empty_ok, __u8 *cut)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task_btf();
	char c = 0;
	__u32 len = 0;
	long n;

	bpf_probe_read_user(&c, 1, (void *)user);
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
	n = bpf_probe_read_user_str(&b->data[idx(start + len)], FA_PATH_MAX, (void *)user);
	if (n > 0)
		len += n - 1;
	if (len > FA_PATH_MAX - 1) {
		len = FA_PATH_MAX - 1;
		*cut = 1;
		b->data[idx(start + len)] = '\0';
	}
	return len;
}

static __always_inline __u32 text_at(struct scratch *b, __u64 user, __u32 start)
{
	long n = bpf_probe_read_user_str(&b->data[idx(start)], FA_PATH_MAX, (void *)user);

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

/* ---- finish: resolve, filter, emit ------------------------------------- */

SEC("tracepoint")
int finish(struct bpfkit_sys_exit *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid(), zero = 0, len1 = 0, len2 = 0;
	__u64 total;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task_btf();
	struct pending *p = bpf_map_lookup_elem(&pending, &tid);
	struct scratch *b = bpf_map_lookup_elem(&heap, &zero);
	long ret = ctx->ret;
	__u8 cut1 = 0, cut2 = 0, flags = 0;
	bool w1 = false, r1 = false, w2 = false, r2 = false;
	__u8 op;

	if (!p || !b)
		return 0;
	b->a = *p;
	bpf_map_delete_elem(&pending, &tid);
	if (ret < 0 && !attempts)
		return 0;
	op = b->a.op;
	if (b->a.k1 == K_OPEN || b->a.k1 == K_FD) {
		__u32 of = b->a.oflags;
		struct file *f;
		struct copy_state c;

		if (b->a.k1 == K_OPEN && ret < 0) { /* a failed open: the name it was given */
			op = of & O_TRUNC ? FA_TRUNCATE : of & O_ACCMODE ? FA_WRITE : FA_CREATE;
			len1 = path_at(b, b->a.d1, b->a.p1, 0, false, &cut1);
			len1 &= FA_PATH_MAX - 1;
			check(b, 0, len1, false, &w1, &r1);
			goto judged;
		}
		f = fd_file(b->a.k1 == K_OPEN ? ret : b->a.d1);
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
		 * just enough of the path copied to judge it. */
		struct dentry *dir = BPF_CORE_READ(f, f_path.dentry, d_parent);
		struct dir_key dk = { .dentry = (__u64)dir, .mnt = (__u64)BPF_CORE_READ(f, f_path.mnt) };
		struct dir_verdict dv = { .gen = tree_gen, .ino = BPF_CORE_READ(dir, d_inode, i_ino),
					  .sb = (__u64)BPF_CORE_READ(dir, d_sb) };
		struct dir_verdict *known = bpf_map_lookup_elem(&unwatched_dirs, &dk);

		if (known && known->gen == dv.gen && known->ino == dv.ino && known->sb == dv.sb)
			return 0;
		len1 = path_of_lim(b, __builtin_preserve_access_index(&f->f_path), 0, &cut1, &c,
				   max_prefix_len);
		check(b, 0, len1 & (FA_PATH_MAX - 1), true, &w1, &r1);
		if (!w1) {
			/* Cut short past every prefix: the directory and all below it are
			 * unwatched (nothing watched is that long). */
			if (c.more)
				bpf_map_update_elem(&unwatched_dirs, &dk, &dv, BPF_ANY);
			return 0;
		}
		if (c.more)
			len1 = path_resume(b, &c, &cut1);
		len1 &= FA_PATH_MAX - 1;
	} else if (b->a.k1 == K_TEXT) {
		len1 = text_at(b, b->a.p1, 0);
		flags |= FA_TARGET_TEXT;
		len1 &= FA_PATH_MAX - 1;
		if (b->data[0] == '/')
			check(b, 0, len1, true, &w1, &r1); /* text: never normalised */
	} else {
		len1 = path_at(b, b->a.d1, b->a.p1, 0, b->a.oflags & AT_EMPTY_PATH, &cut1);
		len1 &= FA_PATH_MAX - 1;
		check(b, 0, len1, false, &w1, &r1);
	}
judged:
	if (b->a.k2 == K_AT) {
		len2 = path_at(b, b->a.d2, b->a.p2, len1 + 1, false, &cut2);
		len2 &= FA_PATH_MAX - 1;
		check(b, len1 + 1, len2, false, &w2, &r2);
	}
	if (!(w1 || w2 || r1 || r2))
		return 0;
	flags |= (r1 ? FA_PATH_RAW : 0) | (r2 ? FA_NEW_RAW : 0) | (cut1 ? FA_PATH_CUT : 0) |
		 (cut2 ? FA_NEW_CUT : 0) | (w1 ? FA_PATH_WATCHED : 0) | (w2 ? FA_NEW_WATCHED : 0);

	b->e.ts_ns = bpf_ktime_get_ns();
	b->e.pid = bpf_get_current_pid_tgid() >> 32;
	b->e.tid = tid;
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
	total = sizeof(b->e) + len1 + 1 + (b->a.k2 ? len2 + 1 : 0);
	/* A bound the verifier keeps (the compiler drops a plain `if` here). */
	asm volatile("%[t] &= 0x3fff" : [t] "+r"(total));
	bpfkit_output(ctx, events, b, total);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
