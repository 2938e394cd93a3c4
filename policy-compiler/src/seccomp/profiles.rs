//! The seccomp profiles, as data in the style of firecracker's seccompiler: tables of rules,
//! each a set of syscall names, a verdict, optional argument checks (all must hold) and the
//! reason the rule exists. Several rules for one syscall mean "any of them".
//!
//! Every profile's default action is `SCMP_ACT_ERRNO` with `EPERM`, so anything not listed
//! fails cleanly instead of killing the agent.
//!
//! Both profiles refuse, whatever else they allow, the syscalls in [`ALWAYS_DENIED`]: the ways
//! out of a container (mount and namespace manipulation, kernel modules, kexec, eBPF, keyrings,
//! handle-based opens, ptrace and cross-process memory access, perf, userfaultfd, io_uring) and
//! the agent-specific list from OpenShell (memfd_create, pidfd_*). Argument checks add: `clone`
//! without namespace flags, `clone3` answered with ENOSYS so libc falls back to `clone` (whose
//! flags a filter can see), sockets only for AF_UNIX, AF_INET, AF_INET6 and
//! NETLINK_ROUTE, and (in `default`) `execveat` without AT_EMPTY_PATH and `seccomp` without
//! SECCOMP_SET_MODE_FILTER (no nested filters with user-notification listeners).

/// An argument check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Check {
    /// The argument equals the value.
    Eq(u64),
    /// The argument's bits under `mask` equal `value`.
    MaskedEq { mask: u64, value: u64 },
}

/// A check on the argument at `index` (0-based).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ArgCheck {
    pub(crate) index: usize,
    pub(crate) check: Check,
}

/// What happens to a matching syscall.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    Allow,
    Errno(u32),
}

/// One rule of a profile.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rule {
    pub(crate) names: &'static [&'static str],
    pub(crate) verdict: Verdict,
    pub(crate) args: &'static [ArgCheck],
    /// Why the rule exists (shown by `explain` next to the syscalls it allows).
    pub(crate) why: &'static str,
}

const fn allow(names: &'static [&'static str], why: &'static str) -> Rule {
    Rule {
        names,
        verdict: Verdict::Allow,
        args: &[],
        why,
    }
}

const fn allow_if(
    names: &'static [&'static str],
    args: &'static [ArgCheck],
    why: &'static str,
) -> Rule {
    Rule {
        names,
        verdict: Verdict::Allow,
        args,
        why,
    }
}

const fn arg(index: usize, check: Check) -> ArgCheck {
    ArgCheck { index, check }
}

/// `errno` ENOSYS: "not implemented", which makes libc fall back to an older call.
pub(crate) const ENOSYS: u32 = 38;
/// `errno` EPERM, the default answer.
pub(crate) const EPERM: u32 = 1;

/// CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER |
/// CLONE_NEWPID | CLONE_NEWNET (Docker's mask).
const CLONE_NAMESPACE_FLAGS: u64 = 0x7E02_0000;
const AF_UNIX: u64 = 1;
const AF_INET: u64 = 2;
const AF_INET6: u64 = 10;
const AF_NETLINK: u64 = 16;
const NETLINK_ROUTE: u64 = 0;
const AT_EMPTY_PATH: u64 = 0x1000;

/// Rules both profiles share: process creation and sockets.
const PROCESSES_AND_SOCKETS: &[Rule] = &[
    allow_if(
        &["clone"],
        &[arg(
            0,
            Check::MaskedEq {
                mask: CLONE_NAMESPACE_FLAGS,
                value: 0,
            },
        )],
        "threads and processes (fork, posix_spawn, pthread_create), but no new namespaces",
    ),
    Rule {
        names: &["clone3"],
        verdict: Verdict::Errno(ENOSYS),
        args: &[],
        why: "its flags live in memory a filter cannot read: ENOSYS makes glibc use clone",
    },
    allow_if(
        &["socket"],
        &[arg(0, Check::Eq(AF_UNIX))],
        "local sockets: syslog, nscd, the runtime's own sync socket",
    ),
    allow_if(
        &["socket"],
        &[arg(0, Check::Eq(AF_INET))],
        "IPv4 TCP/UDP (HTTP clients, DNS)",
    ),
    allow_if(&["socket"], &[arg(0, Check::Eq(AF_INET6))], "IPv6 TCP/UDP"),
    allow_if(
        &["socket"],
        &[
            arg(0, Check::Eq(AF_NETLINK)),
            arg(2, Check::Eq(NETLINK_ROUTE)),
        ],
        "getaddrinfo and `ip addr` read interfaces over NETLINK_ROUTE; other netlink families \
         (audit, netfilter, uevent) are refused",
    ),
];

