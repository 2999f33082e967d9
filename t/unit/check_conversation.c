/*
 * Unit tests of conversations (libtickets/src/conversation.c): forward,
 * reply, note, requester reply, the list and attachment downloads,
 * against a real PostgreSQL: TICKETS_TEST_DB is its conninfo, migrated
 * and with the demo data loaded.  The tests make their own tickets.
 */


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"


/* every ticket the tests make says this, so that they can go again */
#define MARK     "check_conversation: a test ticket."
/* and every Idempotency-Key starts so */
#define KEY      "check_conversation-"


static char  lock_days[32];
static char  notify[32];


/*
 * A history value as text to compare: 'ISO' for a date as iso_utc()
 * writes it (it must also parse as one), else the value itself.
 */
#define ISO(v)                                                                \
    "CASE WHEN " v " ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:"        \
    "[0-9]{2}Z$' THEN CASE WHEN (" v ")::timestamptz IS NOT NULL"             \
    " THEN 'ISO' END ELSE " v " END"

/* The history of a ticket as "field|old|new|by,..." oldest first, with
 * each date as ISO; "" when it has none. */
#define HISTORY_OF                                                            \
    "SELECT coalesce(string_agg(format('%s|%s|%s|%s', field, "               \
    ISO("old_value") ", " ISO("new_value") ", changed_by_id), ','"           \
    " ORDER BY id), '') FROM history WHERE ticket_id = $1::bigint"

/* The ticket's firstRespondedOn history rows hold its first_responded_on
 * as iso_utc() writes it. */
static void
assert_first_response_history(const char *id)
{
    assert_q("t",
             "SELECT bool_and(h.new_value = iso_utc(t.first_responded_on))"
             " FROM history h JOIN tickets t ON t.id = h.ticket_id"
             " WHERE h.ticket_id = $1::bigint"
             " AND h.field = 'firstRespondedOn'", id);
}


/*
 * A ticket of the requester with the assignee (NULL: none) in a status;
 * closed days ago when the status is Closed.  Its id, in a static buffer
 * of each of a few slots.
 */
static const char *
ticket(const char *requester, const char *assignee, int status, int days)
{
    static char  ids[8][24];
    static int   next;
    char         st[16], d[16], *id;
    const char  *out;

    snprintf(st, sizeof(st), "%d", status);
    snprintf(d, sizeof(d), "%d", days);

    id = q("INSERT INTO tickets (title, description, requester_id,"
           " assignee_id, created_by_id, site_id, department_id, status_id,"
           " resolved_on, closed_on)"
           " VALUES ('Conversation test', '" MARK "', $1, $2, '" ADMIN "',"
           " 1, 1, $3::int,"
           " CASE WHEN $3::int IN (5, 6) THEN now() END,"
           " CASE WHEN $3::int = 6 THEN now() - $4::int * interval '1 day'"
           " END) RETURNING id", requester, assignee, st, d);
    ck_assert_ptr_nonnull(id);

    out = ids[next++ % 8];
    snprintf((char *) out, 24, "%s", id);
    free(id);
    return out;
}


static int64_t
tid(const char *id)
{
    return strtoll(id, NULL, 10);
}


static const char *const  conv_keys[] = {
    "id", "type", "title", "message", "sendTo", "ccTo", "isPrivate",
    "createdBy", "createdOn", "attachments", NULL
};

static const char *const  att_keys[] = {
    "id", "fileName", "contentType", "size", "sha256", NULL
};


typedef int (*tk_op_t)(tk_conn_t *, const tk_principal_t *, int64_t,
    const tk_form_t *, const char *, tk_result_t *);

/* Runs op and frees the form: its code. */
static int
run(tk_op_t op, tk_principal_t p, const char *id, tk_form_t *f,
    const char *key)
{
    int  rc;

    rc = CALL(op(conn, &p, tid(id), f, key, &res));
    if (rc < 0) {
        ck_assert_ptr_null(res.body);
    }
    tk_form_free(f);
    return rc;
}


/* The rows that a failed write must not leave behind. */
static long
count_rows(void)
{
    return qn("SELECT (SELECT count(*) FROM conversations)"
              " + (SELECT count(*) FROM attachments)"
              " + (SELECT count(*) FROM outbox)"
              " + (SELECT count(*) FROM history)"
              " + (SELECT count(*) FROM idempotency_keys)"
              " + (SELECT sum(version) FROM tickets)");
}


/* A failure with exactly one field error, msg. */
static void
assert_invalid(tk_op_t op, const char *id, tk_form_t *f, const char *field,
    const char *msg)
{
    long  before = count_rows();

    ck_assert_int_eq(run(op, ADMIN_P, id, f, NULL), TK_EINVAL);
    assert_field_error(field, msg);
    ck_assert_int_eq(count_rows(), before);
}


static void
teardown(void)
{
    free(q("UPDATE settings SET value = nullif($1, '')"
           " WHERE key = 'lock_closed_after_days'", lock_days));
    free(q("UPDATE settings SET value = nullif($1, '')"
           " WHERE key = 'notify_technician_on_requester_reply'", notify));
    free(q("DROP TRIGGER IF EXISTS test_conv_boom ON outbox"));
    db_teardown();
}


static int download(tk_principal_t p, const char *aid);


/* Reply and forward --------------------------------------------------- */

