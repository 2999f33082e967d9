/*
 * Unit tests of update, history, delete and escalate
 * (libtickets/src/update.c) against a real PostgreSQL: TICKETS_TEST_DB is
 * its conninfo, migrated and with the demo data loaded.  The tests make
 * their own tickets (description MARK) and remove them again.
 */


#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <cJSON.h>
#include <libpq-fe.h>

#include "tickets.h"


#define ADMIN    "00000000-0000-4000-a000-000000000001"
#define TECH1    "00000000-0000-4000-a000-000000000002"
#define TECH2    "00000000-0000-4000-a000-000000000003"
#define TECH3    "00000000-0000-4000-a000-000000000004"
#define MEMBER1  "00000000-0000-4000-a000-000000000005"
#define MEMBER2  "00000000-0000-4000-a000-000000000006"

#define MARK     "check_update: made by a test"


static const char  *conninfo;
static tk_conn_t   *conn;
static PGconn      *pg;
static tk_result_t  res;


static tk_principal_t
principal(const char *id, const char *name, int role, unsigned perms)
{
    tk_principal_t  p;

    memset(&p, 0, sizeof(p));
    snprintf(p.user_id, sizeof(p.user_id), "%s", id);
    snprintf(p.user_name, sizeof(p.user_name), "%s", name);
    p.role = role;
    p.perms = perms;
    return p;
}

#define ADMIN_P    principal(ADMIN, "admin", TK_ROLE_ADMIN, TK_PERM_ALL)
#define TECH1_P    principal(TECH1, "tech1", TK_ROLE_TECHNICIAN,         \
                             TK_PERM_ALL & ~TK_PERM_DELETE)
#define MEMBER1_P  principal(MEMBER1, "member1", TK_ROLE_MEMBER,         \
                             TK_PERM_CREATE)
/* a Member whose identity provider grants everything */
#define MEMBER1_ALL  principal(MEMBER1, "member1", TK_ROLE_MEMBER,       \
                               TK_PERM_ALL)


/* The first value of a query with up to three parameters, or NULL. */
static char *
q3(const char *sql, const char *p1, const char *p2, const char *p3)
{
    const char  *v[3] = { p1, p2, p3 };
    const char  *s;
    PGresult    *r;
    char        *out = NULL;
    int          n = 0;

    /* as many parameters as the statement names: NULL is SQL NULL */
    for (s = strchr(sql, '$'); s != NULL; s = strchr(s + 1, '$')) {
        if (s[1] >= '1' && s[1] <= '3' && s[1] - '0' > n) {
            n = s[1] - '0';
        }
    }

    r = PQexecParams(pg, sql, n, NULL, v, NULL, NULL, 0);
    ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK
                  || PQresultStatus(r) == PGRES_COMMAND_OK,
                  "%s: %s", sql, PQerrorMessage(pg));

    if (PQntuples(r) > 0 && !PQgetisnull(r, 0, 0)) {
        out = strdup(PQgetvalue(r, 0, 0));
    }

    PQclear(r);
    return out;
}

#define q(sql, p1, p2)  q3(sql, p1, p2, NULL)


static long
qn(const char *sql, const char *p1, const char *p2)
{
    char  *s;
    long   n;

    s = q(sql, p1, p2);
    n = s ? strtol(s, NULL, 10) : -1;
    free(s);
    return n;
}


/* The value of a query is want (NULL: SQL NULL). */
#define assert_q(want, sql, p1, p2)                                           \
    do {                                                                      \
        char  *got_ = q(sql, p1, p2);                                         \
        if ((want) == NULL) {                                                 \
            ck_assert_msg(got_ == NULL, "%s: got %s", sql, got_);             \
        } else {                                                              \
            ck_assert_msg(got_ != NULL, "%s: got NULL", sql);                 \
            ck_assert_str_eq(got_, (want));                                   \
        }                                                                     \
        free(got_);                                                           \
    } while (0)


/* A ticket of requester: category 1/1/1, site 1, department 1, status
 * Open, priority Normal, created an hour ago; its id as text. */
static char *
new_ticket(const char *requester, const char *assignee)
{
    char  *id;

    id = q("INSERT INTO tickets (title, description, requester_id,"
           " assignee_id, created_by_id, category_id, subcategory_id,"
           " item_id, site_id, department_id, status_id, priority_id,"
           " created_on, updated_on)"
           " VALUES ('Paper jam', '" MARK "', $1, $2,"
           " '" ADMIN "', 1, 1, 1, 1, 1, 1, 2, now() - interval '1 hour',"
           " now() - interval '1 hour') RETURNING id", requester, assignee);
    ck_assert_ptr_nonnull(id);
    return id;
}


static tk_form_t *
form(const char *name, ...)
{
    tk_form_t  *f;
    const char *value;
    va_list     ap;

    f = tk_form_new();
    ck_assert_ptr_nonnull(f);

    va_start(ap, name);
    for (; name != NULL; name = va_arg(ap, const char *)) {
        value = va_arg(ap, const char *);
        ck_assert_int_eq(tk_form_add(f, name, strlen(name), value,
                                     strlen(value)), TK_OK);
    }
    va_end(ap);

    return f;
}


/* Updates ticket id as p with if_match and the form's pairs. */
static int
update_as(tk_principal_t p, const char *id, const char *if_match,
    tk_form_t *f)
{
    int  rc;

    tk_result_clear(&res);
    rc = tk_ticket_update(conn, &p, strtoll(id, NULL, 10), f, if_match,
                          &res);
    ck_assert_int_eq(rc, res.code);
    tk_form_free(f);
    return rc;
}


/* A row of the ticket's state, to see that nothing changed. */
static char *
snapshot(const char *id)
{
    return q("SELECT row_to_json(t)::text"
             " || (SELECT count(*) FROM history WHERE ticket_id = t.id)"
             " || '/' || (SELECT count(*) FROM outbox WHERE ticket_id = t.id)"
             " || '/' || (SELECT count(*) FROM conversations"
             " WHERE ticket_id = t.id)"
             " FROM tickets t WHERE id = $1::bigint", id, NULL);
}

#define assert_unchanged(id, before)                                          \
    do {                                                                      \
        char  *now_ = snapshot(id);                                           \
        ck_assert_str_eq(now_, before);                                       \
        free(now_);                                                           \
    } while (0)


/* res.errors names exactly the fields (comma-separated, in any order). */
static void
assert_errors(const char *fields)
{
    cJSON       *e;
    const cJSON *it;
    char         buf[256], *name, *save;
    int          n = 0;

    ck_assert_str_eq(res.message, "One or more validation errors occurred.");
    ck_assert_ptr_nonnull(res.errors);
    e = cJSON_Parse(res.errors);
    ck_assert_ptr_nonnull(e);

    snprintf(buf, sizeof(buf), "%s", fields);
    for (name = strtok_r(buf, ",", &save); name != NULL;
         name = strtok_r(NULL, ",", &save))
    {
        it = cJSON_GetObjectItemCaseSensitive(e, name);
        ck_assert_msg(cJSON_IsArray(it) && cJSON_GetArraySize(it) > 0,
                      "no error for %s in %s", name, res.errors);
        n++;
    }

    ck_assert_msg(cJSON_GetArraySize(e) == n, "errors %s, want %s",
                  res.errors, fields);
    cJSON_Delete(e);
}


/* The first message of a field's errors. */
static char *
error_of(const char *field)
{
    static char   buf[512];
    cJSON        *e;
    const cJSON  *it;

    e = cJSON_Parse(res.errors ? res.errors : "{}");
    it = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(e, field), 0);
    snprintf(buf, sizeof(buf), "%s", cJSON_IsString(it) ? it->valuestring
                                                        : "(none)");
    cJSON_Delete(e);
    return buf;
}


