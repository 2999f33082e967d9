/*
 * Connections: lazy connect, reconnect after the server went away,
 * statements prepared once per connection, and a transaction's BEGIN and
 * COMMIT sent with its first and last statements (libpq pipeline mode).
 */

#include <ctype.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db.h"
#include "result.h"


static int tk__begin_deferred_as(tk_conn_t *c, const char *begin,
    tk_result_t *res);
static void tk__keep_lsn(tk_conn_t *c, const PGresult *r);


/*
 * Where the WAL ends after a commit: at or past the commit record, also
 * with synchronous_commit off (the insert position, not the flush one);
 * NULL on a standby.
 */
#define TK__LSN_SQL                                                        \
    "SELECT CASE WHEN NOT pg_is_in_recovery()"                             \
    " THEN pg_current_wal_insert_lsn()::text END"


static void
tk__keep_lsn(tk_conn_t *c, const PGresult *r)
{
    const char  *v;

    v = tk__val(r, 0, 0);
    if (v != NULL && strlen(v) < sizeof(c->lsn)) {
        memcpy(c->lsn, v, strlen(v) + 1);
    }
}


/* The time spent waiting on the server, for tk_conn_stats(). */
static uint64_t
tk__now_ns(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}


static void
tk__waited(tk_conn_t *c, uint64_t since)
{
    c->stats.db_ns += tk__now_ns() - since;
    c->stats.round_trips++;
}


static void
tk__count_error(tk_conn_t *c, const char *sqlstate)
{
    c->stats.errors++;
    snprintf(c->stats.sqlstate, sizeof(c->stats.sqlstate), "%s", sqlstate);
}


int
tk_conn_open(tk_conn_t **conn, const char *conninfo)
{
    tk_conn_t  *c;

    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return TK_ENOMEM;
    }

    c->conninfo = strdup(conninfo != NULL ? conninfo : "");
    if (c->conninfo == NULL) {
        free(c);
        return TK_ENOMEM;
    }

    c->list_count_limit = TK_LIST_COUNT_LIMIT;
    c->search_count_limit = TK_SEARCH_COUNT_LIMIT;

    *conn = c;
    return TK_OK;
}


void
tk_conn_close(tk_conn_t *c)
{
    if (c == NULL) {
        return;
    }

    tk_conn_set_cancel(c, NULL);

    if (c->pgcancel != NULL) {
        PQfreeCancel(c->pgcancel);
    }

    if (c->pg != NULL) {
        PQfinish(c->pg);
    }

    free(c->conninfo);
    free(c);
}


const char *
tk_conn_error(const tk_conn_t *c)
{
    return c->err;
}


void
tk_conn_stats(const tk_conn_t *c, tk_conn_stats_t *stats)
{
    *stats = c->stats;
}


static void
tk__db_drop(tk_conn_t *c)
{
    if (c->pgcancel != NULL) {
        if (c->cancel != NULL) {
            tk__cancel_attach(c->cancel, NULL);
        }

        PQfreeCancel(c->pgcancel);
        c->pgcancel = NULL;
    }

    if (c->pg != NULL) {
        PQfinish(c->pg);
        c->pg = NULL;
    }

    c->nprepared = 0;
    c->in_tx = 0;
    c->begin_pending = 0;
    c->commit_next = 0;
    c->committed = 0;
    c->tx_read_only = 0;
    c->checked_ms = 0;
    c->replay_lsn = 0;
}


/*
 * A server that shut down (a restart, a failover) has sent its goodbye and
 * closed the socket: notice it before sending anything, so the request
 * that comes after the restart succeeds instead of failing once per pool
 * thread.  An idle connection has nothing to say otherwise (no LISTEN), so
 * anything readable means it is going away.
 */
static int
tk__db_alive(tk_conn_t *c)
{
    struct pollfd  pfd;

    if (PQstatus(c->pg) != CONNECTION_OK) {
        return 0;
    }

    pfd.fd = PQsocket(c->pg);
    pfd.events = POLLIN;
    pfd.revents = 0;

    if (pfd.fd < 0) {
        return 0;
    }

    return poll(&pfd, 1, 0) == 0;
}


