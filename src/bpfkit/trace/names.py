"""Names for the numbers BPF programs see: block devices (dev_t), syscalls,
errnos, signals and cgroups.

Block devices
    The kernel's own dev_t (``bio->bi_bdev->bd_dev``, ``sb->s_dev``) is
    ``major << 20 | minor`` (MINORBITS = 20); ``st_dev``/``st_rdev`` from stat()
    use glibc's encoding, converted by ``dev_from_stat()``. Names come from sysfs
    at each call (``/sys/dev/block/MAJ:MIN/uevent``, ``/sys/class/block/NAME/dev``),
    so disks and partitions that come and go (loop devices) are always current.

Syscalls
    Numbers are per architecture. The kernel publishes the *names* it has
    (tracefs ``events/syscalls/sys_enter_*``) but not their numbers: the
    ``format`` files declare ``__syscall_nr`` only as a field of each record,
    and the table itself (``sys_call_table``, or since 6.9 the switch in
    ``x64_sys_call``) is code or unexported data. So numbers come from the
    tables below (x86-64 and arm64, Linux 6.18), and ``syscall_table().source``
    says so and what tracefs adds: which of them this kernel has, and any
    syscall it has that the table does not number (a kernel newer than the
    table). The test suite checks table entries against ``__syscall_nr`` as the
    kernel reports it in live tracepoint records.

Errnos and signals
    Errnos from Python's errno module (the C library's table, the kernel's on
    x86-64 and arm64), plus the kernel-internal ones user space never sees but
    BPF programs do (ERESTARTSYS 512 ... ENOGRACE 531). Signals: the 31 classic
    names (identical on x86-64 and arm64) and real-time ones as ``kill -l``
    names them (SIGRTMIN = 34 ... SIGRTMAX = 64; 32 and 33, glibc's internal
    ones, as SIG32/SIG33).

Cgroups (v2)
    ``bpf_get_current_cgroup_id()`` is the kernfs id of the task's cgroup2
    directory, which is that directory's inode number (64-bit kernels, 5.5+).
    ``cgroup_id(path)`` stats the directory, ``cgroup_path(id)`` walks cgroupfs
    once and caches every directory it saw (walking again on a miss, at most
    once a second for the same unknown id), and
    ``cgroup_fd(path)`` opens one for BPF_PROG_ATTACH. Paths are relative to the
    cgroup2 mount (``/system.slice/ssh.service``, as /proc/PID/cgroup shows
    them) or absolute paths under it.
"""

from __future__ import annotations

import errno as _errno
import os
import time  # loaded at interpreter start-up anyway: free

from ..core.kernel.errors import BPFError, BPFKernelFeatureError, BPFNameError, error_for

# -- block devices ------------------------------------------------------------------------------------

MINORBITS = 20
SYS_CLASS_BLOCK = "/sys/class/block"
SYS_DEV_BLOCK = "/sys/dev/block"


def kernel_dev(major: int, minor: int) -> int:
    """The kernel's dev_t (MKDEV): what a BPF program reads from ``bd_dev`` or ``s_dev``."""
    return major << MINORBITS | minor


def major_minor(dev: int) -> tuple[int, int]:
    """(major, minor) of a kernel dev_t."""
    return dev >> MINORBITS, dev & ((1 << MINORBITS) - 1)


def dev_from_stat(st_dev: int) -> int:
    """The kernel dev_t for an ``st_dev``/``st_rdev`` from os.stat()."""
    return kernel_dev(os.major(st_dev), os.minor(st_dev))


