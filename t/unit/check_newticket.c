/*
 * Unit tests of the integration API and tasks (libtickets/src/newticket.c,
 * task.c) against a real PostgreSQL: TICKETS_TEST_DB is its conninfo,
 * migrated and with the demo data loaded.
 */


#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"


/* a user of the list tests alone, so that their tickets are known */
#define LISTER   "check-newticket-lister"

/* every ticket the tests create says this, so that they can go again */
#define MARK     "check_newticket: made by a test."
/* and every Idempotency-Key starts so */
#define KEY      "check_newticket-"

/* the ticket demo.sql deletes */
#define DELETED  "36"


/* {id, ...}.id of a lookup, -1 when null */
static long
lookup_id(const cJSON *j, const char *key)
{
    const cJSON  *v = obj(j, key);

    return cJSON_IsNull(v) ? -1 : num(v, "id");
}


/* res is TK_EINVAL with errors naming exactly these fields (NULL-ended),
 * the first one with message msg when msg is not NULL. */
static void
assert_errors(const char *msg, ...)
{
    const char  *field, *first = NULL;
    cJSON       *e;
    va_list      ap;
    int          n = 0;

    ck_assert_int_eq(res.code, TK_EINVAL);
    e = validation_errors();

    va_start(ap, msg);
    while ((field = va_arg(ap, const char *)) != NULL) {
        ck_assert_msg(cJSON_IsArray(obj(e, field))
                      && cJSON_GetArraySize(obj(e, field)) == 1,
                      "no error for %s: %s", field, res.errors);
        first = first ? first : field;
        n++;
    }
    va_end(ap);

    ck_assert_msg(cJSON_GetArraySize(e) == n, "errors: %s", res.errors);
    if (msg != NULL) {
        ck_assert_str_eq(cJSON_GetArrayItem(obj(e, first), 0)->valuestring,
                         msg);
    }

    cJSON_Delete(e);
}


static const char *const  task_keys[] = {
    "id", "ticketId", "title", "assignedUser", "dueDate", "isCompleted",
    "completedOn", "completedBy", "createdBy", "createdOn", NULL
};


static void
assert_person(const cJSON *j, const char *id)
{
    if (id == NULL) {
        ck_assert_msg(cJSON_IsNull(j), "a person where null was wanted");
        return;
    }

    assert_keys(j, person_keys);
    ck_assert_str_eq(str(j, "id"), id);
}


/* Every row the writes of these tests may leave. */
static long
count_rows(void)
{
    return qn("SELECT (SELECT count(*) FROM tickets)"
              " + (SELECT count(*) FROM history)"
              " + (SELECT count(*) FROM outbox)"
              " + (SELECT count(*) FROM attachments)"
              " + (SELECT count(*) FROM tasks)"
              " + (SELECT count(*) FROM idempotency_keys)");
}


static int
ticket_new(tk_principal_t p, tk_form_t *f, const char *key)
{
    return CALL(tk_ticket_new(conn, &p, f, key, &res));
}


/* A new ticket of requester by the integration: its id. */
static int64_t
make_ticket(const char *requester)
{
    tk_form_t  *f;

    f = form("Title", "Printer out of toner", "Description", MARK,
             "Requester", requester, NULL);
    ck_assert_msg(ticket_new(INTEG_P, f, NULL) == TK_CREATED, "%s %s",
                  res.message, res.errors ? res.errors : "");
    tk_form_free(f);
    return res.id;
}


static int
list_by(tk_principal_t p, const char *username, const char *page)
{
    tk_form_t  *f;
    int         rc;

    f = tk_form_new();
    ck_assert_ptr_nonnull(f);
    if (username != NULL) {
        add(f, "username", username);
    }
    if (page != NULL) {
        add(f, "page", page);
    }

    rc = CALL(tk_ticket_list_by_user(conn, &p, f, &res));
    tk_form_free(f);
    return rc;
}


static int
task_create(tk_principal_t p, int64_t ticket, tk_form_t *f, const char *key)
{
    return CALL(tk_task_create(conn, &p, ticket, f, key, &res));
}


static int
task_list(tk_principal_t p, int64_t ticket)
{
    return CALL(tk_task_list(conn, &p, ticket, &res));
}


static int
task_complete(tk_principal_t p, int64_t task)
{
    return CALL(tk_task_complete(conn, &p, task, NULL, &res));
}


/* A task on ticket by the admin: its id. */
static int64_t
make_task(int64_t ticket, const char *title, const char *assignee)
{
    tk_form_t  *f;
    cJSON      *j;
    int64_t     id;

    f = form("Title", title, NULL);
    if (assignee != NULL) {
        add(f, "AssignedUser", assignee);
    }
    ck_assert_msg(task_create(ADMIN_P, ticket, f, NULL) == TK_CREATED,
                  "%s %s", res.message, res.errors ? res.errors : "");
    tk_form_free(f);

    j = body_json();
    id = num(j, "id");
    cJSON_Delete(j);
    return id;
}


static char *
ids(int64_t id)
{
    static char  buf[4][24];
    static int   n;

    n = (n + 1) % 4;
    snprintf(buf[n], sizeof(buf[n]), "%lld", (long long) id);
    return buf[n];
}


static void
teardown(void)
{
    free(q("UPDATE settings SET value = v FROM (VALUES"
           " ('default_site_id', '1'), ('default_status_id', '1'),"
           " ('default_priority_id', '2'), ('default_category_id', '1'),"
           " ('default_tier_level_id', '1')) AS s(k, v) WHERE key = k"));
    free(q("DROP TRIGGER IF EXISTS test_boom ON attachments"));
    free(q("DROP TRIGGER IF EXISTS test_boom ON history"));
    db_teardown();
}


/* New ----------------------------------------------------------------- */

