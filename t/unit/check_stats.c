/*
 * Unit tests of what the library reports for the metrics: tk_conn_stats
 * (time on the server, round trips, errors with their SQLSTATE,
 * reconnects) and tk_outbox_stats (the outbox by channel, as the
 * database has it).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"
#include "db.h"


static const tk__stmt_t  sleep_stmt = {
    "check_stats_sleep",
    "SELECT pg_sleep(0.02)",
    0
};

static const tk__stmt_t  fail_stmt = {
    "check_stats_fail",
    "SELECT 1 / (length($1) - length($1))",
    1
};


static int
cleanup(PGconn *c)
{
    return exec_script(c, "DELETE FROM outbox WHERE event = 'CheckStats'");
}


static void
setup(void)
{
    db_setup();
    ck_assert(cleanup(pg));
}


static void
teardown(void)
{
    cleanup(pg);
    db_teardown();
}


static void
run(const tk__stmt_t *st, const char *arg, int want_ok)
{
    const char  *v[1] = { arg };
    PGresult    *r;

    tk_result_clear(&res);
    r = tk__exec(conn, st, v, &res);
    ck_assert_msg((r != NULL) == want_ok, "%s: %s", st->name, res.message);
    if (r != NULL) {
        PQclear(r);
    }
}


/* A statement of 20 ms: its round trips and at least its time. */
START_TEST(round_trips_and_time)
{
    tk_conn_stats_t  a, b;

    run(&sleep_stmt, NULL, 1);              /* connected and prepared */
    tk_conn_stats(conn, &a);
    ck_assert_uint_ge(a.connects, 1);
    ck_assert_uint_eq(a.reconnects, 0);

    run(&sleep_stmt, NULL, 1);
    tk_conn_stats(conn, &b);
    ck_assert_uint_eq(b.round_trips - a.round_trips, 1);
    ck_assert_uint_ge(b.db_ns - a.db_ns, 20000000);
    ck_assert_uint_lt(b.db_ns - a.db_ns, 5000000000u);
    ck_assert_uint_eq(b.errors, a.errors);

    /* a transaction of one statement: BEGIN, it and COMMIT in one trip */
    ck_assert_int_eq(tk__begin_deferred(conn, &res), TK_OK);
    tk__commit_next(conn);
    run(&sleep_stmt, NULL, 1);
    ck_assert_int_eq(tk__commit(conn, &res), TK_OK);
    tk_conn_stats(conn, &a);
    ck_assert_uint_eq(a.round_trips - b.round_trips, 1);
}
END_TEST


/* A failed statement: counted with its SQLSTATE; the lost connection
 * too, and the new one as a reconnect. */
START_TEST(errors_and_reconnects)
{
    char             *pid;
    tk_conn_stats_t   a, b;

    run(&sleep_stmt, NULL, 1);
    tk_conn_stats(conn, &a);

    run(&fail_stmt, "x", 0);
    tk_conn_stats(conn, &b);
    ck_assert_uint_eq(b.errors - a.errors, 1);
    ck_assert_str_eq(b.sqlstate, "22012");

    /* the server ends the connection in a transaction: lost, then a new
     * one for the next statement */
    ck_assert_int_eq(tk__begin_deferred(conn, &res), TK_OK);
    pid = q("SELECT pid::text FROM pg_stat_activity"
            " WHERE application_name = 'ngx_tickets'"
            " ORDER BY backend_start DESC LIMIT 1");
    ck_assert_ptr_nonnull(pid);
    free(q("SELECT pg_terminate_backend($1::int, 5000)::text", pid));
    free(pid);
    run(&sleep_stmt, NULL, 0);
    ck_assert_int_eq(res.code, TK_EUNAVAIL);
    tk__rollback(conn);
    tk_conn_stats(conn, &a);
    ck_assert_uint_ge(a.errors - b.errors, 1);
    /* libpq saw the server's goodbye, or only the closed socket */
    ck_assert_msg(strncmp(a.sqlstate, "57P", 3) == 0
                  || strcmp(a.sqlstate, "08006") == 0, "%s", a.sqlstate);

    run(&sleep_stmt, NULL, 1);
    tk_conn_stats(conn, &b);
    ck_assert_uint_eq(b.reconnects - a.reconnects, 1);
    ck_assert_uint_eq(b.connects - a.connects, 1);
}
END_TEST


/* Every channel, empty or not, with the database's counts. */
START_TEST(outbox_by_channel)
{
    int                 i, n;
    long                pending, failed, sent, retries;
    tk_outbox_stats_t   st[TK_OUTBOX_CHANNELS];
    const char         *names[] = { "email", "push", "subscription", "tpi",
                                     "webhook" };

    ck_assert(exec_script(pg,
        "INSERT INTO outbox (channel, event, payload, status, attempts,"
        " sent_on, created_on) VALUES"
        " ('email', 'CheckStats', '{}', 'pending', 0, NULL,"
        "  now() - interval '90 seconds'),"
        " ('email', 'CheckStats', '{}', 'pending', 2, NULL, now()),"
        " ('email', 'CheckStats', '{}', 'sent', 3, now(), now()),"
        " ('push', 'CheckStats', '{}', 'failed', 8, NULL, now())"));

    ck_assert_int_eq(CALL(tk_outbox_stats(conn, st, TK_OUTBOX_CHANNELS, &n,
                                          &res)), TK_OK);
    ck_assert_int_eq(n, TK_OUTBOX_CHANNELS);

    for (i = 0; i < n; i++) {
        ck_assert_str_eq(st[i].channel, names[i]);

        pending = qn("SELECT count(*) FROM outbox WHERE channel = $1"
                     " AND status = 'pending'", names[i]);
        failed = qn("SELECT count(*) FROM outbox WHERE channel = $1"
                    " AND status = 'failed'", names[i]);
        sent = qn("SELECT count(*) FROM outbox WHERE channel = $1"
                  " AND status = 'sent'", names[i]);
        retries = qn("SELECT coalesce(sum(greatest(attempts - 1, 0)), 0)"
                     " FROM outbox WHERE channel = $1", names[i]);

        ck_assert_int_eq(st[i].pending, pending);
        ck_assert_int_eq(st[i].failed, failed);
        ck_assert_int_eq(st[i].sent, sent);
        ck_assert_int_eq(st[i].retries, retries);
    }

    ck_assert_int_ge(st[0].pending, 2);
    ck_assert(st[0].oldest_pending_seconds >= 89);
    ck_assert_int_ge(st[1].failed, 1);

    /* max bounds what is filled */
    ck_assert_int_eq(CALL(tk_outbox_stats(conn, st, 2, &n, &res)), TK_OK);
    ck_assert_int_eq(n, 2);
}
END_TEST


static Suite *
stats_suite(void)
{
    Suite  *s;
    TCase  *tc;

    s = suite_create("stats");

    tc = add_tcase(s, "stats", setup, teardown, 0);
    tcase_add_test(tc, round_trips_and_time);
    tcase_add_test(tc, errors_and_reconnects);
    tcase_add_test(tc, outbox_by_channel);

    return s;
}


int
main(void)
{
    return db_main(stats_suite, cleanup, cleanup);
}