/* The history of a ticket as "field:old>new;..." in order. */
static char *
history_of(const char *id)
{
    return q("SELECT coalesce(string_agg(field || ':' || coalesce(old_value,"
             " '~') || '>' || coalesce(new_value, '~'), ';' ORDER BY id), '')"
             " FROM history WHERE ticket_id = $1::bigint", id, NULL);
}

#define assert_history(id, want)                                              \
    do {                                                                      \
        char  *h_ = history_of(id);                                           \
        ck_assert_str_eq(h_, want);                                           \
        free(h_);                                                             \
    } while (0)


static void
etag_is(const char *id)
{
    char  want[64], *v;

    v = q("SELECT version FROM tickets WHERE id = $1::bigint", id, NULL);
    snprintf(want, sizeof(want), "\"%s-%s\"", id, v);
    ck_assert_str_eq(res.etag, want);
    free(v);
}


static void
quiet(void *arg, const char *message)
{
}


static int
cleanup(PGconn *c)
{
    static const char  sql[] =
        "BEGIN;"
        "DROP TRIGGER IF EXISTS test_update_boom ON history;"
        "DROP FUNCTION IF EXISTS test_update_boom();"
        "DELETE FROM outbox WHERE ticket_id IN"
        " (SELECT id FROM tickets WHERE description = '" MARK "');"
        "DELETE FROM tickets WHERE description = '" MARK "';"
        "COMMIT";
    PGresult           *r;
    int                 ok;

    r = PQexec(c, sql);
    ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok) {
        fprintf(stderr, "check_update: cleanup: %s", PQerrorMessage(c));
        PQclear(PQexec(c, "ROLLBACK"));
    }

    PQclear(r);
    return ok;
}


static void
setup(void)
{
    ck_assert_int_eq(tk_conn_open(&conn, conninfo), TK_OK);
    pg = PQconnectdb(conninfo);
    ck_assert_msg(PQstatus(pg) == CONNECTION_OK, "%s", PQerrorMessage(pg));
    PQsetNoticeProcessor(pg, quiet, NULL);
    tk_result_init(&res);
}


static void
teardown(void)
{
    cleanup(pg);
    tk_result_clear(&res);
    tk_conn_close(conn);
    PQfinish(pg);
}


/* Update -------------------------------------------------------------- */

START_TEST(update_permission)
{
    tk_principal_t  p = ADMIN_P;
    char           *id, *before;

    id = new_ticket(MEMBER1, NULL);
    before = snapshot(id);

    p.perms = TK_PERM_ALL & ~TK_PERM_UPDATE;
    ck_assert_int_eq(update_as(p, id, NULL, form("TicketStatusId", "2",
                                                 NULL)), TK_EFORBIDDEN);
    ck_assert_int_eq(update_as(MEMBER1_P, id, NULL,
                               form("TicketStatusId", "2", NULL)),
                     TK_EFORBIDDEN);
    /* even for a ticket that does not exist */
    ck_assert_int_eq(update_as(p, "999999999", NULL, form(NULL)),
                     TK_EFORBIDDEN);
    assert_unchanged(id, before);

    free(before);
    free(id);
}
END_TEST


START_TEST(update_unknown)
{
    char  *id, *before;

    id = new_ticket(MEMBER2, NULL);
    before = snapshot(id);

    /* compat: 400 "Ticket not found", also for a deleted one (demo 36)
     * and, for a Member, another's */
    ck_assert_int_eq(update_as(ADMIN_P, "999999999", NULL,
                               form("TicketStatusId", "2", NULL)),
                     TK_EINVAL);
    ck_assert_str_eq(res.message, "Ticket not found");
    ck_assert_ptr_null(res.errors);

    ck_assert_int_eq(update_as(ADMIN_P, "36", NULL,
                               form("TicketStatusId", "2", NULL)),
                     TK_EINVAL);
    ck_assert_str_eq(res.message, "Ticket not found");
    assert_q("1", "SELECT status_id FROM tickets WHERE id = 36", NULL, NULL);

    ck_assert_int_eq(update_as(MEMBER1_ALL, id, NULL,
                               form("TicketStatusId", "2", NULL)),
                     TK_EINVAL);
    ck_assert_str_eq(res.message, "Ticket not found");
    ck_assert_int_eq(update_as(MEMBER1_ALL, "999999999", NULL,
                               form("TicketStatusId", "2", NULL)),
                     TK_EINVAL);
    ck_assert_str_eq(res.message, "Ticket not found");
    assert_unchanged(id, before);

    free(before);
    free(id);
}
END_TEST


START_TEST(update_id)
{
    char  *id, *before, other[32];

    id = new_ticket(MEMBER1, NULL);
    before = snapshot(id);
    snprintf(other, sizeof(other), "%lld", strtoll(id, NULL, 10) + 1);

    ck_assert_int_eq(update_as(ADMIN_P, id, NULL, form("Id", other,
                               "TicketStatusId", "2", NULL)), TK_EINVAL);
    assert_errors("Id");
    ck_assert_int_eq(update_as(ADMIN_P, id, NULL, form("id", "abc",
                               "TicketStatusId", "2", NULL)), TK_EINVAL);
    assert_errors("Id");
    ck_assert_int_eq(update_as(ADMIN_P, id, NULL, form("Id", "-1", NULL)),
                     TK_EINVAL);
    assert_errors("Id");
    assert_unchanged(id, before);

    /* the same id, and an empty one, are fine */
    ck_assert_int_eq(update_as(ADMIN_P, id, NULL, form("Id", id,
                               "TicketStatusId", "2", NULL)), TK_NO_CONTENT);
    ck_assert_int_eq(update_as(ADMIN_P, id, NULL, form("Id", "",
                               "TicketStatusId", "3", NULL)), TK_NO_CONTENT);
    assert_q("3", "SELECT status_id FROM tickets WHERE id = $1::bigint", id,
             NULL);

    free(before);
    free(id);
}
END_TEST


START_TEST(update_fields)
{
    char  *id, *v;

    id = new_ticket(MEMBER1, NULL);

    ck_assert_int_eq(update_as(TECH1_P, id, NULL, form(
        "TicketStatusId", "2", "TicketType", "problem",
        "TicketCategoryId", "2", "TicketSubCategoryId", "4", "ItemId", "5",
        "TierLevelId", "2", "ClientId", "1", "SiteId", "2",
        "DepartmentId", "2", "GroupId", "1", "ServiceId", "1",
        "ImpactId", "3", "UrgencyId", "2", "CreatorId", MEMBER2,
        "DueDate", "2030-01-02T03:04:05+02:00",
        "Title", "ignored: not a field of the update", NULL)),
        TK_NO_CONTENT);
    ck_assert_msg(res.body == NULL, "no body");
    etag_is(id);
    assert_q("2", "SELECT version FROM tickets WHERE id = $1::bigint", id,
             NULL);

    v = q("SELECT concat_ws(',', status_id, ticket_type, category_id,"
          " subcategory_id, item_id, tier_level_id, client_id, site_id,"
          " department_id, group_id, service_id, impact_id, urgency_id,"
          " requester_id, iso_utc(due_date), title, priority_id,"
          " updated_on > now() - interval '1 minute')"
          " FROM tickets WHERE id = $1::bigint", id, NULL);
    ck_assert_str_eq(v, "2,1,2,4,5,2,1,2,2,1,1,3,2," MEMBER2
                     ",2030-01-02T01:04:05Z,Paper jam,2,t");
    free(v);

    /* one row per field, readable, by the principal */
    assert_history(id, "dueDate:~>2030-01-02T01:04:05Z;"
                   "category:Hardware>Software;subCategory:Laptop>VPN;"
                   "item:Dell XPS 13>AnyConnect;ticketType:Ticket>Problem;"
                   "tierLevel:~>Tier 2;client:~>Acme Corp;"
                   "site:Headquarters>Branch Office;department:IT>Finance;"
                   "status:Open>In Progress;group:~>Service Desk;"
                   "creator:Mary Member>Mark Member;"
                   "service:~>Email Service;impact:~>High;urgency:~>Medium");
    ck_assert_int_eq(qn("SELECT count(*) FROM history WHERE ticket_id ="
                        " $1::bigint AND changed_by_id = $2", id, TECH1),
                     15);
    /* no technician change, no notification */
    ck_assert_int_eq(qn("SELECT count(*) FROM outbox WHERE ticket_id ="
                        " $1::bigint", id, NULL), 0);

    /* the same values again: nothing is written, the ETag stays */
    ck_assert_int_eq(update_as(TECH1_P, id, NULL, form(
        "TicketStatusId", "2", "TicketType", "1", "SiteId", "2",
        "CreatorId", MEMBER2, "DueDate", "2030-01-02T01:04:05Z", NULL)),
        TK_NO_CONTENT);
    etag_is(id);
    assert_q("2", "SELECT version FROM tickets WHERE id = $1::bigint", id,
             NULL);
    ck_assert_int_eq(qn("SELECT count(*) FROM history WHERE ticket_id ="
                        " $1::bigint", id, NULL), 15);

    /* an empty form changes nothing either */
    ck_assert_int_eq(update_as(TECH1_P, id, NULL, form(NULL)),
                     TK_NO_CONTENT);
    assert_q("2", "SELECT version FROM tickets WHERE id = $1::bigint", id,
             NULL);

    free(id);
}
END_TEST


