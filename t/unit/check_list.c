/*
 * Unit tests of the ticket lists (libtickets/src/list.c, SPEC 3.1) against
 * a real PostgreSQL: TICKETS_TEST_DB is its conninfo, migrated and with
 * the demo data loaded.
 *
 * main() crafts users, groups, tickets and tasks whose titles start with
 * a prefix of its own, so that a Subject search on it counts them exactly;
 * each list type has a ticket in and a ticket out, named below.  Every
 * answer is also compared, whole and in order, with an oracle: the list
 * written again in plain SQL, differently (status types joined, "today"
 * as a date cast), over the whole database.
 */


#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testlib.h"
/* white box: the connection's session, to see what it has prepared */
#include "db.h"


#define NELEMS(a)  (sizeof(a) / sizeof((a)[0]))

/* the zone of the user me: UTC+14, so that their day is not UTC's */
#define ZONE     "Pacific/Kiritimati"
#define DAY0     "(date_trunc('day', now() AT TIME ZONE '" ZONE "')" \
                 " AT TIME ZONE '" ZONE "')"


/* The users of the tests: indexes into user_ids. */
enum { ME, OTHER, MEM, MEM2, MEM3, NUSERS };

/* The crafted tickets. */
enum {
    G_OPEN,                 /* mem -> me, group G1, Open, due in 3 days */
    G2_OPEN_OTHER,          /* mem2 -> other, group G2, Open */
    UNASSIGNED_OPEN,        /* mem2, no assignee, In Progress (Open) */
    UNASSIGNED_CLOSED,      /* mem2, no assignee, Closed */
    ONHOLD_MINE,            /* me -> other, On Hold */
    ONHOLD_OTHER,           /* mem -> other, On Hold */
    PENDING_MINE_OVERDUE,   /* mem -> me, Pending, due 2 days ago */
    OVERDUE_OTHER,          /* mem2 -> other, Open, due 2 days ago */
    RESOLVED_PASTDUE,       /* mem -> me, Resolved, due 2 days ago */
    DUE_TODAY_MINE,         /* mem -> me, Open, due at 00:01 of me's day */
    DUE_TOMORROW,           /* mem2 -> other, Open, due at 00:00 tomorrow */
    DUE_TODAY_CLOSED,       /* me, no assignee, Closed, due today */
    ESC_MINE,               /* mem -> me, escalated */
    ESC_OTHER,              /* mem2 -> other, escalated */
    TASK_OPEN,              /* an open task of me, a completed of other */
    TASK_DONE,              /* a completed task of me; Closed */
    TASK_OTHER,             /* an open task of other */
    DELETED,                /* everything me could want, but deleted */
    PENDING_OTHER,          /* mem2, no assignee, Pending */
    DUE_YESTERDAY_END,      /* me -> other, Open, due 1 s before me's day */
    DUE_TODAY_END,          /* mem2, no assignee, On Hold, due 23:59:59 */
    M3_PERCENT,             /* mem3's: "100%_off", High */
    M3_BACKSLASH,           /* mem3's: "back\slash", no priority */
    M3_PLAIN,               /* mem3's: "plain", Low */
    NTICKETS
};

typedef struct {
    const char  *title;
    int          req, ass;          /* users, -1: none */
    int          group;             /* 0: none, 1: G1, 2: G2 */
    int          status;            /* demo statuses 1..7 */
    const char  *due;               /* SQL, NULL: none */
    int          priority;          /* 0: none */
    int          minutes;           /* created this long ago */
    int          escalated;
    int          deleted;
} crafted_t;

static const crafted_t  crafted[NTICKETS] = {
    [G_OPEN] = { "group open", MEM, ME, 1, 1, "now() + interval '3 days'",
                 3, 100, 0, 0 },
    [G2_OPEN_OTHER] = { "other group", MEM2, OTHER, 2, 1, NULL, 1, 100, 0,
                        0 },
    [UNASSIGNED_OPEN] = { "unassigned", MEM2, -1, 2, 2, NULL, 2, 90, 0, 0 },
    [UNASSIGNED_CLOSED] = { "unassigned closed", MEM2, -1, 0, 6,
                            "now() + interval '3 days'", 4, 80, 0, 0 },
    [ONHOLD_MINE] = { "on hold mine", ME, OTHER, 0, 3, NULL, 0, 70, 0, 0 },
    [ONHOLD_OTHER] = { "on hold other", MEM, OTHER, 0, 3, NULL, 2, 60, 0,
                       0 },
    [PENDING_MINE_OVERDUE] = { "pending mine", MEM, ME, 0, 4,
                               "now() - interval '2 days'", 1, 50, 0, 0 },
    [OVERDUE_OTHER] = { "overdue other", MEM2, OTHER, 0, 1,
                        "now() - interval '2 days'", 4, 40, 0, 0 },
    [RESOLVED_PASTDUE] = { "resolved", MEM, ME, 0, 5,
                           "now() - interval '2 days'", 3, 40, 0, 0 },
    [DUE_TODAY_MINE] = { "due today", MEM, ME, 0, 1,
                         DAY0 " + interval '1 minute'", 2, 30, 0, 0 },
    [DUE_TOMORROW] = { "due tomorrow", MEM2, OTHER, 0, 1,
                       DAY0 " + interval '1 day'", 0, 30, 0, 0 },
    [DUE_TODAY_CLOSED] = { "due today closed", ME, -1, 0, 6,
                           DAY0 " + interval '1 minute'", 1, 20, 0, 0 },
    [ESC_MINE] = { "escalated mine", MEM, ME, 0, 7, NULL, 4, 20, 1, 0 },
    [ESC_OTHER] = { "escalated other", MEM2, OTHER, 0, 1, NULL, 0, 10, 1,
                    0 },
    [TASK_OPEN] = { "task open", MEM2, OTHER, 0, 1, NULL, 2, 10, 0, 0 },
    [TASK_DONE] = { "task done", MEM2, OTHER, 0, 6, NULL, 3, 9, 0, 0 },
    [TASK_OTHER] = { "task other", MEM2, OTHER, 0, 1, NULL, 1, 8, 0, 0 },
    [DELETED] = { "deleted", ME, ME, 1, 1, DAY0 " + interval '1 minute'", 3,
                  7, 1, 1 },
    [PENDING_OTHER] = { "pending other", MEM2, -1, 0, 4, NULL, 0, 6, 0, 0 },
    [DUE_YESTERDAY_END] = { "due yesterday", ME, OTHER, 0, 1,
                            DAY0 " - interval '1 second'", 2, 5, 0, 0 },
    [DUE_TODAY_END] = { "due tonight", MEM2, -1, 0, 3,
                        DAY0 " + interval '1 day' - interval '1 second'", 1,
                        4, 0, 0 },
    [M3_PERCENT] = { "100%_off", MEM3, OTHER, 0, 1, NULL, 3, 3, 0, 0 },
    [M3_BACKSLASH] = { "back\\slash", MEM3, OTHER, 0, 1, NULL, 0, 2, 0, 0 },
    [M3_PLAIN] = { "plain", MEM3, OTHER, 0, 1, NULL, 1, 1, 0, 0 }
};

/* Tasks: ticket, assignee, completed. */
static const int  crafted_tasks[][3] = {
    { TASK_OPEN, ME, 0 }, { TASK_OPEN, OTHER, 1 }, { TASK_DONE, ME, 1 },
    { TASK_OTHER, OTHER, 0 }, { DELETED, ME, 0 }, { DELETED, ME, 1 }
};

static const char *const  list_types[] = {
    "AllMyGroups", "MyOpenOrUnassigned", "UnassignedTickets",
    "MyOpenTickets", "MyTicketsOnhold", "MyOverdueTickets",
    "MyPendingTickets", "MyTicketsDueToday", "MyEscalated", "AllEscalated",
    "MyCompletedTickets", "AllMyTickets", "MyOpenTasks", "MyCompletedTasks",
    "TicketsOnHold", "OverdueTickets", "TicketsDueToday", "PendingTickets",
    "CompletedTickets", "AllTickets"
};

