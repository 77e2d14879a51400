// C for what Swift cannot call or see. Keep each function a one-line wrapper.
#ifndef MYCONN_SHIMS_H
#define MYCONN_SHIMS_H

#include <stdint.h>

#pragma clang assume_nonnull begin

/// getsockopt(fd, SOL_SOCKET, SO_PEERCRED): struct ucred is hidden behind _GNU_SOURCE in glibc.
/// Returns 0, or -1 with errno set.
int myconn_peer_credentials(int fd, int32_t *pid, uint32_t *uid, uint32_t *gid);

/// setns(2) with CLONE_NEWNET: moves the calling thread into the network namespace of `fd`.
/// glibc declares setns only under _GNU_SOURCE. Returns 0, or -1 with errno set.
int myconn_setns_net(int fd);

#pragma clang assume_nonnull end

#endif