START_TEST(reply_ok)
{
    const char    *id = ticket(MEMBER1, TECH1, 1, 0);
    const cJSON   *by;
    cJSON         *j;
    char           cid[24], *outbox;
    long           version;

    version = qn("SELECT version FROM tickets WHERE id = $1", id);

    ck_assert_int_eq(run(tk_ticket_reply, ADMIN_P, id,
                         form("id", id, "Title", "Re: your printer",
                              "SendTo", " a@x.org; b@y.org ,",
                              "CcTo", "c@z.org, A@X.org",
                              "Message", "Line 1\r\nLine 2 é", NULL),
                         NULL), TK_OK);
    ck_assert_int_eq(res.id, 0);

    j = body_json();
    assert_keys(j, conv_keys);
    ck_assert_str_eq(str(j, "type"), "Reply");
    ck_assert_str_eq(str(j, "title"), "Re: your printer");
    ck_assert_str_eq(str(j, "message"), "Line 1\r\nLine 2 é");
    ck_assert_str_eq(str(j, "sendTo"), " a@x.org; b@y.org ,");
    ck_assert_str_eq(str(j, "ccTo"), "c@z.org, A@X.org");
    ck_assert(cJSON_IsFalse(obj(j, "isPrivate")));
    by = obj(j, "createdBy");
    assert_keys(by, person_keys);
    ck_assert_str_eq(str(by, "id"), ADMIN);
    ck_assert_str_eq(str(by, "userName"), "admin");
    ck_assert_str_eq(str(by, "fullName"), "Ada Admin");
    ck_assert_str_eq(str(by, "email"), "admin@example.com");
    ck_assert_int_eq(strlen(str(j, "createdOn")), 20);
    ck_assert_int_eq(str(j, "createdOn")[19], 'Z');
    ck_assert(cJSON_IsArray(obj(j, "attachments")));
    ck_assert_int_eq(cJSON_GetArraySize(obj(j, "attachments")), 0);
    snprintf(cid, sizeof(cid), "%ld", num(j, "id"));
    cJSON_Delete(j);

    /* stored as answered, by the principal */
    assert_q("Reply|" ADMIN "|false|false", "SELECT type || '|'"
             " || created_by_id || '|' || is_private || '|' || has_draft"
             " FROM conversations"
             " WHERE id = $1", cid);
    ck_assert_int_eq(qn("SELECT count(*) FROM conversations"
                        " WHERE ticket_id = $1", id), 1);
    ck_assert_int_eq(qn("SELECT version FROM tickets WHERE id = $1", id),
                     version + 1);
    assert_q("t", "SELECT first_responded_on > now() - interval '1 minute'"
             " FROM tickets WHERE id = $1", id);
    /* the first response is in the history, by the principal */
    assert_q("firstRespondedOn||ISO|" ADMIN, HISTORY_OF, id);
    assert_first_response_history(id);

    /* one email to every address once, in their order */
    assert_q("1", "SELECT count(*) FROM outbox WHERE ticket_id = $1", id);
    assert_q("email|Reply|{a@x.org,b@y.org,c@z.org}|pending",
             "SELECT channel || '|' || event || '|' || recipients::text || '|'"
             " || status FROM outbox WHERE ticket_id = $1", id);
    outbox = q("SELECT payload->>'ticketId' = $1::text"
               " AND payload->>'conversationId' = $2"
               " AND payload->>'subject' = 'Re: your printer'"
               " AND payload->>'title' = 'Conversation test'"
               " AND payload->>'message' = E'Line 1\\r\\nLine 2 é'"
               " AND payload->>'sendTo' = ' a@x.org; b@y.org ,'"
               " AND payload->>'ccTo' = 'c@z.org, A@X.org'"
               " AND payload->'attachments' = '[]'::jsonb"
               " FROM outbox WHERE ticket_id = $1::bigint", id, cid);
    ck_assert_str_eq(outbox, "t");
    free(outbox);
}
END_TEST


START_TEST(reply_first_response_once)
{
    const char  *id = ticket(MEMBER1, TECH1, 1, 0);
    char        *first;

    /* a reply by an Integration principal is no response of staff */
    ck_assert_int_eq(run(tk_ticket_reply,
                         principal(INTEG, "integration", TK_ROLE_INTEGRATION,
                                   TK_PERM_REPLY), id,
                         form("Id", id, "Title", "t", "SendTo", "a@x.org",
                              NULL), NULL), TK_OK);
    assert_q(NULL, "SELECT first_responded_on FROM tickets WHERE id = $1", id);
    assert_q("", HISTORY_OF, id);

    ck_assert_int_eq(run(tk_ticket_forward, TECH1_P, id,
                         form("Id", id, "Title", "t", "SendTo", "a@x.org",
                              NULL), NULL), TK_OK);
    first = q("SELECT first_responded_on::text FROM tickets WHERE id = $1",
              id);
    ck_assert_ptr_nonnull(first);
    assert_q("firstRespondedOn||ISO|" TECH1, HISTORY_OF, id);
    assert_first_response_history(id);

    free(q("UPDATE tickets SET first_responded_on = first_responded_on"
           " - interval '1 hour' WHERE id = $1", id));
    free(first);
    first = q("SELECT first_responded_on::text FROM tickets WHERE id = $1",
              id);

    ck_assert_int_eq(run(tk_ticket_reply, ADMIN_P, id,
                         form("Id", id, "Title", "t", "SendTo", "a@x.org",
                              NULL), NULL), TK_OK);
    assert_q(first,
             "SELECT first_responded_on::text FROM tickets WHERE id = $1",
             id);
    free(first);
    /* set once: no second history row */
    assert_q("firstRespondedOn||ISO|" TECH1, HISTORY_OF, id);
}
END_TEST


START_TEST(forward_ok)
{
    const char  *id = ticket(MEMBER2, NULL, 2, 0);
    cJSON       *j;
    char         cid[24];

    ck_assert_int_eq(run(tk_ticket_forward, TECH1_P, id,
                         form("Id", id, "Title", "Fwd: VPN",
                              "SendTo", "vendor@example.net",
                              "HasDraft", "TRUE", NULL), NULL), TK_OK);
    j = body_json();
    assert_keys(j, conv_keys);
    ck_assert_str_eq(str(j, "type"), "Forward");
    ck_assert(cJSON_IsNull(obj(j, "message")));
    ck_assert(cJSON_IsNull(obj(j, "ccTo")));
    ck_assert_str_eq(str(obj(j, "createdBy"), "userName"), "tech1");
    snprintf(cid, sizeof(cid), "%ld", num(j, "id"));
    cJSON_Delete(j);

    assert_q("Forward|true",
             "SELECT type || '|' || has_draft FROM conversations"
             " WHERE id = $1", cid);
    assert_q("email|Forward|{vendor@example.net}", "SELECT channel || '|'"
             " || event || '|' || recipients::text FROM outbox"
             " WHERE ticket_id = $1", id);
    /* a forward by staff is the first response too */
    assert_q("firstRespondedOn||ISO|" TECH1, HISTORY_OF, id);
    assert_first_response_history(id);
}
END_TEST


