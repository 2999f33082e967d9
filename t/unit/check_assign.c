/*
 * Unit tests of auto-assignment (libtickets/src/assign.c, called by
 * register, update and the integration's new ticket) against a real
 * PostgreSQL: TICKETS_TEST_DB is its conninfo, migrated and with the demo
 * data loaded.  The tests make their own tickets (description MARK), users
 * and groups (named check-assign-...), and remove them again; the
 * auto-assignment settings are put back to their defaults.
 */


#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"


/* technicians of the test's own group, in this order by id */
#define TA       "check-assign-a"
#define TB       "check-assign-b"
#define TOFF     "check-assign-off"

#define MARK     "check_assign: made by a test"

#define THREADS  4
#define PER      10


static char  group[16];      /* the test's group */
static char  empty[16];      /* a group without candidates */


/* exec_sql(sql, p1, ...): q() whose answer does not matter. */
#define exec_sql(...)  free(q(__VA_ARGS__))


#define assignee_is(want, id)                                                 \
    assert_q(want, "SELECT assignee_id FROM tickets WHERE id = $1::bigint",  \
             id)


static void
setting(const char *key, const char *value)
{
    tk_result_t  r;

    tk_result_init(&r);
    ck_assert_msg(tk_setting_set(conn, key, value, &r) == TK_OK, "%s: %s",
                  key, r.message);
    tk_result_clear(&r);
}


/* A TicketCreateViewModel for member1 in group g (NULL: none), with
 * assignee (NULL: none). */
static tk_form_t *
reg_form(const char *g, const char *assignee)
{
    tk_form_t  *f;

    f = form("Title", "Printer on fire", "Description", MARK,
             "CreatorId", MEMBER1, "SiteId", "1", "DepartmentId", "1",
             "TicketStatusId", "1", "TicketType", "Incident", NULL);
    if (g != NULL) {
        add(f, "GroupId", g);
    }
    if (assignee != NULL) {
        add(f, "AssignedUser", assignee);
    }
    return f;
}


/* Registers a ticket as admin on c: its id into id. */
static void
register_on(tk_conn_t *c, tk_result_t *r, const char *g,
    const char *assignee, char id[24])
{
    tk_principal_t  p = ADMIN_P;
    tk_form_t      *f;
    int             rc;

    f = reg_form(g, assignee);
    tk_result_clear(r);
    rc = tk_ticket_register(c, &p, f, NULL, r);
    tk_form_free(f);
    ck_assert_msg(rc == TK_CREATED, "register: %d %s %s", rc, r->message,
                  r->errors ? r->errors : "");
    snprintf(id, 24, "%lld", (long long) r->id);
}

#define reg(g, assignee, id)  register_on(conn, &res, g, assignee, id)


static int
update(const char *id, tk_form_t *f)
{
    tk_principal_t  p = ADMIN_P;
    int             rc;

    rc = CALL(tk_ticket_update(conn, &p, strtoll(id, NULL, 10), f, NULL,
                               NULL, &res));
    tk_form_free(f);
    return rc;
}


/* A ticket of technician in status (1: Open), deleted or not, straight
 * into the database: load for the least loaded. */
static void
load(const char *technician, const char *status, int deleted)
{
    exec_sql(deleted
             ? "INSERT INTO tickets (title, description, requester_id,"
               " assignee_id, created_by_id, site_id, department_id,"
               " status_id, is_deleted, deleted_on)"
               " VALUES ('Load', '" MARK "', '" MEMBER1 "', $1, '" ADMIN "',"
               " 1, 1, $2::int, true, now())"
             : "INSERT INTO tickets (title, description, requester_id,"
               " assignee_id, created_by_id, site_id, department_id,"
               " status_id)"
               " VALUES ('Load', '" MARK "', '" MEMBER1 "', $1, '" ADMIN "',"
               " 1, 1, $2::int)", technician, status);
}


static int
cleanup(PGconn *c)
{
    return exec_script(c,
        "BEGIN;"
        "DROP TRIGGER IF EXISTS test_assign_boom ON history;"
        "DROP FUNCTION IF EXISTS test_assign_boom();"
        DELETE_TICKETS(MARK)
        "DELETE FROM groups WHERE name LIKE 'check-assign-%';"
        "DELETE FROM assignment_cursors;"
        "DELETE FROM users WHERE id LIKE 'check-assign-%';"
        "UPDATE settings SET value = CASE key"
        " WHEN 'auto_assign_method' THEN 'RoundRobin' ELSE 'false' END"
        " WHERE key IN ('auto_assign_on_create', 'auto_assign_on_update',"
        " 'auto_assign_method');"
        "COMMIT");
}


