/*
 * Unit tests of cancellation (tk_cancel_t, libtickets/src/cancel.c and
 * conn.c): a cancelled caller sends no further statement, a statement
 * that runs is interrupted from another thread, its transaction rolls back
 * whole, and the connection serves the next operation; the handle follows
 * the connection when it reconnects.
 */

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "testlib.h"
#include "db.h"


#define MARK  "check_cancel"

static const tk__stmt_t  insert_stmt = {
    "check_cancel_insert",
    "INSERT INTO check_cancel_rows (key) VALUES ($1) RETURNING key",
    1
};

/* what a slow statement of a real request would be: here, a sleep */
static const tk__stmt_t  sleep_stmt = {
    "check_cancel_sleep",
    "SELECT pg_sleep(30)",
    0
};


static int
cleanup(PGconn *c)
{
    return exec_script(c, "DROP TABLE IF EXISTS check_cancel_rows");
}


static void
setup(void)
{
    db_setup();
    ck_assert(exec_script(pg, "CREATE TABLE IF NOT EXISTS check_cancel_rows"
                          " (key text PRIMARY KEY);"
                          "TRUNCATE check_cancel_rows"));
}


static void
teardown(void)
{
    tk_conn_set_cancel(conn, NULL);
    cleanup(pg);
    db_teardown();
}


static long
rows(void)
{
    return qn("SELECT count(*) FROM check_cancel_rows");
}


static void
sleep_ms(long ms)
{
    struct timespec  ts = { ms / 1000, (ms % 1000) * 1000000 };

    nanosleep(&ts, NULL);
}


/* A transaction that inserts a row, then runs the slow statement, in a
 * thread of its own: the code it ended with. */
typedef struct {
    pthread_t    tid;
    tk_result_t  res;
    int          rc;
} worker_t;


static void *
slow_write(void *data)
{
    worker_t     *w = data;
    const char   *v[1] = { MARK "_row" };
    PGresult     *r;

    tk_result_init(&w->res);

    if (tk__begin(conn, &w->res) != TK_OK) {
        w->rc = w->res.code;
        return NULL;
    }

    r = tk__exec(conn, &insert_stmt, v, &w->res);
    if (r == NULL) {
        w->rc = w->res.code;
        tk__rollback(conn);
        return NULL;
    }
    PQclear(r);

    r = tk__exec(conn, &sleep_stmt, NULL, &w->res);
    if (r == NULL) {
        w->rc = w->res.code;
        tk__rollback(conn);
        return NULL;
    }
    PQclear(r);

    w->rc = tk__commit(conn, &w->res);
    return NULL;
}


/* the slow statement runs on the server */
static int
sleeping(void)
{
    return qn("SELECT count(*) FROM pg_stat_activity WHERE application_name"
              " = 'ngx_tickets' AND wait_event = 'PgSleep'") == 1;
}


static void
interrupt_slow_write(tk_cancel_t *h)
{
    int       i;
    worker_t  w;

    memset(&w, 0, sizeof(w));
    ck_assert_int_eq(pthread_create(&w.tid, NULL, slow_write, &w), 0);

    for (i = 0; i < 200 && !sleeping(); i++) {
        sleep_ms(50);
    }
    ck_assert_msg(sleeping(), "the slow statement did not start");

    ck_assert_int_eq(tk_cancel_interrupt(h), TK_OK);
    pthread_join(w.tid, NULL);

    ck_assert_msg(w.rc == TK_ECANCELED, "code %d: %s", w.rc, w.res.message);
    tk_result_clear(&w.res);

    /* rolled back whole, nothing left running or open */
    ck_assert_int_eq(rows(), 0);
    ck_assert(!sleeping());
    ck_assert_int_eq(PQtransactionStatus(conn->pg), PQTRANS_IDLE);
}


