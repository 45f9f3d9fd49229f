#ifndef SWITCHYARD_CMICROHTTPD_SHIM_H
#define SWITCHYARD_CMICROHTTPD_SHIM_H
#include <sys/types.h>
#include <sys/socket.h>
#include <stdint.h>
#include <microhttpd.h>
#endif
