/*
 * Unit tests of tickets, metadata and health (libtickets/src/ticket.c,
 * metadata.c, health.c) against a real PostgreSQL: TICKETS_TEST_DB is its
 * conninfo, migrated and with the demo data loaded.
 */


#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"


/* every ticket the tests register says this, so that they can go again */
#define MARK     "Smoke from tray 2."
/* and every Idempotency-Key starts so */
#define KEY      "check_tickets-"

/* sha256("hello") */
#define HELLO_SHA \
    "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"


static char  max_file_size[32];


/* add_file() in two pieces, as a body arrives */
static void
add_file_halves(tk_form_t *f, const char *name, const char *filename,
    const char *type, const void *data, size_t len)
{
    ck_assert_int_eq(tk_form_file_begin(f, name, strlen(name), filename,
                                        strlen(filename), type,
                                        strlen(type)), TK_OK);
    ck_assert_int_eq(tk_form_file_append(f, data, len / 2), TK_OK);
    ck_assert_int_eq(tk_form_file_append(f, (const char *) data + len / 2,
                                         len - len / 2), TK_OK);
}


/* A valid TicketCreateViewModel for member1, without the fields named in
 * skip. */
static tk_form_t *
base_form(const char *skip)
{
    static const char *const  fields[][2] = {
        { "Title", "Printer on fire" },
        { "Description", MARK },
        { "CreatorId", MEMBER1 },
        { "SiteId", "1" },
        { "DepartmentId", "1" },
        { "TicketStatusId", "1" },
        { "TicketType", "Incident" }
    };
    tk_form_t  *f;
    size_t      i;

    f = tk_form_new();
    ck_assert_ptr_nonnull(f);

    for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        if (skip == NULL || strstr(skip, fields[i][0]) == NULL) {
            add(f, fields[i][0], fields[i][1]);
        }
    }

    return f;
}


static int
register_as(tk_principal_t p, tk_form_t *f, const char *key)
{
    return CALL(tk_ticket_register(conn, &p, f, key, &res));
}


/* Registers base_form for creator with more (name, value) pairs and a
 * NULL: the new id, the answer in res. */
static int64_t
new_ticket(const char *creator, ...)
{
    tk_form_t   *f;
    va_list      ap;

    f = base_form("CreatorId");
    add(f, "CreatorId", creator);

    va_start(ap, creator);
    add_pairs(f, ap);
    va_end(ap);

    ck_assert_msg(register_as(ADMIN_P, f, NULL) == TK_CREATED, "%s %s",
                  res.message, res.errors ? res.errors : "");
    tk_form_free(f);
    return res.id;
}


/* Registers a form that must fail on exactly one field with msg. */
static void
assert_invalid(tk_form_t *f, const char *field, const char *msg)
{
    ck_assert_int_eq(register_as(ADMIN_P, f, NULL), TK_EINVAL);
    assert_field_error(field, msg);
    tk_form_free(f);
}


static long
count_rows(void)
{
    return qn("SELECT (SELECT count(*) FROM tickets)"
              " + (SELECT count(*) FROM history)"
              " + (SELECT count(*) FROM outbox)"
              " + (SELECT count(*) FROM attachments)"
              " + (SELECT count(*) FROM ticket_tags)"
              " + (SELECT count(*) FROM idempotency_keys)");
}


static void
teardown(void)
{
    free(q("UPDATE settings SET value = $1 WHERE key = 'max_file_size'",
           max_file_size));
    free(q("DROP TRIGGER IF EXISTS test_boom ON attachments"));
    db_teardown();
}


/* Get ------------------------------------------------------------------ */

