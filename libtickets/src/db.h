/*
 * Internal: the PostgreSQL connection of a tk_conn_t and its prepared
 * statements.  Never included by users of the library.
 */

#ifndef TK_DB_H
#define TK_DB_H

#include <libpq-fe.h>

#include "tickets.h"


/*
 * A statement is declared once, statically, where it is used; it is
 * prepared on a connection the first time it runs there.
 */
typedef struct {
    const char *name;
    const char *sql;
    int         nparams;
} tk__stmt_t;

#define TK__MAX_PREPARED  256

struct tk_conn_s {
    PGconn             *pg;
    PGcancel           *pgcancel;       /* of pg, made when it connects */
    tk_cancel_t        *cancel;         /* attached by the caller, or NULL */
    char               *conninfo;
    const tk__stmt_t   *prepared[TK__MAX_PREPARED];
    int                 nprepared;
    int                 in_tx;
    int                 begin_pending;  /* BEGIN goes with the next statement */
    const char         *begin_sql;      /* ... this BEGIN */
    int                 commit_next;    /* COMMIT goes with the next statement */
    int                 committed;      /* ... and it did */
    int64_t             list_count_limit;   /* 0: count every match */
    int64_t             search_count_limit; /* the same with a search */
    int                 unprepared;     /* tk_conn_set_prepared(c, 0) */
    int                 pooled;         /* ... as found out: the same */
    int                 tx_read_only;   /* the open transaction is */
    char                lsn[32];        /* of the last commit, or "" */
    /* a replica's state as last seen (tk_conn_replica_check) */
    uint64_t            replay_lsn;
    int64_t             lag_ms;
    int64_t             checked_ms;     /* when, monotonic; 0: never */
    int                 primary;        /* not in recovery */
    char                sqlstate[6];
    char                err[256];
    tk_conn_stats_t     stats;          /* tk_conn_stats() */
    /* mail.c: run by tk__write_commit in the write's transaction, before
     * its COMMIT (what a mail made is stored with the mail); NULL: none */
    int               (*precommit)(tk_conn_t *c, void *arg,
                                   tk_result_t *res);
    void               *precommit_arg;
};


/* cancel.c: the PGcancel the handle uses (NULL: none), under its lock */
void tk__cancel_attach(tk_cancel_t *cancel, PGcancel *pg);


/* Connects, or reconnects when the server went away.  TK_OK or
 * TK_EUNAVAIL. */
int tk__db_ready(tk_conn_t *c, tk_result_t *res);

/*
 * Runs a prepared statement with text parameters (NULL for SQL NULL).
 * Returns the result, or NULL with res filled: TK_EUNAVAIL when the
 * connection is lost, TK_EINTERNAL otherwise (the server's message kept in
 * res->message for the log, never for the client).
 */
PGresult *tk__exec(tk_conn_t *c, const tk__stmt_t *st, const char *const *v,
    tk_result_t *res);
/* the same with binary parameters where formats[i] is 1 */
PGresult *tk__execb(tk_conn_t *c, const tk__stmt_t *st, const char *const *v,
    const int *lengths, const int *formats, tk_result_t *res);
/* the same, sent with its text and not kept prepared: for statements too
 * many or too rare to keep (also when the connection's table is full) */
PGresult *tk__exec_unprepared(tk_conn_t *c, const tk__stmt_t *st,
    const char *const *v, tk_result_t *res);
/* the SQLSTATE of the last failed tk__exec on this connection, or "" */
const char *tk__sqlstate(const tk_conn_t *c);

/* Plain commands (BEGIN, COMMIT, ...): TK_OK or an error in res. */
int tk__cmd(tk_conn_t *c, const char *sql, tk_result_t *res);
int tk__begin(tk_conn_t *c, tk_result_t *res);
int tk__commit(tk_conn_t *c, tk_result_t *res);
/*
 * Round trips saved: tk__begin_deferred opens the transaction with the
 * next statement (both sent at once, in a libpq pipeline), and after
 * tk__commit_next the next statement is sent with its COMMIT; tk__commit
 * then has nothing left to do.  A statement that fails leaves the
 * transaction open (and aborted) as ever, for tk__rollback.
 */
int tk__begin_deferred(tk_conn_t *c, tk_result_t *res);
/* the same for reads that must see one snapshot: REPEATABLE READ, READ
 * ONLY */
int tk__begin_snapshot_deferred(tk_conn_t *c, tk_result_t *res);
void tk__commit_next(tk_conn_t *c);
/* rolls back an open transaction, if any; keeps res as it is */
void tk__rollback(tk_conn_t *c);

/* Value of row 0 column col, NULL when SQL NULL or no row */
const char *tk__val(const PGresult *r, int row, int col);

/*
 * Moves a one-row, one-column text result (JSON built by the server) into
 * res->body.  TK_ENOTFOUND when there is no row or it is NULL.
 */
int tk__take_body(PGresult *r, tk_result_t *res);


#endif /* TK_DB_H */