/*
 * Two groups of the test's own: one with technicians a and b, an
 * inactive technician, an Admin and a Member; one with only an Admin, a
 * Member and the inactive technician.
 */
static void
make_groups(void)
{
    char  *v;

    exec_sql("INSERT INTO users (id, user_name, email, full_name, role,"
             " is_active) VALUES"
             " ('" TA "', 'check-assign-a', 'a@check.test', 'Alice Assign',"
             " 'Technician', true),"
             " ('" TB "', 'check-assign-b', NULL, '', 'Technician', true),"
             " ('" TOFF "', 'check-assign-off', 'off@check.test', 'Otto Off',"
             " 'Technician', false)");

    v = q("INSERT INTO groups (name) VALUES ('check-assign-group')"
          " RETURNING id");
    snprintf(group, sizeof(group), "%s", v);
    free(v);
    v = q("INSERT INTO groups (name) VALUES ('check-assign-empty')"
          " RETURNING id");
    snprintf(empty, sizeof(empty), "%s", v);
    free(v);

    exec_sql("INSERT INTO group_members (group_id, user_id)"
             " SELECT $1::int, u FROM unnest(ARRAY['" TA "', '" TB "',"
             " '" TOFF "', '" ADMIN "', '" MEMBER1 "']) AS u", group);
    exec_sql("INSERT INTO group_members (group_id, user_id)"
             " SELECT $1::int, u FROM unnest(ARRAY['" TOFF "', '" ADMIN "',"
             " '" MEMBER1 "']) AS u", empty);
}


static void
setup(void)
{
    db_setup();
    ck_assert(cleanup(pg));
    make_groups();
}


static void
teardown(void)
{
    cleanup(pg);
    db_teardown();
}


/* Round robin --------------------------------------------------------- */

START_TEST(round_robin_order)
{
    static const char *const  want[] = { TECH1, TECH2, TECH1, TECH2, TECH1 };
    const cJSON              *a;
    cJSON                    *j;
    char                      id[24];
    size_t                    i;

    setting("auto_assign_on_create", "true");

    /* no cursor yet: the first by id, then in turn, wrapping around */
    for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        reg("1", NULL, id);
        assignee_is(want[i], id);
    }

    assert_q(TECH1 "|5", "SELECT last_user_id || '|' || assigned_count"
             " FROM assignment_cursors WHERE group_id = 1");

    /* the answer shows the technician */
    j = cJSON_Parse(res.body);
    a = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j,
            "assignee"), "id");
    ck_assert_msg(cJSON_IsString(a) && strcmp(a->valuestring, TECH1) == 0,
                  "%s", res.body);
    cJSON_Delete(j);

    /* a cursor on someone who is no candidate (any more) */
    exec_sql("UPDATE assignment_cursors SET last_user_id = '" TECH3 "'"
             " WHERE group_id = 1");
    reg("1", NULL, id);
    assignee_is(TECH1, id);

    exec_sql("UPDATE assignment_cursors SET last_user_id = '" ADMIN "'"
             " WHERE group_id = 1");
    reg("1", NULL, id);
    assignee_is(TECH1, id);
    reg("1", NULL, id);
    assignee_is(TECH2, id);

    /* a user deleted: the cursor starts over */
    exec_sql("UPDATE assignment_cursors SET last_user_id = NULL"
             " WHERE group_id = 1");
    reg("1", NULL, id);
    assignee_is(TECH1, id);
}
END_TEST


