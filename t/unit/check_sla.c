/*
 * Unit tests of the SLA engine (sql/003_sla.sql, libtickets/src/sla.c)
 * against a real PostgreSQL: TICKETS_TEST_DB is its conninfo, migrated and
 * with the demo data loaded.  The tests make their own calendars, policies,
 * priorities and tickets (named or described "test: sla ..."), and remove
 * them at the start and at the end.
 *
 * Expected instants are written with their UTC offset, so that a daylight
 * saving change shows.  The clock of the pause and state tests is a fake:
 * a function now() in the schema sla_test_clock, found before pg_catalog's
 * by the test sessions' search_path, answers the setting sla_test.now.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"
#include "db.h"
#include "sla.h"


/* every ticket the tests make says this, so that they can go again */
#define MARK     "test: sla ticket"

#define SEARCH_PATH  "SET search_path = sla_test_clock, pg_catalog, public"

/* demo statuses */
#define OPEN      "1"
#define ONHOLD    "3"
#define PENDING   "4"
#define RESOLVED  "5"


static char  pause_setting[16];

/* what main() made for the tests, as text for query parameters */
static char  cal_berlin[16], cal_ny[16], cal_split[16], cal_empty[16],
             cal_night[16], cal_all[16], cal_overlap[16], cal_never[16];
static char  prio_sel[16], prio_none[16], prio_pb[16], prio_pw[16];
static char  cat_sel[16], client_sel[16];
static char  pol_p[16], pol_pc[16], pol_px[16], pol_pcx_off[16], pol_cx[16],
             pol_pb[16], pol_pw[16], pol_explicit[16];


/* the SQLSTATE a query fails with, "" when it succeeds */
static void
fails_with(const char *sql, const char *state)
{
    PGresult    *r;
    const char  *s;

    r = PQexec(pg, sql);
    s = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    ck_assert_msg(s != NULL && strcmp(s, state) == 0,
                  "%s: expected SQLSTATE %s, got %s", sql, state,
                  s ? s : "success");
    PQclear(r);
}


/* Calendar arithmetic ------------------------------------------------- */

/*
 * sla_business_add(cal, start, minutes) is the instant expect, and
 * sla_business_minutes between start and it gives minutes back.
 */
static void
add_is(const char *cal, const char *start, int minutes, const char *expect)
{
    PGresult    *r;
    const char  *v[4];
    char         m[16];

    snprintf(m, sizeof(m), "%d", minutes);
    v[0] = cal;
    v[1] = start;
    v[2] = m;
    v[3] = expect;

    r = PQexecParams(pg,
        "SELECT iso_utc(d), iso_utc($4::timestamptz),"
        " sla_business_minutes($1::int, $2::timestamptz, d)"
        " FROM sla_business_add($1::int, $2::timestamptz, $3::int) AS d",
        4, NULL, v, NULL, NULL, 0);
    ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "%s",
                  PQerrorMessage(pg));
    ck_assert_msg(!PQgetisnull(r, 0, 0), "%s + %d: NULL", start, minutes);
    ck_assert_msg(strcmp(PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1)) == 0,
                  "%s + %d business minutes: %s, expected %s", start,
                  minutes, PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1));
    ck_assert_msg(atoi(PQgetvalue(r, 0, 2)) == minutes,
                  "minutes from %s to %s: %s, expected %d", start,
                  PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 2), minutes);
    PQclear(r);
}


static long
minutes_between(const char *cal, const char *a, const char *b)
{
    char  *s;
    long   n;

    s = q("SELECT sla_business_minutes($1::int, $2::timestamptz,"
          " $3::timestamptz)", cal, a, b);
    ck_assert_ptr_nonnull(s);
    n = strtol(s, NULL, 10);
    free(s);
    return n;
}


START_TEST(add_within_day)
{
    add_is(cal_berlin, "2026-06-02 10:00+02", 90, "2026-06-02 11:30+02");
    add_is(cal_berlin, "2026-06-02 10:00+02", 1, "2026-06-02 10:01+02");
    /* a target that ends at closing time is due then, not next morning */
    add_is(cal_berlin, "2026-06-02 10:00+02", 420, "2026-06-02 17:00+02");
    add_is(cal_berlin, "2026-06-02 09:00+02", 480, "2026-06-02 17:00+02");
    add_is(cal_berlin, "2026-06-02 10:00+02", 421, "2026-06-03 09:01+02");
    /* seconds of the start are kept */
    add_is(cal_berlin, "2026-06-02 10:00:30+02", 60,
           "2026-06-02 11:00:30+02");
}
END_TEST


START_TEST(add_weekend)
{
    /* Friday 16:30: 30 minutes on Friday, 450 on Monday */
    add_is(cal_berlin, "2026-06-05 16:30+02", 480, "2026-06-08 16:30+02");
    add_is(cal_berlin, "2026-06-05 16:30+02", 30, "2026-06-05 17:00+02");
    add_is(cal_berlin, "2026-06-05 16:30+02", 31, "2026-06-08 09:01+02");
}
END_TEST


START_TEST(add_holiday)
{
    /* Thursday 24 December; Friday 25 is a holiday, then the weekend */
    add_is(cal_berlin, "2026-12-24 16:30+01", 480, "2026-12-28 16:30+01");
    /* Friday 1 May is a holiday */
    add_is(cal_berlin, "2026-04-30 16:00+02", 120, "2026-05-04 10:00+02");
    /* starting on the holiday itself */
    add_is(cal_berlin, "2026-05-01 10:00+02", 60, "2026-05-04 10:00+02");
    /* the demo calendar has 25 and 26 December and 1 January */
    add_is("1", "2026-12-24 16:30+01", 480, "2026-12-28 16:30+01");
    add_is("1", "2026-12-31 16:00+01", 120, "2027-01-04 10:00+01");
}
END_TEST


START_TEST(add_spring_forward)
{
    /* Europe/Berlin goes from +01 to +02 on Sunday 29 March 2026 */
    add_is(cal_berlin, "2026-03-27 16:30+01", 480, "2026-03-30 16:30+02");
    add_is(cal_berlin, "2026-03-26 13:00+01", 1440, "2026-03-31 13:00+02");
    add_is(cal_berlin, "2026-03-23 09:00+01", 4800, "2026-04-03 17:00+02");
    add_is(cal_berlin, "2026-03-28 12:00+01", 60, "2026-03-30 10:00+02");
    /* a whole week is 2400 minutes, the short night changes nothing */
    ck_assert_int_eq(minutes_between(cal_berlin, "2026-03-23 00:00+01",
                                     "2026-03-30 00:00+02"), 2400);
    ck_assert_int_eq(minutes_between(cal_berlin, "2026-03-27 17:00+01",
                                     "2026-03-30 09:00+02"), 0);
}
END_TEST


