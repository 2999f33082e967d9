/*
 * Unit tests of what libtickets gives a fleet (docs/scale.md): LSNs as
 * text, conninfo checks and the defaults a connection gets unless its
 * conninfo says otherwise, the commit LSN of a write, the replica check on
 * a primary, a read-only server dropping the connection (25006), and
 * statements without names.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"
#include "db.h"


static const tk__stmt_t  app_stmt = {
    "check_fleet_app", "SELECT current_setting('application_name')", 0
};

static const tk__stmt_t  ka_stmt = {
    "check_fleet_ka", "SELECT current_setting('application_name')"
    " || ':' || $1", 1
};


static const tk__stmt_t  insert_stmt = {
    "check_fleet_insert",
    "INSERT INTO check_fleet_rows (value) VALUES ($1)", 1
};


static int
cleanup(PGconn *c)
{
    return exec_script(c, "DROP TABLE IF EXISTS check_fleet_rows");
}


static void
setup(void)
{
    db_setup();
    ck_assert(exec_script(pg, "CREATE TABLE IF NOT EXISTS check_fleet_rows"
                          " (value text)"));
}


static void
teardown(void)
{
    db_teardown();
}


static int
insert(tk_conn_t *c, const char *value)
{
    const char  *v[1] = { value };
    PGresult    *r;

    tk_result_clear(&res);
    r = tk__exec(c, &insert_stmt, v, &res);
    if (r == NULL) {
        return res.code;
    }

    PQclear(r);
    return TK_OK;
}


START_TEST(lsn_parse)
{
    uint64_t     v;
    size_t       i;
    const char  *bad[] = { "", "/1", "x/1", "1/", "1", "1/ 2", "1/-2",
                           "100000000/0", "0/100000000", "1/2x", " 1/2",
                           "+1/2", "1/+2" };

    ck_assert_int_eq(tk_lsn_parse("0/0", &v), TK_OK);
    ck_assert_uint_eq(v, 0);
    ck_assert_int_eq(tk_lsn_parse("16/B374D848", &v), TK_OK);
    ck_assert_uint_eq(v, 0x16B374D848ULL);
    ck_assert_int_eq(tk_lsn_parse("ff/1", &v), TK_OK);
    ck_assert_uint_eq(v, 0xff00000001ULL);
    ck_assert_int_eq(tk_lsn_parse("FFFFFFFF/FFFFFFFF", &v), TK_OK);
    ck_assert_uint_eq(v, UINT64_MAX);

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_msg(tk_lsn_parse(bad[i], &v) == TK_EINVAL, "'%s'", bad[i]);
    }

    ck_assert_int_eq(tk_lsn_parse(NULL, &v), TK_EINVAL);
}
END_TEST


START_TEST(conninfo_check)
{
    char  err[256];

    ck_assert_int_eq(tk_conninfo_check("host=a,b port=1,2 dbname=x"
                     " target_session_attrs=read-write", err, sizeof(err)),
                     TK_OK);
    ck_assert_int_eq(tk_conninfo_check("postgresql://a:1,b:2/x"
                     "?target_session_attrs=prefer-standby", err,
                     sizeof(err)), TK_OK);
    ck_assert_int_eq(tk_conninfo_check("", err, sizeof(err)), TK_OK);

    err[0] = '\0';
    ck_assert_int_eq(tk_conninfo_check("hots=a", err, sizeof(err)),
                     TK_EINVAL);
    ck_assert_msg(strstr(err, "hots") != NULL, "%s", err);
    ck_assert_int_eq(tk_conninfo_check("host='a", err, sizeof(err)),
                     TK_EINVAL);
    ck_assert_int_eq(tk_conninfo_check("postgresql://a/x?nope=1", err,
                     sizeof(err)), TK_EINVAL);
}
END_TEST


/* the defaults are there, and what the conninfo sets wins over them */
START_TEST(conninfo_defaults)
{
    char        ci[1024];
    PGresult   *r;
    tk_conn_t  *c;

    r = tk__exec(conn, &app_stmt, NULL, &res);
    ck_assert_msg(r != NULL, "%s", res.message);
    ck_assert_str_eq(tk__val(r, 0, 0), "ngx_tickets");
    PQclear(r);

    snprintf(ci, sizeof(ci), "%s application_name=mine", conninfo);
    ck_assert_int_eq(tk_conn_open(&c, ci), TK_OK);
    r = tk__exec(c, &app_stmt, NULL, &res);
    ck_assert_msg(r != NULL, "%s", res.message);
    ck_assert_str_eq(tk__val(r, 0, 0), "mine");
    PQclear(r);
    tk_conn_close(c);

    ck_assert_int_eq(tk_conn_open(&c, "hots=nowhere"), TK_OK);
    r = tk__exec(c, &app_stmt, NULL, &res);
    ck_assert(r == NULL);
    ck_assert_int_eq(res.code, TK_EUNAVAIL);
    ck_assert_msg(strstr(res.message, "invalid conninfo") != NULL, "%s",
                  res.message);
    tk_conn_close(c);
}
END_TEST