START_TEST(update_status_rules)
{
    char  *id;

    id = new_ticket(MEMBER1, NULL);

    /* 0, negative and empty: no change (seed) */
    ck_assert_int_eq(update_as(ADMIN_P, id, NULL, form("TicketStatusId",
                               "0", NULL)), TK_NO_CONTENT);
    ck_assert_int_eq(update_as(ADMIN_P, id, NULL, form("TicketStatusId",
                               "-5", NULL)), TK_NO_CONTENT);
    ck_assert_int_eq(update_as(ADMIN_P, id, NULL, form("TicketStatusId",
                               "", NULL)), TK_NO_CONTENT);
    assert_history(id, "");

    /* Resolved and Closed set their dates; back to active keeps them */
    ck_assert_int_eq(update_as(ADMIN_P, id, NULL, form("TicketStatusId",
                               "5", NULL)), TK_NO_CONTENT);
    assert_q("true|false", "SELECT (resolved_on IS NOT NULL) || '|'"
             " || (closed_on IS NOT NULL) FROM tickets WHERE id = $1::bigint",
             id, NULL);
    ck_assert_int_eq(update_as(ADMIN_P, id, NULL, form("TicketStatusId",
                               "6", NULL)), TK_NO_CONTENT);
    assert_q("true|true", "SELECT (resolved_on IS NOT NULL) || '|'"
             " || (closed_on IS NOT NULL) FROM tickets WHERE id = $1::bigint",
             id, NULL);
    ck_assert_int_eq(update_as(ADMIN_P, id, NULL, form("TicketStatusId",
                               "1", NULL)), TK_NO_CONTENT);
    assert_q("1|true|true", "SELECT status_id || '|' || (resolved_on IS NOT NULL)"
             " || '|' || (closed_on IS NOT NULL) FROM tickets"
             " WHERE id = $1::bigint", id, NULL);
    ck_assert_int_eq(qn("SELECT count(*) FROM history WHERE ticket_id ="
                        " $1::bigint AND field = 'status'", id, NULL), 3);
    ck_assert_int_eq(qn("SELECT count(*) FROM history WHERE ticket_id ="
                        " $1::bigint AND field IN ('resolvedOn', 'closedOn')"
                        " AND old_value IS NULL AND new_value ~ 'Z$'", id,
                        NULL), 2);

    free(id);
}
END_TEST


START_TEST(update_clear)
{
    char  *id, *before;

    id = new_ticket(MEMBER1, TECH1);
    free(q("UPDATE tickets SET group_id = 1, client_id = 1, tier_level_id = 1,"
           " service_id = 1, impact_id = 1, urgency_id = 1,"
           " due_date = '2030-01-01T00:00:00Z' WHERE id = $1::bigint",
           id, NULL));
    before = snapshot(id);

    /* the fields that may not be empty */
    ck_assert_int_eq(update_as(ADMIN_P, id, NULL, form("SiteId", "",
                               "DepartmentId", " ", "CreatorId", "",
                               "TicketType", "", "GroupId", "", NULL)),
                     TK_EINVAL);
    assert_errors("SiteId,DepartmentId,CreatorId,TicketType");
    ck_assert_str_eq(error_of("SiteId"), "The SiteId field is required.");
    assert_unchanged(id, before);

    /* clearing the category alone leaves its subcategory without one */
    ck_assert_int_eq(update_as(ADMIN_P, id, NULL, form("TicketCategoryId",
                               "", NULL)), TK_EINVAL);
    assert_errors("TicketCategoryId");
    ck_assert_str_eq(error_of("TicketCategoryId"),
                     "TicketSubCategoryId 1 requires TicketCategoryId.");
    assert_unchanged(id, before);

    ck_assert_int_eq(update_as(ADMIN_P, id, NULL, form(
        "DueDate", "", "TicketCategoryId", "", "TicketSubCategoryId", "",
        "ItemId", "", "TierLevelId", "", "ClientId", "",
        "TicketPriorityId", "", "GroupId", "", "AssignedUser", "",
        "ServiceId", "", "ImpactId", "", "UrgencyId", "", NULL)),
        TK_NO_CONTENT);
    assert_q(",,,,,,,,,,,", "SELECT concat(due_date, ',', category_id, ',',"
             " subcategory_id, ',', item_id, ',', tier_level_id, ',',"
             " client_id, ',', priority_id, ',', group_id, ',', assignee_id,"
             " ',', service_id, ',', impact_id, ',', urgency_id) FROM tickets"
             " WHERE id = $1::bigint", id, NULL);
    assert_history(id, "dueDate:2030-01-01T00:00:00Z>~;category:Hardware>~;"
                   "subCategory:Laptop>~;item:Dell XPS 13>~;"
                   "tierLevel:Tier 1>~;client:Acme Corp>~;"
                   "priority:Normal>~;group:Service Desk>~;"
                   "assignee:Tom Technician>~;service:Email Service>~;"
                   "impact:Low>~;urgency:Low>~");
    /* an assignee removed is no one to notify */
    ck_assert_int_eq(qn("SELECT count(*) FROM outbox WHERE ticket_id ="
                        " $1::bigint", id, NULL), 0);

    free(before);
    free(id);
}
END_TEST


