/*
 * Webhook subscriptions (docs/webhooks.md): the Admin API over the
 * webhooks table.  The events themselves are written by the triggers of
 * sql/010_webhooks.sql, in the transaction of each change, and delivered
 * by deliver.c like every other outbox row.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cJSON.h>

#include "crypto.h"
#include "db.h"
#include "deliver.h"
#include "result.h"
#include "valid.h"


#define TK__WEBHOOK_URL_MAX  2000
#define TK__WEBHOOK_EVENTS   11


static const char *const  tk__webhook_events[TK__WEBHOOK_EVENTS] = {
    "ticket.created", "ticket.updated", "ticket.status_changed",
    "ticket.assigned", "conversation.added", "ticket.resolved",
    "ticket.closed", "ticket.reopened", "ticket.escalated",
    "ticket.deleted", "ticket.sla_breached"
};


#define TK__WEBHOOK_JSON                                                      \
    "json_build_object('id', w.id, 'url', w.url,"                             \
    " 'events', to_json(w.events), 'active', w.is_active,"                    \
    " 'pausedReason', w.paused_reason, 'pausedOn', iso_utc(w.paused_on),"     \
    " 'consecutiveFailures', w.consecutive_failures,"                         \
    " 'lastSuccessOn', iso_utc(w.last_success_on),"                           \
    " 'lastFailureOn', iso_utc(w.last_failure_on),"                           \
    " 'lastError', w.last_error, 'createdOn', iso_utc(w.created_on),"         \
    " 'updatedOn', iso_utc(w.updated_on))"

#define TK__DELIVERY_JSON                                                     \
    "json_build_object('id', o.id, 'uuid', o.uuid, 'webhookId', o.webhook_id,"\
    " 'event', o.event, 'ticketId', o.ticket_id, 'status', o.status,"         \
    " 'attempts', o.attempts,"                                                \
    " 'nextAttemptOn', CASE WHEN o.status = 'pending'"                        \
    " THEN iso_utc(o.next_attempt_on) END,"                                   \
    " 'lastAttemptOn', iso_utc(o.last_attempt_on),"                           \
    " 'lastError', o.last_error, 'createdOn', iso_utc(o.created_on),"         \
    " 'sentOn', iso_utc(o.sent_on), 'payload', o.payload)"


static const tk__stmt_t  tk__webhook_list_stmt = {
    "tk_webhook_list",
    "SELECT coalesce(json_agg(" TK__WEBHOOK_JSON " ORDER BY w.id), '[]')"
    " FROM webhooks w",
    0
};

static const tk__stmt_t  tk__webhook_get_stmt = {
    "tk_webhook_get",
    "SELECT " TK__WEBHOOK_JSON " FROM webhooks w WHERE w.id = $1::bigint",
    1
};

/* $1 url, $2 events (a JSON array), $3 active, $4 secret, $5 principal */
static const tk__stmt_t  tk__webhook_insert_stmt = {
    "tk_webhook_insert",
    "WITH w AS ("
    " INSERT INTO webhooks (url, events, is_active, paused_reason, paused_on,"
    " secret, created_by_id)"
    " SELECT $1::text, ARRAY(SELECT jsonb_array_elements_text($2::jsonb)),"
    " $3::boolean, CASE WHEN NOT $3::boolean"
    " THEN 'paused by an administrator' END,"
    " CASE WHEN NOT $3::boolean THEN now() END, $4::text, $5::text"
    " RETURNING *"
    ")"
    " SELECT w.id, (" TK__WEBHOOK_JSON "::jsonb"
    " || jsonb_build_object('secret', w.secret))::text FROM w",
    5
};

/* $1 id, $2 url or NULL, $3 events or NULL, $4 active or NULL */
static const tk__stmt_t  tk__webhook_update_stmt = {
    "tk_webhook_update",
    "WITH w AS ("
    " UPDATE webhooks x SET url = coalesce($2::text, x.url),"
    " events = CASE WHEN $3::jsonb IS NULL THEN x.events"
    " ELSE ARRAY(SELECT jsonb_array_elements_text($3::jsonb)) END,"
    " is_active = coalesce($4::boolean, x.is_active),"
    " consecutive_failures = CASE WHEN $4::boolean AND NOT x.is_active"
    " THEN 0 ELSE x.consecutive_failures END,"
    " paused_reason = CASE WHEN $4::boolean THEN NULL"
    " WHEN NOT $4::boolean AND x.is_active"
    " THEN 'paused by an administrator' ELSE x.paused_reason END,"
    " paused_on = CASE WHEN $4::boolean THEN NULL"
    " WHEN NOT $4::boolean AND x.is_active THEN now() ELSE x.paused_on END,"
    " updated_on = now()"
    " WHERE x.id = $1::bigint RETURNING *"
    ")"
    " SELECT " TK__WEBHOOK_JSON " FROM w",
    4
};

