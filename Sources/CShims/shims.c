#define _GNU_SOURCE
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <sys/socket.h>
#include "myconn_shims.h"
#include <string.h>
#include <fcntl.h>

int myconn_peer_credentials(int fd, int32_t *pid, uint32_t *uid, uint32_t *gid) {
    struct ucred cred;
    socklen_t len = sizeof(cred);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return -1;
    *pid = cred.pid;
    *uid = cred.uid;
    *gid = cred.gid;
    return 0;
}

int myconn_setns_net(int fd) {
    return setns(fd, CLONE_NEWNET);
}

pid_t myconn_gettid(void) {
    return (pid_t)syscall(SYS_gettid);
}

#include <elf.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

long myconn_ptrace(int request, pid_t pid, void *addr, void *data) {
    return ptrace((enum __ptrace_request)request, pid, addr, data);
}

int myconn_get_regs(pid_t tid, myconn_regs *regs) {
    struct iovec iov = { regs, sizeof(*regs) };
    return (int)ptrace(PTRACE_GETREGSET, tid, (void *)NT_PRSTATUS, &iov);
}

int myconn_set_regs(pid_t tid, const myconn_regs *regs) {
    struct iovec iov = { (void *)regs, sizeof(*regs) };
    return (int)ptrace(PTRACE_SETREGSET, tid, (void *)NT_PRSTATUS, &iov);
}

int myconn_wifstopped(int status) { return WIFSTOPPED(status); }
int myconn_wstopsig(int status) { return WSTOPSIG(status); }
int myconn_wifexited(int status) { return WIFEXITED(status); }
int myconn_wifsignaled(int status) { return WIFSIGNALED(status); }
int myconn_wptrace_event(int status) { return status >> 16; }

int myconn_pipe_cloexec(int ends[2]) { return pipe2(ends, O_CLOEXEC); }

int myconn_syscall_info(pid_t tid, long long *value) {
    struct __ptrace_syscall_info info;
    memset(&info, 0, sizeof info);
    if (ptrace(PTRACE_GET_SYSCALL_INFO, tid, (void *)sizeof info, &info) < 0) return -1;
    if (info.op == PTRACE_SYSCALL_INFO_ENTRY) *value = (long long)info.entry.nr;
    else if (info.op == PTRACE_SYSCALL_INFO_EXIT) *value = (long long)info.exit.rval;
    return info.op;
}

int myconn_pidfd_open(pid_t pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }
int myconn_pidfd_getfd(int pidfd, int targetfd) { return (int)syscall(SYS_pidfd_getfd, pidfd, targetfd, 0); }
