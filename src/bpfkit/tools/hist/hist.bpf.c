// SPDX-License-Identifier: GPL-2.0
/* hist.bpf.c: the engine (engine.bpf.h) plus the presets that need typed
 * kernel pointers (tp_btf, CO-RE): run-queue latency, block I/O latency,
 * TCP connect latency and WireGuard. Python switches on the programs of one
 * preset (autoload) and sets .rodata; nothing is compiled at run time. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include "bpfkit.bpf.h"
#include "engine.bpf.h"

#define TASK_RUNNING 0
#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_UDP_ 17

/* -- shared: a task as the subject of a span ------------------------------------ */
static __always_inline bool task_wanted(struct task_struct *p, struct hist_key *hk)
{
	if (targ_tgid && BPF_CORE_READ(p, tgid) != targ_tgid)
		return false;
	if (filter_comm || wants_comm(span_by[0]))
		BPF_CORE_READ_STR_INTO(&hk->name, p, comm);
	if (filter_comm && !comm_matches(hk->name))
		return false;
	return true;
}

static __always_inline void by_task(struct hist_key *hk, __u8 by, struct task_struct *p)
{
	switch (by) {
	case BY_PID:
		hk->id = BPF_CORE_READ(p, tgid);
		break;
	case BY_TID:
		hk->id = BPF_CORE_READ(p, pid);
		break;
	case BY_COMM:
		break;
	default: /* BY_CPU: set where the span ends */
		__builtin_memset(hk->name, 0, sizeof(hk->name));
		break;
	}
}

