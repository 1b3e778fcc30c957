/* SPDX-License-Identifier: GPL-2.0 */
/* fileopen.h: the event both sides share (Python reads it from BTF). */
#ifndef __FILEOPEN_H
#define __FILEOPEN_H

#define FILEOPEN_PATH_MAX 4096 /* the kernel's PATH_MAX, NUL included */
#define FILEOPEN_COMM_LEN 16

enum fileopen_syscall {
	FO_OPEN = 0,
	FO_OPENAT = 1,
	FO_OPENAT2 = 2,
	FO_CREAT = 3,
};

/* A variable-length record: the header, then path_len + 1 bytes of path. */
struct fileopen_event {
	__u64 ts_ns;      /* syscall exit, CLOCK_MONOTONIC */
	__u64 latency_ns; /* entry -> exit, same thread */
	__u32 pid;
	__u32 tid;
	__u32 uid;
	__s32 ret;        /* fd, or -errno */
	__s32 flags;      /* O_* flags asked for */
	__u32 path_len;   /* bytes of path, NUL excluded */
	__u8 truncated;   /* path longer than FILEOPEN_PATH_MAX - 1: cut */
	__u8 syscall;     /* enum fileopen_syscall */
	char comm[FILEOPEN_COMM_LEN];
	__u8 __pad[6];    /* path starts at sizeof(struct fileopen_event) */
	char path[];
};

#endif /* __FILEOPEN_H */
