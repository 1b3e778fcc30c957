// SPDX-License-Identifier: GPL-2.0
/* tcptrack.bpf.c: TCP connects, accepts and closes, on tracepoints only.
 *
 * sock:inet_sock_set_state (as tp_btf, for a typed struct sock *) sees every
 * state change: CLOSE -> SYN_SENT runs inside connect(), so it names the
 * connecting process; SYN_SENT -> ESTABLISHED gives the connect latency;
 * -> CLOSE gives byte counts and duration. An incoming connection is
 * established in softirq context, so its process is taken where it is
 * accepted: at accept()/accept4() exit, the returned fd leads to the sock.
 * Each tracked sock has a record keyed by its address until it closes. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include "bpfkit.bpf.h"
#include "tcptrack.h"

#define AF_INET 2
#define AF_INET6 10

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
	__u64 start_ns;     /* SYN sent or received; 0: before we started */
	__u32 pid;          /* 0: not accepted yet */
	__u32 uid;
	char comm[TCPTRACK_COMM_LEN];
	struct endpoint ep; /* ep.family == 0: not known yet */
	__u8 origin;        /* enum tcptrack_origin */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH); /* a missed close cannot leak an entry */
	__uint(max_entries, 65536);
	__type(key, __u64); /* struct sock * */
	__type(value, struct conn);
} conns SEC(".maps");

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

/* Build the event on the stack (it fits) so a filtered one costs no ring space. */
static __always_inline void emit(void *ctx, enum tcptrack_kind kind, const struct sock *sk,
				 const struct conn *c, __u64 now, int oldstate)
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
		e.error = BPF_CORE_READ(sk, sk_err);
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
			emit(ctx, TT_CONNECT, sk, c, now, oldstate);
		return 0;
	}
	if (newstate != TCP_CLOSE)
		return 0;
	if (oldstate == TCP_SYN_SENT) {
		if (trace_failed)
			emit(ctx, TT_CONNECT_FAIL, sk, c, now, oldstate);
	} else if (c->pid && trace_close) {
		emit(ctx, TT_CLOSE, sk, c, now, oldstate);
	}
	bpf_map_delete_elem(&conns, &key);
	return 0;
}

/* accept()/accept4() returned fd `ret`: current->files->fdt->fd[ret] is the
 * new socket's file; its sock is the connection's key. */
static __always_inline int on_accept(void *ctx, long ret)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt;
	struct file **fds, *file = NULL;
	struct socket *sock;
	struct sock *sk;
	struct conn *c, n = {.origin = TT_PASSIVE};
	__u64 key;

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
	sk = BPF_CORE_READ(sock, sk);
	if (!sk)
		return 0;
	key = (__u64)sk;
	c = bpf_map_lookup_elem(&conns, &key);
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
		emit(ctx, TT_ACCEPT, sk, c, bpf_ktime_get_ns(), 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept")
int exit_accept(struct bpfkit_sys_exit *ctx) { return on_accept(ctx, ctx->ret); }

SEC("tracepoint/syscalls/sys_exit_accept4")
int exit_accept4(struct bpfkit_sys_exit *ctx) { return on_accept(ctx, ctx->ret); }

/* accept(2) is not in every architecture's syscall table (accept4 is) */
BPFKIT_HOOKS_OPTIONAL(accept, exit_accept);

char LICENSE[] SEC("license") = "GPL";