START_TEST(new_ok)
{
    tk_principal_t   admin;
    tk_form_t       *f;
    cJSON           *j, *g;
    long             before;
    char             etag[48];

    before = qn("SELECT count(*) FROM tickets");

    /* the user name in any case; the principal needs no permission */
    f = form("Title", "Printer on fire", "Description", MARK,
             "Requester", "MeMbEr1", "ignored", "x", NULL);
    ck_assert_int_eq(ticket_new(INTEG_P, f, NULL), TK_CREATED);
    tk_form_free(f);

    ck_assert_int_gt(res.id, 36);
    snprintf(etag, sizeof(etag), "\"%lld-1\"", (long long) res.id);
    ck_assert_str_eq(res.etag, etag);
    ck_assert_int_eq(qn("SELECT count(*) FROM tickets"),
                     before + 1);

    j = body_json();
    ck_assert_int_eq(num(j, "id"), res.id);
    ck_assert_str_eq(str(j, "title"), "Printer on fire");
    ck_assert_str_eq(str(j, "description"), MARK);
    ck_assert_str_eq(str(j, "source"), "Api");
    ck_assert_str_eq(str(j, "ticketType"), "Ticket");
    assert_person(obj(j, "creator"), MEMBER1);
    assert_person(obj(j, "createdBy"), INTEG);
    assert_person(obj(j, "assignee"), NULL);

    /* the defaults of demo.sql; the department is the lowest id */
    ck_assert_int_eq(lookup_id(j, "site"), 1);
    ck_assert_int_eq(lookup_id(j, "status"), 1);
    ck_assert_int_eq(lookup_id(j, "priority"), 2);
    ck_assert_int_eq(lookup_id(j, "category"), 1);
    ck_assert_int_eq(lookup_id(j, "tierLevel"), 1);
    ck_assert_int_eq(lookup_id(j, "department"), 1);
    ck_assert_int_eq(lookup_id(j, "group"), -1);
    ck_assert_int_eq(lookup_id(j, "client"), -1);

    /* the SLA of the default priority, in business hours */
    ck_assert_int_eq(lookup_id(j, "sla"), 2);
    assert_q("t",
             "SELECT due_date >= created_on + interval '1440 minutes'"
             " AND response_due_date >= created_on + interval '240 minutes'"
             " AND response_due_date < due_date FROM tickets WHERE id = $1",
             ids(res.id));

    /* one history row, no notification (no assignee) */
    assert_q("Created=Printer on fire/" INTEG,
             "SELECT string_agg(field || '=' || new_value || '/'"
             " || changed_by_id, ',') FROM history WHERE ticket_id = $1",
             ids(res.id));
    ck_assert_int_eq(qn("SELECT count(*) FROM outbox WHERE ticket_id = $1",
                        ids(res.id)), 0);

    /* the answer is what GET answers */
    g = cJSON_Duplicate(j, 1);
    admin = ADMIN_P;
    ck_assert_int_eq(tk_ticket_get(conn, &admin, res.id, &res), TK_OK);
    cJSON_Delete(j);
    j = body_json();
    /* minutesLeft moves with the clock */
    cJSON_DeleteItemFromObjectCaseSensitive(j, "slaState");
    cJSON_DeleteItemFromObjectCaseSensitive(g, "slaState");
    ck_assert(cJSON_Compare(j, g, 1));
    cJSON_Delete(g);
    cJSON_Delete(j);
}
END_TEST


START_TEST(new_by_email)
{
    tk_form_t  *f;
    cJSON      *j;

    /* the user name names nobody: the email decides, in any case */
    f = form("Title", "By email", "Description", MARK,
             "Requester", "Mark from Sales", "Email", "MEMBER2@Example.com",
             NULL);
    ck_assert_int_eq(ticket_new(INTEG_P, f, NULL), TK_CREATED);
    tk_form_free(f);
    j = body_json();
    assert_person(obj(j, "creator"), MEMBER2);
    cJSON_Delete(j);

    /* the user name wins over the email */
    f = form("Title", "By name", "Description", MARK,
             "Requester", "tech1", "Email", "member2@example.com", NULL);
    ck_assert_int_eq(ticket_new(INTEG_P, f, NULL), TK_CREATED);
    tk_form_free(f);
    j = body_json();
    assert_person(obj(j, "creator"), TECH1);
    cJSON_Delete(j);
}
END_TEST


START_TEST(new_unknown_requester)
{
    tk_form_t  *f;
    long        before;

    before = count_rows();

    f = form("Title", "x", "Description", MARK, "Requester", "ghost", NULL);
    ck_assert_int_eq(ticket_new(INTEG_P, f, NULL), TK_EINVAL);
    assert_errors("No user has the user name 'ghost'.", "Requester", NULL);
    tk_form_free(f);

    f = form("Title", "x", "Description", MARK, "Requester", "ghost",
             "Email", "ghost@example.com", NULL);
    ck_assert_int_eq(ticket_new(INTEG_P, f, NULL), TK_EINVAL);
    assert_errors("No user has the user name 'ghost' or the email "
                  "'ghost@example.com'.", "Requester", NULL);
    tk_form_free(f);

    /* Requester is required even with an Email (seed 15) */
    f = form("Title", "x", "Description", MARK,
             "Email", "member1@example.com", NULL);
    ck_assert_int_eq(ticket_new(INTEG_P, f, NULL), TK_EINVAL);
    assert_errors("The Requester field is required.", "Requester", NULL);
    tk_form_free(f);

    ck_assert_int_eq(count_rows(), before);
}
END_TEST