/* The oracle of each list type: $1 the user, $4 their time zone. */
#define O_ACTIVE     "s.status_type NOT IN ('Resolved', 'Closed')"
#define O_MINE       "coalesce($1 IN (t.requester_id, t.assignee_id), false)"
#define O_OVERDUE    "t.due_date < now() AND " O_ACTIVE
#define O_TODAY      "(t.due_date AT TIME ZONE $4)::date"                 \
                     " = (now() AT TIME ZONE $4)::date AND " O_ACTIVE
#define O_TASK(done) "EXISTS (SELECT 1 FROM tasks k WHERE k.ticket_id = t.id" \
                     " AND k.assigned_user_id = $1 AND k.completed_on IS "  \
                     done " NULL)"

static const char *const  oracle_where[] = {
    "EXISTS (SELECT 1 FROM group_members g WHERE g.group_id = t.group_id"
    " AND g.user_id = $1)",
    "s.status_type = 'Open' AND (" O_MINE " OR t.assignee_id IS NULL)",
    "t.assignee_id IS NULL AND " O_ACTIVE,
    "s.status_type = 'Open' AND " O_MINE,
    "s.status_type = 'OnHold' AND " O_MINE,
    O_OVERDUE " AND " O_MINE,
    "s.status_type = 'Pending' AND " O_MINE,
    O_TODAY " AND " O_MINE,
    "t.escalated_on IS NOT NULL AND " O_MINE,
    "t.escalated_on IS NOT NULL",
    "s.status_type IN ('Resolved', 'Closed') AND " O_MINE,
    O_MINE,
    O_TASK(""),
    O_TASK("NOT"),
    "s.status_type = 'OnHold'",
    O_OVERDUE,
    O_TODAY,
    "s.status_type = 'Pending'",
    "s.status_type IN ('Resolved', 'Closed')",
    "true"
};

/* The sorts, as the oracle orders them (before the direction). */
static const char *const  sorts[][2] = {
    { "id", "t.id %s" },
    { "createdOn", "t.created_on %s, t.id %s" },
    { "updatedOn", "t.updated_on %s, t.id %s" },
    { "dueDate", "t.due_date %s NULLS LAST, t.id %s" },
    { "priority", "p.rank %s NULLS LAST, t.id %s" }
};

/* For each list type, for me: a crafted ticket in and one out. */
static const int  in_out[][2] = {
    { G_OPEN, G2_OPEN_OTHER },                  /* AllMyGroups */
    { UNASSIGNED_OPEN, G2_OPEN_OTHER },         /* MyOpenOrUnassigned */
    { PENDING_OTHER, UNASSIGNED_CLOSED },       /* UnassignedTickets */
    { DUE_YESTERDAY_END, ONHOLD_MINE },         /* MyOpenTickets */
    { ONHOLD_MINE, ONHOLD_OTHER },              /* MyTicketsOnhold */
    { PENDING_MINE_OVERDUE, RESOLVED_PASTDUE }, /* MyOverdueTickets */
    { PENDING_MINE_OVERDUE, PENDING_OTHER },    /* MyPendingTickets */
    { DUE_TODAY_MINE, DUE_TODAY_CLOSED },       /* MyTicketsDueToday */
    { ESC_MINE, ESC_OTHER },                    /* MyEscalated */
    { ESC_OTHER, G_OPEN },                      /* AllEscalated */
    { DUE_TODAY_CLOSED, UNASSIGNED_CLOSED },    /* MyCompletedTickets */
    { ONHOLD_MINE, G2_OPEN_OTHER },             /* AllMyTickets */
    { TASK_OPEN, TASK_DONE },                   /* MyOpenTasks */
    { TASK_DONE, TASK_OPEN },                   /* MyCompletedTasks */
    { ONHOLD_OTHER, G_OPEN },                   /* TicketsOnHold */
    { OVERDUE_OTHER, RESOLVED_PASTDUE },        /* OverdueTickets */
    { DUE_TODAY_END, DUE_TOMORROW },            /* TicketsDueToday */
    { PENDING_OTHER, ONHOLD_OTHER },            /* PendingTickets */
    { UNASSIGNED_CLOSED, G_OPEN },              /* CompletedTickets */
    { G2_OPEN_OTHER, DELETED }                  /* AllTickets */
};

/* more that must be out, for me */
static const int  also_out[][2] = {
    { 0, DELETED }, { 2, G_OPEN }, { 3, G2_OPEN_OTHER },
    { 5, OVERDUE_OTHER }, { 7, DUE_YESTERDAY_END }, { 7, DUE_TODAY_END },
    { 9, DELETED }, { 11, DELETED }, { 12, TASK_OTHER },
    { 13, TASK_OTHER }, { 15, G_OPEN }, { 16, DUE_TODAY_CLOSED },
    { 16, DUE_YESTERDAY_END }, { 1, UNASSIGNED_CLOSED }
};


static char         tag[12];            /* lower case letters */
static char         prefix[24];         /* "CKL-<tag> " */
static char         user_ids[NUSERS][40];
static char         group_ids[2][16];
static int64_t      ticket_ids[NTICKETS];
static int          ncrafted;           /* not deleted */
static char         setting_zone[64];   /* the time_zone setting */


/* A principal of a crafted user (an index into user_ids). */
static tk_principal_t
user_principal(int user, int role)
{
    tk_principal_t  p;

    memset(&p, 0, sizeof(p));
    snprintf(p.user_id, sizeof(p.user_id), "%s", user_ids[user]);
    p.role = role;
    p.perms = role == TK_ROLE_MEMBER ? TK_PERM_CREATE : TK_PERM_ALL;
    return p;
}

#define ME_P    user_principal(ME, TK_ROLE_TECHNICIAN)
#define MEM_P   user_principal(MEM, TK_ROLE_MEMBER)


/*
 * The list for p with the query (name, value, ..., NULL): the return code,
 * the answer in res.
 */
static int
listv(tk_principal_t p, va_list ap)
{
    tk_form_t  *f;
    int         rc;

    f = tk_form_new();
    ck_assert_ptr_nonnull(f);
    add_pairs(f, ap);

    rc = CALL(tk_ticket_list(conn, &p, f, &res));
    tk_form_free(f);

    return rc;
}


static int
list(tk_principal_t p, ...)
{
    va_list  ap;
    int      rc;

    va_start(ap, p);
    rc = listv(p, ap);
    va_end(ap);

    return rc;
}


/* The same that must answer TK_OK: the array. */
static cJSON *
list_ok(tk_principal_t p, ...)
{
    va_list  ap;
    cJSON   *j;
    int      rc;

    va_start(ap, p);
    rc = listv(p, ap);
    va_end(ap);

    ck_assert_msg(rc == TK_OK, "%d %s %s", rc, res.message,
                  res.errors ? res.errors : "");

    j = body_json();
    ck_assert_msg(cJSON_IsArray(j), "not an array: %s", res.body);
    ck_assert_int_ge(res.total, cJSON_GetArraySize(j));

    return j;
}


/* "7,5,3": the ids of an array of TicketList, appended to out. */
static void
ids_of(const cJSON *a, char *out, size_t len)
{
    const cJSON  *it, *id;
    size_t        n;

    cJSON_ArrayForEach(it, a) {
        id = cJSON_GetObjectItemCaseSensitive(it, "id");
        ck_assert(cJSON_IsNumber(id));
        n = strlen(out);
        snprintf(out + n, len - n, "%s%lld", n ? "," : "",
                 (long long) id->valuedouble);
    }
}


/*
 * Every page of a list for p, pageSize 7 so that there are several: the
 * ids in order.  Each page answers the same total, and all of them as
 * many as that.
 */
