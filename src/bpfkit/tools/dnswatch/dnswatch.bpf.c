// SPDX-License-Identifier: GPL-2.0
/* dnswatch.bpf.c: every DNS message a process sends or receives, with the
 * process, for any resolver (any send/recv syscall flavour), UDP and TCP.
 *
 * Where the process and the bytes come from (one alternative per group is
 * kept at load, best first; see BPFKIT_HOOKS at the end):
 *
 *  1. fentry+fexit on inet_sendmsg/inet6_sendmsg/inet_recvmsg/inet6_recvmsg:
 *     the kernel's own iov_iter (saved at entry, read at exit with the
 *     result): any caller, io_uring included, and the reply's source address.
 *  2. tp_btf sock:sock_send_length / sock_recv_length (6.3+): run in the
 *     calling task once per message (sendmmsg/recvmmsg included) with the
 *     struct sock and the length. The bytes are in the user buffer of the
 *     syscall being served: its number and arguments come from the task's
 *     saved user registers (bpf_task_pt_regs), per-architecture tables below.
 *     No syscall tracepoint at all: enabling one puts every syscall of the
 *     machine on the kernel's slow path, DNS or not.
 *  3. raw_tp on the same two tracepoints (no typed pointers: CO-RE reads).
 *  4. syscall tracepoints (kernels before 6.3): enter/exit of read, write,
 *     readv, writev, preadv2, pwritev2, sendto, recvfrom, sendmsg, recvmsg,
 *     sendmmsg, recvmmsg, with the fd -> file -> socket walk at entry.
 *
 * The early filter, run before anything else for every socket send/receive:
 * an inet UDP/TCP socket connected to a port of the DNS port set, or an
 * unconnected UDP socket already seen sending to one (udp_known, by struct
 * sock address + cookie), or an unconnected send whose sockaddr names such a
 * port. Anything else returns after a few loads: no map update, no ring
 * space. Only messages sent to a DNS port and what comes back on those
 * sockets are captured: a DNS server's own sockets (bound to 53, talking to
 * ephemeral ports) are not, so every query seen is a client's question. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include "bpfkit.bpf.h"
#include "dnswatch.h"

#define AF_INET 2
#define AF_INET6 10
#define MSG_PEEK 2
#define CAP DNSWATCH_CAP_MAX
#define MAX_IOV 8            /* iovec entries walked per message */
#define MAX_MMSG 4           /* syscall path: messages of one sendmmsg/recvmmsg (glibc sends 2) */
#define MMSGHDR_SIZE 64      /* struct mmsghdr on 64-bit ABIs */
#define MMSG_LEN_OFF 56      /* offsetof(struct mmsghdr, msg_len) */
#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define PF_IO_WORKER 0x00000010
#define PF_KTHREAD 0x00200000

/* The DNS port set: bit p of this bitmap is port p (53; 5353, 5355 optional). */
const volatile __u8 dns_ports[8192] = {};
/* Bytes captured per message: UDP (a whole EDNS answer of the 1232 bytes DNS
 * Flag Day 2020 set; larger ones come back TC=1 and go to TCP) and per TCP
 * read/write (length-prefixed messages, often two per write). */
const volatile __u32 cap_udp = 1232;
const volatile __u32 cap_tcp = CAP;

/* Messages of a sendmmsg/recvmmsg past the MAX_MMSG the syscall path reads
 * (kernels before 6.3 only): counted, never silently lost. */
__u64 mmsg_uncaptured;

/* Unconnected UDP sockets that sent to a DNS port: their replies are DNS. */
struct dw_known {
	__u64 cookie; /* the socket's key (cookie) when it was added: a reused struct sock differs */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64); /* struct sock * */
	__type(value, struct dw_known);
} udp_known SEC(".maps");

/* sendmmsg/recvmmsg message index per thread (tracepoint paths): see mmsg_index(). */
struct dw_mmsg_state {
	__u64 vec;
	__s64 last_ret;
	__s32 fd;
	__u32 nr;
	__u32 next;
	__u32 __pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32); /* tid */
	__type(value, struct dw_mmsg_state);
} mmsg SEC(".maps");

/* What one capture needs: the socket, where its bytes are, what moved. */
struct dw_sockinfo {
	__u64 sk;     /* struct sock * */
	__u64 key;    /* cookie, or sk when the socket has none */
	__u32 netns;
	__u16 family, proto, sport, dport;
	__u16 dfamily;
	__u8 saddr[16], daddr[16];
};

enum { CLS_SKIP = 0, CLS_CONNECTED = 1, CLS_KNOWN = 2, CLS_NEED_ADDR = 3 };

