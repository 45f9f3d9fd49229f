// The stack floor: Switchyard's inbound and outbound stack with no gateway logic, to measure what
// the stack costs by itself (bench/stack-floor builds and runs it; it is no part of the package).
//
// Same design as Switchyard (README "Architecture"): N event loops, each one thread in epoll_wait
// that owns a libmicrohttpd daemon (MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME, no thread of its
// own, accepting on a duplicate of the one listening socket) and a curl multi handle driven by
// curl_multi_socket_action on the same epoll set; timers are epoll_wait's timeout. The request
// body is posted to the provider's base_url with the client's path after /v1 (the upstream
// connection kept alive), the connection is suspended meanwhile and resumed when the answer is
// there: a plain answer whole (Content-Length), an event stream (text/event-stream) chunk by chunk
// as curl delivers it, through a chunked MHD response whose reader suspends while it has nothing;
// a stream that ended before its head went out goes as one response, as Switchyard does. No
// parsing, auth, routing, metrics or logs.
//
//   floor serve --config FILE [--log-level L]      reads `listen:`, the first `base_url:` and
//                                                  `event_loops:` from the YAML, by line scan
// FLOOR_LOOPS=N overrides the loop count (default: the CPUs the process may use, as Switchyard).
#define _GNU_SOURCE
#include <curl/curl.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

#define TAG_MHD 1ull
#define TAG_CURL 2ull

static char base_url[512];
static struct curl_slist *upstream_headers;

struct buf { char *p; size_t n, cap; };

static void buf_add(struct buf *b, const void *data, size_t n) {
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 1024;
        while (cap < b->n + n) cap *= 2;
        b->p = realloc(b->p, cap);
        b->cap = cap;
    }
    memcpy(b->p + b->n, data, n);
    b->n += n;
}

struct loop;

struct req {
    struct loop *loop;
    struct MHD_Connection *conn;
    CURL *easy;
    struct buf body;    // the client's request body
    struct buf answer;  // upstream bytes not yet handed to MHD
    size_t answer_off;
    int refs;           // MHD's request, the transfer, a stream response
    int started, done, suspended, head_queued, streaming, client_gone;
    long status;
};

struct loop {
    int epfd;
    struct MHD_Daemon *daemon;
    CURLM *multi;
    long long curl_deadline_ms;  // -1: none
    int mhd_needs_run;
    CURL *idle[64];              // easy handles kept with their options between transfers
    int nidle;
    char url_path[256];          // the one-entry URL cache (CURLOPT_CURLU)
    CURLU *url;
    pthread_t thread;
};

static long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void req_unref(struct req *r) {
    if (--r->refs > 0) return;
    free(r->body.p);
    free(r->answer.p);
    free(r);
}

static void resume(struct req *r) {
    if (r->suspended) {
        r->suspended = 0;
        MHD_resume_connection(r->conn);
        r->loop->mhd_needs_run = 1;
    }
}

static size_t on_write(char *data, size_t size, size_t n, void *cls) {
    struct req *r = cls;
    size_t len = size * n;
    if (r->client_gone) return len;
    if (!r->streaming && r->answer.n == 0 && !r->head_queued) {
        char *ct = NULL;
        curl_easy_getinfo(r->easy, CURLINFO_CONTENT_TYPE, &ct);
        r->streaming = ct != NULL && strncmp(ct, "text/event-stream", 17) == 0;
    }
    buf_add(&r->answer, data, len);
    if (r->streaming) resume(r);
    return len;
}

static CURL *easy_get(struct loop *l) {
    if (l->nidle > 0) return l->idle[--l->nidle];
    CURL *e = curl_easy_init();
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, upstream_headers);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    return e;
}

static void easy_put(struct loop *l, CURL *e) {
    if (l->nidle < 64) l->idle[l->nidle++] = e;
    else curl_easy_cleanup(e);
}