/* an autocommit write, then a transaction's COMMIT: each an LSN at or
 * past its commit, the second after the first */
START_TEST(write_lsn)
{
    char      a[32], b[32], *now;
    uint64_t  la, lb, ln;

    tk_conn_lsn_reset(conn);
    ck_assert_int_eq(insert(conn, "a"), TK_OK);
    ck_assert_int_eq(tk_conn_write_lsn(conn, a, sizeof(a), &res), TK_OK);
    ck_assert_int_eq(tk_lsn_parse(a, &la), TK_OK);

    tk_conn_lsn_reset(conn);
    ck_assert_int_eq(tk__begin(conn, &res), TK_OK);
    ck_assert_int_eq(insert(conn, "b"), TK_OK);
    ck_assert_int_eq(tk__commit(conn, &res), TK_OK);
    ck_assert_msg(conn->lsn[0] != '\0', "the COMMIT kept no LSN");
    ck_assert_int_eq(tk_conn_write_lsn(conn, b, sizeof(b), &res), TK_OK);
    ck_assert_int_eq(tk_lsn_parse(b, &lb), TK_OK);
    ck_assert_msg(lb > la, "%s after %s", b, a);

    now = q("SELECT pg_current_wal_insert_lsn()::text");
    ck_assert_int_eq(tk_lsn_parse(now, &ln), TK_OK);
    ck_assert_msg(ln >= lb, "%s now, %s kept", now, b);
    free(now);

    /* a snapshot read commits without asking */
    tk_conn_lsn_reset(conn);
    ck_assert_int_eq(tk__begin_snapshot_deferred(conn, &res), TK_OK);
    tk__commit_next(conn);
    {
        PGresult *r = tk__exec(conn, &app_stmt, NULL, &res);
        ck_assert_msg(r != NULL, "%s", res.message);
        PQclear(r);
    }
    ck_assert_int_eq(tk__commit(conn, &res), TK_OK);
    ck_assert_str_eq(conn->lsn, "");
}
END_TEST


/* a server not in recovery is always fit, whatever LSN is asked */
START_TEST(replica_check_primary)
{
    ck_assert_int_eq(CALL(tk_conn_replica_check(conn, "FFFFFFFF/FFFFFFFF",
                                                1, &res)), TK_OK);
    ck_assert_int_eq(CALL(tk_conn_replica_check(conn, NULL, 0, &res)),
                     TK_OK);
    ck_assert_int_eq(CALL(tk_conn_replica_check(conn, "junk", 0, &res)),
                     TK_OK);
}
END_TEST


/* a read-only server: the write is TK_EUNAVAIL, the connection dropped */
START_TEST(read_only_reconnects)
{
    char        ci[1024];
    tk_conn_t  *c;

    snprintf(ci, sizeof(ci), "%s options='-c default_transaction_read_only"
             "=on'", conninfo);
    ck_assert_int_eq(tk_conn_open(&c, ci), TK_OK);
    ck_assert_int_eq(insert(c, "c"), TK_EUNAVAIL);
    ck_assert_int_eq(res.retry_after, 1);
    ck_assert_str_eq(tk__sqlstate(c), "25006");
    ck_assert(c->pg == NULL);
    tk_conn_close(c);
}
END_TEST


/* without names: nothing prepared, binary parameters still fine */
START_TEST(unprepared)
{
    const char  *v[1] = { "x" };
    PGresult    *r;

    tk_conn_set_prepared(conn, 0);
    r = tk__exec(conn, &ka_stmt, v, &res);
    ck_assert_msg(r != NULL, "%s", res.message);
    ck_assert_str_eq(tk__val(r, 0, 0), "ngx_tickets:x");
    PQclear(r);
    ck_assert_int_eq(conn->nprepared, 0);

    ck_assert_int_eq(tk__begin_deferred(conn, &res), TK_OK);
    tk__commit_next(conn);
    r = tk__exec(conn, &ka_stmt, v, &res);
    ck_assert_msg(r != NULL, "%s", res.message);
    PQclear(r);
    ck_assert_int_eq(tk__commit(conn, &res), TK_OK);
    ck_assert_int_eq(conn->nprepared, 0);
    ck_assert_int_eq(CALL(tk_health(conn, &res)), TK_OK);
    ck_assert_int_eq(conn->nprepared, 0);
}
END_TEST


static Suite *
fleet_suite(void)
{
    Suite  *s;
    TCase  *tc;

    s = suite_create("fleet");

    tc = add_tcase(s, "text", NULL, NULL, 0);
    tcase_add_test(tc, lsn_parse);
    tcase_add_test(tc, conninfo_check);

    tc = add_tcase(s, "connection", setup, teardown, 0);
    tcase_add_test(tc, conninfo_defaults);
    tcase_add_test(tc, write_lsn);
    tcase_add_test(tc, replica_check_primary);
    tcase_add_test(tc, read_only_reconnects);
    tcase_add_test(tc, unprepared);

    return s;
}


int
main(void)
{
    return db_main(fleet_suite, cleanup, cleanup);
}
