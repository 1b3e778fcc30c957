// SPDX-License-Identifier: GPL-2.0
/* QUEUE, STACK, BLOOM_FILTER and LPM_TRIE maps, and a program that reads each
 * from the BPF side, so the tests prove both sides agree on the layouts. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, 4);
	__type(value, __u32);
} fifo SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK);
	__uint(max_entries, 4);
	__type(value, __u32);
} lifo SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_BLOOM_FILTER);
	__uint(max_entries, 1000);
	__uint(map_extra, 3); /* hash functions */
	__type(value, __u64);
} seen SEC(".maps");

struct lpm_v4 {
	__u32 prefixlen;
	__u8 addr[4];
};

struct lpm_v6 {
	__u32 prefixlen;
	__u8 addr[16];
};

enum verdict { ALLOW = 1, DENY = 2 };

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 64);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lpm_v4);
	__type(value, enum verdict);
} rules4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 64);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lpm_v6);
	__type(value, enum verdict);
} rules6 SEC(".maps");

__u32 target_tgid = 0;
__u32 popped = 0;         /* what the program popped from fifo */
__u64 probe = 0;          /* a value to look for in the bloom filter */
__u32 probe_hit = 0;
__u8 probe_addr[4] = {};  /* an IPv4 address to match against rules4 */
__u32 probe_verdict = 0;

SEC("tracepoint/syscalls/sys_enter_getppid")
int read_maps(void *ctx)
{
	struct lpm_v4 key = {.prefixlen = 32};
	enum verdict *v;

	if ((bpf_get_current_pid_tgid() >> 32) != target_tgid)
		return 0;
	bpf_map_pop_elem(&fifo, &popped);
	probe_hit = bpf_map_peek_elem(&seen, &probe) == 0;
	__builtin_memcpy(key.addr, probe_addr, 4);
	v = bpf_map_lookup_elem(&rules4, &key);
	probe_verdict = v ? *v : 0;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