struct dw_req {
	struct dw_sockinfo si;
	__u64 a[5];     /* syscall arguments (a[0] the fd) */
	__u64 iter_base; /* DW_SYS_ITER: ubuf or the kernel iovec array */
	__u64 iter_segs;
	__u64 iter_skip;
	__u64 iter_count;
	__u64 name;     /* DW_SYS_ITER: kernel sockaddr of the call, 0 if none */
	__u32 len;      /* bytes this message moved */
	__u32 idx;      /* sendmmsg/recvmmsg message index */
	__u8 kind;      /* enum dnswatch_syscall */
	__u8 dir;
	__u8 cls;
	__u8 flags;     /* DW_F_* known before capture */
	__u8 iter_ubuf; /* DW_SYS_ITER: 1 ubuf, 2 iovec, 0 other */
	__u8 call;      /* the syscall being served, for the event (DW_SYS_NONE: io_uring, kernel...) */
	__u8 __pad[2];
};

struct dw_scratch {
	/* an event, then room for data: an offset < CAP plus a read whose size
	 * every verifier can bound (masked to < 2 * CAP; it is <= CAP) */
	__u8 raw[sizeof(struct dnswatch_event) + 3 * CAP];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct dw_scratch);
} scratch SEC(".maps");

BPFKIT_RINGBUF(events, 1 << 22, struct dnswatch_event);

/* Syscall number -> how its arguments describe the bytes. The x86-64 and
 * arm64 tables (the numbers differ); a 32-bit task is never looked up. */
#define NR_TABLE 512
#if defined(__TARGET_ARCH_x86)
static const __u8 sys_kind[NR_TABLE] = {
	[0] = DW_SYS_READ, [1] = DW_SYS_WRITE, [19] = DW_SYS_READV, [20] = DW_SYS_WRITEV,
	[44] = DW_SYS_SENDTO, [45] = DW_SYS_RECVFROM, [46] = DW_SYS_SENDMSG, [47] = DW_SYS_RECVMSG,
	[299] = DW_SYS_RECVMMSG, [307] = DW_SYS_SENDMMSG,
	[327] = DW_SYS_READV /* preadv2 */, [328] = DW_SYS_WRITEV /* pwritev2 */,
};
#elif defined(__TARGET_ARCH_arm64)
static const __u8 sys_kind[NR_TABLE] = {
	[63] = DW_SYS_READ, [64] = DW_SYS_WRITE, [65] = DW_SYS_READV, [66] = DW_SYS_WRITEV,
	[206] = DW_SYS_SENDTO, [207] = DW_SYS_RECVFROM, [211] = DW_SYS_SENDMSG, [212] = DW_SYS_RECVMSG,
	[243] = DW_SYS_RECVMMSG, [269] = DW_SYS_SENDMMSG,
	[286] = DW_SYS_READV /* preadv2 */, [287] = DW_SYS_WRITEV /* pwritev2 */,
};
#else
#error "dnswatch: syscall tables for x86-64 and arm64 only"
#endif

/* User ABI structs (64-bit), not CO-RE: their layout is the syscall ABI. */
struct u_iovec {
	__u64 base;
	__u64 len;
};

struct u_msghdr {
	__u64 name;
	__s32 namelen;
	__u32 __pad;
	__u64 iov;
	__u64 iovlen;
	__u64 control;
	__u64 controllen;
	__u32 flags;
};

struct u_sockaddr {
	__u16 family;
	__u16 port;     /* network order */
	__u32 v4;       /* sin_addr; for AF_INET6 sin6_flowinfo */
	__u8 v6[16];    /* sin6_addr */
	__u32 scope;
};

static __always_inline bool port_wanted(__u16 port)
{
	__u32 i = port;

	/* Verifiers before 6.x know nothing of a byte swap's result (bpf_ntohs):
	 * the mask, kept from clang by the barrier, bounds the index for them. */
	barrier_var(i);
	i = (i >> 3) & 8191;
	return dns_ports[i] & (1 << (port & 7));
}

/* The early filter. `direct`: sk is a typed kernel pointer (tp_btf, fentry):
 * plain loads; else CO-RE probe reads (raw_tp, syscall tracepoints). */
#define SKF(sk, direct, field) ((direct) ? (sk)->field : BPF_CORE_READ(sk, field))

/* The socket's key in events: its cookie where the helper gives one to every
 * socket (typed pointers), else its address. A cookie read from the socket
 * itself could appear later (another tracer asked for it) and change the key. */
static __always_inline __u64 sock_key(struct sock *sk, bool direct)
{
	__u64 cookie = direct ? bpf_get_socket_cookie(sk) : 0;

	return cookie ? cookie : (__u64)sk;
}