/* libpq prints notices on stderr by default; a library does not print */
static void
tk__db_notice(void *arg, const char *message)
{
}


/*
 * What a connection gets unless its conninfo says otherwise: a failover
 * or a dead host is noticed in seconds, never waited out (docs/scale.md).
 * keepalives and tcp_user_timeout only matter over TCP.
 */
static const char  *tk__conn_defaults[][2] = {
    { "connect_timeout", "5" },
    { "application_name", "ngx_tickets" },
    { "keepalives", "1" },
    { "keepalives_idle", "10" },
    { "keepalives_interval", "5" },
    { "keepalives_count", "3" },
    { "tcp_user_timeout", "10000" },
};

#define TK__NDEFAULTS \
    (sizeof(tk__conn_defaults) / sizeof(tk__conn_defaults[0]))


int
tk_conninfo_check(const char *conninfo, char *err, size_t errlen)
{
    char               *msg;
    PQconninfoOption   *opts;

    msg = NULL;
    opts = PQconninfoParse(conninfo != NULL ? conninfo : "", &msg);

    if (opts == NULL) {
        snprintf(err, errlen, "%s", msg != NULL ? msg : "out of memory");
        if (msg != NULL) {
            PQfreemem(msg);
        }
        return msg != NULL ? TK_EINVAL : TK_ENOMEM;
    }

    PQconninfoFree(opts);
    return TK_OK;
}


/*
 * The conninfo (a keyword string or a URI, several hosts and all) with the
 * defaults it does not set, connected to.
 */
static PGconn *
tk__db_connect(tk_conn_t *c)
{
    int                 n, i, set;
    char               *msg;
    size_t              k;
    PGconn             *pg;
    const char        **keys, **vals;
    PQconninfoOption   *opts, *o;

    msg = NULL;
    opts = PQconninfoParse(c->conninfo, &msg);
    if (opts == NULL) {
        snprintf(c->err, sizeof(c->err), "invalid conninfo: %s",
                 msg != NULL ? msg : "out of memory");
        if (msg != NULL) {
            PQfreemem(msg);
        }
        return NULL;
    }

    n = 0;
    for (o = opts; o->keyword != NULL; o++) {
        n++;
    }

    keys = calloc(n + TK__NDEFAULTS + 1, sizeof(char *));
    vals = calloc(n + TK__NDEFAULTS + 1, sizeof(char *));
    if (keys == NULL || vals == NULL) {
        free(keys);
        free(vals);
        PQconninfoFree(opts);
        snprintf(c->err, sizeof(c->err), "out of memory");
        return NULL;
    }

    i = 0;
    for (o = opts; o->keyword != NULL; o++) {
        if (o->val != NULL) {
            keys[i] = o->keyword;
            vals[i] = o->val;
            i++;
        }
    }

    for (k = 0; k < TK__NDEFAULTS; k++) {
        set = 0;
        for (n = 0; n < i; n++) {
            if (strcmp(keys[n], tk__conn_defaults[k][0]) == 0) {
                set = 1;
                break;
            }
        }

        if (!set) {
            keys[i] = tk__conn_defaults[k][0];
            vals[i] = tk__conn_defaults[k][1];
            i++;
        }
    }

    keys[i] = NULL;
    vals[i] = NULL;

    pg = PQconnectdbParams(keys, vals, 0);

    if (pg == NULL || PQstatus(pg) != CONNECTION_OK) {
        snprintf(c->err, sizeof(c->err), "%s",
                 pg ? PQerrorMessage(pg) : "out of memory");
    }

    free(keys);
    free(vals);
    PQconninfoFree(opts);

    return pg;
}


int
tk__db_ready(tk_conn_t *c, tk_result_t *res)
{
    uint64_t  t;

    if (c->pg != NULL && tk__db_alive(c)) {
        return TK_OK;
    }

    tk__db_drop(c);

    t = tk__now_ns();
    c->pg = tk__db_connect(c);
    tk__waited(c, t);

    if (c->pg == NULL || PQstatus(c->pg) != CONNECTION_OK) {
        tk__count_error(c, "08001");
        tk__db_drop(c);
        res->retry_after = 1;
        return tk__fail(res, TK_EUNAVAIL, "database unavailable: %s",
                        c->err);
    }

    PQsetNoticeProcessor(c->pg, tk__db_notice, NULL);

    /* NULL only when out of memory: then it cannot be interrupted */
    c->pgcancel = PQgetCancel(c->pg);

    if (c->cancel != NULL) {
        tk__cancel_attach(c->cancel, c->pgcancel);
    }

    if (c->stats.connects++ > 0) {
        c->stats.reconnects++;
    }

    return TK_OK;
}


