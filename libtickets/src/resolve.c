/*
 * Tickets: close, resolve, the close link of a resolution, reopen
 * (seed 7, SPEC 3.7-3.9).
 *
 * Each moves a ticket to the status a setting names, through one routine
 * (tk__transition) that writes the status with its timestamps, their
 * history rows, the conversation and its uploads, and touches the ticket;
 * around it each writes its own rows (closure, resolution, close link,
 * outbox), all in one transaction.
 */

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cJSON.h>
#include <openssl/crypto.h>

#include "crypto.h"
#include "db.h"
#include "idem.h"
#include "outbox.h"
#include "result.h"
#include "settings.h"
#include "ticket.h"
#include "upload.h"
#include "valid.h"


/* the status a transition sets, by the setting that names it */
typedef enum {
    TK__TO_RESOLVED = 0,
    TK__TO_CLOSED,
    TK__TO_REOPENED
} tk__target_t;

typedef struct {
    const char  *target;        /* $3 of the transition statement */
    const char  *setting;
    const char  *conversation;  /* its type */
    const char  *title;         /* of the conversation */
    const char  *what;          /* for the message of a missing setting */
} tk__transition_t;

static const tk__transition_t  tk__transitions[] = {
    [TK__TO_RESOLVED] = { "resolved", "resolved_status_id", "Resolution",
                          "Ticket resolved", "Resolved" },
    [TK__TO_CLOSED]   = { "closed", "closed_status_id", "Closure",
                          "Ticket closed", "Closed" },
    [TK__TO_REOPENED] = { "reopened", "reopen_status_id", "Reopen",
                          "Ticket reopened", "reopen" }
};

static const char *const  tk__closure_statuses[] = {
    "Successful", "Unsuccessful", "Cancelled", "Duplicate", "NoResponse"
};

#define TK__NCLOSURE_STATUSES                                                 \
    (int) (sizeof(tk__closure_statuses) / sizeof(tk__closure_statuses[0]))

/*
 * The close link token: base64url(24 random bytes || the first 16 bytes
 * of HMAC-SHA256(close_link_secret, guid || the random bytes)).  The MAC
 * refuses a forged token before any lookup; the database keeps only the
 * SHA-256 of the token.
 */
#define TK__LINK_RANDOM     24
#define TK__LINK_MAC        16
#define TK__LINK_BYTES      (TK__LINK_RANDOM + TK__LINK_MAC)
#define TK__LINK_TOKEN_LEN  TK__BASE64URL_LEN(TK__LINK_BYTES)

#define TK__LINK_TTL_HOURS  168

#define TK__REOPEN_MESSAGE  "The ticket was reopened."
#define TK__CONFIRM_MESSAGE "Closed by the requester from the close link " \
                            "of the resolution."


/*
 * Whether the user that a form names exists ($1, NULL: no user), and the
 * settings these operations read.
 */
static const tk__stmt_t  tk__context_stmt = {
    "tk_resolve_context",
    "SELECT $1::text IS NOT NULL AND EXISTS (SELECT FROM users"
    " WHERE id = $1::text),"
    " (SELECT value FROM settings WHERE key = 'close_link_secret'),"
    " (SELECT value FROM settings WHERE key = 'close_link_ttl_hours'),"
    " (SELECT value FROM settings WHERE key = 'public_base_url'),"
    " (SELECT value FROM settings WHERE key = 'tpi_callback_url')",
    1
};

/*
 * The status that the setting $2 names, with its timestamps ($3 the
 * target), a history row for each of status, resolvedOn and closedOn
 * that changes (in that order; dates as iso_utc() text, as update.c
 * writes them) and the conversation; a reopened ticket's close links die
 * with it.  No row when the setting names no status.  $1 ticket, $4 type,
 * $5 title, $6 message, $7 by.
 */
static const tk__stmt_t  tk__transition_stmt = {
    "tk_resolve_transition",
    "WITH s AS ("
    " SELECT st.id, st.name FROM settings x JOIN statuses st"
    " ON st.id = CASE WHEN x.value ~ '^[0-9]{1,9}$' THEN x.value::int END"
    " WHERE x.key = $2::text"
    "), o AS ("
    " SELECT t.status_id, st.name, t.resolved_on, t.closed_on FROM tickets t"
    " JOIN statuses st ON st.id = t.status_id WHERE t.id = $1::bigint"
    "), u AS ("
    " UPDATE tickets t SET status_id = s.id,"
    " resolved_on = CASE $3::text WHEN 'resolved' THEN now()"
    " WHEN 'closed' THEN t.resolved_on END,"
    " closed_on = CASE $3::text WHEN 'closed' THEN now() END"
    " FROM s WHERE t.id = $1::bigint"
    " RETURNING s.id, s.name, t.resolved_on, t.closed_on"
    "), h AS ("
    " INSERT INTO history (ticket_id, field, old_value, new_value,"
    " changed_by_id)"
    " SELECT $1::bigint, c.field, c.old_value, c.new_value, $7::text"
    " FROM u, o, LATERAL (VALUES"
    " (1, 'status', o.name, u.name, o.status_id <> u.id),"
    " (2, 'resolvedOn', iso_utc(o.resolved_on), iso_utc(u.resolved_on),"
    " o.resolved_on IS DISTINCT FROM u.resolved_on),"
    " (3, 'closedOn', iso_utc(o.closed_on), iso_utc(u.closed_on),"
    " o.closed_on IS DISTINCT FROM u.closed_on)"
    " ) AS c(ord, field, old_value, new_value, changed)"
    " WHERE c.changed ORDER BY c.ord"
    "), cv AS ("
    " INSERT INTO conversations (ticket_id, type, title, message,"
    " created_by_id)"
    " SELECT $1::bigint, $4::text, $5::text, $6::text, $7::text FROM u"
    " RETURNING id"
    "), l AS ("
    " UPDATE close_links SET expires_on = now()"
    " WHERE $3::text = 'reopened' AND ticket_id = $1::bigint"
    " AND used_on IS NULL AND expires_on > now() AND EXISTS (SELECT FROM u)"
    ")"
    " SELECT cv.id, u.name FROM u, cv",
    7
};