START_TEST(update_validation)
{
    static const char *const  ids[] = {
        "TicketCategoryId", "TierLevelId", "ClientId", "SiteId",
        "DepartmentId", "TicketStatusId", "TicketPriorityId", "GroupId",
        "ServiceId", "ImpactId", "UrgencyId"
    };
    char                     *id, *before, msg[128];
    size_t                    i;

    id = new_ticket(MEMBER1, NULL);
    before = snapshot(id);

    for (i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        ck_assert_int_eq(update_as(ADMIN_P, id, NULL, form(ids[i], "999",
                                                           NULL)),
                         TK_EINVAL);
        assert_errors(ids[i]);
        snprintf(msg, sizeof(msg), "Unknown %s 999.", ids[i]);
        ck_assert_str_eq(error_of(ids[i]), msg);

        ck_assert_int_eq(update_as(ADMIN_P, id, NULL, form(ids[i], "1x",
                                                           NULL)),
                         TK_EINVAL);
        assert_errors(ids[i]);
        snprintf(msg, sizeof(msg), "The value '1x' is not valid for %s.",
                 ids[i]);
        ck_assert_str_eq(error_of(ids[i]), msg);

        ck_assert_int_eq(update_as(ADMIN_P, id, NULL, form(ids[i],
                                   "99999999999", NULL)), TK_EINVAL);
        assert_errors(ids[i]);
    }

    ck_assert_int_eq(update_as(ADMIN_P, id, NULL, form("CreatorId", "nobody",
                                                       NULL)), TK_EINVAL);
    assert_errors("CreatorId");
    /* a Member cannot be the technician */
    ck_assert_int_eq(update_as(ADMIN_P, id, NULL, form("AssignedUser",
                                                       MEMBER2, NULL)),
                     TK_EINVAL);
    assert_errors("AssignedUser");
    ck_assert_int_eq(update_as(ADMIN_P, id, NULL, form("TicketType",
                                                       "Bogus", NULL)),
                     TK_EINVAL);
    assert_errors("TicketType");
    ck_assert_int_eq(update_as(ADMIN_P, id, NULL, form("TicketType", "5",
                                                       NULL)), TK_EINVAL);
    assert_errors("TicketType");
    ck_assert_int_eq(update_as(ADMIN_P, id, NULL, form("DueDate",
                               "2026-02-30T10:00:00Z", NULL)), TK_EINVAL);
    assert_errors("DueDate");
    ck_assert_int_eq(update_as(ADMIN_P, id, NULL, form("TemplateId",
                               "not-a-guid", NULL)), TK_EINVAL);
    assert_errors("TemplateId");
    ck_assert_int_eq(update_as(ADMIN_P, id, NULL, form("TicketStatusId",
                               "2.5", NULL)), TK_EINVAL);
    assert_errors("TicketStatusId");
    ck_assert_int_eq(update_as(ADMIN_P, id, NULL, form("GroupId",
                               "\xff", NULL)), TK_EINVAL);
    assert_errors("GroupId");

    /* the resulting category, subcategory and item must fit */
    ck_assert_int_eq(update_as(ADMIN_P, id, NULL, form("TicketCategoryId",
                               "2", NULL)), TK_EINVAL);
    assert_errors("TicketCategoryId");
    ck_assert_str_eq(error_of("TicketCategoryId"),
                     "TicketSubCategoryId 1 does not belong to "
                     "TicketCategoryId 2.");
    ck_assert_int_eq(update_as(ADMIN_P, id, NULL, form("TicketSubCategoryId",
                               "3", NULL)), TK_EINVAL);
    assert_errors("TicketSubCategoryId");
    ck_assert_int_eq(update_as(ADMIN_P, id, NULL, form("TicketSubCategoryId",
                               "2", NULL)), TK_EINVAL);
    assert_errors("TicketSubCategoryId");
    ck_assert_str_eq(error_of("TicketSubCategoryId"),
                     "ItemId 1 does not belong to TicketSubCategoryId 2.");
    ck_assert_int_eq(update_as(ADMIN_P, id, NULL, form("ItemId", "4",
                                                       NULL)), TK_EINVAL);
    assert_errors("ItemId");
    ck_assert_int_eq(update_as(ADMIN_P, id, NULL, form("TicketSubCategoryId",
                               "", NULL)), TK_EINVAL);
    assert_errors("TicketSubCategoryId");
    ck_assert_int_eq(update_as(ADMIN_P, id, NULL, form("TicketCategoryId",
                               "2", "TicketSubCategoryId", "999", NULL)),
                     TK_EINVAL);
    assert_errors("TicketSubCategoryId");

    /* several at once, the form's and the database's */
    ck_assert_int_eq(update_as(ADMIN_P, id, NULL, form("SiteId", "x",
                               "GroupId", "999", "TicketType", "Nope",
                               NULL)), TK_EINVAL);
    assert_errors("SiteId,TicketType");
    ck_assert_int_eq(update_as(ADMIN_P, id, NULL, form("SiteId", "999",
                               "GroupId", "999", "ItemId", "2",
                               "AssignedUser", "nobody", NULL)),
                     TK_EINVAL);
    assert_errors("SiteId,GroupId,AssignedUser");
    assert_unchanged(id, before);

    /* a consistent move of all three passes */
    ck_assert_int_eq(update_as(ADMIN_P, id, NULL, form("TicketCategoryId",
                               "3", "TicketSubCategoryId", "5", "ItemId", "6",
                               NULL)), TK_NO_CONTENT);
    ck_assert_int_eq(update_as(ADMIN_P, id, NULL, form("ItemId", "", NULL)),
                     TK_NO_CONTENT);
    assert_q("3,5,", "SELECT concat(category_id, ',', subcategory_id, ',',"
             " item_id) FROM tickets WHERE id = $1::bigint", id, NULL);

    free(before);
    free(id);
}
END_TEST


START_TEST(update_if_match)
{
    char  *id, *before, etag[64], stale[64];

    id = new_ticket(MEMBER1, NULL);
    snprintf(stale, sizeof(stale), "\"%s-0\"", id);
    before = snapshot(id);

    ck_assert_int_eq(update_as(ADMIN_P, id, stale, form("TicketStatusId",
                               "2", NULL)), TK_EPRECOND);
    ck_assert_str_eq(res.etag, "");
    ck_assert_int_eq(update_as(ADMIN_P, id, "W/\"1-1\"", form(
                               "TicketStatusId", "2", NULL)), TK_EPRECOND);
    ck_assert_int_eq(update_as(ADMIN_P, id, "", form("TicketStatusId", "2",
                                                     NULL)), TK_EPRECOND);
    /* before validation: a stale ETag is 412 whatever the form */
    ck_assert_int_eq(update_as(ADMIN_P, id, stale, form("GroupId", "999",
                                                        NULL)), TK_EPRECOND);
    assert_unchanged(id, before);

    snprintf(etag, sizeof(etag), "\"%s-1\"", id);
    ck_assert_int_eq(update_as(ADMIN_P, id, etag, form("TicketStatusId", "2",
                                                       NULL)), TK_NO_CONTENT);
    snprintf(etag, sizeof(etag), "\"%s-2\"", id);
    ck_assert_str_eq(res.etag, etag);

    /* the old one is stale now */
    snprintf(stale, sizeof(stale), "\"%s-1\"", id);
    ck_assert_int_eq(update_as(ADMIN_P, id, stale, form("TicketStatusId",
                               "3", NULL)), TK_EPRECOND);

    /* "*" and a list */
    ck_assert_int_eq(update_as(ADMIN_P, id, "*", form("TicketStatusId", "3",
                                                      NULL)), TK_NO_CONTENT);
    snprintf(etag, sizeof(etag), "\"x-1\", \"%s-3\"", id);
    ck_assert_int_eq(update_as(ADMIN_P, id, etag, form("TicketStatusId", "4",
                                                       NULL)), TK_NO_CONTENT);
    assert_q("4|4", "SELECT status_id || '|' || version FROM tickets"
             " WHERE id = $1::bigint", id, NULL);

    free(before);
    free(id);
}
END_TEST


typedef struct {
    const char  *id;
    const char  *etag;
    const char  *status;
    int          rc;
} racer_t;


static void *
race(void *arg)
{
    racer_t         *r = arg;
    tk_principal_t   p = ADMIN_P;
    tk_conn_t       *c;
    tk_result_t      rr;
    tk_form_t       *f;

    tk_result_init(&rr);
    f = tk_form_new();
    tk_form_add(f, "TicketStatusId", 14, r->status, strlen(r->status));

    if (tk_conn_open(&c, conninfo) != TK_OK) {
        r->rc = 99;
    } else {
        r->rc = tk_ticket_update(c, &p, strtoll(r->id, NULL, 10), f, r->etag,
                                 &rr);
        tk_conn_close(c);
    }

    tk_form_free(f);
    tk_result_clear(&rr);
    return NULL;
}