static char *
all_ids(tk_principal_t p, const char *type, const char *sort,
    const char *order, const char *search, const char *fields)
{
    char     *out;
    char      page[16];
    size_t    len = 1 << 16;
    int64_t   total = -1, seen = 0;
    int       i;
    cJSON    *a;

    out = calloc(1, len);
    ck_assert_ptr_nonnull(out);

    for (i = 1; ; i++) {
        snprintf(page, sizeof(page), "%d", i);
        a = list_ok(p, "listType", type, "sort", sort, "order", order,
                    "search", search ? search : "", "searchFields",
                    fields ? fields : "", "page", page, "pageSize", "7",
                    NULL);

        ck_assert_int_eq(res.page, i);
        ck_assert_int_eq(res.page_size, 7);
        if (total < 0) {
            total = res.total;
        }
        ck_assert_int_eq(res.total, total);

        ids_of(a, out, len);
        seen += cJSON_GetArraySize(a);

        if (cJSON_GetArraySize(a) < 7) {
            ck_assert_int_eq(seen, total);
            cJSON_Delete(a);
            break;
        }
        cJSON_Delete(a);
    }

    return out;
}


/*
 * The oracle: the ids of list type i for user (and only those requested
 * by them when member), with titles starting so when prefix_only, in the
 * order of sort.
 */
static char *
oracle(int i, int user, int member, int prefix_only, int sort, int desc)
{
    const char  *v[4];
    const char  *dir = desc ? "DESC" : "ASC";
    char        *out, *zone;
    char         order[128], sql[2048];

    zone = q("SELECT user_time_zone($1)", user_ids[user]);

    snprintf(order, sizeof(order), sorts[sort][1], dir, dir);
    snprintf(sql, sizeof(sql),
             "SELECT coalesce(string_agg(t.id::text, ',' ORDER BY %s), '')"
             " FROM tickets t JOIN statuses s ON s.id = t.status_id"
             " LEFT JOIN priorities p ON p.id = t.priority_id"
             " WHERE t.deleted_on IS NULL"
             " AND ($2::text IS NULL OR t.requester_id = $2)"
             " AND ($3::text IS NULL OR starts_with(t.title, $3))"
             " AND ($1::text, $4::text) IS NOT NULL AND (%s)",
             order, oracle_where[i]);

    v[0] = user_ids[user];
    v[1] = member ? user_ids[user] : NULL;
    v[2] = prefix_only ? prefix : NULL;
    v[3] = zone;

    out = query_value(pg, sql, 4, v);
    free(zone);
    ck_assert_ptr_nonnull(out);
    return out;
}


/* Whether the id of a crafted ticket is in a list of ids. */
static int
has(const char *ids, int ticket)
{
    const char  *s;
    char         id[24];
    size_t       n;

    n = (size_t) snprintf(id, sizeof(id), "%lld",
                          (long long) ticket_ids[ticket]);

    for (s = ids; (s = strstr(s, id)) != NULL; s += n) {
        if ((s == ids || s[-1] == ',') && (s[n] == ',' || s[n] == '\0')) {
            return 1;
        }
    }

    return 0;
}


static void
teardown(void)
{
    /* what today_time_zone changes, even when it failed half way */
    free(q("UPDATE settings SET value = $1 WHERE key = 'time_zone'",
           setting_zone));
    free(q("UPDATE users SET time_zone = '" ZONE "' WHERE id = $1",
           user_ids[ME]));
    db_teardown();
}


/* Membership ------------------------------------------------------------ */

/* Each list type for me: its ticket in and out, and exactly the oracle's
 * tickets, crafted ones (a search, so scoped) and all (no search). */
START_TEST(membership)
{
    const char  *type = list_types[_i];
    char        *got, *want;
    size_t       k;

    got = all_ids(ME_P, type, "id", "desc", prefix, "Subject");
    want = oracle(_i, ME, 0, 1, 0, 1);
    ck_assert_msg(strcmp(got, want) == 0, "%s: got %s, want %s", type, got,
                  want);

    ck_assert_msg(has(got, in_out[_i][0]), "%s: %s is not in", type,
                  crafted[in_out[_i][0]].title);
    ck_assert_msg(!has(got, in_out[_i][1]), "%s: %s is in", type,
                  crafted[in_out[_i][1]].title);

    for (k = 0; k < NELEMS(also_out); k++) {
        if (also_out[k][0] == _i) {
            ck_assert_msg(!has(got, also_out[k][1]), "%s: %s is in", type,
                          crafted[also_out[k][1]].title);
        }
    }

    ck_assert_msg(!has(got, DELETED), "%s: a deleted ticket", type);
    free(got);
    free(want);

    got = all_ids(ME_P, type, "id", "desc", NULL, NULL);
    want = oracle(_i, ME, 0, 0, 0, 1);
    ck_assert_msg(strcmp(got, want) == 0, "%s: got %s, want %s", type, got,
                  want);
    ck_assert_msg(has(got, in_out[_i][0]), "%s: %s is not in", type,
                  crafted[in_out[_i][0]].title);
    ck_assert_msg(!has(got, in_out[_i][1]), "%s: %s is in", type,
                  crafted[in_out[_i][1]].title);
    free(got);
    free(want);
}
END_TEST


/* A Member's every list is limited to the tickets they requested. */
START_TEST(membership_member)
{
    const char  *type = list_types[_i];
    char        *got, *want;
    cJSON       *a;
    const cJSON *it;

    got = all_ids(MEM_P, type, "id", "desc", NULL, NULL);
    want = oracle(_i, MEM, 1, 0, 0, 1);
    ck_assert_msg(strcmp(got, want) == 0, "%s: got %s, want %s", type, got,
                  want);
    free(got);
    free(want);

    got = all_ids(MEM_P, type, "id", "desc", prefix, "Subject");
    want = oracle(_i, MEM, 1, 1, 0, 1);
    ck_assert_msg(strcmp(got, want) == 0, "%s: got %s, want %s", type, got,
                  want);
    free(got);
    free(want);

    a = list_ok(MEM_P, "listType", type, "pageSize", "100", NULL);
    cJSON_ArrayForEach(it, a) {
        ck_assert_str_eq(cJSON_GetObjectItem(it, "requesterId")->valuestring,
                         user_ids[MEM]);
    }
    cJSON_Delete(a);
}
END_TEST


START_TEST(member_scoping)
{
    char  *got;

    got = all_ids(MEM_P, "AllTickets", "id", "desc", prefix, "Subject");
    ck_assert(has(got, G_OPEN));
    ck_assert(has(got, ESC_MINE));
    ck_assert(!has(got, G2_OPEN_OTHER));
    ck_assert(!has(got, ONHOLD_MINE));
    free(got);

    got = all_ids(MEM_P, "AllEscalated", "id", "desc", NULL, NULL);
    ck_assert(has(got, ESC_MINE));
    ck_assert(!has(got, ESC_OTHER));
    free(got);

    got = all_ids(MEM_P, "TicketsOnHold", "id", "desc", NULL, NULL);
    ck_assert(has(got, ONHOLD_OTHER));
    ck_assert(!has(got, ONHOLD_MINE));
    free(got);

    /* staff see both */
    got = all_ids(ME_P, "TicketsOnHold", "id", "desc", NULL, NULL);
    ck_assert(has(got, ONHOLD_OTHER));
    ck_assert(has(got, ONHOLD_MINE));
    free(got);

    /* an Integration principal is not a Member */
    got = all_ids(user_principal(OTHER, TK_ROLE_INTEGRATION), "AllTickets",
                  "id", "desc", prefix, "Subject");
    ck_assert(has(got, G_OPEN));
    ck_assert(has(got, G2_OPEN_OTHER));
    free(got);
}
END_TEST


