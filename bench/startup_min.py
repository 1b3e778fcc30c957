"""The smallest real bpfkit program: open, load, attach a tracepoint, say ready."""

import sys

from bpfkit import BPFObject

obj = BPFObject.open(sys.argv[1])
obj.load()
obj.attach()
print("ready", flush=True)
sys.stdin.read()  # hold the probe until the benchmark closes stdin
