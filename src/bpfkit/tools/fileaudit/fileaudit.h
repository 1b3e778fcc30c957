/* SPDX-License-Identifier: GPL-2.0 */
/* fileaudit.h: what both sides share (Python reads it from BTF). */
#ifndef __FILEAUDIT_H
#define __FILEAUDIT_H

#define FA_PATH_MAX 4096 /* the kernel's PATH_MAX, NUL included */
#define FA_COMM_LEN 16

/* One-byte enums (fixed underlying type: a clang extension in C) keep the
 * record small and still carry the names in BTF for Python. */
#pragma clang diagnostic ignored "-Wfixed-enum-extension"

enum fileaudit_op : __u8 {
	FA_WRITE = 1,
	FA_CREATE,
	FA_TRUNCATE,
	FA_RENAME,
	FA_DELETE,
	FA_CHMOD,
	FA_CHOWN,
	FA_LINK,
	FA_SYMLINK,
	FA_MKDIR,
};

/* The syscall that made the change: the tracepoint it was seen on, or for
 * the LSM/fentry/fexit hooks the syscall the task was in (0: none of these,
 * such as an io_uring request or the kernel's own filp_open()). */
enum fileaudit_syscall : __u8 {
	FS_OPEN = 1, FS_OPENAT, FS_OPENAT2, FS_CREAT,
	FS_TRUNCATE, FS_FTRUNCATE,
	FS_RENAME, FS_RENAMEAT, FS_RENAMEAT2,
	FS_UNLINK, FS_UNLINKAT, FS_RMDIR,
	FS_CHMOD, FS_FCHMOD, FS_FCHMODAT, FS_FCHMODAT2,
	FS_CHOWN, FS_LCHOWN, FS_FCHOWN, FS_FCHOWNAT,
	FS_LINK, FS_LINKAT, FS_SYMLINK, FS_SYMLINKAT,
	FS_MKDIR, FS_MKDIRAT,
};

/* flags */
#define FA_PATH_RAW     0x01 /* path has "." / ".." / empty components: user space normalises and filters */
#define FA_NEW_RAW      0x02 /* the same for new_path */
#define FA_PATH_CUT     0x04 /* path longer than FA_PATH_MAX - 1 (or deeper than the walk): cut */
#define FA_NEW_CUT      0x08
#define FA_PATH_WATCHED 0x10 /* path is under a watched prefix (the kernel's verdict) */
#define FA_NEW_WATCHED  0x20
#define FA_TARGET_TEXT  0x40 /* path is a symlink target as written, not a resolved path */

/* A variable-length record: the header, then path (path_len bytes + NUL),
 * then new_path (new_path_len bytes + NUL) for renames and links. */
struct fileaudit_event {
	__u64 ts_ns;      /* when the call returned, CLOCK_MONOTONIC */
	__u32 pid;
	__u32 tid;
	__u32 ppid;
	__u32 uid;
	__u32 gid;
	__s32 result;     /* 0 (or, tracepoints, the fd of an open), or -errno */
	__u32 mode;       /* chmod / mkdir / open(O_CREAT) mode */
	__u32 owner;      /* chown: new uid ((u32)-1: unchanged) */
	__u32 group;      /* chown: new gid ((u32)-1: unchanged) */
	__u16 path_len;
	__u16 new_path_len;
	enum fileaudit_op op;
	enum fileaudit_syscall syscall;
	__u8 flags;       /* FA_* above */
	__u8 __pad;
	char comm[FA_COMM_LEN];
	char pcomm[FA_COMM_LEN]; /* the parent's */
	__u8 __pad2[4];   /* paths start at sizeof(struct fileaudit_event) */
	__u8 paths[];
};

#endif /* __FILEAUDIT_H */