/* "today" is the day in the user's time zone, else the setting's. */
START_TEST(today_time_zone)
{
    char  *mine, *utc, *in_utc;

    mine = all_ids(ME_P, "TicketsDueToday", "id", "desc", prefix,
                   "Subject");
    ck_assert(has(mine, DUE_TODAY_MINE));
    ck_assert(has(mine, DUE_TODAY_END));
    ck_assert(!has(mine, DUE_YESTERDAY_END));
    ck_assert(!has(mine, DUE_TOMORROW));

    /* other has no zone: UTC, whose day is not Kiritimati's */
    utc = all_ids(user_principal(OTHER, TK_ROLE_TECHNICIAN), "TicketsDueToday",
                  "id", "desc", prefix, "Subject");
    in_utc = q("SELECT coalesce(string_agg(t.id::text, ','"
               " ORDER BY t.id DESC), '') FROM tickets t"
               " JOIN statuses s ON s.id = t.status_id"
               " WHERE starts_with(title, $1) AND deleted_on IS NULL"
               " AND s.status_type IN ('Open', 'OnHold', 'Pending')"
               " AND (due_date AT TIME ZONE 'UTC')::date"
               " = (now() AT TIME ZONE 'UTC')::date", prefix);
    ck_assert_str_eq(utc, in_utc);
    ck_assert_str_ne(utc, mine);
    ck_assert(!has(utc, DUE_TODAY_MINE) || !has(utc, DUE_TODAY_END));
    free(utc);

    /* no zone of me's own: the setting's */
    free(q("UPDATE users SET time_zone = NULL WHERE id = $1", user_ids[ME]));
    free(q("UPDATE settings SET value = '" ZONE "' WHERE key = 'time_zone'"));
    utc = all_ids(ME_P, "TicketsDueToday", "id", "desc", prefix, "Subject");
    ck_assert_str_eq(utc, mine);
    free(utc);

    /* a zone PostgreSQL does not know is passed over */
    free(q("UPDATE users SET time_zone = 'Nowhere/Atlantis' WHERE id = $1",
           user_ids[ME]));
    utc = all_ids(ME_P, "MyTicketsDueToday", "id", "desc", NULL, NULL);
    ck_assert(has(utc, DUE_TODAY_MINE));
    free(utc);

    free(mine);
    free(in_utc);
}
END_TEST


/* Shape ------------------------------------------------------------------ */

START_TEST(shape)
{
    static const char *const  keys[] = {
        "id", "subject", "ticketType", "source", "status", "statusType",
        "priority", "requester", "requesterId", "assignedTo",
        "assignedToId", "group", "category", "site", "dueDate", "isOverdue",
        "isEscalated", "openTasks", "createdOn", "updatedOn", NULL
    };
    const cJSON  *it, *k;
    cJSON        *a;
    char          id[24], title[64], *due, *created;
    size_t        i;

    snprintf(id, sizeof(id), "#%lld", (long long) ticket_ids[G_OPEN]);
    a = list_ok(ME_P, "listType", "AllTickets", "search", id,
                "searchFields", "TicketId", NULL);
    ck_assert_int_eq(res.total, 1);
    ck_assert_int_eq(cJSON_GetArraySize(a), 1);
    it = cJSON_GetArrayItem(a, 0);

    for (i = 0, k = it->child; keys[i] != NULL; i++, k = k->next) {
        ck_assert_ptr_nonnull(k);
        ck_assert_str_eq(k->string, keys[i]);
    }
    ck_assert_ptr_null(k);

    snprintf(title, sizeof(title), "%s%s", prefix, crafted[G_OPEN].title);
    due = q("SELECT iso_utc(due_date) FROM tickets WHERE id = $1", id + 1);
    created = q("SELECT iso_utc(created_on) FROM tickets WHERE id = $1",
                id + 1);

    ck_assert_int_eq(cJSON_GetObjectItem(it, "id")->valuedouble,
                     ticket_ids[G_OPEN]);
    ck_assert_str_eq(cJSON_GetObjectItem(it, "subject")->valuestring, title);
    ck_assert_str_eq(cJSON_GetObjectItem(it, "ticketType")->valuestring,
                     "Incident");
    ck_assert_str_eq(cJSON_GetObjectItem(it, "source")->valuestring, "Api");
    ck_assert_str_eq(cJSON_GetObjectItem(it, "status")->valuestring, "Open");
    ck_assert_str_eq(cJSON_GetObjectItem(it, "statusType")->valuestring,
                     "Open");
    ck_assert_str_eq(cJSON_GetObjectItem(it, "priority")->valuestring,
                     "High");
    ck_assert_str_eq(cJSON_GetObjectItem(it, "requester")->valuestring,
                     "Mia Member");
    ck_assert_str_eq(cJSON_GetObjectItem(it, "requesterId")->valuestring,
                     user_ids[MEM]);
    ck_assert_str_eq(cJSON_GetObjectItem(it, "assignedToId")->valuestring,
                     user_ids[ME]);
    ck_assert(strstr(cJSON_GetObjectItem(it, "assignedTo")->valuestring,
                     "fullname") != NULL);
    ck_assert(strstr(cJSON_GetObjectItem(it, "group")->valuestring, tag)
              != NULL);
    ck_assert_str_eq(cJSON_GetObjectItem(it, "category")->valuestring,
                     "Software");
    ck_assert_str_eq(cJSON_GetObjectItem(it, "site")->valuestring,
                     "Headquarters");
    ck_assert_str_eq(cJSON_GetObjectItem(it, "dueDate")->valuestring, due);
    ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(it, "isOverdue")));
    ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(it, "isEscalated")));
    ck_assert_int_eq(cJSON_GetObjectItem(it, "openTasks")->valuedouble, 0);
    ck_assert_str_eq(cJSON_GetObjectItem(it, "createdOn")->valuestring,
                     created);
    ck_assert_ptr_nonnull(strstr(cJSON_GetObjectItem(it, "updatedOn")
                                 ->valuestring, "Z"));
    cJSON_Delete(a);
    free(due);
    free(created);

    /* unset values are null; overdue, escalated, open tasks */
    snprintf(id, sizeof(id), "%lld", (long long) ticket_ids[PENDING_OTHER]);
    a = list_ok(ME_P, "listType", "AllTickets", "search", id,
                "searchFields", "TicketId", NULL);
    it = cJSON_GetArrayItem(a, 0);
    ck_assert(cJSON_IsNull(cJSON_GetObjectItem(it, "priority")));
    ck_assert(cJSON_IsNull(cJSON_GetObjectItem(it, "assignedTo")));
    ck_assert(cJSON_IsNull(cJSON_GetObjectItem(it, "assignedToId")));
    ck_assert(cJSON_IsNull(cJSON_GetObjectItem(it, "group")));
    ck_assert(cJSON_IsNull(cJSON_GetObjectItem(it, "dueDate")));
    ck_assert_str_eq(cJSON_GetObjectItem(it, "statusType")->valuestring,
                     "Pending");
    cJSON_Delete(a);

    snprintf(id, sizeof(id), "%lld", (long long) ticket_ids[OVERDUE_OTHER]);
    a = list_ok(ME_P, "listType", "AllTickets", "search", id,
                "searchFields", "TicketId", NULL);
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetArrayItem(a, 0),
                                               "isOverdue")));
    cJSON_Delete(a);

    /* past due but resolved: not overdue */
    snprintf(id, sizeof(id), "%lld",
             (long long) ticket_ids[RESOLVED_PASTDUE]);
    a = list_ok(ME_P, "listType", "AllTickets", "search", id,
                "searchFields", "TicketId", NULL);
    ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(cJSON_GetArrayItem(a, 0),
                                                "isOverdue")));
    cJSON_Delete(a);

    snprintf(id, sizeof(id), "%lld", (long long) ticket_ids[ESC_OTHER]);
    a = list_ok(ME_P, "listType", "AllTickets", "search", id,
                "searchFields", "TicketId", NULL);
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetArrayItem(a, 0),
                                               "isEscalated")));
    cJSON_Delete(a);

    snprintf(id, sizeof(id), "%lld", (long long) ticket_ids[TASK_OPEN]);
    a = list_ok(ME_P, "listType", "AllTickets", "search", id,
                "searchFields", "TicketId", NULL);
    ck_assert_int_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(a, 0),
                                         "openTasks")->valuedouble, 1);
    cJSON_Delete(a);

    /* an empty list is [] */
    a = list_ok(ME_P, "listType", "AllTickets", "search", "no such ticket",
                NULL);
    ck_assert_str_eq(res.body, "[]");
    ck_assert_int_eq(res.total, 0);
    cJSON_Delete(a);
}
END_TEST


/* Defaults: AllMyTickets, page 1 of 25, id descending; blank is absent;
 * names and values in any case; a list type by its number. */