START_TEST(add_fall_back)
{
    /* Europe/Berlin goes from +02 to +01 on Sunday 25 October 2026 */
    add_is(cal_berlin, "2026-10-23 16:30+02", 480, "2026-10-26 16:30+01");
    add_is(cal_berlin, "2026-10-21 12:00+02", 2400, "2026-10-28 12:00+01");
    add_is(cal_berlin, "2026-10-24 03:00+02", 1, "2026-10-26 09:01+01");
    ck_assert_int_eq(minutes_between(cal_berlin, "2026-10-19 00:00+02",
                                     "2026-10-26 00:00+01"), 2400);
}
END_TEST


START_TEST(add_new_york)
{
    /* America/New_York: -05 to -04 on 8 March, back on 1 November 2026 */
    add_is(cal_ny, "2026-03-06 16:30-05", 480, "2026-03-09 16:30-04");
    add_is(cal_ny, "2026-03-06 09:00-05", 960, "2026-03-09 17:00-04");
    add_is(cal_ny, "2026-10-30 16:30-04", 480, "2026-11-02 16:30-05");
    add_is(cal_ny, "2026-10-30 12:00-04", 600, "2026-11-02 14:00-05");
    /* the same instant is after hours in Berlin, within them in New York */
    add_is(cal_ny, "2026-06-02 18:30+02", 60, "2026-06-02 13:30-04");
    add_is(cal_berlin, "2026-06-02 18:30+02", 60, "2026-06-03 10:00+02");
}
END_TEST


START_TEST(add_outside_hours)
{
    /* before opening, after closing, at closing, on Saturday and Sunday */
    add_is(cal_berlin, "2026-06-02 07:00+02", 60, "2026-06-02 10:00+02");
    add_is(cal_berlin, "2026-06-02 18:00+02", 60, "2026-06-03 10:00+02");
    add_is(cal_berlin, "2026-06-02 17:00+02", 1, "2026-06-03 09:01+02");
    add_is(cal_berlin, "2026-06-02 23:59:59+02", 60, "2026-06-03 10:00+02");
    add_is(cal_berlin, "2026-06-06 12:00+02", 60, "2026-06-08 10:00+02");
    add_is(cal_berlin, "2026-06-07 23:00+02", 480, "2026-06-08 17:00+02");
    /* late on Friday in UTC is Saturday in Berlin */
    add_is(cal_berlin, "2026-06-05 22:30Z", 60, "2026-06-08 10:00+02");
}
END_TEST


START_TEST(add_many_days)
{
    /* 2400 business minutes are 5 working days */
    add_is(cal_berlin, "2026-06-01 09:00+02", 2400, "2026-06-05 17:00+02");
    add_is(cal_berlin, "2026-06-03 13:00+02", 2400, "2026-06-10 13:00+02");
    add_is(cal_berlin, "2026-06-01 09:00+02", 9600, "2026-06-26 17:00+02");
    /* across two holidays, a weekend and New Year: 20 working days */
    add_is(cal_berlin, "2026-12-14 09:00+01", 9600, "2027-01-12 17:00+01");
    /* a month and more of intervals: the search goes on past 31 days */
    add_is(cal_berlin, "2026-06-01 09:00+02", 480 * 44, "2026-07-30 17:00+02");
}
END_TEST


START_TEST(add_two_intervals)
{
    /* 09:00-12:00 and 13:00-17:00: 420 minutes a day */
    add_is(cal_split, "2026-06-02 11:30+02", 60, "2026-06-02 13:30+02");
    add_is(cal_split, "2026-06-02 11:00+02", 60, "2026-06-02 12:00+02");
    add_is(cal_split, "2026-06-02 11:00+02", 61, "2026-06-02 13:01+02");
    add_is(cal_split, "2026-06-02 12:30+02", 10, "2026-06-02 13:10+02");
    add_is(cal_split, "2026-06-02 11:00+02", 420, "2026-06-03 11:00+02");
    add_is(cal_split, "2026-06-05 16:00+02", 420, "2026-06-08 16:00+02");
    ck_assert_int_eq(minutes_between(cal_split, "2026-06-01 00:00+02",
                                     "2026-06-08 00:00+02"), 2100);
    ck_assert_int_eq(minutes_between(cal_split, "2026-06-02 11:00+02",
                                     "2026-06-02 14:00+02"), 120);

    /* overlapping intervals (09-12, 11-14 UTC on Mondays) count once */
    add_is(cal_overlap, "2026-06-01 09:00Z", 300, "2026-06-01 14:00Z");
    add_is(cal_overlap, "2026-06-01 11:30Z", 60, "2026-06-01 12:30Z");
    ck_assert_int_eq(minutes_between(cal_overlap, "2026-06-01 00:00Z",
                                     "2026-06-02 00:00Z"), 300);
}
END_TEST


START_TEST(add_dst_night)
{
    /* Sundays 01:00-04:00 Berlin: the hour that is skipped or repeated
     * counts for an interval that spans it */
    add_is(cal_night, "2026-03-29 00:00+01", 120, "2026-03-29 04:00+02");
    add_is(cal_night, "2026-03-29 00:00+01", 121, "2026-04-05 01:01+02");
    add_is(cal_night, "2026-10-25 00:00+02", 240, "2026-10-25 04:00+01");
    add_is(cal_night, "2026-10-25 02:30+02", 60, "2026-10-25 02:30+01");
    add_is(cal_night, "2026-06-07 00:00+02", 180, "2026-06-07 04:00+02");
    ck_assert_int_eq(minutes_between(cal_night, "2026-03-28 00:00Z",
                                     "2026-03-30 00:00Z"), 120);
    ck_assert_int_eq(minutes_between(cal_night, "2026-10-24 00:00Z",
                                     "2026-10-26 00:00Z"), 240);

    /* every day 00:00-24:00 UTC: business minutes are wall minutes */
    add_is(cal_all, "2026-06-06 23:00Z", 120, "2026-06-07 01:00Z");
    add_is(cal_all, "2026-03-28 12:00Z", 1440 * 3, "2026-03-31 12:00Z");
    ck_assert_int_eq(minutes_between(cal_all, "2026-06-01 00:00Z",
                                     "2026-06-08 00:00Z"), 10080);
}
END_TEST


