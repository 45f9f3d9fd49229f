#ifndef SWITCHYARD_CMICROHTTPD_SHIM_H
#define SWITCHYARD_CMICROHTTPD_SHIM_H
#include <sys/types.h>
#include <sys/socket.h>
#include <stdint.h>
#include <stddef.h>
#include <microhttpd.h>

/// Signature of MHD_OPTION_URI_LOG_CALLBACK (the header only documents it in prose).
typedef void *(*sy_mhd_uri_log_callback)(void *cls, const char *uri, struct MHD_Connection *connection);

/// Typed wrapper for the variadic MHD_start_daemon: builds an MHD_OPTION_ARRAY.
/// The daemon has no listening socket of its own (MHD_USE_NO_LISTEN_SOCKET is added to `flags`):
/// its connections come from MHD_add_connection. `thread_pool_size` <= 1 means a single internal
/// polling thread. `accept_policy` runs before a new connection is set up (MHD_NO closes it);
/// `notify_connection` runs when one starts and ends (MHD_OPTION_NOTIFY_CONNECTION), before MHD
/// closes its socket.
static inline struct MHD_Daemon *sy_mhd_start_daemon(
    unsigned int flags, unsigned int connection_limit, unsigned int timeout_seconds,
    size_t memory_limit, unsigned int thread_pool_size,
    MHD_AcceptPolicyCallback accept_policy, void *accept_policy_cls,
    MHD_AccessHandlerCallback access_handler, void *access_cls,
    MHD_RequestCompletedCallback completed, void *completed_cls,
    sy_mhd_uri_log_callback uri_log, void *uri_log_cls,
    MHD_NotifyConnectionCallback notify_connection, void *notify_connection_cls)
{
    struct MHD_OptionItem ops[] = {
        { MHD_OPTION_CONNECTION_LIMIT, (intptr_t)connection_limit, NULL },
        { MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t)timeout_seconds, NULL },
        { MHD_OPTION_CONNECTION_MEMORY_LIMIT, (intptr_t)memory_limit, NULL },
        { MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)completed, completed_cls },
        { MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)uri_log, uri_log_cls },
        { MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)notify_connection, notify_connection_cls },
        { thread_pool_size > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END, (intptr_t)thread_pool_size, NULL },
        { MHD_OPTION_END, 0, NULL },
    };
    return MHD_start_daemon(flags | MHD_USE_NO_LISTEN_SOCKET, 0, accept_policy, accept_policy_cls, access_handler, access_cls,
                            MHD_OPTION_ARRAY, ops, MHD_OPTION_END);
}

/// The pointer stored in `*socket_context` by the connection-notify callback, or NULL.
static inline void *sy_mhd_connection_socket_context(struct MHD_Connection *connection)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(connection, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return info == NULL ? NULL : info->socket_context;
}

/// The peer's address (MHD_CONNECTION_INFO_CLIENT_ADDRESS), or NULL.
static inline const struct sockaddr *sy_mhd_connection_peer(struct MHD_Connection *connection)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    return info == NULL ? NULL : info->client_addr;
}

/// The connection's socket (MHD_get_connection_info is variadic, Swift cannot call it), or -1.
static inline int sy_mhd_connection_fd(struct MHD_Connection *connection)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
    return info == NULL ? -1 : info->connect_fd;
}

/// The daemon's own epoll descriptor (MHD_USE_EPOLL without an internal thread), or -1.
/// MHD_get_daemon_info is variadic. The event loop watches this descriptor and calls MHD_run.
static inline int sy_mhd_epoll_fd(struct MHD_Daemon *daemon)
{
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_EPOLL_FD);
    return info == NULL ? -1 : info->epoll_fd;
}

/// MHD_SIZE_UNKNOWN is a macro Swift does not import.
static inline uint64_t sy_mhd_size_unknown(void) { return MHD_SIZE_UNKNOWN; }
/// MHD_CONTENT_READER_END_OF_STREAM: regular end of a streamed body (terminating chunk follows).
static inline ssize_t sy_mhd_reader_end_of_stream(void) { return MHD_CONTENT_READER_END_OF_STREAM; }
/// MHD_CONTENT_READER_END_WITH_ERROR: abort the response and close the connection.
static inline ssize_t sy_mhd_reader_end_with_error(void) { return MHD_CONTENT_READER_END_WITH_ERROR; }

#endif