class BlockDev:
    """A disk or partition: ``name`` (vda, vda1, loop0), kernel ``dev``, ``major``,
    ``minor``, ``partition`` (True for a partition) and ``disk`` (the whole
    disk's name; its own name for a disk)."""

    __slots__ = ("dev", "disk", "major", "minor", "name", "partition")

    def __init__(self, name: str, major: int, minor: int, partition: bool, disk: str) -> None:
        self.name, self.major, self.minor = name, major, minor
        self.dev = kernel_dev(major, minor)
        self.partition, self.disk = partition, disk

    def __repr__(self) -> str:
        kind = f"partition of {self.disk}" if self.partition else "disk"
        return f"<BlockDev {self.name} {self.major}:{self.minor} {kind}>"


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def disk_name(dev: int) -> str | None:
    """The name of the disk or partition with kernel dev_t ``dev`` (``vda``,
    ``nvme0n1p2``), or None when there is none now."""
    major, minor = major_minor(dev)
    text = _read(f"{SYS_DEV_BLOCK}/{major}:{minor}/uevent")
    if text is None:
        return None
    for line in text.splitlines():
        if line.startswith("DEVNAME="):
            return line[8:]
    return None


def disk_dev(name: str) -> int:
    """The kernel dev_t of a disk or partition, by name (``sda1``) or device path
    (``/dev/sda1``, ``/dev/disk/by-uuid/...``)."""
    if "/" in name:
        try:
            st = os.stat(name)
        except OSError as exc:
            raise error_for(exc.errno or 0, f"cannot stat {name}: {exc.strerror}") from exc
        if (st.st_mode & 0o170000) != 0o060000:
            raise BPFError(f"{name} is not a block device")
        return dev_from_stat(st.st_rdev)
    text = _read(f"{SYS_CLASS_BLOCK}/{name}/dev") if name not in ("", ".", "..") else None
    if text is None:
        have = ", ".join(sorted(d.name for d in block_devices())) or "none"
        raise BPFNameError(f"no block device named {name!r} (this system has: {have})")
    major, _, minor = text.strip().partition(":")
    return kernel_dev(int(major), int(minor))


def block_devices() -> list[BlockDev]:
    """Every disk and partition now in /sys/class/block, sorted by name."""
    out = []
    try:
        names = sorted(os.listdir(SYS_CLASS_BLOCK))
    except OSError:
        return []
    for name in names:
        base = f"{SYS_CLASS_BLOCK}/{name}"
        text = _read(f"{base}/dev")
        if text is None:
            continue
        major, _, minor = text.strip().partition(":")
        partition = os.path.exists(f"{base}/partition")
        disk = name
        if partition:  # /sys/class/block/vda1 -> ../../devices/.../vda/vda1
            disk = os.path.basename(os.path.dirname(os.path.realpath(base)))
        out.append(BlockDev(name, int(major), int(minor), partition, disk))
    return out


# -- syscalls ------------------------------------------------------------------------------------------

