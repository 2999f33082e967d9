/*
 * Unit tests of update, history, delete and escalate
 * (libtickets/src/update.c) against a real PostgreSQL: TICKETS_TEST_DB is
 * its conninfo, migrated and with the demo data loaded.  The tests make
 * their own tickets (description MARK) and remove them again.
 */


#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testlib.h"


#define MARK     "check_update: made by a test"


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


/* Updates ticket id as p with if_match and the form's pairs. */
static int
update_as(tk_principal_t p, const char *id, const char *if_match,
    tk_form_t *f)
{
    int  rc;

    rc = CALL(tk_ticket_update(conn, &p, strtoll(id, NULL, 10), f, if_match,
                               NULL, &res));
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
             " FROM tickets t WHERE id = $1::bigint", id);
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

    e = validation_errors();

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
             " FROM history WHERE ticket_id = $1::bigint", id);
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

    v = q("SELECT version FROM tickets WHERE id = $1::bigint", id);
    snprintf(want, sizeof(want), "\"%s-%s\"", id, v);
    ck_assert_str_eq(res.etag, want);
    free(v);
}


/* What the tests made goes, so that they can run again. */
static int
cleanup(PGconn *c)
{
    return exec_script(c,
        "BEGIN;"
        "DROP TRIGGER IF EXISTS test_update_boom ON history;"
        "DROP FUNCTION IF EXISTS test_update_boom();"
        DELETE_TICKETS(MARK)
        "COMMIT");
}