START_TEST(round_robin_writes)
{
    char  id[24], want[512], *v;

    setting("auto_assign_on_create", "true");
    reg("1", NULL, id);
    assignee_is(TECH1, id);

    /* the email and the push, counted; one version; the history */
    ck_assert_int_eq(res.outbox, 2);
    ck_assert_int_eq(qn("SELECT version FROM tickets WHERE id = $1::bigint",
                        id), 1);
    assert_q("Created:~>Printer on fire;assignee:~>Tom Technician|true",
             "SELECT string_agg(field || ':' || coalesce(old_value, '~')"
             " || '>' || coalesce(new_value, '~'), ';' ORDER BY id)"
             " || '|' || bool_and(changed_by_id = '" ADMIN "')"
             " FROM history WHERE ticket_id = $1::bigint", id);

    /* the payload, as update's with assignedBy "auto" */
    snprintf(want, sizeof(want), "email:tech1@example.com|push:" TECH1
             "|{\"title\": \"Printer on fire\", \"message\": \"Ticket #%s"
             " \\\"Printer on fire\\\" was assigned to Tom Technician"
             " automatically.\", \"subject\": \"Ticket #%s assigned to you:"
             " Printer on fire\", \"assignee\": \"" TECH1 "\", \"ticketId\":"
             " %s, \"assignedBy\": \"auto\"}", id, id, id);
    v = q("SELECT string_agg(channel || ':' || array_to_string(recipients,"
          " ','), '|' ORDER BY channel) || '|' || min(payload::text)"
          " || (count(DISTINCT payload) = 1 AND bool_and(event ="
          " 'TicketAssigned'))::text"
          " FROM outbox WHERE ticket_id = $1::bigint", id);
    ck_assert_ptr_nonnull(v);
    strcat(want, "true");
    ck_assert_str_eq(v, want);
    free(v);
}
END_TEST


/* Candidates ---------------------------------------------------------- */

START_TEST(only_active_technicians)
{
    char  id[24];
    int   i, a = 0, b = 0;

    setting("auto_assign_on_create", "true");

    /* a and b in turn: never the inactive one, the Admin or the Member */
    for (i = 0; i < 6; i++) {
        reg(group, NULL, id);
        a += qn("SELECT count(*) FROM tickets WHERE id = $1::bigint"
                " AND assignee_id = '" TA "'", id);
        b += qn("SELECT count(*) FROM tickets WHERE id = $1::bigint"
                " AND assignee_id = '" TB "'", id);
    }
    ck_assert_int_eq(a, 3);
    ck_assert_int_eq(b, 3);

    /* b has no email: only the push */
    assignee_is(TB, id);
    ck_assert_int_eq(res.outbox, 1);
    assert_q("push:" TB ":true",
             "SELECT string_agg(channel || ':' || array_to_string(recipients,"
             " ',') || ':' || (payload->>'message' LIKE"
             " '%to check-assign-b automatically.')::text, ';')"
             " FROM outbox WHERE ticket_id = $1::bigint", id);
}
END_TEST


START_TEST(no_candidates)
{
    char  id[24];

    setting("auto_assign_on_create", "true");

    reg(empty, NULL, id);
    assignee_is(NULL, id);
    ck_assert_int_eq(res.outbox, 0);
    ck_assert_int_eq(qn("SELECT count(*) FROM outbox WHERE ticket_id ="
                        " $1::bigint", id), 0);
    ck_assert_int_eq(qn("SELECT count(*) FROM history WHERE ticket_id ="
                        " $1::bigint AND field = 'assignee'", id), 0);

    /* no group: nobody */
    reg(NULL, NULL, id);
    assignee_is(NULL, id);

    /* everyone made inactive */
    exec_sql("UPDATE users SET is_active = false WHERE id IN ('" TA "',"
             " '" TB "')");
    reg(group, NULL, id);
    assignee_is(NULL, id);
    ck_assert_int_eq(res.outbox, 0);
}
END_TEST


/* Least loaded -------------------------------------------------------- */

START_TEST(least_loaded)
{
    char  id[24];
    int   i;

    setting("auto_assign_on_create", "true");
    /* canonical form from any case */
    setting("auto_assign_method", "leastloaded");
    assert_q("LeastLoaded", "SELECT value FROM settings"
             " WHERE key = 'auto_assign_method'");

    /* a has 2 active tickets (Open, On Hold); b has 1 (Pending) and
     * others that do not count (Resolved, Closed, deleted) */
    load(TA, "1", 0);
    load(TA, "3", 0);
    load(TB, "4", 0);
    load(TB, "5", 0);
    load(TB, "6", 0);
    load(TB, "1", 1);

    /* 2 to 1: b; then ties, broken in turn after the cursor */
    reg(group, NULL, id);
    assignee_is(TB, id);
    reg(group, NULL, id);
    assignee_is(TA, id);
    reg(group, NULL, id);
    assignee_is(TB, id);
    reg(group, NULL, id);
    assignee_is(TA, id);

    /* 4 to 3, then a's resolved: a until they are even again */
    exec_sql("UPDATE tickets SET status_id = 5 WHERE assignee_id = '" TA "'");
    for (i = 0; i < 3; i++) {
        reg(group, NULL, id);
        assignee_is(TA, id);
    }
    reg(group, NULL, id);
    assignee_is(TB, id);

    /* 3 to 4 in the group, but a has 2 more outside it: they count */
    load(TA, "1", 0);
    load(TA, "2", 0);
    reg(group, NULL, id);
    assignee_is(TB, id);
}
END_TEST