/* -- preset runqlat: woken (or preempted) -> on a CPU, by tid ------------------- */
static __always_inline int rq_enqueue(struct task_struct *p)
{
	struct hist_key hk = {};
	struct span_key k = {};
	__u32 pid = BPF_CORE_READ(p, pid);

	if (!pid || !task_wanted(p, &hk))
		return 0;
	by_task(&hk, span_by[0], p);
	k.a = pid;
	span_start_at(&k, &hk, bpf_ktime_get_ns());
	return 0;
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(rq_wakeup, struct task_struct *p)
{
	return rq_enqueue(p);
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(rq_wakeup_new, struct task_struct *p)
{
	return rq_enqueue(p);
}

struct task_struct___pre518 {
	long state;
} __attribute__((preserve_access_index));

static __always_inline long task_state(struct task_struct *t)
{
	if (bpf_core_field_exists(t->__state))
		return BPF_CORE_READ(t, __state);
	return BPF_CORE_READ((struct task_struct___pre518 *)t, state);
}

SEC("tp_btf/sched_switch")
int BPF_PROG(rq_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	struct span_key k = {};
	struct span_start *s;

	/* still runnable: it waits on the run queue again. Preempted counts even
	 * when its state already says it is going to sleep (set_current_state()
	 * then preempted before schedule()): the kernel leaves it queued, and its
	 * next switch-in comes without a wakeup. (Checking the state alone, as
	 * libbpf-tools' runqlat does, misses those waits.) */
	if (preempt || task_state(prev) == TASK_RUNNING)
		rq_enqueue(prev);
	k.a = BPF_CORE_READ(next, pid);
	if (!k.a)
		return 0;
	s = bpf_map_lookup_elem(&starts, &k);
	if (s) {
		span_end_found(&k, s, bpf_ktime_get_ns());
	} else if (targ_tgid || filter_comm) {
		struct hist_key hk = {};

		/* a task we trace, switched in with no start: it was queued
		 * before we attached, or its start was lost */
		if (task_wanted(next, &hk))
			stat_add(0, ST_ORPHAN_ENDS, 1);
	}
	return 0;
}

/* -- preset biolatency: issued to the device -> completed, by request ----------- */
struct request_queue___old {
	struct gendisk *disk;
} __attribute__((preserve_access_index));

struct request___old {
	struct gendisk *rq_disk;
} __attribute__((preserve_access_index));

static __always_inline struct gendisk *rq_disk(struct request *rq)
{
	if (bpf_core_field_exists(((struct request___old *)rq)->rq_disk))
		return BPF_CORE_READ((struct request___old *)rq, rq_disk);
	return BPF_CORE_READ(rq, q, disk);
}

SEC("tp_btf/block_rq_issue")
int BPF_PROG(bio_issue, struct request *rq)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct hist_key hk = {};
	struct span_key k = {.a = (__u64)rq};
	struct gendisk *disk;
	__u8 by = span_by[0];

	if (by == BY_DEV) {
		disk = rq_disk(rq);
		hk.id = ((__u64)BPF_CORE_READ(disk, major) << 20) | BPF_CORE_READ(disk, first_minor);
	} else if (by == BY_COMM || by == BY_PID) {
		/* who issued it: often a kworker or the loop thread, not the reader */
		if (!current_wanted(id, hk.name))
			return 0;
		by_current(&hk, by, id, 0);
	}
	span_start_at(&k, &hk, bpf_ktime_get_ns());
	return 0;
}

SEC("tp_btf/block_rq_complete")
int BPF_PROG(bio_complete, struct request *rq, int error, unsigned int nr_bytes)
{
	struct span_key k = {.a = (__u64)rq};

	span_end_at(&k, bpf_ktime_get_ns());
	return 0;
}

/* -- preset tcpconnlat: SYN sent -> established, by sock ------------------------ */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(tcp_state, const struct sock *sk, const int oldstate, const int newstate)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct span_key k = {.a = (__u64)sk};
	struct hist_key hk = {};
	__u8 by = span_by[0];

	if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	if (newstate == TCP_SYN_SENT) {
		/* inside connect(): the current task is the one connecting */
		if (!current_wanted(id, hk.name))
			return 0;
		if (by == BY_PORT) {
			__builtin_memset(hk.name, 0, sizeof(hk.name));
			hk.id = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
		} else {
			by_current(&hk, by, id, 0);
		}
		span_start_at(&k, &hk, bpf_ktime_get_ns());
	} else if (oldstate == TCP_SYN_SENT) {
		if (newstate == TCP_ESTABLISHED)
			span_end_at(&k, bpf_ktime_get_ns());
		else /* refused, timed out: no latency to add */
			span_cancel(&k);
	}
	return 0;
}

/* -- preset wireguard -----------------------------------------------------------
 * No WireGuard tracepoints exist, so its packets are timed between the
 * tracepoints around it, by skb pointer: TX from the wg device's xmit to the
 * underlay's (the same skb, encrypted in place), RX from the underlay's
 * receive to the wg device's GRO entry (decrypted in place). GSO segmentation
 * and GRO merging give the packet a new skb: those stay unmatched, and the
 * matched ratio says how many. Crypto work items by work pointer; handshakes
 * from the outer UDP messages (type 1 sender index = type 2 receiver index). */
enum wg_span {
	WG_TX = 0,          /* wg xmit -> underlay xmit */
	WG_RX = 1,          /* underlay receive -> wg GRO entry */
	WG_CRYPT_QUEUE = 2, /* crypto/tx work queued -> started */
	WG_CRYPT_RUN = 3,   /* crypto/tx work started -> done */
	WG_HS_RTT = 4,      /* initiation sent -> response received (initiator) */
	WG_HS_RESP = 5,     /* initiation received -> response sent (responder) */
};

enum wg_count {
	WGC_PEER_TX = 0, /* outer UDP to a peer, by message type: packets, bytes */
	WGC_PEER_RX = 1,
	WGC_NAPI = 2,    /* NAPI polls of a wg device (sum: packets) */
	WGC_STAGED = 3,  /* wg_packet_send_staged_packets calls (better hooks only) */
};

