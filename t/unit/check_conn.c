/*
 * Unit tests of the connection's write steps (libtickets/src/conn.c): a
 * BEGIN deferred to the first statement and a COMMIT sent with the last
 * one, both in a libpq pipeline, behave as the plain BEGIN and COMMIT do:
 * what commits is there for everyone, what fails leaves nothing and the
 * connection usable.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"
#include "db.h"


#define MARK  "check_conn"

static const tk__stmt_t  insert_stmt = {
    "check_conn_insert",
    "INSERT INTO check_conn_rows (key, value) VALUES ($1, $2)"
    " RETURNING key",
    2
};

static const tk__stmt_t  fail_stmt = {
    "check_conn_fail",
    "SELECT 1 / (length($1) - length($1))",
    1
};

static const tk__stmt_t  count_stmt = {
    "check_conn_count",
    "SELECT count(*) FROM check_conn_rows WHERE key LIKE $1 || '%'",
    1
};


static int
cleanup(PGconn *c)
{
    return exec_script(c, "DROP TABLE IF EXISTS check_conn_rows");
}


static void
setup(void)
{
    db_setup();
    ck_assert(exec_script(pg, "CREATE TABLE IF NOT EXISTS check_conn_rows"
                          " (key text PRIMARY KEY, value text);"
                          "TRUNCATE check_conn_rows"));
}


static void
teardown(void)
{
    cleanup(pg);
    db_teardown();
}


/* settings rows of this test, as another connection sees them */
static long
rows(void)
{
    return qn("SELECT count(*) FROM check_conn_rows WHERE key LIKE $1 || '%'",
              MARK);
}


static void
insert(const char *key, int want_ok)
{
    const char  *v[2] = { key, "x" };
    PGresult    *r;

    r = tk__exec(conn, &insert_stmt, v, &res);
    ck_assert_msg((r != NULL) == want_ok, "insert %s: %s", key, res.message);
    if (r != NULL) {
        ck_assert_str_eq(tk__val(r, 0, 0), key);
        PQclear(r);
    }
}


START_TEST(deferred_begin_commit)
{
    ck_assert_int_eq(tk__begin_deferred(conn, &res), TK_OK);
    /* nothing was sent: the server has no transaction yet */
    ck_assert_int_eq(PQtransactionStatus(conn->pg), PQTRANS_IDLE);

    insert(MARK "_a", 1);
    ck_assert_int_eq(PQtransactionStatus(conn->pg), PQTRANS_INTRANS);
    insert(MARK "_b", 1);
    ck_assert_int_eq(rows(), 0);

    ck_assert_int_eq(tk__commit(conn, &res), TK_OK);
    ck_assert_int_eq(PQtransactionStatus(conn->pg), PQTRANS_IDLE);
    ck_assert_int_eq(rows(), 2);
}
END_TEST


START_TEST(deferred_begin_rollback)
{
    ck_assert_int_eq(tk__begin_deferred(conn, &res), TK_OK);
    insert(MARK "_a", 1);
    tk__rollback(conn);
    ck_assert_int_eq(rows(), 0);

    /* nothing ran at all: commit and rollback have nothing to do */
    ck_assert_int_eq(tk__begin_deferred(conn, &res), TK_OK);
    ck_assert_int_eq(tk__commit(conn, &res), TK_OK);
    ck_assert_int_eq(tk__begin_deferred(conn, &res), TK_OK);
    tk__rollback(conn);
    ck_assert_int_eq(PQtransactionStatus(conn->pg), PQTRANS_IDLE);
}
END_TEST


/* The first statement fails: the transaction is open and aborted, as after
 * a plain BEGIN; rolled back, the connection goes on. */