static void start_transfer(struct req *r, const char *path) {
    struct loop *l = r->loop;
    // The client's path after "/v1" appended to base_url (which ends in /v1), parsed once per path.
    const char *tail = strncmp(path, "/v1/", 4) == 0 ? path + 3 : path;
    if (l->url == NULL || strcmp(l->url_path, tail) != 0) {
        char text[1024];
        snprintf(text, sizeof text, "%s%s", base_url, tail);
        if (l->url) curl_url_cleanup(l->url);
        l->url = curl_url();
        curl_url_set(l->url, CURLUPART_URL, text, 0);
        snprintf(l->url_path, sizeof l->url_path, "%s", tail);
        for (int i = 0; i < l->nidle; i++) curl_easy_setopt(l->idle[i], CURLOPT_CURLU, l->url);
    }
    r->easy = easy_get(l);
    curl_easy_setopt(r->easy, CURLOPT_CURLU, l->url);
    curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(r->easy, CURLOPT_PRIVATE, r);
    curl_easy_setopt(r->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body.n);
    curl_easy_setopt(r->easy, CURLOPT_POSTFIELDS, r->body.p ? r->body.p : "");
    r->refs++;
    r->started = 1;
    curl_multi_add_handle(l->multi, r->easy);
}

static void finished(struct loop *l, CURL *easy, CURLcode code) {
    struct req *r = NULL;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&r);
    long status = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    curl_multi_remove_handle(l->multi, easy);
    easy_put(l, easy);
    r->easy = NULL;
    r->done = 1;
    r->status = code == CURLE_OK && status > 0 ? status : 502;
    if (!r->client_gone) resume(r);
    req_unref(r);
}

// MHD content reader for a stream: queued bytes, the end, or suspend until curl writes more.
static ssize_t stream_read(void *cls, uint64_t pos, char *out, size_t max) {
    (void)pos;
    struct req *r = cls;
    size_t avail = r->answer.n - r->answer_off;
    if (avail > 0) {
        size_t n = avail < max ? avail : max;
        memcpy(out, r->answer.p + r->answer_off, n);
        r->answer_off += n;
        if (r->answer_off == r->answer.n) r->answer.n = r->answer_off = 0;
        return (ssize_t)n;
    }
    if (r->done) return MHD_CONTENT_READER_END_OF_STREAM;
    r->suspended = 1;
    MHD_suspend_connection(r->conn);
    return 0;
}

static void stream_free(void *cls) { req_unref(cls); }

static enum MHD_Result queue(struct req *r, struct MHD_Response *resp, unsigned status, const char *ctype) {
    MHD_add_response_header(resp, "Content-Type", ctype);
    enum MHD_Result rc = MHD_queue_response(r->conn, status, resp);
    MHD_destroy_response(resp);
    r->head_queued = 1;
    return rc;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                 const char *version, const char *upload, size_t *upload_size, void **con_cls) {
    (void)method; (void)version;
    struct loop *l = cls;
    struct req *r = *con_cls;
    if (r == NULL) {
        r = calloc(1, sizeof *r);
        r->loop = l;
        r->conn = conn;
        r->refs = 1;
        *con_cls = r;
        return MHD_YES;
    }
    if (*upload_size > 0) {
        buf_add(&r->body, upload, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    if (!r->started) {
        start_transfer(r, url);
        r->suspended = 1;
        MHD_suspend_connection(conn);
        return MHD_YES;
    }
    if (r->head_queued) return MHD_YES;
    if (r->done && !r->streaming) {
        struct MHD_Response *resp =
            MHD_create_response_from_buffer(r->answer.n, r->answer.p, MHD_RESPMEM_MUST_FREE);
        r->answer.p = NULL; r->answer.n = r->answer.cap = 0;
        return queue(r, resp, (unsigned)r->status, "application/json");
    }
    if (r->done) {  // a stream that ended before its head went out: one response
        struct MHD_Response *resp =
            MHD_create_response_from_buffer(r->answer.n, r->answer.p, MHD_RESPMEM_MUST_FREE);
        r->answer.p = NULL; r->answer.n = r->answer.cap = 0;
        return queue(r, resp, 200, "text/event-stream");
    }
    if (r->streaming) {
        r->refs++;
        struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 8192, stream_read, r, stream_free);
        return queue(r, resp, 200, "text/event-stream");
    }
    r->suspended = 1;
    MHD_suspend_connection(conn);
    return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe) {
    (void)cls; (void)conn; (void)toe;
    struct req *r = *con_cls;
    if (r == NULL) return;
    *con_cls = NULL;
    r->client_gone = 1;
    r->suspended = 0;
    req_unref(r);
}

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *cls, void *socketp) {
    (void)easy;
    struct loop *l = cls;
    struct epoll_event ev = {0};
    ev.data.u64 = (TAG_CURL << 32) | (uint32_t)fd;
    if (what == CURL_POLL_REMOVE) {
        if (socketp) epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
        curl_multi_assign(l->multi, fd, NULL);
        return 0;
    }
    ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0) | (what & CURL_POLL_OUT ? EPOLLOUT : 0);
    if (epoll_ctl(l->epfd, socketp ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev) != 0 && errno == ENOENT)
        epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev);
    if (!socketp) curl_multi_assign(l->multi, fd, (void *)1);
    return 0;
}