const volatile bool wg_port_filter = false; /* wg_ports holds every listen port */
const volatile bool wg_fn_filter = false;   /* wg_funcs holds the worker functions */

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u64); /* netns inode << 32 | ifindex */
	__type(value, __u8);
} wg_ifaces SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u16); /* UDP listen port, host order */
	__type(value, __u8);
} wg_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, __u64); /* work function address */
	__type(value, __u8);
} wg_funcs SEC(".maps");

static __always_inline __u64 dev_key(const struct net_device *dev)
{
	__u64 ns = BPF_CORE_READ(dev, nd_net.net, ns.inum);

	return ns << 32 | (__u32)BPF_CORE_READ(dev, ifindex);
}

static __always_inline bool is_wg(const struct net_device *dev)
{
	__u64 key;

	if (!dev)
		return false;
	key = dev_key(dev);
	return bpf_map_lookup_elem(&wg_ifaces, &key) != NULL;
}

static __always_inline void iface_key(struct hist_key *hk, const struct net_device *dev, __u32 span)
{
	hk->span = span;
	if (span_by[span & (HIST_MAX_SPANS - 1)] == BY_IFACE) {
		hk->id = dev_key(dev);
		BPF_CORE_READ_STR_INTO(&hk->name, dev, name);
	}
}

/* An outer WireGuard message: UDP to or from a wg port (or, no port known,
 * the shape of one: type 1-4, three zero bytes, the type's exact size). */
struct wg_msg {
	__u8 type;
	__u8 family;
	__u16 peer_port;
	__u32 sender;   /* type 1, 2: sender index; type 4: receiver index */
	__u32 receiver; /* type 2: the initiator's sender index */
	__u32 len;      /* UDP payload bytes */
	__u8 peer[16];
};

static __always_inline bool wg_parse(const unsigned char *l3, bool tx, struct wg_msg *m)
{
	__u8 b[40];
	__u32 l4off, hdr;
	__u16 sport, dport, ulen, our;
	struct {
		__u8 type;
		__u8 reserved[3];
		__u32 sender;
		__u32 receiver;
	} w;

	if (bpf_probe_read_kernel(b, sizeof(b), l3))
		return false;
	if ((b[0] >> 4) == 4) {
		if (b[9] != IPPROTO_UDP_)
			return false;
		l4off = (b[0] & 0xf) * 4;
		m->family = AF_INET;
		__builtin_memcpy(m->peer, tx ? &b[16] : &b[12], 4);
	} else if ((b[0] >> 4) == 6) {
		if (b[6] != IPPROTO_UDP_)
			return false;
		l4off = 40;
		m->family = AF_INET6;
		if (tx)
			__builtin_memcpy(m->peer, &b[24], 16);
		else
			__builtin_memcpy(m->peer, &b[8], 16);
	} else {
		return false;
	}
	if (l4off < 20 || l4off > 60)
		return false;
	if (bpf_probe_read_kernel(&hdr, sizeof(hdr), l3 + l4off))
		return false;
	sport = bpf_ntohs(hdr & 0xffff);
	dport = bpf_ntohs(hdr >> 16);
	if (bpf_probe_read_kernel(&ulen, sizeof(ulen), l3 + l4off + 4))
		return false;
	ulen = bpf_ntohs(ulen);
	if (ulen < 8 + 16)
		return false;
	m->len = ulen - 8;
	m->peer_port = tx ? dport : sport;
	our = tx ? sport : dport;
	if (bpf_probe_read_kernel(&w, sizeof(w), l3 + l4off + 8))
		return false;
	if (w.type < 1 || w.type > 4 || w.reserved[0] || w.reserved[1] || w.reserved[2])
		return false;
	if (wg_port_filter && !bpf_map_lookup_elem(&wg_ports, &our))
		return false;
	if (!wg_port_filter) {
		if ((w.type == 1 && m->len != 148) || (w.type == 2 && m->len != 92) ||
		    (w.type == 3 && m->len != 64) || (w.type == 4 && (m->len < 32 || m->len % 16)))
			return false;
	}
	m->type = w.type;
	m->sender = w.sender;
	m->receiver = w.receiver;
	return true;
}

