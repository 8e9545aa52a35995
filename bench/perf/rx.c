/* The load generator's receiver worker in C: bench/perf/loadgen.py builds it with `cc` at bench
 * time and runs it instead of its Python worker when it can (the Python worker stays as the
 * fallback, and does exactly the same).
 *
 *     rx SHM_FD RESULT_FD PAUSE_US ARRIVAL FD:SLOT [FD:SLOT ...]
 *
 * Reads every FD (inherited, non-blocking sockets) with epoll until the phase word (the first
 * int64 of the shared memory SHM_FD) says STOP, sleeping PAUSE_US after each pass so that lines
 * pile up: fewer wake-ups and reads, and a server's sends no longer wake a waiting reader per
 * line. In every chunk it counts the chat markers "@T<send time ns>~" (whatever the framing
 * around them: text, JSON, IRC or WebSocket frames), publishes each client's count in its SLOT of
 * the shared memory, and while the phase is MEASURING records arrival - send time for each marker.
 *
 * ARRIVAL "kernel": the arrival is the kernel's receive time of the data (SO_TIMESTAMPNS, read
 * with recvmsg), so the pause does not add to the latency. For TCP the kernel gives the time of
 * the last segment a read returns: lines from earlier segments of the same read get that later
 * time, so each is over-stated by at most the time between two reads of its socket (the pause
 * plus one pass). A read without a stamp (data that came before the option was set) falls back
 * to the time of the read, and is counted while measuring.
 * ARRIVAL "read": the time of the read, as before. ARRIVAL "both": kernel, and each sample is
 * followed by the same line's latency timed by the read (to compare the two on the same lines).
 *
 * At STOP it writes to RESULT_FD the number of its clients the server closed, the number of reads
 * that had no kernel stamp, then every sample (native int64s), and exits.
 *
 * A marker cut by the end of a read is kept (only its bytes) and completed by the next read. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define RECV_SIZE (1 << 20)
#define TAIL_MAX 64
enum { WARMING = 0, MEASURING = 1, STOP = 2 };

struct client {
    int fd, slot, closed, tail_len;
    int64_t chat;
    char tail[TAIL_MAX];
};

static int64_t clock_ns(clockid_t clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The kernel's receive time in the control data of a recvmsg (CLOCK_REALTIME), or -1. */
static int64_t kernel_stamp(struct msghdr *msg) {
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(msg); cm; cm = CMSG_NXTHDR(msg, cm)) {
        if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_TIMESTAMPNS) {
            struct timespec ts;
            memcpy(&ts, CMSG_DATA(cm), sizeof ts);
            return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
        }
    }
    return -1;
}

static int64_t *samples;
static size_t n_samples, cap_samples;
static int64_t unstamped;
static int both;  /* ARRIVAL "both": a second sample per line, timed by the read */
static int64_t read_time;

static void record(int64_t value) {
    if (n_samples == cap_samples) {
        cap_samples = cap_samples ? cap_samples * 2 : 1 << 16;
        samples = realloc(samples, cap_samples * sizeof *samples);
        if (!samples) { perror("rx: realloc"); exit(1); }
    }
    samples[n_samples++] = value;
}

/* Scan buf[0:len] for complete markers; return where an incomplete one starts (or len). */
static size_t scan(struct client *c, const char *buf, size_t len, int measuring, int64_t now) {
    size_t i = 0;
    for (;;) {
        const char *at = memchr(buf + i, '@', len - i);
        if (!at) return len;
        size_t p = (size_t)(at - buf);
        if (p + 1 >= len) return p;                 /* "@" at the very end: maybe a marker */
        if (buf[p + 1] != 'T') { i = p + 1; continue; }
        size_t q = p + 2;
        int64_t stamp = 0;
        while (q < len && buf[q] >= '0' && buf[q] <= '9') stamp = stamp * 10 + (buf[q++] - '0');
        if (q >= len) return (len - p < TAIL_MAX) ? p : len;   /* cut by the read */
        if (buf[q] == '~' && q > p + 2) {
            c->chat++;
            if (measuring) {
                record(now - stamp);
                if (both) record(read_time - stamp);
            }
        }
        i = q;
    }
}