START_TEST(new_validation)
{
    tk_form_t  *f;
    char        title[300];
    long        before;

    before = count_rows();

    f = form("Requester", "member1", NULL);
    ck_assert_int_eq(ticket_new(INTEG_P, f, NULL), TK_EINVAL);
    assert_errors(NULL, "Title", "Description", NULL);
    tk_form_free(f);

    memset(title, 'x', 256);
    title[256] = '\0';
    f = form("Title", title, "Description", MARK, "Requester", "member1",
             NULL);
    ck_assert_int_eq(ticket_new(INTEG_P, f, NULL), TK_EINVAL);
    assert_errors("The field Title must be a string with a maximum length "
                  "of 255.", "Title", NULL);
    tk_form_free(f);

    f = form("Title", "bad \xff", "Description", MARK,
             "Requester", "member1", NULL);
    ck_assert_int_eq(ticket_new(INTEG_P, f, NULL), TK_EINVAL);
    assert_errors("The field Title contains invalid UTF-8.", "Title", NULL);
    tk_form_free(f);

    /* malformed ids, each its own error */
    f = form("Title", "x", "Description", MARK, "Requester", "member1",
             "TierLevelId", "1.5", "GroupId", "abc", "SiteId", "-1",
             "DepartmentId", "0", "ClientId", "12abc", "TicketStatusId",
             "99999999999", "TicketPriorityId", " 1", "TicketCategoryId",
             "0x1", NULL);
    ck_assert_int_eq(ticket_new(INTEG_P, f, NULL), TK_EINVAL);
    assert_errors("The value '1.5' is not valid for TierLevelId.",
                  "TierLevelId", "GroupId", "SiteId", "DepartmentId",
                  "ClientId", "TicketStatusId", "TicketPriorityId",
                  "TicketCategoryId", NULL);
    tk_form_free(f);

    /* unknown ids, with an unknown requester */
    f = form("Title", "x", "Description", MARK, "Requester", "ghost",
             "TierLevelId", "99", "GroupId", "99", "SiteId", "99",
             "DepartmentId", "99", "ClientId", "99", "TicketStatusId", "99",
             "TicketPriorityId", "99", "TicketCategoryId", "99", NULL);
    ck_assert_int_eq(ticket_new(INTEG_P, f, NULL), TK_EINVAL);
    assert_errors(NULL, "Requester", "TierLevelId", "GroupId", "SiteId",
                  "DepartmentId", "ClientId", "TicketStatusId",
                  "TicketPriorityId", "TicketCategoryId", NULL);
    tk_form_free(f);

    f = form("Title", "x", "Description", MARK, "Requester", "member1",
             "SiteId", "99", NULL);
    ck_assert_int_eq(ticket_new(INTEG_P, f, NULL), TK_EINVAL);
    assert_errors("Unknown SiteId 99.", "SiteId", NULL);
    tk_form_free(f);

    /* all at once: the form's errors and the database's */
    f = form("Description", MARK, "Requester", "ghost", "SiteId", "99",
             "TierLevelId", "abc", NULL);
    ck_assert_int_eq(ticket_new(INTEG_P, f, NULL), TK_EINVAL);
    assert_errors(NULL, "Title", "Requester", "SiteId", "TierLevelId", NULL);
    tk_form_free(f);

    ck_assert_int_eq(count_rows(), before);
}
END_TEST


START_TEST(new_explicit)
{
    tk_form_t  *f;
    cJSON      *j;

    f = form("title", "Every id", "DESCRIPTION", MARK, "requester", "member1",
             "TierLevelId", "2", "GroupId", "2", "SiteId", "2",
             "DepartmentId", "2", "ClientId", "1", "TicketStatusId", "3",
             "TicketPriorityId", "4", "TicketCategoryId", "3", NULL);
    ck_assert_int_eq(ticket_new(INTEG_P, f, NULL), TK_CREATED);
    tk_form_free(f);

    j = body_json();
    ck_assert_int_eq(lookup_id(j, "tierLevel"), 2);
    ck_assert_int_eq(lookup_id(j, "group"), 2);
    ck_assert_int_eq(lookup_id(j, "site"), 2);
    ck_assert_int_eq(lookup_id(j, "department"), 2);
    ck_assert_int_eq(lookup_id(j, "client"), 1);
    ck_assert_int_eq(lookup_id(j, "status"), 3);
    ck_assert_int_eq(lookup_id(j, "priority"), 4);
    ck_assert_int_eq(lookup_id(j, "category"), 3);
    ck_assert_int_eq(lookup_id(j, "sla"), 4);

    /* Urgent counts wall-clock minutes: 240 and 15 */
    ck_assert_int_eq(qn("SELECT extract(epoch FROM due_date - created_on)"
                        " FROM tickets WHERE id = $1", ids(num(j, "id"))),
                     240 * 60);
    ck_assert_int_eq(qn("SELECT extract(epoch FROM response_due_date"
                        " - created_on) FROM tickets WHERE id = $1",
                        ids(num(j, "id"))), 15 * 60);
    cJSON_Delete(j);
}
END_TEST


START_TEST(new_defaults)
{
    tk_form_t  *f;
    cJSON      *j;
    long        before;

    /* other defaults are taken */
    free(q("UPDATE settings SET value = v FROM (VALUES"
           " ('default_site_id', '2'), ('default_status_id', '4'),"
           " ('default_priority_id', '3'), ('default_category_id', '2'),"
           " ('default_tier_level_id', '2')) AS s(k, v) WHERE key = k"));
    f = form("Title", "Defaults", "Description", MARK, "Requester",
             "member1", NULL);
    ck_assert_int_eq(ticket_new(INTEG_P, f, NULL), TK_CREATED);
    j = body_json();
    ck_assert_int_eq(lookup_id(j, "site"), 2);
    ck_assert_int_eq(lookup_id(j, "status"), 4);
    ck_assert_int_eq(lookup_id(j, "priority"), 3);
    ck_assert_int_eq(lookup_id(j, "category"), 2);
    ck_assert_int_eq(lookup_id(j, "tierLevel"), 2);
    cJSON_Delete(j);

    /* unset or naming nothing: the nullable ones stay null */
    free(q("UPDATE settings SET value = v FROM (VALUES"
           " ('default_priority_id', NULL), ('default_category_id', '99'),"
           " ('default_tier_level_id', 'x')) AS s(k, v) WHERE key = k"));
    ck_assert_int_eq(ticket_new(INTEG_P, f, NULL), TK_CREATED);
    j = body_json();
    ck_assert_int_eq(lookup_id(j, "priority"), -1);
    ck_assert_int_eq(lookup_id(j, "category"), -1);
    ck_assert_int_eq(lookup_id(j, "tierLevel"), -1);
    ck_assert_int_eq(lookup_id(j, "sla"), -1);
    ck_assert(cJSON_IsNull(obj(j, "dueDate")));
    cJSON_Delete(j);

    /* a site and a status the ticket cannot be without: required */
    before = count_rows();
    free(q("UPDATE settings SET value = v FROM (VALUES"
           " ('default_site_id', NULL), ('default_status_id', '99'))"
           " AS s(k, v) WHERE key = k"));
    ck_assert_int_eq(ticket_new(INTEG_P, f, NULL), TK_EINVAL);
    assert_errors(NULL, "SiteId", "TicketStatusId", NULL);
    tk_form_free(f);

    f = form("Title", "Defaults", "Description", MARK, "Requester",
             "member1", "SiteId", "1", "TicketStatusId", "1", NULL);
    ck_assert_int_eq(ticket_new(INTEG_P, f, NULL), TK_CREATED);
    tk_form_free(f);
    ck_assert_int_eq(count_rows(), before + 2);
}
END_TEST


