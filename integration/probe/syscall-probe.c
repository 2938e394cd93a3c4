/* syscall-probe: makes one system call per argument with harmless arguments and prints
 * "<name> ok" or "<name> errno <n>" per line, so tests can tell from inside a container
 * which calls reach the kernel. Built statically by the integration tests (gcc -static). */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/bpf.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static long probe(const char *name) {
    if (!strcmp(name, "mount")) {
        mkdir("/tmp/probe-mnt", 0700);
        return mount("none", "/tmp/probe-mnt", "tmpfs", 0, NULL);
    }
    if (!strcmp(name, "unshare")) return unshare(CLONE_NEWUSER);
    if (!strcmp(name, "ptrace")) return ptrace(PTRACE_TRACEME, 0, NULL, NULL);
    /* KEYCTL_GET_KEYRING_ID of the session keyring */
    if (!strcmp(name, "keyctl")) return syscall(SYS_keyctl, 0, -3, 0);
    if (!strcmp(name, "bpf")) {
        union bpf_attr attr;
        memset(&attr, 0, sizeof(attr));
        attr.map_type = BPF_MAP_TYPE_ARRAY;
        attr.key_size = 4;
        attr.value_size = 4;
        attr.max_entries = 1;
        return syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof(attr));
    }
    /* invalid flags: refused before anything is loaded even where kexec exists */
    if (!strcmp(name, "kexec_load")) return syscall(SYS_kexec_load, 0, 0, NULL, 0xdead0000UL);
    /* an empty image: refused before anything is loaded even where modules exist */
    if (!strcmp(name, "init_module")) return syscall(SYS_init_module, NULL, 0, "");
    if (!strcmp(name, "memfd_create")) return syscall(SYS_memfd_create, "probe", 0);
    if (!strcmp(name, "io_uring_setup")) return syscall(SYS_io_uring_setup, 0, NULL);
    if (!strcmp(name, "getpid")) return getpid();
    errno = ENOENT;
    return -2;
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        errno = 0;
        long result = probe(argv[i]);
        if (result == -2 && errno == ENOENT) {
            printf("%s unknown-probe\n", argv[i]);
        } else if (result < 0) {
            printf("%s errno %d\n", argv[i], errno);
        } else {
            printf("%s ok\n", argv[i]);
        }
    }
    return 0;
}