START_TEST(reply_validation)
{
    const char  *id = ticket(MEMBER1, TECH1, 1, 0);
    char         title[300];
    long         before;

    memset(title, 'x', 256);
    title[256] = '\0';

    assert_invalid(tk_ticket_reply, id, form("Id", id, "SendTo", "a@x.org",
                   NULL), "Title", "The Title field is required.");
    assert_invalid(tk_ticket_reply, id, form("Id", id, "Title", "  ",
                   "SendTo", "a@x.org", NULL), "Title",
                   "The Title field is required.");
    assert_invalid(tk_ticket_reply, id, form("Id", id, "Title", title,
                   "SendTo", "a@x.org", NULL), "Title",
                   "The field Title must be a string with a maximum length "
                   "of 255.");
    assert_invalid(tk_ticket_reply, id, form("Id", id, "Title", "t\xff",
                   "SendTo", "a@x.org", NULL), "Title",
                   "The field Title contains invalid UTF-8.");
    assert_invalid(tk_ticket_reply, id, form("Id", id, "Title", "t", NULL),
                   "SendTo", "The SendTo field is required.");
    assert_invalid(tk_ticket_reply, id, form("Id", id, "Title", "t",
                   "SendTo", "not an address", NULL), "SendTo",
                   "The SendTo field is not a valid e-mail address.");
    assert_invalid(tk_ticket_reply, id, form("Id", id, "Title", "t",
                   "SendTo", "a@x.org;b@", NULL), "SendTo",
                   "The SendTo field is not a valid e-mail address.");
    assert_invalid(tk_ticket_reply, id, form("Id", id, "Title", "t",
                   "SendTo", ",;", NULL), "SendTo",
                   "The SendTo field is not a valid e-mail address.");
    assert_invalid(tk_ticket_reply, id, form("Id", id, "Title", "t",
                   "SendTo", "a@x.org", "CcTo", "c@z.org, bad", NULL),
                   "CcTo", "The CcTo field is not a valid e-mail address.");
    assert_invalid(tk_ticket_reply, id, form("Title", "t",
                   "SendTo", "a@x.org", NULL), "Id",
                   "The Id field is required.");
    assert_invalid(tk_ticket_reply, id, form("Id", "12abc", "Title", "t",
                   "SendTo", "a@x.org", NULL), "Id",
                   "The value '12abc' is not valid for Id.");
    assert_invalid(tk_ticket_forward, id, form("Id", id, "Title", "t",
                   "SendTo", "a@x.org", "HasDraft", "maybe", NULL),
                   "HasDraft", "The value 'maybe' is not valid for "
                   "HasDraft.");

    /* every field at once */
    before = count_rows();
    ck_assert_int_eq(run(tk_ticket_reply, ADMIN_P, id,
                         form("Id", "x", "SendTo", "x", "CcTo", "y", NULL),
                         NULL), TK_EINVAL);
    ck_assert_str_eq(res.errors, "{\"Id\":[\"The value 'x' is not valid for "
                     "Id.\"],\"Title\":[\"The Title field is required.\"],"
                     "\"SendTo\":[\"The SendTo field is not a valid e-mail "
                     "address.\"],\"CcTo\":[\"The CcTo field is not a valid "
                     "e-mail address.\"]}");

    /* the path's id, else "ID mismatch" without field errors */
    ck_assert_int_eq(run(tk_ticket_reply, ADMIN_P, id,
                         form("Id", "999999999", "Title", "t",
                              "SendTo", "a@x.org", NULL), NULL), TK_EINVAL);
    ck_assert_str_eq(res.message, "ID mismatch");
    ck_assert_ptr_null(res.errors);
    ck_assert_int_eq(count_rows(), before);
}
END_TEST


START_TEST(reply_access)
{
    const char      *mine = ticket(MEMBER1, TECH1, 1, 0);
    const char      *deleted = ticket(MEMBER1, TECH1, 1, 0);
    tk_principal_t   m1 = MEMBER1_P;
    tk_principal_t   tech = TECH1_P;
    long             before;

    free(q("UPDATE tickets SET (is_deleted, deleted_on) = (true, now())"
           " WHERE id = $1", deleted));
    before = count_rows();

#define REPLY_FORM(id)  form("Id", id, "Title", "t", "SendTo", "a@x.org", NULL)

    /* a missing permission is 403, before anything else */
    ck_assert_int_eq(run(tk_ticket_reply, m1, mine, REPLY_FORM(mine), NULL),
                     TK_EFORBIDDEN);
    ck_assert_int_eq(run(tk_ticket_forward, m1, mine, REPLY_FORM(mine),
                         NULL), TK_EFORBIDDEN);
    ck_assert_int_eq(run(tk_ticket_note, m1, mine,
                         form("Id", mine, "Message", "m", NULL), NULL),
                     TK_EFORBIDDEN);
    tech.perms &= ~TK_PERM_FORWARD;
    ck_assert_int_eq(run(tk_ticket_forward, tech, mine, REPLY_FORM(mine),
                         NULL), TK_EFORBIDDEN);
    /* without Tickets.Forward, a reply is still allowed */
    ck_assert_int_eq(run(tk_ticket_reply, tech, mine, form(NULL), NULL),
                     TK_EINVAL);
    ck_assert_ptr_nonnull(res.errors);

    /* compat: an unknown or deleted ticket is 400 "Ticket not found" */
    ck_assert_int_eq(run(tk_ticket_reply, ADMIN_P, "999999999",
                         REPLY_FORM("999999999"), NULL), TK_EINVAL);
    ck_assert_str_eq(res.message, "Ticket not found");
    ck_assert_ptr_null(res.errors);
    ck_assert_int_eq(run(tk_ticket_forward, ADMIN_P, deleted,
                         REPLY_FORM(deleted), NULL), TK_EINVAL);
    ck_assert_str_eq(res.message, "Ticket not found");

    /* a Member with the permission: another's ticket is just as unknown */
    m1.perms |= TK_PERM_REPLY;
    ck_assert_int_eq(run(tk_ticket_reply,
                         principal(MEMBER2, "member2", TK_ROLE_MEMBER,
                                   TK_PERM_REPLY), mine, REPLY_FORM(mine),
                         NULL), TK_EINVAL);
    ck_assert_str_eq(res.message, "Ticket not found");
    ck_assert_int_eq(count_rows(), before);

    ck_assert_int_eq(run(tk_ticket_reply, m1, mine, REPLY_FORM(mine), NULL),
                     TK_OK);
    /* a Member's reply is not the first response of staff */
    assert_q(NULL,
             "SELECT first_responded_on FROM tickets WHERE id = $1", mine);
    assert_q("", HISTORY_OF, mine);

#undef REPLY_FORM
}
END_TEST


