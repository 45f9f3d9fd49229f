// Two things libmicrohttpd 0.9.75 does not let an application do, done from outside it.
//
// 1. Its own error pages. On a request it cannot parse (a malformed request line or header, an
//    unsupported HTTP version, a head larger than the connection's memory, a bad Content-Length
//    or chunk size) MHD answers by itself with a fixed HTML page (transmit_error_response_len in
//    connection.c), and offers no option to change it. It queues that page through its public
//    MHD_queue_response, which the library calls through its PLT (readelf -r shows a JUMP_SLOT
//    relocation for it), so a definition in the executable takes precedence for the library's own
//    calls as well. The definition below forwards every call to the library's function, except
//    that a call from inside the library with an error status gets the answer the installed builder
//    makes (the OpenAI error envelope) instead of the HTML. Our own answers never reach it: the edge
//    queues them through sy_mhd_queue_response, which calls the library's function directly.
//    sy_mhd_error_pages_replaced() says whether the interposition is in effect; the edge tests
//    check every error page MHD can emit.
//
// 2. Bytes hidden behind a NUL in a header line. MHD parses header lines in place as C strings, so
//    the part of a value after a NUL is never seen (`Bearer KEY\0junk` arrives as `Bearer KEY`).
//    RFC 9110 section 5.5 requires a recipient to reject such a field or replace the NUL. MHD
//    leaves the head in its read buffer, each field's value followed by the one or two NUL bytes it
//    wrote over the line's LF or CR LF and then the next field's name (after the last field, the
//    empty line's one or two more). A value cut short by a NUL leaves the rest of its line there
//    instead: a byte that is not NUL, or more NULs than line ends account for, which
//    sy_mhd_head_hides_bytes looks for. A line end is one byte or two; the request line's (between
//    the version and the first field name) tells which this client uses. (MHD does not trim a
//    value's trailing whitespace, so nothing else lies between a value and the line end.)
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdatomic.h>
#include <string.h>
#include "CSwitchyardEdge.h"

typedef enum MHD_Result (*queue_response_fn)(struct MHD_Connection *, unsigned int, struct MHD_Response *);

static _Atomic(sy_mhd_error_page_builder) error_page_builder;
static _Atomic(queue_response_fn) library_queue_response;

// The library's own MHD_queue_response: found through an address inside libmicrohttpd (a function
// we do not define), so the lookup cannot land on the definition below whatever the load order.
static queue_response_fn library_function(void)
{
    queue_response_fn fn = atomic_load_explicit(&library_queue_response, memory_order_acquire);
    if (fn != NULL) return fn;
    Dl_info info;
    if (dladdr((void *)&MHD_create_response_from_buffer, &info) != 0 && info.dli_fname != NULL) {
        void *library = dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD);
        if (library != NULL) {
            fn = (queue_response_fn)dlsym(library, "MHD_queue_response");
            dlclose(library);  // RTLD_NOLOAD took a reference; the library stays loaded
        }
    }
    if (fn == NULL || fn == &MHD_queue_response) fn = (queue_response_fn)dlsym(RTLD_NEXT, "MHD_queue_response");
    atomic_store_explicit(&library_queue_response, fn, memory_order_release);
    return fn;
}

enum MHD_Result MHD_queue_response(struct MHD_Connection *connection, unsigned int status_code,
                                   struct MHD_Response *response)
{
    queue_response_fn library = library_function();
    if (library == NULL) return MHD_NO;
    sy_mhd_error_page_builder builder = atomic_load_explicit(&error_page_builder, memory_order_acquire);
    if (builder != NULL && status_code >= 400) {
        int answered = 0;
        struct MHD_Response *replacement = builder(connection, status_code, &answered);
        if (answered) return MHD_NO;  // transmit_error_response_len then closes the connection
        if (replacement != NULL) {
            enum MHD_Result result = library(connection, status_code, replacement);
            MHD_destroy_response(replacement);  // the queued response holds its own reference
            return result;
        }
    }
    return library(connection, status_code, response);
}

void sy_mhd_set_error_page_builder(sy_mhd_error_page_builder builder)
{
    atomic_store_explicit(&error_page_builder, builder, memory_order_release);
}

enum MHD_Result sy_mhd_queue_response(struct MHD_Connection *connection, unsigned int status,
                                      struct MHD_Response *response)
{
    queue_response_fn library = library_function();
    return library == NULL ? MHD_NO : library(connection, status, response);
}

int sy_mhd_error_pages_replaced(void)
{
    // The dynamic linker binds the library's PLT slot to the first definition in the global
    // scope; if that is ours, the library's own calls come here.
    return dlsym(RTLD_DEFAULT, "MHD_queue_response") == (void *)&MHD_queue_response;
}

struct head_scan {
    const char *start;  // the request line
    const char *end;    // one past the head's last byte (its final CR LF)
    const char *gap;    // where the previous value (or the version) ended, or NULL
    long line_end;      // bytes in this client's line end: 1 (LF) or 2 (CR LF); 0 until known
    int hidden;
};

// Bytes from `from` up to `to` must be what MHD wrote over line ends: at most `most` NULs.
static int only_line_ends(const char *from, const char *to, long most)
{
    if (to - from > most) return 0;
    for (const char *p = from; p < to; p++)
        if (*p != '\0') return 0;
    return 1;
}

static enum MHD_Result scan_field(void *cls, enum MHD_ValueKind kind, const char *key, size_t key_size,
                                  const char *value, size_t value_size)
{
    (void)kind;
    (void)key_size;
    struct head_scan *scan = cls;
    // Only fields parsed in place are compared; one MHD moved (an obs-fold continuation joined
    // into a new buffer) is skipped rather than misread.
    if (scan->gap != NULL && key >= scan->gap && key < scan->end) {
        if (scan->line_end == 0) {
            long after_version = key - scan->gap;
            scan->line_end = after_version == 1 ? 1 : 2;
        }
        if (!only_line_ends(scan->gap, key, scan->line_end)) {
            scan->hidden = 1;
            return MHD_NO;
        }
    }
    scan->gap = NULL;
    if (value != NULL && value >= scan->start && value + value_size <= scan->end) scan->gap = value + value_size;
    return MHD_YES;
}

int sy_mhd_head_hides_bytes(struct MHD_Connection *connection, const char *method, const char *version)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(connection, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
    if (info == NULL || method == NULL) return 0;
    struct head_scan scan = { method, method + info->header_size, NULL, 0, 0 };
    if (version != NULL && version >= scan.start && version < scan.end) scan.gap = version + strlen(version);
    MHD_get_connection_values_n(connection, MHD_HEADER_KIND, scan_field, &scan);
    if (scan.hidden) return 1;
    // After the last field: its line end and the empty line's.
    long line_end = scan.line_end == 0 ? 2 : scan.line_end;
    if (scan.gap != NULL && scan.gap <= scan.end && !only_line_ends(scan.gap, scan.end, 2 * line_end)) return 1;
    return 0;
}