/// `minimal`: what a busybox shell, coreutils-style tools and a Python or Node interpreter
/// making HTTP calls need, and little else. Also covers what libcontainer's init does after
/// loading the filter (sync over a unix socket, then execve).
pub(crate) const MINIMAL: &[Rule] = &[
    allow(
        &["read", "readv", "pread64", "preadv"],
        "read files, pipes and sockets",
    ),
    allow(
        &["write", "writev", "pwrite64", "pwritev"],
        "write files, pipes, sockets and the terminal",
    ),
    allow(
        &["open", "openat"],
        "open files (open for old static binaries)",
    ),
    allow(
        &["close", "close_range"],
        "close descriptors (close_range: Python's subprocess before exec)",
    ),
    allow(&["lseek"], "seek in files (Python's io, tail)"),
    allow(
        &["stat", "lstat", "fstat", "newfstatat", "statx"],
        "file metadata (ls, Python's os.stat, Node's fs.stat)",
    ),
    allow(
        &["access", "faccessat", "faccessat2"],
        "permission probes (shells test -x, PATH lookups)",
    ),
    allow(
        &["readlink", "readlinkat"],
        "resolve symlinks (/proc/self/exe, realpath)",
    ),
    allow(
        &["getdents", "getdents64"],
        "list directories (ls, os.listdir)",
    ),
    allow(
        &["statfs", "fstatfs"],
        "filesystem sizes (df, os.statvfs, glibc's shm_open)",
    ),
    allow(
        &["getcwd", "chdir", "fchdir"],
        "working directory (cd, pwd, rm -r)",
    ),
    allow(
        &["mkdir", "mkdirat", "rmdir"],
        "create and remove directories in writable scratch space",
    ),
    allow(
        &["unlink", "unlinkat", "rename", "renameat", "renameat2"],
        "remove and rename files (atomic writes, pip, temp files)",
    ),
    allow(
        &["link", "linkat", "symlink", "symlinkat"],
        "create links (ln, package installs)",
    ),
    allow(
        &["chmod", "fchmod", "fchmodat", "fchmodat2"],
        "file modes (chmod +x on a downloaded script; glibc 2.39 uses fchmodat2)",
    ),
    allow(
        &["chown", "fchown", "lchown", "fchownat"],
        "file owners when unpacking archives",
    ),
    allow(
        &["truncate", "ftruncate", "fallocate"],
        "resize files (sqlite, log rotation)",
    ),
    allow(
        &["fsync", "fdatasync"],
        "flush files (sqlite, pip, atomic writes)",
    ),
    allow(&["flock"], "advisory locks (pip, sqlite, lock files)"),
    allow(&["fcntl"], "descriptor flags and record locks"),
    allow(&["utimensat"], "file times (touch, tar, shutil.copystat)"),
    allow(
        &["mknod", "mknodat"],
        "FIFOs (mkfifo); device nodes need CAP_MKNOD, which is dropped",
    ),
    allow(&["umask"], "file-creation mask (shells, Python's tempfile)"),
    allow(
        &[
            "getxattr",
            "lgetxattr",
            "fgetxattr",
            "listxattr",
            "llistxattr",
            "flistxattr",
        ],
        "read extended attributes (ls, cp, shutil.copystat); setting them is refused",
    ),
    allow(
        &["sendfile", "copy_file_range"],
        "in-kernel copies (cp, shutil.copyfile)",
    ),
    allow(&["fadvise64"], "read-ahead hints (cat, cp)"),
    allow(&["dup", "dup2", "dup3"], "redirections and pipelines"),
    allow(&["pipe", "pipe2"], "pipelines and subprocess plumbing"),
    allow(
        &["ioctl"],
        "terminal size and modes, FIONREAD/FIONBIO (an argument filter on the 32-bit request \
         could be bypassed through the upper register half, so none is attempted)",
    ),
    allow(
        &["poll", "ppoll", "select", "pselect6"],
        "wait on descriptors (shells, Python's selectors)",
    ),
    allow(
        &[
            "epoll_create",
            "epoll_create1",
            "epoll_ctl",
            "epoll_wait",
            "epoll_pwait",
        ],
        "event loops (Node's libuv, Python's asyncio)",
    ),
    allow(&["eventfd2"], "wake-ups in event loops (libuv)"),
    allow(
        &["socketpair"],
        "connected local pairs (asyncio, multiprocessing)",
    ),
    allow(
        &["connect", "bind", "listen", "accept", "accept4", "shutdown"],
        "open and serve connections (HTTP clients, webhook listeners)",
    ),
    allow(
        &["getsockname", "getpeername", "getsockopt", "setsockopt"],
        "socket addresses and options (timeouts, keep-alive, TLS libraries)",
    ),
    allow(
        &[
            "sendto", "recvfrom", "sendmsg", "recvmsg", "sendmmsg", "recvmmsg",
        ],
        "exchange data (glibc's resolver sends A and AAAA queries with sendmmsg)",
    ),
    allow(
        &[
            "mmap", "munmap", "mprotect", "mremap", "madvise", "brk", "msync",
        ],
        "memory management (allocators, the dynamic loader, JIT compilers)",
    ),
    allow(
        &["futex", "set_robust_list", "set_tid_address", "rseq"],
        "threads and locks (glibc registers rseq and robust futex lists for each thread)",
    ),
    allow(
        &["arch_prctl", "map_shadow_stack"],
        "thread-local storage setup on x86_64, and CET shadow stacks",
    ),
    allow(&["fork", "vfork"], "process creation (busybox uses vfork)"),
    allow(&["execve"], "run programs (and libcontainer's final exec)"),
    allow(&["exit", "exit_group"], "end threads and processes"),
    allow(&["wait4", "waitid"], "reap children"),
    allow(
        &["kill", "tkill", "tgkill"],
        "signals to own processes (timeouts, job control, runtime shutdown)",
    ),
    allow(
        &[
            "rt_sigaction",
            "rt_sigprocmask",
            "rt_sigreturn",
            "rt_sigsuspend",
            "rt_sigpending",
            "rt_sigtimedwait",
            "sigaltstack",
            "restart_syscall",
            "pause",
        ],
        "signal handling (every libc installs handlers; Go and Python use sigaltstack)",
    ),
    allow(
        &["alarm", "getitimer", "setitimer"],
        "timers (busybox timeout, signal.alarm)",
    ),
    allow(
        &[
            "getpid", "getppid", "gettid", "getpgid", "getpgrp", "setpgid", "getsid", "setsid",
        ],
        "process identity and job control (shells, daemons' setsid)",
    ),
    allow(
        &[
            "getuid",
            "geteuid",
            "getgid",
            "getegid",
            "getgroups",
            "getresuid",
            "getresgid",
            "capget",
        ],
        "identity and capability queries (id, whoami, Python's os.getuid)",
    ),
    allow(
        &[
            "setuid",
            "setgid",
            "setgroups",
            "setresuid",
            "setresgid",
            "setreuid",
            "setregid",
        ],
        "dropping to an unprivileged user (su-exec style entrypoints)",
    ),
    allow(
        &["getrlimit", "setrlimit", "prlimit64"],
        "resource limits (ulimit; only lowering works without CAP_SYS_RESOURCE)",
    ),
    allow(
        &[
            "clock_gettime",
            "clock_getres",
            "clock_nanosleep",
            "nanosleep",
            "gettimeofday",
            "time",
        ],
        "time and sleeping (when the vDSO is unavailable, and sleep itself)",
    ),
    allow(
        &["sched_yield", "sched_getaffinity"],
        "yielding and CPU counts (os.cpu_count, libuv thread pools)",
    ),
    allow(
        &["getpriority", "setpriority"],
        "nice values (nice; raising priority needs CAP_SYS_NICE, which is dropped)",
    ),
    allow(&["getrandom"], "randomness for TLS, hash seeds and UUIDs"),
    allow(
        &["uname", "sysinfo", "getrusage", "times"],
        "system facts (uname, free, os.times, rusage of children)",
    ),
    allow(
        &["prctl"],
        "thread names, PR_SET_PDEATHSIG, PR_SET_VMA; no-new-privileges is already set",
    ),
];

