#ifndef SWITCHYARD_CPOSTGRES_SHIM_H
#define SWITCHYARD_CPOSTGRES_SHIM_H
#include <libpq-fe.h>

/* PG_DIAG_SQLSTATE is a macro of postgres_ext.h ('C'); named here so Swift code need not spell
   the character. */
static inline const char *sy_pq_sqlstate(const PGresult *result) {
    return PQresultErrorField(result, PG_DIAG_SQLSTATE);
}
#endif
