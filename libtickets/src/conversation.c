/*
 * Conversations: forward, reply, note and requester reply, each stored
 * with its uploads and its email in one transaction; a ticket's
 * conversations; the download of an attachment.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "db.h"
#include "idem.h"
#include "outbox.h"
#include "model.h"
#include "result.h"
#include "settings.h"
#include "ticket.h"
#include "upload.h"
#include "valid.h"


/* The conversation c as the API shows it (SPEC 3.10). */
#define TK__CONV_JSON                                                         \
    "json_build_object('id', c.id, 'type', c.type, 'title', c.title,"         \
    " 'message', c.message, 'sendTo', c.send_to, 'ccTo', c.cc_to,"            \
    " 'isPrivate', c.is_private,"                                             \
    " 'createdBy', " TK__PERSON("c.created_by_id") ","                        \
    " 'createdOn', iso_utc(c.created_on),"                                    \
    " 'attachments', " TK__ATTACHMENTS("a.conversation_id = c.id") ")"

/* White space around an address, as tk__valid_email_list trims it. */
#define TK__CONV_TRIM(x)  "btrim(" x ", E' \\t\\r\\n')"


/*
 * $10: a reply or forward by staff, the ticket's first response when it
 * has none yet, with its firstRespondedOn history row by $9.
 */
static const tk__stmt_t  tk__conv_insert_stmt = {
    "tk_conv_insert",
    "WITH c AS ("
    " INSERT INTO conversations (ticket_id, type, title, message, send_to,"
    " cc_to, is_private, has_draft, created_by_id)"
    " VALUES ($1::bigint, $2, $3, $4, $5, $6, $7::boolean, $8::boolean, $9)"
    " RETURNING id"
    "), f AS ("
    " UPDATE tickets SET first_responded_on = now()"
    " WHERE id = $1::bigint AND $10::boolean AND first_responded_on IS NULL"
    " RETURNING id, first_responded_on"
    "), h AS ("
    " INSERT INTO history (ticket_id, field, old_value, new_value,"
    " changed_by_id)"
    " SELECT f.id, 'firstRespondedOn', NULL, iso_utc(f.first_responded_on),"
    " $9 FROM f"
    ")"
    " SELECT id FROM c",
    10
};

/*
 * The conversation as stored, with the payload and the recipients of its
 * email: $2 when given, else every address of SendTo and CcTo once, in
 * their order.
 */
static const tk__stmt_t  tk__conv_answer_stmt = {
    "tk_conv_answer",
    "SELECT " TK__CONV_JSON ","
    " json_build_object('ticketId', t.id, 'title', t.title,"
    " 'subject', c.title, 'message', c.message, 'conversationId', c.id,"
    " 'sendTo', c.send_to, 'ccTo', c.cc_to,"
    " 'attachments', (SELECT coalesce(json_agg(a.id ORDER BY a.id), '[]')"
    " FROM attachments a WHERE a.conversation_id = c.id)),"
    " CASE WHEN $2::text IS NOT NULL THEN json_build_array($2::text)"
    " ELSE (SELECT coalesce(json_agg(r.addr ORDER BY r.n), '[]')"
    " FROM (SELECT DISTINCT ON (lower(" TK__CONV_TRIM("s.x") "))"
    " " TK__CONV_TRIM("s.x") " AS addr, s.n"
    " FROM regexp_split_to_table(concat_ws(',', c.send_to, c.cc_to), '[,;]')"
    " WITH ORDINALITY AS s(x, n)"
    " WHERE " TK__CONV_TRIM("s.x") " <> ''"
    " ORDER BY lower(" TK__CONV_TRIM("s.x") "), s.n) r) END"
    " FROM conversations c JOIN tickets t ON t.id = c.ticket_id"
    " WHERE c.id = $1::bigint",
    2
};

static const tk__stmt_t  tk__conv_user_stmt = {
    "tk_conv_user",
    "SELECT id FROM users WHERE lower(user_name) = lower($1)",
    1
};

/*
 * As reopen does it: the timestamps cleared, a history row by $3 for each
 * of status, resolvedOn and closedOn that changes (in that order, as
 * resolve.c writes them), the close links of the resolution dead.  No row
 * when the status $2 does not exist: the ticket stays as it is.
 */
