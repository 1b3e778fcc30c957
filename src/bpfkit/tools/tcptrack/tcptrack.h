/* SPDX-License-Identifier: GPL-2.0 */
/* tcptrack.h: the event both sides share (Python reads it from BTF). */
#ifndef __TCPTRACK_H
#define __TCPTRACK_H

#define TCPTRACK_COMM_LEN 16

enum tcptrack_kind {
	TT_CONNECT = 1,      /* outgoing connection established */
	TT_ACCEPT = 2,       /* incoming connection accepted by a process */
	TT_CLOSE = 3,        /* connection closed, with its byte counts */
	TT_CONNECT_FAIL = 4, /* SYN_SENT -> CLOSE: refused, timed out, unreachable */
};

enum tcptrack_origin {
	TT_ACTIVE = 1,  /* we called connect() */
	TT_PASSIVE = 2, /* a listener accepted it */
};

struct tcptrack_event {
	__u64 ts_ns;          /* CLOCK_MONOTONIC */
	__u64 latency_ns;     /* CONNECT, CONNECT_FAIL: connect() (or SYN sent) -> established, failed */
	__u64 duration_ns;    /* CLOSE: connect() (or SYN sent) / SYN received -> closed */
	__u64 bytes_sent;     /* CLOSE: bytes the peer acknowledged */
	__u64 bytes_received; /* CLOSE */
	__u32 pid;            /* the process that connected or accepted */
	__u32 uid;
	__u32 netns;          /* network namespace inode */
	__s32 error;          /* CONNECT_FAIL: errno (connect()'s, else sk_err), 0 when unknown */
	__u16 family;         /* AF_INET or AF_INET6 */
	__u16 sport;          /* local port, host order */
	__u16 dport;          /* remote port, host order */
	__u8 saddr[16];       /* local address: 4 bytes for AF_INET, else 16 */
	__u8 daddr[16];       /* remote address */
	char comm[TCPTRACK_COMM_LEN];
	enum tcptrack_kind kind;
	enum tcptrack_origin origin;
};

#endif /* __TCPTRACK_H */