static const tk__stmt_t  tk__webhook_delete_stmt = {
    "tk_webhook_delete",
    "DELETE FROM webhooks WHERE id = $1::bigint RETURNING id",
    1
};

/* no row: no webhook; else the newest 100 deliveries */
static const tk__stmt_t  tk__webhook_deliveries_stmt = {
    "tk_webhook_deliveries",
    "SELECT (SELECT coalesce(json_agg(d.j ORDER BY d.id DESC), '[]')"
    " FROM (SELECT o.id, " TK__DELIVERY_JSON " AS j FROM outbox o"
    " WHERE o.webhook_id = w.id ORDER BY o.id DESC LIMIT 100) d)"
    " FROM webhooks w WHERE w.id = $1::bigint",
    1
};

/*
 * Columns: the webhook exists, is active, the delivery exists, is leased,
 * the delivery as it is now (queued again when it could be).
 */
static const tk__stmt_t  tk__webhook_redeliver_stmt = {
    "tk_webhook_redeliver",
    "WITH w AS (SELECT id, is_active FROM webhooks WHERE id = $1::bigint),"
    " d AS (SELECT o.id, coalesce(o.lease_until > now(), false) AS leased"
    " FROM outbox o JOIN w ON o.webhook_id = w.id WHERE o.id = $2::bigint),"
    " u AS ("
    " UPDATE outbox o SET status = 'pending', attempts = 0, sent_on = NULL,"
    " next_attempt_on = now(), lease_until = NULL, last_error = NULL"
    " FROM d, w WHERE o.id = d.id AND NOT d.leased AND w.is_active"
    " RETURNING o.*"
    ")"
    " SELECT EXISTS (SELECT FROM w), coalesce((SELECT is_active FROM w),"
    " false), EXISTS (SELECT FROM d), coalesce((SELECT leased FROM d),"
    " false), (SELECT " TK__DELIVERY_JSON " FROM u o)",
    2
};


static int tk__webhook_admin(const tk_principal_t *p, tk_result_t *res);
static int tk__webhook_url_ok(const char *url);
static int tk__webhook_read(const tk_form_t *form, int create,
    const char **url, char **events, const char **active, tk_result_t *res);
static int tk__webhook_fields(const tk_form_t *form, int create,
    const char **url, char **events, const char **active, cJSON **errors);


int
tk_webhook_list(tk_conn_t *c, const tk_principal_t *p, tk_result_t *res)
{
    PGresult  *r;

    if (tk__webhook_admin(p, res) != TK_OK) {
        return res->code;
    }

    r = tk__exec(c, &tk__webhook_list_stmt, NULL, res);
    if (r == NULL) {
        return res->code;
    }

    return tk__take_body(r, res);
}


int
tk_webhook_get(tk_conn_t *c, const tk_principal_t *p, int64_t id,
    tk_result_t *res)
{
    PGresult    *r;
    const char  *v[1];
    char         sid[24];

    if (tk__webhook_admin(p, res) != TK_OK) {
        return res->code;
    }

    snprintf(sid, sizeof(sid), "%lld", (long long) id);
    v[0] = sid;

    r = tk__exec(c, &tk__webhook_get_stmt, v, res);
    if (r == NULL) {
        return res->code;
    }

    if (tk__val(r, 0, 0) == NULL) {
        PQclear(r);
        return tk__fail(res, TK_ENOTFOUND, "No webhook %lld.",
                        (long long) id);
    }

    return tk__take_body(r, res);
}