/// `default`: Docker's default seccomp profile for a container without extra capabilities
/// (moby `profiles/seccomp/default.json`), restricted to names the x86_64/aarch64 kernels
/// have (libcontainer resolves names on the native architecture only, so 32-bit-only names
/// such as `mmap2` or `fcntl64` would never apply), minus [`ALWAYS_DENIED`], and with the
/// argument checks described in the module documentation.
pub(crate) const DEFAULT: &[Rule] = &[
    allow(
        &[
            "accept",
            "accept4",
            "access",
            "adjtimex",
            "alarm",
            "bind",
            "brk",
            "cachestat",
            "capget",
            "capset",
            "chdir",
            "chmod",
            "chown",
            "clock_adjtime",
            "clock_getres",
            "clock_gettime",
            "clock_nanosleep",
            "close",
            "close_range",
            "connect",
            "copy_file_range",
            "creat",
            "dup",
            "dup2",
            "dup3",
            "epoll_create",
            "epoll_create1",
            "epoll_ctl",
            "epoll_ctl_old",
            "epoll_pwait",
            "epoll_pwait2",
            "epoll_wait",
            "epoll_wait_old",
            "eventfd",
            "eventfd2",
            "execve",
            "exit",
            "exit_group",
            "faccessat",
            "faccessat2",
            "fadvise64",
            "fallocate",
            "fanotify_mark",
            "fchdir",
            "fchmod",
            "fchmodat",
            "fchmodat2",
            "fchown",
            "fchownat",
            "fcntl",
            "fdatasync",
            "fgetxattr",
            "flistxattr",
            "flock",
            "fork",
            "fremovexattr",
            "fsetxattr",
            "fstat",
            "fstatfs",
            "fsync",
            "ftruncate",
            "futex",
            "futex_requeue",
            "futex_wait",
            "futex_waitv",
            "futex_wake",
            "futimesat",
            "getcpu",
            "getcwd",
            "getdents",
            "getdents64",
            "getegid",
            "geteuid",
            "getgid",
            "getgroups",
            "getitimer",
            "getpeername",
            "getpgid",
            "getpgrp",
            "getpid",
            "getppid",
            "getpriority",
            "getrandom",
            "getresgid",
            "getresuid",
            "getrlimit",
            "get_robust_list",
            "getrusage",
            "getsid",
            "getsockname",
            "getsockopt",
            "get_thread_area",
            "gettid",
            "gettimeofday",
            "getuid",
            "getxattr",
            "getxattrat",
            "inotify_add_watch",
            "inotify_init",
            "inotify_init1",
            "inotify_rm_watch",
            "io_cancel",
            "ioctl",
            "io_destroy",
            "io_getevents",
            "io_pgetevents",
            "ioprio_get",
            "ioprio_set",
            "io_setup",
            "io_submit",
            "kill",
            "landlock_add_rule",
            "landlock_create_ruleset",
            "landlock_restrict_self",
            "lchown",
            "lgetxattr",
            "link",
            "linkat",
            "listen",
            "listxattr",
            "listxattrat",
            "llistxattr",
            "lremovexattr",
            "lseek",
            "lsetxattr",
            "lstat",
            "madvise",
            "map_shadow_stack",
            "membarrier",
            "memfd_secret",
            "mincore",
            "mkdir",
            "mkdirat",
            "mknod",
            "mknodat",
            "mlock",
            "mlock2",
            "mlockall",
            "mmap",
            "mprotect",
            "mq_getsetattr",
            "mq_notify",
            "mq_open",
            "mq_timedreceive",
            "mq_timedsend",
            "mq_unlink",
            "mremap",
            "mseal",
            "msgctl",
            "msgget",
            "msgrcv",
            "msgsnd",
            "msync",
            "munlock",
            "munlockall",
            "munmap",
            "name_to_handle_at",
            "nanosleep",
            "newfstatat",
            "open",
            "openat",
            "openat2",
            "pause",
            "pipe",
            "pipe2",
            "pkey_alloc",
            "pkey_free",
            "pkey_mprotect",
            "poll",
            "ppoll",
            "prctl",
            "pread64",
            "preadv",
            "preadv2",
            "prlimit64",
            "process_mrelease",
            "pselect6",
            "pwrite64",
            "pwritev",
            "pwritev2",
            "read",
            "readahead",
            "readlink",
            "readlinkat",
            "readv",
            "recvfrom",
            "recvmmsg",
            "recvmsg",
            "remap_file_pages",
            "removexattr",
            "removexattrat",
            "rename",
            "renameat",
            "renameat2",
            "restart_syscall",
            "rmdir",
            "rseq",
            "rt_sigaction",
            "rt_sigpending",
            "rt_sigprocmask",
            "rt_sigqueueinfo",
            "rt_sigreturn",
            "rt_sigsuspend",
            "rt_sigtimedwait",
            "rt_tgsigqueueinfo",
            "sched_getaffinity",
            "sched_getattr",
            "sched_getparam",
            "sched_get_priority_max",
            "sched_get_priority_min",
            "sched_getscheduler",
            "sched_rr_get_interval",
            "sched_setaffinity",
            "sched_setattr",
            "sched_setparam",
            "sched_setscheduler",
            "sched_yield",
            "select",
            "semctl",
            "semget",
            "semop",
            "semtimedop",
            "sendfile",
            "sendmmsg",
            "sendmsg",
            "sendto",
            "setfsgid",
            "setfsuid",
            "setgid",
            "setgroups",
            "setitimer",
            "setpgid",
            "setpriority",
            "setregid",
            "setresgid",
            "setresuid",
            "setreuid",
            "setrlimit",
            "set_robust_list",
            "setsid",
            "setsockopt",
            "set_thread_area",
            "set_tid_address",
            "setuid",
            "setxattr",
            "setxattrat",
            "shmat",
            "shmctl",
            "shmdt",
            "shmget",
            "shutdown",
            "sigaltstack",
            "signalfd",
            "signalfd4",
            "socketpair",
            "splice",
            "stat",
            "statfs",
            "statx",
            "symlink",
            "symlinkat",
            "sync",
            "sync_file_range",
            "syncfs",
            "sysinfo",
            "tee",
            "tgkill",
            "time",
            "timer_create",
            "timer_delete",
            "timer_getoverrun",
            "timer_gettime",
            "timer_settime",
            "timerfd_create",
            "timerfd_gettime",
            "timerfd_settime",
            "times",
            "tkill",
            "truncate",
            "umask",
            "uname",
            "unlink",
            "unlinkat",
            "utime",
            "utimensat",
            "utimes",
            "vfork",
            "vmsplice",
            "wait4",
            "waitid",
            "write",
            "writev",
        ],
        "Docker's unconditional allowlist, less the always-denied calls",
    ),
    allow(
        &["arch_prctl", "modify_ldt"],
        "x86-specific calls Docker allows (TLS setup; LDT for Wine-style runtimes)",
    ),
    allow_if(
        &["personality"],
        &[arg(0, Check::Eq(0x0))],
        "PER_LINUX (Docker's personality allowlist)",
    ),
    allow_if(
        &["personality"],
        &[arg(0, Check::Eq(0x8))],
        "PER_LINUX32 flavour Docker allows",
    ),
    allow_if(
        &["personality"],
        &[arg(0, Check::Eq(0x20000))],
        "UNAME26 (old software reading kernel 2.6 versions)",
    ),
    allow_if(
        &["personality"],
        &[arg(0, Check::Eq(0x20008))],
        "UNAME26 | PER_LINUX32",
    ),
    allow_if(
        &["personality"],
        &[arg(0, Check::Eq(0xffff_ffff))],
        "query the current personality",
    ),
    allow_if(
        &["execveat"],
        &[arg(
            4,
            Check::MaskedEq {
                mask: AT_EMPTY_PATH,
                value: 0,
            },
        )],
        "execveat by path only: AT_EMPTY_PATH would exec an anonymous or unlinked file",
    ),
    allow_if(
        &["seccomp"],
        &[arg(0, Check::Eq(0))],
        "SECCOMP_SET_MODE_STRICT (self-confinement)",
    ),
    allow_if(
        &["seccomp"],
        &[arg(0, Check::Eq(2))],
        "SECCOMP_GET_ACTION_AVAIL (feature probes)",
    ),
    allow_if(
        &["seccomp"],
        &[arg(0, Check::Eq(3))],
        "SECCOMP_GET_NOTIF_SIZES (feature probes)",
    ),
];