START_TEST(add_edges)
{
    char  *s;

    /* 0 minutes: the start itself, even outside working hours */
    s = q("SELECT sla_business_add($1::int, '2026-06-06 12:00+02', 0)"
          " = '2026-06-06 12:00+02'", cal_berlin);
    ck_assert_str_eq(s, "t");
    free(s);

    /* no working hours, an unknown calendar, every working day a holiday */
    s = q("SELECT sla_business_add($1::int, '2026-06-02 10:00+02', 60)",
          cal_empty);
    ck_assert_ptr_null(s);
    s = q("SELECT sla_business_add(-1, '2026-06-02 10:00+02', 60)");
    ck_assert_ptr_null(s);
    s = q("SELECT sla_business_add($1::int, '2026-06-02 10:00+02', 60)",
          cal_never);
    ck_assert_ptr_null(s);
    s = q("SELECT sla_business_add($1::int, NULL, 60)", cal_berlin);
    ck_assert_ptr_null(s);

    fails_with("SELECT sla_business_add(1, now(), -1)", "22023");

    /* a time zone PostgreSQL does not know is refused */
    fails_with("INSERT INTO business_calendars (name, time_zone)"
               " VALUES ('test: sla mars', 'Mars/Olympus_Mons')", "22023");
}
END_TEST


START_TEST(minutes_cases)
{
    ck_assert_int_eq(minutes_between(cal_berlin, "2026-06-05 16:30+02",
                                     "2026-06-08 16:30+02"), 480);
    /* reversed and empty ranges */
    ck_assert_int_eq(minutes_between(cal_berlin, "2026-06-08 16:30+02",
                                     "2026-06-05 16:30+02"), 0);
    ck_assert_int_eq(minutes_between(cal_berlin, "2026-06-05 16:30+02",
                                     "2026-06-05 16:30+02"), 0);
    /* a weekend, the night, a holiday */
    ck_assert_int_eq(minutes_between(cal_berlin, "2026-06-06 00:00+02",
                                     "2026-06-08 00:00+02"), 0);
    ck_assert_int_eq(minutes_between(cal_berlin, "2026-06-02 17:00+02",
                                     "2026-06-03 09:00+02"), 0);
    ck_assert_int_eq(minutes_between(cal_berlin, "2026-12-24 00:00+01",
                                     "2026-12-29 00:00+01"), 960);
    /* whole minutes, rounded down */
    ck_assert_int_eq(minutes_between(cal_berlin, "2026-06-02 10:00+02",
                                     "2026-06-02 10:00:59+02"), 0);
    ck_assert_int_eq(minutes_between(cal_berlin, "2026-06-02 10:00:30+02",
                                     "2026-06-02 10:02:00+02"), 1);
    /* 2026: 52 weeks and Thursday 1 January, 261 weekdays, less the
     * holidays that fall on them: 1 May, 25 December */
    ck_assert_int_eq(minutes_between(cal_berlin, "2026-01-01 00:00+01",
                                     "2027-01-01 00:00+01"),
                     (261 - 2) * 480);
    ck_assert_int_eq(minutes_between(cal_empty, "2026-06-01 00:00+02",
                                     "2026-06-08 00:00+02"), 0);
    ck_assert_int_eq(minutes_between("-1", "2026-06-01 00:00+02",
                                     "2026-06-08 00:00+02"), 0);
    ck_assert_int_eq(minutes_between(cal_never, "2026-06-01 00:00Z",
                                     "2026-06-08 00:00Z"), 0);
}
END_TEST


/* for many starts and targets: minutes(start, add(start, n)) = n, and
 * add(start, minutes(start, b)) is b when b is a working instant */
START_TEST(minutes_symmetric)
{
    const char  *cals[] = { cal_berlin, cal_ny, cal_split, cal_night };
    size_t       i;
    char        *s;

    for (i = 0; i < sizeof(cals) / sizeof(cals[0]); i++) {
        s = q("SELECT count(*) FROM"
              " generate_series(timestamptz '2026-03-20 00:00Z',"
              "                 '2026-04-10 00:00Z', '7 hours 13 minutes') a,"
              " unnest(ARRAY[1, 59, 60, 479, 480, 481, 1440, 2400, 5000]) n"
              " WHERE sla_business_minutes($1::int, a,"
              "       sla_business_add($1::int, a, n)) <> n", cals[i]);
        ck_assert_msg(strcmp(s, "0") == 0, "calendar %s: %s asymmetric",
                      cals[i], s);
        free(s);

        s = q("SELECT count(*) FROM"
              " generate_series(timestamptz '2026-10-20 00:00Z',"
              "                 '2026-11-10 00:00Z', '9 hours 7 minutes') a,"
              " generate_series(timestamptz '2026-10-20 00:00Z',"
              "                 '2026-11-10 00:00Z', '13 hours 1 minute') b,"
              " LATERAL (SELECT sla_business_minutes($1::int, a, b) AS m) x"
              " WHERE b > a AND x.m > 0 AND sla_business_add($1::int, a, x.m)"
              "       > b", cals[i]);
        ck_assert_msg(strcmp(s, "0") == 0, "calendar %s: %s past b",
                      cals[i], s);
        free(s);
    }
}
END_TEST


/* Policies ------------------------------------------------------------ */

static void
policy_is(const char *prio, const char *cat, const char *client,
    const char *expect)
{
    char  *s;

    s = q("SELECT sla_policy_for($1::int, $2::int, $3::int)", prio, cat,
          client);
    if (expect == NULL) {
        ck_assert_msg(s == NULL, "policy for %s/%s/%s: %s, expected none",
                      prio, cat, client, s);
        return;
    }

    ck_assert_msg(s != NULL && strcmp(s, expect) == 0,
                  "policy for %s/%s/%s: %s, expected %s", prio ? prio : "-",
                  cat ? cat : "-", client ? client : "-", s ? s : "none",
                  expect);
    free(s);
}