static __always_inline void wg_account(const struct wg_msg *m, __u32 which)
{
	struct hist_key hk = {.span = which, .aux = m->type};

	hk.id = m->peer_port | (__u32)m->family << 16;
	__builtin_memcpy(hk.name, m->peer, sizeof(hk.name));
	count_add(&hk, m->len);
}

static __always_inline void wg_handshake(const struct wg_msg *m, bool tx, __u64 now)
{
	struct hist_key hk = {};
	struct span_key k = {};

	if (m->type == 1) { /* initiation: starts RTT (sent) or response time (received) */
		k.span = hk.span = tx ? WG_HS_RTT : WG_HS_RESP;
		k.a = m->sender;
		hk.id = m->peer_port | (__u32)m->family << 16;
		__builtin_memcpy(hk.name, m->peer, sizeof(hk.name));
		span_start_at(&k, &hk, now);
	} else if (m->type == 2) { /* response: its receiver index is the initiator's */
		k.span = tx ? WG_HS_RESP : WG_HS_RTT;
		k.a = m->receiver;
		span_end_at(&k, now);
	}
}

/* wg device transmits: a TX span starts (the tp alternative of wg_tx) */
static __always_inline int wg_tx_start(const struct sk_buff *skb, const struct net_device *dev)
{
	struct span_key k = {.a = (__u64)skb, .span = WG_TX};
	struct hist_key hk = {};

	if (!is_wg(dev))
		return 0;
	iface_key(&hk, dev, WG_TX);
	span_start_at(&k, &hk, bpf_ktime_get_ns());
	return 0;
}

SEC("tp_btf/net_dev_start_xmit")
int BPF_PROG(wg_dev_xmit, const struct sk_buff *skb, const struct net_device *dev)
{
	return wg_tx_start(skb, dev);
}

SEC("fentry/wg_xmit")
int BPF_PROG(wg_xmit_fentry, struct sk_buff *skb, struct net_device *dev)
{
	return wg_tx_start(skb, dev);
}

SEC("kprobe/wg_xmit")
int BPF_KPROBE(wg_xmit_kprobe, struct sk_buff *skb, struct net_device *dev)
{
	return wg_tx_start(skb, dev);
}

BPFKIT_HOOKS(wg_tx, wg_xmit_fentry, wg_xmit_kprobe, wg_dev_xmit);

/* Any other device transmits: a TX span ends if the skb came from a wg
 * device; handshake messages and per-peer accounting of the outer UDP. */
SEC("tp_btf/net_dev_start_xmit")
int BPF_PROG(wg_udp_tx, const struct sk_buff *skb, const struct net_device *dev)
{
	struct span_key k = {.a = (__u64)skb, .span = WG_TX};
	struct wg_msg m = {};
	struct span_start *s;
	__u64 now;

	if (is_wg(dev))
		return 0;
	now = bpf_ktime_get_ns();
	s = bpf_map_lookup_elem(&starts, &k);
	if (s)
		span_end_found(&k, s, now);
	if (!wg_parse(BPF_CORE_READ(skb, head) + BPF_CORE_READ(skb, network_header), true, &m))
		return 0;
	wg_account(&m, WGC_PEER_TX);
	wg_handshake(&m, true, now);
	return 0;
}

/* The underlay receives: data messages start an RX span (tp alternative of
 * wg_rx); handshakes and accounting as for TX. */
static __always_inline int wg_rx_data(const struct sk_buff *skb, const unsigned char *l3)
{
	struct span_key k = {.a = (__u64)skb, .span = WG_RX};
	struct hist_key hk = {.span = WG_RX};
	struct wg_msg m = {};

	if (!wg_parse(l3, false, &m) || m.type != 4)
		return 0;
	span_start_at(&k, &hk, bpf_ktime_get_ns()); /* iface: filled in at the end */
	return 0;
}