START_TEST(new_member)
{
    tk_form_t  *f;
    long        before;
    cJSON      *j;

    before = count_rows();

    f = form("Title", "Mine", "Description", MARK, "Requester", "member2",
             NULL);
    ck_assert_int_eq(ticket_new(MEMBER1_P, f, NULL), TK_EFORBIDDEN);
    ck_assert_ptr_null(res.body);
    tk_form_free(f);

    /* by email, too */
    f = form("Title", "Mine", "Description", MARK, "Requester", "nobody",
             "Email", "member2@example.com", NULL);
    ck_assert_int_eq(ticket_new(MEMBER1_P, f, NULL), TK_EFORBIDDEN);
    tk_form_free(f);
    ck_assert_int_eq(count_rows(), before);

    /* a Member without Tickets.Create, for themselves */
    f = form("Title", "Mine", "Description", MARK, "Requester", "member1",
             NULL);
    ck_assert_int_eq(ticket_new(principal(MEMBER1, NULL, TK_ROLE_MEMBER, 0),
                                f, NULL), TK_CREATED);
    tk_form_free(f);
    j = body_json();
    assert_person(obj(j, "creator"), MEMBER1);
    assert_person(obj(j, "createdBy"), MEMBER1);
    cJSON_Delete(j);
}
END_TEST


START_TEST(new_idempotency)
{
    tk_principal_t   integ;
    tk_form_t       *f, *g;
    char            *first;
    int64_t          id;
    long             before;
    char             key[64], etag[48];

    snprintf(key, sizeof(key), KEY "new-%ld", (long) random());
    before = qn("SELECT count(*) FROM tickets");

    f = form("Title", "Once", "Description", MARK, "Requester", "member1",
             NULL);
    ck_assert_int_eq(ticket_new(INTEG_P, f, key), TK_CREATED);
    id = res.id;
    first = strdup(res.body);
    snprintf(etag, sizeof(etag), "%s", res.etag);

    /* the same again: the first answer, nothing created */
    ck_assert_int_eq(ticket_new(INTEG_P, f, key), TK_CREATED);
    ck_assert_int_eq(res.id, id);
    ck_assert_str_eq(res.body, first);
    ck_assert_str_eq(res.etag, etag);
    ck_assert_int_eq(qn("SELECT count(*) FROM tickets"),
                     before + 1);

    /* another request under the key */
    g = form("Title", "Twice", "Description", MARK, "Requester", "member1",
             NULL);
    ck_assert_int_eq(ticket_new(INTEG_P, g, key), TK_EINVAL);
    tk_form_free(g);

    /* the key of register is not the key of new */
    g = form("Title", "Once", "Description", MARK, "CreatorId", MEMBER1,
             "SiteId", "1", "DepartmentId", "1", "TicketStatusId", "1",
             "TicketType", "0", NULL);
    integ = principal(INTEG, NULL, TK_ROLE_INTEGRATION, TK_PERM_CREATE);
    tk_result_clear(&res);
    ck_assert_int_eq(tk_ticket_register(conn, &integ, g, key, &res),
                     TK_EINVAL);
    ck_assert_str_ne(res.message, "Permission denied");
    ck_assert_int_eq(qn("SELECT count(*) FROM tickets"),
                     before + 1);
    tk_form_free(g);

    /* another principal: its own key */
    ck_assert_int_eq(ticket_new(ADMIN_P, f, key), TK_CREATED);
    ck_assert_int_ne(res.id, id);
    ck_assert_int_eq(qn("SELECT count(*) FROM tickets"),
                     before + 2);

    /* a bad key */
    ck_assert_int_eq(ticket_new(INTEG_P, f, ""), TK_EINVAL);

    tk_form_free(f);
    free(first);
}
END_TEST


START_TEST(new_uploads)
{
    tk_form_t  *f;
    cJSON      *j;
    const cJSON *a;

    f = form("Title", "With files", "Description", MARK,
             "Requester", "member1", NULL);
    add_file(f, "Uploads", "log.txt", "text/plain", "hello", 5);
    add_file(f, "Uploads", "evil.exe", "application/x-msdownload", "MZ", 2);
    add_file(f, "Other", "other.txt", "text/plain", "no", 2);
    ck_assert_int_eq(ticket_new(INTEG_P, f, NULL), TK_CREATED);
    tk_form_free(f);

    j = body_json();
    a = obj(j, "attachments");
    ck_assert_int_eq(cJSON_GetArraySize(a), 1);
    ck_assert_str_eq(str(cJSON_GetArrayItem(a, 0), "fileName"), "log.txt");
    ck_assert_str_eq(str(cJSON_GetArrayItem(a, 0), "sha256"),
                     "2cf24dba5fb0a30e26e83b2ac5b9e29e"
                     "1b161e5c1fa7425e73043362938b9824");
    ck_assert_ptr_nonnull(strstr(res.message, "evil.exe"));
    cJSON_Delete(j);
}
END_TEST


START_TEST(new_rollback)
{
    tk_form_t  *f;
    long        before;
    char        key[64];

    snprintf(key, sizeof(key), KEY "rollback-%ld", (long) random());

    free(q("CREATE OR REPLACE FUNCTION test_boom() RETURNS trigger"
           " LANGUAGE plpgsql AS $$ BEGIN"
           " IF NEW.file_name = 'boom.txt' THEN RAISE EXCEPTION 'boom';"
           " END IF; RETURN NEW; END $$"));
    free(q("CREATE OR REPLACE TRIGGER test_boom BEFORE INSERT ON attachments"
           " FOR EACH ROW EXECUTE FUNCTION test_boom()"));

    before = count_rows();

    f = form("Title", "Boom", "Description", MARK, "Requester", "member1",
             NULL);
    add_file(f, "Uploads", "ok.txt", "text/plain", "fine", 4);
    add_file(f, "Uploads", "boom.txt", "text/plain", "boom", 4);
    ck_assert_int_eq(ticket_new(INTEG_P, f, key), TK_EINTERNAL);
    ck_assert_ptr_null(res.body);
    ck_assert_int_eq(res.id, 0);
    ck_assert_int_eq(count_rows(), before);

    free(q("DROP TRIGGER test_boom ON attachments"));
    free(q("DROP FUNCTION test_boom()"));

    /* the connection goes on, and the key was never taken */
    ck_assert_int_eq(ticket_new(INTEG_P, f, key), TK_CREATED);
    tk_form_free(f);
    /* ticket, history, two attachments, the key */
    ck_assert_int_eq(count_rows(), before + 5);
}
END_TEST