START_TEST(reply_uploads)
{
    const char    *id = ticket(MEMBER1, TECH1, 1, 0);
    static const unsigned char  bin[] = { 0, 1, 2, 0xff, '\r', '\n', 0 };
    const cJSON   *att, *a;
    tk_form_t     *f;
    cJSON         *j;
    char           cid[24], aid[24], zid[24];

    f = form("Id", id, "Title", "logs", "SendTo", "a@x.org", NULL);
    add_file(f, "Uploads", "log.txt", "text/plain", "hello\n", 6);
    add_file(f, "uploads", "dump.zip", "application/zip", bin, sizeof(bin));
    add_file(f, "Uploads", "setup.exe", "application/octet-stream", "MZ", 2);
    add_file(f, "Other", "other.txt", "text/plain", "no", 2);

    ck_assert_int_eq(run(tk_ticket_reply, ADMIN_P, id, f, NULL), TK_OK);
    /* the skipped part is named for the log */
    ck_assert_ptr_nonnull(strstr(res.message, "setup.exe"));

    j = body_json();
    snprintf(cid, sizeof(cid), "%ld", num(j, "id"));
    att = obj(j, "attachments");
    ck_assert_int_eq(cJSON_GetArraySize(att), 2);
    a = cJSON_GetArrayItem(att, 0);
    assert_keys(a, att_keys);
    ck_assert_str_eq(str(a, "fileName"), "log.txt");
    ck_assert_str_eq(str(a, "contentType"), "text/plain");
    ck_assert_int_eq(num(a, "size"), 6);
    ck_assert_str_eq(str(a, "sha256"), "5891b5b522d5df086d0ff0b110fbd9d21bb4"
                     "fc7163af34d08286a2e846f6be03");
    snprintf(aid, sizeof(aid), "%ld", num(a, "id"));
    a = cJSON_GetArrayItem(att, 1);
    ck_assert_str_eq(str(a, "fileName"), "dump.zip");
    ck_assert_int_eq(num(a, "size"), sizeof(bin));
    snprintf(zid, sizeof(zid), "%ld", num(a, "id"));
    cJSON_Delete(j);

    /* kept with the conversation, not as the ticket's own files */
    ck_assert_int_eq(qn("SELECT count(*) FROM attachments WHERE ticket_id"
                        " = $1 AND conversation_id IS NULL", id), 0);
    assert_q(cid,
             "SELECT conversation_id::text FROM attachments WHERE id = $1",
             aid);
    ck_assert_int_eq(qn("SELECT jsonb_array_length(payload->'attachments')"
                        " FROM outbox WHERE ticket_id = $1", id), 2);
    assert_q(aid, "SELECT payload->'attachments'->>0 FROM outbox"
             " WHERE ticket_id = $1", id);

    /* the download of each, byte for byte */
    ck_assert_int_eq(download(MEMBER1_P, zid), TK_OK);
    ck_assert_uint_eq(res.body_len, sizeof(bin));
    ck_assert_int_eq(memcmp(res.body, bin, sizeof(bin)), 0);
    ck_assert_str_eq(res.content_type, "application/zip");
    ck_assert_str_eq(res.filename, "dump.zip");

    ck_assert_int_eq(download(ADMIN_P, aid), TK_OK);
    ck_assert_uint_eq(res.body_len, 6);
    ck_assert_str_eq(res.body, "hello\n");
    ck_assert_str_eq(res.content_type, "text/plain");
    ck_assert_str_eq(res.filename, "log.txt");
}
END_TEST


/* Notes ---------------------------------------------------------------- */

START_TEST(note_ok)
{
    const char      *id = ticket(MEMBER1, TECH1, 1, 0);
    tk_principal_t   m1 = MEMBER1_P;
    cJSON           *j;
    long             outbox;

    outbox = qn("SELECT count(*) FROM outbox");

    ck_assert_int_eq(run(tk_ticket_note, TECH1_P, id,
                         form("Id", id, "Message", "Checked the logs.",
                              NULL), NULL), TK_CREATED);
    ck_assert_int_eq(res.id, tid(id));
    j = body_json();
    assert_keys(j, conv_keys);
    ck_assert_str_eq(str(j, "type"), "Note");
    ck_assert(cJSON_IsNull(obj(j, "title")));
    ck_assert(cJSON_IsNull(obj(j, "sendTo")));
    ck_assert_str_eq(str(j, "message"), "Checked the logs.");
    ck_assert(cJSON_IsTrue(obj(j, "isPrivate")));
    cJSON_Delete(j);

    ck_assert_int_eq(run(tk_ticket_note, TECH1_P, id,
                         form("Id", id, "Message", "Public one.",
                              "isprivate", "false", NULL), NULL),
                     TK_CREATED);
    j = body_json();
    ck_assert(cJSON_IsFalse(obj(j, "isPrivate")));
    cJSON_Delete(j);

    /* no email; no first response */
    ck_assert_int_eq(qn("SELECT count(*) FROM outbox"), outbox);
    assert_q(NULL, "SELECT first_responded_on FROM tickets WHERE id = $1", id);
    assert_q("", HISTORY_OF, id);

    assert_invalid(tk_ticket_note, id, form("Id", id, NULL), "Message",
                   "The Message field is required.");
    assert_invalid(tk_ticket_note, id, form("Id", id, "Message", "m",
                   "IsPrivate", "2", NULL), "IsPrivate",
                   "The value '2' is not valid for IsPrivate.");

    /* 404 for an unknown ticket or a Member's view of another's */
    ck_assert_int_eq(run(tk_ticket_note, ADMIN_P, "999999999",
                         form("Id", "999999999", "Message", "m", NULL),
                         NULL), TK_ENOTFOUND);
    m1.perms |= TK_PERM_REPLY;
    {
        const char  *other = ticket(MEMBER2, NULL, 1, 0);

        ck_assert_int_eq(run(tk_ticket_note, m1, other,
                             form("Id", other, "Message", "m", NULL), NULL),
                         TK_ENOTFOUND);
    }

    /* a Member's own note is never private: they could not see it */
    ck_assert_int_eq(run(tk_ticket_note, m1, id,
                         form("Id", id, "Message", "mine", NULL), NULL),
                     TK_CREATED);
    j = body_json();
    ck_assert(cJSON_IsFalse(obj(j, "isPrivate")));
    cJSON_Delete(j);
}
END_TEST