START_TEST(policy_selection)
{
    /* the inactive policy with all three would win: it is ignored */
    policy_is(prio_sel, cat_sel, client_sel, pol_pc);
    policy_is(prio_sel, cat_sel, NULL, pol_pc);
    policy_is(prio_sel, NULL, client_sel, pol_px);
    policy_is(prio_sel, NULL, NULL, pol_p);
    policy_is(NULL, cat_sel, client_sel, pol_cx);
    policy_is(NULL, NULL, client_sel, NULL);
    policy_is(prio_none, NULL, NULL, NULL);
    /* the demo's priority policies */
    policy_is("3", NULL, NULL, "3");
    policy_is("3", cat_sel, client_sel, pol_cx);

    /* activated, the one with the most criteria wins */
    free(q("UPDATE sla_policies SET is_active = true WHERE id = $1::int",
           pol_pcx_off));
    policy_is(prio_sel, cat_sel, client_sel, pol_pcx_off);
    free(q("UPDATE sla_policies SET is_active = false WHERE id = $1::int",
           pol_pcx_off));
    /* ties go to the lowest id: made in the order p, pc, px, pcx, cx */
    policy_is(prio_sel, cat_sel, client_sel, pol_pc);
}
END_TEST


START_TEST(due_units)
{
    char  *s;

    /* business minutes in the policy's calendar, pause in working minutes */
    s = q("SELECT iso_utc(response_due) || ' ' || iso_utc(resolution_due)"
          " FROM sla_due($1::int, '2026-06-05 14:00+02', 0, 0)", pol_pb);
    ck_assert_str_eq(s, "2026-06-05T13:00:00Z 2026-06-08T12:00:00Z");
    free(s);
    s = q("SELECT iso_utc(response_due) || ' ' || iso_utc(resolution_due)"
          " FROM sla_due($1::int, '2026-06-05 14:00+02', 999999, 120)",
          pol_pb);
    ck_assert_str_eq(s, "2026-06-05T15:00:00Z 2026-06-08T14:00:00Z");
    free(s);

    /* wall-clock minutes, pause in seconds */
    s = q("SELECT iso_utc(response_due) || ' ' || iso_utc(resolution_due)"
          " FROM sla_due($1::int, '2026-06-05 14:00+02', 0, 0)", pol_pw);
    ck_assert_str_eq(s, "2026-06-05T13:00:00Z 2026-06-05T20:00:00Z");
    free(s);
    s = q("SELECT iso_utc(response_due) || ' ' || iso_utc(resolution_due)"
          " FROM sla_due($1::int, '2026-06-05 14:00+02', 3630, 999)",
          pol_pw);
    ck_assert_str_eq(s, "2026-06-05T14:00:30Z 2026-06-05T21:00:30Z");
    free(s);

    s = q("SELECT coalesce(response_due, resolution_due)"
          " FROM sla_due(-1, now(), 0, 0)");
    ck_assert_ptr_null(s);
}
END_TEST


/* Tickets ------------------------------------------------------------- */

static void
setup(void)
{
    db_setup();
    ck_assert_int_eq(tk__cmd(conn, SEARCH_PATH, &res), TK_OK);
    free(q(SEARCH_PATH));
}


static void
teardown(void)
{
    free(q("UPDATE settings SET value = $1 WHERE key = 'sla_pause_on_hold'",
           pause_setting[0] ? pause_setting : NULL));
    db_teardown();
}


/* Sets the fake clock of both sessions. */
static void
clock_at(const char *when)
{
    char  sql[128];
    char *s;

    snprintf(sql, sizeof(sql), "SET sla_test.now = '%s'", when);
    ck_assert_int_eq(tk__cmd(conn, sql, &res), TK_OK);
    free(q(sql));

    s = q("SELECT now() = $1::timestamptz", when);
    ck_assert_str_eq(s, "t");
    free(s);
}


/* A ticket as a caller inserts it, before its SLA: returns its id. */
static char *
ticket_new(const char *created, const char *status, const char *prio,
    const char *cat, const char *client, const char *due)
{
    char  *id;

    id = q("INSERT INTO tickets (title, description, requester_id,"
           " created_by_id, site_id, department_id, status_id, priority_id,"
           " category_id, client_id, created_on, due_date)"
           " VALUES ('SLA', '" MARK "', '" MEMBER1 "', '" ADMIN "', 1, 1,"
           " $1::int, $2::int, $3::int, $4::int, $5::timestamptz,"
           " $6::timestamptz) RETURNING id", status, prio, cat, client,
           created, due);
    ck_assert_ptr_nonnull(id);
    return id;
}


/* tk__sla_apply in a transaction of its own, as a caller would */
static int
apply(const char *id, const char *explicit_sla)
{
    int  rc;

    tk_result_clear(&res);
    tk_result_init(&res);
    ck_assert_int_eq(tk__begin(conn, &res), TK_OK);

    rc = tk__sla_apply(conn, id, explicit_sla, &res);
    if (rc == TK_OK) {
        ck_assert_int_eq(tk__commit(conn, &res), TK_OK);
    } else {
        tk__rollback(conn);
    }

    return rc;
}


/* a status change and tk__sla_status_changed in one transaction */
static int
set_status(const char *id, const char *status)
{
    char  sql[128];
    int   rc;

    tk_result_clear(&res);
    tk_result_init(&res);
    ck_assert_int_eq(tk__begin(conn, &res), TK_OK);

    snprintf(sql, sizeof(sql), "UPDATE tickets SET status_id = %d,"
             " resolved_on = CASE WHEN %d = 5 THEN now() END WHERE id = %lld",
             atoi(status), atoi(status), atoll(id));
    ck_assert_int_eq(tk__cmd(conn, sql, &res), TK_OK);

    rc = tk__sla_status_changed(conn, id, &res);
    if (rc == TK_OK) {
        ck_assert_int_eq(tk__commit(conn, &res), TK_OK);
    } else {
        tk__rollback(conn);
    }

    return rc;
}


/* "sla_id response_due resolution_due" of a ticket, dates in UTC */
static void
sla_is(const char *id, const char *expect)
{
    char  *s;

    s = q("SELECT coalesce(sla_id::text, '-') || ' '"
          " || coalesce(iso_utc(response_due_date), '-') || ' '"
          " || coalesce(iso_utc(due_date), '-')"
          " FROM tickets WHERE id = $1::bigint", id);
    ck_assert_msg(s != NULL && strcmp(s, expect) == 0,
                  "ticket %s: \"%s\", expected \"%s\"", id, s, expect);
    free(s);
}


