# bpfkit.pyz, the single-file bpfkit (scripts/package.py zipapp): run it with any
# Python 3.11+ on a host with libbpf1; no pip, no compiler.
import sys

if sys.version_info < (3, 11):  # noqa: UP036 - the archive may meet any python3
    sys.exit("bpfkit needs Python 3.11 or newer; this is Python %d.%d" % sys.version_info[:2])  # noqa: UP031

from bpfkit.cli import main

sys.exit(main())