static int
tk__prepared(tk_conn_t *c, const tk__stmt_t *st)
{
    int  i;

    for (i = 0; i < c->nprepared; i++) {
        if (c->prepared[i] == st) {
            return 1;
        }
    }

    return 0;
}


static PGresult *
tk__failed(tk_conn_t *c, PGresult *r, tk_result_t *res)
{
    const char  *state;

    state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    snprintf(c->sqlstate, sizeof(c->sqlstate), "%s", state ? state : "");
    snprintf(c->err, sizeof(c->err), "%s", PQerrorMessage(c->pg));

    if (r != NULL) {
        PQclear(r);
    }

    /* query_canceled: by tk_cancel_interrupt(), or statement_timeout */
    if (strcmp(c->sqlstate, "57014") == 0 && c->cancel != NULL
        && tk_cancel_requested(c->cancel))
    {
        tk__fail(res, TK_ECANCELED, "cancelled: %s", c->err);
        return NULL;
    }

    tk__count_error(c, c->sqlstate[0] ? c->sqlstate
                       : PQstatus(c->pg) != CONNECTION_OK ? "08006"
                       : "XX000");

    if (PQstatus(c->pg) != CONNECTION_OK
        || strncmp(c->sqlstate, "57P", 3) == 0
        || strncmp(c->sqlstate, "08", 2) == 0
        /* read_only_sql_transaction: a primary demoted under us; a new
         * connection finds the one that is primary now */
        || strcmp(c->sqlstate, "25006") == 0)
    {
        tk__db_drop(c);
        res->retry_after = 1;
        tk__fail(res, TK_EUNAVAIL, "database connection lost: %s", c->err);
        return NULL;
    }

    if (!c->unprepared && !c->pooled
        && (strcmp(c->sqlstate, "42P05") == 0
            || strcmp(c->sqlstate, "26000") == 0))
    {
        /*
         * Our statements found prepared, or not, where we did not: a
         * pooler hands out server connections per transaction.  This
         * connection goes on without named statements.
         */
        c->pooled = 1;
        tk__db_drop(c);
        res->retry_after = 1;
        tk__fail(res, TK_EUNAVAIL, "prepared statements are not kept by"
                 " this server (a pooler in transaction mode?); going on"
                 " without; set tickets_db_prepared off: %s", c->err);
        return NULL;
    }

    tk__fail(res, TK_EINTERNAL, "database error %s: %s", c->sqlstate, c->err);
    return NULL;
}


/* Nothing more is sent for a caller that cancelled. */
static int
tk__db_cancelled(tk_conn_t *c, tk_result_t *res)
{
    if (c->cancel != NULL && tk_cancel_requested(c->cancel)) {
        return tk__fail(res, TK_ECANCELED, "cancelled");
    }

    return TK_OK;
}


/* Before a statement: TK_OK when there is a connection to send it on,
 * else the error in res. */
static int
tk__db_use(tk_conn_t *c, tk_result_t *res)
{
    c->sqlstate[0] = '\0';

    if (tk__db_cancelled(c, res) != TK_OK) {
        return res->code;
    }

    if (!c->in_tx && tk__db_ready(c, res) != TK_OK) {
        return res->code;
    }

    if (c->pg == NULL) {
        return tk__fail(res, TK_EUNAVAIL, "database connection lost");
    }

    return TK_OK;
}


/* After a statement: r when it succeeded, else NULL with the error in
 * res (r cleared). */
static PGresult *
tk__db_result(tk_conn_t *c, PGresult *r, tk_result_t *res)
{
    ExecStatusType  s;

    s = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (s != PGRES_TUPLES_OK && s != PGRES_COMMAND_OK) {
        return tk__failed(c, r, res);
    }

    return r;
}