START_TEST(defaults)
{
    char   *a, *b;
    cJSON  *j;

    a = oracle(11, ME, 0, 0, 0, 1);

    j = list_ok(ME_P, NULL);
    ck_assert_int_eq(res.page, 1);
    ck_assert_int_eq(res.page_size, 25);
    b = calloc(1, 1 << 16);
    ids_of(j, b, 1 << 16);
    ck_assert_msg(strncmp(a, b, strlen(b)) == 0, "%s vs %s", a, b);
    cJSON_Delete(j);

    j = list_ok(ME_P, "listType", "", "page", "", "pageSize", " ", "sort",
                "", "order", "", "search", "  ", "searchFields", "", NULL);
    b[0] = '\0';
    ids_of(j, b, 1 << 16);
    ck_assert_msg(strncmp(a, b, strlen(b)) == 0, "%s vs %s", a, b);
    ck_assert_int_eq(res.page_size, 25);
    cJSON_Delete(j);
    free(a);

    a = all_ids(ME_P, "allmytickets", "ID", "DESC", prefix, "subject");
    free(b);
    b = all_ids(ME_P, "AllMyTickets", "id", "desc", prefix, "Subject");
    ck_assert_str_eq(a, b);
    free(a);
    a = all_ids(ME_P, "11", "id", "desc", prefix, "Subject");
    ck_assert_str_eq(a, b);
    free(a);
    free(b);

    j = list_ok(ME_P, "LISTTYPE", "19", "PAGESIZE", "3", NULL);
    ck_assert_int_eq(res.page_size, 3);
    ck_assert_int_eq(cJSON_GetArraySize(j), 3);
    a = q("SELECT count(*) FROM tickets WHERE NOT is_deleted");
    ck_assert_int_eq(res.total, atoll(a));
    free(a);
    cJSON_Delete(j);
}
END_TEST


/* Search ----------------------------------------------------------------- */

static int64_t
count(tk_principal_t p, const char *search, const char *fields)
{
    cJSON  *a;

    a = list_ok(p, "listType", "AllTickets", "search", search,
                "searchFields", fields ? fields : "", "pageSize", "100",
                NULL);
    cJSON_Delete(a);
    return res.total;
}


START_TEST(search_subject)
{
    tk_principal_t  m3 = user_principal(MEM3, TK_ROLE_MEMBER);
    char            s[64];

    ck_assert_int_eq(count(ME_P, prefix, "Subject"), ncrafted);

    /* a substring, in any case, of one title */
    snprintf(s, sizeof(s), "%s ON HOLD", tag);
    ck_assert_int_eq(count(ME_P, s, "Subject"), 2);
    snprintf(s, sizeof(s), "-%s on hold mi", tag);
    ck_assert_int_eq(count(ME_P, s, "subject"), 1);

    /* LIKE's wildcards are plain characters */
    ck_assert_int_eq(count(m3, "%", "Subject"), 1);
    ck_assert_int_eq(count(m3, "_", "Subject"), 1);
    ck_assert_int_eq(count(m3, "0%_o", "Subject"), 1);
    ck_assert_int_eq(count(m3, "\\", "Subject"), 1);
    ck_assert_int_eq(count(m3, "k\\s", "Subject"), 1);
    ck_assert_int_eq(count(m3, "%%", "Subject"), 0);
    ck_assert_int_eq(count(m3, "p_a", "Subject"), 0);
    ck_assert_int_eq(count(m3, tag, "Subject"), 3);

    /* the term is trimmed */
    snprintf(s, sizeof(s), "  %s  ", tag);
    ck_assert_int_eq(count(m3, s, "Subject"), 3);

    /* not searched in Subject: no match there */
    ck_assert_int_eq(count(m3, "plain", "TicketId, Priority"), 0);
}
END_TEST


START_TEST(search_ticket_id)
{
    char  s[32];

    snprintf(s, sizeof(s), "%lld", (long long) ticket_ids[ESC_OTHER]);
    ck_assert_int_eq(count(ME_P, s, "TicketId"), 1);
    snprintf(s, sizeof(s), "#%lld", (long long) ticket_ids[ESC_OTHER]);
    ck_assert_int_eq(count(ME_P, s, "TicketId"), 1);
    snprintf(s, sizeof(s), " #%lld ", (long long) ticket_ids[ESC_OTHER]);
    ck_assert_int_eq(count(ME_P, s, "ticketid"), 1);

    /* a deleted ticket is not found by its id either */
    snprintf(s, sizeof(s), "%lld", (long long) ticket_ids[DELETED]);
    ck_assert_int_eq(count(ME_P, s, "TicketId"), 0);

    /* not an integer: matches nothing, and is no error */
    ck_assert_int_eq(count(ME_P, "abc", "TicketId"), 0);
    ck_assert_int_eq(count(ME_P, "12abc", "TicketId"), 0);
    ck_assert_int_eq(count(ME_P, "1.5", "TicketId"), 0);
    ck_assert_int_eq(count(ME_P, "-3", "TicketId"), 0);
    ck_assert_int_eq(count(ME_P, "##3", "TicketId"), 0);
    ck_assert_int_eq(count(ME_P, "99999999999999999999", "TicketId"), 0);

    /* a Member finds only their own by id */
    snprintf(s, sizeof(s), "%lld", (long long) ticket_ids[ESC_OTHER]);
    ck_assert_int_eq(count(MEM_P, s, "TicketId"), 0);
    snprintf(s, sizeof(s), "%lld", (long long) ticket_ids[ESC_MINE]);
    ck_assert_int_eq(count(MEM_P, s, "TicketId"), 1);
}
END_TEST


START_TEST(search_priority)
{
    tk_principal_t  m3 = user_principal(MEM3, TK_ROLE_MEMBER);
    char           *n;

    ck_assert_int_eq(count(m3, "High", "Priority"), 1);
    ck_assert_int_eq(count(m3, "hIGH", "Priority"), 1);
    ck_assert_int_eq(count(m3, "low", "Priority"), 1);
    ck_assert_int_eq(count(m3, "Urgent", "Priority"), 0);
    /* equal, not a substring */
    ck_assert_int_eq(count(m3, "hig", "Priority"), 0);
    ck_assert_int_eq(count(m3, "nonesuch", "Priority"), 0);

    /* over every ticket */
    n = q("SELECT count(*) FROM tickets t JOIN priorities p"
          " ON p.id = t.priority_id WHERE NOT t.is_deleted"
          " AND p.name = 'Normal'");
    ck_assert_int_eq(count(ME_P, "normal", "Priority"), atoll(n));
    free(n);
}
END_TEST


START_TEST(search_requester)
{
    tk_principal_t  m3 = user_principal(MEM3, TK_ROLE_MEMBER);
    char            s[64];
    char           *n;

    n = q("SELECT count(*) FROM tickets WHERE NOT is_deleted"
          " AND requester_id = $1", user_ids[ME]);

    /* full name, user name, email: each a substring in any case */
    snprintf(s, sizeof(s), "%sFULLNAME", tag);
    ck_assert_int_eq(count(ME_P, s, "Requester"), atoll(n));
    snprintf(s, sizeof(s), "_%s_uname", tag);
    ck_assert_int_eq(count(ME_P, s, "Requester"), atoll(n));
    snprintf(s, sizeof(s), "%s.mail@", tag);
    ck_assert_int_eq(count(ME_P, s, "requester"), atoll(n));
    free(n);

    /* LIKE's _ is a plain character: ckl_<tag>_m3 has two */
    ck_assert_int_eq(count(m3, "_", "Requester"), 3);
    ck_assert_int_eq(count(m3, "%", "Requester"), 0);
    snprintf(s, sizeof(s), "ckl_%s.m3", tag);
    ck_assert_int_eq(count(m3, s, "Requester"), 0);
    snprintf(s, sizeof(s), "ckl.%s.m3", tag);
    ck_assert_int_eq(count(m3, s, "Requester"), 3);

    /* the assignee is not the requester */
    snprintf(s, sizeof(s), "%solga", tag);
    ck_assert_int_eq(count(m3, s, "Requester"), 0);
}
END_TEST