START_TEST(get_shape)
{
    static const char *const  keys[] = {
        "id", "guid", "title", "description", "ticketType", "source",
        "creator", "assignee", "createdBy", "category", "subCategory",
        "item", "site", "department", "group", "client", "status",
        "priority", "tierLevel", "service", "impact", "urgency", "sla",
        "slaState",
        "dueDate", "responseDueDate", "firstRespondedOn", "cc", "tags",
        "isEscalated", "isLocked", "isDeleted", "createdOn", "updatedOn",
        "resolvedOn", "closedOn", "deletedOn", "resolution", "closure",
        "attachments", NULL
    };
    static const char *const  status_keys[] = {
        "id", "status", "statusType", NULL
    };
    static const char *const  closure_keys[] = {
        "status", "comments", "closureComments", "closedBy", "closingDate",
        "acknowledged", NULL
    };
    static const char *const  resolution_keys[] = {
        "resolution", "resolvedBy", "resolvedOn", NULL
    };
    static const char *const  id_name[] = { "id", "name", NULL };
    static const char *const  id_title[] = { "id", "title", NULL };
    static const char *const  id_group[] = { "id", "group", NULL };
    static const char *const  id_priority[] = { "id", "priority", NULL };
    static const char *const  lookups[][2] = {
        { "category", "Hardware" }, { "subCategory", "Printer" },
        { "item", "HP LaserJet" }, { "client", "Acme Corp" },
        { "service", "Network Service" }, { "impact", "Low" },
        { "urgency", "Medium" }, { "sla", "High priority" }
    };
    tk_principal_t            p = ADMIN_P;
    const cJSON              *cl;
    cJSON                    *j;
    size_t                    i;
    char                      id[24], etag[32];

    snprintf(id, sizeof(id), "%lld", (long long) new_ticket(MEMBER2,
             "TicketCategoryId", "1", "TicketSubCategoryId", "2",
             "ItemId", "3", "GroupId", "2", "ClientId", "1",
             "TicketPriorityId", "3", "TierLevelId", "1", "ServiceId", "2",
             "ImpactId", "1", "UrgencyId", "2", "AssignedUser", TECH1,
             "SelectedTags", "3", "Cc", "boss@example.com", NULL));
    snprintf(etag, sizeof(etag), "\"%s-2\"", id);

    /* closed ten days ago: locked, the setting being 7 */
    free(q("UPDATE tickets SET status_id = 6, version = 2,"
           " resolved_on = now() - interval '11 days',"
           " closed_on = now() - interval '10 days' WHERE id = $1",
           id));
    free(q("INSERT INTO resolutions (ticket_id, resolution, resolved_by_id,"
           " resolved_on) VALUES ($1, 'Rebooted.', $2,"
           " now() - interval '11 days')", id, TECH1));
    free(q("INSERT INTO closures (ticket_id, status, comments, closed_by_id,"
           " closing_date, acknowledged) VALUES ($1, 3, 'Same as #1.', $2,"
           " now() - interval '10 days', true)", id, TECH1));

    ck_assert_int_eq(tk_ticket_get(conn, &p, strtoll(id, NULL, 10), &res),
                     TK_OK);
    ck_assert_int_eq(res.code, TK_OK);
    ck_assert_str_eq(res.etag, etag);

    j = body_json();
    assert_keys(j, keys);
    ck_assert_str_eq(str(j, "ticketType"), "Incident");
    ck_assert_str_eq(str(j, "source"), "Manual");
    assert_keys(obj(j, "creator"), person_keys);
    ck_assert_str_eq(str(obj(j, "creator"), "id"), MEMBER2);
    ck_assert_str_eq(str(obj(j, "creator"), "email"), "member2@example.com");
    assert_keys(obj(j, "assignee"), person_keys);
    ck_assert_str_eq(str(obj(j, "assignee"), "fullName"), "Tom Technician");
    assert_keys(obj(j, "createdBy"), person_keys);
    ck_assert_str_eq(str(obj(j, "createdBy"), "userName"), "admin");

    for (i = 0; i < sizeof(lookups) / sizeof(lookups[0]); i++) {
        assert_keys(obj(j, lookups[i][0]), id_name);
        ck_assert_str_eq(str(obj(j, lookups[i][0]), "name"), lookups[i][1]);
    }

    assert_keys(obj(j, "site"), id_title);
    assert_keys(obj(j, "department"), id_title);
    assert_keys(obj(j, "tierLevel"), id_title);
    ck_assert_str_eq(str(obj(j, "tierLevel"), "title"), "Tier 1");
    assert_keys(obj(j, "group"), id_group);
    ck_assert_str_eq(str(obj(j, "group"), "group"), "Network");
    assert_keys(obj(j, "priority"), id_priority);
    ck_assert_str_eq(str(obj(j, "priority"), "priority"), "High");
    assert_keys(obj(j, "status"), status_keys);
    ck_assert_str_eq(str(obj(j, "status"), "statusType"), "Closed");
    ck_assert_str_eq(str(j, "cc"), "boss@example.com");
    ck_assert_int_eq(cJSON_GetArraySize(obj(j, "tags")), 1);
    assert_keys(cJSON_GetArrayItem(obj(j, "tags"), 0), id_name);
    ck_assert_str_eq(str(cJSON_GetArrayItem(obj(j, "tags"), 0), "name"),
                     "vip");
    ck_assert(cJSON_IsArray(obj(j, "attachments")));
    ck_assert_int_eq(cJSON_GetArraySize(obj(j, "attachments")), 0);
    ck_assert(cJSON_IsTrue(obj(j, "isLocked")));
    ck_assert(cJSON_IsFalse(obj(j, "isEscalated")));
    ck_assert(cJSON_IsFalse(obj(j, "isDeleted")));
    ck_assert(cJSON_IsNull(obj(j, "deletedOn")));
    ck_assert(cJSON_IsNull(obj(j, "firstRespondedOn")));

    /* 2026-11-30T09:15:00Z */
    ck_assert_uint_eq(strlen(str(j, "createdOn")), 20);
    ck_assert_int_eq(str(j, "createdOn")[10], 'T');
    ck_assert_int_eq(str(j, "createdOn")[19], 'Z');
    ck_assert_uint_eq(strlen(str(j, "closedOn")), 20);

    assert_keys(obj(j, "resolution"), resolution_keys);
    ck_assert_str_eq(str(obj(j, "resolution"), "resolution"), "Rebooted.");
    assert_keys(obj(obj(j, "resolution"), "resolvedBy"), person_keys);

    cl = obj(j, "closure");
    assert_keys(cl, closure_keys);
    ck_assert_str_eq(str(cl, "status"), "Duplicate");
    ck_assert_str_eq(str(cl, "comments"), "Same as #1.");
    ck_assert(cJSON_IsNull(obj(cl, "closureComments")));
    ck_assert_str_eq(str(obj(cl, "closedBy"), "userName"), "tech1");
    ck_assert(cJSON_IsTrue(obj(cl, "acknowledged")));
    cJSON_Delete(j);

    /* closed six days ago: not yet */
    free(q("UPDATE tickets SET closed_on = now() - interval '6 days'"
           " WHERE id = $1", id));
    tk_result_clear(&res);
    ck_assert_int_eq(tk_ticket_get(conn, &p, strtoll(id, NULL, 10), &res),
                     TK_OK);
    j = body_json();
    ck_assert(cJSON_IsFalse(obj(j, "isLocked")));
    cJSON_Delete(j);

    /* reopened: a closedOn long ago does not lock it */
    free(q("UPDATE tickets SET status_id = 7,"
           " closed_on = now() - interval '60 days' WHERE id = $1",
           id));
    tk_result_clear(&res);
    ck_assert_int_eq(tk_ticket_get(conn, &p, strtoll(id, NULL, 10), &res),
                     TK_OK);
    j = body_json();
    ck_assert(cJSON_IsFalse(obj(j, "isLocked")));
    cJSON_Delete(j);

    /* what is unset is null, lists are empty */
    tk_result_clear(&res);
    ck_assert_int_eq(tk_ticket_get(conn, &p, new_ticket(MEMBER1, NULL),
                                   &res), TK_OK);
    j = body_json();
    assert_keys(j, keys);
    for (i = 0; i < sizeof(lookups) / sizeof(lookups[0]); i++) {
        ck_assert(cJSON_IsNull(obj(j, lookups[i][0])));
    }
    ck_assert(cJSON_IsNull(obj(j, "assignee")));
    ck_assert(cJSON_IsNull(obj(j, "group")));
    ck_assert(cJSON_IsNull(obj(j, "dueDate")));
    ck_assert(cJSON_IsNull(obj(j, "cc")));
    ck_assert(cJSON_IsNull(obj(j, "resolution")));
    ck_assert(cJSON_IsNull(obj(j, "closure")));
    ck_assert_int_eq(cJSON_GetArraySize(obj(j, "tags")), 0);
    ck_assert(cJSON_IsFalse(obj(j, "isLocked")));
    cJSON_Delete(j);
}
END_TEST


START_TEST(get_not_found)
{
    tk_principal_t  p = ADMIN_P;
    int64_t         id;
    char            ids[24];

    id = new_ticket(MEMBER1, NULL);
    snprintf(ids, sizeof(ids), "%lld", (long long) id);
    free(q("UPDATE tickets SET is_deleted = true, deleted_on = now()"
           " WHERE id = $1", ids));

    tk_result_clear(&res);
    ck_assert_int_eq(tk_ticket_get(conn, &p, id, &res), TK_ENOTFOUND);
    ck_assert_ptr_null(res.body);
    ck_assert_str_eq(res.etag, "");
    /* 36 is deleted in the demo data */
    ck_assert_int_eq(tk_ticket_get(conn, &p, 36, &res), TK_ENOTFOUND);
    ck_assert_int_eq(tk_ticket_get(conn, &p, INT64_MAX, &res),
                     TK_ENOTFOUND);
    ck_assert_int_eq(tk_ticket_get(conn, &p, 0, &res), TK_ENOTFOUND);
    ck_assert_int_eq(tk_ticket_get(conn, &p, -1, &res), TK_ENOTFOUND);
}
END_TEST