START_TEST(update_race)
{
    pthread_t  th[2];
    racer_t    r[2];
    PGconn    *holder;
    PGresult  *x;
    char      *id, etag[64];
    int        i, waiting = 0;

    id = new_ticket(MEMBER1, NULL);
    snprintf(etag, sizeof(etag), "\"%s-1\"", id);

    /* both wait on the row, then go one after the other */
    holder = PQconnectdb(conninfo);
    ck_assert_int_eq(PQstatus(holder), CONNECTION_OK);
    PQclear(PQexec(holder, "BEGIN"));
    {
        const char  *v[1] = { id };

        x = PQexecParams(holder, "SELECT 1 FROM tickets WHERE id = $1::bigint"
                         " FOR UPDATE", 1, NULL, v, NULL, NULL, 0);
        ck_assert_int_eq(PQresultStatus(x), PGRES_TUPLES_OK);
        PQclear(x);
    }

    for (i = 0; i < 2; i++) {
        r[i].id = id;
        r[i].etag = etag;
        r[i].status = i == 0 ? "2" : "3";
        r[i].rc = 0;
        ck_assert_int_eq(pthread_create(&th[i], NULL, race, &r[i]), 0);
    }

    for (i = 0; i < 200 && waiting < 2; i++) {
        usleep(20000);
        waiting = (int) qn("SELECT count(*) FROM pg_locks"
                           " WHERE NOT granted AND locktype IN"
                           " ('transactionid', 'tuple')", NULL, NULL);
    }
    ck_assert_int_ge(waiting, 2);

    PQclear(PQexec(holder, "COMMIT"));
    PQfinish(holder);

    for (i = 0; i < 2; i++) {
        pthread_join(th[i], NULL);
    }

    ck_assert_msg((r[0].rc == TK_NO_CONTENT && r[1].rc == TK_EPRECOND)
                  || (r[0].rc == TK_EPRECOND && r[1].rc == TK_NO_CONTENT),
                  "rc %d and %d", r[0].rc, r[1].rc);
    ck_assert_int_eq(qn("SELECT version FROM tickets WHERE id = $1::bigint",
                        id, NULL), 2);
    ck_assert_int_eq(qn("SELECT count(*) FROM history WHERE ticket_id ="
                        " $1::bigint", id, NULL), 1);
    ck_assert_int_eq(qn("SELECT status_id FROM tickets WHERE id ="
                        " $1::bigint", id, NULL),
                     r[0].rc == TK_NO_CONTENT ? 2 : 3);

    free(id);
}
END_TEST


START_TEST(update_assignee_outbox)
{
    char   *id, *v, subject[128];

    id = new_ticket(MEMBER1, TECH1);

    ck_assert_int_eq(update_as(ADMIN_P, id, NULL, form("AssignedUser", TECH2,
                                                       NULL)), TK_NO_CONTENT);
    assert_history(id, "assignee:Tom Technician>Tina Technician");

    v = q("SELECT string_agg(channel || ':' || event || ':'"
          " || array_to_string(recipients, ','), ';' ORDER BY channel)"
          " FROM outbox WHERE ticket_id = $1::bigint", id, NULL);
    ck_assert_str_eq(v, "email:TicketAssigned:tech2@example.com;"
                     "push:TicketAssigned:" TECH2);
    free(v);

    snprintf(subject, sizeof(subject), "Ticket #%s assigned to you: Paper "
             "jam", id);
    v = q("SELECT string_agg(DISTINCT concat_ws('|', payload->>'ticketId'"
          " = $1, payload->>'title', payload->>'assignee',"
          " payload->>'assignedBy', payload->>'subject',"
          " payload->>'message' LIKE 'admin assigned %'), ';')"
          " FROM outbox WHERE ticket_id = $1::bigint", id, NULL);
    ck_assert_ptr_nonnull(v);
    {
        char  want[512];

        snprintf(want, sizeof(want), "t|Paper jam|%s|%s|%s|t", TECH2,
                 ADMIN, subject);
        ck_assert_str_eq(v, want);
    }
    free(v);

    /* the same technician again: no change, no notification */
    ck_assert_int_eq(update_as(ADMIN_P, id, NULL, form("AssignedUser", TECH2,
                                                       NULL)), TK_NO_CONTENT);
    ck_assert_int_eq(qn("SELECT count(*) FROM outbox WHERE ticket_id ="
                        " $1::bigint", id, NULL), 2);

    /* another change with the technician: still two rows more */
    ck_assert_int_eq(update_as(ADMIN_P, id, NULL, form("AssignedUser", TECH3,
                               "TicketStatusId", "2", NULL)), TK_NO_CONTENT);
    ck_assert_int_eq(qn("SELECT count(*) FROM outbox WHERE ticket_id ="
                        " $1::bigint AND recipients && ARRAY["
                        "'tech3@example.com', '" TECH3 "']", id, NULL), 2);

    free(id);
}
END_TEST


START_TEST(update_sla)
{
    char  *id, *v;

    id = new_ticket(MEMBER1, NULL);
    free(q("UPDATE tickets SET sla_id = 2, due_date = created_on"
           " + interval '1440 minutes', response_due_date = created_on"
           " + interval '240 minutes' WHERE id = $1::bigint", id, NULL));

    /* Urgent: policy 4, 15 and 240 minutes from createdOn */
    ck_assert_int_eq(update_as(ADMIN_P, id, NULL, form("TicketPriorityId",
                               "4", "DueDate", "2031-01-01T00:00:00Z", NULL)),
                     TK_NO_CONTENT);
    assert_q("4|true|true", "SELECT sla_id || '|'"
             " || (due_date = created_on + interval '240 minutes') || '|'"
             " || (response_due_date = created_on + interval '15 minutes')"
             " FROM tickets WHERE id = $1::bigint", id, NULL);
    v = q("SELECT string_agg(field || ':' || coalesce(new_value, '~'), ';'"
          " ORDER BY id) FROM history WHERE ticket_id = $1::bigint"
          " AND field IN ('priority', 'sla')", id, NULL);
    ck_assert_str_eq(v, "priority:Urgent;sla:Urgent priority");
    free(v);
    ck_assert_int_eq(qn("SELECT count(*) FROM history WHERE ticket_id ="
                        " $1::bigint AND field IN ('dueDate',"
                        " 'responseDueDate')", id, NULL), 2);

    /* without a priority change a DueDate is taken as it is */
    ck_assert_int_eq(update_as(ADMIN_P, id, NULL, form("DueDate",
                               "2031-01-01", NULL)), TK_NO_CONTENT);
    assert_q("4|2031-01-01T00:00:00Z", "SELECT sla_id || '|'"
             " || iso_utc(due_date) FROM tickets WHERE id = $1::bigint", id,
             NULL);

    /* no policy applies: none, the due date stands, no response target */
    free(q("UPDATE sla_policies SET is_active = false WHERE id = 1", NULL,
           NULL));
    ck_assert_int_eq(update_as(ADMIN_P, id, NULL, form("TicketPriorityId",
                               "1", NULL)), TK_NO_CONTENT);
    free(q("UPDATE sla_policies SET is_active = true WHERE id = 1", NULL,
           NULL));
    assert_q("~|2031-01-01T00:00:00Z|~", "SELECT coalesce(sla_id::text, '~')"
             " || '|' || iso_utc(due_date) || '|'"
             " || coalesce(response_due_date::text, '~')"
             " FROM tickets WHERE id = $1::bigint", id, NULL);

    free(id);
}
END_TEST