/* The single closure of a ticket.  $1 ticket, $2 status, $3 comments,
 * $4 closure comments, $5 closed by, $6 closing date, $7 acknowledged. */
static const tk__stmt_t  tk__closure_stmt = {
    "tk_resolve_closure",
    "INSERT INTO closures (ticket_id, status, comments, closure_comments,"
    " closed_by_id, closing_date, acknowledged)"
    " VALUES ($1::bigint, $2::smallint, $3::text, $4::text, $5::text,"
    " coalesce($6::timestamptz, now()), $7::boolean)"
    " ON CONFLICT (ticket_id) DO UPDATE SET status = EXCLUDED.status,"
    " comments = EXCLUDED.comments,"
    " closure_comments = EXCLUDED.closure_comments,"
    " closed_by_id = EXCLUDED.closed_by_id,"
    " closing_date = EXCLUDED.closing_date,"
    " acknowledged = EXCLUDED.acknowledged",
    7
};

/*
 * The single resolution of a ticket with its history row and a new close
 * link, the older unused links expired.  No row when the ticket is
 * resolved ($4) with this text already: nothing is written then.  $1
 * ticket, $2 text, $3 resolved by, $5 changed by, $6 the SHA-256 of the
 * link's token, $7 its lifetime in hours.
 */
static const tk__stmt_t  tk__resolution_stmt = {
    "tk_resolve_resolution",
    "WITH old AS ("
    " SELECT (SELECT resolution FROM resolutions"
    " WHERE ticket_id = $1::bigint) AS text"
    "), r AS ("
    " INSERT INTO resolutions AS x (ticket_id, resolution, resolved_by_id,"
    " resolved_on)"
    " SELECT $1::bigint, $2::text, $3::text, now() FROM old"
    " WHERE NOT ($4::boolean AND old.text IS NOT DISTINCT FROM $2::text)"
    " ON CONFLICT (ticket_id) DO UPDATE"
    " SET resolution = EXCLUDED.resolution,"
    " resolved_by_id = EXCLUDED.resolved_by_id,"
    " resolved_on = EXCLUDED.resolved_on"
    " RETURNING x.ticket_id, iso_utc(x.resolved_on) AS resolved_on"
    "), h AS ("
    " INSERT INTO history (ticket_id, field, old_value, new_value,"
    " changed_by_id)"
    " SELECT r.ticket_id, 'resolution', old.text, $2::text, $5::text"
    " FROM r, old WHERE old.text IS DISTINCT FROM $2::text"
    "), e AS ("
    " UPDATE close_links SET expires_on = now()"
    " WHERE ticket_id = $1::bigint AND used_on IS NULL"
    " AND expires_on > now() AND EXISTS (SELECT FROM r)"
    "), l AS ("
    " INSERT INTO close_links (ticket_id, token_sha256, expires_on)"
    " SELECT r.ticket_id, $6::text, now() + make_interval(hours => $7::int)"
    " FROM r"
    ")"
    " SELECT r.resolved_on FROM r",
    7
};

static const tk__stmt_t  tk__link_find_stmt = {
    "tk_resolve_link_find",
    "SELECT ticket_id FROM close_links WHERE token_sha256 = $1::text",
    1
};

/*
 * What the page of a link shows, reading only: its ticket and status
 * type, and whether the link can still be used.
 */
static const tk__stmt_t  tk__link_peek_stmt = {
    "tk_resolve_link_peek",
    "SELECT t.id, t.guid::text, st.status_type,"
    " l.used_on IS NULL AND l.expires_on > now()"
    " FROM close_links l JOIN tickets t ON t.id = l.ticket_id"
    " JOIN statuses st ON st.id = t.status_id"
    " WHERE l.token_sha256 = $1::text AND NOT t.is_deleted",
    1
};

/* Takes the link, once: no row when it is used or expired. */
static const tk__stmt_t  tk__link_use_stmt = {
    "tk_resolve_link_use",
    "UPDATE close_links SET used_on = now()"
    " WHERE token_sha256 = $1::text AND used_on IS NULL"
    " AND expires_on > now()"
    " RETURNING id",
    1
};


/* The settings of tk__context_stmt, and whether the named user exists. */
typedef struct {
    PGresult    *r;
    int          user_exists;
    const char  *secret;
    const char  *ttl;
    const char  *base_url;
    const char  *tpi_url;
} tk__context_t;

/* A close or resolve request, checked. */
typedef struct {
    const char  *by;                /* CloseBy, ResolvedBy */
    const char  *text;              /* Comments, Resolution */
    const char  *closure_comments;
    const char  *status;            /* ClosureStatus as its number */
    const char  *closing_date;
    int          acknowledged;
    char         status_num[4];
    char         date[40];
    cJSON       *errors;
    int          nomem;
} tk__req_t;