/* Who wins, and when ---------------------------------------------------- */

START_TEST(explicit_assignee_wins)
{
    char  id[24];

    setting("auto_assign_on_create", "true");
    setting("auto_assign_on_update", "true");

    /* tech3 is not of group 1: given, kept; the cursor is not moved */
    reg("1", TECH3, id);
    assignee_is(TECH3, id);
    ck_assert_int_eq(res.outbox, 2);
    ck_assert_int_eq(qn("SELECT count(*) FROM assignment_cursors"), 0);

    /* cleared by the update: stays so */
    ck_assert_int_eq(update(id, form("AssignedUser", "", NULL)),
                     TK_NO_CONTENT);
    assignee_is(NULL, id);
    ck_assert_int_eq(res.outbox, 0);

    /* set by the update: that one */
    ck_assert_int_eq(update(id, form("AssignedUser", TECH2,
                                     "TicketStatusId", "2", NULL)),
                     TK_NO_CONTENT);
    assignee_is(TECH2, id);
    ck_assert_int_eq(res.outbox, 2);
    ck_assert_int_eq(qn("SELECT count(*) FROM assignment_cursors"), 0);

    /* an assigned ticket is left alone by an update */
    ck_assert_int_eq(update(id, form("TicketStatusId", "1", NULL)),
                     TK_NO_CONTENT);
    assignee_is(TECH2, id);
    ck_assert_int_eq(res.outbox, 0);
}
END_TEST


START_TEST(settings_off)
{
    char  id[24];

    /* the defaults: off */
    reg("1", NULL, id);
    assignee_is(NULL, id);
    ck_assert_int_eq(update(id, form("TicketStatusId", "2", NULL)),
                     TK_NO_CONTENT);
    assignee_is(NULL, id);

    /* on update only: create leaves it, update assigns */
    setting("auto_assign_on_update", "true");
    reg("1", NULL, id);
    assignee_is(NULL, id);
    ck_assert_int_eq(qn("SELECT count(*) FROM assignment_cursors"), 0);

    /* on create only: update leaves it */
    setting("auto_assign_on_update", "false");
    setting("auto_assign_on_create", "true");
    ck_assert_int_eq(update(id, form("TicketStatusId", "2", NULL)),
                     TK_NO_CONTENT);
    assignee_is(NULL, id);
}
END_TEST


START_TEST(on_update)
{
    char  id[24], etag[64];

    reg(NULL, NULL, id);
    setting("auto_assign_on_update", "true");

    /* no group yet: nobody; then the group given, its technician */
    ck_assert_int_eq(update(id, form("TicketStatusId", "2", NULL)),
                     TK_NO_CONTENT);
    assignee_is(NULL, id);
    ck_assert_int_eq(update(id, form("GroupId", "1", NULL)), TK_NO_CONTENT);
    assignee_is(TECH1, id);
    ck_assert_int_eq(res.outbox, 2);

    /* one new version for the update and its assignment */
    snprintf(etag, sizeof(etag), "\"%s-3\"", id);
    ck_assert_str_eq(res.etag, etag);
    assert_q("3", "SELECT version FROM tickets WHERE id = $1::bigint", id);
    assert_q("status:Open>In Progress;group:~>Service Desk;"
             "assignee:~>Tom Technician",
             "SELECT string_agg(field || ':' || coalesce(old_value, '~')"
             " || '>' || coalesce(new_value, '~'), ';' ORDER BY id)"
             " FROM history WHERE ticket_id = $1::bigint"
             " AND field <> 'Created'", id);

    /* an update that changes nothing assigns nothing */
    ck_assert_int_eq(update(id, form("AssignedUser", "", NULL)),
                     TK_NO_CONTENT);
    assignee_is(NULL, id);
    ck_assert_int_eq(update(id, form("TicketStatusId", "2", NULL)),
                     TK_NO_CONTENT);
    assignee_is(NULL, id);
    ck_assert_int_eq(res.outbox, 0);

    /* closing an unassigned ticket assigns nobody */
    ck_assert_int_eq(update(id, form("TicketStatusId", "6", NULL)),
                     TK_NO_CONTENT);
    assignee_is(NULL, id);
    ck_assert_int_eq(res.outbox, 0);

    /* reopened: assigned */
    ck_assert_int_eq(update(id, form("TicketStatusId", "7", NULL)),
                     TK_NO_CONTENT);
    assignee_is(TECH2, id);
}
END_TEST