/* List ---------------------------------------------------------------- */

START_TEST(list_pages)
{
    tk_principal_t   admin = ADMIN_P;
    cJSON           *j, *g;
    const cJSON     *it;
    const char      *on;
    char             sql[512];
    long             prev_id = 0;
    char             prev_on[32] = "";
    int              n;

    /* 27 tickets an hour apart, two of them at one instant, one deleted */
    free(q("DELETE FROM tickets WHERE requester_id = (SELECT id FROM users"
           " WHERE user_name = '" LISTER "')"));
    snprintf(sql, sizeof(sql),
             "INSERT INTO tickets (title, description, requester_id,"
             " created_by_id, site_id, department_id, status_id,"
             " created_on, is_deleted, deleted_on)"
             " SELECT 'List ' || i, '" MARK "', u.id, u.id, 1, 1, 1,"
             " date_trunc('hour', now()) - least(i, 27) * interval '1 hour',"
             " i = 5, CASE WHEN i = 5 THEN now() END"
             " FROM generate_series(1, 28) i, users u"
             " WHERE u.user_name = '" LISTER "'");
    free(q(sql));

    ck_assert_int_eq(list_by(ADMIN_P, LISTER, NULL), TK_OK);
    j = body_json();
    ck_assert_int_eq(cJSON_GetArraySize(j), 25);

    /* newest first, then the higher id; each as GET shows it */
    n = 0;
    cJSON_ArrayForEach(it, j) {
        ck_assert_str_ne(str(it, "title"), "List 5");
        on = str(it, "createdOn") ? str(it, "createdOn") : "";
        ck_assert_uint_eq(strlen(on), 20);
        if (n > 0) {
            ck_assert_msg(strcmp(on, prev_on) < 0
                          || (strcmp(on, prev_on) == 0
                              && num(it, "id") < prev_id),
                          "order at %d", n);
        }
        snprintf(prev_on, sizeof(prev_on), "%s", on);
        prev_id = num(it, "id");

        if (n % 6 == 0) {
            tk_result_t  one;

            tk_result_init(&one);
            ck_assert_int_eq(tk_ticket_get(conn, &admin, prev_id, &one),
                             TK_OK);
            g = cJSON_Parse(one.body);
            ck_assert_msg(cJSON_Compare(it, g, 1), "ticket %ld differs "
                          "from GET", prev_id);
            cJSON_Delete(g);
            tk_result_clear(&one);
        }
        n++;
    }
    ck_assert_str_eq(str(cJSON_GetArrayItem(j, 0), "title"), "List 1");
    ck_assert_str_eq(str(cJSON_GetArrayItem(j, 24), "title"), "List 26");
    cJSON_Delete(j);

    /* page 2: the two oldest, at one instant, the higher id first */
    ck_assert_int_eq(list_by(ADMIN_P, "CHECK-NEWTICKET-LISTER", "2"), TK_OK);
    j = body_json();
    ck_assert_int_eq(cJSON_GetArraySize(j), 2);
    ck_assert_str_eq(str(cJSON_GetArrayItem(j, 0), "title"), "List 28");
    ck_assert_str_eq(str(cJSON_GetArrayItem(j, 1), "title"), "List 27");
    cJSON_Delete(j);

    ck_assert_int_eq(list_by(ADMIN_P, LISTER, "3"), TK_OK);
    ck_assert_str_eq(res.body, "[]");
    ck_assert_int_eq(list_by(ADMIN_P, LISTER, "2147483647"), TK_OK);
    ck_assert_str_eq(res.body, "[]");

    /* a blank page is page 1; the integration may list anyone */
    ck_assert_int_eq(list_by(INTEG_P, LISTER, " "), TK_OK);
    j = body_json();
    ck_assert_int_eq(cJSON_GetArraySize(j), 25);
    cJSON_Delete(j);
}
END_TEST


START_TEST(list_errors)
{
    cJSON  *e;

    ck_assert_int_eq(list_by(ADMIN_P, NULL, NULL), TK_EINVAL);
    assert_errors("The username field is required.", "username", NULL);
    ck_assert_int_eq(list_by(ADMIN_P, "", "1"), TK_EINVAL);
    assert_errors(NULL, "username", NULL);

    ck_assert_int_eq(list_by(ADMIN_P, "member1", "0"), TK_EINVAL);
    assert_errors("The value '0' is not valid for page.", "page", NULL);
    ck_assert_int_eq(list_by(ADMIN_P, "member1", "-1"), TK_EINVAL);
    assert_errors(NULL, "page", NULL);
    ck_assert_int_eq(list_by(ADMIN_P, "member1", "1.5"), TK_EINVAL);
    ck_assert_int_eq(list_by(ADMIN_P, "member1", "2x"), TK_EINVAL);
    ck_assert_int_eq(list_by(ADMIN_P, "member1", "2147483648"), TK_EINVAL);

    ck_assert_int_eq(list_by(ADMIN_P, NULL, "abc"), TK_EINVAL);
    e = cJSON_Parse(res.errors);
    ck_assert_int_eq(cJSON_GetArraySize(e), 2);
    cJSON_Delete(e);

    ck_assert_int_eq(list_by(ADMIN_P, "bad \xff", NULL), TK_EINVAL);
    assert_errors(NULL, "username", NULL);

    /* an unknown user has no tickets */
    ck_assert_int_eq(list_by(ADMIN_P, "ghost", NULL), TK_OK);
    ck_assert_str_eq(res.body, "[]");
}
END_TEST


START_TEST(list_member)
{
    cJSON        *j;
    const cJSON  *it;
    int           n;

    /* their own, in any case */
    ck_assert_int_eq(list_by(MEMBER1_P, "MEMBER1", NULL), TK_OK);
    j = body_json();
    n = cJSON_GetArraySize(j);
    ck_assert_int_gt(n, 0);
    ck_assert_int_le(n, 25);
    cJSON_ArrayForEach(it, j) {
        assert_person(obj(it, "creator"), MEMBER1);
        ck_assert_int_ne(num(it, "id"), 36);
    }
    cJSON_Delete(j);

    /* as many as staff see */
    ck_assert_int_eq(list_by(ADMIN_P, "member1", NULL), TK_OK);
    j = body_json();
    ck_assert_int_eq(cJSON_GetArraySize(j), n);
    cJSON_Delete(j);

    ck_assert_int_eq(list_by(MEMBER1_P, "member2", NULL), TK_EFORBIDDEN);
    ck_assert_ptr_null(res.body);
    ck_assert_int_eq(list_by(MEMBER1_P, "ghost", NULL), TK_EFORBIDDEN);
    ck_assert_int_eq(list_by(MEMBER1_P, "admin", "2"), TK_EFORBIDDEN);
}
END_TEST