static int
tk__context(tk_conn_t *c, const char *user_id, tk__context_t *ctx,
    tk_result_t *res)
{
    const char  *v[1] = { user_id };
    const char  *e;

    memset(ctx, 0, sizeof(*ctx));

    ctx->r = tk__exec(c, &tk__context_stmt, v, res);
    if (ctx->r == NULL) {
        return res->code;
    }

    e = tk__val(ctx->r, 0, 0);
    ctx->user_exists = e != NULL && e[0] == 't';
    ctx->secret = tk__val(ctx->r, 0, 1);
    ctx->ttl = tk__val(ctx->r, 0, 2);
    ctx->base_url = tk__val(ctx->r, 0, 3);
    ctx->tpi_url = tk__val(ctx->r, 0, 4);

    if (ctx->secret != NULL && ctx->secret[0] == '\0') {
        ctx->secret = NULL;
    }
    if (ctx->tpi_url != NULL && ctx->tpi_url[0] == '\0') {
        ctx->tpi_url = NULL;
    }

    return TK_OK;
}


/* a field error; running out of memory is kept for tk__req_answer() */
#define TK__REQ_ERROR(req, field, ...)                                        \
    ((req)->nomem |= tk__error_add(&(req)->errors, field, __VA_ARGS__)        \
                     != TK_OK)


/* The value of a text field: NULL when absent or blank. */
static const char *
tk__req_text(const tk_form_t *form, const char *name, int required,
    tk__req_t *req)
{
    const char  *s;

    s = tk_form_get(form, name);

    if (tk__blank(s)) {
        if (required) {
            TK__REQ_ERROR(req, name, "The %s field is required.", name);
        }
        return NULL;
    }

    if (tk__utf8_count(s) < 0) {
        TK__REQ_ERROR(req, name, "The field %s contains invalid UTF-8.",
                      name);
        return NULL;
    }

    return s;
}


static void
tk__req_invalid(tk__req_t *req, const char *name, const char *s)
{
    char  echo[68];

    TK__REQ_ERROR(req, name, "The value '%s' is not valid for %s.",
                  tk__echo(s, strlen(s), echo), name);
}


/* TicketId: required, the id of the path. */
static void
tk__req_ticket_id(const tk_form_t *form, int64_t id, tk__req_t *req)
{
    const char  *s;
    int64_t      v;

    s = tk__req_text(form, "TicketId", 1, req);
    if (s == NULL) {
        return;
    }

    if (tk__parse_id(s, INT64_MAX, &v) != TK_OK) {
        tk__req_invalid(req, "TicketId", s);

    } else if (v != id) {
        TK__REQ_ERROR(req, "TicketId", "The TicketId field must match the "
                      "ticket id of the path.");
    }
}


/* The user a form names, known to exist after tk__req_user_check(). */
static void
tk__req_user(const tk_form_t *form, const char *name, tk__req_t *req)
{
    req->by = tk__req_text(form, name, 1, req);
}


static void
tk__req_user_check(const tk__context_t *ctx, const char *name,
    tk__req_t *req)
{
    char  echo[68];

    if (req->by != NULL && !ctx->user_exists) {
        TK__REQ_ERROR(req, name, "Unknown %s %s.", name,
                      tk__echo(req->by, strlen(req->by), echo));
    }
}


/* The errors gathered, as the answer; TK_OK when there are none. */
static int
tk__req_answer(tk__req_t *req, tk_result_t *res)
{
    if (req->nomem) {
        cJSON_Delete(req->errors);
        req->errors = NULL;
        return tk__fail(res, TK_ENOMEM, "out of memory");
    }

    return req->errors == NULL ? TK_OK
                               : tk__errors_answer(&req->errors, res);
}


/* A Member acts in their own name only. */
static int
tk__req_member(const tk_principal_t *p, const char *field, tk__req_t *req,
    tk_result_t *res)
{
    if (p->role == TK_ROLE_MEMBER && strcmp(req->by, p->user_id) != 0) {
        return tk__fail(res, TK_EFORBIDDEN, "a Member may name only "
                        "themselves as %s", field);
    }

    return TK_OK;
}


/* TK_OK with {"message": text}, nothing changed. */
static int
tk__answer_message(tk_result_t *res, const char *json)
{
    size_t  len = strlen(json);

    free(res->body);
    res->body = malloc(len + 1);
    if (res->body == NULL) {
        res->body_len = 0;
        return tk__fail(res, TK_ENOMEM, "out of memory");
    }

    memcpy(res->body, json, len + 1);
    res->body_len = len;
    res->code = TK_OK;
    return TK_OK;
}


/* A small HTML page for the person who clicked a close link; the text
 * holds nothing from the request but a token that was verified. */
static int
tk__page(tk_result_t *res, int code, const char *title, const char *fmt,
    ...) __attribute__((format(printf, 4, 5)));