START_TEST(get_member)
{
    tk_principal_t  m = MEMBER1_P;
    tk_principal_t  t = principal(TECH1, NULL, TK_ROLE_TECHNICIAN, 0);
    int64_t         own, other;

    own = new_ticket(MEMBER1, NULL);
    other = new_ticket(MEMBER2, NULL);

    tk_result_clear(&res);
    ck_assert_int_eq(tk_ticket_get(conn, &m, own, &res), TK_OK);
    tk_result_clear(&res);
    /* never 403: that it exists must not show */
    ck_assert_int_eq(tk_ticket_get(conn, &m, other, &res), TK_ENOTFOUND);
    ck_assert_ptr_null(res.body);
    ck_assert_int_eq(tk_ticket_get(conn, &t, other, &res), TK_OK);
}
END_TEST


/* Register ------------------------------------------------------------- */

START_TEST(register_ok)
{
    tk_form_t  *f;
    cJSON      *j;
    char        id[24], etag[32], title[256 * 2 + 1];
    int         i;

    /* 255 characters of two bytes each: the limit counts characters */
    for (i = 0; i < 255; i++) {
        memcpy(title + 2 * i, "\xc3\xa9", 2);
    }
    title[510] = '\0';

    f = base_form("Title,TicketType");
    add(f, "title", title);
    add(f, "TICKETTYPE", "servicerequest");
    add(f, "Cc", " boss@example.com; it@example.org ,");
    add(f, "TicketCategoryId", "1");
    add(f, "TicketSubCategoryId", "1");
    add(f, "ItemId", "2");
    add(f, "GroupId", "1");
    add(f, "ClientId", "");
    add(f, "ServiceId", "1");
    add(f, "ImpactId", "2");
    add(f, "UrgencyId", "3");
    add(f, "TierLevelId", "2");
    add(f, "AssignedUser", TECH1);
    add(f, "Guid", "{6F9619FF-8B86-D011-B42D-00C04FC964FF}");
    add(f, "Description", "a second value is not read");
    add(f, "Unknown", "ignored");

    ck_assert_int_eq(register_as(ADMIN_P, f, NULL), TK_CREATED);
    tk_form_free(f);
    ck_assert_int_gt(res.id, 36);
    snprintf(id, sizeof(id), "%lld", (long long) res.id);
    snprintf(etag, sizeof(etag), "\"%s-1\"", id);

    j = body_json();
    ck_assert_int_eq((long long) num(j, "id"), res.id);
    ck_assert_str_eq(str(j, "title"), title);
    ck_assert_str_eq(str(j, "ticketType"), "ServiceRequest");
    ck_assert_str_eq(str(j, "source"), "Manual");
    ck_assert_str_eq(str(j, "guid"), "6f9619ff-8b86-d011-b42d-00c04fc964ff");
    ck_assert_str_eq(str(obj(j, "creator"), "id"), MEMBER1);
    ck_assert_str_eq(str(obj(j, "createdBy"), "id"), ADMIN);
    ck_assert_str_eq(str(obj(j, "assignee"), "id"), TECH1);
    ck_assert_str_eq(str(obj(j, "item"), "name"), "ThinkPad X1");
    ck_assert_str_eq(str(obj(j, "group"), "group"), "Service Desk");
    ck_assert(cJSON_IsNull(obj(j, "client")));
    ck_assert(cJSON_IsNull(obj(j, "sla")));
    ck_assert(cJSON_IsNull(obj(j, "dueDate")));
    ck_assert_str_eq(str(j, "cc"), " boss@example.com; it@example.org ,");
    cJSON_Delete(j);

    ck_assert_str_eq(res.etag, etag);
    ck_assert_int_eq(qn("SELECT count(*) FROM history WHERE ticket_id = $1"
                        " AND field = 'Created'", id), 1);

    /* the technician is told by email and push, in the same transaction */
    ck_assert_int_eq(qn("SELECT count(*) FROM outbox WHERE ticket_id = $1"
                        " AND event = 'TicketAssigned'"
                        " AND payload->>'assignee' = $2"
                        " AND (payload->>'ticketId')::bigint = ticket_id"
                        " AND payload ? 'title'", id, TECH1), 2);
    ck_assert_int_eq(qn("SELECT count(*) FROM outbox WHERE ticket_id = $1"
                        " AND channel = 'email'"
                        " AND recipients = ARRAY['tech1@example.com']",
                        id), 1);
}
END_TEST


