"""tasks.py: every task (thread) of the system, or of one process, from a BPF task iterator.

    sudo .venv/bin/python examples/ports/tasks.py [-p PID]

Shows: prog.iterate() runs a SEC("iter/task") program once and returns what it
wrote with BPF_SEQ_PRINTF; iterate(pid=...) limits it to one process (Linux 6.1+).
"""

import argparse
import os
import sys

from bpfkit import BPFObject
from bpfkit.core.build import build
from bpfkit.output.escape import escape

HERE = os.path.dirname(os.path.abspath(__file__))

parser = argparse.ArgumentParser()
parser.add_argument("-p", "--pid", type=int, default=0, help="only the threads of this process")
args = parser.parse_args()

obj_path, _ = build(os.path.join(HERE, "tasks.bpf.c"))

with BPFObject.open(obj_path) as obj:
    obj.load()
    where = {"pid": args.pid} if args.pid else {}
    text = obj.progs.dump_task.iterate(**where)          # bytes: all the program wrote
    # one line per task; a task name is untrusted text
    for line in text.decode(errors="surrogateescape").splitlines():
        sys.stdout.write(escape(line) + "\n")