static int
tk__page(tk_result_t *res, int code, const char *title, const char *fmt,
    ...)
{
    va_list  ap;
    char     text[1024];
    int      len;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);

    free(res->body);
    res->body = NULL;
    res->body_len = 0;

    len = asprintf(&res->body, "<!DOCTYPE html>\n<html lang=\"en\"><head>"
                   "<meta charset=\"utf-8\"><title>%s</title></head>\n"
                   "<body><h1>%s</h1><p>%s</p></body></html>\n",
                   title, title, text);
    if (len < 0) {
        res->body = NULL;
        return tk__fail(res, TK_ENOMEM, "out of memory");
    }

    res->body_len = (size_t) len;
    snprintf(res->content_type, sizeof(res->content_type),
             "text/html; charset=utf-8");
    res->code = code;
    if (code != TK_OK) {
        snprintf(res->message, sizeof(res->message), "close link: %.480s",
                 text);
    }
    return code;
}


static int
tk__bad_link(tk_result_t *res, const char *why)
{
    tk__page(res, TK_EINVAL, "Link not valid", "This link is not valid: it "
             "may have expired or been used already. Please reply to the "
             "resolution email if the ticket is not solved.");
    if (res->code == TK_EINVAL) {
        snprintf(res->message, sizeof(res->message), "close link: %s", why);
    }
    return res->code;
}


/* The canonical text of a UUID: lower case, hyphenated, no braces. */
static int
tk__guid_canon(const char *s, char out[37])
{
    size_t  i, j;

    if (!tk__valid_uuid(s)) {
        return TK_EINVAL;
    }

    for (i = 0, j = 0; s[i] != '\0' && j < 36; i++) {
        if (s[i] == '{' || s[i] == '}' || s[i] == '-') {
            continue;
        }
        if (j == 8 || j == 13 || j == 18 || j == 23) {
            out[j++] = '-';
        }
        out[j++] = (char) (s[i] >= 'A' && s[i] <= 'F' ? s[i] | 0x20 : s[i]);
    }
    out[j] = '\0';

    return j == 36 ? TK_OK : TK_EINVAL;
}


static int
tk__link_mac(const char *secret, const char *guid, const unsigned char *rnd,
    unsigned char mac[32])
{
    unsigned char  data[36 + TK__LINK_RANDOM];

    memcpy(data, guid, 36);
    memcpy(data + 36, rnd, TK__LINK_RANDOM);

    return tk__hmac_sha256(secret, strlen(secret), data, sizeof(data), mac);
}


/* A new token for the ticket guid and the SHA-256 of it. */
static int
tk__link_token(const char *secret, const char *guid,
    char token[TK__LINK_TOKEN_LEN + 1], char sha[65])
{
    unsigned char  raw[TK__LINK_BYTES], mac[32];
    char           canon[37];

    if (tk__guid_canon(guid, canon) != TK_OK
        || tk__random_bytes(raw, TK__LINK_RANDOM) != TK_OK
        || tk__link_mac(secret, canon, raw, mac) != TK_OK)
    {
        return TK_EINTERNAL;
    }

    memcpy(raw + TK__LINK_RANDOM, mac, TK__LINK_MAC);
    tk__base64url_encode(raw, sizeof(raw), token);
    token[TK__LINK_TOKEN_LEN] = '\0';

    return tk__sha256_hex(token, TK__LINK_TOKEN_LEN, sha);
}


/* 1 when the token is one this secret made for this guid. */
static int
tk__link_verify(const char *secret, const char *guid, const char *token)
{
    unsigned char  raw[TK__BASE64_DECODED_MAX(TK__LINK_TOKEN_LEN)];
    unsigned char  mac[32];
    size_t         len;

    if (secret == NULL || token == NULL
        || strlen(token) != TK__LINK_TOKEN_LEN
        || tk__base64url_decode(token, TK__LINK_TOKEN_LEN, raw, &len)
           != TK_OK
        || len != TK__LINK_BYTES
        || tk__link_mac(secret, guid, raw, mac) != TK_OK)
    {
        return 0;
    }

    return CRYPTO_memcmp(mac, raw + TK__LINK_RANDOM, TK__LINK_MAC) == 0;
}


/* The requester's address and the ticket's Cc, each once, as a JSON
 * array; "[]" when there is none. */
static char *
tk__recipients(const tk__ticket_row_t *t)
{
    cJSON       *list, *item;
    const char  *s, *e;
    char        *out;
    char         addr[sizeof(t->cc)];
    size_t       n;
    int          dup;

    list = cJSON_CreateArray();
    if (list == NULL) {
        return NULL;
    }

    if (t->requester_email[0] != '\0'
        && !cJSON_AddItemToArray(list,
                                 cJSON_CreateString(t->requester_email)))
    {
        cJSON_Delete(list);
        return NULL;
    }

    for (s = t->cc; *s != '\0'; s = *e ? e + 1 : e) {
        e = s + strcspn(s, ",;");
        for (; s < e && strchr(" \t\r\n", *s); s++) { /* trim */ }
        for (n = (size_t) (e - s); n > 0 && strchr(" \t\r\n", s[n - 1]); n--)
        {
            /* trim */
        }
        if (n == 0 || !tk__valid_email(s, n)) {
            continue;
        }

        memcpy(addr, s, n);
        addr[n] = '\0';

        dup = 0;
        cJSON_ArrayForEach(item, list) {
            dup |= strcasecmp(item->valuestring, addr) == 0;
        }

        if (!dup && !cJSON_AddItemToArray(list, cJSON_CreateString(addr))) {
            cJSON_Delete(list);
            return NULL;
        }
    }

    out = cJSON_PrintUnformatted(list);
    cJSON_Delete(list);
    return out;
}