START_TEST(register_validation)
{
    static const struct {
        const char  *field;
        const char  *value;         /* NULL: the field is left out */
        const char  *error;
    } cases[] = {
        { "Title", NULL, "The Title field is required." },
        { "Title", "   ", "The Title field is required." },
        { "Description", NULL, "The Description field is required." },
        { "CreatorId", "", "The CreatorId field is required." },
        { "SiteId", NULL, "The SiteId field is required." },
        { "DepartmentId", NULL, "The DepartmentId field is required." },
        { "TicketStatusId", NULL, "The TicketStatusId field is required." },
        { "TicketType", NULL, "The TicketType field is required." },
        { "Title", "bad \xff byte",
          "The field Title contains invalid UTF-8." },
        { "Description", "overlong \xc0\xaf",
          "The field Description contains invalid UTF-8." },
        { "Description", "surrogate \xed\xa0\x80",
          "The field Description contains invalid UTF-8." },
        { "SiteId", "12abc", "The value '12abc' is not valid for SiteId." },
        { "SiteId", "1.5", "The value '1.5' is not valid for SiteId." },
        { "SiteId", "-1", "The value '-1' is not valid for SiteId." },
        { "SiteId", "+1", "The value '+1' is not valid for SiteId." },
        { "SiteId", " 1", "The value ' 1' is not valid for SiteId." },
        { "SiteId", "0", "The value '0' is not valid for SiteId." },
        { "SiteId", "2147483648",
          "The value '2147483648' is not valid for SiteId." },
        { "SiteId", "99999999999999999999999",
          "The value '99999999999999999999999' is not valid for SiteId." },
        { "SiteId", "999", "Unknown SiteId 999." },
        { "DepartmentId", "2147483647", "Unknown DepartmentId 2147483647." },
        { "TicketStatusId", "42", "Unknown TicketStatusId 42." },
        { "CreatorId", "nobody", "Unknown CreatorId nobody." },
        { "TicketType", "Bogus",
          "The value 'Bogus' is not valid for TicketType." },
        { "TicketType", "5", "The value '5' is not valid for TicketType." },
        { "TicketCategoryId", "9", "Unknown TicketCategoryId 9." },
        { "TicketSubCategoryId", "77", "Unknown TicketSubCategoryId 77." },
        { "TicketSubCategoryId", "1",
          "TicketSubCategoryId requires TicketCategoryId." },
        { "ItemId", "1", "ItemId requires TicketSubCategoryId." },
        { "TierLevelId", "3", "Unknown TierLevelId 3." },
        { "GroupId", "3", "Unknown GroupId 3." },
        { "ClientId", "2", "Unknown ClientId 2." },
        { "TicketPriorityId", "5", "Unknown TicketPriorityId 5." },
        { "ServiceId", "3", "Unknown ServiceId 3." },
        { "ImpactId", "4", "Unknown ImpactId 4." },
        { "UrgencyId", "4", "Unknown UrgencyId 4." },
        { "SLAId", "99", "SLAId 99 is not an active SLA policy." },
        { "AssignedUser", MEMBER1,
          "AssignedUser " MEMBER1 " is not an active Admin or Technician." },
        { "Cc", "not-an-address", "The Cc field is not a valid e-mail "
          "address." },
        { "Cc", "a@b.com; two words@b.com", "The Cc field is not a valid "
          "e-mail address." },
        { "Cc", "a@b@c.com", "The Cc field is not a valid e-mail address." },
        { "Guid", "xyz", "The value 'xyz' is not valid for Guid." },
        { "Guid", "6f9619ff-8b86-d011-b42d-00c04fc964fg",
          "The value '6f9619ff-8b86-d011-b42d-00c04fc964fg' is not valid "
          "for Guid." },
        { "DueDate", "2026-13-01",
          "The value '2026-13-01' is not valid for DueDate." },
        { "DueDate", "2026-02-29",
          "The value '2026-02-29' is not valid for DueDate." },
        { "DueDate", "2026-11-30T25:00:00Z",
          "The value '2026-11-30T25:00:00Z' is not valid for DueDate." },
        { "DueDate", "2026-11-30T10:00:00+02:",
          "The value '2026-11-30T10:00:00+02:' is not valid for DueDate." },
        { "DueDate", "tomorrow",
          "The value 'tomorrow' is not valid for DueDate." },
        { "SelectedTags", "1,x", "The value 'x' is not valid for "
          "SelectedTags." },
        { "SelectedTags", "2, 99, 98", "Unknown SelectedTags 98, 99." }
    };
    tk_form_t  *f;
    size_t      i;
    char        long_title[257], msg[128];
    char       *guid;
    long        before;

    before = count_rows();

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        f = base_form(cases[i].field);
        if (cases[i].value != NULL) {
            add(f, cases[i].field, cases[i].value);
        }
        assert_invalid(f, cases[i].field, cases[i].error);
    }

    memset(long_title, 'x', 256);
    long_title[256] = '\0';
    f = base_form("Title");
    add(f, "Title", long_title);
    assert_invalid(f, "Title", "The field Title must be a string with a "
                   "maximum length of 255.");

    f = base_form(NULL);
    add(f, "TicketCategoryId", "1");
    add(f, "TicketSubCategoryId", "3");
    assert_invalid(f, "TicketSubCategoryId",
                   "TicketSubCategoryId 3 does not belong to "
                   "TicketCategoryId 1.");

    f = base_form(NULL);
    add(f, "TicketCategoryId", "1");
    add(f, "TicketSubCategoryId", "1");
    add(f, "ItemId", "4");
    assert_invalid(f, "ItemId", "ItemId 4 does not belong to "
                   "TicketSubCategoryId 1.");

    /* an existing Guid */
    guid = q("SELECT guid FROM tickets WHERE id = 3");
    snprintf(msg, sizeof(msg), "Guid %s is already in use.", guid);
    f = base_form(NULL);
    add(f, "Guid", guid);
    assert_invalid(f, "Guid", msg);
    free(guid);

    /* every problem at once, one entry per field */
    f = tk_form_new();
    add(f, "SiteId", "abc");
    add(f, "Title", "");
    ck_assert_int_eq(register_as(ADMIN_P, f, NULL), TK_EINVAL);
    tk_form_free(f);
    ck_assert_str_eq(res.errors,
                     "{\"CreatorId\":[\"The CreatorId field is required.\"],"
                     "\"SiteId\":[\"The value 'abc' is not valid for "
                     "SiteId.\"],"
                     "\"DepartmentId\":[\"The DepartmentId field is "
                     "required.\"],"
                     "\"TicketStatusId\":[\"The TicketStatusId field is "
                     "required.\"],"
                     "\"Title\":[\"The Title field is required.\"],"
                     "\"Description\":[\"The Description field is required.\"],"
                     "\"TicketType\":[\"The TicketType field is required.\"]}");

    ck_assert_int_eq(count_rows(), before);
}
END_TEST


START_TEST(register_accepts)
{
    static const struct {
        const char  *field;
        const char  *value;
        const char  *due;           /* dueDate expected, or NULL */
    } cases[] = {
        { "DueDate", "2028-02-29", "2028-02-29T00:00:00Z" },
        { "DueDate", "2026-11-30T09:15:00+02:00", "2026-11-30T07:15:00Z" },
        { "DueDate", "2026-11-30t09:15:00.123456789-0530",
          "2026-11-30T14:45:00Z" },
        { "DueDate", "2026-11-30T09:15Z", "2026-11-30T09:15:00Z" },
        { "DueDate", "2026-11-30 09:15:59", "2026-11-30T09:15:59Z" },
        { "TicketType", "3", NULL },
        { "TicketType", "CHANGE", NULL },
        { "SiteId", "0002", NULL },
        { "Guid", "6f9619ff8b86d011b42d00c04fc964aa", NULL },
        { "Cc", ";", NULL }
    };
    tk_form_t  *f;
    cJSON      *j;
    size_t      i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        f = base_form(cases[i].field);
        add(f, cases[i].field, cases[i].value);
        ck_assert_msg(register_as(ADMIN_P, f, NULL) == TK_CREATED,
                      "%s=%s: %s %s", cases[i].field, cases[i].value,
                      res.message, res.errors ? res.errors : "");
        tk_form_free(f);

        if (cases[i].due != NULL) {
            j = body_json();
            ck_assert_str_eq(str(j, "dueDate"), cases[i].due);
            cJSON_Delete(j);
        }
    }
}
END_TEST


START_TEST(register_permission_quirk)
{
    tk_principal_t  p = principal(TECH1, NULL, TK_ROLE_TECHNICIAN,
                                  TK_PERM_ALL & ~TK_PERM_CREATE);
    tk_form_t      *f;

    /* even an invalid form: the permission is looked at first */
    f = tk_form_new();
    tk_result_clear(&res);
    ck_assert_int_eq(tk_ticket_register(conn, &p, f, NULL, &res),
                     TK_EINVAL);
    ck_assert_str_eq(res.message, "Permission denied");
    ck_assert_ptr_null(res.errors);
    tk_form_free(f);
}
END_TEST