static void
teardown(void)
{
    cleanup(pg);
    db_teardown();
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
    assert_q("1", "SELECT status_id FROM tickets WHERE id = 36");

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
    assert_q("3", "SELECT status_id FROM tickets WHERE id = $1::bigint", id);

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
    assert_q("2", "SELECT version FROM tickets WHERE id = $1::bigint", id);

    v = q("SELECT concat_ws(',', status_id, ticket_type, category_id,"
          " subcategory_id, item_id, tier_level_id, client_id, site_id,"
          " department_id, group_id, service_id, impact_id, urgency_id,"
          " requester_id, iso_utc(due_date), title, priority_id,"
          " updated_on > now() - interval '1 minute')"
          " FROM tickets WHERE id = $1::bigint", id);
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
                        " $1::bigint", id), 0);

    /* the same values again: nothing is written, the ETag stays */
    ck_assert_int_eq(update_as(TECH1_P, id, NULL, form(
        "TicketStatusId", "2", "TicketType", "1", "SiteId", "2",
        "CreatorId", MEMBER2, "DueDate", "2030-01-02T01:04:05Z", NULL)),
        TK_NO_CONTENT);
    etag_is(id);
    assert_q("2", "SELECT version FROM tickets WHERE id = $1::bigint", id);
    ck_assert_int_eq(qn("SELECT count(*) FROM history WHERE ticket_id ="
                        " $1::bigint", id), 15);

    /* an empty form changes nothing either */
    ck_assert_int_eq(update_as(TECH1_P, id, NULL, form(NULL)),
                     TK_NO_CONTENT);
    assert_q("2", "SELECT version FROM tickets WHERE id = $1::bigint", id);

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
             id);
    ck_assert_int_eq(update_as(ADMIN_P, id, NULL, form("TicketStatusId",
                               "6", NULL)), TK_NO_CONTENT);
    assert_q("true|true", "SELECT (resolved_on IS NOT NULL) || '|'"
             " || (closed_on IS NOT NULL) FROM tickets WHERE id = $1::bigint",
             id);
    ck_assert_int_eq(update_as(ADMIN_P, id, NULL, form("TicketStatusId",
                               "1", NULL)), TK_NO_CONTENT);
    assert_q("1|true|true", "SELECT status_id || '|' || (resolved_on IS NOT NULL)"
             " || '|' || (closed_on IS NOT NULL) FROM tickets"
             " WHERE id = $1::bigint", id);
    ck_assert_int_eq(qn("SELECT count(*) FROM history WHERE ticket_id ="
                        " $1::bigint AND field = 'status'", id), 3);
    ck_assert_int_eq(qn("SELECT count(*) FROM history WHERE ticket_id ="
                        " $1::bigint AND field IN ('resolvedOn', 'closedOn')"
                        " AND old_value IS NULL AND new_value ~ 'Z$'", id), 2);

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
           id));
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
             " WHERE id = $1::bigint", id);
    assert_history(id, "dueDate:2030-01-01T00:00:00Z>~;category:Hardware>~;"
                   "subCategory:Laptop>~;item:Dell XPS 13>~;"
                   "tierLevel:Tier 1>~;client:Acme Corp>~;"
                   "priority:Normal>~;group:Service Desk>~;"
                   "assignee:Tom Technician>~;service:Email Service>~;"
                   "impact:Low>~;urgency:Low>~");
    /* an assignee removed is no one to notify */
    ck_assert_int_eq(qn("SELECT count(*) FROM outbox WHERE ticket_id ="
                        " $1::bigint", id), 0);

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
             " item_id) FROM tickets WHERE id = $1::bigint", id);

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
             " WHERE id = $1::bigint", id);

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
                                 NULL, &rr);
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
                           " ('transactionid', 'tuple')");
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
                        id), 2);
    ck_assert_int_eq(qn("SELECT count(*) FROM history WHERE ticket_id ="
                        " $1::bigint", id), 1);
    ck_assert_int_eq(qn("SELECT status_id FROM tickets WHERE id ="
                        " $1::bigint", id),
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
          " FROM outbox WHERE ticket_id = $1::bigint", id);
    ck_assert_str_eq(v, "email:TicketAssigned:tech2@example.com;"
                     "push:TicketAssigned:" TECH2);
    free(v);

    snprintf(subject, sizeof(subject), "Ticket #%s assigned to you: Paper "
             "jam", id);
    v = q("SELECT string_agg(DISTINCT concat_ws('|', payload->>'ticketId'"
          " = $1, payload->>'title', payload->>'assignee',"
          " payload->>'assignedBy', payload->>'subject',"
          " payload->>'message' LIKE 'admin assigned %'), ';')"
          " FROM outbox WHERE ticket_id = $1::bigint", id);
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
                        " $1::bigint", id), 2);

    /* another change with the technician: still two rows more */
    ck_assert_int_eq(update_as(ADMIN_P, id, NULL, form("AssignedUser", TECH3,
                               "TicketStatusId", "2", NULL)), TK_NO_CONTENT);
    ck_assert_int_eq(qn("SELECT count(*) FROM outbox WHERE ticket_id ="
                        " $1::bigint AND recipients && ARRAY["
                        "'tech3@example.com', '" TECH3 "']", id), 2);

    free(id);
}
END_TEST