/*
 * An email to the requester and Cc: payload {ticketId, title, subject,
 * message} and closeLink when there is one.  No row when there is no
 * address at all.
 */
static int
tk__notify_requester(tk_conn_t *c, const tk__ticket_row_t *t,
    const char *event, const char *subject, const char *message,
    const char *close_link, tk_result_t *res)
{
    cJSON  *o;
    char   *to, *payload = NULL;
    int     rc;

    to = tk__recipients(t);
    if (to == NULL) {
        return tk__fail(res, TK_ENOMEM, "out of memory");
    }

    if (strcmp(to, "[]") == 0) {
        free(to);
        return TK_OK;
    }

    o = cJSON_CreateObject();
    if (o != NULL
        && cJSON_AddNumberToObject(o, "ticketId", strtod(t->id, NULL))
        && cJSON_AddStringToObject(o, "title", t->title)
        && cJSON_AddStringToObject(o, "subject", subject)
        && (message != NULL ? cJSON_AddStringToObject(o, "message", message)
                            : cJSON_AddNullToObject(o, "message"))
        && (close_link == NULL
            || cJSON_AddStringToObject(o, "closeLink", close_link)))
    {
        payload = cJSON_PrintUnformatted(o);
    }
    cJSON_Delete(o);

    rc = payload != NULL
         ? tk__outbox_add(c, "email", event, t->id, to, payload, res)
         : tk__fail(res, TK_ENOMEM, "out of memory");

    free(payload);
    free(to);
    return rc;
}


/*
 * The one way a ticket changes status here: the status that the target's
 * setting names with its timestamps, their history rows, the conversation
 * with the uploads of form (when form is not NULL), the touch.  status
 * receives the new status's name.  TK_ECONFLICT when the setting names no
 * status.  In the caller's transaction, the ticket locked.
 */
static int
tk__transition(tk_conn_t *c, const tk_principal_t *p,
    const tk__ticket_row_t *t, tk__target_t to, const char *by,
    const char *message, const tk_form_t *form, char status[256],
    tk_result_t *res)
{
    const tk__transition_t  *tr = &tk__transitions[to];
    const char              *v[7];
    PGresult                *r;
    char                     conv[24];

    v[0] = t->id;
    v[1] = tr->setting;
    v[2] = tr->target;
    v[3] = tr->conversation;
    v[4] = tr->title;
    v[5] = message;
    v[6] = by;

    r = tk__exec(c, &tk__transition_stmt, v, res);
    if (r == NULL) {
        return res->code;
    }

    if (PQntuples(r) != 1) {
        PQclear(r);
        return tk__fail(res, TK_ECONFLICT, "no %s status is configured "
                        "(setting %s)", tr->what, tr->setting);
    }

    snprintf(conv, sizeof(conv), "%s", tk__val(r, 0, 0));
    snprintf(status, 256, "%s", tk__val(r, 0, 1));
    PQclear(r);

    if (tk__ticket_touch(c, t->id, res) != TK_OK) {
        return res->code;
    }

    if (form != NULL && tk__uploads_store(c, p, form, t->id, conv, res)
                        != TK_OK)
    {
        return res->code;
    }

    return TK_OK;
}


/* The closure row: shared by close and the close link. */
static int
tk__closure_store(tk_conn_t *c, const char *ticket_id, const tk__req_t *req,
    tk_result_t *res)
{
    const char  *v[7];
    PGresult    *r;

    v[0] = ticket_id;
    v[1] = req->status;
    v[2] = req->text;
    v[3] = req->closure_comments;
    v[4] = req->by;
    v[5] = req->closing_date;
    v[6] = req->acknowledged ? "true" : "false";

    r = tk__exec(c, &tk__closure_stmt, v, res);
    if (r == NULL) {
        return res->code;
    }

    PQclear(r);
    return TK_OK;
}


static void
tk__close_parse(const tk_form_t *form, int64_t id, tk__req_t *req)
{
    const char  *s;
    int          n;

    tk__req_ticket_id(form, id, req);
    tk__req_user(form, "CloseBy", req);

    s = tk__req_text(form, "Acknowledged", 0, req);
    if (s != NULL && tk__parse_bool(s, &req->acknowledged) != TK_OK) {
        tk__req_invalid(req, "Acknowledged", s);
    }

    req->text = tk__req_text(form, "Comments", 0, req);
    req->closure_comments = tk__req_text(form, "ClosureComments", 0, req);

    s = tk__req_text(form, "Status", 0, req);
    if (s != NULL) {
        if (tk__parse_enum(s, tk__closure_statuses, TK__NCLOSURE_STATUSES,
                           &n) != TK_OK)
        {
            tk__req_invalid(req, "Status", s);
        } else {
            snprintf(req->status_num, sizeof(req->status_num), "%d", n);
            req->status = req->status_num;
        }
    }

    s = tk__req_text(form, "ClosingDate", 0, req);
    if (s != NULL) {
        if (tk__parse_datetime(s, req->date) != TK_OK) {
            tk__req_invalid(req, "ClosingDate", s);
        } else {
            req->closing_date = req->date;
        }
    }
}