START_TEST(register_member)
{
    tk_principal_t  m = principal(MEMBER2, NULL, TK_ROLE_MEMBER,
                                  TK_PERM_CREATE);
    tk_form_t      *f;
    long            before;

    before = count_rows();

    f = base_form(NULL);                /* CreatorId is member1 */
    tk_result_clear(&res);
    ck_assert_int_eq(tk_ticket_register(conn, &m, f, NULL, &res),
                     TK_EFORBIDDEN);
    tk_form_free(f);
    ck_assert_int_eq(count_rows(), before);

    /* validation still comes first */
    f = base_form("SiteId");
    tk_result_clear(&res);
    ck_assert_int_eq(tk_ticket_register(conn, &m, f, NULL, &res),
                     TK_EINVAL);
    tk_form_free(f);

    /* for themselves, and they can read what they made */
    f = base_form(NULL);
    ck_assert_int_eq(register_as(MEMBER1_P, f, NULL), TK_CREATED);
    tk_form_free(f);
    ck_assert_ptr_nonnull(res.body);
}
END_TEST


START_TEST(register_idempotency)
{
    tk_principal_t  t = principal(TECH1, NULL, TK_ROLE_TECHNICIAN,
                                  TK_PERM_ALL);
    tk_form_t      *f;
    int64_t         id;
    char           *body;
    char            key[64], etag[32];
    long            tickets;

    snprintf(key, sizeof(key), KEY "%ld", (long) random());

    f = base_form(NULL);
    add(f, "Guid", "1b4e28ba-2fa1-11d2-883f-0016cb000001");
    add(f, "SelectedTags", "1");
    add_file_halves(f, "Uploads", "a.txt", "text/plain", "hello", 5);

    ck_assert_int_eq(register_as(ADMIN_P, f, key), TK_CREATED);
    id = res.id;
    body = strdup(res.body);
    tickets = qn("SELECT count(*) FROM tickets");

    /* the same again: the first answer, nothing new (its Guid exists) */
    ck_assert_int_eq(register_as(ADMIN_P, f, key), TK_CREATED);
    ck_assert_int_eq(res.id, id);
    ck_assert_str_eq(res.body, body);
    snprintf(etag, sizeof(etag), "\"%lld-1\"", (long long) id);
    ck_assert_str_eq(res.etag, etag);
    ck_assert_int_eq(qn("SELECT count(*) FROM tickets"),
                     tickets);
    ck_assert_int_eq(qn("SELECT count(*) FROM attachments"
                        " WHERE ticket_id = (SELECT id FROM tickets WHERE"
                        " guid = '1b4e28ba-2fa1-11d2-883f-0016cb000001')"), 1);
    tk_form_free(f);

    /* the same key, another request: a different file */
    f = base_form(NULL);
    add(f, "Guid", "1b4e28ba-2fa1-11d2-883f-0016cb000001");
    add(f, "SelectedTags", "1");
    add_file_halves(f, "Uploads", "a.txt", "text/plain", "hellO", 5);
    ck_assert_int_eq(register_as(ADMIN_P, f, key), TK_EINVAL);
    ck_assert_str_eq(res.message,
                     "Idempotency-Key reused with a different request");
    ck_assert_ptr_null(res.errors);
    tk_form_free(f);

    /* field names are case-insensitive, so are they in the hash */
    f = tk_form_new();
    add(f, "title", "Printer on fire");
    add(f, "DESCRIPTION", MARK);
    add(f, "creatorid", MEMBER1);
    add(f, "siteid", "1");
    add(f, "departmentId", "1");
    add(f, "ticketStatusId", "1");
    add(f, "tickettype", "Incident");
    add(f, "guid", "1b4e28ba-2fa1-11d2-883f-0016cb000001");
    add(f, "selectedtags", "1");
    add(f, "ignored", "whatever");
    add_file_halves(f, "uploads", "a.txt", "text/plain", "hello", 5);
    ck_assert_int_eq(register_as(ADMIN_P, f, key), TK_CREATED);
    ck_assert_int_eq(res.id, id);

    /* another principal has its own keys */
    tk_form_free(f);
    f = base_form(NULL);
    ck_assert_int_eq(register_as(t, f, key), TK_CREATED);
    ck_assert_int_ne(res.id, id);

    /* an expired key is taken anew */
    free(q("UPDATE idempotency_keys SET created_on = now() - interval"
           " '25 hours' WHERE key = $1", key));
    ck_assert_int_eq(register_as(t, f, key), TK_CREATED);
    ck_assert_int_gt(res.id, id);
    tk_form_free(f);

    f = base_form(NULL);
    ck_assert_int_eq(register_as(ADMIN_P, f, ""), TK_EINVAL);
    tk_form_free(f);

    free(body);
}
END_TEST


typedef struct {
    const char  *key;
    int          rc;
    int64_t      id;
} race_t;


static void *
race(void *arg)
{
    race_t          *r = arg;
    tk_principal_t   p = ADMIN_P;
    tk_result_t      rr;
    tk_conn_t       *c;
    tk_form_t       *f;

    f = tk_form_new();
    add(f, "Title", "race");
    add(f, "Description", MARK);
    add(f, "CreatorId", ADMIN);
    add(f, "SiteId", "1");
    add(f, "DepartmentId", "1");
    add(f, "TicketStatusId", "1");
    add(f, "TicketType", "0");

    tk_result_init(&rr);
    tk_conn_open(&c, conninfo);
    r->rc = tk_ticket_register(c, &p, f, r->key, &rr);
    r->id = rr.id;

    tk_result_clear(&rr);
    tk_conn_close(c);
    tk_form_free(f);
    return NULL;
}


START_TEST(register_idempotency_race)
{
    pthread_t  th[4];
    race_t     r[4];
    char       key[64];
    int        i;

    snprintf(key, sizeof(key), KEY "race-%ld", (long) random());

    for (i = 0; i < 4; i++) {
        r[i].key = key;
        ck_assert_int_eq(pthread_create(&th[i], NULL, race, &r[i]), 0);
    }

    for (i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
    }

    for (i = 0; i < 4; i++) {
        ck_assert_int_eq(r[i].rc, TK_CREATED);
        ck_assert_int_eq(r[i].id, r[0].id);
    }
}
END_TEST