int
tk_webhook_create(tk_conn_t *c, const tk_principal_t *p,
    const tk_form_t *form, tk_result_t *res)
{
    PGresult       *r;
    const char     *url, *active, *v[5];
    char           *events;
    unsigned char   raw[32];
    char            secret[6 + 64 + 1];
    int             on;

    if (tk__webhook_admin(p, res) != TK_OK) {
        return res->code;
    }

    if (tk__webhook_read(form, 1, &url, &events, &active, res) != TK_OK) {
        return res->code;
    }

    on = 1;
    if (active != NULL) {
        tk__parse_bool(active, &on);
    }

    if (tk__random_bytes(raw, sizeof(raw)) != TK_OK) {
        free(events);
        return tk__fail(res, TK_EINTERNAL, "no random bytes for a secret");
    }

    memcpy(secret, "whsec_", 6);
    tk__hex(raw, sizeof(raw), secret + 6);
    secret[sizeof(secret) - 1] = '\0';

    v[0] = url;
    v[1] = events;
    v[2] = on ? "true" : "false";
    v[3] = secret;
    v[4] = p->user_id;

    r = tk__exec(c, &tk__webhook_insert_stmt, v, res);
    free(events);

    if (r == NULL) {
        return res->code;
    }

    res->id = strtoll(tk__val(r, 0, 0), NULL, 10);

    free(res->body);
    res->body = strdup(tk__val(r, 0, 1));
    PQclear(r);

    if (res->body == NULL) {
        return tk__fail(res, TK_ENOMEM, "out of memory");
    }

    res->body_len = strlen(res->body);

    return TK_CREATED;
}


int
tk_webhook_update(tk_conn_t *c, const tk_principal_t *p, int64_t id,
    const tk_form_t *form, tk_result_t *res)
{
    PGresult    *r;
    const char  *url, *active, *v[4];
    char        *events;
    char         sid[24];
    int          on;

    if (tk__webhook_admin(p, res) != TK_OK) {
        return res->code;
    }

    if (tk__webhook_read(form, 0, &url, &events, &active, res) != TK_OK) {
        return res->code;
    }

    on = 0;
    if (active != NULL) {
        tk__parse_bool(active, &on);
    }

    snprintf(sid, sizeof(sid), "%lld", (long long) id);

    v[0] = sid;
    v[1] = url;
    v[2] = events;
    v[3] = active != NULL ? (on ? "true" : "false") : NULL;

    r = tk__exec(c, &tk__webhook_update_stmt, v, res);
    free(events);

    if (r == NULL) {
        return res->code;
    }

    if (PQntuples(r) == 0) {
        PQclear(r);
        return tk__fail(res, TK_ENOTFOUND, "No webhook %lld.",
                        (long long) id);
    }

    return tk__take_body(r, res);
}


int
tk_webhook_delete(tk_conn_t *c, const tk_principal_t *p, int64_t id,
    tk_result_t *res)
{
    PGresult    *r;
    const char  *v[1];
    char         sid[24];
    int          n;

    if (tk__webhook_admin(p, res) != TK_OK) {
        return res->code;
    }

    snprintf(sid, sizeof(sid), "%lld", (long long) id);
    v[0] = sid;

    r = tk__exec(c, &tk__webhook_delete_stmt, v, res);
    if (r == NULL) {
        return res->code;
    }

    n = PQntuples(r);
    PQclear(r);

    if (n == 0) {
        return tk__fail(res, TK_ENOTFOUND, "No webhook %lld.",
                        (long long) id);
    }

    return TK_NO_CONTENT;
}


int
tk_webhook_deliveries(tk_conn_t *c, const tk_principal_t *p, int64_t id,
    tk_result_t *res)
{
    PGresult    *r;
    const char  *v[1];
    char         sid[24];

    if (tk__webhook_admin(p, res) != TK_OK) {
        return res->code;
    }

    snprintf(sid, sizeof(sid), "%lld", (long long) id);
    v[0] = sid;

    r = tk__exec(c, &tk__webhook_deliveries_stmt, v, res);
    if (r == NULL) {
        return res->code;
    }

    if (PQntuples(r) == 0) {
        PQclear(r);
        return tk__fail(res, TK_ENOTFOUND, "No webhook %lld.",
                        (long long) id);
    }

    return tk__take_body(r, res);
}


