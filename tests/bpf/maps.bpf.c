// SPDX-License-Identifier: GPL-2.0
/* Map kinds and globals with layouts that exercise the BTF codecs. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

enum color { RED = 1, GREEN = 2, BLUE = 40 };

struct flow_key {
	__u32 addr;
	__u16 port;
	__u8 proto;   /* 1 byte of padding follows */
};

struct flow_val {
	__u64 packets;
	char name[12];
	enum color color;
	union {
		__u32 as_u32;
		__u8 bytes[4];
	} tag;
	struct {
		__s16 lo;
		__s16 hi;
	} range;
	__u32 small : 3, big : 29;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4);
	__type(key, struct flow_key);
	__type(value, struct flow_val);
} flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __s64);
} arr SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} pc_hash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} pc_arr SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 64);
	__type(key, __u64);
	__type(value, char[16]);
} lru SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, struct flow_key);
} lru_pc SEC(".maps");

/* .rodata, .bss and .data globals of several types */
const volatile __u32 target_tgid = 0;
const volatile char label[8] = "default";
const volatile enum color favourite = GREEN;
__u64 getpid_calls = 0;
struct flow_key last_key = {};
__s32 adjust = -5;
char greeting[16] = "hello";

SEC("tracepoint/syscalls/sys_enter_getpid")
int count_getpid(void *ctx)
{
	__u32 zero = 0;
	__u64 *slot;

	if ((bpf_get_current_pid_tgid() >> 32) != target_tgid)
		return 0;
	__sync_fetch_and_add(&getpid_calls, 1);
	slot = bpf_map_lookup_elem(&pc_arr, &zero);
	if (slot)
		*slot += 1; /* per-CPU: no atomic needed */
	last_key.addr = 0x0100007f;
	last_key.port = 8080;
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int count_getppid(void *ctx)
{
	if ((bpf_get_current_pid_tgid() >> 32) == target_tgid)
		__sync_fetch_and_add(&adjust, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
