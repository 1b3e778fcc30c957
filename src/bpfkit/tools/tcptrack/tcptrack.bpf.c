// SPDX-License-Identifier: GPL-2.0
/* tcptrack.bpf.c: TCP connects, accepts and closes.
 *
 * sock:inet_sock_set_state (as tp_btf, for a typed struct sock *) sees every
 * state change: CLOSE -> SYN_SENT runs inside connect(), so it names the
 * connecting process; SYN_SENT -> ESTABLISHED gives the connect latency;
 * -> CLOSE gives byte counts and duration. An incoming connection is
 * established in softirq context, so its process is taken where it is
 * accepted. Each tracked sock has a record keyed by its address until it
 * closes.
 *
 * Where the kernel offers them, better hooks replace two parts of that
 * (declared with BPFKIT_HOOKS at the end; the loader keeps the first
 * alternative this kernel offers, fentry/fexit, then kprobes, then the
 * tracepoints):
 *  - accept: security_sock_graft() is given the accepted sock itself, in the
 *    accepting task, however it was accepted (accept, accept4, io_uring, a
 *    kernel socket). The tracepoint path joins the accept()/accept4()
 *    syscall exit through the returned fd instead: it misses io_uring
 *    accepts, and a syscall tracepoint puts every syscall of the machine on
 *    the kernel's slow path.
 *  - connect: tcp_v4_connect()/tcp_v6_connect() entry and exit. The entry
 *    times the connect from the call itself (route lookup and local port
 *    search included); the exit sees a connect() that fails inside the call,
 *    which the state changes show with no errno (no free local port: SYN_SENT
 *    -> CLOSE) or not at all (no route: the socket never leaves CLOSE).
 * Closes stay on inet_sock_set_state: it is what tcplife uses, a stable
 * tracepoint, and bytes are read from the sock there (no per-send hook). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include "bpfkit.bpf.h"
#include "tcptrack.h"

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_MPTCP_ 262 /* not in every kernel's enum */

const volatile __u32 targ_tgid = 0;  /* 0: every process */
const volatile __u16 targ_port = 0;  /* 0: every port; else either side */
const volatile __u8 targ_family = 0; /* 4, 6 (v4-mapped counts as 4), 0: both */
const volatile bool trace_connect = true;
const volatile bool trace_accept = true;
const volatile bool trace_close = true;
const volatile bool trace_failed = false;

/* Where a connection goes, kept from when it was established: by the time
 * it reaches TCP_CLOSE the kernel has already released its local port. */
struct endpoint {
	__u16 family;
	__u16 sport;
	__u16 dport;
	__u8 saddr[16];
	__u8 daddr[16];
};

struct conn {
	__u64 start_ns;     /* connect() called, SYN sent or received; 0: before we started */
	__u32 pid;          /* 0: not accepted yet */
	__u32 uid;
	char comm[TCPTRACK_COMM_LEN];
	struct endpoint ep; /* ep.family == 0: not known yet */
	__u8 origin;        /* enum tcptrack_origin */
	/* tcp_v[46]_connect() calls in progress on this sock (v4-mapped: v6
	 * calls v4), and the thread making them: only the connect hooks set it */
	__u8 connecting;
	__u32 tid;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH); /* a missed close cannot leak an entry */
	__uint(max_entries, 65536);
	__type(key, __u64); /* struct sock * */
	__type(value, struct conn);
} conns SEC(".maps");

/* kprobe path: what tcp_v[46]_connect() was called with, for its kretprobe */
struct connect_call {
	__u64 sk;
	__u64 uaddr;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024); /* threads inside connect() at once */
	__type(key, __u32);        /* thread id */
	__type(value, struct connect_call);
} connect_calls SEC(".maps");

BPFKIT_RINGBUF(events, 1 << 22, struct tcptrack_event);

static __always_inline bool v4mapped(const __u8 *a)
{
	for (int i = 0; i < 10; i++)
		if (a[i])
			return false;
	return a[10] == 0xff && a[11] == 0xff;
}

