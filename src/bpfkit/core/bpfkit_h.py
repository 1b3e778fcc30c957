"""The Python twin of include/bpfkit.bpf.h: every name the loader looks for
in an object built with that header. Change one side, change the other."""

from __future__ import annotations

# BPFKIT_RINGBUF(NAME, ...): a .bss variable bpfkit_ring_NAME = { __u64 dropped;
# EVENT event[0]; }: the kernel counts reserve failures there and BTF keeps the
# event type. bpfkit_scratch_NAME is the per-CPU event of the perf path.
RING_META_PREFIX = "bpfkit_ring_"
RING_DROPPED_FIELD = "dropped"
RING_EVENT_FIELD = "event"
SCRATCH_PREFIX = "bpfkit_scratch_"

# .rodata: set to 1 when the loader switches every BPFKIT_RINGBUF map to a
# PERF_EVENT_ARRAY; the verifier prunes the branch not taken.
PERFBUF_FLAG = "bpfkit_perfbuf"

# .rodata: bpfkit_submit() wakes the reader only once this many bytes are queued.
WAKEUP_BYTES = "bpfkit_wakeup_bytes"

# BPFKIT_HOOKS(GROUP, a, b+c, ...): .rodata string bpfkit_hooks_GROUP = "a, b+c, ...";
# alternatives best first, "+" joins the programs one alternative needs together.
# BPFKIT_HOOKS_OPTIONAL: the same string with a leading "?": the group may end up empty.
HOOKS_PREFIX = "bpfkit_hooks_"
HOOKS_OPTIONAL_MARK = "?"
HOOKS_ALL_OF = "+"