int main(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: rx SHM_FD RESULT_FD PAUSE_US kernel|read|both FD:SLOT...\n");
        return 2;
    }
    int shm_fd = atoi(argv[1]), result_fd = atoi(argv[2]);
    long pause_us = atol(argv[3]);
    both = strcmp(argv[4], "both") == 0;
    int kernel = both || strcmp(argv[4], "kernel") == 0;
    if (!kernel && strcmp(argv[4], "read") != 0) return 2;
    int n = argc - 5;
    struct client *clients = calloc((size_t)n, sizeof *clients);
    int max_slot = 0, on = 1;
    for (int k = 0; k < n; k++) {
        if (sscanf(argv[5 + k], "%d:%d", &clients[k].fd, &clients[k].slot) != 2) return 2;
        if (clients[k].slot > max_slot) max_slot = clients[k].slot;
        if (kernel && setsockopt(clients[k].fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on) < 0) {
            perror("rx: SO_TIMESTAMPNS");
            return 1;
        }
    }
    volatile int64_t *shared = mmap(NULL, (size_t)(max_slot + 1) * 8, PROT_READ | PROT_WRITE,
                                    MAP_SHARED, shm_fd, 0);
    if (shared == MAP_FAILED) { perror("rx: mmap"); return 1; }
    int ep = epoll_create1(0);
    for (int k = 0; k < n; k++) {
        clients[k].chat = shared[clients[k].slot];
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)k};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, clients[k].fd, &ev) < 0) { perror("rx: epoll"); return 1; }
    }
    char *buf = malloc(RECV_SIZE + TAIL_MAX);
    char control[CMSG_SPACE(sizeof(struct timespec)) * 2];
    struct epoll_event events[256];
    for (;;) {
        /* Waits (20 ms at most, to see STOP) while nothing came: an idle worker costs nothing. */
        int ready = epoll_wait(ep, events, 256, 20);
        int64_t phase = shared[0];  /* after the wait: a read may not predate its phase */
        if (phase == STOP) break;
        int measuring = phase == MEASURING;
        /* The kernel stamps on CLOCK_REALTIME, the senders on CLOCK_MONOTONIC. */
        int64_t mono = clock_ns(CLOCK_MONOTONIC), offset = clock_ns(CLOCK_REALTIME) - mono;
        for (int e = 0; e < ready; e++) {
            struct client *c = &clients[events[e].data.u32];
            int start = c->tail_len;
            memcpy(buf, c->tail, (size_t)start);
            struct iovec iov = {.iov_base = buf + start, .iov_len = RECV_SIZE};
            struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
            if (kernel) {
                msg.msg_control = control;
                msg.msg_controllen = sizeof control;
            }
            ssize_t got = recvmsg(c->fd, &msg, 0);
            if (got < 0 && (errno == EAGAIN || errno == EINTR)) continue;
            if (got <= 0) {
                c->closed = 1;
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                continue;
            }
            read_time = clock_ns(CLOCK_MONOTONIC);
            int64_t arrival = kernel ? kernel_stamp(&msg) : -1;
            if (arrival >= 0) {
                arrival -= offset;
            } else {
                unstamped += kernel && measuring;
                arrival = read_time;
            }
            size_t len = (size_t)start + (size_t)got;
            size_t cut = scan(c, buf, len, measuring, arrival);
            c->tail_len = (int)(len - cut);
            memcpy(c->tail, buf + cut, (size_t)c->tail_len);
            shared[c->slot] = c->chat;
        }
        if (pause_us > 0) usleep((useconds_t)pause_us);
    }
    int64_t closed = 0;
    for (int k = 0; k < n; k++) closed += clients[k].closed;
    const char *out[3] = {(const char *)&closed, (const char *)&unstamped, (const char *)samples};
    size_t sizes[3] = {sizeof closed, sizeof unstamped, n_samples * sizeof *samples};
    for (int part = 0; part < 3; part++) {
        while (sizes[part] > 0) {
            ssize_t w = write(result_fd, out[part], sizes[part]);
            if (w < 0) { if (errno == EINTR) continue; perror("rx: write"); return 1; }
            out[part] += w;
            sizes[part] -= (size_t)w;
        }
    }
    return 0;
}