static __always_inline void read_endpoint(struct endpoint *ep, const struct sock *sk)
{
	ep->family = BPF_CORE_READ(sk, __sk_common.skc_family);
	ep->sport = BPF_CORE_READ(sk, __sk_common.skc_num);
	if (!ep->sport) /* a failed connect has lost skc_num; inet_sport stays */
		ep->sport = bpf_ntohs(BPF_CORE_READ((struct inet_sock *)sk, inet_sport));
	ep->dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (ep->family == AF_INET) {
		bpf_core_read(ep->saddr, 4, &sk->__sk_common.skc_rcv_saddr);
		bpf_core_read(ep->daddr, 4, &sk->__sk_common.skc_daddr);
	} else {
		bpf_core_read(ep->saddr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
		bpf_core_read(ep->daddr, 16, &sk->__sk_common.skc_v6_daddr);
	}
}

static __always_inline void fill_sock(struct tcptrack_event *e, const struct sock *sk,
				      const struct conn *c)
{
	struct endpoint ep = {};
	const struct endpoint *use = &c->ep;

	if (!c->ep.family) {
		read_endpoint(&ep, sk);
		use = &ep;
	}
	e->family = use->family;
	e->sport = use->sport;
	e->dport = use->dport;
	__builtin_memcpy(e->saddr, use->saddr, sizeof(e->saddr));
	__builtin_memcpy(e->daddr, use->daddr, sizeof(e->daddr));
	e->netns = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
}

/* bytes_acked and bytes_received count sequence space: our SYN (once the
 * SYN-ACK acked it), our FIN once acked and the peer's FIN are in them. The
 * user wants payload bytes, what send() and recv() moved. */
static __always_inline void payload_bytes(struct tcptrack_event *e, const struct sock *sk,
					  const struct conn *c, int oldstate)
{
	const struct tcp_sock *tp = (const struct tcp_sock *)sk;
	__u64 sent = BPF_CORE_READ(tp, bytes_acked);
	__u64 rcvd = BPF_CORE_READ(tp, bytes_received);
	bool fin_sent = oldstate == TCP_FIN_WAIT1 || oldstate == TCP_FIN_WAIT2 ||
			oldstate == TCP_CLOSING || oldstate == TCP_LAST_ACK ||
			oldstate == TCP_TIME_WAIT;

	if (c->origin == TT_ACTIVE && sent)
		sent--;
	if (fin_sent && sent && BPF_CORE_READ(tp, snd_una) == BPF_CORE_READ(tp, write_seq))
		sent--;
	/* tcp_fin() marks a received FIN with SOCK_DONE */
	if ((BPF_CORE_READ(sk, __sk_common.skc_flags) >> bpf_core_enum_value(enum sock_flags, SOCK_DONE)) & 1 && rcvd)
		rcvd--;
	e->bytes_sent = sent;
	e->bytes_received = rcvd;
}

static __always_inline bool wanted(const struct tcptrack_event *e)
{
	if (targ_port && e->sport != targ_port && e->dport != targ_port)
		return false;
	if (targ_family) {
		bool v4 = e->family == AF_INET || v4mapped(e->daddr);

		if ((targ_family == 4) != v4)
			return false;
	}
	return true;
}

/* Build the event on the stack (it fits) so a filtered one costs no ring space.
 * `error`: CONNECT_FAIL's errno. */
static __always_inline void emit(void *ctx, enum tcptrack_kind kind, const struct sock *sk,
				 const struct conn *c, __u64 now, int oldstate, int error)
{
	struct tcptrack_event e = {};

	e.ts_ns = now;
	e.kind = kind;
	e.origin = c->origin;
	e.pid = c->pid;
	e.uid = c->uid;
	__builtin_memcpy(e.comm, c->comm, sizeof(e.comm));
	fill_sock(&e, sk, c);
	if (!wanted(&e))
		return;
	if (kind == TT_CONNECT) {
		e.latency_ns = now - c->start_ns;
	} else if (kind == TT_CLOSE) {
		e.duration_ns = c->start_ns ? now - c->start_ns : 0;
		payload_bytes(&e, sk, c, oldstate);
	} else if (kind == TT_CONNECT_FAIL) {
		e.latency_ns = now - c->start_ns;
		e.error = error;
	}
	bpfkit_output(ctx, events, &e, sizeof(e));
}

static __always_inline void set_owner(struct conn *c)
{
	__u64 id = bpf_get_current_pid_tgid();

	c->pid = id >> 32;
	c->uid = (__u32)bpf_get_current_uid_gid();
	bpf_get_current_comm(c->comm, sizeof(c->comm));
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(on_state, const struct sock *sk, const int oldstate, const int newstate)
{
	__u64 key = (__u64)sk, now;
	struct conn *c;

	if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	now = bpf_ktime_get_ns();
	if (newstate == TCP_SYN_SENT) {
		struct conn n = {.start_ns = now, .origin = TT_ACTIVE};

		c = bpf_map_lookup_elem(&conns, &key);
		if (c && c->connecting && c->tid == (__u32)bpf_get_current_pid_tgid())
			return 0; /* the connect hook made it, at the call's start */
		if (targ_tgid && (bpf_get_current_pid_tgid() >> 32) != targ_tgid)
			return 0;
		set_owner(&n);
		bpf_map_update_elem(&conns, &key, &n, BPF_ANY);
		return 0;
	}
	if (newstate == TCP_SYN_RECV) {
		/* The endpoint is read once ESTABLISHED: some kernels (6.1) report
		 * SYN_RECV for the child sock before its peer address is set. */
		struct conn n = {.start_ns = now, .origin = TT_PASSIVE};

		bpf_map_update_elem(&conns, &key, &n, BPF_ANY);
		return 0;
	}
	c = bpf_map_lookup_elem(&conns, &key);
	if (!c)
		return 0;
	if (newstate == TCP_ESTABLISHED && oldstate == TCP_SYN_RECV) {
		read_endpoint(&c->ep, sk);
		return 0;
	}
	if (newstate == TCP_ESTABLISHED && oldstate == TCP_SYN_SENT) {
		read_endpoint(&c->ep, sk);
		if (trace_connect)
			emit(ctx, TT_CONNECT, sk, c, now, oldstate, 0);
		return 0;
	}
	if (newstate != TCP_CLOSE)
		return 0;
	if (oldstate == TCP_SYN_SENT) {
		if (c->connecting && c->tid == (__u32)bpf_get_current_pid_tgid()) {
			/* connect() itself is failing (no free local port): its
			 * exit has the errno, sk_err has none. Keep the endpoint:
			 * the kernel clears it next. */
			read_endpoint(&c->ep, sk);
			return 0;
		}
		if (trace_failed)
			emit(ctx, TT_CONNECT_FAIL, sk, c, now, oldstate, BPF_CORE_READ(sk, sk_err));
	} else if (c->pid && trace_close) {
		emit(ctx, TT_CLOSE, sk, c, now, oldstate, 0);
	}
	bpf_map_delete_elem(&conns, &key);
	return 0;
}

/* A listener handed `sk` to the current task: the connection's process. */
static __always_inline int accepted(void *ctx, struct sock *sk)
{
	struct conn *c, n = {.origin = TT_PASSIVE};
	__u64 key = (__u64)sk;
	__u16 proto;

	if (!sk)
		return 0;
	if (targ_tgid && (bpf_get_current_pid_tgid() >> 32) != targ_tgid)
		return 0;
	/* accept(2) takes any listener (AF_UNIX, SCTP, DCCP...): TCP only. An
	 * MPTCP connection is accepted as its MPTCP sock (or a TCP one when it
	 * fell back to plain TCP), on every path. */
	proto = BPF_CORE_READ(sk, sk_protocol);
	if (proto != IPPROTO_TCP && proto != IPPROTO_MPTCP_)
		return 0;
	c = bpf_map_lookup_elem(&conns, &key);
	/* No record to keep for a sock whose close we will never see: an MPTCP
	 * sock (inet_sock_set_state reports its TCP subflows, not it) or one
	 * already closed (reset before it was accepted). */
	if (!c && (proto != IPPROTO_TCP || BPF_CORE_READ(sk, __sk_common.skc_state) == TCP_CLOSE)) {
		read_endpoint(&n.ep, sk);
		set_owner(&n);
		if (trace_accept)
			emit(ctx, TT_ACCEPT, sk, &n, bpf_ktime_get_ns(), 0, 0);
		return 0;
	}
	if (!c) { /* established before we started: no duration */
		read_endpoint(&n.ep, sk);
		bpf_map_update_elem(&conns, &key, &n, BPF_NOEXIST);
		c = bpf_map_lookup_elem(&conns, &key);
		if (!c)
			return 0;
	}
	if (!c->ep.dport) /* not read yet (or read before the kernel set it) */
		read_endpoint(&c->ep, sk);
	set_owner(c);
	if (trace_accept)
		emit(ctx, TT_ACCEPT, sk, c, bpf_ktime_get_ns(), 0, 0);
	return 0;
}

/* -- accept: fentry or kprobe on security_sock_graft(), or the syscall exits ---------------- */

/* inet_accept() hands the sock inet_csk_accept() returned to its new socket
 * with sock_graft() -> security_sock_graft(sk, parent), in the accepting task,
 * however the accept was made (accept, accept4, io_uring, a kernel socket).
 * Not the exit of inet_csk_accept() itself, which libbpf-tools' tcptracer
 * uses: a server already waiting in accept() when we attach returns from a
 * call the fexit trampoline or kretprobe never saw, so its next connection
 * would have no ACCEPT (and no passive CLOSE); the graft comes after the wait.
 * Other families graft too (AF_UNIX): accepted() keeps TCP (and MPTCP). */
SEC("fentry/security_sock_graft")
int BPF_PROG(accept_fentry, struct sock *sk)
{
	return accepted(ctx, sk);
}

SEC("kprobe/security_sock_graft")
int BPF_KPROBE(accept_kprobe, struct sock *sk)
{
	return accepted(ctx, sk);
}

/* accept()/accept4() returned fd `ret`: current->files->fdt->fd[ret] is the
 * new socket's file; its sock is the connection's key. */
static __always_inline int on_accept(void *ctx, long ret)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt;
	struct file **fds, *file = NULL;
	struct socket *sock;

	if (ret < 0)
		return 0;
	if (targ_tgid && (bpf_get_current_pid_tgid() >> 32) != targ_tgid)
		return 0;
	fdt = BPF_CORE_READ(task, files, fdt);
	if (ret >= BPF_CORE_READ(fdt, max_fds))
		return 0;
	fds = BPF_CORE_READ(fdt, fd);
	bpf_core_read(&file, sizeof(file), &fds[ret]);
	sock = BPF_CORE_READ(file, private_data);
	return accepted(ctx, BPF_CORE_READ(sock, sk));
}

SEC("tracepoint/syscalls/sys_exit_accept")
int exit_accept(struct bpfkit_sys_exit *ctx) { return on_accept(ctx, ctx->ret); }

SEC("tracepoint/syscalls/sys_exit_accept4")
int exit_accept4(struct bpfkit_sys_exit *ctx) { return on_accept(ctx, ctx->ret); }

/* -- connect: fentry+fexit or kprobe+kretprobe on tcp_v4_connect/tcp_v6_connect ----------- */

static __always_inline void connect_enter(struct sock *sk)
{
	__u64 key = (__u64)sk, id = bpf_get_current_pid_tgid();
	struct conn *c, n = {.origin = TT_ACTIVE, .connecting = 1};

	if (targ_tgid && (id >> 32) != targ_tgid)
		return;
	c = bpf_map_lookup_elem(&conns, &key);
	/* tcp_v6_connect() -> tcp_v4_connect() (v4-mapped); a record of another
	 * thread is one whose exit was missed (a kretprobe past maxactive) */
	if (c && c->connecting && c->tid == (__u32)id) {
		c->connecting++;
		return;
	}
	n.start_ns = bpf_ktime_get_ns();
	n.tid = (__u32)id;
	set_owner(&n);
	bpf_map_update_elem(&conns, &key, &n, BPF_ANY);
}

/* Where a connect that failed before SYN_SENT was going: the sock does not
 * hold it yet. sin_port and sin6_port are both at offset 2. */
static __always_inline void destination(struct endpoint *ep, const struct sockaddr *uaddr)
{
	const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)uaddr;
	const struct sockaddr_in *a4 = (const struct sockaddr_in *)uaddr;
	__u16 port = 0;

	bpf_probe_read_kernel(&port, sizeof(port), &a4->sin_port);
	ep->dport = bpf_ntohs(port);
	if (ep->family == AF_INET)
		bpf_probe_read_kernel(ep->daddr, 4, &a4->sin_addr);
	else
		bpf_probe_read_kernel(ep->daddr, 16, &a6->sin6_addr);
}