START_TEST(deferred_begin_failure)
{
    const char  *v[1] = { "x" };

    ck_assert_int_eq(tk__begin_deferred(conn, &res), TK_OK);
    ck_assert_ptr_null(tk__exec(conn, &fail_stmt, v, &res));
    ck_assert_int_eq(res.code, TK_EINTERNAL);
    ck_assert_str_eq(tk__sqlstate(conn), "22012");
    ck_assert_int_eq(PQtransactionStatus(conn->pg), PQTRANS_INERROR);
    tk__rollback(conn);

    ck_assert_int_eq(tk__begin_deferred(conn, &res), TK_OK);
    insert(MARK "_a", 1);
    insert(MARK "_a", 0);                   /* duplicate key */
    ck_assert_str_eq(tk__sqlstate(conn), "23505");
    tk__rollback(conn);
    ck_assert_int_eq(rows(), 0);

    /* prepared on the way, in the pipeline: prepared for good */
    ck_assert_int_eq(tk__begin_deferred(conn, &res), TK_OK);
    insert(MARK "_c", 1);
    ck_assert_int_eq(tk__commit(conn, &res), TK_OK);
    ck_assert_int_eq(rows(), 1);
    ck_assert_int_gt(conn->nprepared, 0);
    ck_assert_ptr_eq(conn->prepared[conn->nprepared - 1], &insert_stmt);
}
END_TEST


START_TEST(commit_next)
{
    const char  *v[1] = { MARK };
    PGresult    *r;

    /* BEGIN, the statement and COMMIT: one pipeline */
    ck_assert_int_eq(tk__begin_deferred(conn, &res), TK_OK);
    tk__commit_next(conn);
    insert(MARK "_a", 1);
    ck_assert_int_eq(PQtransactionStatus(conn->pg), PQTRANS_IDLE);
    ck_assert_int_eq(rows(), 1);
    ck_assert_int_eq(tk__commit(conn, &res), TK_OK);

    /* after statements of its own */
    ck_assert_int_eq(tk__begin_deferred(conn, &res), TK_OK);
    insert(MARK "_b", 1);
    tk__commit_next(conn);
    r = tk__exec(conn, &count_stmt, v, &res);
    ck_assert_ptr_nonnull(r);
    ck_assert_str_eq(tk__val(r, 0, 0), "2");
    PQclear(r);
    ck_assert_int_eq(rows(), 2);
    ck_assert_int_eq(tk__commit(conn, &res), TK_OK);

    /* the last statement fails: nothing commits, the transaction is
     * there to roll back */
    ck_assert_int_eq(tk__begin_deferred(conn, &res), TK_OK);
    insert(MARK "_c", 1);
    tk__commit_next(conn);
    insert(MARK "_c", 0);
    ck_assert_int_eq(PQtransactionStatus(conn->pg), PQTRANS_INERROR);
    tk__rollback(conn);
    ck_assert_int_eq(rows(), 2);

    /* and the connection goes on */
    ck_assert_int_eq(tk__begin_deferred(conn, &res), TK_OK);
    insert(MARK "_d", 1);
    ck_assert_int_eq(tk__commit(conn, &res), TK_OK);
    ck_assert_int_eq(rows(), 3);
}
END_TEST


/* A deferred COMMIT that the server refuses (a deferred constraint) fails
 * the statement it went with. */
START_TEST(commit_next_refused)
{
    ck_assert(exec_script(pg,
        "DROP TABLE IF EXISTS check_conn_deferred;"
        "CREATE TABLE check_conn_deferred (a int UNIQUE DEFERRABLE"
        " INITIALLY DEFERRED)"));

    {
        static const tk__stmt_t  twice = {
            "check_conn_twice",
            "INSERT INTO check_conn_deferred VALUES (1), (1)",
            0
        };

        ck_assert_int_eq(tk__begin_deferred(conn, &res), TK_OK);
        tk__commit_next(conn);
        ck_assert_ptr_null(tk__exec(conn, &twice, NULL, &res));
        ck_assert_int_eq(res.code, TK_EINTERNAL);
        ck_assert_str_eq(tk__sqlstate(conn), "23505");
        ck_assert_int_eq(PQtransactionStatus(conn->pg), PQTRANS_IDLE);
        tk__rollback(conn);
    }

    ck_assert_int_eq(qn("SELECT count(*) FROM check_conn_deferred"), 0);
    ck_assert(exec_script(pg, "DROP TABLE check_conn_deferred"));
}
END_TEST


