// SPDX-License-Identifier: GPL-2.0
/* misc.bpf.c: small programs for tests/test_ports.py (kinds and corner cases
 * the ports do not cover). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

__u64 seen, dropped;

/* A socket filter: drops datagrams that start with 'X', keeps the rest whole. */
SEC("socket")
int drop_x(struct __sk_buff *skb)
{
	char first = 0;

	__sync_fetch_and_add(&seen, 1);
	if (bpf_skb_load_bytes(skb, 0, &first, 1) == 0 && first == 'X') {
		__sync_fetch_and_add(&dropped, 1);
		return 0;
	}
	return skb->len;
}

/* Grows the packet by 512 bytes at its tail: more than a test run's default
 * output buffer (packet + 256) holds. */
SEC("xdp")
int grow_tail(struct xdp_md *ctx)
{
	if (bpf_xdp_adjust_tail(ctx, 512))
		return XDP_ABORTED;
	return XDP_PASS;
}

/* kprobe kinds by another name: this kernel has no kprobes */
SEC("ksyscall/getppid")
int BPF_KPROBE(ksys_getppid)
{
	return 0;
}

SEC("kretsyscall/getppid")
int BPF_KRETPROBE(kretsys_getppid, long ret)
{
	return 0;
}

/* sockmap: a stream verdict program sees every byte the sockets of `socks` receive */
__u64 stream_bytes;

struct {
	__uint(type, BPF_MAP_TYPE_SOCKMAP);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} socks SEC(".maps");

SEC("sk_skb/stream_verdict")
int count_stream(struct __sk_buff *skb)
{
	__sync_fetch_and_add(&stream_bytes, skb->len);
	return SK_PASS;
}

/* sk_lookup: connections to port `steer_port` of any address go to the socket in listeners[0] */
const volatile __u16 steer_port = 0;

struct {
	__uint(type, BPF_MAP_TYPE_SOCKMAP);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} listeners SEC(".maps");

SEC("sk_lookup")
int steer(struct bpf_sk_lookup *ctx)
{
	struct bpf_sock *sk;
	__u32 zero = 0;
	long err;

	if (ctx->local_port != steer_port)
		return SK_PASS;
	sk = bpf_map_lookup_elem(&listeners, &zero);
	if (!sk)
		return SK_PASS;
	err = bpf_sk_assign(ctx, sk, 0);
	bpf_sk_release(sk);
	return err ? SK_DROP : SK_PASS;
}

char LICENSE[] SEC("license") = "GPL";