/*
 * The statement with what goes with it (BEGIN before, COMMIT after, its
 * PREPARE), sent at once in a pipeline and read back in order: one round
 * trip.  The statement's result, or NULL with the first error in res.
 */
static PGresult *
tk__exec_pipelined(tk_conn_t *c, const tk__stmt_t *st, const char *const *v,
    const int *lengths, const int *formats, int prepared, tk_result_t *res)
{
    PGresult        *r, *mine, *err, *extra;
    ExecStatusType   s;
    int              begin, commit, prepare, lsn, ok, i, n, which[5];
    uint64_t         t;

    enum { TK__P_BEGIN, TK__P_PREPARE, TK__P_STMT, TK__P_COMMIT,
           TK__P_LSN };

    begin = c->begin_pending;
    commit = c->commit_next;
    lsn = commit && !c->tx_read_only;
    prepare = prepared && !tk__prepared(c, st);
    c->begin_pending = 0;
    c->commit_next = 0;

    if (!PQenterPipelineMode(c->pg)) {
        return tk__failed(c, NULL, res);
    }

    t = tk__now_ns();

    n = 0;
    ok = 1;

    if (begin) {
        ok = ok && PQsendQueryParams(c->pg, c->begin_sql, 0, NULL, NULL, NULL,
                                     NULL, 0);
        which[n++] = TK__P_BEGIN;
    }

    if (prepare) {
        ok = ok && PQsendPrepare(c->pg, st->name, st->sql, st->nparams,
                                 NULL);
        which[n++] = TK__P_PREPARE;
    }

    ok = ok && (prepared
                ? PQsendQueryPrepared(c->pg, st->name, st->nparams, v,
                                      lengths, formats, 0)
                : PQsendQueryParams(c->pg, st->sql, st->nparams, NULL, v,
                                    lengths, formats, 0));
    which[n++] = TK__P_STMT;

    if (commit) {
        ok = ok && PQsendQueryParams(c->pg, "COMMIT", 0, NULL, NULL, NULL,
                                     NULL, 0);
        which[n++] = TK__P_COMMIT;
    }

    if (lsn) {
        /* where the commit is in the WAL, for read-your-writes on the
         * replicas: in the same round trip */
        ok = ok && PQsendQueryParams(c->pg, TK__LSN_SQL, 0, NULL, NULL,
                                     NULL, NULL, 0);
        which[n++] = TK__P_LSN;
    }

    ok = ok && PQpipelineSync(c->pg);

    mine = NULL;
    err = NULL;

    for (i = 0; ok && i < n; i++) {
        r = PQgetResult(c->pg);
        if (r == NULL) {
            ok = 0;
            break;
        }

        /* each query's results end with a NULL (one result is all that
         * these send) */
        while ((extra = PQgetResult(c->pg)) != NULL) {
            PQclear(extra);
        }

        s = PQresultStatus(r);

        if (s == PGRES_PIPELINE_ABORTED) {
            PQclear(r);
            continue;
        }

        if (s != PGRES_TUPLES_OK && s != PGRES_COMMAND_OK) {
            if (err == NULL) {
                err = r;
                if (which[i] == TK__P_BEGIN) {
                    c->in_tx = 0;
                } else if (which[i] == TK__P_COMMIT) {
                    /* a COMMIT that fails ends the transaction too */
                    c->in_tx = 0;
                }
            } else {
                PQclear(r);
            }
            continue;
        }

        if (which[i] == TK__P_STMT) {
            mine = r;
            continue;
        }

        if (which[i] == TK__P_LSN) {
            tk__keep_lsn(c, r);

        } else if (which[i] == TK__P_PREPARE) {
            c->prepared[c->nprepared++] = st;
        } else if (which[i] == TK__P_COMMIT) {
            c->in_tx = 0;
            c->committed = 1;
        }

        PQclear(r);
    }

    /* the Sync's own result, then back to one statement at a time */
    if (ok) {
        r = PQgetResult(c->pg);
        ok = r != NULL && PQresultStatus(r) == PGRES_PIPELINE_SYNC;
        if (r != NULL) {
            PQclear(r);
        }
    }

    tk__waited(c, t);

    if (!ok || !PQexitPipelineMode(c->pg)) {
        tk__count_error(c, "08006");

        if (mine != NULL) {
            PQclear(mine);
        }
        if (err != NULL) {
            PQclear(err);
        }
        /* the connection is in no state to go on: a new one next time */
        snprintf(c->err, sizeof(c->err), "%s", PQerrorMessage(c->pg));
        tk__db_drop(c);
        res->retry_after = 1;
        tk__fail(res, TK_EUNAVAIL, "database connection lost: %s", c->err);
        return NULL;
    }

    if (err != NULL) {
        if (mine != NULL) {
            PQclear(mine);
        }
        c->committed = 0;
        return tk__failed(c, err, res);
    }

    return mine;
}


