#define _GNU_SOURCE
#include <sys/socket.h>
#include "CSwitchyardEdge.h"

int sy_accept(int fd, struct sockaddr *address, socklen_t *length)
{
    return accept4(fd, address, length, SOCK_NONBLOCK | SOCK_CLOEXEC);
}