/* Returns true when this was the outermost call (the connect is decided). */
static __always_inline bool connect_exit(void *ctx, struct sock *sk, const struct sockaddr *uaddr,
					 int ret)
{
	__u64 key = (__u64)sk;
	struct conn *c = bpf_map_lookup_elem(&conns, &key);

	if (!c || !c->connecting || c->tid != (__u32)bpf_get_current_pid_tgid())
		return true;
	if (--c->connecting)
		return false;
	if (ret >= 0) /* SYN sent (or deferred by TCP_FASTOPEN_CONNECT): the states tell the rest */
		return true;
	if (trace_failed) {
		if (!c->ep.family)
			read_endpoint(&c->ep, sk);
		if (!c->ep.dport)
			destination(&c->ep, uaddr);
		emit(ctx, TT_CONNECT_FAIL, sk, c, bpf_ktime_get_ns(), TCP_SYN_SENT, -ret);
	}
	bpf_map_delete_elem(&conns, &key);
	return true;
}

/* The exits come first in this file, so they are attached first: a call
 * whose entry is seen then always has its exit seen. */
SEC("fexit/tcp_v4_connect")
int BPF_PROG(connect4_fexit, struct sock *sk, struct sockaddr *uaddr, int addr_len, int ret)
{
	connect_exit(ctx, sk, uaddr, ret);
	return 0;
}