START_TEST(update_member)
{
    char  *mine, *theirs, *before;

    mine = new_ticket(MEMBER1, NULL);
    theirs = new_ticket(MEMBER2, NULL);
    before = snapshot(mine);

    /* with Tickets.Update a Member may change their own ticket, but not
     * give it away */
    ck_assert_int_eq(update_as(MEMBER1_ALL, mine, NULL, form("CreatorId",
                               MEMBER2, NULL)), TK_EFORBIDDEN);
    assert_unchanged(mine, before);
    ck_assert_int_eq(update_as(MEMBER1_ALL, mine, NULL, form("CreatorId",
                               MEMBER1, "UrgencyId", "3", NULL)),
                     TK_NO_CONTENT);
    assert_history(mine, "urgency:~>High");
    free(before);

    before = snapshot(theirs);
    ck_assert_int_eq(update_as(MEMBER1_ALL, theirs, NULL, form("UrgencyId",
                               "3", NULL)), TK_EINVAL);
    ck_assert_str_eq(res.message, "Ticket not found");
    assert_unchanged(theirs, before);

    free(before);
    free(mine);
    free(theirs);
}
END_TEST


START_TEST(update_rollback)
{
    char  *id, *before;

    id = new_ticket(MEMBER1, TECH1);
    before = snapshot(id);

    /* the history of one field fails: nothing of the update may stay */
    free(q("CREATE OR REPLACE FUNCTION test_update_boom() RETURNS trigger"
           " LANGUAGE plpgsql AS $$ BEGIN"
           " IF NEW.new_value = 'Acme Corp' THEN RAISE EXCEPTION 'boom';"
           " END IF; RETURN NEW; END $$", NULL, NULL));
    free(q("CREATE OR REPLACE TRIGGER test_update_boom BEFORE INSERT ON"
           " history FOR EACH ROW EXECUTE FUNCTION test_update_boom()", NULL,
           NULL));

    ck_assert_int_eq(update_as(ADMIN_P, id, NULL, form("TicketStatusId", "2",
                               "AssignedUser", TECH2, "ClientId", "1",
                               "TicketPriorityId", "4", NULL)),
                     TK_EINTERNAL);
    ck_assert_str_eq(res.etag, "");
    assert_unchanged(id, before);

    /* the outbox fails after the history: the same */
    free(q("DROP TRIGGER test_update_boom ON history", NULL, NULL));
    free(q("CREATE OR REPLACE FUNCTION test_update_boom() RETURNS trigger"
           " LANGUAGE plpgsql AS $$ BEGIN"
           " IF NEW.channel = 'push' THEN RAISE EXCEPTION 'boom';"
           " END IF; RETURN NEW; END $$", NULL, NULL));
    free(q("CREATE OR REPLACE TRIGGER test_update_boom BEFORE INSERT ON"
           " outbox FOR EACH ROW EXECUTE FUNCTION test_update_boom()", NULL,
           NULL));
    ck_assert_int_eq(update_as(ADMIN_P, id, NULL, form("TicketStatusId", "2",
                               "AssignedUser", TECH2, NULL)), TK_EINTERNAL);
    assert_unchanged(id, before);
    free(q("DROP TRIGGER test_update_boom ON outbox", NULL, NULL));
    free(q("DROP FUNCTION test_update_boom()", NULL, NULL));

    /* the connection is usable again */
    ck_assert_int_eq(update_as(ADMIN_P, id, NULL, form("TicketStatusId", "2",
                               "AssignedUser", TECH2, NULL)), TK_NO_CONTENT);
    assert_history(id, "status:Open>In Progress;"
                   "assignee:Tom Technician>Tina Technician");

    free(before);
    free(id);
}
END_TEST


/* History ------------------------------------------------------------- */

START_TEST(history)
{
    tk_principal_t   p;
    cJSON           *j, *e, *by;
    char            *mine, *theirs;

    mine = new_ticket(MEMBER1, NULL);
    theirs = new_ticket(MEMBER2, NULL);

    p = MEMBER1_P;
    tk_result_clear(&res);
    ck_assert_int_eq(tk_ticket_history(conn, &p, strtoll(mine, NULL, 10),
                                       &res), TK_OK);
    ck_assert_str_eq(res.body, "[]");

    ck_assert_int_eq(update_as(TECH1_P, mine, NULL, form("TicketStatusId",
                               "3", NULL)), TK_NO_CONTENT);
    ck_assert_int_eq(update_as(ADMIN_P, mine, NULL, form("TicketPriorityId",
                               "", NULL)), TK_NO_CONTENT);
    free(q("INSERT INTO history (ticket_id, field, new_value) VALUES"
           " ($1::bigint, 'system', 'x')", mine, NULL));

    tk_result_clear(&res);
    ck_assert_int_eq(tk_ticket_history(conn, &p, strtoll(mine, NULL, 10),
                                       &res), TK_OK);
    j = cJSON_Parse(res.body);
    ck_assert_ptr_nonnull(j);
    ck_assert_int_eq(cJSON_GetArraySize(j), 3);

    /* oldest first: status by tech1, priority by admin (no policy
     * without one: sla stays null), system */
    e = cJSON_GetArrayItem(j, 0);
    ck_assert_str_eq(cJSON_GetObjectItem(e, "field")->valuestring, "status");
    ck_assert_str_eq(cJSON_GetObjectItem(e, "oldValue")->valuestring,
                     "Open");
    ck_assert_str_eq(cJSON_GetObjectItem(e, "newValue")->valuestring,
                     "On Hold");
    by = cJSON_GetObjectItem(e, "changedBy");
    ck_assert_str_eq(cJSON_GetObjectItem(by, "id")->valuestring, TECH1);
    ck_assert_str_eq(cJSON_GetObjectItem(by, "fullName")->valuestring,
                     "Tom Technician");
    ck_assert_str_eq(cJSON_GetObjectItem(by, "userName")->valuestring,
                     "tech1");
    ck_assert_str_eq(cJSON_GetObjectItem(by, "email")->valuestring,
                     "tech1@example.com");
    ck_assert_int_eq(cJSON_GetArraySize(by), 4);
    ck_assert_msg(strlen(cJSON_GetObjectItem(e, "changedOn")->valuestring)
                  == 20, "changedOn ISO 8601 with Z");
    ck_assert_int_eq(cJSON_GetArraySize(e), 5);

    e = cJSON_GetArrayItem(j, 1);
    ck_assert_str_eq(cJSON_GetObjectItem(e, "field")->valuestring,
                     "priority");
    ck_assert_msg(cJSON_IsNull(cJSON_GetObjectItem(e, "newValue")),
                  "a cleared value is null");

    e = cJSON_GetArrayItem(j, 2);
    ck_assert_str_eq(cJSON_GetObjectItem(e, "field")->valuestring, "system");
    ck_assert_msg(cJSON_IsNull(cJSON_GetObjectItem(e, "oldValue")), "null");
    ck_assert_msg(cJSON_IsNull(cJSON_GetObjectItem(e, "changedBy")),
                  "no one");
    cJSON_Delete(j);

    /* another's ticket, an unknown one, a deleted one: 404 */
    tk_result_clear(&res);
    ck_assert_int_eq(tk_ticket_history(conn, &p, strtoll(theirs, NULL, 10),
                                       &res), TK_ENOTFOUND);
    ck_assert_ptr_null(res.body);
    p = ADMIN_P;
    tk_result_clear(&res);
    ck_assert_int_eq(tk_ticket_history(conn, &p, strtoll(theirs, NULL, 10),
                                       &res), TK_OK);
    tk_result_clear(&res);
    ck_assert_int_eq(tk_ticket_history(conn, &p, 999999999, &res),
                     TK_ENOTFOUND);
    tk_result_clear(&res);
    ck_assert_int_eq(tk_ticket_history(conn, &p, 36, &res), TK_ENOTFOUND);
    tk_result_clear(&res);
    ck_assert_int_eq(tk_ticket_history(conn, &p, 0, &res), TK_ENOTFOUND);

    free(mine);
    free(theirs);
}
END_TEST