/* "state minutesLeft breached responseBreached" of sla_state */
static void
state_is(const char *id, const char *expect)
{
    char  *s;

    s = q("SELECT concat_ws(' ', j->>'state', coalesce(j->>'minutesLeft',"
          " 'null'), j->>'breached', j->>'responseBreached')"
          " FROM sla_state($1::bigint) j", id);
    ck_assert_msg(s != NULL && strcmp(s, expect) == 0,
                  "state of ticket %s: \"%s\", expected \"%s\"", id, s,
                  expect);
    free(s);
}


static void
paused_is(const char *id, const char *expect)
{
    char  *s;

    s = q("SELECT concat_ws(' ', coalesce(iso_utc(sla_paused_since), '-'),"
          " sla_paused_seconds, sla_paused_minutes)"
          " FROM tickets WHERE id = $1::bigint", id);
    ck_assert_msg(s != NULL && strcmp(s, expect) == 0,
                  "pause of ticket %s: \"%s\", expected \"%s\"", id, s,
                  expect);
    free(s);
}


START_TEST(apply_create)
{
    char  *t, exp[160];

    clock_at("2026-06-05 14:00+02");

    /* a policy overrides the manual due date */
    t = ticket_new("2026-06-05 14:00+02", OPEN, prio_pb, NULL, NULL,
                   "2026-07-01 12:00Z");
    ck_assert_int_eq(apply(t, NULL), TK_OK);
    snprintf(exp, sizeof(exp), "%s 2026-06-05T13:00:00Z"
             " 2026-06-08T12:00:00Z", pol_pb);
    sla_is(t, exp);
    free(t);

    /* no policy: the manual one stands, without a response target */
    t = ticket_new("2026-06-05 14:00+02", OPEN, prio_none, NULL, NULL,
                   "2026-07-01 12:00Z");
    ck_assert_int_eq(apply(t, NULL), TK_OK);
    sla_is(t, "- - 2026-07-01T12:00:00Z");
    state_is(t, "none 37440 false false");
    free(t);

    /* an explicit SLA wins over the criteria, even an inactive one */
    t = ticket_new("2026-06-05 14:00+02", OPEN, prio_pb, NULL, NULL, NULL);
    ck_assert_int_eq(apply(t, pol_pw), TK_OK);
    snprintf(exp, sizeof(exp), "%s 2026-06-05T13:00:00Z"
             " 2026-06-05T20:00:00Z", pol_pw);
    sla_is(t, exp);
    ck_assert_int_eq(apply(t, pol_pcx_off), TK_OK);
    snprintf(exp, sizeof(exp), "%s 2026-06-05T12:10:00Z"
             " 2026-06-05T12:20:00Z", pol_pcx_off);
    sla_is(t, exp);
    ck_assert_int_eq(apply(t, ""), TK_OK);
    snprintf(exp, sizeof(exp), "%s 2026-06-05T13:00:00Z"
             " 2026-06-08T12:00:00Z", pol_pb);
    sla_is(t, exp);

    /* what is not a policy, and what is not a ticket */
    ck_assert_int_eq(apply(t, "999999"), TK_EINVAL);
    ck_assert_int_eq(apply(t, "x"), TK_EINVAL);
    sla_is(t, exp);
    ck_assert_int_eq(apply("999999999", NULL), TK_ENOTFOUND);
    ck_assert_int_eq(set_status("999999999", OPEN), TK_ENOTFOUND);
    free(t);

    /* created OnHold: paused from the start */
    t = ticket_new("2026-06-05 14:00+02", ONHOLD, prio_pb, NULL, NULL, NULL);
    ck_assert_int_eq(apply(t, NULL), TK_OK);
    paused_is(t, "2026-06-05T12:00:00Z 0 0");
    state_is(t, "paused 480 false false");
    free(t);
}
END_TEST


START_TEST(apply_priority_change)
{
    char  *t, exp[160];

    /* created on Friday, re-prioritized on Tuesday: from createdOn */
    clock_at("2026-06-05 14:00+02");
    t = ticket_new("2026-06-05 14:00+02", OPEN, prio_pw, NULL, NULL, NULL);
    ck_assert_int_eq(apply(t, NULL), TK_OK);
    snprintf(exp, sizeof(exp), "%s 2026-06-05T13:00:00Z"
             " 2026-06-05T20:00:00Z", pol_pw);
    sla_is(t, exp);

    clock_at("2026-06-09 10:00+02");
    free(q("UPDATE tickets SET priority_id = $2::int WHERE id = $1::bigint", t,
           prio_pb));
    ck_assert_int_eq(apply(t, NULL), TK_OK);
    snprintf(exp, sizeof(exp), "%s 2026-06-05T13:00:00Z"
             " 2026-06-08T12:00:00Z", pol_pb);
    sla_is(t, exp);
    state_is(t, "running -240 true true");

    /* to a priority without a policy: the last due date stands */
    free(q("UPDATE tickets SET priority_id = $2::int WHERE id = $1::bigint", t,
           prio_none));
    ck_assert_int_eq(apply(t, NULL), TK_OK);
    sla_is(t, "- - 2026-06-08T12:00:00Z");
    free(t);
}
END_TEST