int
tk_ticket_close(tk_conn_t *c, const tk_principal_t *p, int64_t id,
    const tk_form_t *form, const char *key, tk_result_t *res)
{
    static const char *const  names[] = {
        "TicketId", "CloseBy", "Acknowledged", "Comments", "ClosureComments",
        "Status", "ClosingDate", NULL
    };

    tk__ticket_row_t  t;
    tk__context_t     ctx;
    tk__req_t         req;
    char              status[256], subject[sizeof(t.title) + 64];
    char              sha[65], scope[32];

    if (!(p->perms & TK_PERM_CLOSE)) {
        return tk__fail(res, TK_EFORBIDDEN, "Tickets.Close is required");
    }

    snprintf(scope, sizeof(scope), "close:%lld", (long long) id);
    if (tk__write_replay(c, p, key, scope, form, names, sha, res) != 0) {
        return res->code;
    }

    memset(&req, 0, sizeof(req));
    tk__close_parse(form, id, &req);

    if (tk__context(c, req.by, &ctx, res) != TK_OK) {
        cJSON_Delete(req.errors);
        return res->code;
    }
    tk__req_user_check(&ctx, "CloseBy", &req);
    PQclear(ctx.r);

    if (tk__req_answer(&req, res) != TK_OK
        || tk__req_member(p, "CloseBy", &req, res) != TK_OK)
    {
        return res->code;
    }

    if (tk__write_begin(c, p, key, sha, res) != 0) {
        return res->code;
    }

    if (tk__ticket_lock(c, p, id, &t, res) != TK_OK) {
        goto failed;
    }

    if (strcmp(t.status_type, "Closed") == 0) {
        tk__rollback(c);
        return tk__answer_message(res, "{\"message\":\"Ticket was already "
                                  "closed.\"}");
    }

    if (tk__closure_store(c, t.id, &req, res) != TK_OK
        || tk__transition(c, p, &t, TK__TO_CLOSED, p->user_id, req.text,
                          form, status, res) != TK_OK)
    {
        goto failed;
    }

    if (req.acknowledged) {
        snprintf(subject, sizeof(subject), "Ticket #%s closed: %s", t.id,
                 t.title);
        if (tk__notify_requester(c, &t, "Closed", subject,
                                 req.text ? req.text
                                          : "Your ticket has been closed.",
                                 NULL, res) != TK_OK)
        {
            goto failed;
        }
    }

    res->code = TK_NO_CONTENT;
    return tk__write_commit(c, p, key, res);

failed:

    return tk__write_failed(c, res);
}


/* The TPI callback of a resolution: {ticketId, guid, status, resolution,
 * resolvedBy, resolvedOn}. */
static int
tk__notify_tpi(tk_conn_t *c, const tk__ticket_row_t *t, const char *status,
    const tk__req_t *req, const char *resolved_on, tk_result_t *res)
{
    cJSON  *o;
    char   *payload = NULL;
    int     rc;

    o = cJSON_CreateObject();
    if (o != NULL
        && cJSON_AddNumberToObject(o, "ticketId", strtod(t->id, NULL))
        && cJSON_AddStringToObject(o, "guid", t->guid)
        && cJSON_AddStringToObject(o, "status", status)
        && cJSON_AddStringToObject(o, "resolution", req->text)
        && cJSON_AddStringToObject(o, "resolvedBy", req->by)
        && cJSON_AddStringToObject(o, "resolvedOn", resolved_on))
    {
        payload = cJSON_PrintUnformatted(o);
    }
    cJSON_Delete(o);

    rc = payload != NULL
         ? tk__outbox_add(c, "tpi", "Resolved", t->id, "[]", payload, res)
         : tk__fail(res, TK_ENOMEM, "out of memory");

    free(payload);
    return rc;
}


static int
tk__resolve_store(tk_conn_t *c, const tk_principal_t *p, int64_t id,
    const tk_form_t *form, tk__req_t *req, const tk__context_t *ctx,
    const char *key, const char *key_sha, tk_result_t *res)
{
    tk__ticket_row_t  t;
    const char       *v[7];
    const char       *base;
    PGresult         *r;
    long              ttl;
    size_t            blen;
    char              token[TK__LINK_TOKEN_LEN + 1], sha[65], hours[24];
    char              resolved_on[40], status[256];
    char              subject[sizeof(t.title) + 64];
    char             *link = NULL;

    if (ctx->secret == NULL) {
        return tk__fail(res, TK_ECONFLICT, "no close link secret is "
                        "configured (setting close_link_secret)");
    }

    if (ctx->ttl == NULL || tk__setting_parse_int(ctx->ttl, &ttl) != TK_OK
        || ttl <= 0)
    {
        ttl = TK__LINK_TTL_HOURS;
    }
    snprintf(hours, sizeof(hours), "%ld", ttl);

    if (tk__write_begin(c, p, key, key_sha, res) != 0) {
        return res->code;
    }

    if (tk__ticket_lock(c, p, id, &t, res) != TK_OK) {
        goto failed;
    }

    /* resolving a Closed ticket reopens it: not once it is locked */
    if (t.is_locked) {
        tk__fail(res, TK_ECONFLICT, "Ticket is locked");
        goto failed;
    }

    if (tk__link_token(ctx->secret, t.guid, token, sha) != TK_OK) {
        tk__fail(res, TK_EINTERNAL, "making the close link failed");
        goto failed;
    }

    v[0] = t.id;
    v[1] = req->text;
    v[2] = req->by;
    v[3] = strcmp(t.status_type, "Resolved") == 0 ? "true" : "false";
    v[4] = p->user_id;
    v[5] = sha;
    v[6] = hours;

    r = tk__exec(c, &tk__resolution_stmt, v, res);
    if (r == NULL) {
        goto failed;
    }

    if (PQntuples(r) != 1) {
        PQclear(r);
        tk__rollback(c);
        return tk__answer_message(res, "{\"message\":\"Ticket was already "
                                  "resolved.\"}");
    }

    snprintf(resolved_on, sizeof(resolved_on), "%s", tk__val(r, 0, 0));
    PQclear(r);

    if (tk__transition(c, p, &t, TK__TO_RESOLVED, p->user_id, req->text,
                       form, status, res) != TK_OK)
    {
        goto failed;
    }

    base = ctx->base_url != NULL ? ctx->base_url : "";
    for (blen = strlen(base); blen > 0 && base[blen - 1] == '/'; blen--) {
        /* no double slash */
    }

    if (asprintf(&link, "%.*s/api/TicketsApi/confirm/%s?token=%s",
                 (int) blen, base, t.guid, token) < 0)
    {
        link = NULL;
        tk__fail(res, TK_ENOMEM, "out of memory");
        goto failed;
    }

    snprintf(subject, sizeof(subject), "Ticket #%s resolved: %s", t.id,
             t.title);

    if (tk__notify_requester(c, &t, "Resolved", subject, req->text, link,
                             res) != TK_OK
        || (ctx->tpi_url != NULL
            && tk__notify_tpi(c, &t, status, req, resolved_on, res)
               != TK_OK))
    {
        goto failed;
    }

    free(link);
    res->code = TK_NO_CONTENT;
    return tk__write_commit(c, p, key, res);

failed:

    free(link);
    return tk__write_failed(c, res);
}