static const tk__stmt_t  tk__conv_reopen_stmt = {
    "tk_conv_reopen",
    "WITH b AS ("
    " SELECT t.status_id, t.resolved_on, t.closed_on FROM tickets t"
    " WHERE t.id = $1::bigint"
    "), u AS ("
    " UPDATE tickets t SET status_id = n.id, resolved_on = NULL,"
    " closed_on = NULL"
    " FROM statuses o, statuses n"
    " WHERE t.id = $1::bigint AND o.id = t.status_id AND n.id = $2::int"
    " RETURNING n.id, o.name AS old_name, n.name AS new_name,"
    " t.resolved_on, t.closed_on"
    "), h AS ("
    " INSERT INTO history (ticket_id, field, old_value, new_value,"
    " changed_by_id)"
    " SELECT $1::bigint, c.field, c.old_value, c.new_value, $3::text"
    " FROM u, b, LATERAL (VALUES"
    " (1, 'status', u.old_name, u.new_name, b.status_id <> u.id),"
    " (2, 'resolvedOn', iso_utc(b.resolved_on), iso_utc(u.resolved_on),"
    " b.resolved_on IS DISTINCT FROM u.resolved_on),"
    " (3, 'closedOn', iso_utc(b.closed_on), iso_utc(u.closed_on),"
    " b.closed_on IS DISTINCT FROM u.closed_on)"
    " ) AS c(ord, field, old_value, new_value, changed)"
    " WHERE c.changed ORDER BY c.ord"
    "), l AS ("
    " UPDATE close_links SET expires_on = now()"
    " WHERE ticket_id = $1::bigint AND used_on IS NULL"
    " AND expires_on > now() AND EXISTS (SELECT FROM u)"
    ")"
    " SELECT old_name, new_name FROM u",
    3
};

/* $2: a Member's user id, who sees only their own ticket, no private note */
static const tk__stmt_t  tk__conv_list_stmt = {
    "tk_conv_list",
    "SELECT (SELECT coalesce(json_agg(" TK__CONV_JSON
    " ORDER BY c.created_on, c.id), '[]')"
    " FROM conversations c WHERE c.ticket_id = t.id"
    " AND ($2::text IS NULL OR NOT c.is_private))"
    " FROM tickets t"
    " WHERE t.id = $1::bigint AND NOT t.is_deleted"
    " AND ($2::text IS NULL OR t.requester_id = $2)",
    2
};

/* The read rules of the ticket, and of the conversation when there is one. */
static const tk__stmt_t  tk__attachment_get_stmt = {
    "tk_attachment_get",
    "SELECT a.content, a.content_type, a.file_name"
    " FROM attachments a JOIN tickets t ON t.id = a.ticket_id"
    " LEFT JOIN conversations c ON c.id = a.conversation_id"
    " WHERE a.id = $1::bigint AND NOT t.is_deleted"
    " AND ($2::text IS NULL OR (t.requester_id = $2"
    " AND NOT coalesce(c.is_private, false)))",
    2
};


/* One conversation to store, as read from the form and decided on. */
typedef struct {
    const char  *title;
    const char  *message;
    const char  *send_to;
    const char  *cc_to;
    const char  *username;          /* reqreply: who replies */
    const char  *notify_to;         /* the email's only recipient, if set */
    char         created_by[64];    /* "": the principal */
    int          is_private;
    int          has_draft;
} tk__conv_t;

/* What differs between the endpoints that store a conversation. */
typedef struct {
    const char          *scope;     /* of the Idempotency-Key */
    const char *const   *names;     /* the fields that make the request */
    const char          *type;      /* conversations.type */
    const char          *event;     /* of the email, NULL: none */
    int                  code;      /* of the answer */
    int                  compat;    /* an unknown ticket is 400, not 404 */
    int                  responds;  /* by staff: the first response */
    int                (*parse)(const tk_form_t *form, tk__conv_t *cv,
                                cJSON **errors);
    /* in the transaction, with the ticket locked; NULL: nothing to do */
    int                (*decide)(tk_conn_t *c, const tk_principal_t *p,
                                 const tk__ticket_row_t *t, tk__conv_t *cv,
                                 tk_result_t *res);
} tk__conv_op_t;


