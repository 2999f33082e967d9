/*
 * Connections: lazy connect, reconnect after the server went away,
 * statements prepared once per connection, and a transaction's BEGIN and
 * COMMIT sent with its first and last statements (libpq pipeline mode).
 */

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db.h"
#include "result.h"


static int tk__begin_deferred_as(tk_conn_t *c, const char *begin,
    tk_result_t *res);


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
    if (c->pg != NULL) {
        PQfinish(c->pg);
        c->pg = NULL;
    }

    c->nprepared = 0;
    c->in_tx = 0;
    c->begin_pending = 0;
    c->commit_next = 0;
    c->committed = 0;
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


int
tk__db_ready(tk_conn_t *c, tk_result_t *res)
{
    static const char  *keys[] = { "dbname", "connect_timeout",
                                   "application_name", NULL };
    const char         *vals[4];
    uint64_t            t;

    if (c->pg != NULL && tk__db_alive(c)) {
        return TK_OK;
    }

    tk__db_drop(c);

    /* the connection string wins over these defaults */
    vals[0] = c->conninfo;
    vals[1] = "5";
    vals[2] = "ngx_tickets";
    vals[3] = NULL;

    t = tk__now_ns();
    c->pg = PQconnectdbParams(keys, vals, 1);
    tk__waited(c, t);

    if (c->pg == NULL || PQstatus(c->pg) != CONNECTION_OK) {
        tk__count_error(c, "08001");
        snprintf(c->err, sizeof(c->err), "%s",
                 c->pg ? PQerrorMessage(c->pg) : "out of memory");
        tk__db_drop(c);
        res->retry_after = 1;
        return tk__fail(res, TK_EUNAVAIL, "database unavailable: %s",
                        c->err);
    }

    PQsetNoticeProcessor(c->pg, tk__db_notice, NULL);

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

    tk__count_error(c, c->sqlstate[0] ? c->sqlstate
                       : PQstatus(c->pg) != CONNECTION_OK ? "08006"
                       : "XX000");

    if (PQstatus(c->pg) != CONNECTION_OK
        || strncmp(c->sqlstate, "57P", 3) == 0
        || strncmp(c->sqlstate, "08", 2) == 0)
    {
        tk__db_drop(c);
        res->retry_after = 1;
        tk__fail(res, TK_EUNAVAIL, "database connection lost: %s", c->err);
        return NULL;
    }

    tk__fail(res, TK_EINTERNAL, "database error %s: %s", c->sqlstate, c->err);
    return NULL;
}


/* Before a statement: TK_OK when there is a connection to send it on,
 * else the error in res. */
static int
tk__db_use(tk_conn_t *c, tk_result_t *res)
{
    c->sqlstate[0] = '\0';

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
    int              begin, commit, prepare, ok, i, n, which[4];
    uint64_t         t;

    enum { TK__P_BEGIN, TK__P_PREPARE, TK__P_STMT, TK__P_COMMIT };

    begin = c->begin_pending;
    commit = c->commit_next;
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

        if (which[i] == TK__P_PREPARE) {
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

    PQclear(r);
    return TK_OK;
}


int
tk__begin(tk_conn_t *c, tk_result_t *res)
{
    c->commit_next = 0;
    c->committed = 0;

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

    /* connected (or reconnected) now: no statement of it has run yet */
    if (tk__db_ready(c, res) != TK_OK) {
        return res->code;
    }

    c->in_tx = 1;
    c->begin_pending = 1;
    c->committed = 0;
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

    rc = tk__cmd(c, "COMMIT", res);
    c->in_tx = 0;

    return rc;
}


void
tk__rollback(tk_conn_t *c)
{
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

    if (c->pg != NULL && PQstatus(c->pg) == CONNECTION_OK) {
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