START_TEST(note_idempotency)
{
    const char  *id = ticket(MEMBER1, TECH1, 1, 0);
    char         key[64], *first;
    long         convs;

    snprintf(key, sizeof(key), KEY "note-%ld", (long) random());

    ck_assert_int_eq(run(tk_ticket_note, TECH1_P, id,
                         form("Id", id, "Message", "once", NULL), key),
                     TK_CREATED);
    first = strdup(res.body);
    convs = qn("SELECT count(*) FROM conversations WHERE ticket_id = $1",
               id);
    ck_assert_int_eq(convs, 1);

    /* the same request again: the first answer, nothing new */
    ck_assert_int_eq(run(tk_ticket_note, TECH1_P, id,
                         form("ID", id, "message", "once", NULL), key),
                     TK_CREATED);
    ck_assert_str_eq(res.body, first);
    ck_assert_int_eq(res.id, tid(id));
    ck_assert_int_eq(qn("SELECT count(*) FROM conversations"
                        " WHERE ticket_id = $1", id), 1);

    /* another request with the key is refused */
    ck_assert_int_eq(run(tk_ticket_note, TECH1_P, id,
                         form("Id", id, "Message", "twice", NULL), key),
                     TK_EINVAL);
    ck_assert_int_eq(qn("SELECT count(*) FROM conversations"
                        " WHERE ticket_id = $1", id), 1);

    /* the same form on another endpoint is another request */
    ck_assert_int_eq(run(tk_ticket_reply, TECH1_P, id,
                         form("Id", id, "Message", "once", NULL), key),
                     TK_EINVAL);
    ck_assert_str_eq(res.message,
                     "Idempotency-Key reused with a different request");

    /* a reply with a key: one conversation, one email */
    snprintf(key, sizeof(key), KEY "reply-%ld", (long) random());
    ck_assert_int_eq(run(tk_ticket_reply, TECH1_P, id,
                         form("Id", id, "Title", "t", "SendTo", "a@x.org",
                              NULL), key), TK_OK);
    free(first);
    first = strdup(res.body);
    ck_assert_int_eq(run(tk_ticket_reply, TECH1_P, id,
                         form("Id", id, "Title", "t", "SendTo", "a@x.org",
                              NULL), key), TK_OK);
    ck_assert_str_eq(res.body, first);
    ck_assert_int_eq(qn("SELECT count(*) FROM outbox WHERE ticket_id = $1",
                        id), 1);
    ck_assert_int_eq(qn("SELECT count(*) FROM conversations"
                        " WHERE ticket_id = $1", id), 2);
    free(first);

    ck_assert_int_eq(run(tk_ticket_note, TECH1_P, id,
                         form("Id", id, "Message", "m", NULL), ""),
                     TK_EINVAL);
}
END_TEST


/* The list --------------------------------------------------------------- */

static int
list(tk_principal_t p, const char *id)
{
    return CALL(tk_ticket_conversations(conn, &p, tid(id), &res));
}


START_TEST(conversations_list)
{
    const char  *id = ticket(MEMBER1, TECH1, 1, 0);
    const char  *other = ticket(MEMBER2, TECH1, 1, 0);
    const cJSON *it;
    cJSON       *j;
    char         types[128];

    ck_assert_int_eq(list(ADMIN_P, id), TK_OK);
    ck_assert_str_eq(res.body, "[]");

    ck_assert_int_eq(run(tk_ticket_reply, TECH1_P, id,
                         form("Id", id, "Title", "t", "SendTo", "a@x.org",
                              NULL), NULL), TK_OK);
    ck_assert_int_eq(run(tk_ticket_note, TECH1_P, id,
                         form("Id", id, "Message", "private", NULL), NULL),
                     TK_CREATED);
    ck_assert_int_eq(run(tk_ticket_note, TECH1_P, id,
                         form("Id", id, "Message", "public",
                              "IsPrivate", "no", NULL), NULL), TK_CREATED);
    /* written earlier than the others: the list is by time */
    free(q("INSERT INTO conversations (ticket_id, type, message,"
           " created_on) VALUES ($1, 'Escalation', 'early',"
           " now() - interval '1 day')", id));

    ck_assert_int_eq(list(TECH1_P, id), TK_OK);
    j = body_json();
    ck_assert_int_eq(cJSON_GetArraySize(j), 4);
    types[0] = '\0';
    cJSON_ArrayForEach(it, j) {
        assert_keys(it, conv_keys);
        strcat(types, str(it, "type"));
        strcat(types, cJSON_IsTrue(obj(it, "isPrivate")) ? "* " : " ");
    }
    ck_assert_str_eq(types, "Escalation Reply Note* Note ");
    ck_assert(cJSON_IsNull(obj(cJSON_GetArrayItem(j, 0), "createdBy")));
    cJSON_Delete(j);

    /* the requester never sees the private note */
    ck_assert_int_eq(list(MEMBER1_P, id), TK_OK);
    j = body_json();
    ck_assert_int_eq(cJSON_GetArraySize(j), 3);
    cJSON_ArrayForEach(it, j) {
        ck_assert(cJSON_IsFalse(obj(it, "isPrivate")));
    }
    cJSON_Delete(j);

    /* another's, unknown, deleted: 404 */
    ck_assert_int_eq(list(MEMBER2_P, id), TK_ENOTFOUND);
    ck_assert_ptr_null(res.body);
    ck_assert_int_eq(list(MEMBER1_P, other), TK_ENOTFOUND);
    ck_assert_int_eq(list(ADMIN_P, "999999999"), TK_ENOTFOUND);
    ck_assert_int_eq(list(ADMIN_P, "0"), TK_ENOTFOUND);
    free(q("UPDATE tickets SET (is_deleted, deleted_on) = (true, now())"
           " WHERE id = $1", id));
    ck_assert_int_eq(list(ADMIN_P, id), TK_ENOTFOUND);
}
END_TEST