START_TEST(register_uploads)
{
    tk_form_t     *f;
    cJSON         *j;
    const cJSON   *a;
    char           id[24];

    free(q("UPDATE settings SET value = '10' WHERE key = 'max_file_size'"));

    f = base_form(NULL);
    add_file_halves(f, "Uploads", "a.txt", "text/plain", "hello", 5);
    add_file_halves(f, "uploads", "evil.exe", "application/x-msdownload",
                    "MZ", 2);
    add_file_halves(f, "Uploads", "big.PDF", "application/pdf",
                    "%PDF-1.7 more", 13);
    add_file_halves(f, "Uploads", "README", "text/plain", "x", 1);
    add_file_halves(f, "Uploads", "empty.LOG", "", "", 0);
    add_file_halves(f, "Uploads", "odd\xc2\x85name.txt", "text/plain", "x", 1);
    add_file_halves(f, "Other", "b.txt", "text/plain", "not an upload", 13);

    ck_assert_int_eq(register_as(ADMIN_P, f, NULL), TK_CREATED);
    tk_form_free(f);
    snprintf(id, sizeof(id), "%lld", (long long) res.id);

    ck_assert_msg(strstr(res.message,
                         "skipped upload evil.exe: extension not allowed"),
                  "%s", res.message);
    ck_assert_msg(strstr(res.message, "skipped upload big.PDF: larger than "
                         "10 bytes"), "%s", res.message);
    ck_assert_msg(strstr(res.message, "skipped upload README: extension not "
                         "allowed"), "%s", res.message);

    j = body_json();
    a = obj(j, "attachments");
    ck_assert_int_ge(cJSON_GetArraySize(a), 2);
    ck_assert_str_eq(str(cJSON_GetArrayItem(a, 0), "fileName"), "a.txt");
    ck_assert_str_eq(str(cJSON_GetArrayItem(a, 0), "contentType"),
                     "text/plain");
    ck_assert_int_eq((int) num(cJSON_GetArrayItem(a, 0), "size"), 5);
    ck_assert_str_eq(str(cJSON_GetArrayItem(a, 0), "sha256"), HELLO_SHA);
    ck_assert_ptr_null(obj(cJSON_GetArrayItem(a, 0), "content"));
    ck_assert_str_eq(str(cJSON_GetArrayItem(a, 1), "fileName"), "empty.LOG");
    ck_assert_str_eq(str(cJSON_GetArrayItem(a, 1), "contentType"),
                     "application/octet-stream");
    cJSON_Delete(j);

    ck_assert_int_eq(qn("SELECT count(*) FROM attachments WHERE ticket_id = $1"
                        " AND content = 'hello'::bytea AND size = 5"
                        " AND sha256 = $2 AND created_by_id IS NOT NULL",
                        id, HELLO_SHA), 1);
    /* a name the table refuses (a C1 control) is skipped, never a 500 */
    ck_assert_int_eq(qn("SELECT count(*) FROM attachments"
                        " WHERE ticket_id = $1", id),
                     2 + (strstr(res.message, "file name not allowed")
                          == NULL));
}
END_TEST


START_TEST(register_tags)
{
    tk_form_t     *f;
    cJSON         *j;
    const cJSON   *tags;
    char           id[24];

    f = base_form(NULL);
    add(f, "SelectedTags", "3");
    add(f, "selectedtags", "1, 3,2");
    add(f, "SelectedTags", "");

    ck_assert_int_eq(register_as(ADMIN_P, f, NULL), TK_CREATED);
    tk_form_free(f);
    snprintf(id, sizeof(id), "%lld", (long long) res.id);

    ck_assert_int_eq(qn("SELECT count(*) FROM ticket_tags WHERE ticket_id ="
                        " $1", id), 3);

    j = body_json();
    tags = obj(j, "tags");
    ck_assert_int_eq(cJSON_GetArraySize(tags), 3);
    ck_assert_int_eq((int) num(cJSON_GetArrayItem(tags, 0), "id"), 1);
    ck_assert_str_eq(str(cJSON_GetArrayItem(tags, 0), "name"), "vpn");
    ck_assert_int_eq((int) num(cJSON_GetArrayItem(tags, 2), "id"), 3);
    cJSON_Delete(j);
}
END_TEST


/* The ticket's SLA id, and its due dates in minutes after created_on. */
static void
assert_sla(const char *sla, long due, long response)
{
    char  id[24];

    snprintf(id, sizeof(id), "%lld", (long long) res.id);

    ck_assert_int_eq(qn("SELECT coalesce(sla_id, 0) FROM tickets"
                        " WHERE id = $1", id),
                     sla ? strtol(sla, NULL, 10) : 0);
    ck_assert_int_eq(qn("SELECT coalesce(extract(epoch FROM due_date"
                        " - created_on) / 60, -1) FROM tickets WHERE id = $1",
                        id), due);
    ck_assert_int_eq(qn("SELECT coalesce(extract(epoch FROM response_due_date"
                        " - created_on) / 60, -1) FROM tickets WHERE id = $1",
                        id), response);
}


START_TEST(register_sla)
{
    tk_form_t  *f;
    cJSON      *j;
    char       *best;
    char        idbuf[24];

    /* Urgent (4) matches policy 4 (240/15 min): the manual date goes */
    f = base_form(NULL);
    add(f, "TicketPriorityId", "4");
    add(f, "DueDate", "2030-01-01");
    ck_assert_int_eq(register_as(ADMIN_P, f, NULL), TK_CREATED);
    tk_form_free(f);
    assert_sla("4", 240, 15);
    j = body_json();
    ck_assert_str_eq(str(obj(j, "sla"), "name"), "Urgent priority");
    ck_assert_str_ne(str(j, "dueDate"), "2030-01-01T00:00:00Z");
    ck_assert_ptr_nonnull(str(j, "responseDueDate"));
    cJSON_Delete(j);

    /* no priority, no policy: the manual date stands */
    f = base_form(NULL);
    add(f, "DueDate", "2030-01-01T00:00:00Z");
    ck_assert_int_eq(register_as(ADMIN_P, f, NULL), TK_CREATED);
    tk_form_free(f);
    j = body_json();
    ck_assert_str_eq(str(j, "dueDate"), "2030-01-01T00:00:00Z");
    ck_assert(cJSON_IsNull(obj(j, "responseDueDate")));
    ck_assert(cJSON_IsNull(obj(j, "sla")));
    cJSON_Delete(j);

    /* an explicit SLAId wins over the match */
    f = base_form(NULL);
    add(f, "TicketPriorityId", "4");
    add(f, "SLAId", "1");
    ck_assert_int_eq(register_as(ADMIN_P, f, NULL), TK_CREATED);
    tk_form_free(f);
    /* policy 1 counts office hours: its targets are working minutes */
    snprintf(idbuf, sizeof(idbuf), "%lld", (long long) res.id);
    ck_assert_int_eq(qn("SELECT count(*) FROM tickets WHERE id = $1"
                        " AND sla_id = 1"
                        " AND due_date = sla_business_add(1, created_on, 2400)"
                        " AND response_due_date"
                        " = sla_business_add(1, created_on, 480)",
                        idbuf), 1);

    /* the policy with the most criteria set wins */
    best = q("INSERT INTO sla_policies (name, priority_id, category_id,"
             " client_id, response_minutes, resolution_minutes)"
             " VALUES ('test: urgent software acme', 4, 2, 1, 5, 60)"
             " ON CONFLICT (name) DO UPDATE SET is_active = true"
             " RETURNING id");
    free(q("INSERT INTO sla_policies (name, priority_id, category_id,"
           " response_minutes, resolution_minutes)"
           " VALUES ('test: urgent software', 4, 2, 7, 70)"
           " ON CONFLICT (name) DO UPDATE SET is_active = true"));

    f = base_form(NULL);
    add(f, "TicketPriorityId", "4");
    add(f, "TicketCategoryId", "2");
    add(f, "ClientId", "1");
    ck_assert_int_eq(register_as(ADMIN_P, f, NULL), TK_CREATED);
    tk_form_free(f);
    assert_sla(best, 60, 5);

    /* an inactive one is not chosen, nor can it be named */
    free(q("UPDATE sla_policies SET is_active = false"
           " WHERE name LIKE 'test: %'"));
    f = base_form(NULL);
    add(f, "TicketPriorityId", "4");
    add(f, "TicketCategoryId", "2");
    add(f, "ClientId", "1");
    ck_assert_int_eq(register_as(ADMIN_P, f, NULL), TK_CREATED);
    tk_form_free(f);
    assert_sla("4", 240, 15);

    f = base_form(NULL);
    add(f, "SLAId", best);
    ck_assert_int_eq(register_as(ADMIN_P, f, NULL), TK_EINVAL);
    tk_form_free(f);

    free(best);
}
END_TEST