START_TEST(on_new_ticket)
{
    tk_principal_t  p = ADMIN_P;
    tk_form_t      *f;
    char            id[24];

    setting("auto_assign_on_create", "true");

    f = form("Title", "Printer out of toner", "Description", MARK,
             "Requester", "member1", "GroupId", "2", NULL);
    tk_result_clear(&res);
    ck_assert_int_eq(tk_ticket_new(conn, &p, f, NULL, &res), TK_CREATED);
    tk_form_free(f);
    snprintf(id, sizeof(id), "%lld", (long long) res.id);

    assignee_is(TECH3, id);
    ck_assert_int_eq(res.outbox, 2);
    assert_q("t|t|auto|" TECH3, "SELECT concat_ws('|',"
             " bool_and(payload->>'ticketId' = $1),"
             " bool_and(payload->>'subject' LIKE 'Ticket #' || $1"
             " || ' assigned to you: Printer out of toner'),"
             " min(payload->>'assignedBy'), min(payload->>'assignee'))"
             " FROM outbox WHERE ticket_id = $1::bigint"
             " AND event = 'TicketAssigned'", id);
}
END_TEST


/* A failure after the assignment: nothing of it stays. */
START_TEST(rollback)
{
    char         id[24];
    tk_form_t   *f;
    tk_principal_t  p = ADMIN_P;

    setting("auto_assign_on_create", "true");
    exec_sql("CREATE FUNCTION test_assign_boom() RETURNS trigger"
             " LANGUAGE plpgsql AS $$BEGIN RAISE 'boom'; END$$");
    exec_sql("CREATE TRIGGER test_assign_boom AFTER INSERT ON history"
             " FOR EACH ROW WHEN (NEW.field = 'assignee')"
             " EXECUTE FUNCTION test_assign_boom()");

    f = reg_form("1", NULL);
    tk_result_clear(&res);
    ck_assert_int_eq(tk_ticket_register(conn, &p, f, NULL, &res),
                     TK_EINTERNAL);
    tk_form_free(f);
    ck_assert_int_eq(res.outbox, 0);
    ck_assert_int_eq(res.id, 0);

    exec_sql("DROP TRIGGER test_assign_boom ON history");
    exec_sql("DROP FUNCTION test_assign_boom()");

    ck_assert_int_eq(qn("SELECT count(*) FROM tickets WHERE description ="
                        " '" MARK "'"), 0);
    ck_assert_int_eq(qn("SELECT count(*) FROM assignment_cursors"), 0);

    /* the cursor did not move: tech1 first */
    reg("1", NULL, id);
    assignee_is(TECH1, id);
}
END_TEST


/* Concurrency --------------------------------------------------------- */

typedef struct {
    const char  *group;
    int          failed;
    char         why[600];
} worker_t;