/// Refused by both profiles whatever else they allow; policy overrides may `deny` or
/// `escalate` them, and may `allow` only those not in [`NEVER_ALLOW`].
pub(crate) const ALWAYS_DENIED: &[(&[&str], &str)] = &[
    (
        &[
            "mount",
            "umount2",
            "pivot_root",
            "open_tree",
            "move_mount",
            "fsopen",
            "fsconfig",
            "fsmount",
            "fspick",
            "mount_setattr",
            "chroot",
        ],
        "filesystem view changes: the container's mounts are the runtime's",
    ),
    (
        &["unshare", "setns"],
        "namespace changes (CLONE_NEWUSER is the usual first step of kernel exploits)",
    ),
    (
        &[
            "ptrace",
            "process_vm_readv",
            "process_vm_writev",
            "kcmp",
            "pidfd_getfd",
            "process_madvise",
        ],
        "reading or steering other processes",
    ),
    (
        &["pidfd_open", "pidfd_send_signal"],
        "OpenShell's agent filter refuses pidfds (Python and libuv fall back to waitpid)",
    ),
    (
        &["keyctl", "add_key", "request_key"],
        "kernel keyrings are not namespaced",
    ),
    (
        &["bpf", "perf_event_open", "userfaultfd", "lookup_dcookie"],
        "kernel attack surface used by container escapes",
    ),
    (
        &["io_uring_setup", "io_uring_enter", "io_uring_register"],
        "io_uring bypasses seccomp for the operations it queues",
    ),
    (
        &["memfd_create"],
        "anonymous executable memory files (fileless payloads)",
    ),
    (
        &["open_by_handle_at"],
        "opens files by handle, past the mount namespace (the 'shocker' escape)",
    ),
    (
        &[
            "kexec_load",
            "kexec_file_load",
            "init_module",
            "finit_module",
            "delete_module",
            "create_module",
            "query_module",
            "get_kernel_syms",
        ],
        "kernel code loading",
    ),
    (
        &[
            "reboot",
            "swapon",
            "swapoff",
            "sethostname",
            "setdomainname",
            "syslog",
            "acct",
            "quotactl",
            "quotactl_fd",
            "vhangup",
            "iopl",
            "ioperm",
            "settimeofday",
            "clock_settime",
            "uselib",
            "_sysctl",
            "nfsservctl",
            "fanotify_init",
        ],
        "host-wide administration (hostname is set by the runtime before the filter loads)",
    ),
    (
        &[
            "mbind",
            "set_mempolicy",
            "get_mempolicy",
            "set_mempolicy_home_node",
            "migrate_pages",
            "move_pages",
        ],
        "NUMA placement (Docker allows these only with CAP_SYS_NICE)",
    ),
];