static __always_inline int classify(struct sock *sk, __u8 dir, bool direct, struct dw_sockinfo *si)
{
	__u16 family, proto, dport;

	if (!sk)
		return CLS_SKIP;
	family = SKF(sk, direct, __sk_common.skc_family);
	if (family != AF_INET && family != AF_INET6)
		return CLS_SKIP;
	proto = SKF(sk, direct, sk_protocol);
	if (proto != IPPROTO_UDP && proto != IPPROTO_TCP)
		return CLS_SKIP;
	dport = bpf_ntohs(SKF(sk, direct, __sk_common.skc_dport));
	if (dport && !port_wanted(dport))
		return CLS_SKIP; /* connected elsewhere: the common case costs this much */
	si->sk = (__u64)sk;
	si->family = family;
	si->proto = proto;
	si->dport = dport;
	si->dfamily = dport ? family : 0;
	if (dport)
		return CLS_CONNECTED;
	if (dir == DW_SEND)
		return CLS_NEED_ADDR; /* an unconnected send names its destination: look at it */
	if (proto == IPPROTO_UDP) {
		__u64 key = (__u64)sk;
		struct dw_known *k = bpf_map_lookup_elem(&udp_known, &key);

		if (!k)
			return CLS_SKIP;
		si->key = sock_key(sk, direct);
		if (k->cookie == si->key)
			return CLS_KNOWN;
		bpf_map_delete_elem(&udp_known, &key); /* a new socket at a freed one's address */
	}
	return CLS_SKIP;
}

/* The syscall being served, from the task's saved user registers. False when
 * its arguments mean nothing to us (a kernel or io_uring thread, a 32-bit task). */
#define RD(p, direct, field) ((direct) ? (p)->field : BPF_CORE_READ(p, field))

static __always_inline __u8 regs_args(struct dw_req *r, bool direct)
{
	struct task_struct *t = bpf_get_current_task_btf();
	struct pt_regs *regs;
	__u64 nr;

	if (RD(t, direct, flags) & (PF_KTHREAD | PF_IO_WORKER))
		return DW_SYS_NONE;
	regs = (struct pt_regs *)bpf_task_pt_regs(t);
#if defined(__TARGET_ARCH_x86)
	if (bpf_core_field_exists(t->thread_info.status) && (RD(t, direct, thread_info.status) & 0x2))
		return DW_SYS_NONE; /* TS_COMPAT: an ia32 syscall, other numbers */
	nr = RD(regs, direct, orig_ax);
	if (nr >= NR_TABLE || !sys_kind[nr])
		return DW_SYS_NONE;
	r->a[0] = RD(regs, direct, di);
	r->a[1] = RD(regs, direct, si);
	r->a[2] = RD(regs, direct, dx);
	r->a[3] = RD(regs, direct, r10);
	r->a[4] = RD(regs, direct, r8);
#elif defined(__TARGET_ARCH_arm64)
	if (RD(regs, direct, pstate) & 0x10)
		return DW_SYS_NONE; /* PSR_MODE32_BIT: an AArch32 task */
	nr = RD(regs, direct, syscallno);
	if (nr >= NR_TABLE || !sys_kind[nr])
		return DW_SYS_NONE;
	r->a[0] = RD(regs, direct, orig_x0);
	r->a[1] = RD(regs, direct, regs[1]);
	r->a[2] = RD(regs, direct, regs[2]);
	r->a[3] = RD(regs, direct, regs[3]);
	r->a[4] = RD(regs, direct, regs[4]);
#endif
	return sys_kind[nr];
}

/* The destination port an unconnected send names (0: none, or unreadable):
 * the early filter for unconnected sockets, before anything else is read. */
static __always_inline __u16 call_dport(__u8 kind, struct dw_req *r)
{
	__u64 addr = 0, mh = 0;
	__u32 head = 0; /* sa_family and port */

	if (kind == DW_SYS_SENDTO)
		addr = r->a[4];
	else if (kind == DW_SYS_SENDMSG)
		mh = r->a[1];
	else if (kind == DW_SYS_SENDMMSG)
		mh = r->a[1] + (__u64)(r->idx & 1023) * MMSGHDR_SIZE;
	if (mh && bpf_probe_read_user(&addr, sizeof(addr), (void *)mh)) /* msg_name */
		return 0;
	if (!addr || bpf_probe_read_user(&head, sizeof(head), (void *)addr))
		return 0;
	return bpf_ntohs(head >> 16);
}

/* Which message of a sendmmsg/recvmmsg this is, without a syscall hook (a
 * sys_enter_sendmmsg program would send every syscall of the machine through
 * the kernel's slow path, DNS or not): the tracepoint runs once per message,
 * in order, in the calling thread. A thread's count goes on while the call
 * looks the same (fd, vector) and the kernel has written the previous
 * message's msg_len with the length we saw (it does so after each message);
 * it restarts at 0 otherwise, after a failed message (the call stops there)
 * and after the last one (vlen). Limit: a call that stops early without a
 * failed message (recvmmsg's timeout between two datagrams) followed by the
 * same call on the same thread, its msg_len left as the kernel wrote them, is
 * numbered on from where the first stopped. glibc rebuilds its mmsghdr (msg_len
 * 0) for every call; no resolver was seen using recvmmsg. */