/* Each ticket of a list is what GET answers: the demo tickets of these
 * users have tags, resolutions, closures, escalations, assignees. */
START_TEST(list_same_as_get)
{
    static const char *const  users[] = {
        "member1", "member2", "tech1", "tech2"
    };
    tk_principal_t            admin = ADMIN_P;
    tk_result_t               one;
    const cJSON              *it;
    cJSON                    *j, *g;
    size_t                    i;
    int                       tags = 0, resolved = 0, closed = 0;

    for (i = 0; i < sizeof(users) / sizeof(users[0]); i++) {
        ck_assert_int_eq(list_by(ADMIN_P, users[i], NULL), TK_OK);
        j = body_json();

        cJSON_ArrayForEach(it, j) {
            tk_result_init(&one);
            ck_assert_int_eq(tk_ticket_get(conn, &admin,
                                           (int64_t) num(it, "id"), &one),
                             TK_OK);
            g = cJSON_Parse(one.body);
            ck_assert_msg(cJSON_Compare(it, g, 1), "ticket %ld: list %s, "
                          "GET %s", num(it, "id"), cJSON_PrintUnformatted(it),
                          one.body);
            cJSON_Delete(g);
            tk_result_clear(&one);
            tags += cJSON_GetArraySize(obj(it, "tags")) > 0;
            resolved += cJSON_IsObject(obj(it, "resolution"));
            closed += cJSON_IsObject(obj(it, "closure"));
        }

        cJSON_Delete(j);
    }

    /* the parts that the tickets made here lack were compared, too */
    ck_assert_int_gt(tags, 0);
    ck_assert_int_gt(resolved, 0);
    ck_assert_int_gt(closed, 0);
}
END_TEST


/* Tasks --------------------------------------------------------------- */

START_TEST(task_create_ok)
{
    tk_form_t  *f;
    cJSON      *j;
    int64_t     ticket;

    ticket = make_ticket("member1");

    f = form("title", "Order toner", "AssignedUser", TECH1,
             "DueDate", "2030-01-02T03:04:05+02:00", NULL);
    ck_assert_int_eq(task_create(TECH1_P, ticket, f, NULL), TK_CREATED);
    tk_form_free(f);
    ck_assert_int_eq(res.id, ticket);

    j = body_json();
    assert_keys(j, task_keys);
    ck_assert_int_gt(num(j, "id"), 0);
    ck_assert_int_eq(num(j, "ticketId"), ticket);
    ck_assert_str_eq(str(j, "title"), "Order toner");
    assert_person(obj(j, "assignedUser"), TECH1);
    ck_assert_str_eq(str(j, "dueDate"), "2030-01-02T01:04:05Z");
    ck_assert(cJSON_IsFalse(obj(j, "isCompleted")));
    ck_assert(cJSON_IsNull(obj(j, "completedOn")));
    assert_person(obj(j, "completedBy"), NULL);
    assert_person(obj(j, "createdBy"), TECH1);
    ck_assert_ptr_nonnull(str(j, "createdOn"));
    cJSON_Delete(j);

    /* the history row, and the ticket's version */
    assert_q("Created=Printer out of toner/" INTEG ",Task=Order toner/" TECH1,
             "SELECT string_agg(field || '=' || new_value || '/'"
             " || changed_by_id, ',' ORDER BY id) FROM history"
             " WHERE ticket_id = $1", ids(ticket));
    ck_assert_int_eq(qn("SELECT version FROM tickets WHERE id = $1",
                        ids(ticket)), 2);

    /* only a Title */
    f = form("Title", "Call back", NULL);
    ck_assert_int_eq(task_create(ADMIN_P, ticket, f, NULL), TK_CREATED);
    tk_form_free(f);
    j = body_json();
    assert_person(obj(j, "assignedUser"), NULL);
    ck_assert(cJSON_IsNull(obj(j, "dueDate")));
    cJSON_Delete(j);
}
END_TEST


START_TEST(task_create_errors)
{
    tk_form_t  *f;
    int64_t     ticket;
    long        before;
    char        title[300];

    ticket = make_ticket("member1");
    before = count_rows();

    f = form("DueDate", "tomorrow", "AssignedUser", "bad \xff", NULL);
    ck_assert_int_eq(task_create(ADMIN_P, ticket, f, NULL), TK_EINVAL);
    assert_errors("The Title field is required.", "Title", "DueDate",
                  "AssignedUser", NULL);
    tk_form_free(f);

    memset(title, 'y', 256);
    title[256] = '\0';
    f = form("Title", title, "DueDate", "2030-02-30", NULL);
    ck_assert_int_eq(task_create(ADMIN_P, ticket, f, NULL), TK_EINVAL);
    assert_errors("The field Title must be a string with a maximum length "
                  "of 255.", "Title", "DueDate", NULL);
    tk_form_free(f);

    /* a Member, an inactive technician, nobody: not an assignee */
    f = form("Title", "x", "AssignedUser", MEMBER1, NULL);
    ck_assert_int_eq(task_create(ADMIN_P, ticket, f, NULL), TK_EINVAL);
    assert_errors("AssignedUser " MEMBER1 " is not an active Admin or "
                  "Technician.", "AssignedUser", NULL);
    tk_form_free(f);
    f = form("Title", "x", "AssignedUser", "nobody", NULL);
    ck_assert_int_eq(task_create(ADMIN_P, ticket, f, NULL), TK_EINVAL);
    assert_errors(NULL, "AssignedUser", NULL);
    tk_form_free(f);

    /* without Tickets.Update: 403, whatever the ticket */
    f = form("Title", "x", NULL);
    ck_assert_int_eq(task_create(principal(TECH1, NULL, TK_ROLE_TECHNICIAN,
                                           TK_PERM_ALL & ~TK_PERM_UPDATE),
                                 ticket, f, NULL), TK_EFORBIDDEN);
    ck_assert_int_eq(task_create(MEMBER1_P, ticket, f, NULL), TK_EFORBIDDEN);
    ck_assert_int_eq(task_create(INTEG_P, 999999999, f, NULL),
                     TK_EFORBIDDEN);

    /* unknown, deleted, another's for a Member: 404 */
    ck_assert_int_eq(task_create(ADMIN_P, 999999999, f, NULL), TK_ENOTFOUND);
    ck_assert_int_eq(task_create(ADMIN_P, 36, f, NULL), TK_ENOTFOUND);
    ck_assert_int_eq(task_create(principal(MEMBER2, NULL, TK_ROLE_MEMBER,
                                           TK_PERM_UPDATE), ticket, f, NULL),
                     TK_ENOTFOUND);
    tk_form_free(f);

    ck_assert_int_eq(count_rows(), before);
    ck_assert_int_eq(qn("SELECT version FROM tickets WHERE id = $1",
                        ids(ticket)), 1);
}
END_TEST