static void *
worker(void *arg)
{
    worker_t        *w = arg;
    tk_principal_t   p = ADMIN_P;
    tk_result_t      r;
    tk_conn_t       *c;
    tk_form_t       *f;
    int              i, rc;

    tk_result_init(&r);
    if (tk_conn_open(&c, conninfo) != TK_OK) {
        w->failed = 1;
        snprintf(w->why, sizeof(w->why), "connect");
        return NULL;
    }

    for (i = 0; i < PER && !w->failed; i++) {
        /* no ck_assert here: the thread is not the test's */
        f = tk_form_new();
        tk_form_add(f, "Title", 5, "Racer", 5);
        tk_form_add(f, "Description", 11, MARK, strlen(MARK));
        tk_form_add(f, "CreatorId", 9, MEMBER1, strlen(MEMBER1));
        tk_form_add(f, "SiteId", 6, "1", 1);
        tk_form_add(f, "DepartmentId", 12, "1", 1);
        tk_form_add(f, "TicketStatusId", 14, "1", 1);
        tk_form_add(f, "TicketType", 10, "0", 1);
        tk_form_add(f, "GroupId", 7, w->group, strlen(w->group));

        tk_result_clear(&r);
        rc = tk_ticket_register(c, &p, f, NULL, &r);
        tk_form_free(f);

        if (rc != TK_CREATED || r.outbox < 1) {
            w->failed = 1;
            snprintf(w->why, sizeof(w->why), "register: %d %s (outbox %d)",
                     rc, r.message, r.outbox);
        }
    }

    tk_result_clear(&r);
    tk_conn_close(c);
    return NULL;
}


/* THREADS connections at once: the counts of a group's technicians. */
static void
race(const char *g)
{
    pthread_t  th[THREADS];
    worker_t   w[THREADS];
    int        i;

    memset(w, 0, sizeof(w));

    for (i = 0; i < THREADS; i++) {
        w[i].group = g;
        ck_assert_int_eq(pthread_create(&th[i], NULL, worker, &w[i]), 0);
    }

    for (i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
    }

    for (i = 0; i < THREADS; i++) {
        ck_assert_msg(!w[i].failed, "thread %d: %s", i, w[i].why);
    }
}


START_TEST(concurrent_round_robin)
{
    setting("auto_assign_on_create", "true");
    race("1");

    /* 40 in turn: 20 each, whoever came first */
    assert_q(TECH1 ":20," TECH2 ":20",
             "SELECT string_agg(assignee_id || ':' || n, ',' ORDER BY"
             " assignee_id) FROM (SELECT assignee_id, count(*) AS n"
             " FROM tickets WHERE description = '" MARK "'"
             " GROUP BY assignee_id) x");
    assert_q("40", "SELECT assigned_count FROM assignment_cursors"
             " WHERE group_id = 1");
    ck_assert_int_eq(qn("SELECT count(*) FROM outbox o JOIN tickets t"
                        " ON t.id = o.ticket_id WHERE t.description ="
                        " '" MARK "'"), 2 * THREADS * PER);
}
END_TEST


START_TEST(concurrent_least_loaded)
{
    setting("auto_assign_on_create", "true");
    setting("auto_assign_method", "LeastLoaded");

    /* a starts 7 ahead: of 40, b gets the first 7, then they take turns,
     * a first (the tie after the cursor, b, wraps around): 17 and 23 */
    load(TA, "1", 0);
    load(TA, "1", 0);
    load(TA, "2", 0);
    load(TA, "2", 0);
    load(TA, "3", 0);
    load(TA, "4", 0);
    load(TA, "7", 0);
    race(group);

    assert_q(TA ":17," TB ":23",
             "SELECT string_agg(assignee_id || ':' || n, ',' ORDER BY"
             " assignee_id) FROM (SELECT assignee_id, count(*) AS n"
             " FROM tickets WHERE description = '" MARK "'"
             " AND title = 'Racer' GROUP BY assignee_id) x");
}
END_TEST


static Suite *
assign_suite(void)
{
    Suite  *s;
    TCase  *tc;

    s = suite_create("assign");

    tc = add_tcase(s, "rules", setup, teardown, 60);
    tcase_add_test(tc, round_robin_order);
    tcase_add_test(tc, round_robin_writes);
    tcase_add_test(tc, only_active_technicians);
    tcase_add_test(tc, no_candidates);
    tcase_add_test(tc, least_loaded);
    tcase_add_test(tc, explicit_assignee_wins);
    tcase_add_test(tc, settings_off);
    tcase_add_test(tc, on_update);
    tcase_add_test(tc, on_new_ticket);
    tcase_add_test(tc, rollback);

    tc = add_tcase(s, "concurrency", setup, teardown, 120);
    tcase_add_test(tc, concurrent_round_robin);
    tcase_add_test(tc, concurrent_least_loaded);

    return s;
}


int
main(void)
{
    return db_main(assign_suite, cleanup, cleanup);
}