PGresult *
tk__execb(tk_conn_t *c, const tk__stmt_t *st, const char *const *v,
    const int *lengths, const int *formats, tk_result_t *res)
{
    uint64_t   t;
    PGresult  *r;

    if (tk__db_use(c, res) != TK_OK) {
        return NULL;
    }

    if (c->unprepared || c->pooled) {
        /* PgBouncer's transaction pooling: unnamed statements only */
        if (c->begin_pending || c->commit_next) {
            return tk__exec_pipelined(c, st, v, lengths, formats, 0, res);
        }

        return tk__db_result(c, PQexecParams(c->pg, st->sql, st->nparams,
                                             NULL, v, lengths, formats, 0),
                             res);
    }

    if (c->begin_pending || c->commit_next) {
        return tk__exec_pipelined(c, st, v, lengths, formats,
                                  tk__prepared(c, st)
                                  || c->nprepared < TK__MAX_PREPARED, res);
    }

    if (!tk__prepared(c, st)) {
        if (c->nprepared == TK__MAX_PREPARED) {
            return tk__exec_unprepared(c, st, v, res);
        }

        t = tk__now_ns();
        r = PQprepare(c->pg, st->name, st->sql, st->nparams, NULL);
        tk__waited(c, t);

        if (r == NULL || PQresultStatus(r) != PGRES_COMMAND_OK) {
            return tk__failed(c, r, res);
        }

        PQclear(r);
        c->prepared[c->nprepared++] = st;
    }

    t = tk__now_ns();
    r = PQexecPrepared(c->pg, st->name, st->nparams, v, lengths, formats, 0);
    tk__waited(c, t);

    return tk__db_result(c, r, res);
}


PGresult *
tk__exec_unprepared(tk_conn_t *c, const tk__stmt_t *st,
    const char *const *v, tk_result_t *res)
{
    uint64_t   t;
    PGresult  *r;

    if (tk__db_use(c, res) != TK_OK) {
        return NULL;
    }

    if (c->begin_pending || c->commit_next) {
        return tk__exec_pipelined(c, st, v, NULL, NULL, 0, res);
    }

    t = tk__now_ns();
    r = PQexecParams(c->pg, st->sql, st->nparams, NULL, v, NULL, NULL, 0);
    tk__waited(c, t);

    return tk__db_result(c, r, res);
}


PGresult *
tk__exec(tk_conn_t *c, const tk__stmt_t *st, const char *const *v,
    tk_result_t *res)
{
    return tk__execb(c, st, v, NULL, NULL, res);
}


const char *
tk__sqlstate(const tk_conn_t *c)
{
    return c->sqlstate;
}


int
tk__cmd(tk_conn_t *c, const char *sql, tk_result_t *res)
{
    uint64_t   t;
    PGresult  *r;

    if (tk__db_use(c, res) != TK_OK) {
        return res->code;
    }

    /* a deferred BEGIN comes first */
    if (c->begin_pending) {
        c->begin_pending = 0;
        t = tk__now_ns();
        r = PQexec(c->pg, c->begin_sql);
        tk__waited(c, t);
        r = tk__db_result(c, r, res);
        if (r == NULL) {
            c->in_tx = 0;
            return res->code;
        }
        PQclear(r);
    }

    t = tk__now_ns();
    r = PQexec(c->pg, sql);
    tk__waited(c, t);
    r = tk__db_result(c, r, res);
    if (r == NULL) {
        return res->code;
    }

    if (PQresultStatus(r) == PGRES_TUPLES_OK) {
        tk__keep_lsn(c, r);
    }

    PQclear(r);
    return TK_OK;
}


