// A purpose-built victim for the injector tests (after reptyr's test/victim.c): one thread
// blocked in each of poll, read, accept, nanosleep, epoll_wait and a futex (condition
// variable). Each reports on stdout what it got, so a test can check that every blocked call
// resumed correctly after injections. Commands on stdin trigger the events:
//   poll C | read C | epoll C  (a byte to that thread's pipe), accept, futex, signals, quit
// Real-time signal SIGRTMIN (queued, never merged) is handled by the main thread only and
// counted: `signals` prints how many arrived, so a test can check none was lost.
// The main thread (the one `myconn close --method ptrace` injects into) reads its commands a
// byte at a time through a raw `syscall` instruction with known values in every register the
// kernel keeps across a syscall, and checks each of them and the result after every read:
// `regs` prints how many reads were checked and how many came back wrong.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static int poll_pipe[2], read_pipe[2], epoll_pipe[2], listener;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t out_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int futex_flag;
static volatile sig_atomic_t rt_signals;

static void on_rt(int sig) {
    (void)sig;
    rt_signals++;
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#include <stdarg.h>
static void say(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&out_mu);
    vprintf(fmt, ap);
    printf("\n");
    fflush(stdout);
    pthread_mutex_unlock(&out_mu);
    va_end(ap);
}

static long now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000L + t.tv_nsec / 1000000L;
}

static void *poll_thread(void *arg) {
    (void)arg;
    say("tid poll %ld", (long)syscall(SYS_gettid));
    for (;;) {
        struct pollfd p = { poll_pipe[0], POLLIN, 0 };
        int r = poll(&p, 1, -1);
        if (r < 0) { say("poll error %d", r); continue; }
        char c;
        if (read(poll_pipe[0], &c, 1) == 1) say("poll ok %c", c);
    }
    return NULL;
}

static void *read_thread(void *arg) {
    (void)arg;
    say("tid read %ld", (long)syscall(SYS_gettid));
    for (;;) {
        char c;
        ssize_t n = read(read_pipe[0], &c, 1);
        if (n == 1) say("read ok %c", c); else say("read error %zd", n);
    }
    return NULL;
}

static void *accept_thread(void *arg) {
    (void)arg;
    say("tid accept %ld", (long)syscall(SYS_gettid));
    for (;;) {
        int c = accept(listener, NULL, NULL);
        // Held open, the newest 256: a test cuts them with `myconn close --pid --peer --force`.
        static int held[256];
        static unsigned next;
        if (c >= 0) {
            if (held[next % 256] > 0) close(held[next % 256]);
            held[next++ % 256] = c;
            say("accept ok");
        } else say("accept error");
    }
    return NULL;
}

static void *sleep_thread(void *arg) {
    (void)arg;
    say("tid nanosleep %ld", (long)syscall(SYS_gettid));
    for (;;) {
        struct timespec d = { 1, 0 };
        long start = now_ms();
        int r = nanosleep(&d, NULL);
        say("nanosleep %s %ld", r == 0 ? "ok" : "error", now_ms() - start);
    }
    return NULL;
}

static void *epoll_thread(void *arg) {
    (void)arg;
    int ep = epoll_create1(0);
    struct epoll_event ev = { .events = EPOLLIN, .data.fd = epoll_pipe[0] };
    epoll_ctl(ep, EPOLL_CTL_ADD, epoll_pipe[0], &ev);
    say("tid epoll %ld", (long)syscall(SYS_gettid));
    for (;;) {
        struct epoll_event got;
        int n = epoll_wait(ep, &got, 1, -1);
        if (n < 0) continue;  // EINTR from being stopped: retried, as mariadbd does
        char c;
        if (read(epoll_pipe[0], &c, 1) == 1) say("epoll ok %c", c);
    }
    return NULL;
}

static void *futex_thread(void *arg) {
    (void)arg;
    say("tid futex %ld", (long)syscall(SYS_gettid));
    for (;;) {
        pthread_mutex_lock(&mu);
        while (!futex_flag) pthread_cond_wait(&cv, &mu);
        futex_flag = 0;
        pthread_mutex_unlock(&mu);
        say("futex ok");
    }
    return NULL;
}

static long reg_checks, reg_bad;