START_TEST(pause_resume)
{
    char  *t, exp[160];

    clock_at("2026-06-05 14:00+02");
    t = ticket_new("2026-06-05 14:00+02", OPEN, prio_pb, NULL, NULL, NULL);
    ck_assert_int_eq(apply(t, NULL), TK_OK);
    state_is(t, "running 480 false false");

    /* On Hold at 16:00 on Friday: 60 minutes left on Friday, 300 Monday */
    clock_at("2026-06-05 16:00+02");
    ck_assert_int_eq(set_status(t, ONHOLD), TK_OK);
    paused_is(t, "2026-06-05T14:00:00Z 0 0");
    state_is(t, "paused 360 false true");

    /* to Pending: still the same pause */
    clock_at("2026-06-05 16:30+02");
    ck_assert_int_eq(set_status(t, PENDING), TK_OK);
    paused_is(t, "2026-06-05T14:00:00Z 0 0");

    /* the weekend is no working time: Monday 10:00 the clock still says
     * 360, and the pause was 120 working minutes (16-17, 9-10) */
    clock_at("2026-06-08 10:00+02");
    state_is(t, "paused 360 false true");
    ck_assert_int_eq(set_status(t, OPEN), TK_OK);
    paused_is(t, "- 237600 120");
    snprintf(exp, sizeof(exp), "%s 2026-06-05T15:00:00Z"
             " 2026-06-08T14:00:00Z", pol_pb);
    sla_is(t, exp);
    state_is(t, "running 360 false true");

    /* Open again: nothing changes */
    ck_assert_int_eq(set_status(t, OPEN), TK_OK);
    sla_is(t, exp);

    /* a second pause adds to the first */
    clock_at("2026-06-08 11:00+02");
    ck_assert_int_eq(set_status(t, ONHOLD), TK_OK);
    clock_at("2026-06-08 11:45+02");
    ck_assert_int_eq(set_status(t, OPEN), TK_OK);
    paused_is(t, "- 240300 165");
    snprintf(exp, sizeof(exp), "%s 2026-06-08T07:45:00Z"
             " 2026-06-08T14:45:00Z", pol_pb);
    sla_is(t, exp);
    state_is(t, "running 300 false true");

    /* a later re-selection keeps the paused time */
    ck_assert_int_eq(apply(t, NULL), TK_OK);
    sla_is(t, exp);

    /* resolved while paused: the pause ends, the ticket is done in time */
    clock_at("2026-06-08 12:00+02");
    ck_assert_int_eq(set_status(t, ONHOLD), TK_OK);
    clock_at("2026-06-08 13:00+02");
    ck_assert_int_eq(set_status(t, RESOLVED), TK_OK);
    paused_is(t, "- 243900 225");
    snprintf(exp, sizeof(exp), "%s 2026-06-08T08:45:00Z"
             " 2026-06-09T07:45:00Z", pol_pb);
    sla_is(t, exp);
    state_is(t, "met 285 false true");
    free(t);
}
END_TEST


START_TEST(pause_policy_change)
{
    char  *t, exp[160];

    clock_at("2026-06-05 14:00+02");
    t = ticket_new("2026-06-05 14:00+02", OPEN, prio_pb, NULL, NULL, NULL);
    ck_assert_int_eq(apply(t, NULL), TK_OK);

    clock_at("2026-06-05 16:00+02");
    ck_assert_int_eq(set_status(t, ONHOLD), TK_OK);

    /* to the wall-clock policy while paused: the pause goes on, and the
     * due dates count the pauses already ended (none) */
    clock_at("2026-06-08 10:00+02");
    free(q("UPDATE tickets SET priority_id = $2::int WHERE id = $1::bigint", t,
           prio_pw));
    ck_assert_int_eq(apply(t, NULL), TK_OK);
    snprintf(exp, sizeof(exp), "%s 2026-06-05T13:00:00Z"
             " 2026-06-05T20:00:00Z", pol_pw);
    sla_is(t, exp);
    paused_is(t, "2026-06-05T14:00:00Z 0 0");
    state_is(t, "paused 360 false true");

    /* resumed at 12:00 on Monday: 68 hours, or 240 working minutes of the
     * demo's business_calendar_id (the policy has no calendar) */
    clock_at("2026-06-08 12:00+02");
    ck_assert_int_eq(set_status(t, OPEN), TK_OK);
    paused_is(t, "- 244800 240");
    snprintf(exp, sizeof(exp), "%s 2026-06-08T09:00:00Z"
             " 2026-06-08T16:00:00Z", pol_pw);
    sla_is(t, exp);
    state_is(t, "running 360 false true");

    /* back to business hours: the pause counts 240 working minutes */
    free(q("UPDATE tickets SET priority_id = $2::int WHERE id = $1::bigint", t,
           prio_pb));
    ck_assert_int_eq(apply(t, NULL), TK_OK);
    snprintf(exp, sizeof(exp), "%s 2026-06-08T09:00:00Z"
             " 2026-06-09T08:00:00Z", pol_pb);
    sla_is(t, exp);
    state_is(t, "running 360 false true");
    free(t);
}
END_TEST


START_TEST(pause_setting_off)
{
    char  *t;

    free(q("UPDATE settings SET value = 'false'"
           " WHERE key = 'sla_pause_on_hold'"));

    clock_at("2026-06-05 14:00+02");
    t = ticket_new("2026-06-05 14:00+02", OPEN, prio_pb, NULL, NULL, NULL);
    ck_assert_int_eq(apply(t, NULL), TK_OK);
    clock_at("2026-06-05 16:00+02");
    ck_assert_int_eq(set_status(t, ONHOLD), TK_OK);
    paused_is(t, "- 0 0");
    state_is(t, "running 360 false true");

    /* turned on: the next change to OnHold pauses */
    free(q("UPDATE settings SET value = 'TRUE'"
           " WHERE key = 'sla_pause_on_hold'"));
    ck_assert_int_eq(set_status(t, PENDING), TK_OK);
    paused_is(t, "2026-06-05T14:00:00Z 0 0");

    /* turned off while paused: the pause still ends */
    free(q("UPDATE settings SET value = 'no'"
           " WHERE key = 'sla_pause_on_hold'"));
    clock_at("2026-06-08 09:30+02");
    ck_assert_int_eq(set_status(t, OPEN), TK_OK);
    paused_is(t, "- 235800 90");
    free(t);

    /* unset is on */
    free(q("UPDATE settings SET value = NULL"
           " WHERE key = 'sla_pause_on_hold'"));
    t = ticket_new("2026-06-05 14:00+02", OPEN, prio_pb, NULL, NULL, NULL);
    ck_assert_int_eq(apply(t, NULL), TK_OK);
    ck_assert_int_eq(set_status(t, ONHOLD), TK_OK);
    paused_is(t, "2026-06-08T07:30:00Z 0 0");
    free(t);
}
END_TEST


