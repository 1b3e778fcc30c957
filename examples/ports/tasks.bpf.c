// SPDX-License-Identifier: GPL-2.0
/* tasks.bpf.c: a task iterator, one text line per task (thread):
 * tgid, tid, parent tgid, state and name, written with BPF_SEQ_PRINTF.
 * Reading the iterator's fd runs the program over every task, or over the
 * tasks of one process when the link was made for it. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

SEC("iter/task")
int dump_task(struct bpf_iter__task *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *task = ctx->task;

	if (!task)   /* called once more at the end, with no task */
		return 0;
	if (ctx->meta->seq_num == 0)
		BPF_SEQ_PRINTF(seq, "%-8s %-8s %-8s %-6s %s\n", "TGID", "TID", "PPID", "STATE", "COMM");
	BPF_SEQ_PRINTF(seq, "%-8d %-8d %-8d %-6u %s\n", task->tgid, task->pid,
		       BPF_CORE_READ(task, real_parent, tgid), task->__state, task->comm);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