#if defined(__x86_64__)
// read(fd, buf, n) by a raw syscall with r8-r10 and r12-r15 set to known values; *bad is set
// when any of them, or the arguments' registers, came back changed (the kernel keeps all but
// rax, rcx and r11), or the result is not one read(2) can give.
static long checked_read(int fd, char *buf, long n, int *bad) {
    register long rdi asm("rdi") = fd;
    register char *rsi asm("rsi") = buf;
    register long rdx asm("rdx") = n;
    register long r8 asm("r8");
    long rax = SYS_read;
    asm volatile(
        "movabs $0x5a5a000000000008, %%r8\n\t"
        "movabs $0x5a5a000000000009, %%r9\n\t"
        "movabs $0x5a5a00000000000a, %%r10\n\t"
        "movabs $0x5a5a00000000000c, %%r12\n\t"
        "movabs $0x5a5a00000000000d, %%r13\n\t"
        "movabs $0x5a5a00000000000e, %%r14\n\t"
        "movabs $0x5a5a00000000000f, %%r15\n\t"
        "syscall\n\t"
        "movabs $0x5a5a000000000008, %%rcx\n\t xor %%rcx, %%r8\n\t"
        "movabs $0x5a5a000000000009, %%rcx\n\t xor %%rcx, %%r9\n\t or %%r9, %%r8\n\t"
        "movabs $0x5a5a00000000000a, %%rcx\n\t xor %%rcx, %%r10\n\t or %%r10, %%r8\n\t"
        "movabs $0x5a5a00000000000c, %%rcx\n\t xor %%rcx, %%r12\n\t or %%r12, %%r8\n\t"
        "movabs $0x5a5a00000000000d, %%rcx\n\t xor %%rcx, %%r13\n\t or %%r13, %%r8\n\t"
        "movabs $0x5a5a00000000000e, %%rcx\n\t xor %%rcx, %%r14\n\t or %%r14, %%r8\n\t"
        "movabs $0x5a5a00000000000f, %%rcx\n\t xor %%rcx, %%r15\n\t or %%r15, %%r8\n\t"
        : "+a"(rax), "+r"(rdi), "+r"(rsi), "+r"(rdx), "=&r"(r8)
        :
        : "rcx", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "memory", "cc");
    *bad = r8 != 0 || rdi != fd || rsi != buf || rdx != n || rax > n || (rax < 0 && rax != -EINTR);
    return rax;
}
#else
#error "the victim's register check is written for x86_64"
#endif

// A line from stdin through checked_read; 0 at its end.
static int read_line(char *line, size_t cap) {
    size_t k = 0;
    while (k + 1 < cap) {
        char c;
        int bad = 0;
        long r = checked_read(0, &c, 1, &bad);
        reg_checks++;
        if (bad) { reg_bad++; say("regs corrupted: read returned %ld", r); }
        if (r == -EINTR) continue;
        if (r != 1) break;
        line[k++] = c;
        if (c == '\n') break;
    }
    line[k] = 0;
    return k > 0;
}

int main(void) {
    if (pipe(poll_pipe) || pipe(read_pipe) || pipe(epoll_pipe)) return 1;
    listener = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = 0 };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    if (bind(listener, (struct sockaddr *)&a, sizeof(a)) || listen(listener, 8) ||
        getsockname(listener, (struct sockaddr *)&a, &len)) return 1;
    // Workers inherit SIGRTMIN blocked; only the main thread (blocked in read) takes it.
    sigset_t rt;
    sigemptyset(&rt);
    sigaddset(&rt, SIGRTMIN);
    pthread_sigmask(SIG_BLOCK, &rt, NULL);
    struct sigaction sa = { .sa_handler = on_rt, .sa_flags = SA_RESTART };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGRTMIN, &sa, NULL);
    void *(*threads[])(void *) = { poll_thread, read_thread, accept_thread, sleep_thread, epoll_thread, futex_thread };
    for (size_t i = 0; i < sizeof(threads) / sizeof(threads[0]); i++) {
        pthread_t t;
        pthread_create(&t, NULL, threads[i], NULL);
    }
    usleep(100000);
    pthread_sigmask(SIG_UNBLOCK, &rt, NULL);
    say("port %d", ntohs(a.sin_port));
    say("ready %d", getpid());
    char line[64];
    while (read_line(line, sizeof line)) {
        char c = 'x';
        if (sscanf(line, "poll %c", &c) == 1) { if (write(poll_pipe[1], &c, 1) != 1) return 1; }
        else if (sscanf(line, "read %c", &c) == 1) { if (write(read_pipe[1], &c, 1) != 1) return 1; }
        else if (sscanf(line, "epoll %c", &c) == 1) { if (write(epoll_pipe[1], &c, 1) != 1) return 1; }
        else if (!strncmp(line, "accept", 6)) {
            int s = socket(AF_INET, SOCK_STREAM, 0);
            if (connect(s, (struct sockaddr *)&a, sizeof(a)) == 0) usleep(10000);
            close(s);
        } else if (!strncmp(line, "futex", 5)) {
            pthread_mutex_lock(&mu);
            futex_flag = 1;
            pthread_cond_signal(&cv);
            pthread_mutex_unlock(&mu);
        } else if (!strncmp(line, "signals", 7)) {
            say("signals %d", (int)rt_signals);
        } else if (!strncmp(line, "regs", 4)) {
            say("regs %ld bad %ld", reg_checks, reg_bad);
        } else if (!strncmp(line, "quit", 4)) break;
    }
    return 0;
}