SEC("tp_btf/netif_receive_skb")
int BPF_PROG(wg_rx_start, const struct sk_buff *skb)
{
	if (is_wg(BPF_CORE_READ(skb, dev)))
		return 0;
	return wg_rx_data(skb, BPF_CORE_READ(skb, data));
}

struct wg_device;

SEC("fentry/wg_packet_receive")
int BPF_PROG(wg_receive_fentry, struct wg_device *wg, struct sk_buff *skb)
{
	struct span_key k = {.a = (__u64)skb, .span = WG_RX};
	struct hist_key hk = {.span = WG_RX};
	__u8 type = 0;

	/* encap_rcv: data at the UDP header */
	bpf_probe_read_kernel(&type, 1, BPF_CORE_READ(skb, data) + 8);
	if (type == 4)
		span_start_at(&k, &hk, bpf_ktime_get_ns());
	return 0;
}

SEC("kprobe/wg_packet_receive")
int BPF_KPROBE(wg_receive_kprobe, struct wg_device *wg, struct sk_buff *skb)
{
	struct span_key k = {.a = (__u64)skb, .span = WG_RX};
	struct hist_key hk = {.span = WG_RX};
	__u8 type = 0;

	bpf_probe_read_kernel(&type, 1, BPF_CORE_READ(skb, data) + 8);
	if (type == 4)
		span_start_at(&k, &hk, bpf_ktime_get_ns());
	return 0;
}

BPFKIT_HOOKS(wg_rx, wg_receive_fentry, wg_receive_kprobe, wg_rx_start);

SEC("tp_btf/netif_receive_skb")
int BPF_PROG(wg_udp_rx, const struct sk_buff *skb)
{
	struct wg_msg m = {};

	if (is_wg(BPF_CORE_READ(skb, dev)))
		return 0;
	if (!wg_parse(BPF_CORE_READ(skb, data), false, &m))
		return 0;
	wg_account(&m, WGC_PEER_RX);
	wg_handshake(&m, false, bpf_ktime_get_ns());
	return 0;
}

/* Decrypted, handed to GRO on the wg device: the RX span ends. */
SEC("tp_btf/napi_gro_receive_entry")
int BPF_PROG(wg_rx_end, const struct sk_buff *skb)
{
	struct span_key k = {.a = (__u64)skb, .span = WG_RX};
	const struct net_device *dev = BPF_CORE_READ(skb, dev);
	struct span_start *s;

	if (!is_wg(dev))
		return 0;
	s = bpf_map_lookup_elem(&starts, &k);
	if (!s) {
		stat_add(WG_RX, ST_ORPHAN_ENDS, 1);
		return 0;
	}
	iface_key(&s->hk, dev, WG_RX);
	span_end_found(&k, s, bpf_ktime_get_ns());
	return 0;
}

/* Crypto and tx work items of wg devices: queued -> started -> done. */
static __always_inline bool wg_work(__u64 fn, const char *wq_name)
{
	if (wg_fn_filter)
		return bpf_map_lookup_elem(&wg_funcs, &fn) != NULL;
	if (!wq_name)
		return false;
	/* no symbols: the wg workqueues ("wg-crypt-DEV", "wg-kex-DEV") */
	char n[4] = {};

	bpf_probe_read_kernel(n, 3, wq_name);
	return n[0] == 'w' && n[1] == 'g' && n[2] == '-';
}

static __always_inline void work_key(struct hist_key *hk, __u32 span, __u64 fn)
{
	hk->span = span;
	if (span_by[span & (HIST_MAX_SPANS - 1)] == BY_FUNC)
		hk->id = fn;
}