START_TEST(task_create_idempotency)
{
    tk_form_t  *f, *g;
    char       *first;
    int64_t     ticket, other;
    char        key[64];

    ticket = make_ticket("member1");
    other = make_ticket("member1");
    snprintf(key, sizeof(key), KEY "task-%ld", (long) random());

    f = form("Title", "Once", NULL);
    ck_assert_int_eq(task_create(ADMIN_P, ticket, f, key), TK_CREATED);
    first = strdup(res.body);

    ck_assert_int_eq(task_create(ADMIN_P, ticket, f, key), TK_CREATED);
    ck_assert_str_eq(res.body, first);
    ck_assert_int_eq(res.id, ticket);
    ck_assert_int_eq(qn("SELECT count(*) FROM tasks WHERE ticket_id = $1",
                        ids(ticket)), 1);

    /* another body, or another ticket, under the key */
    g = form("Title", "Twice", NULL);
    ck_assert_int_eq(task_create(ADMIN_P, ticket, g, key), TK_EINVAL);
    tk_form_free(g);
    ck_assert_int_eq(task_create(ADMIN_P, other, f, key), TK_EINVAL);
    ck_assert_int_eq(qn("SELECT count(*) FROM tasks WHERE ticket_id"
                        " IN ($1, $2)", ids(ticket), ids(other)), 1);

    tk_form_free(f);
    free(first);
}
END_TEST


START_TEST(task_list_ok)
{
    cJSON   *j;
    int64_t  ticket, a, b;

    ticket = make_ticket("member1");

    ck_assert_int_eq(task_list(ADMIN_P, ticket), TK_OK);
    ck_assert_str_eq(res.body, "[]");

    a = make_task(ticket, "First", TECH1);
    b = make_task(ticket, "Second", NULL);

    ck_assert_int_eq(task_list(ADMIN_P, ticket), TK_OK);
    j = body_json();
    ck_assert_int_eq(cJSON_GetArraySize(j), 2);
    assert_keys(cJSON_GetArrayItem(j, 0), task_keys);
    ck_assert_int_eq(num(cJSON_GetArrayItem(j, 0), "id"), a);
    ck_assert_int_eq(num(cJSON_GetArrayItem(j, 1), "id"), b);
    assert_person(obj(cJSON_GetArrayItem(j, 0), "assignedUser"), TECH1);
    assert_person(obj(cJSON_GetArrayItem(j, 1), "assignedUser"), NULL);
    assert_person(obj(cJSON_GetArrayItem(j, 1), "createdBy"), ADMIN);
    cJSON_Delete(j);

    /* the requester sees them; another Member does not */
    ck_assert_int_eq(task_list(MEMBER1_P, ticket), TK_OK);
    ck_assert_int_eq(task_list(MEMBER2_P, ticket), TK_ENOTFOUND);
    ck_assert_ptr_null(res.body);
    ck_assert_int_eq(task_list(INTEG_P, ticket), TK_OK);

    ck_assert_int_eq(task_list(ADMIN_P, 999999999), TK_ENOTFOUND);
    ck_assert_int_eq(task_list(ADMIN_P, 36), TK_ENOTFOUND);
    ck_assert_int_eq(task_list(ADMIN_P, 0), TK_ENOTFOUND);
}
END_TEST


