#ifndef SWITCHYARD_CSQLITE_SHIM_H
#define SWITCHYARD_CSQLITE_SHIM_H
#include <sqlite3.h>

/* SQLITE_TRANSIENT is a cast macro Swift does not import: SQLite copies the bytes before
   the bind call returns, so Swift buffers may be temporary. */
static inline int sy_sqlite3_bind_text_transient(sqlite3_stmt *s, int i, const char *t, int n) {
    return sqlite3_bind_text(s, i, t, n, SQLITE_TRANSIENT);
}
static inline int sy_sqlite3_bind_blob_transient(sqlite3_stmt *s, int i, const void *b, int n) {
    return sqlite3_bind_blob(s, i, b, n, SQLITE_TRANSIENT);
}
/* sqlite3_db_config is variadic; this is its (int op, int value, int *out) form, e.g.
   SQLITE_DBCONFIG_DEFENSIVE. Returns SQLITE_OK or an error code. */
static inline int sy_sqlite3_db_config_int(sqlite3 *db, int op, int value) {
    int out = 0;
    return sqlite3_db_config(db, op, value, &out);
}
#endif