/* Addresses separated by commas or semicolons. */
static int
tk__conv_addresses(const tk_form_t *form, const char *name, int required,
    const char **out, cJSON **errors)
{
    if (tk__text_field(form, name, required, 0, out, errors) != TK_OK) {
        return TK_ENOMEM;
    }

    if (*out != NULL && !tk__valid_email_list(*out)) {
        *out = NULL;
        return tk__error_add(errors, name, "The %s field is not a valid "
                             "e-mail address.", name);
    }

    return TK_OK;
}


static int
tk__conv_invalid(const char *name, const char *s, cJSON **errors)
{
    char  echo[68];

    if (tk__utf8_count(s) < 0) {
        return tk__error_add(errors, name,
                             "The field %s contains invalid UTF-8.", name);
    }

    return tk__error_add(errors, name, "The value '%s' is not valid for %s.",
                         tk__echo(s, strlen(s), echo), name);
}


static int
tk__conv_bool(const tk_form_t *form, const char *name, int dflt, int *out,
    cJSON **errors)
{
    const char  *s;

    *out = dflt;
    s = tk_form_get(form, name);

    if (tk__blank(s)) {
        return TK_OK;
    }

    if (tk__parse_bool(s, out) != TK_OK) {
        *out = dflt;
        return tk__conv_invalid(name, s, errors);
    }

    return TK_OK;
}


/* Id: required, and the path's; *mismatch when it is another number. */
static int
tk__conv_id(const tk_form_t *form, int64_t id, int *mismatch,
    cJSON **errors)
{
    const char  *s;
    int64_t      v;

    *mismatch = 0;
    s = tk_form_get(form, "Id");

    if (tk__blank(s)) {
        return tk__error_add(errors, "Id", "The Id field is required.");
    }

    if (tk__parse_id(s, INT64_MAX, &v) != TK_OK) {
        return tk__conv_invalid("Id", s, errors);
    }

    *mismatch = v != id;
    return TK_OK;
}


/* ApiReplyTicket */
static int
tk__conv_parse_reply(const tk_form_t *form, tk__conv_t *cv, cJSON **errors)
{
    if (tk__text_field(form, "Title", 1, 255, &cv->title, errors) != TK_OK
        || tk__conv_addresses(form, "SendTo", 1, &cv->send_to, errors)
           != TK_OK
        || tk__conv_addresses(form, "CcTo", 0, &cv->cc_to, errors) != TK_OK
        || tk__text_field(form, "Message", 0, 0, &cv->message, errors)
           != TK_OK)
    {
        return TK_ENOMEM;
    }

    return TK_OK;
}


/* ApiForwardTicket: a reply's fields and HasDraft */
static int
tk__conv_parse_forward(const tk_form_t *form, tk__conv_t *cv,
    cJSON **errors)
{
    if (tk__conv_parse_reply(form, cv, errors) != TK_OK) {
        return TK_ENOMEM;
    }

    return tk__conv_bool(form, "HasDraft", 0, &cv->has_draft, errors);
}


static int
tk__conv_parse_note(const tk_form_t *form, tk__conv_t *cv, cJSON **errors)
{
    if (tk__text_field(form, "Message", 1, 0, &cv->message, errors) != TK_OK)
    {
        return TK_ENOMEM;
    }

    return tk__conv_bool(form, "IsPrivate", 1, &cv->is_private, errors);
}


/* ReqReplyTicket */
static int
tk__conv_parse_reqreply(const tk_form_t *form, tk__conv_t *cv,
    cJSON **errors)
{
    if (tk__text_field(form, "Username", 1, 255, &cv->username, errors)
        != TK_OK
        || tk__text_field(form, "Title", 1, 255, &cv->title, errors) != TK_OK
        || tk__text_field(form, "Message", 0, 0, &cv->message, errors)
           != TK_OK)
    {
        return TK_ENOMEM;
    }

    return TK_OK;
}


/* A Member's note is never private: they could not see it themselves. */
static int
tk__conv_decide_note(tk_conn_t *c, const tk_principal_t *p,
    const tk__ticket_row_t *t, tk__conv_t *cv, tk_result_t *res)
{
    if (p->role == TK_ROLE_MEMBER) {
        cv->is_private = 0;
    }

    return TK_OK;
}


/*
 * A Resolved or Closed ticket that is not locked goes back to the reopen
 * status.  The reply itself records why: no Reopen conversation.
 */