START_TEST(update_sla)
{
    char  *id, *v;

    id = new_ticket(MEMBER1, NULL);
    free(q("UPDATE tickets SET sla_id = 2, due_date = created_on"
           " + interval '1440 minutes', response_due_date = created_on"
           " + interval '240 minutes' WHERE id = $1::bigint", id));

    /* Urgent: policy 4, 15 and 240 minutes from createdOn */
    ck_assert_int_eq(update_as(ADMIN_P, id, NULL, form("TicketPriorityId",
                               "4", "DueDate", "2031-01-01T00:00:00Z", NULL)),
                     TK_NO_CONTENT);
    assert_q("4|true|true", "SELECT sla_id || '|'"
             " || (due_date = created_on + interval '240 minutes') || '|'"
             " || (response_due_date = created_on + interval '15 minutes')"
             " FROM tickets WHERE id = $1::bigint", id);
    v = q("SELECT string_agg(field || ':' || coalesce(new_value, '~'), ';'"
          " ORDER BY id) FROM history WHERE ticket_id = $1::bigint"
          " AND field IN ('priority', 'sla')", id);
    ck_assert_str_eq(v, "priority:Urgent;sla:Urgent priority");
    free(v);
    ck_assert_int_eq(qn("SELECT count(*) FROM history WHERE ticket_id ="
                        " $1::bigint AND field IN ('dueDate',"
                        " 'responseDueDate')", id), 2);

    /* without a priority change a DueDate is taken as it is */
    ck_assert_int_eq(update_as(ADMIN_P, id, NULL, form("DueDate",
                               "2031-01-01", NULL)), TK_NO_CONTENT);
    assert_q("4|2031-01-01T00:00:00Z", "SELECT sla_id || '|'"
             " || iso_utc(due_date) FROM tickets WHERE id = $1::bigint", id);

    /* no policy applies: none, the due date stands, no response target */
    free(q("UPDATE sla_policies SET is_active = false WHERE id = 1"));
    ck_assert_int_eq(update_as(ADMIN_P, id, NULL, form("TicketPriorityId",
                               "1", NULL)), TK_NO_CONTENT);
    free(q("UPDATE sla_policies SET is_active = true WHERE id = 1"));
    assert_q("~|2031-01-01T00:00:00Z|~", "SELECT coalesce(sla_id::text, '~')"
             " || '|' || iso_utc(due_date) || '|'"
             " || coalesce(response_due_date::text, '~')"
             " FROM tickets WHERE id = $1::bigint", id);

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
           " END IF; RETURN NEW; END $$"));
    free(q("CREATE OR REPLACE TRIGGER test_update_boom BEFORE INSERT ON"
           " history FOR EACH ROW EXECUTE FUNCTION test_update_boom()"));

    ck_assert_int_eq(update_as(ADMIN_P, id, NULL, form("TicketStatusId", "2",
                               "AssignedUser", TECH2, "ClientId", "1",
                               "TicketPriorityId", "4", NULL)),
                     TK_EINTERNAL);
    ck_assert_str_eq(res.etag, "");
    assert_unchanged(id, before);

    /* the outbox fails after the history: the same */
    free(q("DROP TRIGGER test_update_boom ON history"));
    free(q("CREATE OR REPLACE FUNCTION test_update_boom() RETURNS trigger"
           " LANGUAGE plpgsql AS $$ BEGIN"
           " IF NEW.channel = 'push' THEN RAISE EXCEPTION 'boom';"
           " END IF; RETURN NEW; END $$"));
    free(q("CREATE OR REPLACE TRIGGER test_update_boom BEFORE INSERT ON"
           " outbox FOR EACH ROW EXECUTE FUNCTION test_update_boom()"));
    ck_assert_int_eq(update_as(ADMIN_P, id, NULL, form("TicketStatusId", "2",
                               "AssignedUser", TECH2, NULL)), TK_EINTERNAL);
    assert_unchanged(id, before);
    free(q("DROP TRIGGER test_update_boom ON outbox"));
    free(q("DROP FUNCTION test_update_boom()"));

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
           " ($1::bigint, 'system', 'x')", mine));

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
    return CALL(tk_ticket_delete(conn, &p, strtoll(id, NULL, 10), NULL, &res));
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
          " WHERE id = $1::bigint", id);
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
             " FROM history WHERE ticket_id = $1::bigint", id);

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
             mine);
    /* both rows, in the Member's name; deletedOn the ticket's */
    assert_q("isDeleted:false>true;deletedOn:true", "SELECT string_agg(h.field"
             " || ':' || CASE h.field WHEN 'deletedOn'"
             " THEN (h.old_value IS NULL"
             " AND h.new_value = iso_utc(t.deleted_on))::text"
             " ELSE h.old_value || '>' || h.new_value END, ';' ORDER BY h.id)"
             " FROM history h JOIN tickets t ON t.id = h.ticket_id"
             " WHERE h.ticket_id = $1::bigint AND h.changed_by_id = '"
             MEMBER1 "'", mine);

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
           " END IF; RETURN NEW; END $$"));
    free(q("CREATE OR REPLACE TRIGGER test_update_boom BEFORE UPDATE ON"
           " tickets FOR EACH ROW EXECUTE FUNCTION test_update_boom()"));
    ck_assert_int_eq(delete_as(ADMIN_P, id), TK_EINTERNAL);
    ck_assert_ptr_null(res.body);
    free(q("DROP TRIGGER test_update_boom ON tickets"));
    assert_unchanged(id, before);

    /* the deletedOn row fails: the delete goes with it */
    free(before);
    before = snapshot(id);
    free(q("CREATE OR REPLACE FUNCTION test_update_boom() RETURNS trigger"
           " LANGUAGE plpgsql AS $$ BEGIN"
           " IF NEW.field = 'deletedOn' THEN RAISE EXCEPTION 'boom';"
           " END IF; RETURN NEW; END $$"));
    free(q("CREATE OR REPLACE TRIGGER test_update_boom BEFORE INSERT ON"
           " history FOR EACH ROW EXECUTE FUNCTION test_update_boom()"));
    ck_assert_int_eq(delete_as(ADMIN_P, id), TK_EINTERNAL);
    ck_assert_ptr_null(res.body);
    free(q("DROP TRIGGER test_update_boom ON history"));
    free(q("DROP FUNCTION test_update_boom()"));
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

    rc = CALL(tk_ticket_escalate(conn, &p, strtoll(id, NULL, 10), f, NULL,
                                   &res));
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
             " WHERE id = $1::bigint", id);
    assert_history(id, "isEscalated:false>true;group:~>Network;"
                   "tierLevel:~>Tier 2");
    assert_q("Escalation|Customer is waiting|" TECH1 "|true", "SELECT type"
             " || '|' || message || '|' || created_by_id || '|' || is_private"
             " FROM conversations WHERE ticket_id = $1::bigint", id);
    v = q("SELECT string_agg(concat_ws('|', channel, event,"
          " array_to_string(recipients, ','), payload->>'reason',"
          " payload->>'group', payload->>'tierLevel',"
          " payload->>'escalatedBy'), ';')"
          " FROM outbox WHERE ticket_id = $1::bigint", id);
    ck_assert_str_eq(v, "email|Escalated|tech1@example.com|Customer is "
                     "waiting|Network|Tier 2|" TECH1);
    free(v);
    first = q("SELECT escalated_on::text FROM tickets WHERE id = $1::bigint",
              id);

    /* again: logged again, escalatedOn kept */
    ck_assert_int_eq(escalate_as(ADMIN_P, id, form("Reason", "Still late",
                               "TierLevelId", "1", NULL)), TK_NO_CONTENT);
    assert_q(first, "SELECT escalated_on::text FROM tickets"
             " WHERE id = $1::bigint", id);
    assert_history(id, "isEscalated:false>true;group:~>Network;"
                   "tierLevel:~>Tier 2;tierLevel:Tier 2>Tier 1");
    ck_assert_int_eq(qn("SELECT count(*) FROM conversations WHERE ticket_id"
                        " = $1::bigint AND type = 'Escalation'", id),
                     2);
    ck_assert_int_eq(qn("SELECT count(*) FROM outbox WHERE ticket_id ="
                        " $1::bigint", id), 2);
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
             mine);
    ck_assert_int_eq(qn("SELECT count(*) FROM outbox WHERE ticket_id ="
                        " $1::bigint", mine), 0);
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

    tc = add_tcase(s, "update", db_setup, teardown, 60);
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

    tc = add_tcase(s, "history", db_setup, teardown, 0);
    tcase_add_test(tc, history);

    tc = add_tcase(s, "delete", db_setup, teardown, 0);
    tcase_add_test(tc, delete);
    tcase_add_test(tc, delete_member);
    tcase_add_test(tc, delete_rollback);

    tc = add_tcase(s, "escalate", db_setup, teardown, 0);
    tcase_add_test(tc, escalate);
    tcase_add_test(tc, escalate_member_unassigned);

    return s;
}


int
main(void)
{
    return db_main(update_suite, cleanup, cleanup);
}