int
tk_webhook_redeliver(tk_conn_t *c, const tk_principal_t *p, int64_t id,
    int64_t delivery_id, tk_result_t *res)
{
    PGresult    *r;
    const char  *v[2];
    char         sid[24], did[24];

    if (tk__webhook_admin(p, res) != TK_OK) {
        return res->code;
    }

    snprintf(sid, sizeof(sid), "%lld", (long long) id);
    snprintf(did, sizeof(did), "%lld", (long long) delivery_id);
    v[0] = sid;
    v[1] = did;

    r = tk__exec(c, &tk__webhook_redeliver_stmt, v, res);
    if (r == NULL) {
        return res->code;
    }

    if (tk__val(r, 0, 0)[0] != 't') {
        PQclear(r);
        return tk__fail(res, TK_ENOTFOUND, "No webhook %lld.",
                        (long long) id);
    }

    if (tk__val(r, 0, 2)[0] != 't') {
        PQclear(r);
        return tk__fail(res, TK_ENOTFOUND, "No delivery %lld of webhook "
                        "%lld.", (long long) delivery_id, (long long) id);
    }

    if (tk__val(r, 0, 1)[0] != 't') {
        PQclear(r);
        return tk__fail(res, TK_ECONFLICT, "Webhook %lld is paused; "
                        "activate it first.", (long long) id);
    }

    if (tk__val(r, 0, 3)[0] == 't' || tk__val(r, 0, 4) == NULL) {
        PQclear(r);
        return tk__fail(res, TK_ECONFLICT, "Delivery %lld is being sent "
                        "now.", (long long) delivery_id);
    }

    free(res->body);
    res->body = strdup(tk__val(r, 0, 4));
    PQclear(r);

    if (res->body == NULL) {
        return tk__fail(res, TK_ENOMEM, "out of memory");
    }

    res->body_len = strlen(res->body);
    res->outbox++;

    return TK_OK;
}


static int
tk__webhook_admin(const tk_principal_t *p, tk_result_t *res)
{
    if (p->role != TK_ROLE_ADMIN) {
        return tk__fail(res, TK_EFORBIDDEN, "Only an Admin manages "
                        "webhooks.");
    }

    return TK_OK;
}


/*
 * http://host[:port][/path][?query] or https://..., host a name or an
 * address (IPv6 in brackets), no user information and no fragment; or
 * unix:/absolute/path.sock:/uri.  Printable ASCII only.
 */
static int
tk__webhook_url_ok(const char *url)
{
    const char  *p, *h;
    char         sock[256], out[TK__WEBHOOK_URL_MAX + 32];
    size_t       n, len;
    long         port;

    len = strlen(url);

    if (len == 0 || len > TK__WEBHOOK_URL_MAX) {
        return 0;
    }

    for (p = url; *p != '\0'; p++) {
        if ((unsigned char) *p <= 0x20 || (unsigned char) *p >= 0x7f
            || *p == '#' || *p == '\\' || *p == '"' || *p == '<'
            || *p == '>')
        {
            return 0;
        }
    }

    if (tk__target_parse(url, sock, sizeof(sock), out, sizeof(out))
        != TK_OK)
    {
        return 0;
    }

    if (sock[0] != '\0') {
        /* no ".." in the socket path: it names a file the workers open */
        return strstr(sock, "/..") == NULL && strlen(sock) < 108;
    }

    p = strstr(url, "://") + 3;

    if (*p == '[') {
        h = p + 1;
        n = strspn(h, "0123456789abcdefABCDEF:.");
        if (n == 0 || h[n] != ']') {
            return 0;
        }
        p = h + n + 1;

    } else {
        n = strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                      "0123456789.-");
        if (n == 0 || p[0] == '.' || p[0] == '-' || p[n - 1] == '-') {
            return 0;
        }
        p += n;
    }

    if (*p == ':') {
        p++;
        n = strspn(p, "0123456789");
        if (n == 0 || n > 5) {
            return 0;
        }
        port = strtol(p, NULL, 10);
        if (port < 1 || port > 65535) {
            return 0;
        }
        p += n;
    }

    return *p == '\0' || *p == '/' || *p == '?';
}


/*
 * The fields of a create (create = 1) or an update: TK_OK, or the 400 with
 * its errors (or out of memory) in res and nothing allocated.
 */