/* Requester reply ------------------------------------------------------ */

static int
reqreply(tk_principal_t p, const char *id, const char *username)
{
    return run(tk_ticket_reqreply, p, id,
               form("Id", id, "Username", username, "Title", "Any news?",
                    "Message", "Still broken.", NULL), NULL);
}


START_TEST(reqreply_ok)
{
    const char  *id = ticket(MEMBER1, TECH1, 4, 0);
    cJSON       *j;
    char         cid[24];

    ck_assert_int_eq(reqreply(MEMBER1_P, id, "MEMBER1"), TK_OK);
    j = body_json();
    assert_keys(j, conv_keys);
    ck_assert_str_eq(str(j, "type"), "RequesterReply");
    ck_assert_str_eq(str(j, "title"), "Any news?");
    ck_assert_str_eq(str(j, "message"), "Still broken.");
    ck_assert_str_eq(str(obj(j, "createdBy"), "id"), MEMBER1);
    snprintf(cid, sizeof(cid), "%ld", num(j, "id"));
    cJSON_Delete(j);

    /* not Resolved or Closed: the status stays; no first response */
    assert_q("4", "SELECT status_id::text FROM tickets WHERE id = $1", id);
    assert_q(NULL, "SELECT first_responded_on FROM tickets WHERE id = $1", id);
    ck_assert_int_eq(qn("SELECT count(*) FROM history WHERE ticket_id = $1",
                        id), 0);

    /* the assignee hears of it */
    assert_q("email|RequesterReply|{tech1@example.com}",
             "SELECT channel || '|'"
             " || event || '|' || recipients::text FROM outbox"
             " WHERE ticket_id = $1", id);
    assert_q(cid, "SELECT payload->>'conversationId' FROM outbox"
             " WHERE ticket_id = $1", id);

    /* unless the setting says no, or there is no assignee */
    free(q("UPDATE settings SET value = 'false'"
           " WHERE key = 'notify_technician_on_requester_reply'"));
    ck_assert_int_eq(reqreply(MEMBER1_P, id, "member1"), TK_OK);
    ck_assert_int_eq(qn("SELECT count(*) FROM outbox WHERE ticket_id = $1",
                        id), 1);
    free(q("UPDATE settings SET value = 'true'"
           " WHERE key = 'notify_technician_on_requester_reply'"));
    {
        const char  *nobody = ticket(MEMBER1, NULL, 1, 0);

        ck_assert_int_eq(reqreply(MEMBER1_P, nobody, "member1"), TK_OK);
        ck_assert_int_eq(qn("SELECT count(*) FROM outbox"
                            " WHERE ticket_id = $1", nobody), 0);
    }

    /* an Integration principal on behalf of the requester */
    ck_assert_int_eq(reqreply(INTEG_P, id, "member1"), TK_OK);
    j = body_json();
    ck_assert_str_eq(str(obj(j, "createdBy"), "userName"), "member1");
    cJSON_Delete(j);

    /* staff who requested the ticket themselves */
    {
        const char  *own = ticket(TECH1, TECH2, 1, 0);

        ck_assert_int_eq(reqreply(TECH1_P, own, "tech1"), TK_OK);
        assert_q("{tech2@example.com}", "SELECT recipients::text FROM outbox"
                 " WHERE ticket_id = $1", own);
    }
}
END_TEST


START_TEST(reqreply_refused)
{
    const char      *id = ticket(MEMBER1, TECH1, 5, 0);
    tk_principal_t   m2 = MEMBER2_P;
    long             before = count_rows();

    /* a Member naming another user */
    ck_assert_int_eq(reqreply(MEMBER1_P, id, "member2"), TK_EFORBIDDEN);
    /* staff who is not the requester, by any name */
    ck_assert_int_eq(reqreply(ADMIN_P, id, "admin"), TK_EFORBIDDEN);
    ck_assert_int_eq(reqreply(ADMIN_P, id, "member1"), TK_EFORBIDDEN);
    /* Integration naming someone who is not the requester */
    ck_assert_int_eq(reqreply(INTEG_P, id, "member2"), TK_EFORBIDDEN);
    /* an unknown user */
    ck_assert_int_eq(reqreply(INTEG_P, id, "nobody-at-all"), TK_EINVAL);
    ck_assert_str_eq(res.message, "User not found");
    ck_assert_int_eq(reqreply(MEMBER1_P, id, "nobody-at-all"), TK_EINVAL);
    ck_assert_str_eq(res.message, "User not found");
    /* compat: an unknown ticket, or another's for a Member, is 400 */
    ck_assert_int_eq(reqreply(MEMBER1_P, "999999999", "member1"), TK_EINVAL);
    ck_assert_str_eq(res.message, "Ticket not found");
    ck_assert_int_eq(reqreply(m2, id, "member2"), TK_EINVAL);
    ck_assert_str_eq(res.message, "Ticket not found");

    /* validation */
    assert_invalid(tk_ticket_reqreply, id, form("Id", id, "Title", "t",
                   NULL), "Username", "The Username field is required.");
    assert_invalid(tk_ticket_reqreply, id, form("Id", id,
                   "Username", "member1", NULL), "Title",
                   "The Title field is required.");
    ck_assert_int_eq(run(tk_ticket_reqreply, MEMBER1_P, id,
                         form("Id", "1", "Username", "member1", "Title", "t",
                              NULL), NULL), TK_EINVAL);
    ck_assert_str_eq(res.message, "ID mismatch");

    /* nothing changed, the ticket is still Resolved */
    ck_assert_int_eq(count_rows(), before);
    assert_q("5", "SELECT status_id::text FROM tickets WHERE id = $1", id);
}
END_TEST