int
tk_ticket_resolve(tk_conn_t *c, const tk_principal_t *p, int64_t id,
    const tk_form_t *form, const char *key, tk_result_t *res)
{
    static const char *const  names[] = {
        "TicketId", "ResolvedBy", "Resolution", NULL
    };

    tk__context_t  ctx;
    tk__req_t      req;
    char           sha[65], scope[32];
    int            rc;

    if (!(p->perms & TK_PERM_RESOLVE)) {
        return tk__fail(res, TK_EFORBIDDEN, "Tickets.Resolve is required");
    }

    snprintf(scope, sizeof(scope), "resolve:%lld", (long long) id);
    if (tk__write_replay(c, p, key, scope, form, names, sha, res) != 0) {
        return res->code;
    }

    memset(&req, 0, sizeof(req));
    tk__req_ticket_id(form, id, &req);
    tk__req_user(form, "ResolvedBy", &req);
    req.text = tk__req_text(form, "Resolution", 1, &req);

    if (tk__context(c, req.by, &ctx, res) != TK_OK) {
        cJSON_Delete(req.errors);
        return res->code;
    }
    tk__req_user_check(&ctx, "ResolvedBy", &req);

    rc = tk__req_answer(&req, res);
    if (rc == TK_OK) {
        rc = tk__req_member(p, "ResolvedBy", &req, res);
    }
    if (rc == TK_OK) {
        rc = tk__resolve_store(c, p, id, form, &req, &ctx, key, sha, res);
    }

    PQclear(ctx.r);
    return rc;
}


/*
 * The checks of a close link that need no row: the guid in canonical
 * form, the token's MAC for it, and the SHA-256 the database keys it by.
 */
static int
tk__link_check(tk_conn_t *c, const char *guid, const char *token,
    char canon[37], char sha[65], tk_result_t *res)
{
    tk__context_t  ctx;
    int            ok;

    if (guid == NULL || tk__guid_canon(guid, canon) != TK_OK) {
        return tk__bad_link(res, "not a guid");
    }

    if (tk__context(c, NULL, &ctx, res) != TK_OK) {
        return res->code;
    }
    ok = tk__link_verify(ctx.secret, canon, token);
    PQclear(ctx.r);

    if (!ok) {
        return tk__bad_link(res, "bad signature");
    }

    if (tk__sha256_hex(token, strlen(token), sha) != TK_OK) {
        return tk__fail(res, TK_EINTERNAL, "sha256 failed");
    }

    return TK_OK;
}


/*
 * GET of the link: mail gateways fetch every link of a message, so this
 * only reads.  The page's form posts the token back to the same URL; the
 * token went through tk__link_verify(), so it is base64url and needs no
 * escaping in the attribute.
 */
int
tk_ticket_confirm_page(tk_conn_t *c, const char *guid, const char *token,
    tk_result_t *res)
{
    const char  *v[1];
    PGresult    *r;
    int          usable;
    char         canon[37], sha[65], id[24], type[16];

    if (tk__link_check(c, guid, token, canon, sha, res) != TK_OK) {
        return res->code;
    }
    v[0] = sha;

    r = tk__exec(c, &tk__link_peek_stmt, v, res);
    if (r == NULL) {
        return res->code;
    }

    if (PQntuples(r) != 1 || strcasecmp(tk__val(r, 0, 1), canon) != 0) {
        PQclear(r);
        return tk__bad_link(res, "unknown token");
    }

    snprintf(id, sizeof(id), "%s", tk__val(r, 0, 0));
    snprintf(type, sizeof(type), "%s", tk__val(r, 0, 2));
    usable = tk__val(r, 0, 3)[0] == 't';
    PQclear(r);

    if (!usable) {
        return tk__bad_link(res, "used or expired");
    }

    if (strcmp(type, "Closed") == 0) {
        return tk__page(res, TK_OK, "Ticket closed", "Ticket #%s is "
                        "closed already. Thank you.", id);
    }

    if (strcmp(type, "Resolved") != 0) {
        return tk__page(res, TK_EINVAL, "Ticket not resolved", "Ticket #%s "
                        "was reopened: this link no longer closes it.", id);
    }

    return tk__page(res, TK_OK, "Close your ticket", "Ticket #%s was "
                    "resolved. If the problem is solved, confirm it and the "
                    "ticket will be closed.</p>\n"
                    "<form method=\"post\" action=\"\">"
                    "<input type=\"hidden\" name=\"token\" value=\"%s\">"
                    "<button type=\"submit\">Close ticket #%s</button>"
                    "</form><p>If it is not solved, just reply to the "
                    "resolution email.", id, token, id);
}


