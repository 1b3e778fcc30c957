// SPDX-License-Identifier: GPL-2.0
/* features.bpf.c: one small program per library feature, driven by the
 * examples in docs/library.md (which the test suite runs). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include "bpfkit.bpf.h"

#define ETH_P_IP 0x0800

/* -- maps without a plain key ------------------------------------------- */
struct lpm_v4 {
	__u32 prefixlen;
	__u8 addr[4];
};

enum verdict { ALLOW = 1, DENY = 2 };

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 256);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lpm_v4);
	__type(value, enum verdict);
} rules SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, 16);
	__type(value, __u32);
} jobs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_BLOOM_FILTER);
	__uint(max_entries, 1024);
	__type(value, __u32);
} seen SEC(".maps");

/* -- XDP, for test_run: drop packets from blocked IPv4 sources ---------- */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);   /* source address, network order */
	__type(value, __u8);
} blocked SEC(".maps");

SEC("xdp")
int xdp_filter(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = data + sizeof(*eth);

	if ((void *)(ip + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	return bpf_map_lookup_elem(&blocked, &ip->saddr) ? XDP_DROP : XDP_PASS;
}

/* -- tail calls: dispatch by the caller's uid (argument 0 of the run) ---- */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u32);
} handlers SEC(".maps");

SEC("raw_tp")
int dispatch(__u64 *ctx)
{
	bpf_tail_call(ctx, &handlers, ctx[0] == 0 ? 0 : 1);
	return -1; /* the slot was empty: the tail call fell through */
}

SEC("raw_tp")
int handle_root(__u64 *ctx) { return 100; }

SEC("raw_tp")
int handle_user(__u64 *ctx) { return 200; }

/* -- maps of maps: a per-tenant quota table swapped from user space ------ */
struct quota {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
};

struct quota quota_free SEC(".maps"), quota_paid SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, 64);
	__type(key, __u32); /* tenant id */
	__array(values, struct quota);
} tenants SEC(".maps");

SEC("raw_tp")
int tenant_quota(__u64 *ctx)
{
	__u32 tenant = ctx[0], zero = 0;
	__u64 *limit;
	void *quota;

	quota = bpf_map_lookup_elem(&tenants, &tenant);
	if (!quota)
		return -1;
	limit = bpf_map_lookup_elem(quota, &zero);
	return limit ? *limit : -1;
}

/* -- events through a ring buffer or a perf buffer ---------------------- */
struct ppid_event {
	__u32 pid;
	char comm[16];
};

__u32 target_tgid;
BPFKIT_RINGBUF(events, 1 << 20, struct ppid_event);

SEC("tracepoint/syscalls/sys_enter_getppid")
int on_getppid(void *ctx)
{
	struct ppid_event *e;
	__u32 pid = bpf_get_current_pid_tgid() >> 32;

	if (pid != target_tgid)
		return 0;
	e = bpfkit_reserve(events, sizeof(*e));
	if (!e)
		return 0;
	e->pid = pid;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpfkit_submit(ctx, events, e);
	return 0;
}

/* -- one hook, three ways: the first this kernel offers is kept ---------- */
__u64 unlinks;

SEC("fentry/do_unlinkat")
int BPF_PROG(unlink_fentry) { unlinks++; return 0; }

SEC("kprobe/do_unlinkat")
int BPF_KPROBE(unlink_kprobe) { unlinks++; return 0; }

SEC("tracepoint/syscalls/sys_enter_unlinkat")
int unlink_tp(void *ctx) { unlinks++; return 0; }

BPFKIT_HOOKS(unlink, unlink_fentry, unlink_kprobe, unlink_tp);

char LICENSE[] SEC("license") = "GPL";