START_TEST(reqreply_reopens)
{
    const char  *resolved = ticket(MEMBER1, TECH1, 5, 0);
    const char  *closed = ticket(MEMBER1, TECH1, 6, 0);
    char        *dates;

    dates = q("SELECT iso_utc(resolved_on) || '|' || iso_utc(closed_on)"
              " FROM tickets WHERE id = $1", closed);
    ck_assert_ptr_nonnull(dates);

    /* the close link of the resolution email */
    free(q("INSERT INTO close_links (ticket_id, token_sha256, expires_on)"
           " VALUES ($1, md5(random()::text), now() + interval '1 day')",
           resolved));

    ck_assert_int_eq(reqreply(MEMBER1_P, resolved, "member1"), TK_OK);
    assert_q("t", "SELECT expires_on <= now() FROM close_links"
             " WHERE ticket_id = $1", resolved);
    assert_q("7||",
             "SELECT status_id || '|' || coalesce(resolved_on::text, '')"
             " || '|' || coalesce(closed_on::text, '') FROM tickets"
             " WHERE id = $1", resolved);
    /* the status, then resolvedOn cleared; closedOn was not set */
    assert_q("status|Resolved|Reopened|" MEMBER1
             ",resolvedOn|ISO||" MEMBER1, HISTORY_OF, resolved);
    ck_assert_int_eq(qn("SELECT count(*) FROM conversations"
                        " WHERE ticket_id = $1", resolved), 1);

    /* closed today, locked after 7 days: not locked yet */
    free(q("UPDATE settings SET value = '7'"
           " WHERE key = 'lock_closed_after_days'"));
    ck_assert_int_eq(reqreply(INTEG_P, closed, "member1"), TK_OK);
    assert_q("7", "SELECT status_id::text FROM tickets WHERE id = $1", closed);
    assert_q("status|Closed|Reopened|" MEMBER1 ",resolvedOn|ISO||" MEMBER1
             ",closedOn|ISO||" MEMBER1, HISTORY_OF, closed);
    /* the old values are the dates the ticket had */
    assert_q(dates,
             "SELECT string_agg(old_value, '|' ORDER BY id) FROM history"
             " WHERE ticket_id = $1 AND field IN ('resolvedOn', 'closedOn')",
             closed);
    free(dates);

    /* an unset reopen status: the reply is kept, the status stays */
    {
        const char  *other = ticket(MEMBER1, TECH1, 5, 0);

        free(q("UPDATE settings SET value = NULL"
               " WHERE key = 'reopen_status_id'"));
        ck_assert_int_eq(reqreply(MEMBER1_P, other, "member1"), TK_OK);
        free(q("UPDATE settings SET value = '7'"
               " WHERE key = 'reopen_status_id'"));
        assert_q("5", "SELECT status_id::text FROM tickets WHERE id = $1",
                 other);
    }
}
END_TEST


START_TEST(reqreply_locked)
{
    const char  *closed = ticket(MEMBER1, TECH1, 6, 3);
    long         version;

    /* closed 3 days ago, locked after 2: stored, not reopened */
    free(q("UPDATE settings SET value = '2'"
           " WHERE key = 'lock_closed_after_days'"));
    version = qn("SELECT version FROM tickets WHERE id = $1", closed);

    ck_assert_int_eq(reqreply(MEMBER1_P, closed, "member1"), TK_OK);
    assert_q("6", "SELECT status_id::text FROM tickets WHERE id = $1", closed);
    assert_q("t", "SELECT closed_on IS NOT NULL FROM tickets WHERE id = $1",
             closed);
    ck_assert_int_eq(qn("SELECT count(*) FROM history WHERE ticket_id = $1",
                        closed), 0);
    ck_assert_int_eq(qn("SELECT count(*) FROM conversations"
                        " WHERE ticket_id = $1 AND type = 'RequesterReply'",
                        closed), 1);
    ck_assert_int_eq(qn("SELECT version FROM tickets WHERE id = $1", closed),
                     version + 1);

    /* 0: locked at once */
    free(q("UPDATE settings SET value = '0'"
           " WHERE key = 'lock_closed_after_days'"));
    closed = ticket(MEMBER1, TECH1, 6, 0);
    ck_assert_int_eq(reqreply(MEMBER1_P, closed, "member1"), TK_OK);
    assert_q("6", "SELECT status_id::text FROM tickets WHERE id = $1", closed);
}
END_TEST


/* Attachments ------------------------------------------------------------ */

static int
download(tk_principal_t p, const char *aid)
{
    int  rc;

    rc = CALL(tk_attachment_get(conn, &p, strtoll(aid, NULL, 10), &res));
    if (rc != TK_OK) {
        ck_assert_ptr_null(res.body);
    }
    return rc;
}


/* An attachment of the ticket (and conversation, when not NULL). */
static char *
attachment(const char *id, const char *conv, const char *type)
{
    return q("INSERT INTO attachments (ticket_id, conversation_id, file_name,"
             " content_type, size, sha256, content)"
             " VALUES ($1, $2, 'a.txt', $3, 3, repeat('0', 64), 'abc')"
             " RETURNING id", id, conv, type);
}