/* Any selected field matches; the default is all four. */
START_TEST(search_combined)
{
    tk_principal_t  m3 = user_principal(MEM3, TK_ROLE_MEMBER);
    char            s[64];

    /* "high" is in no title but is a priority */
    ck_assert_int_eq(count(m3, "high", NULL), 1);
    ck_assert_int_eq(count(m3, "high", "Subject,Requester"), 0);
    ck_assert_int_eq(count(m3, "high", " subject , PRIORITY "), 1);
    ck_assert_int_eq(count(m3, "high", ",Priority,,"), 1);

    /* "_" is in one title and in the requester's user name */
    ck_assert_int_eq(count(m3, "_", "Subject"), 1);
    ck_assert_int_eq(count(m3, "_", "Subject, Requester"), 3);
    ck_assert_int_eq(count(m3, "_", ""), 3);

    /* the id of one, which also is in no title */
    snprintf(s, sizeof(s), "#%lld", (long long) ticket_ids[M3_PLAIN]);
    ck_assert_int_eq(count(m3, s, NULL), 1);
    ck_assert_int_eq(count(m3, s, "Subject,Priority,Requester"), 0);

    /* a title word and a priority name at once */
    ck_assert_int_eq(count(m3, "plain", "Subject,Priority"), 1);
    ck_assert_int_eq(count(m3, "low", "Subject,Priority"), 1);

    /* staff: the prefix is in every crafted title, and in no name */
    ck_assert_int_eq(count(ME_P, prefix, NULL), ncrafted);
}
END_TEST


/* Paging and sort --------------------------------------------------------- */

START_TEST(paging)
{
    cJSON  *a;
    char    ids[1024] = "", page[16], *want;
    int     last, i;

    want = oracle(19, ME, 0, 1, 0, 1);

    for (i = 1; ; i++) {
        snprintf(page, sizeof(page), "%d", i);
        a = list_ok(ME_P, "listType", "AllTickets", "search", prefix,
                    "page", page, "pageSize", "4", NULL);
        ck_assert_int_eq(res.total, ncrafted);
        ck_assert_int_eq(res.page, i);
        ck_assert_int_eq(res.page_size, 4);
        last = (ncrafted + 3) / 4;
        ck_assert_int_eq(cJSON_GetArraySize(a),
                         i < last ? 4 : i == last ? ncrafted - 4 * (last - 1)
                                                  : 0);
        ids_of(a, ids, sizeof(ids));
        cJSON_Delete(a);
        if (i > last) {
            /* past the end: [] and still the total */
            ck_assert_str_eq(res.body, "[]");
            break;
        }
    }

    ck_assert_str_eq(ids, want);
    free(want);

    /* the biggest page and the last possible one */
    a = list_ok(ME_P, "listType", "AllTickets", "pageSize", "100",
                "page", "2147483647", NULL);
    ck_assert_int_eq(cJSON_GetArraySize(a), 0);
    ck_assert_int_gt(res.total, ncrafted);
    ck_assert_int_eq(res.page, 2147483647);
    cJSON_Delete(a);
}
END_TEST


/* Each sort key, each order: as the oracle, walking (no search) and
 * scoped (a search; a Member). */
START_TEST(sort_order)
{
    const char  *sort = sorts[_i / 2][0];
    const char  *order = _i % 2 ? "desc" : "asc";
    char        *got, *want;

    got = all_ids(ME_P, "AllTickets", sort, order, NULL, NULL);
    want = oracle(19, ME, 0, 0, _i / 2, _i % 2);
    ck_assert_msg(strcmp(got, want) == 0, "%s %s: got %s, want %s", sort,
                  order, got, want);
    free(got);
    free(want);

    got = all_ids(ME_P, "AllTickets", sort, order, prefix, "Subject");
    want = oracle(19, ME, 0, 1, _i / 2, _i % 2);
    ck_assert_msg(strcmp(got, want) == 0, "%s %s: got %s, want %s", sort,
                  order, got, want);
    free(got);
    free(want);

    got = all_ids(MEM_P, "AllTickets", sort, order, NULL, NULL);
    want = oracle(19, MEM, 1, 0, _i / 2, _i % 2);
    ck_assert_msg(strcmp(got, want) == 0, "%s %s: got %s, want %s", sort,
                  order, got, want);
    free(got);
    free(want);

    got = all_ids(ME_P, "CompletedTickets", sort, order, NULL, NULL);
    want = oracle(18, ME, 0, 0, _i / 2, _i % 2);
    ck_assert_msg(strcmp(got, want) == 0, "%s %s: got %s, want %s", sort,
                  order, got, want);
    free(got);
    free(want);
}
END_TEST


/* The orders the crafted data was made for, spelled out. */
START_TEST(sort_spelled_out)
{
    tk_principal_t  m3 = user_principal(MEM3, TK_ROLE_MEMBER);
    char           *got, want[128];

    /* High, Low, none */
    got = all_ids(m3, "AllTickets", "priority", "desc", NULL, NULL);
    snprintf(want, sizeof(want), "%lld,%lld,%lld",
             (long long) ticket_ids[M3_PERCENT],
             (long long) ticket_ids[M3_PLAIN],
             (long long) ticket_ids[M3_BACKSLASH]);
    ck_assert_str_eq(got, want);
    free(got);

    /* Low, High, none */
    got = all_ids(m3, "AllTickets", "priority", "asc", NULL, NULL);
    snprintf(want, sizeof(want), "%lld,%lld,%lld",
             (long long) ticket_ids[M3_PLAIN],
             (long long) ticket_ids[M3_PERCENT],
             (long long) ticket_ids[M3_BACKSLASH]);
    ck_assert_str_eq(got, want);
    free(got);

    /* created 3, 2 and 1 minutes ago */
    got = all_ids(m3, "AllTickets", "createdOn", "asc", NULL, NULL);
    snprintf(want, sizeof(want), "%lld,%lld,%lld",
             (long long) ticket_ids[M3_PERCENT],
             (long long) ticket_ids[M3_BACKSLASH],
             (long long) ticket_ids[M3_PLAIN]);
    ck_assert_str_eq(got, want);
    free(got);

    /* equal created_on: id breaks the tie, in the same direction */
    got = all_ids(ME_P, "AllTickets", "createdOn", "desc", prefix,
                  "Subject");
    snprintf(want, sizeof(want), "%lld,%lld",
             (long long) ticket_ids[RESOLVED_PASTDUE],
             (long long) ticket_ids[OVERDUE_OTHER]);
    ck_assert_msg(strstr(got, want) != NULL, "%s in %s", want, got);
    free(got);

    /* the latest due first (a tie: the higher id), unset due dates last,
     * also descending */
    got = all_ids(ME_P, "AllTickets", "dueDate", "desc", prefix, "Subject");
    snprintf(want, sizeof(want), "%lld,%lld,",
             (long long) ticket_ids[UNASSIGNED_CLOSED],
             (long long) ticket_ids[G_OPEN]);
    ck_assert_msg(strncmp(got, want, strlen(want)) == 0, "%s", got);
    snprintf(want, sizeof(want), ",%lld",
             (long long) ticket_ids[G2_OPEN_OTHER]);
    ck_assert_msg(strcmp(got + strlen(got) - strlen(want), want) == 0,
                  "%s", got);
    free(got);

    got = all_ids(ME_P, "AllTickets", "dueDate", "asc", prefix, "Subject");
    snprintf(want, sizeof(want), "%lld,%lld,%lld,",
             (long long) ticket_ids[PENDING_MINE_OVERDUE],
             (long long) ticket_ids[OVERDUE_OTHER],
             (long long) ticket_ids[RESOLVED_PASTDUE]);
    ck_assert_msg(strncmp(got, want, strlen(want)) == 0, "%s", got);
    snprintf(want, sizeof(want), ",%lld",
             (long long) ticket_ids[M3_PLAIN]);
    ck_assert_msg(strcmp(got + strlen(got) - strlen(want), want) == 0,
                  "%s", got);
    free(got);
}
END_TEST