static __always_inline __u32 mmsg_index(__u8 kind, __u64 vec, __s32 fd, __u32 vlen, long ret)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct dw_mmsg_state *st = bpf_map_lookup_elem(&mmsg, &tid);
	struct dw_mmsg_state n = {};
	__u32 idx = 0, mlen = 0;

	if (st && st->nr == kind && st->vec == vec && st->fd == fd && st->next > 0 && st->next < vlen &&
	    st->next < 1024 &&
	    !bpf_probe_read_user(&mlen, sizeof(mlen),
				 (void *)(vec + (__u64)(st->next - 1) * MMSGHDR_SIZE + MMSG_LEN_OFF)) &&
	    (__s64)mlen == st->last_ret)
		idx = st->next;
	n.vec = vec;
	n.fd = fd;
	n.nr = kind;
	n.next = ret < 0 ? 0 : idx + 1;
	n.last_ret = ret;
	bpf_map_update_elem(&mmsg, &tid, &n, BPF_ANY);
	return idx;
}

/* Copy up to `want` bytes from an iovec array (user or kernel memory) whose
 * first `skip` bytes were already consumed. */
static __always_inline __u32 copy_iov(__u8 *dst, __u64 iov, __u64 cnt, __u32 want, bool kernel_array,
				      __u64 skip)
{
	__u32 off = 0, at;

	for (int i = 0; i < MAX_IOV; i++) {
		struct u_iovec v;
		__u64 n;

		if (i >= cnt || off >= want || off >= CAP)
			break;
		if (kernel_array) {
			if (bpf_probe_read_kernel(&v, sizeof(v), (void *)(iov + i * sizeof(v))))
				break;
		} else if (bpf_probe_read_user(&v, sizeof(v), (void *)(iov + i * sizeof(v)))) {
			break;
		}
		if (i == 0 && skip) {
			if (skip > v.len)
				break;
			v.base += skip;
			v.len -= skip;
		}
		n = v.len;
		if (n > want - off)
			n = want - off;
		if (n > CAP)
			n = CAP;
		barrier_var(n); /* older verifiers lose the bounds of a min(): a mask they keep */
		n &= 2 * CAP - 1;
		at = off;
		barrier_var(at); /* keep the mask: the verifier needs at < CAP, clang knows it */
		at &= CAP - 1;
		if (bpf_probe_read_user(dst + at, n, (void *)v.base))
			break;
		off += n;
	}
	return off;
}

static __always_inline void remember(__u64 sk, __u64 key)
{
	struct dw_known k = {.cookie = key}, *old;

	old = bpf_map_lookup_elem(&udp_known, &sk);
	if (!old || old->cookie != key)
		bpf_map_update_elem(&udp_known, &sk, &k, BPF_ANY);
}

/* The rest of what an event says about its socket: read only once the
 * message is known to be one we report. */