/* POST of the link: closes the ticket as acknowledged by the requester. */
int
tk_ticket_confirm(tk_conn_t *c, const char *guid, const char *token,
    tk_result_t *res)
{
    tk__ticket_row_t  t;
    tk__req_t         req;
    const char       *v[1];
    PGresult         *r;
    int64_t           tid;
    int               ok;
    char              canon[37], sha[65], status[256];

    if (tk__link_check(c, guid, token, canon, sha, res) != TK_OK) {
        return res->code;
    }
    v[0] = sha;

    /* the ticket first, then its link: the order every write takes */
    r = tk__exec(c, &tk__link_find_stmt, v, res);
    if (r == NULL) {
        return res->code;
    }
    ok = PQntuples(r) == 1
         && tk__parse_id(tk__val(r, 0, 0), INT64_MAX, &tid) == TK_OK;
    PQclear(r);

    if (!ok) {
        return tk__bad_link(res, "unknown token");
    }

    if (tk__begin(c, res) != TK_OK) {
        return res->code;
    }

    if (tk__ticket_lock(c, NULL, tid, &t, res) != TK_OK) {
        if (res->code != TK_ENOTFOUND) {
            goto failed;
        }
        tk__rollback(c);
        return tk__bad_link(res, "ticket deleted");
    }

    if (strcasecmp(t.guid, canon) != 0) {
        tk__rollback(c);
        return tk__bad_link(res, "guid does not match");
    }

    r = tk__exec(c, &tk__link_use_stmt, v, res);
    if (r == NULL) {
        goto failed;
    }
    ok = PQntuples(r) == 1;
    PQclear(r);

    if (!ok) {
        tk__rollback(c);
        return tk__bad_link(res, "used or expired");
    }

    if (strcmp(t.status_type, "Closed") == 0) {
        if (tk__commit(c, res) != TK_OK) {
            goto failed;
        }
        return tk__page(res, TK_OK, "Ticket closed", "Ticket #%s is "
                        "closed already. Thank you.", t.id);
    }

    if (strcmp(t.status_type, "Resolved") != 0) {
        tk__rollback(c);
        return tk__page(res, TK_EINVAL, "Ticket not resolved", "Ticket #%s "
                        "was reopened: this link no longer closes it.",
                        t.id);
    }

    memset(&req, 0, sizeof(req));
    req.by = t.requester_id;
    req.text = TK__CONFIRM_MESSAGE;
    req.status = "0";                   /* Successful */
    req.acknowledged = 1;

    /* no email: the requester is the one who clicked */
    if (tk__closure_store(c, t.id, &req, res) != TK_OK
        || tk__transition(c, NULL, &t, TK__TO_CLOSED, t.requester_id,
                          req.text, NULL, status, res) != TK_OK
        || tk__commit(c, res) != TK_OK)
    {
        goto failed;
    }

    return tk__page(res, TK_OK, "Ticket closed",
                    "Thank you \xe2\x80\x94 ticket #%s is closed.", t.id);

failed:

    tk__rollback(c);
    return res->code;
}


int
tk_ticket_reopen(tk_conn_t *c, const tk_principal_t *p, int64_t id,
    const char *key, tk_result_t *res)
{
    tk__ticket_row_t  t;
    char              status[256], sha[65], scope[32];

    if (!(p->perms & TK_PERM_UPDATE)) {
        return tk__fail(res, TK_EFORBIDDEN, "Tickets.Update is required");
    }

    snprintf(scope, sizeof(scope), "reopen:%lld", (long long) id);
    if (tk__write_replay(c, p, key, scope, NULL, NULL, sha, res) != 0
        || tk__write_begin(c, p, key, sha, res) != 0)
    {
        return res->code;
    }

    if (tk__ticket_lock(c, p, id, &t, res) != TK_OK) {
        goto failed;
    }

    if (strcmp(t.status_type, "Resolved") != 0
        && strcmp(t.status_type, "Closed") != 0)
    {
        tk__rollback(c);
        return tk__answer_message(res, "{\"message\":\"Ticket is already "
                                  "open.\"}");
    }

    if (t.is_locked) {
        tk__fail(res, TK_ECONFLICT, "Ticket is locked");
        goto failed;
    }

    if (tk__transition(c, p, &t, TK__TO_REOPENED, p->user_id,
                       TK__REOPEN_MESSAGE, NULL, status, res) != TK_OK)
    {
        goto failed;
    }

    res->code = TK_NO_CONTENT;
    return tk__write_commit(c, p, key, res);

failed:

    return tk__write_failed(c, res);
}