static int
tk__conv_reopen(tk_conn_t *c, const tk__ticket_row_t *t, const char *by,
    tk_result_t *res)
{
    const char  *v[3];
    PGresult    *r;
    long         status;
    char         sid[24];

    if ((strcmp(t->status_type, "Resolved") != 0
         && strcmp(t->status_type, "Closed") != 0) || t->is_locked)
    {
        return TK_OK;
    }

    if (tk__setting_int(c, "reopen_status_id", 0, &status, res) != TK_OK) {
        return res->code;
    }

    /* unset: the reply is kept, the status left as it is */
    if (status <= 0) {
        return TK_OK;
    }

    snprintf(sid, sizeof(sid), "%ld", status);
    v[0] = t->id;
    v[1] = sid;
    v[2] = by;

    /* the history rows are written by the statement itself */
    r = tk__exec(c, &tk__conv_reopen_stmt, v, res);
    if (r == NULL) {
        return res->code;
    }

    PQclear(r);
    return TK_OK;
}


/*
 * Only the requester replies: themselves, or an Integration principal on
 * their behalf.  A Member's view of another's ticket never gets here.
 */
static int
tk__conv_decide_reqreply(tk_conn_t *c, const tk_principal_t *p,
    const tk__ticket_row_t *t, tk__conv_t *cv, tk_result_t *res)
{
    const char  *v[1] = { cv->username };
    PGresult    *r;
    int          found, on;

    r = tk__exec(c, &tk__conv_user_stmt, v, res);
    if (r == NULL) {
        return res->code;
    }

    found = PQntuples(r) == 1;
    if (found) {
        snprintf(cv->created_by, sizeof(cv->created_by), "%s",
                 tk__val(r, 0, 0));
    }
    PQclear(r);

    if (!found) {
        return tk__fail(res, TK_EINVAL, "User not found");
    }

    if (p->role != TK_ROLE_INTEGRATION
        && strcmp(cv->created_by, p->user_id) != 0)
    {
        return tk__fail(res, TK_EFORBIDDEN,
                        "Username must name the authenticated user");
    }

    if (strcmp(cv->created_by, t->requester_id) != 0) {
        return tk__fail(res, TK_EFORBIDDEN,
                        "only the requester may reply to ticket %s", t->id);
    }

    if (tk__conv_reopen(c, t, cv->created_by, res) != TK_OK) {
        return res->code;
    }

    if (tk__setting_bool(c, "notify_technician_on_requester_reply", 0, &on,
                         res)
        != TK_OK)
    {
        return res->code;
    }

    if (on && t->assignee_email[0] != '\0'
        && strcmp(t->assignee_id, cv->created_by) != 0)
    {
        cv->notify_to = t->assignee_email;
    }

    return TK_OK;
}


/*
 * Stores the conversation on the ticket, in one transaction: with its
 * uploads, the first response, the ticket's new version, its email in the
 * outbox and the Idempotency-Key's answer.  The answer is the
 * conversation as stored.
 */
static int
tk__conv_store(tk_conn_t *c, const tk_principal_t *p, int64_t id,
    const tk_form_t *form, const char *key, const char *sha,
    const tk__conv_op_t *op, tk__conv_t *cv, tk_result_t *res)
{
    tk__ticket_row_t   t;
    const char        *v[10];
    const char        *recipients;
    PGresult          *r;
    char               conv_id[24];

    if (tk__write_begin(c, p, key, sha, res) != 0) {
        return res->code;
    }

    if (tk__ticket_lock(c, p, id, &t, res) != TK_OK) {
        if (res->code == TK_ENOTFOUND && op->compat) {
            tk__fail(res, TK_EINVAL, "Ticket not found");
        }
        goto failed;
    }

    if (op->decide != NULL && op->decide(c, p, &t, cv, res) != TK_OK) {
        goto failed;
    }

    v[0] = t.id;
    v[1] = op->type;
    v[2] = cv->title;
    v[3] = cv->message;
    v[4] = cv->send_to;
    v[5] = cv->cc_to;
    v[6] = cv->is_private ? "true" : "false";
    v[7] = cv->has_draft ? "true" : "false";
    v[8] = cv->created_by[0] != '\0' ? cv->created_by : p->user_id;
    v[9] = op->responds && tk_is_staff(p) ? "true" : "false";

    r = tk__exec(c, &tk__conv_insert_stmt, v, res);
    if (r == NULL) {
        goto failed;
    }
    snprintf(conv_id, sizeof(conv_id), "%s",
             tk__val(r, 0, 0) ? tk__val(r, 0, 0) : "");
    PQclear(r);

    if (tk__uploads_store(c, p, form, t.id, conv_id, res) != TK_OK
        || tk__ticket_touch(c, t.id, res) != TK_OK)
    {
        goto failed;
    }

    v[0] = conv_id;
    v[1] = cv->notify_to;

    r = tk__exec(c, &tk__conv_answer_stmt, v, res);
    if (r == NULL) {
        goto failed;
    }

    recipients = tk__val(r, 0, 2);
    if (op->event != NULL && recipients != NULL
        && strcmp(recipients, "[]") != 0
        && tk__outbox_add(c, "email", op->event, t.id, recipients,
                          tk__val(r, 0, 1), res) != TK_OK)
    {
        PQclear(r);
        goto failed;
    }

    if (tk__take_body(r, res) != TK_OK) {
        goto failed;
    }

    res->code = op->code;
    res->id = op->code == TK_CREATED ? id : 0;
    return tk__write_commit(c, p, key, res);

failed:

    return tk__write_failed(c, res);
}