# Linux 6.18's numbers, from its uapi headers and syscall tables: each line is
# the number of its first name, then consecutive numbers ("-": unassigned).
_X86_64 = """\
0 read write open close stat fstat lstat poll lseek mmap mprotect munmap brk rt_sigaction rt_sigprocmask
15 rt_sigreturn ioctl pread64 pwrite64 readv writev access pipe select sched_yield mremap msync mincore
28 madvise shmget shmat shmctl dup dup2 pause nanosleep getitimer alarm setitimer getpid sendfile socket
42 connect accept sendto recvfrom sendmsg recvmsg shutdown bind listen getsockname getpeername
53 socketpair setsockopt getsockopt clone fork vfork execve exit wait4 kill uname semget semop semctl
67 shmdt msgget msgsnd msgrcv msgctl fcntl flock fsync fdatasync truncate ftruncate getdents getcwd
80 chdir fchdir rename mkdir rmdir creat link unlink symlink readlink chmod fchmod chown fchown lchown
95 umask gettimeofday getrlimit getrusage sysinfo times ptrace getuid syslog getgid setuid setgid
107 geteuid getegid setpgid getppid getpgrp setsid setreuid setregid getgroups setgroups setresuid
118 getresuid setresgid getresgid getpgid setfsuid setfsgid getsid capget capset rt_sigpending
128 rt_sigtimedwait rt_sigqueueinfo rt_sigsuspend sigaltstack utime mknod uselib personality ustat
137 statfs fstatfs sysfs getpriority setpriority sched_setparam sched_getparam sched_setscheduler
145 sched_getscheduler sched_get_priority_max sched_get_priority_min sched_rr_get_interval mlock munlock
151 mlockall munlockall vhangup modify_ldt pivot_root _sysctl prctl arch_prctl adjtimex setrlimit chroot
162 sync acct settimeofday mount umount2 swapon swapoff reboot sethostname setdomainname iopl ioperm
174 create_module init_module delete_module get_kernel_syms query_module quotactl nfsservctl getpmsg
182 putpmsg afs_syscall tuxcall security gettid readahead setxattr lsetxattr fsetxattr getxattr
192 lgetxattr fgetxattr listxattr llistxattr flistxattr removexattr lremovexattr fremovexattr tkill time
202 futex sched_setaffinity sched_getaffinity set_thread_area io_setup io_destroy io_getevents io_submit
210 io_cancel get_thread_area lookup_dcookie epoll_create epoll_ctl_old epoll_wait_old remap_file_pages
217 getdents64 set_tid_address restart_syscall semtimedop fadvise64 timer_create timer_settime
224 timer_gettime timer_getoverrun timer_delete clock_settime clock_gettime clock_getres clock_nanosleep
231 exit_group epoll_wait epoll_ctl tgkill utimes vserver mbind set_mempolicy get_mempolicy mq_open
241 mq_unlink mq_timedsend mq_timedreceive mq_notify mq_getsetattr kexec_load waitid add_key request_key
250 keyctl ioprio_set ioprio_get inotify_init inotify_add_watch inotify_rm_watch migrate_pages openat
258 mkdirat mknodat fchownat futimesat newfstatat unlinkat renameat linkat symlinkat readlinkat fchmodat
269 faccessat pselect6 ppoll unshare set_robust_list get_robust_list splice tee sync_file_range vmsplice
279 move_pages utimensat epoll_pwait signalfd timerfd_create eventfd fallocate timerfd_settime
287 timerfd_gettime accept4 signalfd4 eventfd2 epoll_create1 dup3 pipe2 inotify_init1 preadv pwritev
297 rt_tgsigqueueinfo perf_event_open recvmmsg fanotify_init fanotify_mark prlimit64 name_to_handle_at
304 open_by_handle_at clock_adjtime syncfs sendmmsg setns getcpu process_vm_readv process_vm_writev kcmp
313 finit_module sched_setattr sched_getattr renameat2 seccomp getrandom memfd_create kexec_file_load
321 bpf execveat userfaultfd membarrier mlock2 copy_file_range preadv2 pwritev2 pkey_mprotect pkey_alloc
331 pkey_free statx io_pgetevents rseq uretprobe uprobe
424 pidfd_send_signal io_uring_setup io_uring_enter io_uring_register open_tree move_mount fsopen
431 fsconfig fsmount fspick pidfd_open clone3 close_range openat2 pidfd_getfd faccessat2 process_madvise
441 epoll_pwait2 mount_setattr quotactl_fd landlock_create_ruleset landlock_add_rule
446 landlock_restrict_self memfd_secret process_mrelease futex_waitv set_mempolicy_home_node cachestat
452 fchmodat2 map_shadow_stack futex_wake futex_wait futex_requeue statmount listmount lsm_get_self_attr
460 lsm_set_self_attr lsm_list_modules mseal setxattrat getxattrat listxattrat removexattrat
467 open_tree_attr file_getattr file_setattr
"""
_ARM64 = """\
0 io_setup io_destroy io_submit io_cancel io_getevents setxattr lsetxattr fsetxattr getxattr lgetxattr
10 fgetxattr listxattr llistxattr flistxattr removexattr lremovexattr fremovexattr getcwd lookup_dcookie
19 eventfd2 epoll_create1 epoll_ctl epoll_pwait dup dup3 fcntl inotify_init1 inotify_add_watch
28 inotify_rm_watch ioctl ioprio_set ioprio_get flock mknodat mkdirat unlinkat symlinkat linkat renameat
39 umount2 mount pivot_root nfsservctl statfs fstatfs truncate ftruncate fallocate faccessat chdir
50 fchdir chroot fchmod fchmodat fchownat fchown openat close vhangup pipe2 quotactl getdents64 lseek
63 read write readv writev pread64 pwrite64 preadv pwritev sendfile pselect6 ppoll signalfd4 vmsplice
76 splice tee readlinkat newfstatat fstat sync fsync fdatasync sync_file_range timerfd_create
86 timerfd_settime timerfd_gettime utimensat acct capget capset personality exit exit_group waitid
96 set_tid_address unshare futex set_robust_list get_robust_list nanosleep getitimer setitimer
104 kexec_load init_module delete_module timer_create timer_gettime timer_getoverrun timer_settime
111 timer_delete clock_settime clock_gettime clock_getres clock_nanosleep syslog ptrace sched_setparam
119 sched_setscheduler sched_getscheduler sched_getparam sched_setaffinity sched_getaffinity sched_yield
125 sched_get_priority_max sched_get_priority_min sched_rr_get_interval restart_syscall kill tkill
131 tgkill sigaltstack rt_sigsuspend rt_sigaction rt_sigprocmask rt_sigpending rt_sigtimedwait
138 rt_sigqueueinfo rt_sigreturn setpriority getpriority reboot setregid setgid setreuid setuid
147 setresuid getresuid setresgid getresgid setfsuid setfsgid times setpgid getpgid getsid setsid
158 getgroups setgroups uname sethostname setdomainname getrlimit setrlimit getrusage umask prctl getcpu
169 gettimeofday settimeofday adjtimex getpid getppid getuid geteuid getgid getegid gettid sysinfo
180 mq_open mq_unlink mq_timedsend mq_timedreceive mq_notify mq_getsetattr msgget msgctl msgrcv msgsnd
190 semget semctl semtimedop semop shmget shmctl shmat shmdt socket socketpair bind listen accept
203 connect getsockname getpeername sendto recvfrom setsockopt getsockopt shutdown sendmsg recvmsg
213 readahead brk munmap mremap add_key request_key keyctl clone execve mmap fadvise64 swapon swapoff
226 mprotect msync mlock munlock mlockall munlockall mincore madvise remap_file_pages mbind
236 get_mempolicy set_mempolicy migrate_pages move_pages rt_tgsigqueueinfo perf_event_open accept4
243 recvmmsg
260 wait4 prlimit64 fanotify_init fanotify_mark name_to_handle_at open_by_handle_at clock_adjtime syncfs
268 setns sendmmsg process_vm_readv process_vm_writev kcmp finit_module sched_setattr sched_getattr
276 renameat2 seccomp getrandom memfd_create bpf execveat userfaultfd membarrier mlock2 copy_file_range
286 preadv2 pwritev2 pkey_mprotect pkey_alloc pkey_free statx io_pgetevents rseq kexec_file_load
424 pidfd_send_signal io_uring_setup io_uring_enter io_uring_register open_tree move_mount fsopen
431 fsconfig fsmount fspick pidfd_open clone3 close_range openat2 pidfd_getfd faccessat2 process_madvise
441 epoll_pwait2 mount_setattr quotactl_fd landlock_create_ruleset landlock_add_rule
446 landlock_restrict_self memfd_secret process_mrelease futex_waitv set_mempolicy_home_node cachestat
452 fchmodat2 map_shadow_stack futex_wake futex_wait futex_requeue statmount listmount lsm_get_self_attr
460 lsm_set_self_attr lsm_list_modules mseal setxattrat getxattrat listxattrat removexattrat
467 open_tree_attr file_getattr file_setattr
"""
_TABLES = {"x86_64": _X86_64, "aarch64": _ARM64, "arm64": _ARM64}
TABLE_RELEASE = "6.18"
# tracefs names events after the syscall's kernel function, a few of which
# differ from the syscall's name (SYSCALL_DEFINE(newfstat) is fstat)
_EVENT_ALIASES = {"newfstat": "fstat", "newlstat": "lstat", "newstat": "stat", "newuname": "uname",
                  "sendfile64": "sendfile", "umount": "umount2", "fadvise64_64": "fadvise64"}