/* Errors ------------------------------------------------------------------ */

/* The list with one argument must fail on exactly the fields named. */
static void
assert_invalid(const char *name, const char *value, const char *fields)
{
    cJSON        *e;
    const cJSON  *it;
    char          got[256] = "";

    ck_assert_msg(list(ME_P, name, value, NULL) == TK_EINVAL, "%s=%s: %d",
                  name, value, res.code);
    e = validation_errors();
    ck_assert_ptr_null(res.body);
    ck_assert_int_eq(res.total, -1);

    cJSON_ArrayForEach(it, e) {
        ck_assert(cJSON_IsArray(it) && cJSON_GetArraySize(it) >= 1);
        ck_assert(cJSON_IsString(cJSON_GetArrayItem(it, 0)));
        snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s",
                 got[0] ? "," : "", it->string);
    }
    ck_assert_msg(strcmp(got, fields) == 0, "%s=%s: %s", name, value,
                  res.errors);
    cJSON_Delete(e);
}


START_TEST(invalid)
{
    char   s[1024];
    cJSON *a;
    int    i;

    assert_invalid("listType", "NoSuchList", "listType");
    assert_invalid("listType", "20", "listType");
    assert_invalid("listType", "-1", "listType");
    assert_invalid("listType", "AllTickets ", "listType");
    assert_invalid("searchFields", "Subject,Title", "searchFields");
    assert_invalid("searchFields", "Subject Priority", "searchFields");
    assert_invalid("page", "0", "page");
    assert_invalid("page", "-1", "page");
    assert_invalid("page", "abc", "page");
    assert_invalid("page", "1.5", "page");
    assert_invalid("page", "12abc", "page");
    assert_invalid("page", "2147483648", "page");
    assert_invalid("pageSize", "0", "pageSize");
    assert_invalid("pageSize", "101", "pageSize");
    assert_invalid("pageSize", "x", "pageSize");
    assert_invalid("sort", "title", "sort");
    assert_invalid("sort", "created_on", "sort");
    assert_invalid("order", "descending", "order");
    assert_invalid("order", "1", "order");

    /* search: 200 characters, not bytes */
    memset(s, 'x', 201);
    s[201] = '\0';
    assert_invalid("search", s, "search");
    s[200] = '\0';
    a = list_ok(ME_P, "search", s, NULL);
    cJSON_Delete(a);
    for (i = 0; i < 200; i++) {
        memcpy(s + 2 * i, "\xc3\xa9", 2);
    }
    s[400] = '\0';
    a = list_ok(ME_P, "search", s, NULL);
    cJSON_Delete(a);
    memcpy(s + 400, "\xc3\xa9", 3);
    assert_invalid("search", s, "search");
    assert_invalid("search", "caf\xe9", "search");

    /* every offending argument at once, and names in any case */
    ck_assert_int_eq(list(ME_P, "LISTTYPE", "x", "Search", s,
                          "searchfields", "x", "PAGE", "0", "pagesize", "0",
                          "Sort", "x", "ORDER", "x", NULL), TK_EINVAL);
    a = cJSON_Parse(res.errors);
    ck_assert_int_eq(cJSON_GetArraySize(a), 7);
    ck_assert_ptr_nonnull(cJSON_GetObjectItemCaseSensitive(a, "listType"));
    ck_assert_ptr_nonnull(cJSON_GetObjectItemCaseSensitive(a, "search"));
    ck_assert_ptr_nonnull(cJSON_GetObjectItemCaseSensitive(a,
                                                           "searchFields"));
    ck_assert_ptr_nonnull(cJSON_GetObjectItemCaseSensitive(a, "page"));
    ck_assert_ptr_nonnull(cJSON_GetObjectItemCaseSensitive(a, "pageSize"));
    ck_assert_ptr_nonnull(cJSON_GetObjectItemCaseSensitive(a, "sort"));
    ck_assert_ptr_nonnull(cJSON_GetObjectItemCaseSensitive(a, "order"));
    cJSON_Delete(a);

    /* a value that is not UTF-8 is never echoed as it is */
    ck_assert_int_eq(list(ME_P, "sort", "\xff\xfe", NULL), TK_EINVAL);
    ck_assert_ptr_null(strstr(res.errors, "\xff"));
}
END_TEST


/* Statements -------------------------------------------------------------- */

/*
 * Every combination answers, on one connection: past the cap of
 * prepared list statements they run unprepared, and the answer is the
 * same as prepared.
 */
START_TEST(every_combination)
{
    tk_principal_t  who[2];
    tk_conn_t      *fresh;
    tk_result_t     once;
    tk_form_t      *f;
    PGresult       *r;
    size_t          l, w, s, o, k;
    char           *first = NULL;
    int             prepared;

    who[0] = ME_P;
    who[1] = MEM_P;

    for (l = 0; l < NELEMS(list_types); l++) {
        for (w = 0; w < 2; w++) {
            for (k = 0; k < 2; k++) {
                for (s = 0; s < NELEMS(sorts); s++) {
                    for (o = 0; o < 2; o++) {
                        ck_assert_int_eq(list(who[w], "listType",
                                              list_types[l], "sort",
                                              sorts[s][0], "order",
                                              o ? "desc" : "asc", "search",
                                              k ? tag : "", NULL), TK_OK);
                        if (first == NULL) {
                            first = strdup(res.body);
                        }
                    }
                }
            }
        }
    }

    r = PQexec(conn->pg, "SELECT count(*) FROM pg_prepared_statements"
               " WHERE name LIKE 'tk\\_list\\_%' AND name NOT IN "
               "('tk_list_priorities', 'tk_list_rows')");
    ck_assert_int_eq(PQresultStatus(r), PGRES_TUPLES_OK);
    prepared = atoi(PQgetvalue(r, 0, 0));
    PQclear(r);
    ck_assert_int_eq(prepared, 64);

    /* the first combination again: the same answer */
    ck_assert_int_eq(list(ME_P, "listType", list_types[0], "sort", "id",
                          "order", "asc", NULL), TK_OK);
    ck_assert_str_eq(res.body, first);

    /* one of the last, unprepared on this connection: the same answer as
     * on a fresh one, where it is prepared */
    ck_assert_int_eq(list(ME_P, "listType", "AllTickets", "sort",
                          "priority", "order", "desc", "search", tag, NULL),
                     TK_OK);
    free(first);
    first = strdup(res.body);

    ck_assert_int_eq(tk_conn_open(&fresh, conninfo), TK_OK);
    f = tk_form_new();
    tk_form_add(f, "listType", 8, "AllTickets", 10);
    tk_form_add(f, "sort", 4, "priority", 8);
    tk_form_add(f, "order", 5, "desc", 4);
    tk_form_add(f, "search", 6, tag, strlen(tag));
    tk_result_init(&once);
    ck_assert_int_eq(tk_ticket_list(fresh, &who[0], f, &once), TK_OK);
    ck_assert_str_eq(once.body, first);
    tk_result_clear(&once);
    tk_form_free(f);
    tk_conn_close(fresh);
    free(first);
}
END_TEST


/* A lost connection is 503 and the next request reconnects, prepared or
 * not. */
START_TEST(connection_lost)
{
    char   pid[16];
    cJSON *a;

    a = list_ok(ME_P, "listType", "AllTickets", NULL);
    cJSON_Delete(a);

    snprintf(pid, sizeof(pid), "%d", PQbackendPID(conn->pg));
    free(q("SELECT pg_terminate_backend($1::int)", pid));
    usleep(100000);

    /* either noticed before sending (and reconnected) or lost: never 500 */
    if (list(ME_P, "listType", "AllTickets", NULL) != TK_OK) {
        ck_assert_int_eq(res.code, TK_EUNAVAIL);
    }

    a = list_ok(ME_P, "listType", "AllTickets", NULL);
    cJSON_Delete(a);
}
END_TEST