/* Delete -------------------------------------------------------------- */

static int
delete_as(tk_principal_t p, const char *id)
{
    int  rc;

    tk_result_clear(&res);
    rc = tk_ticket_delete(conn, &p, strtoll(id, NULL, 10), &res);
    ck_assert_int_eq(rc, res.code);
    return rc;
}


START_TEST(delete)
{
    tk_principal_t   p;
    cJSON           *j;
    char            *id, *before, *v, *model, hist[128];

    id = new_ticket(MEMBER1, TECH1);
    before = snapshot(id);

    ck_assert_int_eq(delete_as(TECH1_P, id), TK_EFORBIDDEN);
    ck_assert_int_eq(delete_as(MEMBER1_P, id), TK_EFORBIDDEN);
    ck_assert_int_eq(delete_as(TECH1_P, "999999999"), TK_EFORBIDDEN);
    assert_unchanged(id, before);

    /* the model as GET shows it, but deleted */
    p = ADMIN_P;
    tk_result_clear(&res);
    ck_assert_int_eq(tk_ticket_get(conn, &p, strtoll(id, NULL, 10), &res),
                     TK_OK);
    model = strdup(res.body);

    ck_assert_int_eq(delete_as(ADMIN_P, id), TK_OK);
    etag_is(id);
    j = cJSON_Parse(res.body);
    ck_assert_ptr_nonnull(j);
    ck_assert_msg(cJSON_IsTrue(cJSON_GetObjectItem(j, "isDeleted")),
                  "isDeleted");
    v = q("SELECT iso_utc(deleted_on) || '|' || iso_utc(updated_on)"
          " || '|' || is_deleted || '|' || version FROM tickets"
          " WHERE id = $1::bigint", id, NULL);
    {
        char  want[128];

        snprintf(want, sizeof(want), "%s|%s|true|2",
                 cJSON_GetObjectItem(j, "deletedOn")->valuestring,
                 cJSON_GetObjectItem(j, "updatedOn")->valuestring);
        ck_assert_str_eq(v, want);
    }
    /* isDeleted, then deletedOn as the answer and the row have it */
    snprintf(hist, sizeof(hist), "isDeleted:false>true;"
             "deletedOn:~>%s",
             cJSON_GetObjectItem(j, "deletedOn")->valuestring);
    free(v);
    ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "assignee"),
                                         "id")->valuestring, TECH1);
    ck_assert_int_eq(cJSON_GetArraySize(j), 40);
    {
        /* every other key as before */
        cJSON  *m = cJSON_Parse(model);

        cJSON_DeleteItemFromObject(m, "isDeleted");
        cJSON_DeleteItemFromObject(m, "deletedOn");
        cJSON_DeleteItemFromObject(m, "updatedOn");
        cJSON_DeleteItemFromObject(j, "isDeleted");
        cJSON_DeleteItemFromObject(j, "deletedOn");
        cJSON_DeleteItemFromObject(j, "updatedOn");
        ck_assert_msg(cJSON_Compare(m, j, 1), "the model otherwise as GET");
        cJSON_Delete(m);
    }
    cJSON_Delete(j);
    free(model);
    assert_history(id, hist);
    assert_q(ADMIN, "SELECT string_agg(DISTINCT changed_by_id, ',')"
             " FROM history WHERE ticket_id = $1::bigint", id, NULL);

    /* then 404 everywhere, and 400 for update (compat) */
    ck_assert_int_eq(delete_as(ADMIN_P, id), TK_ENOTFOUND);
    ck_assert_ptr_null(res.body);
    tk_result_clear(&res);
    ck_assert_int_eq(tk_ticket_get(conn, &p, strtoll(id, NULL, 10), &res),
                     TK_ENOTFOUND);
    tk_result_clear(&res);
    ck_assert_int_eq(tk_ticket_history(conn, &p, strtoll(id, NULL, 10),
                                       &res), TK_ENOTFOUND);
    ck_assert_int_eq(update_as(ADMIN_P, id, NULL, form("TicketStatusId", "2",
                                                       NULL)), TK_EINVAL);
    ck_assert_str_eq(res.message, "Ticket not found");
    ck_assert_int_eq(delete_as(ADMIN_P, "999999999"), TK_ENOTFOUND);

    free(before);
    free(id);
}
END_TEST


START_TEST(delete_member)
{
    char  *mine, *theirs, *before;

    mine = new_ticket(MEMBER1, NULL);
    theirs = new_ticket(MEMBER2, NULL);
    before = snapshot(theirs);

    ck_assert_int_eq(delete_as(MEMBER1_ALL, theirs), TK_ENOTFOUND);
    assert_unchanged(theirs, before);
    ck_assert_int_eq(delete_as(MEMBER1_ALL, mine), TK_OK);
    assert_q("t", "SELECT is_deleted FROM tickets WHERE id = $1::bigint",
             mine, NULL);
    /* both rows, in the Member's name; deletedOn the ticket's */
    assert_q("isDeleted:false>true;deletedOn:true", "SELECT string_agg(h.field"
             " || ':' || CASE h.field WHEN 'deletedOn'"
             " THEN (h.old_value IS NULL"
             " AND h.new_value = iso_utc(t.deleted_on))::text"
             " ELSE h.old_value || '>' || h.new_value END, ';' ORDER BY h.id)"
             " FROM history h JOIN tickets t ON t.id = h.ticket_id"
             " WHERE h.ticket_id = $1::bigint AND h.changed_by_id = '"
             MEMBER1 "'", mine, NULL);

    free(before);
    free(mine);
    free(theirs);
}
END_TEST


START_TEST(delete_rollback)
{
    char  *id, *before;

    id = new_ticket(MEMBER1, NULL);
    before = snapshot(id);

    free(q("CREATE OR REPLACE FUNCTION test_update_boom() RETURNS trigger"
           " LANGUAGE plpgsql AS $$ BEGIN"
           " IF NEW.is_deleted THEN RAISE EXCEPTION 'boom';"
           " END IF; RETURN NEW; END $$", NULL, NULL));
    free(q("CREATE OR REPLACE TRIGGER test_update_boom BEFORE UPDATE ON"
           " tickets FOR EACH ROW EXECUTE FUNCTION test_update_boom()", NULL,
           NULL));
    ck_assert_int_eq(delete_as(ADMIN_P, id), TK_EINTERNAL);
    ck_assert_ptr_null(res.body);
    free(q("DROP TRIGGER test_update_boom ON tickets", NULL, NULL));
    assert_unchanged(id, before);

    /* the deletedOn row fails: the delete goes with it */
    free(before);
    before = snapshot(id);
    free(q("CREATE OR REPLACE FUNCTION test_update_boom() RETURNS trigger"
           " LANGUAGE plpgsql AS $$ BEGIN"
           " IF NEW.field = 'deletedOn' THEN RAISE EXCEPTION 'boom';"
           " END IF; RETURN NEW; END $$", NULL, NULL));
    free(q("CREATE OR REPLACE TRIGGER test_update_boom BEFORE INSERT ON"
           " history FOR EACH ROW EXECUTE FUNCTION test_update_boom()", NULL,
           NULL));
    ck_assert_int_eq(delete_as(ADMIN_P, id), TK_EINTERNAL);
    ck_assert_ptr_null(res.body);
    free(q("DROP TRIGGER test_update_boom ON history", NULL, NULL));
    free(q("DROP FUNCTION test_update_boom()", NULL, NULL));
    assert_unchanged(id, before);

    free(before);
    free(id);
}
END_TEST