static __always_inline void sock_details(struct dw_sockinfo *si)
{
	struct sock *sk = (struct sock *)si->sk;

	si->sport = BPF_CORE_READ(sk, __sk_common.skc_num);
	si->netns = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
	if (si->family == AF_INET) {
		bpf_core_read(si->saddr, 4, &sk->__sk_common.skc_rcv_saddr);
		if (si->dport)
			bpf_core_read(si->daddr, 4, &sk->__sk_common.skc_daddr);
	} else {
		bpf_core_read(si->saddr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
		if (si->dport)
			bpf_core_read(si->daddr, 16, &sk->__sk_common.skc_v6_daddr);
	}
}

/* Fill the event and copy the message. Inlined where the syscall kind is a
 * constant (the syscall tracepoint path: clang keeps only its case, which
 * keeps verification quick), else called as one subprogram. */
static __always_inline int capture_body(void *ctx, struct dw_req *r, __u8 kind)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	__u64 buf = 0, blen = 0, iov = 0, iovcnt = 0, addr = 0, id, skip = 0;
	struct dnswatch_event *e;
	struct u_sockaddr sa = {};
	struct dw_scratch *s;
	__u32 zero = 0, want, got = 0;
	bool kernel_array = false;
	__u8 flags = r->flags;

	switch (kind) {
	case DW_SYS_READ:
	case DW_SYS_WRITE:
	case DW_SYS_RECVFROM:
		buf = r->a[1];
		blen = r->a[2];
		break;
	case DW_SYS_SENDTO:
		buf = r->a[1];
		blen = r->a[2];
		addr = r->a[4];
		break;
	case DW_SYS_READV:
	case DW_SYS_WRITEV:
		iov = r->a[1];
		iovcnt = r->a[2];
		break;
	case DW_SYS_SENDMSG:
	case DW_SYS_RECVMSG:
	case DW_SYS_SENDMMSG:
	case DW_SYS_RECVMMSG: {
		struct u_msghdr m = {};
		__u64 mh = r->a[1];

		if (kind == DW_SYS_SENDMMSG || kind == DW_SYS_RECVMMSG)
			mh += (__u64)(r->idx & 1023) * MMSGHDR_SIZE;
		if (bpf_probe_read_user(&m, sizeof(m), (void *)mh)) {
			flags |= DW_F_NO_PAYLOAD;
			break;
		}
		iov = m.iov;
		iovcnt = m.iovlen;
		if (r->dir == DW_SEND)
			addr = m.name;
		break;
	}
	case DW_SYS_ITER:
		if (r->iter_ubuf == 1) {
			buf = r->iter_base + r->iter_skip;
			blen = r->iter_count;
		} else if (r->iter_ubuf == 2) {
			iov = r->iter_base;
			iovcnt = r->iter_segs;
			skip = r->iter_skip;
			kernel_array = true;
		} else {
			flags |= DW_F_NO_PAYLOAD;
		}
		break;
	default:
		flags |= DW_F_NO_PAYLOAD;
	}

	if (r->cls == CLS_NEED_ADDR) { /* an unconnected send: is it to a DNS port? */
		int err;

		if (kind == DW_SYS_ITER)
			err = r->name ? bpf_probe_read_kernel(&sa, sizeof(sa), (void *)r->name) : -1;
		else
			err = addr ? bpf_probe_read_user(&sa, sizeof(sa), (void *)addr) : -1;
		if (err || (sa.family != AF_INET && sa.family != AF_INET6) || !port_wanted(bpf_ntohs(sa.port)))
			return 0;
		flags |= DW_F_ADDR_CALL;
		if (r->si.proto == IPPROTO_UDP)
			remember(r->si.sk, r->si.key);
	} else if (kind == DW_SYS_ITER && r->dir == DW_RECV && r->name && !r->si.dport) {
		/* fexit: the reply's source address, as the kernel wrote it for the caller */
		if (!bpf_probe_read_kernel(&sa, sizeof(sa), (void *)r->name) &&
		    (sa.family == AF_INET || sa.family == AF_INET6))
			flags |= DW_F_ADDR_CALL;
	}

	sock_details(&r->si); /* before the call's address is put in (connected: the socket's) */
	if (r->cls == CLS_NEED_ADDR || (flags & DW_F_ADDR_CALL)) {
		r->si.dport = bpf_ntohs(sa.port);
		r->si.dfamily = sa.family;
		if (sa.family == AF_INET)
			__builtin_memcpy(r->si.daddr, &sa.v4, 4);
		else
			__builtin_memcpy(r->si.daddr, sa.v6, 16);
	}
	s = bpf_map_lookup_elem(&scratch, &zero);
	if (!s)
		return 0;
	e = (struct dnswatch_event *)s->raw;
	id = bpf_get_current_pid_tgid();
	e->ts_ns = bpf_ktime_get_ns();
	e->sock = r->si.key;
	e->cgroup_id = bpf_get_current_cgroup_id();
	e->pid = id >> 32;
	e->tid = (__u32)id;
	e->uid = (__u32)bpf_get_current_uid_gid();
	e->netns = r->si.netns;
	e->len = r->len;
	e->family = r->si.family;
	e->proto = r->si.proto;
	e->sport = r->si.sport;
	e->dport = r->si.dport;
	e->dfamily = r->si.dfamily;
	__builtin_memcpy(e->saddr, r->si.saddr, 16);
	__builtin_memcpy(e->daddr, r->si.daddr, 16);
	e->dir = r->dir;
	e->syscall = r->call;
	e->mmsg_index = r->idx > 255 ? 255 : r->idx;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	BPF_CORE_READ_STR_INTO(&e->pcomm, t, group_leader, comm);

	want = r->len;
	if (r->si.proto == IPPROTO_TCP) {
		if (want > cap_tcp)
			want = cap_tcp;
	} else if (want > cap_udp) {
		want = cap_udp;
	}
	if (want > CAP)
		want = CAP;
	if (!(flags & DW_F_NO_PAYLOAD)) {
		if (buf) {
			if (want > blen)
				want = blen;
			if (want > CAP)
				want = CAP;
			barrier_var(want);
			want &= 2 * CAP - 1;
			if (!bpf_probe_read_user(e->data, want, (void *)buf))
				got = want;
		} else if (iov) {
			got = copy_iov(e->data, iov, iovcnt, want, kernel_array, skip);
		}
	}
	/* got <= CAP by construction; clang knows it and would drop a clamp, so
	 * the verifier gets a mask it cannot see through */
	barrier_var(got);
	got &= 2 * CAP - 1;
	e->cap_len = got;
	if (got < r->len)
		flags |= DW_F_TRUNCATED;
	e->flags = flags;
	bpfkit_output(ctx, events, e, sizeof(*e) + got);
	return 0;
}