/*
 * The steps every conversation endpoint takes, in the order idem.h asks
 * for: a retry is answered before validation; then the form; then the
 * write.
 */
static int
tk__conv_post(tk_conn_t *c, const tk_principal_t *p, int64_t id,
    const tk_form_t *form, const char *key, const tk__conv_op_t *op,
    tk_result_t *res)
{
    tk__conv_t   cv;
    cJSON       *errors = NULL;
    char         scope[48], sha[65];
    int          mismatch;

    memset(&cv, 0, sizeof(cv));

    snprintf(scope, sizeof(scope), "%s:%lld", op->scope, (long long) id);
    if (tk__write_replay(c, p, key, scope, form, op->names, sha, res) != 0) {
        return res->code;
    }

    if (tk__conv_id(form, id, &mismatch, &errors) != TK_OK
        || op->parse(form, &cv, &errors) != TK_OK)
    {
        cJSON_Delete(errors);
        return tk__fail(res, TK_ENOMEM, "out of memory");
    }

    if (errors != NULL) {
        return tk__errors_answer(&errors, res);
    }

    if (mismatch) {
        return tk__fail(res, TK_EINVAL, "ID mismatch");
    }

    return tk__conv_store(c, p, id, form, key, key != NULL ? sha : NULL, op,
                          &cv, res);
}


int
tk_ticket_forward(tk_conn_t *c, const tk_principal_t *p, int64_t id,
    const tk_form_t *form, const char *idempotency_key, tk_result_t *res)
{
    static const char *const    names[] = {
        "Id", "Title", "SendTo", "CcTo", "Message", "HasDraft", NULL
    };
    static const tk__conv_op_t  op = {
        "forward", names, "Forward", "Forward", TK_OK, 1, 1,
        tk__conv_parse_forward, NULL
    };

    if (!(p->perms & TK_PERM_FORWARD)) {
        return tk__fail(res, TK_EFORBIDDEN, "Tickets.Forward is required");
    }

    return tk__conv_post(c, p, id, form, idempotency_key, &op, res);
}


int
tk_ticket_reply(tk_conn_t *c, const tk_principal_t *p, int64_t id,
    const tk_form_t *form, const char *idempotency_key, tk_result_t *res)
{
    static const char *const    names[] = {
        "Id", "Title", "SendTo", "CcTo", "Message", NULL
    };
    static const tk__conv_op_t  op = {
        "reply", names, "Reply", "Reply", TK_OK, 1, 1,
        tk__conv_parse_reply, NULL
    };

    if (!(p->perms & TK_PERM_REPLY)) {
        return tk__fail(res, TK_EFORBIDDEN, "Tickets.Reply is required");
    }

    return tk__conv_post(c, p, id, form, idempotency_key, &op, res);
}


int
tk_ticket_note(tk_conn_t *c, const tk_principal_t *p, int64_t id,
    const tk_form_t *form, const char *idempotency_key, tk_result_t *res)
{
    static const char *const    names[] = {
        "Id", "Message", "IsPrivate", NULL
    };
    static const tk__conv_op_t  op = {
        "note", names, "Note", NULL, TK_CREATED, 0, 0,
        tk__conv_parse_note, tk__conv_decide_note
    };

    if (!(p->perms & TK_PERM_REPLY)) {
        return tk__fail(res, TK_EFORBIDDEN, "Tickets.Reply is required");
    }

    return tk__conv_post(c, p, id, form, idempotency_key, &op, res);
}