START_TEST(attachment_rules)
{
    const char      *id = ticket(MEMBER1, TECH1, 1, 0);
    tk_principal_t   m1 = MEMBER1_P;
    char            *own, *priv, *pub, *cid, *aid;
    size_t           i;
    static const char *const  types[][2] = {
        { "image/png", "image/png" },
        { "application/vnd.ms-excel", "application/vnd.ms-excel" },
        { "text/plain; charset=utf-8", "application/octet-stream" },
        { "text/html\r\nX-Evil: 1", "application/octet-stream" },
        { "text", "application/octet-stream" },
        { "text/", "application/octet-stream" },
        { "/plain", "application/octet-stream" },
        { "a/b/c", "application/octet-stream" },
        { "", "application/octet-stream" }
    };

    own = attachment(id, NULL, "text/plain");

    ck_assert_int_eq(run(tk_ticket_note, TECH1_P, id,
                         form("Id", id, "Message", "secret", NULL), NULL),
                     TK_CREATED);
    cid = q("SELECT max(id)::text FROM conversations WHERE ticket_id = $1",
            id);
    priv = attachment(id, cid, "text/plain");
    free(cid);
    ck_assert_int_eq(run(tk_ticket_note, TECH1_P, id,
                         form("Id", id, "Message", "public", "IsPrivate",
                              "false", NULL), NULL), TK_CREATED);
    cid = q("SELECT max(id)::text FROM conversations WHERE ticket_id = $1",
            id);
    pub = attachment(id, cid, "text/plain");
    free(cid);

    /* staff read everything; the requester all but a private note's */
    ck_assert_int_eq(download(ADMIN_P, priv), TK_OK);
    ck_assert_uint_eq(res.body_len, 3);
    ck_assert_str_eq(res.body, "abc");
    ck_assert_str_eq(res.filename, "a.txt");
    ck_assert_int_eq(download(INTEG_P, priv), TK_OK);
    ck_assert_int_eq(download(m1, own), TK_OK);
    ck_assert_int_eq(download(m1, pub), TK_OK);
    ck_assert_int_eq(download(m1, priv), TK_ENOTFOUND);
    ck_assert_int_eq(download(MEMBER2_P, own), TK_ENOTFOUND);
    ck_assert_int_eq(download(ADMIN_P, "999999999999"), TK_ENOTFOUND);
    ck_assert_int_eq(download(ADMIN_P, "0"), TK_ENOTFOUND);

    /* only a bare type/subtype is sent back as it is */
    for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        aid = attachment(id, NULL, types[i][0]);
        ck_assert_int_eq(download(ADMIN_P, aid), TK_OK);
        ck_assert_msg(strcmp(res.content_type, types[i][1]) == 0,
                      "%s: %s", types[i][0], res.content_type);
        free(aid);
    }

    /* a deleted ticket's files are gone */
    free(q("UPDATE tickets SET (is_deleted, deleted_on) = (true, now())"
           " WHERE id = $1", id));
    ck_assert_int_eq(download(ADMIN_P, own), TK_ENOTFOUND);

    free(own);
    free(priv);
    free(pub);
}
END_TEST


/* Failure ------------------------------------------------------------- */

START_TEST(reply_rollback)
{
    const char  *id = ticket(MEMBER1, TECH1, 5, 0);
    tk_form_t   *f;
    char         key[64];
    long         before;

    snprintf(key, sizeof(key), KEY "rollback-%ld", (long) random());

    /* the last write of the transaction fails: nothing may stay */
    free(q("CREATE OR REPLACE FUNCTION test_conv_boom() RETURNS trigger"
           " LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'boom'; END $$"));
    free(q("CREATE OR REPLACE TRIGGER test_conv_boom BEFORE INSERT ON outbox"
           " FOR EACH ROW EXECUTE FUNCTION test_conv_boom()"));

    before = count_rows();

    f = form("Id", id, "Title", "t", "SendTo", "a@x.org", NULL);
    add_file(f, "Uploads", "ok.txt", "text/plain", "fine", 4);
    ck_assert_int_eq(run(tk_ticket_reply, ADMIN_P, id, f, key),
                     TK_EINTERNAL);
    ck_assert_int_eq(run(tk_ticket_reqreply, MEMBER1_P, id,
                         form("Id", id, "Username", "member1", "Title", "t",
                              NULL), NULL), TK_EINTERNAL);
    ck_assert_int_eq(count_rows(), before);
    assert_q(NULL, "SELECT first_responded_on FROM tickets WHERE id = $1", id);
    assert_q("5", "SELECT status_id::text FROM tickets WHERE id = $1", id);

    free(q("DROP TRIGGER test_conv_boom ON outbox"));
    free(q("DROP FUNCTION test_conv_boom()"));

    /* the connection is usable again, and the key was never taken */
    f = form("Id", id, "Title", "t", "SendTo", "a@x.org", NULL);
    add_file(f, "Uploads", "ok.txt", "text/plain", "fine", 4);
    ck_assert_int_eq(run(tk_ticket_reply, ADMIN_P, id, f, key), TK_OK);
    /* conversation, attachment, outbox, key, version, and the history
     * row of the first response */
    ck_assert_int_eq(count_rows(), before + 6);
    assert_q("firstRespondedOn||ISO|" ADMIN, HISTORY_OF, id);
}
END_TEST


static Suite *
conversation_suite(void)
{
    Suite  *s;
    TCase  *tc;

    s = suite_create("conversation");

    tc = add_tcase(s, "reply", db_setup, teardown, 0);
    tcase_add_test(tc, reply_ok);
    tcase_add_test(tc, reply_first_response_once);
    tcase_add_test(tc, forward_ok);
    tcase_add_test(tc, reply_validation);
    tcase_add_test(tc, reply_access);
    tcase_add_test(tc, reply_uploads);
    tcase_add_test(tc, reply_rollback);

    tc = add_tcase(s, "note", db_setup, teardown, 0);
    tcase_add_test(tc, note_ok);
    tcase_add_test(tc, note_idempotency);
    tcase_add_test(tc, conversations_list);

    tc = add_tcase(s, "reqreply", db_setup, teardown, 0);
    tcase_add_test(tc, reqreply_ok);
    tcase_add_test(tc, reqreply_refused);
    tcase_add_test(tc, reqreply_reopens);
    tcase_add_test(tc, reqreply_locked);

    tc = add_tcase(s, "attachment", db_setup, teardown, 0);
    tcase_add_test(tc, attachment_rules);

    return s;
}


/* The settings the tests change, to put them back after each. */
static int
prepare(PGconn *c)
{
    return read_setting(c, "lock_closed_after_days", lock_days,
                        sizeof(lock_days))
        && read_setting(c, "notify_technician_on_requester_reply", notify,
                        sizeof(notify));
}


/* What the tests made goes, so that they can run again. */
static int
cleanup(PGconn *c)
{
    return exec_script(c,
        "BEGIN;"
        DELETE_TICKETS(MARK)
        "DELETE FROM idempotency_keys WHERE key LIKE '" KEY "%';"
        "DROP TRIGGER IF EXISTS test_conv_boom ON outbox;"
        "DROP FUNCTION IF EXISTS test_conv_boom();"
        "UPDATE settings SET value = '7' WHERE key = 'reopen_status_id'"
        " AND value IS NULL;"
        "COMMIT");
}


int
main(void)
{
    return db_main(conversation_suite, prepare, cleanup);
}