int
tk__begin(tk_conn_t *c, tk_result_t *res)
{
    c->commit_next = 0;
    c->committed = 0;
    c->tx_read_only = 0;

    if (tk__cmd(c, "BEGIN", res) != TK_OK) {
        return res->code;
    }

    c->in_tx = 1;
    return TK_OK;
}


int
tk__begin_deferred(tk_conn_t *c, tk_result_t *res)
{
    return tk__begin_deferred_as(c, "BEGIN", res);
}


int
tk__begin_snapshot_deferred(tk_conn_t *c, tk_result_t *res)
{
    return tk__begin_deferred_as(c, "BEGIN ISOLATION LEVEL REPEATABLE READ,"
                                 " READ ONLY", res);
}


static int
tk__begin_deferred_as(tk_conn_t *c, const char *begin, tk_result_t *res)
{
    c->sqlstate[0] = '\0';
    c->begin_sql = begin;

    if (tk__db_cancelled(c, res) != TK_OK) {
        return res->code;
    }

    /* connected (or reconnected) now: no statement of it has run yet */
    if (tk__db_ready(c, res) != TK_OK) {
        return res->code;
    }

    c->in_tx = 1;
    c->begin_pending = 1;
    c->committed = 0;
    c->tx_read_only = strstr(begin, "READ ONLY") != NULL;
    return TK_OK;
}


void
tk__commit_next(tk_conn_t *c)
{
    c->commit_next = 1;
}


int
tk__commit(tk_conn_t *c, tk_result_t *res)
{
    int  rc;

    c->commit_next = 0;

    if (c->committed) {
        /* it went with the transaction's last statement */
        c->committed = 0;
        c->in_tx = 0;
        return TK_OK;
    }

    if (c->begin_pending) {
        /* nothing ran: nothing to commit */
        c->begin_pending = 0;
        c->in_tx = 0;
        return TK_OK;
    }

    rc = tk__cmd(c, c->tx_read_only ? "COMMIT" : "COMMIT; " TK__LSN_SQL,
                 res);
    c->in_tx = 0;
    c->tx_read_only = 0;

    return rc;
}


void
tk__rollback(tk_conn_t *c)
{
    int        i;
    uint64_t   t;
    PGresult  *r;

    c->commit_next = 0;
    c->committed = 0;

    if (!c->in_tx) {
        return;
    }

    c->in_tx = 0;

    if (c->begin_pending) {
        /* nothing ran */
        c->begin_pending = 0;
        return;
    }

    /*
     * A cancel (tk_cancel_interrupt) may land on the ROLLBACK itself and
     * leave the transaction open: once more then, the cancel is spent.
     */
    for (i = 0; i < 3; i++) {
        if (c->pg == NULL || PQstatus(c->pg) != CONNECTION_OK
            || PQtransactionStatus(c->pg) == PQTRANS_IDLE)
        {
            break;
        }

        t = tk__now_ns();
        r = PQexec(c->pg, "ROLLBACK");
        tk__waited(c, t);
        if (r != NULL) {
            PQclear(r);
        }
    }
}


const char *
tk__val(const PGresult *r, int row, int col)
{
    if (r == NULL || row >= PQntuples(r) || col >= PQnfields(r)
        || PQgetisnull(r, row, col))
    {
        return NULL;
    }

    return PQgetvalue(r, row, col);
}


int
tk__take_body(PGresult *r, tk_result_t *res)
{
    const char  *v;
    size_t       len;

    v = tk__val(r, 0, 0);
    if (v == NULL) {
        PQclear(r);
        return tk__fail(res, TK_ENOTFOUND, "not found");
    }

    len = (size_t) PQgetlength(r, 0, 0);

    free(res->body);
    res->body = malloc(len + 1);
    if (res->body == NULL) {
        PQclear(r);
        return tk__fail(res, TK_ENOMEM, "out of memory");
    }

    memcpy(res->body, v, len + 1);
    res->body_len = len;
    PQclear(r);

    return TK_OK;
}


/* Replicas, read-your-writes, PgBouncer (docs/scale.md) ----------------- */