static __noinline int capture(void *ctx, struct dw_req *r)
{
	return capture_body(ctx, r, r->kind);
}

/* -- 2 and 3: sock:sock_send_length / sock_recv_length -------------------------------------- */

static __always_inline int on_length(void *ctx, struct sock *sk, int ret, int flags, __u8 dir, bool direct)
{
	struct dw_req r = {};
	__u8 kind;

	if (dir == DW_RECV && (flags & MSG_PEEK))
		return 0; /* a peek (systemd-resolved's size probes): the real read follows */
	r.cls = classify(sk, dir, direct, &r.si);
	if (r.cls == CLS_SKIP)
		return 0;
	kind = regs_args(&r, direct);
	if (kind == DW_SYS_SENDMMSG || kind == DW_SYS_RECVMMSG) {
		r.idx = mmsg_index(kind, r.a[1], (__s32)r.a[0], (__u32)r.a[2], ret);
		r.flags |= DW_F_MMSG_GUESS;
	}
	if (ret <= 0)
		return 0; /* EAGAIN, errors, EOF, empty datagrams */
	if (r.cls == CLS_NEED_ADDR) {
		__u16 port = call_dport(kind, &r);

		if (!port || !port_wanted(port))
			return 0; /* not to a DNS port (or a call whose address we cannot see) */
	}
	if (r.cls != CLS_KNOWN)
		r.si.key = sock_key(sk, direct);
	r.kind = kind;
	r.call = kind;
	r.dir = dir;
	r.len = ret;
	return capture(ctx, &r);
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(tp_send, struct sock *sk, int ret, int flags)
{
	return on_length(ctx, sk, ret, flags, DW_SEND, true);
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(tp_recv, struct sock *sk, int ret, int flags)
{
	return on_length(ctx, sk, ret, flags, DW_RECV, true);
}

SEC("raw_tp/sock_send_length")
int BPF_PROG(raw_send, struct sock *sk, int ret, int flags)
{
	return on_length(ctx, sk, ret, flags, DW_SEND, false);
}

SEC("raw_tp/sock_recv_length")
int BPF_PROG(raw_recv, struct sock *sk, int ret, int flags)
{
	return on_length(ctx, sk, ret, flags, DW_RECV, false);
}

/* -- 1: fentry+fexit on the inet sendmsg/recvmsg ----------------------------------------------- */

/* iov_iter before 6.4 named its iovec pointer `iov`; before 5.14 its type
 * field was `type` (ITER_IOVEC 4, ORed with the direction). */
struct iov_iter___pre64 {
	u8 iter_type;
	size_t iov_offset;
	size_t count;
	const struct iovec *iov;
	unsigned long nr_segs;
} __attribute__((preserve_access_index));

struct iov_iter___pre514 {
	unsigned int type;
	size_t iov_offset;
	size_t count;
	const struct iovec *iov;
	unsigned long nr_segs;
} __attribute__((preserve_access_index));

struct dw_iter_call {
	struct dw_req r;
	__u64 msg; /* struct msghdr * */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32); /* tid */
	__type(value, struct dw_iter_call);
} iter_calls SEC(".maps");

static __always_inline int iter_enter(struct socket *sock, struct msghdr *msg, int flags, __u8 dir)
{
	struct iov_iter *it = &msg->msg_iter;
	struct dw_iter_call c = {};
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u32 type;

	if (dir == DW_RECV && (flags & MSG_PEEK))
		return 0;
	c.r.cls = classify(sock->sk, dir, true, &c.r.si);
	if (c.r.cls == CLS_SKIP)
		return 0;
	if (c.r.cls != CLS_KNOWN)
		c.r.si.key = sock_key(sock->sk, true);
	c.r.kind = DW_SYS_ITER;
	c.r.dir = dir;
	c.msg = (__u64)msg;
	c.r.name = (__u64)msg->msg_name;
	if (bpf_core_field_exists(it->iter_type)) {
		type = it->iter_type;
		c.r.iter_skip = it->iov_offset;
		c.r.iter_count = it->count;
		c.r.iter_segs = it->nr_segs;
		if (bpf_core_field_exists(it->__iov))
			c.r.iter_base = (__u64)it->__iov;
		else
			c.r.iter_base = (__u64)((struct iov_iter___pre64 *)it)->iov;
		if (bpf_core_enum_value_exists(enum iter_type, ITER_UBUF) &&
		    type == bpf_core_enum_value(enum iter_type, ITER_UBUF))
			c.r.iter_ubuf = 1;
		else if (type == bpf_core_enum_value(enum iter_type, ITER_IOVEC))
			c.r.iter_ubuf = 2;
	} else {
		struct iov_iter___pre514 *old = (void *)it;

		type = BPF_CORE_READ(old, type);
		c.r.iter_skip = BPF_CORE_READ(old, iov_offset);
		c.r.iter_count = BPF_CORE_READ(old, count);
		c.r.iter_segs = BPF_CORE_READ(old, nr_segs);
		c.r.iter_base = (__u64)BPF_CORE_READ(old, iov);
		if ((type & ~1u) == 4)
			c.r.iter_ubuf = 2;
	}
	bpf_map_update_elem(&iter_calls, &tid, &c, BPF_ANY);
	return 0;
}

static __always_inline int iter_exit(void *ctx, int ret)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct dw_iter_call *c = bpf_map_lookup_elem(&iter_calls, &tid);
	struct dw_req r;

	if (!c)
		return 0;
	r = c->r;
	bpf_map_delete_elem(&iter_calls, &tid);
	if (ret <= 0)
		return 0;
	r.len = ret;
	r.call = regs_args(&r, true); /* only to name the syscall: the bytes come from the iter */
	return capture(ctx, &r);
}