static Suite *
list_suite(void)
{
    Suite  *s;
    TCase  *tc;

    s = suite_create("list");

    tc = add_tcase(s, "membership", db_setup, teardown, 120);
    tcase_add_loop_test(tc, membership, 0, (int) NELEMS(list_types));
    tcase_add_loop_test(tc, membership_member, 0, (int) NELEMS(list_types));
    tcase_add_test(tc, member_scoping);
    tcase_add_test(tc, today_time_zone);

    tc = add_tcase(s, "answer", db_setup, teardown, 120);
    tcase_add_test(tc, shape);
    tcase_add_test(tc, defaults);
    tcase_add_test(tc, search_subject);
    tcase_add_test(tc, search_ticket_id);
    tcase_add_test(tc, search_priority);
    tcase_add_test(tc, search_requester);
    tcase_add_test(tc, search_combined);
    tcase_add_test(tc, paging);
    tcase_add_loop_test(tc, sort_order, 0, 2 * (int) NELEMS(sorts));
    tcase_add_test(tc, sort_spelled_out);
    tcase_add_test(tc, invalid);

    tc = add_tcase(s, "statements", db_setup, teardown, 300);
    tcase_add_test(tc, every_combination);
    tcase_add_test(tc, connection_lost);

    return s;
}


/* Runs sql with its parameters: the first value; exits on failure, as no
 * test can run then. */
static char *
must(PGconn *c, const char *sql, int n, const char *const *v)
{
    char  *out;

    if (!sql_value(c, sql, n, v, &out)) {
        fprintf(stderr, "check_list: %s: %s", sql, PQerrorMessage(c));
        exit(EXIT_FAILURE);
    }

    return out;
}


/* The crafted users, groups, tickets and tasks, in one transaction. */
static void
craft(PGconn *c)
{
    static const char *const  users[NUSERS][4] = {
        { "uname", "Quinn %sfullname", "Technician", ZONE },
        { "other", "Olga %solga", "Technician", NULL },
        { "mem", "Mia Member", "Member", NULL },
        { "mem2", "Max Member", "Member", NULL },
        { "m3", "Mo %s", "Member", NULL }
    };
    const crafted_t  *t;
    const char       *v[12];
    char              name[64], mail[80], full[80], buf[12][64], *s;
    char              sql[1024];
    size_t            i;

    free(must(c, "BEGIN", 0, NULL));

    for (i = 0; i < NUSERS; i++) {
        snprintf(name, sizeof(name), "ckl_%s_%s", tag, users[i][0]);
        snprintf(mail, sizeof(mail), "ckl.%s.%s@example.org", tag,
                 i == ME ? "mail" : users[i][0]);
        snprintf(full, sizeof(full), users[i][1], tag);
        v[0] = name;
        v[1] = mail;
        v[2] = full;
        v[3] = users[i][2];
        v[4] = users[i][3];
        s = must(c, "INSERT INTO users (user_name, email, full_name, role,"
                 " time_zone) VALUES ($1, $2, $3, $4, $5) RETURNING id", 5,
                 v);
        snprintf(user_ids[i], sizeof(user_ids[i]), "%s", s);
        free(s);
    }

    for (i = 0; i < 2; i++) {
        snprintf(name, sizeof(name), "CKL %s G%zu", tag, i + 1);
        v[0] = name;
        s = must(c, "INSERT INTO groups (name) VALUES ($1) RETURNING id", 1,
                 v);
        snprintf(group_ids[i], sizeof(group_ids[i]), "%s", s);
        free(s);
    }

    v[0] = group_ids[0];
    v[1] = user_ids[ME];
    free(must(c, "INSERT INTO group_members VALUES ($1::int, $2)", 2, v));

    for (i = 0; i < NTICKETS; i++) {
        t = &crafted[i];
        snprintf(buf[0], sizeof(buf[0]), "%s%s", prefix, t->title);
        snprintf(buf[1], sizeof(buf[1]), "%d", t->status);
        snprintf(buf[2], sizeof(buf[2]), "%d", t->minutes);
        snprintf(buf[3], sizeof(buf[3]), "%d", t->priority);
        v[0] = buf[0];
        v[1] = user_ids[t->req];
        v[2] = t->ass >= 0 ? user_ids[t->ass] : NULL;
        v[3] = t->group ? group_ids[t->group - 1] : NULL;
        v[4] = buf[1];
        v[5] = buf[2];
        v[6] = t->priority ? buf[3] : NULL;
        v[7] = t->escalated ? "t" : "f";
        v[8] = t->deleted ? "t" : "f";

        /* the due date is SQL of this file: now() is the transaction's */
        snprintf(sql, sizeof(sql),
                 "INSERT INTO tickets (title, description, ticket_type,"
                 " source, requester_id, assignee_id, created_by_id,"
                 " category_id, site_id, department_id, group_id, status_id,"
                 " priority_id, due_date, is_escalated, escalated_on,"
                 " is_deleted, deleted_on, created_on, updated_on)"
                 " VALUES ($1, 'check_list', 2, 1, $2, $3, $2, 2, 1, 1,"
                 " $4::int, $5::int, $7::int, %s, $8::bool,"
                 " CASE WHEN $8::bool THEN now() END, $9::bool,"
                 " CASE WHEN $9::bool THEN now() END,"
                 " now() - $6::int * interval '1 minute',"
                 " now() - $6::int * interval '1 minute'"
                 " + ($6::int %% 7) * interval '1 hour')"
                 " RETURNING id", t->due ? t->due : "NULL");
        s = must(c, sql, 9, v);
        ticket_ids[i] = atoll(s);
        free(s);
        ncrafted += !t->deleted;
    }

    for (i = 0; i < NELEMS(crafted_tasks); i++) {
        snprintf(buf[0], sizeof(buf[0]), "%lld",
                 (long long) ticket_ids[crafted_tasks[i][0]]);
        v[0] = buf[0];
        v[1] = user_ids[crafted_tasks[i][1]];
        v[2] = crafted_tasks[i][2] ? "t" : "f";
        free(must(c, "INSERT INTO tasks (ticket_id, title, assigned_user_id,"
                  " is_completed, completed_on, created_by_id)"
                  " VALUES ($1::bigint, 'check_list', $2, $3::bool,"
                  " CASE WHEN $3::bool THEN now() END, $2)", 3, v));
    }

    free(must(c, "COMMIT", 0, NULL));
}


/* What main() crafted goes, so that the tests can run again. */
static int
cleanup(PGconn *c)
{
    /* each with one parameter, the one named */
    static const char *const  sql[] = {
        "DELETE FROM tickets WHERE requester_id IN"
        " (SELECT id FROM users WHERE user_name LIKE $1)",
        "DELETE FROM users WHERE user_name LIKE $1",
        "DELETE FROM groups WHERE name LIKE $1",
        "UPDATE settings SET value = $1 WHERE key = 'time_zone'"
    };
    const char               *v[NELEMS(sql)];
    char                      users[32], groups[32], *out;
    size_t                    i;
    int                       ok = 1;

    snprintf(users, sizeof(users), "ckl\\_%s\\_%%", tag);
    snprintf(groups, sizeof(groups), "CKL %s G%%", tag);
    v[0] = users;
    v[1] = users;
    v[2] = groups;
    v[3] = setting_zone;

    for (i = 0; ok && i < NELEMS(sql); i++) {
        ok = sql_value(c, sql[i], 1, &v[i], &out);
        free(out);
    }

    if (!ok) {
        fprintf(stderr, "check_list: cleanup: %s", PQerrorMessage(c));
    }

    return ok;
}


/* The crafted users, groups, tickets and tasks of a new tag. */
static int
prepare(PGconn *c)
{
    size_t  i;
    char   *s;

    for (i = 0; i < 8; i++) {
        tag[i] = (char) ('a' + random() % 26);
    }
    snprintf(prefix, sizeof(prefix), "CKL-%s ", tag);

    s = must(c, "SELECT value FROM settings WHERE key = 'time_zone'", 0,
             NULL);
    snprintf(setting_zone, sizeof(setting_zone), "%s", s ? s : "UTC");
    free(s);

    craft(c);
    return 1;
}


int
main(void)
{
    return db_main(list_suite, prepare, cleanup);
}