static int
tk__webhook_read(const tk_form_t *form, int create, const char **url,
    char **events, const char **active, tk_result_t *res)
{
    cJSON  *errors;
    int     rc;

    errors = NULL;
    *events = NULL;

    rc = tk__webhook_fields(form, create, url, events, active, &errors);
    if (rc != TK_OK) {
        cJSON_Delete(errors);
        free(*events);
        *events = NULL;
        return tk__fail(res, rc, "out of memory");
    }

    if (errors != NULL) {
        free(*events);
        *events = NULL;
        return tk__errors_answer(&errors, res);
    }

    return TK_OK;
}


/*
 * The fields of a subscription: url, events (repeated, or separated by
 * commas or spaces), active; blank ones are absent.  On create url and events are required.
 * *events: a malloc'd JSON array or NULL when absent.
 */
static int
tk__webhook_fields(const tk_form_t *form, int create, const char **url,
    char **events, const char **active, cJSON **errors)
{
    cJSON        *arr, *it;
    const char   *vals[64], *s, *e;
    char          name[64];
    size_t        nv, i, n;
    int           k, b, found, rc;

    /* blank counts as absent, as everywhere in the API */
    *url = tk_form_get(form, "url");
    *active = tk_form_get(form, "active");
    *events = NULL;

    if (tk__blank(*url)) {
        *url = NULL;
    }

    if (tk__blank(*active)) {
        *active = NULL;
    }

    if (*url == NULL && create) {
        rc = tk__error_add(errors, "url", "The url field is required.");
        if (rc != TK_OK) {
            return rc;
        }

    } else if (*url != NULL && !tk__webhook_url_ok(*url)) {
        rc = tk__error_add(errors, "url", "The url must be an http:// or "
                           "https:// URL with a host, without user "
                           "information or fragment, or "
                           "unix:/path/to.sock:/uri.");
        if (rc != TK_OK) {
            return rc;
        }
    }

    if (*active != NULL && tk__parse_bool(*active, &b) != TK_OK) {
        rc = tk__error_add(errors, "active", "The value of active must be "
                           "true or false.");
        if (rc != TK_OK) {
            return rc;
        }
    }

    nv = tk_form_get_all(form, "events", vals, 64);

    if (nv == 0) {
        if (create) {
            return tk__error_add(errors, "events", "The events field is "
                                 "required.");
        }
        return TK_OK;
    }

    if (nv > 64) {
        return tk__error_add(errors, "events", "Too many events.");
    }

    arr = cJSON_CreateArray();
    if (arr == NULL) {
        return TK_ENOMEM;
    }

    for (i = 0; i < nv; i++) {
        for (s = vals[i]; *s != '\0'; s = e) {
            s += strspn(s, ", \t");
            n = strcspn(s, ", \t");
            e = s + n;
            if (n == 0) {
                continue;
            }

            found = 0;
            for (k = 0; k < TK__WEBHOOK_EVENTS; k++) {
                if (strlen(tk__webhook_events[k]) == n
                    && strncmp(tk__webhook_events[k], s, n) == 0)
                {
                    found = 1;
                    break;
                }
            }

            if (!found) {
                snprintf(name, sizeof(name), "%.*s", (int) (n > 40 ? 40 : n),
                         s);
                for (k = 0; name[k] != '\0'; k++) {
                    if ((unsigned char) name[k] < 0x20
                        || (unsigned char) name[k] > 0x7e)
                    {
                        name[k] = '?';
                    }
                }
                cJSON_Delete(arr);
                return tk__error_add(errors, "events", "Unknown event "
                                     "'%s'.", name);
            }

            found = 0;
            cJSON_ArrayForEach(it, arr) {
                if (strcmp(it->valuestring, tk__webhook_events[k]) == 0) {
                    found = 1;
                }
            }

            if (!found) {
                it = cJSON_CreateString(tk__webhook_events[k]);
                if (it == NULL || !cJSON_AddItemToArray(arr, it)) {
                    cJSON_Delete(it);
                    cJSON_Delete(arr);
                    return TK_ENOMEM;
                }
            }
        }
    }

    if (cJSON_GetArraySize(arr) == 0) {
        cJSON_Delete(arr);
        return tk__error_add(errors, "events", "Give at least one event.");
    }

    *events = cJSON_PrintUnformatted(arr);
    cJSON_Delete(arr);

    return *events != NULL ? TK_OK : TK_ENOMEM;
}
