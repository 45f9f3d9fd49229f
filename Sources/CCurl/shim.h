#ifndef SWITCHYARD_CCURL_SHIM_H
#define SWITCHYARD_CCURL_SHIM_H
#include <curl/curl.h>

/* curl_easy_setopt, curl_easy_getinfo and curl_multi_setopt are variadic with no va_list
   twin; Swift cannot call them, so each argument type gets one typed wrapper. */
static inline CURLcode sy_curl_setopt_long(CURL *h, CURLoption o, long v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode sy_curl_setopt_ptr(CURL *h, CURLoption o, void *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode sy_curl_setopt_str(CURL *h, CURLoption o, const char *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode sy_curl_setopt_off(CURL *h, CURLoption o, curl_off_t v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode sy_curl_setopt_slist(CURL *h, CURLoption o, struct curl_slist *v) { return curl_easy_setopt(h, o, v); }
typedef size_t (*sy_curl_data_cb)(char *ptr, size_t size, size_t nmemb, void *userdata);
static inline CURLcode sy_curl_setopt_datacb(CURL *h, CURLoption o, sy_curl_data_cb v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode sy_curl_getinfo_long(CURL *h, CURLINFO i, long *v) { return curl_easy_getinfo(h, i, v); }
static inline CURLcode sy_curl_getinfo_ptr(CURL *h, CURLINFO i, void **v) { return curl_easy_getinfo(h, i, v); }
static inline CURLcode sy_curl_getinfo_double(CURL *h, CURLINFO i, double *v) { return curl_easy_getinfo(h, i, v); }
static inline CURLMcode sy_curl_multi_setopt_long(CURLM *m, CURLMoption o, long v) { return curl_multi_setopt(m, o, v); }
static inline CURLMcode sy_curl_multi_setopt_ptr(CURLM *m, CURLMoption o, void *v) { return curl_multi_setopt(m, o, v); }
typedef int (*sy_curl_prereq_cb)(void *clientp, char *primary_ip, char *local_ip, int primary_port, int local_port);
static inline CURLcode sy_curl_setopt_prereqcb(CURL *h, CURLoption o, sy_curl_prereq_cb v) { return curl_easy_setopt(h, o, v); }

/* The multi_socket interface: curl tells the event loop which sockets to watch and when to call
   back (CURLMOPT_SOCKETFUNCTION, CURLMOPT_TIMERFUNCTION); curl_multi_setopt is variadic. */
typedef int (*sy_curl_socket_cb)(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp);
typedef int (*sy_curl_timer_cb)(CURLM *multi, long timeout_ms, void *userp);
static inline CURLMcode sy_curl_multi_setopt_socketcb(CURLM *m, sy_curl_socket_cb f) { return curl_multi_setopt(m, CURLMOPT_SOCKETFUNCTION, f); }
static inline CURLMcode sy_curl_multi_setopt_timercb(CURLM *m, sy_curl_timer_cb f) { return curl_multi_setopt(m, CURLMOPT_TIMERFUNCTION, f); }
static inline curl_socket_t sy_curl_socket_timeout(void) { return CURL_SOCKET_TIMEOUT; }
/* Connection sockets: curl opens and closes them through these (CURLOPT_OPENSOCKETFUNCTION,
   CURLOPT_CLOSESOCKETFUNCTION), so the loop knows each descriptor's lifetime. */
typedef curl_socket_t (*sy_curl_opensocket_cb)(void *clientp, curlsocktype purpose, struct curl_sockaddr *address);
typedef int (*sy_curl_closesocket_cb)(void *clientp, curl_socket_t item);
static inline CURLcode sy_curl_setopt_opensocketcb(CURL *h, sy_curl_opensocket_cb f) { return curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, f); }
static inline CURLcode sy_curl_setopt_closesocketcb(CURL *h, sy_curl_closesocket_cb f) { return curl_easy_setopt(h, CURLOPT_CLOSESOCKETFUNCTION, f); }

/* A URL parsed with the flags curl uses for CURLOPT_URL (lib/url.c, parseurlandfillconn), so a
   handle given it as CURLOPT_CURLU behaves as if curl had parsed the same text itself. */
static inline CURLUcode sy_curl_url_parse(CURLU *u, const char *url) {
    return curl_url_set(u, CURLUPART_URL, url, CURLU_GUESS_SCHEME | CURLU_NON_SUPPORT_SCHEME);
}

/* Macros with casts or or-ed flags do not import into Swift. */
static inline CURLcode sy_curl_global_init_default(void) { return curl_global_init(CURL_GLOBAL_DEFAULT); }
static inline size_t sy_curl_readfunc_abort(void) { return CURL_READFUNC_ABORT; }
static inline int sy_curl_prereqfunc_ok(void) { return CURL_PREREQFUNC_OK; }
static inline int sy_curl_prereqfunc_abort(void) { return CURL_PREREQFUNC_ABORT; }
static inline long sy_curl_error_size(void) { return CURL_ERROR_SIZE; }

/* CURLMsg.data is an anonymous union; read the result code without touching it from Swift. */
static inline CURLcode sy_curl_msg_result(const CURLMsg *m) { return m->data.result; }
#endif