SEC("fexit/tcp_v6_connect")
int BPF_PROG(connect6_fexit, struct sock *sk, struct sockaddr *uaddr, int addr_len, int ret)
{
	connect_exit(ctx, sk, uaddr, ret);
	return 0;
}

SEC("fentry/tcp_v4_connect")
int BPF_PROG(connect4_fentry, struct sock *sk)
{
	connect_enter(sk);
	return 0;
}

SEC("fentry/tcp_v6_connect")
int BPF_PROG(connect6_fentry, struct sock *sk)
{
	connect_enter(sk);
	return 0;
}

static __always_inline void connect_kprobe(struct sock *sk, struct sockaddr *uaddr)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct connect_call call = {.sk = (__u64)sk, .uaddr = (__u64)uaddr};
	struct connect_call *outer = bpf_map_lookup_elem(&connect_calls, &tid);

	connect_enter(sk);
	/* the outermost call's arguments: v6 -> v4 passes a sockaddr of its own */
	if (!outer || outer->sk != call.sk)
		bpf_map_update_elem(&connect_calls, &tid, &call, BPF_ANY);
}

static __always_inline void connect_kretprobe(void *ctx, int ret)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct connect_call *call = bpf_map_lookup_elem(&connect_calls, &tid);

	if (call && connect_exit(ctx, (struct sock *)call->sk, (const struct sockaddr *)call->uaddr, ret))
		bpf_map_delete_elem(&connect_calls, &tid);
}

