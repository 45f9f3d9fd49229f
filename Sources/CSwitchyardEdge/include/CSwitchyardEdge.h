#ifndef SWITCHYARD_CSWITCHYARDEDGE_H
#define SWITCHYARD_CSWITCHYARDEDGE_H
#include <sys/types.h>
#include <sys/socket.h>
#include <stdint.h>
#include <stddef.h>
#include <sys/epoll.h>
#include <microhttpd.h>

// The edge's own C: libmicrohttpd hooks the library has no option for (mhd_hooks.c) and typed
// epoll wrappers (Swift's Glibc module does not include sys/epoll.h, and epoll_event is packed).

/// Builds the answer that replaces one of libmicrohttpd's own error pages (status 400, 413, 414,
/// 431, 500, 505), or returns NULL to let MHD send its own. The caller queues and destroys it.
/// A builder that wrote the whole answer to the socket itself sets `*answered` to 1 (and returns
/// NULL): the call then fails, and MHD closes the connection without writing anything more.
typedef struct MHD_Response *(*sy_mhd_error_page_builder)(struct MHD_Connection *connection, unsigned int status,
                                                          int *answered);

/// Installs the builder for the whole process (MHD's error pages are not per daemon; the builder
/// finds its server through the connection). Safe to call again with the same function.
void sy_mhd_set_error_page_builder(sy_mhd_error_page_builder builder);

/// libmicrohttpd's own MHD_queue_response, bypassing the replacement: our answers go through this.
enum MHD_Result sy_mhd_queue_response(struct MHD_Connection *connection, unsigned int status,
                                      struct MHD_Response *response);

/// 1 when libmicrohttpd's internal calls reach our MHD_queue_response (error pages get replaced),
/// 0 when they do not (a libmicrohttpd built with -Bsymbolic, or an executable that does not
/// export the symbol): checked once by calling through the library's own symbol lookup.
int sy_mhd_error_pages_replaced(void);

/// 1 when a request head hides bytes behind a NUL: MHD parses header lines as C strings, so
/// `Authorization: Bearer KEY\0junk` reaches the application as `Bearer KEY`. Call from the
/// access handler's first call for a request; `method` and `version` are the pointers MHD passed.
int sy_mhd_head_hides_bytes(struct MHD_Connection *connection, const char *method, const char *version);

/// Watches `fd` for the peer closing or resetting the connection (EPOLLRDHUP, and the implied
/// EPOLLHUP/EPOLLERR), edge-triggered, without EPOLLIN: data arriving does not wake the watcher.
/// accept4 with SOCK_NONBLOCK | SOCK_CLOEXEC (accept4 needs _GNU_SOURCE, which Swift's Glibc
/// module is not built with; accept.c is).
int sy_accept(int fd, struct sockaddr *address, socklen_t *length);

static inline int sy_epoll_watch_hangup(int epfd, int fd, uint64_t id)
{
    struct epoll_event event = { .events = EPOLLRDHUP | EPOLLET, .data = { .u64 = id } };
    return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &event);
}

/// Watches `fd` for input, level-triggered (the watcher's wake-up pipe).
static inline int sy_epoll_watch_input(int epfd, int fd, uint64_t id)
{
    struct epoll_event event = { .events = EPOLLIN, .data = { .u64 = id } };
    return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &event);
}

static inline int sy_epoll_unwatch(int epfd, int fd)
{
    struct epoll_event unused = { 0 };
    return epoll_ctl(epfd, EPOLL_CTL_DEL, fd, &unused);
}

/// epoll_wait returning only the ids of ready descriptors; -1 with errno on failure.
static inline int sy_epoll_wait_ids(int epfd, uint64_t *ids, int max, int timeout_ms)
{
    struct epoll_event events[64];
    if (max > 64) max = 64;
    int n = epoll_wait(epfd, events, max, timeout_ms);
    for (int i = 0; i < n; i++) ids[i] = events[i].data.u64;
    return n;
}

static inline int sy_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }

#endif