START_TEST(register_rollback)
{
    tk_form_t  *f;
    long        before;
    char        key[64];

    snprintf(key, sizeof(key), KEY "rollback-%ld", (long) random());

    /* a write late in the transaction fails: nothing may stay */
    free(q("CREATE OR REPLACE FUNCTION test_boom() RETURNS trigger"
           " LANGUAGE plpgsql AS $$ BEGIN"
           " IF NEW.file_name = 'boom.txt' THEN RAISE EXCEPTION 'boom';"
           " END IF; RETURN NEW; END $$"));
    free(q("CREATE OR REPLACE TRIGGER test_boom BEFORE INSERT ON attachments"
           " FOR EACH ROW EXECUTE FUNCTION test_boom()"));

    before = count_rows();

    f = base_form(NULL);
    add(f, "AssignedUser", TECH1);
    add(f, "SelectedTags", "1,2");
    add_file_halves(f, "Uploads", "ok.txt", "text/plain", "fine", 4);
    add_file_halves(f, "Uploads", "boom.txt", "text/plain", "boom", 4);

    ck_assert_int_eq(register_as(ADMIN_P, f, key), TK_EINTERNAL);
    ck_assert_ptr_null(res.body);
    ck_assert_int_eq(count_rows(), before);

    free(q("DROP TRIGGER test_boom ON attachments"));
    free(q("DROP FUNCTION test_boom()"));

    /* the connection is usable again, and the key was never taken */
    ck_assert_int_eq(register_as(ADMIN_P, f, key), TK_CREATED);
    tk_form_free(f);
    ck_assert_int_eq(count_rows(), before + 1 + 1 + 2 + 2 + 2 + 1);
}
END_TEST


/* Metadata ------------------------------------------------------------- */

static const char *const  app_keys[] = {
    "groups", "levels", "priorities", "categories", "status", "clients",
    "sites", "departments", NULL
};

static const char *const  meta_keys[] = {
    "groups", "levels", "priorities", "categories", "sub_categories",
    "items", "status", "clients", "sites", "departments", "technicians",
    "requesters", NULL
};


/* The ids of an array of objects, as "1,2,3". */
static char *
ids(const cJSON *a)
{
    const cJSON  *it;
    static char   buf[1024];
    size_t        len = 0;

    buf[0] = '\0';
    cJSON_ArrayForEach(it, a) {
        const cJSON  *id = obj(it, "id");

        if (cJSON_IsString(id)) {
            len += snprintf(buf + len, sizeof(buf) - len, "%s%s",
                            len ? "," : "", id->valuestring);
        } else {
            len += snprintf(buf + len, sizeof(buf) - len, "%s%d",
                            len ? "," : "", id->valueint);
        }
    }

    return buf;
}


START_TEST(appmetadata)
{
    static const char *const  status_keys[] = {
        "id", "status", "statusType", NULL
    };
    tk_principal_t            p = MEMBER1_P;
    cJSON                    *j;

    ck_assert_int_eq(tk_appmetadata(conn, &p, &res), TK_OK);
    j = body_json();
    assert_keys(j, app_keys);
    ck_assert_str_eq(ids(obj(j, "groups")), "1,2");
    ck_assert_str_eq(str(cJSON_GetArrayItem(obj(j, "groups"), 0), "group"),
                     "Service Desk");
    ck_assert_str_eq(str(cJSON_GetArrayItem(obj(j, "priorities"), 3),
                         "priority"), "Urgent");
    assert_keys(cJSON_GetArrayItem(obj(j, "status"), 0), status_keys);
    ck_assert_str_eq(str(cJSON_GetArrayItem(obj(j, "levels"), 0), "title"),
                     "Tier 1");
    cJSON_Delete(j);
}
END_TEST


/* A comma-separated list of ids from the database, "" for none. */
static void
assert_ids(const cJSON *a, const char *sql, const char *p1)
{
    char  *want;

    want = q(sql, p1);
    ck_assert_str_eq(ids(a), want ? want : "");
    free(want);
}


#define STAFF  "SELECT string_agg(u.id, ',' ORDER BY u.id) FROM users u" \
               " WHERE u.is_active AND u.role IN ('Admin', 'Technician')"


START_TEST(metadata_no_id)
{
    static const char *const  user_keys[] = {
        "id", "fullName", "userName", NULL
    };
    tk_principal_t            p = ADMIN_P;
    tk_principal_t            m = MEMBER1_P;
    cJSON                    *j;

    ck_assert_int_eq(tk_metadata(conn, &p, 0, &res), TK_OK);
    j = body_json();
    assert_keys(j, meta_keys);
    assert_ids(obj(j, "sub_categories"), "SELECT string_agg(id::text, ','"
               " ORDER BY id) FROM subcategories", NULL);
    assert_ids(obj(j, "items"), "SELECT string_agg(id::text, ','"
               " ORDER BY id) FROM items", NULL);
    assert_keys(cJSON_GetArrayItem(obj(j, "technicians"), 0), user_keys);
    assert_ids(obj(j, "technicians"), STAFF, NULL);
    ck_assert_msg(strstr(ids(obj(j, "technicians")), MEMBER1) == NULL,
                  "a Member is no technician");
    assert_keys(cJSON_GetArrayItem(obj(j, "requesters"), 0), user_keys);
    assert_ids(obj(j, "requesters"), "SELECT string_agg(id, ',' ORDER BY id)"
               " FROM users WHERE is_active AND role <> 'Integration'", NULL);
    ck_assert_msg(strstr(ids(obj(j, "requesters")),
                         "00000000-0000-4000-a000-000000000007") == NULL,
                  "the Integration account is no requester");
    cJSON_Delete(j);

    /* a Member requests for themselves only */
    tk_result_clear(&res);
    ck_assert_int_eq(tk_metadata(conn, &m, 0, &res), TK_OK);
    j = body_json();
    assert_keys(j, meta_keys);
    ck_assert_str_eq(ids(obj(j, "requesters")), MEMBER1);
    cJSON_Delete(j);
}
END_TEST


