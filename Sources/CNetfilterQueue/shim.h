// libnetfilter_queue (Debian libnetfilter-queue-dev): the kernel's NFQUEUE from user space.
// <linux/netfilter.h> is left out: its <linux/in6.h> clashes with glibc's <netinet/in.h> in one
// Swift module; the three constants used are in NetfilterQueue.swift, from the uapi headers.
#include <stdint.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