/* No permission: who may reply is decided by the ticket's requester. */
int
tk_ticket_reqreply(tk_conn_t *c, const tk_principal_t *p, int64_t id,
    const tk_form_t *form, const char *idempotency_key, tk_result_t *res)
{
    static const char *const    names[] = {
        "Id", "Username", "Title", "Message", NULL
    };
    static const tk__conv_op_t  op = {
        "reqreply", names, "RequesterReply", "RequesterReply", TK_OK, 1, 0,
        tk__conv_parse_reqreply, tk__conv_decide_reqreply
    };

    return tk__conv_post(c, p, id, form, idempotency_key, &op, res);
}


int
tk_ticket_conversations(tk_conn_t *c, const tk_principal_t *p, int64_t id,
    tk_result_t *res)
{
    if (id <= 0) {
        return tk__fail(res, TK_ENOTFOUND, "no ticket %lld", (long long) id);
    }

    return tk__ticket_read(c, p, id, &tk__conv_list_stmt, res);
}


/*
 * A Content-Type sent back as it came only when it is a bare
 * type/subtype of RFC 9110 tokens: anything else could be read as
 * something else by a browser.
 */
static int
tk__plain_type(const char *s)
{
    static const char  tchar[] = "!#$%&'*+-.^_`|~";
    size_t             i, slash = 0;
    int                c;

    for (i = 0; s[i] != '\0'; i++) {
        c = (unsigned char) s[i];
        if (c == '/' && slash == 0 && i > 0) {
            slash = i;
        } else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
                     || (c >= '0' && c <= '9')
                     || (c != '\0' && strchr(tchar, c) != NULL)))
        {
            return 0;
        }
    }

    return slash > 0 && slash + 1 < i && i < 128;
}


/* At most outlen - 1 bytes of s, cut at the start of a character. */
static void
tk__copy_utf8(char *out, size_t outlen, const char *s)
{
    size_t  len = strlen(s);

    if (len >= outlen) {
        for (len = outlen - 1; len > 0 && (s[len] & 0xc0) == 0x80; len--) {
            /* back to the start of the cut character */
        }
    }

    memcpy(out, s, len);
    out[len] = '\0';
}


int
tk_attachment_get(tk_conn_t *c, const tk_principal_t *p,
    int64_t attachment_id, tk_result_t *res)
{
    const char     *v[2];
    const char     *type;
    unsigned char  *bytes;
    PGresult       *r;
    size_t          len;
    char            ids[24];

    if (attachment_id <= 0) {
        return tk__fail(res, TK_ENOTFOUND, "no attachment %lld",
                        (long long) attachment_id);
    }

    snprintf(ids, sizeof(ids), "%lld", (long long) attachment_id);
    v[0] = ids;
    v[1] = p->role == TK_ROLE_MEMBER ? p->user_id : NULL;

    r = tk__exec(c, &tk__attachment_get_stmt, v, res);
    if (r == NULL) {
        return res->code;
    }

    if (PQntuples(r) != 1 || tk__val(r, 0, 0) == NULL) {
        PQclear(r);
        return tk__fail(res, TK_ENOTFOUND, "no attachment %s", ids);
    }

    bytes = PQunescapeBytea((const unsigned char *) tk__val(r, 0, 0), &len);
    if (bytes == NULL) {
        PQclear(r);
        return tk__fail(res, TK_ENOMEM, "out of memory");
    }

    free(res->body);
    res->body = malloc(len + 1);
    if (res->body == NULL) {
        PQfreemem(bytes);
        PQclear(r);
        return tk__fail(res, TK_ENOMEM, "out of memory");
    }

    memcpy(res->body, bytes, len);
    res->body[len] = '\0';
    res->body_len = len;
    PQfreemem(bytes);

    type = tk__val(r, 0, 1);
    tk__copy_utf8(res->content_type, sizeof(res->content_type),
                  type != NULL && tk__plain_type(type)
                  ? type : "application/octet-stream");
    tk__copy_utf8(res->filename, sizeof(res->filename),
                  tk__val(r, 0, 2) ? tk__val(r, 0, 2) : "file");

    PQclear(r);
    res->code = TK_OK;
    return TK_OK;
}