/* A snapshot read: every statement sees the data as at the first one,
 * writes by others in between included, and nothing is left open. */
START_TEST(snapshot_read)
{
    const char  *v[1] = { MARK };
    PGresult    *r;

    insert(MARK "_a", 1);

    ck_assert_int_eq(tk__begin_snapshot_deferred(conn, &res), TK_OK);
    r = tk__exec(conn, &count_stmt, v, &res);
    ck_assert_ptr_nonnull(r);
    ck_assert_str_eq(tk__val(r, 0, 0), "1");
    PQclear(r);

    ck_assert(exec_script(pg, "INSERT INTO check_conn_rows VALUES"
                          " ('" MARK "_b', 'x')"));

    tk__commit_next(conn);
    r = tk__exec(conn, &count_stmt, v, &res);
    ck_assert_ptr_nonnull(r);
    ck_assert_str_eq(tk__val(r, 0, 0), "1");
    PQclear(r);
    ck_assert_int_eq(tk__commit(conn, &res), TK_OK);
    ck_assert_int_eq(PQtransactionStatus(conn->pg), PQTRANS_IDLE);

    /* read only */
    ck_assert_int_eq(tk__begin_snapshot_deferred(conn, &res), TK_OK);
    insert(MARK "_c", 0);
    ck_assert_str_eq(tk__sqlstate(conn), "25006");
    tk__rollback(conn);

    /* and a plain deferred BEGIN after it is a plain one again */
    ck_assert_int_eq(tk__begin_deferred(conn, &res), TK_OK);
    insert(MARK "_c", 1);
    ck_assert_int_eq(tk__commit(conn, &res), TK_OK);
    ck_assert_int_eq(rows(), 3);
}
END_TEST


/* The pid of the library connection's server process. */
static char *
backend(void)
{
    char  *pid;

    pid = q("SELECT pid::text FROM pg_stat_activity"
            " WHERE application_name = 'ngx_tickets'"
            " ORDER BY backend_start DESC LIMIT 1");
    ck_assert_ptr_nonnull(pid);
    return pid;
}


/* Ends the server process pid, and waits until it is gone. */
static void
terminate(char *pid)
{
    free(q("SELECT pg_terminate_backend($1::int, 5000)::text", pid));
    free(pid);
}


/* The server ended the connection while it was idle: the deferred BEGIN
 * connects again before anything is sent.  It ends under an open
 * transaction: 503, and the next one connects again. */
START_TEST(deferred_begin_reconnects)
{
    insert(MARK "_warm", 1);                /* connected */
    terminate(backend());

    ck_assert_int_eq(tk__begin_deferred(conn, &res), TK_OK);
    insert(MARK "_a", 1);
    ck_assert_int_eq(tk__commit(conn, &res), TK_OK);
    ck_assert_int_eq(rows(), 2);

    ck_assert_int_eq(tk__begin_deferred(conn, &res), TK_OK);
    terminate(backend());
    tk__commit_next(conn);
    insert(MARK "_b", 0);
    ck_assert_int_eq(res.code, TK_EUNAVAIL);
    ck_assert_int_eq(res.retry_after, 1);
    tk__rollback(conn);

    ck_assert_int_eq(tk__begin_deferred(conn, &res), TK_OK);
    insert(MARK "_c", 1);
    ck_assert_int_eq(tk__commit(conn, &res), TK_OK);
    ck_assert_int_eq(rows(), 3);
}
END_TEST


static Suite *
conn_suite(void)
{
    Suite  *s;
    TCase  *tc;

    s = suite_create("conn");

    tc = add_tcase(s, "pipeline", setup, teardown, 0);
    tcase_add_test(tc, deferred_begin_commit);
    tcase_add_test(tc, deferred_begin_rollback);
    tcase_add_test(tc, deferred_begin_failure);
    tcase_add_test(tc, commit_next);
    tcase_add_test(tc, commit_next_refused);
    tcase_add_test(tc, snapshot_read);
    tcase_add_test(tc, deferred_begin_reconnects);

    return s;
}


int
main(void)
{
    return db_main(conn_suite, cleanup, cleanup);
}
