// The smallest proxy that still is one: for bench/c1-placement, which asks why a proxy's CPU per
// request costs more than itself at c=1 on a small VM. One thread, one epoll set (level-triggered),
// blocking sends of small messages; each client connection gets its own kept-alive upstream
// connection, and each request (headers up to the blank line, then Content-Length bytes) goes to it
// as it came; each answer (the same framing) goes back as it came. No chunked bodies, no pipelining,
// no error pages: it serves wrk and the canned nginx upstream, nothing else.
//
//   mini LISTEN_PORT UPSTREAM_PORT
// MINI_BEFORE_US=N busy-waits N µs after a request arrives, before it is sent upstream (work a
// proxy does first: parse, route, encode); MINI_AFTER_US=N busy-waits N µs after an answer has gone
// back to the client (work a proxy can leave for later: logs, metrics, freeing).
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct side { int fd; char buf[65536]; size_t n; };
struct pair { struct side client, upstream; int closed; struct pair *next_closed; };
// epoll data: the pair's address, its low bit set for the upstream side (NULL: the listener).

static struct pair *closed_pairs;  // closed in this batch of events, freed after it

static int before_us, after_us, upstream_port;

static void work(int us) {
    if (us <= 0) return;
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    long long end = t.tv_sec * 1000000000LL + t.tv_nsec + us * 1000LL;
    do clock_gettime(CLOCK_MONOTONIC, &t); while (t.tv_sec * 1000000000LL + t.tv_nsec < end);
}

// Length of the first whole message in b (headers and Content-Length body), or 0.
static size_t message_length(const char *b, size_t n) {
    const char *end = memmem(b, n, "\r\n\r\n", 4);
    if (!end) return 0;
    size_t head = (size_t)(end - b) + 4, body = 0;
    for (const char *p = b; p && p < end; p = memchr(p, '\n', (size_t)(end - p))) {
        if (*p == '\n') p++;
        if (strncasecmp(p, "Content-Length:", 15) == 0) body = strtoul(p + 15, NULL, 10);
    }
    return n >= head + body ? head + body : 0;
}

static void send_all(int fd, const char *b, size_t n) {
    while (n > 0) {
        ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
        if (w <= 0) return;
        b += w; n -= (size_t)w;
    }
}

static void close_pair(int ep, struct pair *p) {
    if (p->closed) return;
    epoll_ctl(ep, EPOLL_CTL_DEL, p->client.fd, NULL);
    epoll_ctl(ep, EPOLL_CTL_DEL, p->upstream.fd, NULL);
    close(p->client.fd);
    close(p->upstream.fd);
    p->closed = 1;
    p->next_closed = closed_pairs;
    closed_pairs = p;
}

static void on_readable(int ep, struct pair *p, struct side *s) {
    ssize_t r = recv(s->fd, s->buf + s->n, sizeof s->buf - s->n, 0);
    if (r <= 0) { close_pair(ep, p); return; }
    s->n += (size_t)r;
    size_t len;
    while ((len = message_length(s->buf, s->n)) > 0) {
        if (s == &p->client) {
            work(before_us);
            send_all(p->upstream.fd, s->buf, len);
        } else {
            send_all(p->client.fd, s->buf, len);
            work(after_us);
        }
        memmove(s->buf, s->buf + len, s->n - len);
        s->n -= len;
    }
    if (s->n == sizeof s->buf) close_pair(ep, p);  // a message larger than the buffer: not for this tool
}

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: mini LISTEN_PORT UPSTREAM_PORT\n"); return 2; }
    before_us = getenv("MINI_BEFORE_US") ? atoi(getenv("MINI_BEFORE_US")) : 0;
    after_us = getenv("MINI_AFTER_US") ? atoi(getenv("MINI_AFTER_US")) : 0;
    upstream_port = atoi(argv[2]);
    int on = 1, ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1]))};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (bind(ls, (struct sockaddr *)&a, sizeof a) != 0 || listen(ls, 1024) != 0) { perror("mini: listen"); return 1; }
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
    for (;;) {
        struct epoll_event evs[64];
        int n = epoll_wait(ep, evs, 64, -1);
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr == NULL) {
                int c = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
                if (c < 0) continue;
                struct sockaddr_in u = a;
                u.sin_port = htons((uint16_t)upstream_port);
                int up = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
                if (connect(up, (struct sockaddr *)&u, sizeof u) != 0) { close(c); close(up); continue; }
                setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
                setsockopt(up, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
                struct pair *p = calloc(1, sizeof *p);
                p->client.fd = c;
                p->upstream.fd = up;
                ev.data.u64 = (uintptr_t)p;
                epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
                ev.data.u64 = (uintptr_t)p | 1;
                epoll_ctl(ep, EPOLL_CTL_ADD, up, &ev);
                continue;
            }
            struct pair *p = (struct pair *)(uintptr_t)(evs[i].data.u64 & ~(uint64_t)1);
            if (!p->closed) on_readable(ep, p, evs[i].data.u64 & 1 ? &p->upstream : &p->client);
        }
        while (closed_pairs) {
            struct pair *next = closed_pairs->next_closed;
            free(closed_pairs);
            closed_pairs = next;
        }
    }
}