START_TEST(state_kinds)
{
    char  *t;

    /* created Monday 09:00: response due 10:00, resolution 17:00 */
    clock_at("2026-06-08 10:00+02");
    t = ticket_new("2026-06-08 09:00+02", OPEN, prio_pb, NULL, NULL, NULL);
    ck_assert_int_eq(apply(t, NULL), TK_OK);
    state_is(t, "running 420 false false");

    /* a minute late for the response */
    clock_at("2026-06-08 10:01+02");
    state_is(t, "running 419 false true");
    free(q("UPDATE tickets SET first_responded_on = '2026-06-08 09:30+02'"
           " WHERE id = $1::bigint", t));
    state_is(t, "running 419 false false");

    /* breached: an hour of Tuesday past 17:00 on Monday */
    clock_at("2026-06-09 10:00+02");
    state_is(t, "running -60 true false");
    clock_at("2026-06-08 17:00:30+02");
    state_is(t, "running 0 true false");

    /* met at 16:00, missed on Tuesday 09:30 */
    free(q("UPDATE tickets SET status_id = 5,"
           " resolved_on = '2026-06-08 16:00+02' WHERE id = $1::bigint", t));
    state_is(t, "met 60 false false");
    free(q("UPDATE tickets SET status_id = 6, resolved_on = NULL,"
           " closed_on = '2026-06-09 09:30+02' WHERE id = $1::bigint", t));
    state_is(t, "missed -30 true false");
    free(t);

    /* a wall-clock policy counts wall minutes */
    clock_at("2026-06-06 12:00+02");
    t = ticket_new("2026-06-05 14:00+02", OPEN, prio_pw, NULL, NULL, NULL);
    ck_assert_int_eq(apply(t, NULL), TK_OK);
    state_is(t, "running -840 true true");
    free(t);

    /* no policy and no due date */
    t = ticket_new("2026-06-05 14:00+02", OPEN, prio_none, NULL, NULL, NULL);
    ck_assert_int_eq(apply(t, NULL), TK_OK);
    state_is(t, "none null false false");

    /* the whole JSON, by row as the TicketApiModel will ask */
    free(t);
    t = q("SELECT sla_state(t)::text FROM tickets t"
          " WHERE t.description = '" MARK "' AND t.priority_id = $1::int"
          " ORDER BY t.id DESC LIMIT 1", prio_pw);
    ck_assert_str_eq(t, "{\"state\" : \"running\", \"minutesLeft\" : -840,"
                     " \"breached\" : true, \"responseBreached\" : true,"
                     " \"businessHours\" : false}");
    free(t);

    t = q("SELECT sla_state(999999999::bigint)");
    ck_assert_ptr_null(t);
}
END_TEST


/*
 * The calendar table (sql/009) and the walk it stands in for give the
 * same answers: every test calendar, starts every 73 h 7 min from 300 days
 * back to 300 days ahead (DST changes, holidays, nights, overlaps), the
 * minutes around a day's and a week's edges; and the minutes between two
 * instants.  And the table is what answers inside its span.
 */
START_TEST(table_agrees_with_walk)
{
    ck_assert_int_gt(qn("SELECT count(*) FROM sla_calendar_spans s"
                        " JOIN business_calendars c ON c.id = s.calendar_id"
                        " WHERE s.covers_from < now() - interval '300 days'"
                        " AND s.covers_to > now() + interval '700 days'"),
                     7);
    assert_q("0", "SELECT count(*)::text FROM business_calendars c,"
             " generate_series(now() - interval '300 days',"
             "  now() + interval '300 days', interval '73 hours 7 minutes')"
             "  s (start),"
             " unnest(ARRAY[1, 60, 241, 480, 1441, 7201]) m (n)"
             " WHERE sla_business_add(c.id, s.start, m.n)"
             "  IS DISTINCT FROM sla_business_add_walk(c.id, s.start, m.n)");
    assert_q("0", "SELECT count(*)::text FROM business_calendars c,"
             " generate_series(now() - interval '300 days',"
             "  now() + interval '300 days', interval '67 hours 13 minutes')"
             "  s (a),"
             " unnest(ARRAY[interval '7 hours', interval '2 days 5 hours',"
             "  interval '9 days 30 seconds', interval '40 days']) d (d)"
             " WHERE sla_business_minutes(c.id, s.a, s.a + d.d)"
             "  IS DISTINCT FROM"
             "  sla_business_minutes_walk(c.id, s.a, s.a + d.d)");
    /* a change of the calendar is in the table at once */
    ck_assert(exec_script(pg, "BEGIN;"
        "INSERT INTO holidays (calendar_id, day, name) VALUES (1,"
        " (now() AT TIME ZONE 'Europe/Berlin')::date + 14, 'test day')"));
    assert_q("0", "SELECT count(*)::text FROM"
             " generate_series(now(), now() + interval '30 days',"
             "  interval '5 hours 3 minutes') s (start)"
             " WHERE sla_business_add(1, s.start, 600)"
             "  IS DISTINCT FROM sla_business_add_walk(1, s.start, 600)");
    ck_assert(exec_script(pg, "ROLLBACK"));
}
END_TEST


static Suite *
sla_suite(void)
{
    Suite  *s;
    TCase  *tc;

    s = suite_create("sla");

    tc = add_tcase(s, "calendar", setup, teardown, 60);
    tcase_add_test(tc, add_within_day);
    tcase_add_test(tc, add_weekend);
    tcase_add_test(tc, add_holiday);
    tcase_add_test(tc, add_spring_forward);
    tcase_add_test(tc, add_fall_back);
    tcase_add_test(tc, add_new_york);
    tcase_add_test(tc, add_outside_hours);
    tcase_add_test(tc, add_many_days);
    tcase_add_test(tc, add_two_intervals);
    tcase_add_test(tc, add_dst_night);
    tcase_add_test(tc, add_edges);
    tcase_add_test(tc, minutes_cases);
    tcase_add_test(tc, minutes_symmetric);
    tcase_add_test(tc, table_agrees_with_walk);

    tc = add_tcase(s, "policy", setup, teardown, 0);
    tcase_add_test(tc, policy_selection);
    tcase_add_test(tc, due_units);

    tc = add_tcase(s, "ticket", setup, teardown, 60);
    tcase_add_test(tc, apply_create);
    tcase_add_test(tc, apply_priority_change);
    tcase_add_test(tc, pause_resume);
    tcase_add_test(tc, pause_policy_change);
    tcase_add_test(tc, pause_setting_off);
    tcase_add_test(tc, state_kinds);

    return s;
}


/* What the tests made goes, so that they can run again. */
static int
cleanup(PGconn *c)
{
    return exec_script(c,
        "BEGIN;"
        "DELETE FROM tickets WHERE description = '" MARK "';"
        "DELETE FROM sla_policies WHERE name LIKE 'test: sla %';"
        "DELETE FROM priorities WHERE name LIKE 'test: sla %';"
        "DELETE FROM categories WHERE name LIKE 'test: sla %';"
        "DELETE FROM clients WHERE name LIKE 'test: sla %';"
        "DELETE FROM business_calendars WHERE name LIKE 'test: sla %';"
        "DROP SCHEMA IF EXISTS sla_test_clock CASCADE;"
        "COMMIT");
}