SEC("tp_btf/workqueue_queue_work")
int BPF_PROG(wg_wq_queue, int req_cpu, struct pool_workqueue *pwq, struct work_struct *work)
{
	struct span_key k = {.a = (__u64)work, .span = WG_CRYPT_QUEUE};
	__u64 fn = (__u64)BPF_CORE_READ(work, func);
	struct hist_key hk = {};

	if (!wg_work(fn, wg_fn_filter ? NULL : BPF_CORE_READ(pwq, wq, name)))
		return 0;
	work_key(&hk, WG_CRYPT_QUEUE, fn);
	span_start_at(&k, &hk, bpf_ktime_get_ns());
	return 0;
}

SEC("tp_btf/workqueue_execute_start")
int BPF_PROG(wg_wq_start, struct work_struct *work)
{
	struct span_key k = {.a = (__u64)work, .span = WG_CRYPT_QUEUE};
	__u64 fn = (__u64)BPF_CORE_READ(work, func), now = bpf_ktime_get_ns();
	struct span_start *s = bpf_map_lookup_elem(&starts, &k);
	struct hist_key hk = {};

	if (!s)
		return 0; /* not a wg work item (or queued before we attached) */
	span_end_found(&k, s, now);
	k.span = WG_CRYPT_RUN;
	work_key(&hk, WG_CRYPT_RUN, fn);
	span_start_at(&k, &hk, now);
	return 0;
}

SEC("tp_btf/workqueue_execute_end")
int BPF_PROG(wg_wq_end, struct work_struct *work, work_func_t function)
{
	struct span_key k = {.a = (__u64)work, .span = WG_CRYPT_RUN};
	struct span_start *s = bpf_map_lookup_elem(&starts, &k);

	if (s)
		span_end_found(&k, s, bpf_ktime_get_ns());
	return 0;
}

/* NAPI polls of wg devices (per peer NAPI in kernel WireGuard). */
static __always_inline int wg_poll(const struct net_device *dev, int work)
{
	struct hist_key hk = {.span = WGC_NAPI};

	if (!is_wg(dev))
		return 0;
	hk.id = dev_key(dev);
	BPF_CORE_READ_STR_INTO(&hk.name, dev, name);
	count_add(&hk, work > 0 ? work : 0);
	return 0;
}

SEC("tp_btf/napi_poll")
int BPF_PROG(wg_napi, struct napi_struct *napi, int work, int budget)
{
	return wg_poll(BPF_CORE_READ(napi, dev), work);
}

SEC("fexit/wg_packet_rx_poll")
int BPF_PROG(wg_rx_poll_fexit, struct napi_struct *napi, int budget, int ret)
{
	return wg_poll(BPF_CORE_READ(napi, dev), ret);
}

BPFKIT_HOOKS(wg_poll, wg_rx_poll_fexit, wg_napi);

/* Staged-packet sends per device: only the better hooks see them. */
struct wg_device___bpfkit {
	struct net_device *dev;
} __attribute__((preserve_access_index));

struct wg_peer___bpfkit {
	struct wg_device___bpfkit *device;
} __attribute__((preserve_access_index));

static __always_inline int wg_staged(struct wg_peer___bpfkit *peer)
{
	struct hist_key hk = {.span = WGC_STAGED};
	struct net_device *dev = BPF_CORE_READ(peer, device, dev);

	hk.id = dev_key(dev);
	BPF_CORE_READ_STR_INTO(&hk.name, dev, name);
	count_add(&hk, 0);
	return 0;
}

SEC("fentry/wg_packet_send_staged_packets")
int BPF_PROG(wg_staged_fentry, struct wg_peer___bpfkit *peer)
{
	return wg_staged(peer);
}

SEC("kprobe/wg_packet_send_staged_packets")
int BPF_KPROBE(wg_staged_kprobe, struct wg_peer___bpfkit *peer)
{
	return wg_staged(peer);
}

BPFKIT_HOOKS_OPTIONAL(wg_staged, wg_staged_fentry, wg_staged_kprobe);

char LICENSE[] SEC("license") = "GPL";
