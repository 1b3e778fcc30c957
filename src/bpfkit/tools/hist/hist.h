/* SPDX-License-Identifier: GPL-2.0 */
/* hist.h: what the latency/count engine and Python share (Python reads every
 * layout here from the object's BTF). */
#ifndef __BPFKIT_HIST_H
#define __BPFKIT_HIST_H

/* Buckets, bpftrace's numbering. log2: 0 (..., 0) never used (unsigned),
 * 1 [0], 2 [1], i >= 3 [2^(i-2), 2^(i-1)), up to 65 [2^63, 2^64).
 * linear (step S): 0 below 0 (never), i in 1..64 [(i-1)S, iS), 65 [64S, ...). */
#define HIST_SLOTS 66
#define HIST_LINEAR_STEPS 64
#define HIST_MAX_SPANS 8
#define HIST_NAME_LEN 16
#define HIST_TP_SLOTS 8        /* generic tracepoints at once */
#define HIST_MAX_SYSCALLS 1024 /* bits in the syscall filter */

/* What a histogram (or count) is keyed by: hist_key.id / .name hold it. */
enum hist_by {
	BY_NONE = 0,    /* one histogram */
	BY_COMM = 1,    /* name = comm */
	BY_PID = 2,     /* id = tgid, name = comm */
	BY_TID = 3,     /* id = tid, name = comm */
	BY_CPU = 4,     /* id = the CPU the span ended (or the event ran) on */
	BY_SYSCALL = 5, /* id = syscall number */
	BY_DEV = 6,     /* id = block dev_t (major << 20 | minor) */
	BY_IFACE = 7,   /* id = netns inode << 32 | ifindex, name = device name */
	BY_FUNC = 8,    /* id = kernel function address (work item) */
	BY_PORT = 9,    /* id = remote port */
	BY_FIELD = 10,  /* a tracefs field: id = number, or name = string */
	BY_PEER = 11,   /* wireguard: id = port | family << 16, name = address */
};

/* Per-span counters: a PERCPU_ARRAY indexed by span, never reset (Python
 * takes differences), so no increment is ever lost. */
enum hist_stat {
	ST_STARTS = 0,      /* starts recorded */
	ST_MATCHED = 1,     /* ends that found their start: histogram entries */
	ST_ORPHAN_ENDS = 2, /* ends with no start (begun before we attached, or evicted) */
	ST_RESTARTS = 3,    /* starts that replaced a pending start of the same key */
	ST_CANCELLED = 4,   /* starts withdrawn (a failed connect) */
	ST_KEYS_FULL = 5,   /* values lost: the histogram/count table was full */
	ST_COUNTED = 6,     /* count mode: events counted */
	HIST_NSTATS = 8,    /* (one spare) */
};

struct hist_stats {
	__u64 v[HIST_NSTATS];
};

/* A histogram's (or count's) identity. */
struct hist_key {
	__u32 span; /* which span (preset table) or count kind */
	__u32 aux;  /* wireguard: message type; else 0 */
	__u64 id;   /* enum hist_by: pid, syscall nr, dev, ifindex, address... */
	char name[HIST_NAME_LEN]; /* comm, device name, string field, peer address */
};

struct hist_val {
	__u64 count;
	__u64 sum_ns; /* exact, in ns whatever the unit */
	__u64 slots[HIST_SLOTS];
};

struct count_val {
	__u64 count;
	__u64 sum; /* bytes (wireguard peers), or 0 */
};

/* The start map: what identifies a span instance... */
struct span_key {
	__u64 a; /* tid, skb / work / request / sock pointer, handshake index */
	__u64 b; /* second key field (tracefs: dev with sector), else 0 */
	__u32 span;
	__u32 pad;
};

/* ...and what it remembers until the end. */
struct span_start {
	__u64 ts;
	struct hist_key hk;
};

/* Generic tracefs tracepoints: one program per slot, attached to any of them,
 * configured per program slot with field offsets Python read from
 * events/CAT/NAME/format. No compiler at run time. */
enum hist_role {
	ROLE_START = 1,
	ROLE_END = 2,
	ROLE_COUNT = 4,
};

enum hist_keykind {
	KEY_TID = 0,    /* the current thread */
	KEY_FIELDS = 1, /* up to two record fields (pointer, or dev + sector) */
};

enum hist_fieldkind {
	FIELD_NONE = 0,
	FIELD_NUM = 1, /* integer of by_size / filt_size bytes */
	FIELD_STR = 2, /* char[N] inside the record */
	FIELD_LOC = 3, /* __data_loc char[]: u32 (len << 16 | offset) */
};

struct hist_tp_conf {
	__u8 role;      /* enum hist_role bits */
	__u8 span;
	__u8 key_kind;  /* enum hist_keykind */
	__u8 by;        /* enum hist_by */
	__u16 key_off[2];
	__u8 key_size[2]; /* 0: no such field */
	__u16 by_off;
	__u8 by_size;
	__u8 by_kind;   /* enum hist_fieldkind (BY_FIELD) */
	__u16 filt_off;
	__u8 filt_size;
	__u8 filt_kind; /* enum hist_fieldkind; FIELD_NONE: no filter */
	__u64 filt_num;
	char filt_str[HIST_NAME_LEN];
};

#endif /* __BPFKIT_HIST_H */
