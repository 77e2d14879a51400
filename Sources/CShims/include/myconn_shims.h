// C for what Swift cannot call or see. Keep each function a one-line wrapper.
#ifndef MYCONN_SHIMS_H
#define MYCONN_SHIMS_H

#include <stdint.h>
#include <sys/types.h>

#if defined(__x86_64__)
#include "arch/x86_64.h"
#else
#error "myconn's ptrace injector knows x86_64 only (arm64: see docs/facts.md section 7)"
#endif

#pragma clang assume_nonnull begin

/// getsockopt(fd, SOL_SOCKET, SO_PEERCRED): struct ucred is hidden behind _GNU_SOURCE in glibc.
/// Returns 0, or -1 with errno set.
int myconn_peer_credentials(int fd, int32_t *pid, uint32_t *uid, uint32_t *gid);

/// setns(2) with CLONE_NEWNET: moves the calling thread into the network namespace of `fd`.
/// glibc declares setns only under _GNU_SOURCE. Returns 0, or -1 with errno set.
int myconn_setns_net(int fd);

/// gettid(2): the calling thread's id (glibc declares gettid only under _GNU_SOURCE).
pid_t myconn_gettid(void);

/// ptrace(2) is variadic in glibc: one fixed-argument wrapper. Returns its result, -1 with errno.
long myconn_ptrace(int request, pid_t pid, void *_Nullable addr, void *_Nullable data);

/// PTRACE_GETREGSET / PTRACE_SETREGSET with NT_PRSTATUS: the general registers of a stopped thread.
int myconn_get_regs(pid_t tid, myconn_regs *regs);
int myconn_set_regs(pid_t tid, const myconn_regs *regs);
/// PTRACE_GET_SYSCALL_INFO (Linux >= 5.3) at a syscall stop: returns its op (1 entry, 2 exit,
/// 0 none) and sets `value` to the syscall number at entry, the return value at exit; -1 and
/// errno when the request fails.
int myconn_syscall_info(pid_t tid, long long *value);
/// pipe2(O_CLOEXEC), which Glibc's Swift module does not declare.
int myconn_pipe_cloexec(int ends[_Nonnull 2]);

/// waitpid(2) status macros.
int myconn_wifstopped(int status);
int myconn_wstopsig(int status);
int myconn_wifexited(int status);
int myconn_wifsignaled(int status);
/// The PTRACE_EVENT_* in a ptrace stop's status (status >> 16).
int myconn_wptrace_event(int status);

/// syscall(2) is variadic: pidfd_open(2) and pidfd_getfd(2), which older glibc lacks.
int myconn_pidfd_open(pid_t pid);
int myconn_pidfd_getfd(int pidfd, int targetfd);

#pragma clang assume_nonnull end

#endif