def _parse_table(text: str) -> dict[int, str]:
    table: dict[int, str] = {}
    for line in text.splitlines():
        first, *names = line.split()
        nr = int(first)
        for name in names:
            if name != "-":
                table[nr] = name
            nr += 1
    return table


class SyscallTable:
    """Syscall numbers and names of one architecture.

    ``name(nr)`` and ``nr(name)`` translate; ``numbers`` is {nr: name};
    ``on_kernel`` the names this kernel has (from tracefs; None when tracefs
    was not readable); ``unnumbered`` the ones it has that the table lacks;
    ``source`` one line saying where the answers come from.
    """

    def __init__(self, arch: str | None = None, tracefs: str | None = "auto") -> None:
        self.arch = arch or os.uname().machine
        text = _TABLES.get(self.arch)
        self.numbers: dict[int, str] = _parse_table(text) if text else {}
        self._by_name = {name: nr for nr, name in self.numbers.items()}
        self.on_kernel: frozenset[str] | None = None
        self.unnumbered: frozenset[str] = frozenset()
        native = arch is None or arch == os.uname().machine
        if tracefs == "auto":
            tracefs = _tracefs_dir() if native else None
        if tracefs:
            try:
                events = os.listdir(os.path.join(tracefs, "events", "syscalls"))
            except OSError:
                events = None
            if events is not None:
                have = {_EVENT_ALIASES.get(e[10:], e[10:]) for e in events if e.startswith("sys_enter_")}
                self.on_kernel = frozenset(have)
                self.unnumbered = frozenset(have - self._by_name.keys())
        table = (f"bpfkit's {self.arch} table (Linux {TABLE_RELEASE} numbers)" if text
                 else f"no table for {self.arch} (bpfkit has x86_64 and aarch64)")
        if self.on_kernel is None:
            why = "tracefs not readable" if native else "not this machine's architecture"
            self.source = f"{table}; {why}, so not checked against this kernel"
        elif not self.unnumbered:
            self.source = (f"{table}; all {len(self.on_kernel)} syscalls this kernel traces "
                           "(tracefs) are in it")
        else:
            self.source = (f"{table}; this kernel traces {len(self.unnumbered)} syscalls it does not "
                           f"number: {', '.join(sorted(self.unnumbered))}")

    def name(self, nr: int) -> str:
        """The name of syscall ``nr``, or ``[unknown: nr]`` (as libbpf-tools' syscount)."""
        return self.numbers.get(nr) or f"[unknown: {nr}]"

    def nr(self, name: str) -> int:
        """The number of a syscall by name (``openat``; ``sys_openat``,
        ``__x64_sys_openat`` and tracefs' ``sys_enter_openat`` are accepted too)."""
        key = name
        for prefix in ("sys_enter_", "sys_exit_", "__x64_sys_", "__arm64_sys_", "__se_sys_", "sys_"):
            if key.startswith(prefix):
                key = key[len(prefix):]
                break
        key = _EVENT_ALIASES.get(key, key)
        nr = self._by_name.get(key)
        if nr is not None:
            return nr
        if key in self.unnumbered:
            raise BPFKernelFeatureError(f"this kernel has syscall {key!r} but bpfkit's {self.arch} table "
                                        f"(Linux {TABLE_RELEASE}) does not know its number")
        if not self.numbers:
            raise BPFKernelFeatureError(f"no syscall table for {self.arch} (bpfkit has x86_64 and aarch64)")
        import difflib  # lazy: only a misspelt name pays for it

        close = difflib.get_close_matches(key, self._by_name, n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise BPFNameError(f"no {self.arch} syscall named {name!r}{hint}")

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __len__(self) -> int:
        return len(self.numbers)


# core.kernel.system's TRACEFS and DEBUGFS_TRACING; not imported from there, as
# importing system binds libbpf (~10 ms) and naming a syscall needs none of it
_TRACEFS_DIRS = ("/sys/kernel/tracing", "/sys/kernel/debug/tracing")


def _tracefs_dir() -> str | None:
    for d in _TRACEFS_DIRS:
        if os.path.isdir(os.path.join(d, "events", "syscalls")):
            return d
    return None


_SYSCALLS: dict[str, SyscallTable] = {}


def syscall_table(arch: str | None = None) -> SyscallTable:
    """The SyscallTable of this machine's architecture (or of ``arch``:
    ``x86_64``, ``aarch64``), built on first use."""
    key = arch or os.uname().machine
    if key not in _SYSCALLS:
        _SYSCALLS[key] = SyscallTable(arch)
    return _SYSCALLS[key]


def syscall_name(nr: int) -> str:
    """``openat`` for 257 on x86-64; ``[unknown: N]`` for a number the table lacks."""
    return syscall_table().name(nr)


def syscall_nr(name: str) -> int:
    """257 for ``openat`` on x86-64 (BPFNameError for an unknown name)."""
    return syscall_table().nr(name)


# -- errnos --------------------------------------------------------------------------------------------

# Kernel-internal codes (include/linux/errno.h): never returned to user space by
# a completed syscall, but seen by BPF programs (sys_exit of an interrupted call,
# kernel function returns).
KERNEL_ERRNOS = {
    512: "ERESTARTSYS", 513: "ERESTARTNOINTR", 514: "ERESTARTNOHAND", 515: "ENOIOCTLCMD",
    516: "ERESTART_RESTARTBLOCK", 517: "EPROBE_DEFER", 518: "EOPENSTALE", 519: "ENOPARAM",
    521: "EBADHANDLE", 522: "ENOTSYNC", 523: "EBADCOOKIE", 524: "ENOTSUPP", 525: "ETOOSMALL",
    526: "ESERVERFAULT", 527: "EBADTYPE", 528: "EJUKEBOX", 529: "EIOCBQUEUED", 530: "ERECALLCONFLICT",
    531: "ENOGRACE",
}
# the name the kernel's headers use where the C library has two for a number
_PREFERRED = {_errno.EAGAIN: "EAGAIN", _errno.EOPNOTSUPP: "EOPNOTSUPP", _errno.EDEADLK: "EDEADLK"}


def errno_name(err: int) -> str:
    """``ENOENT`` for 2 or -2 (BPF programs see negative errnos); the number as
    text for one that has no name."""
    n = abs(err)
    return _PREFERRED.get(n) or _errno.errorcode.get(n) or KERNEL_ERRNOS.get(n) or str(err)


def errno_nr(name: str) -> int:
    """2 for ``ENOENT`` (aliases like EWOULDBLOCK too)."""
    value = getattr(_errno, name, None) if name.startswith("E") else None
    if isinstance(value, int):
        return value
    for nr, kname in KERNEL_ERRNOS.items():
        if kname == name:
            return nr
    raise BPFNameError(f"no errno named {name!r}")


# -- signals -------------------------------------------------------------------------------------------

_SIGNALS = ("", "SIGHUP", "SIGINT", "SIGQUIT", "SIGILL", "SIGTRAP", "SIGABRT", "SIGBUS", "SIGFPE", "SIGKILL",
            "SIGUSR1", "SIGSEGV", "SIGUSR2", "SIGPIPE", "SIGALRM", "SIGTERM", "SIGSTKFLT", "SIGCHLD",
            "SIGCONT", "SIGSTOP", "SIGTSTP", "SIGTTIN", "SIGTTOU", "SIGURG", "SIGXCPU", "SIGXFSZ",
            "SIGVTALRM", "SIGPROF", "SIGWINCH", "SIGIO", "SIGPWR", "SIGSYS")  # by number
_SIGNAL_ALIASES = {"SIGIOT": 6, "SIGCLD": 17, "SIGPOLL": 29, "SIGUNUSED": 31}
SIGRTMIN, SIGRTMAX = 34, 64  # as the C library and `kill -l` count them


def signal_name(sig: int) -> str:
    """``SIGKILL`` for 9; ``SIGRTMIN+3``/``SIGRTMAX-2`` as ``kill -l`` names real-time
    signals; ``SIG32``/``SIG33`` for glibc's internal ones; the number as text otherwise."""
    if 1 <= sig < len(_SIGNALS):
        return _SIGNALS[sig]
    if sig in (32, 33):
        return f"SIG{sig}"
    if SIGRTMIN <= sig <= SIGRTMAX:
        if sig == SIGRTMIN:
            return "SIGRTMIN"
        if sig == SIGRTMAX:
            return "SIGRTMAX"
        mid = (SIGRTMIN + SIGRTMAX) // 2  # 49: SIGRTMIN+15, 50: SIGRTMAX-14, as kill -l
        return f"SIGRTMIN+{sig - SIGRTMIN}" if sig <= mid else f"SIGRTMAX-{SIGRTMAX - sig}"
    return str(sig)


def signal_nr(name: str) -> int:
    """9 for ``SIGKILL`` or ``KILL``; real-time ones as ``SIGRTMIN+3``."""
    key = name.upper()
    if not key.startswith("SIG"):
        key = "SIG" + key
    if key in _SIGNAL_ALIASES:
        return _SIGNAL_ALIASES[key]
    if key in _SIGNALS[1:]:
        return _SIGNALS.index(key)
    for base, value in (("SIGRTMIN", SIGRTMIN), ("SIGRTMAX", SIGRTMAX)):
        if key == base:
            return value
        if key.startswith(base) and key[len(base):][:1] in "+-" and key[len(base) + 1:].isdigit():
            n = value + int(key[len(base):])
            if SIGRTMIN <= n <= SIGRTMAX:
                return n
    if key[3:].isdigit() and 1 <= int(key[3:]) <= SIGRTMAX:
        return int(key[3:])
    raise BPFNameError(f"no signal named {name!r}")


# -- cgroups (v2) --------------------------------------------------------------------------------------

_CGROUP2: list[str] = []
_CGROUP_IDS: dict[int, str] = {}
_CGROUP_MISSES: dict[int, float] = {}  # id -> when a walk last failed to find it
MISS_TTL = 1.0  # seconds a missing id is not walked for again


def cgroup2_root() -> str:
    """Where the cgroup2 hierarchy is mounted (``/sys/fs/cgroup``, or
    ``/sys/fs/cgroup/unified`` on hybrid systems)."""
    if not _CGROUP2:
        with open("/proc/self/mounts") as f:
            for line in f:
                parts = line.split()
                if len(parts) > 2 and parts[2] == "cgroup2":
                    _CGROUP2.append(parts[1].replace("\\040", " "))
                    break
        if not _CGROUP2:
            raise BPFKernelFeatureError(
                "no cgroup2 hierarchy is mounted (cgroup ids are cgroup2's): "
                "mount it with `mount -t cgroup2 none /sys/fs/cgroup/unified`")
    return _CGROUP2[0]


def _cgroup_fs_path(path: str) -> str:
    root = cgroup2_root()
    if path == root or path.startswith(root.rstrip("/") + "/"):
        return path
    return os.path.join(root, path.lstrip("/"))


def cgroup_id(path: str) -> int:
    """The id ``bpf_get_current_cgroup_id()`` returns for tasks in cgroup ``path``
    (``/system.slice/ssh.service``, relative to the cgroup2 mount, or a path under it)."""
    full = _cgroup_fs_path(path)
    try:
        st = os.stat(full)
    except OSError as exc:
        raise error_for(exc.errno or 0, f"no cgroup {path!r} ({full}: {exc.strerror})") from exc
    if (st.st_mode & 0o170000) != 0o040000:
        raise BPFError(f"{full} is not a cgroup directory")
    _CGROUP_IDS[st.st_ino] = "/" + os.path.relpath(full, cgroup2_root()).lstrip(".")
    return st.st_ino


def cgroup_path(cgid: int, absolute: bool = False) -> str | None:
    """The cgroup with id ``cgid`` (``/user.slice/...``; with ``absolute`` its
    path in the file system), or None when there is none (any more)."""
    rel = _CGROUP_IDS.get(cgid)
    if rel is not None and not _still(rel, cgid):
        rel = None
    if rel is None:
        now = time.monotonic()
        if now - _CGROUP_MISSES.get(cgid, -MISS_TTL) < MISS_TTL:
            return None  # events of a removed cgroup do not walk cgroupfs each
        _walk_cgroups()
        rel = _CGROUP_IDS.get(cgid)
        if rel is None:
            if len(_CGROUP_MISSES) > 4096:
                _CGROUP_MISSES.clear()
            _CGROUP_MISSES[cgid] = now
            return None
        _CGROUP_MISSES.pop(cgid, None)
    return _cgroup_fs_path(rel) if absolute else rel


def _still(rel: str, cgid: int) -> bool:
    try:
        return os.stat(_cgroup_fs_path(rel)).st_ino == cgid
    except OSError:
        return False


def _walk_cgroups() -> None:
    root = cgroup2_root()
    found = {}
    stack = [root]
    while stack:
        d = stack.pop()
        try:
            with os.scandir(d) as it:
                for e in it:
                    if e.is_dir(follow_symlinks=False):
                        found[e.inode()] = "/" + os.path.relpath(e.path, root)
                        stack.append(e.path)
        except OSError:
            continue
    try:
        found[os.stat(root).st_ino] = "/"
    except OSError:
        pass
    _CGROUP_IDS.clear()
    _CGROUP_IDS.update(found)


def cgroup_of(pid: int | str = "self") -> str:
    """The cgroup2 path of a process (its ``0::`` line in /proc/PID/cgroup)."""
    try:
        with open(f"/proc/{pid}/cgroup") as f:
            for line in f:
                if line.startswith("0::"):
                    return line[3:].rstrip("\n")
    except OSError as exc:
        raise error_for(exc.errno or 0, f"cannot read the cgroup of process {pid}: {exc.strerror}") from exc
    raise BPFKernelFeatureError(f"process {pid} is in no cgroup2 cgroup (no 0:: line in /proc/{pid}/cgroup)")


def cgroup_fd(path: str) -> int:
    """An O_RDONLY directory fd of cgroup ``path`` for attaching cgroup programs;
    the caller closes it (os.close)."""
    full = _cgroup_fs_path(path)
    try:
        return os.open(full, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise error_for(exc.errno or 0, f"cannot open cgroup {path!r} ({full}: {exc.strerror})") from exc


__all__ = [
    "KERNEL_ERRNOS", "MINORBITS", "MISS_TTL", "SIGRTMAX", "SIGRTMIN", "TABLE_RELEASE", "BlockDev",
    "SyscallTable",
    "block_devices", "cgroup2_root", "cgroup_fd", "cgroup_id", "cgroup_of", "cgroup_path", "dev_from_stat",
    "disk_dev", "disk_name", "errno_name", "errno_nr", "kernel_dev", "major_minor", "signal_name",
    "signal_nr", "syscall_name", "syscall_nr", "syscall_table",
]
