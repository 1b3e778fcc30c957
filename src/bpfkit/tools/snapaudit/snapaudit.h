/* SPDX-License-Identifier: GPL-2.0 */
/* snapaudit.h: what both sides share (Python reads it from BTF). */
#ifndef __SNAPAUDIT_H
#define __SNAPAUDIT_H

#define SA_COMM_LEN 16

/* ZFS ioctl numbers on Linux: 'Z' << 8 plus the zfs_ioc_t index. Every
 * operation snapaudit reports is below ZFS_IOC_FIRST + SA_IOC_SPAN. */
#define ZFS_IOC_FIRST 0x5a00
#define SA_IOC_SPAN 128

/* zfs_cmd_t on 64-bit Linux (13744 bytes, unchanged from openzfs 2.0 to
 * 2.4): the fields read. shared/notes/zfs.md section 3. */
#define ZC_NAME 0
#define ZC_NAME_SIZE 4096
#define ZC_NVLIST_SRC 4096
#define ZC_NVLIST_SRC_SIZE 4104
#define ZC_VALUE 4144
#define ZC_VALUE_SIZE 8192
#define ZC_STRING 12336
#define ZC_STRING_SIZE 256
#define ZC_GUID 12592
#define ZC_COOKIE 12616
#define ZC_OBJSET_TYPE 12624
#define ZC_OBJ 12656
#define ZC_DEFER_DESTROY 13648
#define ZC_CLEANUP_FD 13664

/* Bytes of each string kept (NUL included); longer ones are cut and flagged. */
#define SA_NAME_CAP 1024   /* zc_name (valid names: < 256) */
#define SA_VALUE_CAP 1024  /* zc_value: rename target, receive snapshot, tmp-snapshot prefix */
#define SA_STRING_CAP 256  /* zc_string: receive origin (the whole field) */
#define SA_EXIT_CAP 1024   /* the exit-time string: see SA_EXIT_* below */
#define SA_ARGS_CAP 2048   /* the process command line (mm->arg_start..arg_end) */

/* The packed input nvlist: at most SA_NV_CAP bytes are captured per call
 * (the --max-nvlist-kb option lowers it). Up to SA_NV_INLINE bytes travel in
 * the call record itself; a longer capture goes first in SA_CHUNK-byte chunk
 * records (kind SA_CHUNK_REC), then the call record. */
#define SA_NV_CAP 65536
#define SA_NV_INLINE 4096
#define SA_CHUNK 16384
#define SA_NV_PIECE 4096   /* user memory is read in pieces: a fault keeps what came before */

/* The call record's tail: the strings back to back (each len bytes + NUL),
 * in this order: name, value, string, command line (its arguments separated
 * by NULs), exit string, then nv_inline bytes of nvlist. String offsets stay
 * below SA_STR_AREA. */
#define SA_STR_AREA 8192
#define SA_TAIL (SA_STR_AREA + SA_NV_INLINE)

#pragma clang diagnostic ignored "-Wfixed-enum-extension"

enum snapaudit_kind : __u8 {
	SA_CALL = 1,      /* one ZFS ioctl, at its exit */
	SA_CHUNK_REC = 2, /* a piece of a call's nvlist, sent before the call record */
	SA_PROC_EXIT = 3, /* a process that made ZFS calls exited */
};

/* What the exit string is, by operation. */
#define SA_EXIT_NONE 0
#define SA_EXIT_VALUE 1  /* TMP_SNAPSHOT: zc_value at exit, the snapshot made */
#define SA_EXIT_STRING 2 /* PROMOTE: zc_string at exit, the conflicting snapshot */
#define SA_EXIT_NAME 3   /* RENAME: zc_name at exit (a recursive rename's failing name) */

/* flags */
#define SA_NAME_CUT     0x0001 /* a string was longer than its cap */
#define SA_VALUE_CUT    0x0002
#define SA_STRING_CUT   0x0004
#define SA_EXIT_CUT     0x0008
#define SA_ARGS_CUT     0x0010
#define SA_NV_CUT       0x0020 /* the nvlist was longer than the capture limit */
#define SA_NV_FAULT     0x0040 /* reading the nvlist faulted: nv_captured bytes are all there was */
#define SA_READ_FAULT   0x0080 /* zfs_cmd_t or the command line could not be read */
#define SA_LATE         0x0100 /* no room to capture at entry: everything was read at exit */
#define SA_CHUNK_LOST   0x0200 /* a chunk record found the ring full */
#define SA_ARGS_NONE    0x0400 /* no command line (kernel thread, or mm gone) */
#define SA_COMPAT       0x0800 /* a 32-bit (compat) syscall, seen with --compat */

struct snapaudit_event {
	__u64 ts_ns;        /* call: syscall exit; chunk: when sent; proc exit: when */
	__u64 call_id;      /* the call's entry time: with tid, pairs a call with its chunks */
	__u64 enter_ns;     /* syscall entry */
	__u64 cgroup_id;
	__u64 nv_size;      /* zc_nvlist_src_size as the caller passed it */
	__u64 cookie;       /* zc_cookie at entry: rename flags, receive fd */
	__u64 cookie_out;   /* zc_cookie at exit: receive: bytes read */
	__u64 guid;         /* zc_guid: legacy receive: force */
	__u64 objset_type;  /* zc_objset_type */
	__u64 obj_out;      /* zc_obj at exit: legacy receive: error flags */
	__u32 pid;
	__u32 tid;
	__u32 ppid;
	__u32 uid;
	__u32 euid;
	__u32 loginuid;     /* (u32)-1: not set (or no audit in this kernel) */
	__u32 gid;
	__s32 result;       /* 0 or -errno; ZFS's own codes are >= 1024 */
	__u32 cmd;
	__u32 nv_captured;  /* nvlist bytes captured for this call (all records) */
	__u32 nv_offset;    /* chunk: where its bytes start in the nvlist */
	__u32 data_len;     /* chunk: bytes in data */
	__u32 defer_destroy;
	__s32 cleanup_fd;
	__u16 name_len;
	__u16 value_len;
	__u16 string_len;
	__u16 exit_len;
	__u16 args_len;
	__u16 nv_inline;    /* call: nvlist bytes after the strings (0: sent in chunks, or none) */
	__u16 flags;        /* SA_* above */
	enum snapaudit_kind kind;
	__u8 exit_what;     /* SA_EXIT_* */
	char comm[SA_COMM_LEN];
	char pcomm[SA_COMM_LEN]; /* the parent's */
	__u8 data[];        /* starts at sizeof(struct snapaudit_event) */
};

#endif /* __SNAPAUDIT_H */