SEC("fentry/inet_sendmsg")
int BPF_PROG(fentry_send4, struct socket *sock, struct msghdr *msg, size_t size)
{
	return iter_enter(sock, msg, 0, DW_SEND);
}

SEC("fexit/inet_sendmsg")
int BPF_PROG(fexit_send4, struct socket *sock, struct msghdr *msg, size_t size, int ret)
{
	return iter_exit(ctx, ret);
}

SEC("fentry/inet6_sendmsg")
int BPF_PROG(fentry_send6, struct socket *sock, struct msghdr *msg, size_t size)
{
	return iter_enter(sock, msg, 0, DW_SEND);
}

SEC("fexit/inet6_sendmsg")
int BPF_PROG(fexit_send6, struct socket *sock, struct msghdr *msg, size_t size, int ret)
{
	return iter_exit(ctx, ret);
}

SEC("fentry/inet_recvmsg")
int BPF_PROG(fentry_recv4, struct socket *sock, struct msghdr *msg, size_t size, int flags)
{
	return iter_enter(sock, msg, flags, DW_RECV);
}

SEC("fexit/inet_recvmsg")
int BPF_PROG(fexit_recv4, struct socket *sock, struct msghdr *msg, size_t size, int flags, int ret)
{
	return iter_exit(ctx, ret);
}

SEC("fentry/inet6_recvmsg")
int BPF_PROG(fentry_recv6, struct socket *sock, struct msghdr *msg, size_t size, int flags)
{
	return iter_enter(sock, msg, flags, DW_RECV);
}

SEC("fexit/inet6_recvmsg")
int BPF_PROG(fexit_recv6, struct socket *sock, struct msghdr *msg, size_t size, int flags, int ret)
{
	return iter_exit(ctx, ret);
}

/* -- 4: syscall tracepoints, for kernels before 6.3 -------------------------------------------- */

struct dw_sys_call {
	struct dw_req r;
	__s64 flags; /* recv flags */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32); /* tid */
	__type(value, struct dw_sys_call);
} sys_calls SEC(".maps");

/* fd -> struct sock *, through current->files (0 unless the fd is a socket) */
static __always_inline struct sock *fd_sock(__s64 fd)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(t, files, fdt);
	struct file **fds, *file = NULL;
	struct socket *sock;

	if (fd < 0 || fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	fds = BPF_CORE_READ(fdt, fd);
	if (bpf_core_read(&file, sizeof(file), &fds[fd]) || !file)
		return NULL;
	if ((BPF_CORE_READ(file, f_inode, i_mode) & S_IFMT) != S_IFSOCK)
		return NULL;
	sock = BPF_CORE_READ(file, private_data);
	return BPF_CORE_READ(sock, sk);
}

/* `nargs`: the syscall's argument count. The kernel refuses to attach a
 * program that reads past a tracepoint's record (EACCES), so a 3-argument
 * syscall's program must never touch args[3]. */