START_TEST(metadata_id)
{
    static const char *const  keys[] = {
        "groups", "levels", "priorities", "categories", "sub_categories",
        "items", "status", "clients", "sites", "departments", "technicians",
        NULL
    };
    tk_principal_t            p = ADMIN_P;
    tk_principal_t            m = MEMBER1_P;
    tk_principal_t            m2 = principal(MEMBER2, NULL, TK_ROLE_MEMBER, 0);
    int64_t                   id;
    cJSON                    *j;
    char                      ids_[24];

    id = new_ticket(MEMBER1, "TicketCategoryId", "2",
                    "TicketSubCategoryId", "3", "GroupId", "2", NULL);

    tk_result_clear(&res);
    ck_assert_int_eq(tk_metadata(conn, &p, id, &res), TK_OK);
    j = body_json();
    assert_keys(j, keys);
    assert_ids(obj(j, "sub_categories"), "SELECT string_agg(id::text, ','"
               " ORDER BY id) FROM subcategories WHERE category_id = 2",
               NULL);
    ck_assert_str_eq(ids(obj(j, "sub_categories")), "3,4");
    assert_ids(obj(j, "items"), "SELECT string_agg(id::text, ','"
               " ORDER BY id) FROM items WHERE subcategory_id = 3", NULL);
    /* the group's technicians only */
    assert_ids(obj(j, "technicians"), STAFF " AND EXISTS (SELECT FROM"
               " group_members m WHERE m.user_id = u.id AND m.group_id = 2)",
               NULL);
    ck_assert_str_eq(ids(obj(j, "technicians")),
                     "00000000-0000-4000-a000-000000000004");
    cJSON_Delete(j);

    /* the requester may; another Member is told it does not exist */
    tk_result_clear(&res);
    ck_assert_int_eq(tk_metadata(conn, &m, id, &res), TK_OK);
    tk_result_clear(&res);
    ck_assert_int_eq(tk_metadata(conn, &m2, id, &res), TK_ENOTFOUND);
    ck_assert_ptr_null(res.body);

    /* no category, no group: empty lists, every technician */
    id = new_ticket(MEMBER1, NULL);
    tk_result_clear(&res);
    ck_assert_int_eq(tk_metadata(conn, &m, id, &res), TK_OK);
    j = body_json();
    assert_keys(j, keys);
    ck_assert_int_eq(cJSON_GetArraySize(obj(j, "sub_categories")), 0);
    ck_assert_int_eq(cJSON_GetArraySize(obj(j, "items")), 0);
    assert_ids(obj(j, "technicians"), STAFF, NULL);
    cJSON_Delete(j);

    snprintf(ids_, sizeof(ids_), "%lld", (long long) id);
    free(q("UPDATE tickets SET is_deleted = true, deleted_on = now()"
           " WHERE id = $1", ids_));
    tk_result_clear(&res);
    ck_assert_int_eq(tk_metadata(conn, &p, id, &res), TK_ENOTFOUND);
    ck_assert_int_eq(tk_metadata(conn, &p, 36, &res), TK_ENOTFOUND);
    ck_assert_int_eq(tk_metadata(conn, &p, INT64_MAX, &res), TK_ENOTFOUND);
    ck_assert_int_eq(tk_metadata(conn, &p, -1, &res), TK_ENOTFOUND);
    ck_assert_ptr_null(res.body);
}
END_TEST


/* Health --------------------------------------------------------------- */

START_TEST(health)
{
    tk_conn_t  *down;

    ck_assert_int_eq(tk_health(conn, &res), TK_OK);
    ck_assert_str_eq(res.body, "{\"status\":\"ok\",\"version\":\""
                     TK_VERSION "\"}");
    ck_assert_str_eq(tk_version(), TK_VERSION);
    ck_assert_uint_eq(res.body_len, strlen(res.body));

    tk_result_clear(&res);
    ck_assert_int_eq(tk_conn_open(&down, "host=/nonexistent port=1"), TK_OK);
    ck_assert_int_eq(tk_health(down, &res), TK_EUNAVAIL);
    ck_assert_ptr_null(res.body);
    tk_conn_close(down);
}
END_TEST


static Suite *
tickets_suite(void)
{
    Suite  *s;
    TCase  *tc;

    s = suite_create("tickets");

    tc = add_tcase(s, "get", db_setup, teardown, 0);
    tcase_add_test(tc, get_shape);
    tcase_add_test(tc, get_not_found);
    tcase_add_test(tc, get_member);

    tc = add_tcase(s, "register", db_setup, teardown, 120);
    tcase_add_test(tc, register_ok);
    tcase_add_test(tc, register_validation);
    tcase_add_test(tc, register_accepts);
    tcase_add_test(tc, register_permission_quirk);
    tcase_add_test(tc, register_member);
    tcase_add_test(tc, register_idempotency);
    tcase_add_test(tc, register_idempotency_race);
    tcase_add_test(tc, register_uploads);
    tcase_add_test(tc, register_tags);
    tcase_add_test(tc, register_sla);
    tcase_add_test(tc, register_rollback);

    tc = add_tcase(s, "metadata", db_setup, teardown, 0);
    tcase_add_test(tc, appmetadata);
    tcase_add_test(tc, metadata_no_id);
    tcase_add_test(tc, metadata_id);
    tcase_add_test(tc, health);

    return s;
}


/* The setting the tests change, to put it back after each. */
static int
prepare(PGconn *c)
{
    return read_setting(c, "max_file_size", max_file_size,
                        sizeof(max_file_size));
}


/* What the tests registered goes, so that they can run again. */
static int
cleanup(PGconn *c)
{
    return exec_script(c,
        "BEGIN;"
        DELETE_TICKETS(MARK)
        "DELETE FROM idempotency_keys WHERE key LIKE '" KEY "%';"
        "DELETE FROM sla_policies WHERE name LIKE 'test: %';"
        "DROP TRIGGER IF EXISTS test_boom ON attachments;"
        "DROP FUNCTION IF EXISTS test_boom();"
        "COMMIT");
}


int
main(void)
{
    return db_main(tickets_suite, prepare, cleanup);
}
