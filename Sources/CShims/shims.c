#define _GNU_SOURCE
#include <sched.h>
#include <sys/socket.h>
#include "myconn_shims.h"

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
