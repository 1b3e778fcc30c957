/* SPDX-License-Identifier: GPL-2.0 */
/* dnswatch.h: the event both sides share (Python reads it from BTF). */
#ifndef __DNSWATCH_H
#define __DNSWATCH_H

#define DNSWATCH_COMM_LEN 16
#define DNSWATCH_CAP_MAX 4096 /* most bytes one record carries (a power of two) */

enum dnswatch_dir {
	DW_SEND = 1, /* the process sent these bytes */
	DW_RECV = 2, /* the process received them */
};

/* How the bytes were found: the syscall that moved them. */
enum dnswatch_syscall {
	DW_SYS_NONE = 0,  /* not reachable: io_uring, splice, a kernel thread, a 32-bit task */
	DW_SYS_READ = 1,
	DW_SYS_WRITE = 2,
	DW_SYS_READV = 3, /* readv, preadv2 */
	DW_SYS_WRITEV = 4, /* writev, pwritev2 */
	DW_SYS_SENDTO = 5,
	DW_SYS_RECVFROM = 6,
	DW_SYS_SENDMSG = 7,
	DW_SYS_RECVMSG = 8,
	DW_SYS_SENDMMSG = 9,
	DW_SYS_RECVMMSG = 10,
	DW_SYS_ITER = 11, /* fentry/fexit: from the kernel's iov_iter (any caller, io_uring too) */
};

enum dnswatch_flags {
	DW_F_TRUNCATED = 1,  /* cap_len < len: the message was cut at the capture limit */
	DW_F_NO_PAYLOAD = 2, /* the bytes could not be reached (see DW_SYS_NONE) */
	DW_F_ADDR_CALL = 4,  /* daddr/dport came from the call's sockaddr (an unconnected socket) */
	DW_F_MMSG_GUESS = 8, /* message index of sendmmsg/recvmmsg inferred per thread (see .bpf.c) */
};

/* A variable-length record: this header, then cap_len bytes of the message. */
struct dnswatch_event {
	__u64 ts_ns;     /* when the send/receive returned, CLOCK_MONOTONIC */
	__u64 sock;      /* the socket's cookie (unique for the boot); its address where none */
	__u64 cgroup_id; /* cgroup v2 id of the task */
	__u32 pid;       /* thread group id */
	__u32 tid;
	__u32 uid;
	__u32 netns;     /* network namespace inode of the socket */
	__u32 len;       /* bytes the call moved (a datagram, or a piece of a TCP stream) */
	__u32 cap_len;   /* bytes captured in data[] */
	__u16 family;    /* AF_INET or AF_INET6 (of the socket) */
	__u16 proto;     /* IPPROTO_UDP or IPPROTO_TCP */
	__u16 sport;     /* local port */
	__u16 dport;     /* remote port: the server's; 0 when unknown (a reply on an unconnected socket) */
	__u8 saddr[16];  /* local address: 4 bytes for AF_INET, else 16 */
	__u8 daddr[16];  /* remote address; family of the address in dfamily */
	__u16 dfamily;   /* family of daddr (an AF_INET6 socket may send to AF_INET6 v4-mapped) */
	__u8 dir;        /* enum dnswatch_dir */
	__u8 syscall;    /* enum dnswatch_syscall: the call served (DW_SYS_NONE: io_uring, splice...) */
	__u8 flags;      /* enum dnswatch_flags */
	__u8 mmsg_index; /* message index inside sendmmsg/recvmmsg */
	char comm[DNSWATCH_COMM_LEN];  /* the thread's name */
	char pcomm[DNSWATCH_COMM_LEN]; /* the process's (thread group leader's) name */
	__u8 __pad[2];   /* data starts at sizeof(struct dnswatch_event) */
	__u8 data[];
};

#endif /* __DNSWATCH_H */