/* "INSERT ... RETURNING id" into out */
static int
made(PGconn *c, char *out, const char *sql)
{
    char  *id;

    if (!sql_value(c, sql, 0, NULL, &id) || id == NULL) {
        fprintf(stderr, "check_sla: %s: %s", sql, PQerrorMessage(c));
        return 0;
    }

    snprintf(out, 16, "%s", id);
    free(id);
    return 1;
}


/* A calendar with working hours (weekdays from..to, as "a-b"), e.g.
 * hours "1-5 09:00 17:00; 1-5 13:00 17:00". */
static int
calendar(PGconn *c, char *out, const char *name, const char *zone,
    const char *hours)
{
    char        sql[1024];
    int         from, to, n;
    char        start[16], end[16];
    const char *p;

    snprintf(sql, sizeof(sql), "INSERT INTO business_calendars (name,"
             " time_zone) VALUES ('test: sla %s', '%s') RETURNING id",
             name, zone);
    if (!made(c, out, sql)) {
        return 0;
    }

    for (p = hours; p != NULL && *p != '\0'; p = strchr(p, ';')) {
        if (*p == ';') {
            p++;
        }
        if (sscanf(p, " %d-%d %15s %15s%n", &from, &to, start, end, &n) != 4)
        {
            break;
        }
        snprintf(sql, sizeof(sql), "INSERT INTO business_hours (calendar_id,"
                 " iso_weekday, start_time, end_time) SELECT %s, d, '%s',"
                 " '%s' FROM generate_series(%d, %d) d", out, start, end,
                 from, to);
        if (!exec_script(c, sql)) {
            return 0;
        }
    }

    return 1;
}


static int
policy(PGconn *c, char *out, const char *name, const char *prio,
    const char *cat, const char *client, int active, int resp, int resol,
    const char *cal)
{
    char  sql[512];

    snprintf(sql, sizeof(sql), "INSERT INTO sla_policies (name, is_active,"
             " priority_id, category_id, client_id, response_minutes,"
             " resolution_minutes, business_hours_only, calendar_id) VALUES"
             " ('test: sla %s', %s, %s, %s, %s, %d, %d, %s, %s) RETURNING id",
             name, active ? "true" : "false", prio ? prio : "NULL",
             cat ? cat : "NULL", client ? client : "NULL", resp, resol,
             cal ? "true" : "false", cal ? cal : "NULL");
    return made(c, out, sql);
}


/* The calendars, lookups and policies of the tests, and the fake clock. */
static int
make_all(PGconn *c)
{
    return cleanup(c)
        && exec_script(c, "CREATE SCHEMA sla_test_clock")
        && exec_script(c, "CREATE FUNCTION sla_test_clock.now()"
                       " RETURNS timestamptz LANGUAGE sql STABLE AS $$"
                       " SELECT coalesce(nullif(current_setting("
                       "'sla_test.now', true), '')::timestamptz,"
                       " pg_catalog.now()) $$")
        && calendar(c, cal_berlin, "berlin", "Europe/Berlin",
                    "1-5 09:00 17:00")
        && exec_script(c, "INSERT INTO holidays (calendar_id, day)"
                       " SELECT id, d FROM business_calendars,"
                       " unnest(ARRAY[date '2026-05-01', '2026-12-25',"
                       " '2026-12-26', '2027-01-01']) d"
                       " WHERE name = 'test: sla berlin'")
        && calendar(c, cal_ny, "new york", "America/New_York",
                    "1-5 09:00 17:00")
        && calendar(c, cal_split, "split", "Europe/Berlin",
                    "1-5 09:00 12:00; 1-5 13:00 17:00")
        && calendar(c, cal_empty, "empty", "UTC", "")
        && calendar(c, cal_night, "night", "Europe/Berlin", "7-7 01:00 04:00")
        && calendar(c, cal_all, "all", "UTC", "1-7 00:00 24:00")
        && calendar(c, cal_overlap, "overlap", "UTC",
                    "1-1 09:00 12:00; 1-1 11:00 14:00")
        && calendar(c, cal_never, "never", "UTC", "1-1 09:00 17:00")
        && exec_script(c, "INSERT INTO holidays (calendar_id, day)"
                       " SELECT id, d FROM business_calendars,"
                       " generate_series(date '2026-01-01', '2037-12-31',"
                       " '1 day') d WHERE name = 'test: sla never'")
        && made(c, prio_sel, "INSERT INTO priorities (name, rank) VALUES"
                "('test: sla sel', 90001) RETURNING id")
        && made(c, prio_none, "INSERT INTO priorities (name, rank) VALUES"
                "('test: sla none', 90002) RETURNING id")
        && made(c, prio_pb, "INSERT INTO priorities (name, rank) VALUES"
                "('test: sla pb', 90003) RETURNING id")
        && made(c, prio_pw, "INSERT INTO priorities (name, rank) VALUES"
                "('test: sla pw', 90004) RETURNING id")
        && made(c, cat_sel, "INSERT INTO categories (name) VALUES"
                "('test: sla sel') RETURNING id")
        && made(c, client_sel, "INSERT INTO clients (name) VALUES"
                "('test: sla sel') RETURNING id")
        && policy(c, pol_p, "p", prio_sel, NULL, NULL, 1, 60, 480, NULL)
        && policy(c, pol_pc, "pc", prio_sel, cat_sel, NULL, 1, 60, 480, NULL)
        && policy(c, pol_px, "px", prio_sel, NULL, client_sel, 1, 60, 480,
                  NULL)
        && policy(c, pol_pcx_off, "pcx", prio_sel, cat_sel, client_sel, 0,
                  10, 20, NULL)
        && policy(c, pol_cx, "cx", NULL, cat_sel, client_sel, 1, 60, 480,
                  NULL)
        && policy(c, pol_pb, "pb", prio_pb, NULL, NULL, 1, 60, 480,
                  cal_berlin)
        && policy(c, pol_pw, "pw", prio_pw, NULL, NULL, 1, 60, 480, NULL)
        && policy(c, pol_explicit, "explicit", NULL, NULL, NULL, 0, 60, 480,
                  NULL);
}


/* What the tests need: all of it, or none. */
static int
prepare(PGconn *c)
{
    /* the setting as it is, to put it back after each test ("" for NULL) */
    read_setting(c, "sla_pause_on_hold", pause_setting,
                 sizeof(pause_setting));

    if (!make_all(c)) {
        cleanup(c);
        return 0;
    }

    return 1;
}


int
main(void)
{
    return db_main(sla_suite, prepare, cleanup);
}