/* Escalate ------------------------------------------------------------ */

static int
escalate_as(tk_principal_t p, const char *id, tk_form_t *f)
{
    int  rc;

    tk_result_clear(&res);
    rc = tk_ticket_escalate(conn, &p, strtoll(id, NULL, 10), f, &res);
    ck_assert_int_eq(rc, res.code);
    tk_form_free(f);
    return rc;
}


START_TEST(escalate)
{
    tk_principal_t  p;
    char           *id, *before, *v, *first;

    id = new_ticket(MEMBER1, TECH1);
    before = snapshot(id);

    p = ADMIN_P;
    p.perms &= ~TK_PERM_UPDATE;
    ck_assert_int_eq(escalate_as(p, id, form("Reason", "late", NULL)),
                     TK_EFORBIDDEN);
    ck_assert_int_eq(escalate_as(MEMBER1_P, id, form("Reason", "late",
                                                     NULL)), TK_EFORBIDDEN);

    ck_assert_int_eq(escalate_as(ADMIN_P, id, form(NULL)), TK_EINVAL);
    assert_errors("Reason");
    ck_assert_int_eq(escalate_as(ADMIN_P, id, form("Reason", "  ",
                               "GroupId", "x", "TierLevelId", "0", NULL)),
                     TK_EINVAL);
    assert_errors("Reason,GroupId,TierLevelId");
    ck_assert_int_eq(escalate_as(ADMIN_P, id, form("Reason", "late",
                               "GroupId", "999", NULL)), TK_EINVAL);
    assert_errors("GroupId");
    ck_assert_int_eq(escalate_as(ADMIN_P, id, form("Reason", "late",
                               "GroupId", "999", "TierLevelId", "999",
                               NULL)), TK_EINVAL);
    assert_errors("GroupId,TierLevelId");
    assert_unchanged(id, before);

    ck_assert_int_eq(escalate_as(ADMIN_P, "999999999", form("Reason", "late",
                                                            NULL)),
                     TK_ENOTFOUND);
    ck_assert_int_eq(escalate_as(ADMIN_P, "36", form("Reason", "late",
                                                     NULL)), TK_ENOTFOUND);

    ck_assert_int_eq(escalate_as(TECH1_P, id, form("Reason", "Customer is "
                               "waiting", "GroupId", "2", "TierLevelId", "2",
                               NULL)), TK_NO_CONTENT);
    etag_is(id);
    assert_q("true|2|2|2", "SELECT is_escalated || '|' || group_id || '|'"
             " || tier_level_id || '|' || version FROM tickets"
             " WHERE id = $1::bigint", id, NULL);
    assert_history(id, "isEscalated:false>true;group:~>Network;"
                   "tierLevel:~>Tier 2");
    assert_q("Escalation|Customer is waiting|" TECH1 "|true", "SELECT type"
             " || '|' || message || '|' || created_by_id || '|' || is_private"
             " FROM conversations WHERE ticket_id = $1::bigint", id, NULL);
    v = q("SELECT string_agg(concat_ws('|', channel, event,"
          " array_to_string(recipients, ','), payload->>'reason',"
          " payload->>'group', payload->>'tierLevel',"
          " payload->>'escalatedBy'), ';')"
          " FROM outbox WHERE ticket_id = $1::bigint", id, NULL);
    ck_assert_str_eq(v, "email|Escalated|tech1@example.com|Customer is "
                     "waiting|Network|Tier 2|" TECH1);
    free(v);
    first = q("SELECT escalated_on::text FROM tickets WHERE id = $1::bigint",
              id, NULL);

    /* again: logged again, escalatedOn kept */
    ck_assert_int_eq(escalate_as(ADMIN_P, id, form("Reason", "Still late",
                               "TierLevelId", "1", NULL)), TK_NO_CONTENT);
    assert_q(first, "SELECT escalated_on::text FROM tickets"
             " WHERE id = $1::bigint", id, NULL);
    assert_history(id, "isEscalated:false>true;group:~>Network;"
                   "tierLevel:~>Tier 2;tierLevel:Tier 2>Tier 1");
    ck_assert_int_eq(qn("SELECT count(*) FROM conversations WHERE ticket_id"
                        " = $1::bigint AND type = 'Escalation'", id, NULL),
                     2);
    ck_assert_int_eq(qn("SELECT count(*) FROM outbox WHERE ticket_id ="
                        " $1::bigint", id, NULL), 2);
    free(first);

    free(before);
    free(id);
}
END_TEST


START_TEST(escalate_member_unassigned)
{
    char  *mine, *theirs, *before;

    mine = new_ticket(MEMBER1, NULL);
    theirs = new_ticket(MEMBER2, NULL);
    before = snapshot(theirs);

    ck_assert_int_eq(escalate_as(MEMBER1_ALL, theirs, form("Reason", "x",
                                                           NULL)),
                     TK_ENOTFOUND);
    assert_unchanged(theirs, before);

    /* no technician: no email */
    ck_assert_int_eq(escalate_as(MEMBER1_ALL, mine, form("Reason", "x",
                                                         NULL)),
                     TK_NO_CONTENT);
    assert_q("t", "SELECT is_escalated FROM tickets WHERE id = $1::bigint",
             mine, NULL);
    ck_assert_int_eq(qn("SELECT count(*) FROM outbox WHERE ticket_id ="
                        " $1::bigint", mine, NULL), 0);
    assert_history(mine, "isEscalated:false>true");

    free(before);
    free(mine);
    free(theirs);
}
END_TEST


static Suite *
update_suite(void)
{
    Suite  *s;
    TCase  *tc;

    s = suite_create("update");

    tc = tcase_create("update");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, update_permission);
    tcase_add_test(tc, update_unknown);
    tcase_add_test(tc, update_id);
    tcase_add_test(tc, update_fields);
    tcase_add_test(tc, update_status_rules);
    tcase_add_test(tc, update_clear);
    tcase_add_test(tc, update_validation);
    tcase_add_test(tc, update_if_match);
    tcase_add_test(tc, update_race);
    tcase_add_test(tc, update_assignee_outbox);
    tcase_add_test(tc, update_sla);
    tcase_add_test(tc, update_member);
    tcase_add_test(tc, update_rollback);
    suite_add_tcase(s, tc);

    tc = tcase_create("history");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, history);
    suite_add_tcase(s, tc);

    tc = tcase_create("delete");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, delete);
    tcase_add_test(tc, delete_member);
    tcase_add_test(tc, delete_rollback);
    suite_add_tcase(s, tc);

    tc = tcase_create("escalate");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, escalate);
    tcase_add_test(tc, escalate_member_unassigned);
    suite_add_tcase(s, tc);

    return s;
}


int
main(void)
{
    SRunner  *sr;
    PGconn   *c;
    int       failed;

    conninfo = getenv("TICKETS_TEST_DB");
    if (conninfo == NULL || conninfo[0] == '\0') {
        fprintf(stderr, "check_update: TICKETS_TEST_DB is not set: it must "
                "be the conninfo of a migrated PostgreSQL with the demo "
                "data loaded\n");
        return EXIT_FAILURE;
    }

    c = PQconnectdb(conninfo);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "check_update: %s", PQerrorMessage(c));
        PQfinish(c);
        return EXIT_FAILURE;
    }
    PQsetNoticeProcessor(c, quiet, NULL);

    if (!cleanup(c)) {
        PQfinish(c);
        return EXIT_FAILURE;
    }

    sr = srunner_create(update_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);

    cleanup(c);
    PQfinish(c);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