void
tk_conn_set_prepared(tk_conn_t *c, int on)
{
    c->unprepared = !on;
}


void
tk_conn_lsn_reset(tk_conn_t *c)
{
    c->lsn[0] = '\0';
}


static const tk__stmt_t  tk__lsn_stmt = {
    "tk_lsn", TK__LSN_SQL, 0
};


int
tk_conn_write_lsn(tk_conn_t *c, char *buf, size_t len, tk_result_t *res)
{
    PGresult  *r;

    if (c->lsn[0] == '\0') {
        /* a write without a transaction of its own: it committed when it
         * answered, so the end of the WAL now is past it */
        r = tk__exec(c, &tk__lsn_stmt, NULL, res);
        if (r == NULL) {
            return res->code;
        }

        tk__keep_lsn(c, r);
        PQclear(r);
    }

    snprintf(buf, len, "%s", c->lsn);
    return TK_OK;
}


int
tk_lsn_parse(const char *text, uint64_t *lsn)
{
    char                *end;
    unsigned long long   hi, lo;

    if (text == NULL || !isxdigit((unsigned char) *text)
        || strlen(text) > 17)
    {
        return TK_EINVAL;
    }

    hi = strtoull(text, &end, 16);
    if (*end != '/' || hi > 0xffffffffULL || end[1] == '\0'
        || end[1] == '-' || end[1] == '+' || end[1] == ' ')
    {
        return TK_EINVAL;
    }

    lo = strtoull(end + 1, &end, 16);
    if (*end != '\0' || lo > 0xffffffffULL) {
        return TK_EINVAL;
    }

    *lsn = (uint64_t) hi << 32 | lo;
    return TK_OK;
}


/* one statement: recovery, replayed up to, lag in ms (0 when caught up) */
static const tk__stmt_t  tk__replica_stmt = {
    "tk_replica",
    "SELECT pg_is_in_recovery(),"
    " coalesce(pg_last_wal_replay_lsn()::text, '0/0'),"
    " CASE WHEN NOT pg_is_in_recovery() THEN 0"
    " WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn()"
    " AND EXISTS (SELECT 1 FROM pg_stat_wal_receiver) THEN 0"
    " ELSE coalesce((extract(epoch FROM clock_timestamp()"
    " - pg_last_xact_replay_timestamp()) * 1000)::bigint,"
    " 9223372036854775807) END",
    0
};

/* a replica's state is asked again after this, or for a newer LSN */
#define TK__REPLICA_RECHECK_MS  100


static int64_t
tk__now_ms(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


int
tk_conn_replica_check(tk_conn_t *c, const char *min_lsn, int64_t max_lag_ms,
    tk_result_t *res)
{
    int64_t    now;
    uint64_t   need;
    PGresult  *r;

    need = 0;
    if (min_lsn != NULL && tk_lsn_parse(min_lsn, &need) != TK_OK) {
        need = 0;
    }

    now = tk__now_ms();

    if (c->pg == NULL || c->checked_ms == 0
        || now - c->checked_ms >= TK__REPLICA_RECHECK_MS
        || (!c->primary && c->replay_lsn < need)
        || !tk__db_alive(c))
    {
        r = tk__exec(c, &tk__replica_stmt, NULL, res);
        if (r == NULL) {
            return res->code;
        }

        c->primary = tk__val(r, 0, 0) != NULL && *tk__val(r, 0, 0) == 'f';
        if (tk_lsn_parse(tk__val(r, 0, 1), &c->replay_lsn) != TK_OK) {
            c->replay_lsn = 0;
        }
        c->lag_ms = tk__val(r, 0, 2) ? strtoll(tk__val(r, 0, 2), NULL, 10)
                                     : INT64_MAX;
        c->checked_ms = now;
        PQclear(r);
    }

    if (c->primary) {
        return TK_OK;
    }

    if (c->replay_lsn < need) {
        return tk__fail(res, TK_EUNAVAIL, "the replica has not replayed"
                        " %s yet", min_lsn);
    }

    if (max_lag_ms > 0 && c->lag_ms > max_lag_ms) {
        return tk__fail(res, TK_EUNAVAIL, "the replica lags %lld ms",
                        (long long) c->lag_ms);
    }

    return TK_OK;
}