static int on_timer(CURLM *multi, long ms, void *cls) {
    (void)multi;
    struct loop *l = cls;
    l->curl_deadline_ms = ms < 0 ? -1 : now_ms() + ms;
    return 0;
}

static void curl_act(struct loop *l, curl_socket_t fd, int mask) {
    int running, left;
    curl_multi_socket_action(l->multi, fd, mask, &running);
    CURLMsg *m;
    while ((m = curl_multi_info_read(l->multi, &left)) != NULL)
        if (m->msg == CURLMSG_DONE) finished(l, m->easy_handle, m->data.result);
}

static void *loop_main(void *arg) {
    struct loop *l = arg;
    struct epoll_event events[64];
    for (;;) {
        long long timeout = -1;
        MHD_UNSIGNED_LONG_LONG mhd_ms;
        if (MHD_get_timeout(l->daemon, &mhd_ms) == MHD_YES) timeout = (long long)mhd_ms;
        if (l->curl_deadline_ms >= 0) {
            long long c = l->curl_deadline_ms - now_ms();
            if (c < 0) c = 0;
            if (timeout < 0 || c < timeout) timeout = c;
        }
        int n = epoll_wait(l->epfd, events, 64, timeout > 86400000 ? 86400000 : (int)timeout);
        int run_mhd = 0;
        for (int i = 0; i < n; i++) {
            uint64_t tag = events[i].data.u64 >> 32;
            if (tag == TAG_MHD) {
                run_mhd = 1;
            } else {
                int mask = (events[i].events & EPOLLIN ? CURL_CSELECT_IN : 0) |
                           (events[i].events & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
                           (events[i].events & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
                curl_act(l, (curl_socket_t)(uint32_t)events[i].data.u64, mask);
            }
        }
        if (l->curl_deadline_ms >= 0 && l->curl_deadline_ms <= now_ms()) {
            l->curl_deadline_ms = -1;
            curl_act(l, CURL_SOCKET_TIMEOUT, 0);
        }
        if (run_mhd || l->mhd_needs_run || n == 0) {
            l->mhd_needs_run = 0;
            MHD_run(l->daemon);
        }
    }
    return NULL;
}

// The value after `key:` on the first line holding it (quotes, and a flow mapping's `,`/`}`, end it).
static int yaml_value(const char *path, const char *key, char *out, size_t cap) {
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char line[4096];
    size_t klen = strlen(key);
    int found = 0;
    while (!found && fgets(line, sizeof line, f)) {
        char *p = line;
        while ((p = strstr(p, key)) != NULL) {
            if ((p == line || strchr(" \t{,", p[-1])) && p[klen] == ':') break;
            p += klen;
        }
        if (!p) continue;
        p += klen + 1;
        while (*p == ' ' || *p == '\t') p++;
        char quote = (*p == '"' || *p == '\'') ? *p++ : 0;
        size_t n = 0;
        while (p[n] && p[n] != '\n' && (quote ? p[n] != quote : !strchr(",}# \t\r", p[n]))) n++;
        if (n >= cap) n = cap - 1;
        memcpy(out, p, n);
        out[n] = 0;
        found = 1;
    }
    fclose(f);
    return found;
}

int main(int argc, char **argv) {
    const char *config = NULL;
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) config = argv[++i];
    if (argc < 2 || strcmp(argv[1], "serve") != 0 || !config) {
        fprintf(stderr, "usage: floor serve --config FILE [--log-level L]\n");
        return 2;
    }
    char listen_text[256], loops_text[32] = "";
    if (!yaml_value(config, "listen", listen_text, sizeof listen_text) ||
        !yaml_value(config, "base_url", base_url, sizeof base_url)) {
        fprintf(stderr, "floor: %s needs listen: and base_url:\n", config);
        return 2;
    }
    yaml_value(config, "event_loops", loops_text, sizeof loops_text);
    char *colon = strrchr(listen_text, ':');
    if (!colon) { fprintf(stderr, "floor: listen: HOST:PORT\n"); return 2; }
    *colon = 0;
    int port = atoi(colon + 1);

    cpu_set_t set;
    int nloops = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
    if (loops_text[0]) nloops = atoi(loops_text);
    if (getenv("FLOOR_LOOPS")) nloops = atoi(getenv("FLOOR_LOOPS"));
    if (nloops < 1) nloops = 1;

    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    upstream_headers = curl_slist_append(NULL, "Content-Type: application/json");
    upstream_headers = curl_slist_append(upstream_headers, "Authorization: Bearer floor-upstream-key");
    upstream_headers = curl_slist_append(upstream_headers, "Expect:");

    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int on = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, listen_text, &sa.sin_addr) != 1 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        listen(fd, 4096) != 0) {
        perror("floor: bind/listen");
        return 1;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);

    struct loop *loops = calloc((size_t)nloops, sizeof *loops);
    for (int i = 0; i < nloops; i++) {
        struct loop *l = &loops[i];
        l->epfd = epoll_create1(EPOLL_CLOEXEC);
        l->curl_deadline_ms = -1;
        l->daemon = MHD_start_daemon(MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME, 0, NULL, NULL, on_access, l,
                                     MHD_OPTION_LISTEN_SOCKET, fcntl(fd, F_DUPFD_CLOEXEC, 0),
                                     MHD_OPTION_CONNECTION_LIMIT, 1024u,
                                     MHD_OPTION_CONNECTION_TIMEOUT, 60u,
                                     MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)32 * 1024,
                                     MHD_OPTION_NOTIFY_COMPLETED, on_completed, l,
                                     MHD_OPTION_END);
        if (!l->daemon) { fprintf(stderr, "floor: MHD_start_daemon failed\n"); return 1; }
        const union MHD_DaemonInfo *info = MHD_get_daemon_info(l->daemon, MHD_DAEMON_INFO_EPOLL_FD);
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = TAG_MHD << 32};
        epoll_ctl(l->epfd, EPOLL_CTL_ADD, info->epoll_fd, &ev);
        l->multi = curl_multi_init();
        curl_multi_setopt(l->multi, CURLMOPT_MAXCONNECTS, 1024L / nloops);
        curl_multi_setopt(l->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
        curl_multi_setopt(l->multi, CURLMOPT_SOCKETDATA, l);
        curl_multi_setopt(l->multi, CURLMOPT_TIMERFUNCTION, on_timer);
        curl_multi_setopt(l->multi, CURLMOPT_TIMERDATA, l);
    }
    for (int i = 1; i < nloops; i++) pthread_create(&loops[i].thread, NULL, loop_main, &loops[i]);
    loop_main(&loops[0]);
    return 0;
}