/* Cancelled before: nothing is sent; detached, the connection serves. */
START_TEST(cancelled_before)
{
    tk_cancel_t  *h;

    ck_assert_int_eq(tk_cancel_new(&h), TK_OK);
    ck_assert(!tk_cancel_requested(h));
    tk_conn_set_cancel(conn, h);
    tk_cancel_request(h);
    ck_assert(tk_cancel_requested(h));

    {
        const char  *v[1] = { MARK "_never" };

        tk_result_clear(&res);
        ck_assert_ptr_null(tk__exec(conn, &insert_stmt, v, &res));
        ck_assert_int_eq(res.code, TK_ECANCELED);
    }
    tk_result_clear(&res);
    ck_assert_int_eq(tk__begin_deferred(conn, &res), TK_ECANCELED);
    ck_assert_int_eq(rows(), 0);

    tk_conn_set_cancel(conn, NULL);
    tk_cancel_unref(h);

    ck_assert_int_eq(CALL(tk_health(conn, &res)), TK_OK);
}
END_TEST


/* A statement that runs is interrupted from another thread. */
START_TEST(interrupt_running)
{
    tk_cancel_t  *h;

    ck_assert_int_eq(CALL(tk_health(conn, &res)), TK_OK);   /* connected */
    ck_assert_int_eq(tk_cancel_new(&h), TK_OK);
    tk_conn_set_cancel(conn, h);

    interrupt_slow_write(h);

    tk_conn_set_cancel(conn, NULL);
    tk_cancel_unref(h);

    /* the connection serves the next write, which commits */
    ck_assert_int_eq(CALL(tk_health(conn, &res)), TK_OK);
    ck_assert_int_eq(tk__begin(conn, &res), TK_OK);
    {
        const char  *v[1] = { MARK "_next" };
        PGresult    *r = tk__exec(conn, &insert_stmt, v, &res);

        ck_assert_ptr_nonnull(r);
        PQclear(r);
    }
    ck_assert_int_eq(tk__commit(conn, &res), TK_OK);
    ck_assert_int_eq(rows(), 1);
}
END_TEST


/* Detached or never attached: an interrupt reaches no connection. */
START_TEST(detached)
{
    tk_cancel_t  *h;

    ck_assert_int_eq(CALL(tk_health(conn, &res)), TK_OK);
    ck_assert_int_eq(tk_cancel_new(&h), TK_OK);
    ck_assert_ptr_eq(tk_cancel_ref(h), h);

    tk_conn_set_cancel(conn, h);
    tk_conn_set_cancel(conn, NULL);
    ck_assert_int_eq(tk_cancel_interrupt(h), TK_OK);
    ck_assert(tk_cancel_requested(h));

    /* another handle serves the connection as if nothing happened */
    tk_cancel_unref(h);
    tk_cancel_unref(h);
    ck_assert_int_eq(tk_cancel_new(&h), TK_OK);
    tk_conn_set_cancel(conn, h);
    ck_assert_int_eq(CALL(tk_health(conn, &res)), TK_OK);
    tk_conn_set_cancel(conn, NULL);
    tk_cancel_unref(h);
}
END_TEST


/* The server ended the connection: the next operation connects again,
 * and the handle interrupts on the new connection. */
START_TEST(follows_reconnect)
{
    char         *pid;
    tk_cancel_t  *h;

    ck_assert_int_eq(CALL(tk_health(conn, &res)), TK_OK);
    ck_assert_int_eq(tk_cancel_new(&h), TK_OK);
    tk_conn_set_cancel(conn, h);

    pid = q("SELECT pid::text FROM pg_stat_activity"
            " WHERE application_name = 'ngx_tickets'"
            " ORDER BY backend_start DESC LIMIT 1");
    ck_assert_ptr_nonnull(pid);
    free(q("SELECT pg_terminate_backend($1::int, 5000)::text", pid));
    free(pid);

    ck_assert_int_eq(CALL(tk_health(conn, &res)), TK_OK);

    interrupt_slow_write(h);

    tk_conn_set_cancel(conn, NULL);
    tk_cancel_unref(h);
    ck_assert_int_eq(CALL(tk_health(conn, &res)), TK_OK);
}
END_TEST


static Suite *
cancel_suite(void)
{
    Suite  *s;
    TCase  *tc;

    s = suite_create("cancel");

    tc = add_tcase(s, "cancel", setup, teardown, 30);
    tcase_add_test(tc, cancelled_before);
    tcase_add_test(tc, interrupt_running);
    tcase_add_test(tc, detached);
    tcase_add_test(tc, follows_reconnect);

    return s;
}


int
main(void)
{
    return db_main(cancel_suite, cleanup, cleanup);
}