SEC("kretprobe/tcp_v4_connect")
int BPF_KRETPROBE(connect4_kretprobe, int ret)
{
	connect_kretprobe(ctx, ret);
	return 0;
}

SEC("kretprobe/tcp_v6_connect")
int BPF_KRETPROBE(connect6_kretprobe, int ret)
{
	connect_kretprobe(ctx, ret);
	return 0;
}

SEC("kprobe/tcp_v4_connect")
int BPF_KPROBE(connect4_kprobe, struct sock *sk, struct sockaddr *uaddr)
{
	connect_kprobe(sk, uaddr);
	return 0;
}

SEC("kprobe/tcp_v6_connect")
int BPF_KPROBE(connect6_kprobe, struct sock *sk, struct sockaddr *uaddr)
{
	connect_kprobe(sk, uaddr);
	return 0;
}

/* Best first; "+": programs needed together. on_state is the tracepoint
 * path of connect and is what every alternative builds on (state). IPv4 and
 * IPv6 connects are separate groups: a kernel whose IPv6 is a module not
 * loaded (no tcp_v6_connect) keeps the better hooks for IPv4. An
 * architecture without accept(2) (accept4 only) keeps exit_accept4 alone. */
BPFKIT_HOOKS(state, on_state);
BPFKIT_HOOKS(connect4, connect4_fentry+connect4_fexit, connect4_kprobe+connect4_kretprobe, on_state);
BPFKIT_HOOKS(connect6, connect6_fentry+connect6_fexit, connect6_kprobe+connect6_kretprobe, on_state);
BPFKIT_HOOKS(accept, accept_fentry, accept_kprobe, exit_accept4+exit_accept, exit_accept4);

char LICENSE[] SEC("license") = "GPL";