START_TEST(task_complete_ok)
{
    cJSON   *j;
    int64_t  ticket, a, b;
    long     history;
    char    *on;

    ticket = make_ticket("member1");
    a = make_task(ticket, "Assigned to tech1", TECH1);
    b = make_task(ticket, "Unassigned", NULL);
    history = qn("SELECT count(*) FROM history WHERE ticket_id = $1",
                 ids(ticket));

    /* neither the assignee nor Tickets.Update */
    ck_assert_int_eq(task_complete(principal(TECH2, NULL, TK_ROLE_TECHNICIAN,
                                             TK_PERM_REPLY), a),
                     TK_EFORBIDDEN);
    ck_assert_int_eq(task_complete(MEMBER1_P, a), TK_EFORBIDDEN);
    ck_assert_int_eq(task_complete(principal(TECH1, NULL,
                                             TK_ROLE_TECHNICIAN, 0), b),
                     TK_EFORBIDDEN);

    /* another's ticket for a Member; unknown; a deleted ticket */
    ck_assert_int_eq(task_complete(principal(MEMBER2, NULL, TK_ROLE_MEMBER,
                                             TK_PERM_UPDATE), a),
                     TK_ENOTFOUND);
    ck_assert_int_eq(task_complete(ADMIN_P, 999999999), TK_ENOTFOUND);
    ck_assert_int_eq(task_complete(ADMIN_P, -1), TK_ENOTFOUND);
    ck_assert_int_eq(qn("SELECT count(*) FROM history WHERE ticket_id = $1",
                        ids(ticket)), history);
    ck_assert_int_eq(qn("SELECT version FROM tickets WHERE id = $1",
                        ids(ticket)), 3);

    /* the assignee, without any permission */
    ck_assert_int_eq(task_complete(principal(TECH1, NULL,
                                             TK_ROLE_TECHNICIAN, 0), a),
                     TK_NO_CONTENT);
    ck_assert_ptr_null(res.body);
    assert_q("t",
             "SELECT is_completed AND completed_on IS NOT NULL"
             " AND completed_by_id = $2 FROM tasks WHERE id = $1", ids(a),
             TECH1);
    assert_q("TaskCompleted=Assigned to tech1/" TECH1,
             "SELECT field || '=' || new_value || '/' || changed_by_id"
             " FROM history WHERE ticket_id = $1 ORDER BY id DESC LIMIT 1",
             ids(ticket));
    ck_assert_int_eq(qn("SELECT version FROM tickets WHERE id = $1",
                        ids(ticket)), 4);

    /* again, by someone else allowed: nothing changes */
    on = q("SELECT completed_on FROM tasks WHERE id = $1", ids(a));
    ck_assert_int_eq(task_complete(ADMIN_P, a), TK_NO_CONTENT);
    assert_q(on, "SELECT completed_on FROM tasks WHERE id = $1", ids(a));
    assert_q(TECH1,
             "SELECT completed_by_id FROM tasks WHERE id = $1", ids(a));
    free(on);
    ck_assert_int_eq(qn("SELECT version FROM tickets WHERE id = $1",
                        ids(ticket)), 4);
    ck_assert_int_eq(qn("SELECT count(*) FROM history WHERE ticket_id = $1",
                        ids(ticket)), history + 1);
    /* completed or not, a stranger is refused */
    ck_assert_int_eq(task_complete(principal(TECH2, NULL,
                                             TK_ROLE_TECHNICIAN, 0), a),
                     TK_EFORBIDDEN);

    /* Tickets.Update, not the assignee */
    ck_assert_int_eq(task_complete(ADMIN_P, b), TK_NO_CONTENT);

    ck_assert_int_eq(task_list(ADMIN_P, ticket), TK_OK);
    j = body_json();
    ck_assert(cJSON_IsTrue(obj(cJSON_GetArrayItem(j, 0), "isCompleted")));
    assert_person(obj(cJSON_GetArrayItem(j, 0), "completedBy"), TECH1);
    ck_assert_ptr_nonnull(str(cJSON_GetArrayItem(j, 0), "completedOn"));
    assert_person(obj(cJSON_GetArrayItem(j, 1), "completedBy"), ADMIN);
    cJSON_Delete(j);

    /* once the ticket is deleted, its tasks are not found */
    a = make_task(ticket, "Late", TECH1);
    free(q("UPDATE tickets SET is_deleted = true, deleted_on = now()"
           " WHERE id = $1", ids(ticket)));
    ck_assert_int_eq(task_complete(ADMIN_P, a), TK_ENOTFOUND);
    ck_assert_int_eq(task_complete(principal(TECH1, NULL,
                                             TK_ROLE_TECHNICIAN, 0), a),
                     TK_ENOTFOUND);
}
END_TEST


START_TEST(task_rollback)
{
    tk_form_t  *f;
    int64_t     ticket, a;
    long        before;

    ticket = make_ticket("member1");
    a = make_task(ticket, "Boom", TECH1);

    /* the history row fails: the task stays open */
    free(q("CREATE OR REPLACE FUNCTION test_boom() RETURNS trigger"
           " LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'boom'; END $$"));
    free(q("CREATE OR REPLACE TRIGGER test_boom BEFORE INSERT ON history"
           " FOR EACH ROW EXECUTE FUNCTION test_boom()"));

    before = count_rows();
    ck_assert_int_eq(task_complete(ADMIN_P, a), TK_EINTERNAL);
    assert_q("f", "SELECT is_completed FROM tasks WHERE id = $1", ids(a));

    f = form("Title", "Never", NULL);
    ck_assert_int_eq(task_create(ADMIN_P, ticket, f, NULL), TK_EINTERNAL);
    ck_assert_ptr_null(res.body);
    ck_assert_int_eq(count_rows(), before);

    free(q("DROP TRIGGER test_boom ON history"));
    free(q("DROP FUNCTION test_boom()"));

    ck_assert_int_eq(task_create(ADMIN_P, ticket, f, NULL), TK_CREATED);
    tk_form_free(f);
    ck_assert_int_eq(task_complete(ADMIN_P, a), TK_NO_CONTENT);
}
END_TEST


static Suite *
newticket_suite(void)
{
    Suite  *s;
    TCase  *tc;

    s = suite_create("newticket");

    tc = add_tcase(s, "new", db_setup, teardown, 60);
    tcase_add_test(tc, new_ok);
    tcase_add_test(tc, new_by_email);
    tcase_add_test(tc, new_unknown_requester);
    tcase_add_test(tc, new_validation);
    tcase_add_test(tc, new_explicit);
    tcase_add_test(tc, new_defaults);
    tcase_add_test(tc, new_member);
    tcase_add_test(tc, new_idempotency);
    tcase_add_test(tc, new_uploads);
    tcase_add_test(tc, new_rollback);

    tc = add_tcase(s, "list", db_setup, teardown, 60);
    tcase_add_test(tc, list_pages);
    tcase_add_test(tc, list_errors);
    tcase_add_test(tc, list_member);
    tcase_add_test(tc, list_same_as_get);

    tc = add_tcase(s, "tasks", db_setup, teardown, 60);
    tcase_add_test(tc, task_create_ok);
    tcase_add_test(tc, task_create_errors);
    tcase_add_test(tc, task_create_idempotency);
    tcase_add_test(tc, task_list_ok);
    tcase_add_test(tc, task_complete_ok);
    tcase_add_test(tc, task_rollback);

    return s;
}


/* What the tests made goes, so that they can run again. */
static int
cleanup(PGconn *c)
{
    return exec_script(c,
        "BEGIN;"
        DELETE_TICKETS(MARK)
        "DELETE FROM idempotency_keys WHERE key LIKE '" KEY "%';"
        "DELETE FROM users WHERE user_name = '" LISTER "';"
        "DROP TRIGGER IF EXISTS test_boom ON attachments;"
        "DROP TRIGGER IF EXISTS test_boom ON history;"
        "DROP FUNCTION IF EXISTS test_boom();"
        "UPDATE settings SET value = v FROM (VALUES"
        " ('default_site_id', '1'), ('default_status_id', '1'),"
        " ('default_priority_id', '2'), ('default_category_id', '1'),"
        " ('default_tier_level_id', '1')) AS s(k, v) WHERE key = k;"
        "COMMIT");
}


/* A clean start, and the user of the list tests. */
static int
prepare(PGconn *c)
{
    return cleanup(c)
        && exec_script(c, "INSERT INTO users (user_name, email, full_name,"
                       " role) VALUES ('" LISTER "', 'lister@example.com',"
                       " 'List Tester', 'Member')");
}


int
main(void)
{
    return db_main(newticket_suite, prepare, cleanup);
}