/// Syscalls a policy override may not `allow`: each opens a known container escape. They may
/// be escalated to a human instead.
pub(crate) const NEVER_ALLOW: &[&str] = &[
    "mount",
    "umount2",
    "pivot_root",
    "open_tree",
    "move_mount",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "mount_setattr",
    "unshare",
    "setns",
    "keyctl",
    "add_key",
    "request_key",
    "bpf",
    "open_by_handle_at",
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "reboot",
    "swapon",
    "swapoff",
];

/// The only syscalls a policy may `escalate`: those whose every argument the kernel acts on is
/// a number or a descriptor. A held call is let go with `SECCOMP_USER_NOTIF_FLAG_CONTINUE`,
/// and the kernel reads pointer arguments only then: a path or a struct the human was shown
/// could be rewritten by another thread between the approval and the call, so syscalls that
/// take them (`mount`, `bpf`, `chroot`, `clone3`, …) may only be allowed or denied.
pub(crate) const ESCALATABLE: &[&str] = &[
    "kill",
    "tkill",
    "tgkill",
    "ptrace",
    "setuid",
    "setgid",
    "setreuid",
    "setregid",
    "setresuid",
    "setresgid",
    "setfsuid",
    "setfsgid",
    "setpgid",
    "setsid",
    "unshare",
    "setns",
    "personality",
    "socket",
    "memfd_create",
    "userfaultfd",
    "pidfd_open",
    "pidfd_getfd",
    "iopl",
    "ioperm",
    "kcmp",
    "vhangup",
];

/// Rules of a named profile (`None` for `unconfined`), shared rules included.
pub(crate) fn rules(minimal: bool) -> impl Iterator<Item = &'static Rule> {
    let own = if minimal { MINIMAL } else { DEFAULT };
    own.iter().chain(PROCESSES_AND_SOCKETS)
}