static __always_inline int sys_enter(struct bpfkit_sys_enter *ctx, __u8 kind, __u8 dir, int flags_arg,
				     int nargs)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct dw_sys_call c = {};
	struct sock *sk;

	if (flags_arg == 2)
		c.flags = ctx->args[2];
	else if (flags_arg == 3)
		c.flags = ctx->args[3];
	if (dir == DW_RECV && (c.flags & MSG_PEEK))
		return 0;
	sk = fd_sock(ctx->args[0]);
	c.r.cls = classify(sk, dir, false, &c.r.si);
	if (c.r.cls == CLS_SKIP)
		return 0;
	c.r.si.key = (__u64)sk;
	c.r.kind = kind;
	c.r.call = kind;
	c.r.dir = dir;
	c.r.a[0] = ctx->args[0];
	c.r.a[1] = ctx->args[1];
	c.r.a[2] = ctx->args[2];
	if (nargs > 3)
		c.r.a[3] = ctx->args[3];
	if (nargs > 4)
		c.r.a[4] = ctx->args[4];
	bpf_map_update_elem(&sys_calls, &tid, &c, BPF_ANY);
	return 0;
}

static __always_inline int sys_exit(struct bpfkit_sys_exit *ctx, __u8 kind)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct dw_sys_call *c = bpf_map_lookup_elem(&sys_calls, &tid);
	struct dw_req r;
	long ret = ctx->ret;

	if (!c)
		return 0;
	r = c->r;
	bpf_map_delete_elem(&sys_calls, &tid);
	if (ret <= 0)
		return 0;
	if (kind != DW_SYS_SENDMMSG && kind != DW_SYS_RECVMMSG) { /* a constant: one branch is compiled */
		r.len = ret;
		return capture_body(ctx, &r, kind);
	}
	/* the kernel wrote each message's length into its mmsghdr */
	if (ret > MAX_MMSG)
		__sync_fetch_and_add(&mmsg_uncaptured, ret - MAX_MMSG);
	for (__u32 i = 0; i < MAX_MMSG; i++) {
		__u32 mlen = 0;

		if (i >= ret)
			break;
		if (bpf_probe_read_user(&mlen, sizeof(mlen),
					(void *)(r.a[1] + (__u64)i * MMSGHDR_SIZE + MMSG_LEN_OFF)))
			break;
		if (!mlen)
			continue;
		r.idx = i;
		r.len = mlen;
		capture_body(ctx, &r, kind);
	}
	return 0;
}

#define SYS(name, kind, dir, flags_arg, nargs)                                        \
	SEC("tracepoint/syscalls/sys_enter_" #name)                                   \
	int sys_enter_##name(struct bpfkit_sys_enter *ctx)                             \
	{                                                                             \
		return sys_enter(ctx, kind, dir, flags_arg, nargs);                   \
	}                                                                             \
	SEC("tracepoint/syscalls/sys_exit_" #name)                                    \
	int sys_exit_##name(struct bpfkit_sys_exit *ctx)                               \
	{                                                                             \
		return sys_exit(ctx, kind);                                           \
	}

SYS(write, DW_SYS_WRITE, DW_SEND, -1, 3)
SYS(writev, DW_SYS_WRITEV, DW_SEND, -1, 3)
SYS(pwritev2, DW_SYS_WRITEV, DW_SEND, -1, 6)
SYS(sendto, DW_SYS_SENDTO, DW_SEND, -1, 6)
SYS(sendmsg, DW_SYS_SENDMSG, DW_SEND, -1, 3)
SYS(sendmmsg, DW_SYS_SENDMMSG, DW_SEND, -1, 4)
SYS(read, DW_SYS_READ, DW_RECV, -1, 3)
SYS(readv, DW_SYS_READV, DW_RECV, -1, 3)
SYS(preadv2, DW_SYS_READV, DW_RECV, -1, 6)
SYS(recvfrom, DW_SYS_RECVFROM, DW_RECV, 3, 6)
SYS(recvmsg, DW_SYS_RECVMSG, DW_RECV, 2, 3)
SYS(recvmmsg, DW_SYS_RECVMMSG, DW_RECV, 3, 5)

/* Best first; the loader keeps the first this kernel offers (--verbose says
 * which; --hooks forces one, for tests and benchmarks). */
BPFKIT_HOOKS(send, fentry_send4+fexit_send4+fentry_send6+fexit_send6, tp_send, raw_send,
	     sys_enter_write+sys_exit_write+sys_enter_writev+sys_exit_writev+sys_enter_pwritev2+
	     sys_exit_pwritev2+sys_enter_sendto+sys_exit_sendto+sys_enter_sendmsg+sys_exit_sendmsg+
	     sys_enter_sendmmsg+sys_exit_sendmmsg);
BPFKIT_HOOKS(recv, fentry_recv4+fexit_recv4+fentry_recv6+fexit_recv6, tp_recv, raw_recv,
	     sys_enter_read+sys_exit_read+sys_enter_readv+sys_exit_readv+sys_enter_preadv2+
	     sys_exit_preadv2+sys_enter_recvfrom+sys_exit_recvfrom+sys_enter_recvmsg+sys_exit_recvmsg+
	     sys_enter_recvmmsg+sys_exit_recvmmsg);

char LICENSE[] SEC("license") = "GPL";
