/*
 * Delivery of the outbox (SPEC 4, Notifications).  Due rows are claimed
 * with a lease in a short statement of their own (FOR UPDATE SKIP LOCKED,
 * so that workers and hosts never claim one row together), sent with
 * libcurl outside any transaction, then marked sent, scheduled again with
 * backoff, or failed.  A row whose sender dies keeps its lease until it
 * runs out and is then claimed again: delivery is at least once, with the
 * notification's uuid as Message-ID and Idempotency-Key.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cJSON.h>
#include <curl/curl.h>

#include "db.h"
#include "deliver.h"
#include "result.h"
#include "settings.h"


/*
 * A row is sent only while its lease has at least one send (TK__SEND_
 * TIMEOUT) and a margin left, so that nobody else claims it meanwhile.
 */
#define TK__LEASE_SECONDS     60
#define TK__CONNECT_TIMEOUT   10L
#define TK__SEND_TIMEOUT      15L
#define TK__LEASE_MARGIN      5

#define TK__ERROR_MAX         400
#define TK__SNIPPET_MAX       120


enum {
    TK__S_SMTP_URL = 0,
    TK__S_SMTP_USERNAME,
    TK__S_SMTP_PASSWORD,
    TK__S_SMTP_FROM,
    TK__S_PUSH_URL,
    TK__S_TPI_URL,
    TK__S_WEBHOOK_URL,
    TK__S_WEBHOOK_SECRET,
    TK__S_BASE_URL,
    TK__S_MAX_ATTEMPTS,
    TK__S_RETRY_BASE,
    TK__S_RETRY_MAX,
    TK__S_PAUSE_AFTER,
    TK__S_MAIL_TAG,
    TK__S_N
};

/* in the order of the enum */
static const char *const  tk__deliver_keys[TK__S_N] = {
    "smtp_url", "smtp_username", "smtp_password", "smtp_from", "push_url",
    "tpi_callback_url", "webhook_url", "webhook_secret", "public_base_url",
    "outbox_max_attempts", "outbox_retry_base_seconds",
    "outbox_retry_max_seconds", "webhook_pause_after_failures",
    "mail_ticket_tag"
};

typedef struct {
    char       *v[TK__S_N];
    char        host[256];
    char        max_attempts[24];
    char        retry_base[24];
    char        retry_max[24];
    char        pause_after[24];
} tk__dconf_t;

typedef struct {
    const char *id;
    const char *uuid;
    const char *channel;
    const char *event;
    const char *ticket_id;
    const char *recipients;
    const char *payload;
    const char *created_on;
    time_t      created;
    long        attempts;
    const char *devices;
    /* channel "subscription": the subscription's id, target and key */
    const char *webhook_id;
    const char *webhook_url;
    const char *webhook_secret;
} tk__row_t;

typedef struct {
    const char *p;
    size_t      left;
} tk__upload_t;

typedef struct {
    char        text[TK__SNIPPET_MAX + 1];
    size_t      len;
} tk__snippet_t;


static int tk__deliver_conf(tk_conn_t *c, tk__dconf_t *dc, tk_result_t *res);
static void tk__deliver_conf_free(tk__dconf_t *dc);
static void tk__int_setting(const char *value, long dflt, char out[24]);
static int tk__send_mail(const tk__dconf_t *dc, const tk__row_t *row,
    char *err, size_t errlen, int *permanent);
static int tk__send_http(const tk__dconf_t *dc, const tk__row_t *row,
    char *err, size_t errlen, int *permanent);
static int tk__webhook_outcome(tk_conn_t *c, const tk__dconf_t *dc,
    const tk__row_t *row, const char *err, tk__buf_t *log, tk_result_t *res);
static void tk__curl_common(CURL *h, char *errbuf);
static size_t tk__read_cb(char *buf, size_t size, size_t n, void *data);
static size_t tk__write_cb(char *buf, size_t size, size_t n, void *data);


static const tk__stmt_t  tk__outbox_claim_stmt = {
    "tk_outbox_claim",
    "UPDATE outbox o SET lease_until = now() + make_interval(secs => $2::int),"
    " attempts = o.attempts + 1, last_attempt_on = now()"
    " WHERE o.id IN (SELECT id FROM outbox WHERE status = 'pending'"
    " AND next_attempt_on <= now()"
    " AND (lease_until IS NULL OR lease_until < now())"
    " AND (webhook_id IS NULL OR EXISTS (SELECT FROM webhooks w"
    " WHERE w.id = outbox.webhook_id AND w.is_active))"
    " ORDER BY id LIMIT $1::int FOR UPDATE SKIP LOCKED)"
    " RETURNING o.id, o.uuid, o.channel, o.event, o.ticket_id,"
    " array_to_json(o.recipients)::text, o.payload::text,"
    " iso_utc(o.created_on),"
    " floor(extract(epoch FROM o.created_on))::bigint,"
    " o.attempts,"
    " CASE WHEN o.channel = 'push' THEN (SELECT coalesce(json_agg("
    " json_build_object('userId', d.user_id, 'platform', d.platform,"
    " 'token', d.token) ORDER BY d.id), '[]')"
    " FROM push_device_tokens d WHERE d.user_id = ANY (o.recipients))::text"
    " END, o.webhook_id,"
    " (SELECT w.url FROM webhooks w WHERE w.id = o.webhook_id),"
    " (SELECT w.secret FROM webhooks w WHERE w.id = o.webhook_id)",
    2
};

enum {
    TK__OC_ID = 0,
    TK__OC_UUID,
    TK__OC_CHANNEL,
    TK__OC_EVENT,
    TK__OC_TICKET,
    TK__OC_RECIPIENTS,
    TK__OC_PAYLOAD,
    TK__OC_CREATED_ON,
    TK__OC_CREATED,
    TK__OC_ATTEMPTS,
    TK__OC_DEVICES,
    TK__OC_WEBHOOK,
    TK__OC_WEBHOOK_URL,
    TK__OC_WEBHOOK_SECRET
};

static const tk__stmt_t  tk__outbox_conf_stmt = {
    "tk_outbox_conf",
    "SELECT key, value FROM settings WHERE key IN ('smtp_url',"
    " 'smtp_username', 'smtp_password', 'smtp_from', 'push_url',"
    " 'tpi_callback_url', 'webhook_url', 'webhook_secret', 'public_base_url',"
    " 'outbox_max_attempts', 'outbox_retry_base_seconds',"
    " 'outbox_retry_max_seconds', 'webhook_pause_after_failures',"
    " 'mail_ticket_tag')",
    0
};

static const tk__stmt_t  tk__outbox_sent_stmt = {
    "tk_outbox_sent",
    "UPDATE outbox SET status = 'sent', sent_on = now(), lease_until = NULL,"
    " last_error = NULL WHERE id = $1::bigint",
    1
};

/*
 * $3 attempts at most ("0": fail now), waits of $4 * 2^(attempts-1)
 * seconds up to $5, jittered to between half and all of it.
 */
static const tk__stmt_t  tk__outbox_retry_stmt = {
    "tk_outbox_retry",
    "UPDATE outbox SET lease_until = NULL, last_error = $2::text,"
    " status = CASE WHEN attempts >= $3::int THEN 'failed' ELSE 'pending'"
    " END,"
    " next_attempt_on = CASE WHEN attempts >= $3::int THEN next_attempt_on"
    " ELSE now() + make_interval(secs => least($5::float8, $4::float8"
    " * power(2, least(attempts - 1, 40))) * (0.5 + random() / 2)) END"
    " WHERE id = $1::bigint"
    " RETURNING status,"
    " ceil(extract(epoch FROM next_attempt_on - now()))::int",
    5
};

/* the lease runs out before the row could be sent: as if never claimed */
static const tk__stmt_t  tk__outbox_release_stmt = {
    "tk_outbox_release",
    "UPDATE outbox SET lease_until = NULL,"
    " attempts = greatest(attempts - 1, 0) WHERE id = $1::bigint",
    1
};

/*
 * A subscription's attempt: $2 NULL a success, else the error.  Paused
 * after $3 consecutive failed attempts ("0": never); the first column
 * says whether this attempt paused it.
 */
static const tk__stmt_t  tk__webhook_outcome_stmt = {
    "tk_webhook_outcome",
    "WITH o AS (SELECT id, is_active, consecutive_failures + 1 AS n"
    " FROM webhooks WHERE id = $1::bigint FOR UPDATE),"
    " p AS (SELECT o.id, $2::text IS NOT NULL AND o.is_active"
    " AND $3::int > 0 AND o.n >= $3::int AS pause, o.n FROM o)"
    " UPDATE webhooks w SET"
    " consecutive_failures = CASE WHEN $2::text IS NULL THEN 0 ELSE p.n END,"
    " last_success_on = CASE WHEN $2::text IS NULL THEN now()"
    " ELSE w.last_success_on END,"
    " last_failure_on = CASE WHEN $2::text IS NULL THEN w.last_failure_on"
    " ELSE now() END,"
    " last_error = coalesce($2::text, w.last_error),"
    " is_active = w.is_active AND NOT p.pause,"
    " paused_on = CASE WHEN p.pause THEN now() ELSE w.paused_on END,"
    " paused_reason = CASE WHEN p.pause THEN format("
    "'paused automatically after %s consecutive failed attempts: %s',"
    " p.n, $2::text) ELSE w.paused_reason END"
    " FROM p WHERE w.id = p.id RETURNING p.pause, p.n",
    3
};

static const tk__stmt_t  tk__outbox_list_stmt = {
    "tk_outbox_list",
    "SELECT '[' || coalesce(E'\\n' || string_agg(json_build_object("
    " 'id', x.id, 'uuid', x.uuid, 'channel', x.channel, 'event', x.event,"
    " 'ticketId', x.ticket_id, 'recipients', x.recipients,"
    " 'status', x.status, 'attempts', x.attempts,"
    " 'nextAttemptOn', CASE WHEN x.status = 'pending'"
    " THEN iso_utc(x.next_attempt_on) END,"
    " 'leaseUntil', iso_utc(x.lease_until), 'lastError', x.last_error,"
    " 'createdOn', iso_utc(x.created_on), 'sentOn', iso_utc(x.sent_on)"
    " )::text, E',\\n' ORDER BY x.id) || E'\\n', '') || ']'"
    " FROM (SELECT * FROM outbox WHERE CASE WHEN $1::text IS NULL"
    " THEN status IN ('pending', 'failed') ELSE status = $1 END"
    " ORDER BY id DESC LIMIT 1000) x",
    1
};

/* $1 NULL: every failed row; else the row of that id or uuid */
static const tk__stmt_t  tk__outbox_requeue_stmt = {
    "tk_outbox_requeue",
    "WITH t AS ("
    " SELECT id, status, coalesce(lease_until > now(), false) AS leased"
    " FROM outbox WHERE CASE WHEN $1::text IS NULL THEN status = 'failed'"
    " ELSE id::text = $1 OR uuid::text = lower($1) END"
    "), u AS ("
    " UPDATE outbox o SET status = 'pending', attempts = 0,"
    " next_attempt_on = now(), lease_until = NULL"
    " FROM t WHERE o.id = t.id AND t.status <> 'sent' AND NOT t.leased"
    " RETURNING o.id"
    ")"
    " SELECT (SELECT count(*) FROM u), (SELECT count(*) FROM t),"
    " (SELECT status FROM t LIMIT 1), (SELECT bool_or(leased) FROM t)",
    1
};


int
tk_outbox_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? TK_OK
                                                             : TK_EINTERNAL;
}


int
tk_outbox_deliver(tk_conn_t *c, int max, tk_result_t *res)
{
    PGresult         *claim, *r;
    tk__dconf_t       dc;
    tk__row_t         row;
    tk__buf_t         log;
    struct timespec   start, now;
    const char       *v[5], *status;
    char              limit[16], lease[16], err[TK__ERROR_MAX + 1];
    int               i, n, rc, permanent, delay;
    int               sent, retried, failed, released;

    snprintf(limit, sizeof(limit), "%d", max > 0 ? max : 1);
    snprintf(lease, sizeof(lease), "%d", TK__LEASE_SECONDS);
    clock_gettime(CLOCK_MONOTONIC, &start);

    v[0] = limit;
    v[1] = lease;

    claim = tk__exec(c, &tk__outbox_claim_stmt, v, res);
    if (claim == NULL) {
        return res->code;
    }

    n = PQntuples(claim);
    if (n == 0) {
        PQclear(claim);
        return 0;
    }

    /* on failure the rows keep their lease and are claimed again later */
    if (tk__deliver_conf(c, &dc, res) != TK_OK) {
        PQclear(claim);
        return res->code;
    }

    memset(&log, 0, sizeof(log));
    sent = retried = failed = released = 0;
    rc = TK_OK;

    for (i = 0; i < n; i++) {
        row.id = tk__val(claim, i, TK__OC_ID);
        row.uuid = tk__val(claim, i, TK__OC_UUID);
        row.channel = tk__val(claim, i, TK__OC_CHANNEL);
        row.event = tk__val(claim, i, TK__OC_EVENT);
        row.ticket_id = tk__val(claim, i, TK__OC_TICKET);
        row.recipients = tk__val(claim, i, TK__OC_RECIPIENTS);
        row.payload = tk__val(claim, i, TK__OC_PAYLOAD);
        row.created_on = tk__val(claim, i, TK__OC_CREATED_ON);
        row.created = (time_t) strtoll(tk__val(claim, i, TK__OC_CREATED),
                                       NULL, 10);
        row.attempts = strtol(tk__val(claim, i, TK__OC_ATTEMPTS), NULL, 10);
        row.devices = tk__val(claim, i, TK__OC_DEVICES);
        row.webhook_id = tk__val(claim, i, TK__OC_WEBHOOK);
        row.webhook_url = tk__val(claim, i, TK__OC_WEBHOOK_URL);
        row.webhook_secret = tk__val(claim, i, TK__OC_WEBHOOK_SECRET);

        clock_gettime(CLOCK_MONOTONIC, &now);

        if (now.tv_sec - start.tv_sec + TK__SEND_TIMEOUT + TK__LEASE_MARGIN
            > TK__LEASE_SECONDS)
        {
            v[0] = row.id;
            r = tk__exec(c, &tk__outbox_release_stmt, v, res);
            if (r == NULL) {
                rc = res->code;
                break;
            }
            PQclear(r);
            released++;
            continue;
        }

        err[0] = '\0';
        permanent = 0;

        if (strcmp(row.channel, "email") == 0) {
            rc = tk__send_mail(&dc, &row, err, sizeof(err), &permanent);
        } else {
            rc = tk__send_http(&dc, &row, err, sizeof(err), &permanent);
        }

        v[0] = row.id;

        if (rc == TK_OK) {
            r = tk__exec(c, &tk__outbox_sent_stmt, v, res);
            if (r == NULL) {
                rc = res->code;
                break;
            }
            PQclear(r);
            sent++;

            if (row.webhook_id != NULL
                && tk__webhook_outcome(c, &dc, &row, NULL, &log, res)
                   != TK_OK)
            {
                rc = res->code;
                break;
            }

            continue;
        }

        v[1] = err;
        v[2] = permanent ? "0" : dc.max_attempts;
        v[3] = dc.retry_base;
        v[4] = dc.retry_max;

        r = tk__exec(c, &tk__outbox_retry_stmt, v, res);
        if (r == NULL) {
            rc = res->code;
            break;
        }

        status = tk__val(r, 0, 0);
        delay = tk__val(r, 0, 1) ? atoi(tk__val(r, 0, 1)) : 0;

        if (status != NULL && strcmp(status, "failed") == 0) {
            failed++;
            tk__buf_fmt(&log, "failed: notification %s (%s, %s %s) after "
                        "%ld attempt%s: %s\n", row.id, row.uuid, row.channel,
                        row.event, row.attempts, row.attempts == 1 ? "" : "s",
                        err);
        } else {
            retried++;
            tk__buf_fmt(&log, "retry: notification %s (%s, %s %s) attempt "
                        "%ld failed, next in %d s: %s\n", row.id, row.uuid,
                        row.channel, row.event, row.attempts, delay, err);
        }

        PQclear(r);
        rc = TK_OK;

        if (row.webhook_id != NULL
            && tk__webhook_outcome(c, &dc, &row, err, &log, res) != TK_OK)
        {
            rc = res->code;
            break;
        }
    }

    PQclear(claim);
    tk__deliver_conf_free(&dc);

    if (rc != TK_OK) {
        free(log.p);
        return rc;
    }

    if (log.oom) {
        free(log.p);
        log.p = NULL;
        log.len = 0;
    }

    free(res->body);
    res->body = log.p;
    res->body_len = log.len;

    snprintf(res->message, sizeof(res->message), "outbox: %d sent, %d to "
             "retry, %d failed%s", sent, retried, failed,
             released ? ", some left for later" : "");

    return n;
}


int
tk_outbox_list(tk_conn_t *c, const char *status, tk_result_t *res)
{
    PGresult    *r;
    const char  *v[1];

    if (status != NULL && strcmp(status, "pending") != 0
        && strcmp(status, "failed") != 0 && strcmp(status, "sent") != 0)
    {
        return tk__fail(res, TK_EINVAL, "status \"%.32s\": give pending, "
                        "failed or sent", status);
    }

    v[0] = status;

    r = tk__exec(c, &tk__outbox_list_stmt, v, res);
    if (r == NULL) {
        return res->code;
    }

    return tk__take_body(r, res);
}


int
tk_outbox_retry(tk_conn_t *c, const char *id, tk_result_t *res)
{
    PGresult    *r;
    const char  *v[1], *status, *leased;
    long         queued, found;

    v[0] = id;

    r = tk__exec(c, &tk__outbox_requeue_stmt, v, res);
    if (r == NULL) {
        return res->code;
    }

    queued = strtol(tk__val(r, 0, 0), NULL, 10);
    found = strtol(tk__val(r, 0, 1), NULL, 10);
    status = tk__val(r, 0, 2);
    leased = tk__val(r, 0, 3);

    res->total = queued;

    if (id != NULL && found == 0) {
        PQclear(r);
        return tk__fail(res, TK_ENOTFOUND, "no notification %.64s", id);
    }

    if (id != NULL && queued == 0) {
        tk__fail(res, TK_ECONFLICT, "notification %.64s %s", id,
                 status != NULL && strcmp(status, "sent") == 0
                 ? "was sent already"
                 : leased != NULL && leased[0] == 't'
                   ? "is being delivered now" : "cannot be queued");
        PQclear(r);
        return res->code;
    }

    PQclear(r);
    return TK_OK;
}


/* Settings of delivery, read once per batch. */
static int
tk__deliver_conf(tk_conn_t *c, tk__dconf_t *dc, tk_result_t *res)
{
    PGresult    *r;
    const char  *key, *val;
    long         n;
    int          i, k;

    memset(dc, 0, sizeof(*dc));

    r = tk__exec(c, &tk__outbox_conf_stmt, NULL, res);
    if (r == NULL) {
        return res->code;
    }

    for (i = 0; i < PQntuples(r); i++) {
        key = tk__val(r, i, 0);
        val = tk__val(r, i, 1);

        for (k = 0; k < TK__S_N; k++) {
            if (strcmp(key, tk__deliver_keys[k]) == 0 && val != NULL
                && val[0] != '\0')
            {
                dc->v[k] = strdup(val);
                if (dc->v[k] == NULL) {
                    PQclear(r);
                    tk__deliver_conf_free(dc);
                    return tk__fail(res, TK_ENOMEM, "out of memory");
                }
            }
        }
    }

    PQclear(r);

    tk__url_host(dc->v[TK__S_BASE_URL], dc->host, sizeof(dc->host));

    tk__int_setting(dc->v[TK__S_MAX_ATTEMPTS], 8, dc->max_attempts);
    tk__int_setting(dc->v[TK__S_RETRY_BASE], 30, dc->retry_base);
    tk__int_setting(dc->v[TK__S_RETRY_MAX], 3600, dc->retry_max);

    /* 0 is a value here: never pause */
    if (tk__setting_parse_int(dc->v[TK__S_PAUSE_AFTER], &n) != TK_OK
        || n < 0)
    {
        n = 10;
    }
    snprintf(dc->pause_after, sizeof(dc->pause_after), "%ld", n);

    return TK_OK;
}


static void
tk__deliver_conf_free(tk__dconf_t *dc)
{
    int  k;

    for (k = 0; k < TK__S_N; k++) {
        free(dc->v[k]);
        dc->v[k] = NULL;
    }
}


/* An int setting as text: its value when it is one from 1 up, else dflt. */
static void
tk__int_setting(const char *value, long dflt, char out[24])
{
    long  n;

    if (tk__setting_parse_int(value, &n) != TK_OK || n < 1) {
        n = dflt;
    }

    snprintf(out, 24, "%ld", n);
}


/*
 * The subject carries the ticket's tag as inbound mail reads it (the
 * mail_ticket_tag setting, docs/email.md): "[<tag><id>] " is put before a
 * subject that does not have "<tag><id>" yet.  Replies whose client drops
 * the References still thread by it.
 */
static int
tk__mail_tagged(const char *tag, const char *ticket_id, char **subject)
{
    const char  *p;
    char        *s;
    size_t       tl, il;

    if (tag == NULL || tag[0] == '\0' || ticket_id == NULL
        || ticket_id[0] == '\0' || *subject == NULL)
    {
        return TK_OK;
    }

    tl = strlen(tag);
    il = strlen(ticket_id);

    for (p = *subject; (p = strcasestr(p, tag)) != NULL; p++) {
        if (strncmp(p + tl, ticket_id, il) == 0
            && (p[tl + il] < '0' || p[tl + il] > '9'))
        {
            return TK_OK;
        }
    }

    if (asprintf(&s, "[%s%s] %s", tag, ticket_id, *subject) < 0) {
        return TK_ENOMEM;
    }

    free(*subject);
    *subject = s;
    return TK_OK;
}


/*
 * TK_OK when the server took the message.  *permanent when sending it
 * again cannot help: nothing configured, no valid recipient, or a 5xx
 * reply of the server.
 */
static int
tk__send_mail(const tk__dconf_t *dc, const tk__row_t *row, char *err,
    size_t errlen, int *permanent)
{
    CURL                *h;
    CURLcode             cc;
    cJSON               *rcpts, *payload, *item;
    tk__mail_t           m;
    tk__upload_t         up;
    struct curl_slist   *env, *next;
    const char          *url, *sendto, *ccto;
    const char         **to, **cc_list;
    char                *subject, *body, *msg;
    char                 from[TK__ADDR_MAX + 1], name[256];
    char                 envelope[TK__ADDR_MAX + 3];
    char                 errbuf[CURL_ERROR_SIZE];
    size_t               len, nto, ncc, total;
    long                 code;
    int                  rc;

    *permanent = 1;
    url = dc->v[TK__S_SMTP_URL];

    if (url == NULL) {
        snprintf(err, errlen, "no smtp_url configured");
        return TK_EINVAL;
    }

    if (strncasecmp(url, "smtp://", 7) != 0
        && strncasecmp(url, "smtps://", 8) != 0)
    {
        snprintf(err, errlen, "smtp_url must start with smtp:// or smtps://");
        return TK_EINVAL;
    }

    if (tk__mail_from_parse(dc->v[TK__S_SMTP_FROM] != NULL
                            ? dc->v[TK__S_SMTP_FROM] : "helpdesk@localhost",
                            from, name, sizeof(name))
        != TK_OK)
    {
        snprintf(err, errlen, "smtp_from is not an email address");
        return TK_EINVAL;
    }

    rcpts = cJSON_Parse(row->recipients != NULL ? row->recipients : "[]");
    payload = cJSON_Parse(row->payload != NULL ? row->payload : "{}");
    total = (size_t) cJSON_GetArraySize(rcpts);

    to = calloc(total + 1, sizeof(char *));
    cc_list = calloc(total + 1, sizeof(char *));
    env = NULL;
    subject = body = msg = NULL;
    h = NULL;
    nto = ncc = 0;
    rc = TK_ENOMEM;

    if (rcpts == NULL || to == NULL || cc_list == NULL) {
        snprintf(err, errlen, "out of memory");
        *permanent = 0;
        goto done;
    }

    sendto = cJSON_GetStringValue(
                 cJSON_GetObjectItemCaseSensitive(payload, "sendTo"));
    ccto = cJSON_GetStringValue(
               cJSON_GetObjectItemCaseSensitive(payload, "ccTo"));

    /* headers as the writer meant them: Cc only for what was sent as Cc */
    cJSON_ArrayForEach(item, rcpts) {
        if (!cJSON_IsString(item) || !tk__mail_addr_ok(item->valuestring)) {
            continue;
        }

        if (ccto != NULL && tk__mail_in_list(ccto, item->valuestring)
            && (sendto == NULL || !tk__mail_in_list(sendto, item->valuestring)))
        {
            cc_list[ncc++] = item->valuestring;
        } else {
            to[nto++] = item->valuestring;
        }

        snprintf(envelope, sizeof(envelope), "<%s>", item->valuestring);

        next = curl_slist_append(env, envelope);
        if (next == NULL) {
            snprintf(err, errlen, "out of memory");
            *permanent = 0;
            goto done;
        }
        env = next;
    }

    if (nto + ncc == 0) {
        snprintf(err, errlen, "no valid recipient");
        rc = TK_EINVAL;
        goto done;
    }

    if (nto == 0) {
        memcpy(to, cc_list, ncc * sizeof(char *));
        nto = ncc;
        ncc = 0;
    }

    if (tk__mail_template(row->event, row->payload, dc->v[TK__S_BASE_URL],
                          &subject, &body)
        != TK_OK)
    {
        snprintf(err, errlen, "out of memory");
        *permanent = 0;
        goto done;
    }

    if (tk__mail_tagged(dc->v[TK__S_MAIL_TAG], row->ticket_id, &subject)
        != TK_OK)
    {
        snprintf(err, errlen, "out of memory");
        *permanent = 0;
        goto done;
    }

    m.from = dc->v[TK__S_SMTP_FROM] != NULL ? dc->v[TK__S_SMTP_FROM]
                                            : "helpdesk@localhost";
    m.host = dc->host;
    m.uuid = row->uuid;
    m.ticket_id = row->ticket_id;
    m.event = row->event;
    m.date = row->created;
    m.to = to;
    m.nto = nto;
    m.cc = cc_list;
    m.ncc = ncc;
    m.subject = subject;
    m.body = body;

    rc = tk__mail_build(&m, &msg, &len, err, errlen);
    if (rc != TK_OK) {
        *permanent = rc != TK_ENOMEM;
        goto done;
    }

    h = curl_easy_init();
    if (h == NULL) {
        snprintf(err, errlen, "curl_easy_init failed");
        *permanent = 0;
        rc = TK_EINTERNAL;
        goto done;
    }

    up.p = msg;
    up.left = len;
    snprintf(envelope, sizeof(envelope), "<%s>", from);

    tk__curl_common(h, errbuf);
    curl_easy_setopt(h, CURLOPT_URL, url);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
#else
    curl_easy_setopt(h, CURLOPT_PROTOCOLS,
                     (long) (CURLPROTO_SMTP | CURLPROTO_SMTPS));
#endif
    curl_easy_setopt(h, CURLOPT_MAIL_FROM, envelope);
    curl_easy_setopt(h, CURLOPT_MAIL_RCPT, env);
#if LIBCURL_VERSION_NUM >= 0x074500
    /* the message still goes to the recipients the server accepts */
    curl_easy_setopt(h, CURLOPT_MAIL_RCPT_ALLLOWFAILS, 1L);
#endif
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, tk__read_cb);
    curl_easy_setopt(h, CURLOPT_READDATA, &up);
    curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t) len);

    /* a password is never sent without TLS: STARTTLS is then required */
    if (dc->v[TK__S_SMTP_USERNAME] != NULL) {
        curl_easy_setopt(h, CURLOPT_USERNAME, dc->v[TK__S_SMTP_USERNAME]);
        curl_easy_setopt(h, CURLOPT_PASSWORD,
                         dc->v[TK__S_SMTP_PASSWORD] != NULL
                         ? dc->v[TK__S_SMTP_PASSWORD] : "");
        curl_easy_setopt(h, CURLOPT_USE_SSL, (long) CURLUSESSL_ALL);
    } else {
        curl_easy_setopt(h, CURLOPT_USE_SSL, (long) CURLUSESSL_TRY);
    }

    cc = curl_easy_perform(h);

    if (cc == CURLE_OK) {
        rc = TK_OK;
        goto done;
    }

    code = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);

    snprintf(err, errlen, "smtp: %s%s%s (reply %ld)", curl_easy_strerror(cc),
             errbuf[0] ? ": " : "", errbuf, code);
    err[strcspn(err, "\r\n")] = '\0';

    *permanent = code >= 500 && code < 600;
    rc = TK_EUNAVAIL;

done:

    if (h != NULL) {
        curl_easy_cleanup(h);
    }

    curl_slist_free_all(env);
    cJSON_Delete(rcpts);
    cJSON_Delete(payload);
    free(to);
    free(cc_list);
    free(subject);
    free(body);
    free(msg);

    return rc;
}


/*
 * A POST of the JSON body to the channel's target: TK_OK on a 2xx.  A 4xx
 * but 408, 425 and 429 is permanent: the receiver refuses what it got.
 */
static int
tk__send_http(const tk__dconf_t *dc, const tk__row_t *row, char *err,
    size_t errlen, int *permanent)
{
    CURL                *h;
    CURLcode             cc;
    tk__snippet_t        snip;
    struct curl_slist   *hdrs, *next;
    const char          *target, *key, *secret;
    char                *body;
    char                 url[2048], sock[256], line[160], sig[72], ts[24];
    char                 errbuf[CURL_ERROR_SIZE];
    long                 code;
    size_t               i;
    int                  k, rc;

    *permanent = 1;

    k = strcmp(row->channel, "push") == 0 ? TK__S_PUSH_URL
        : strcmp(row->channel, "tpi") == 0 ? TK__S_TPI_URL
        : strcmp(row->channel, "webhook") == 0 ? TK__S_WEBHOOK_URL : -1;

    if (row->webhook_id != NULL) {
        /* a subscription: its own target and key */
        key = "webhook subscription";
        target = row->webhook_url;
        secret = row->webhook_secret;

    } else if (k < 0) {
        snprintf(err, errlen, "unknown channel %.32s", row->channel);
        return TK_EINVAL;

    } else {
        key = tk__deliver_keys[k];
        target = dc->v[k];
        secret = dc->v[TK__S_WEBHOOK_SECRET];
    }

    if (target == NULL) {
        snprintf(err, errlen, "no %s configured", key);
        return TK_EINVAL;
    }

    if (tk__target_parse(target, sock, sizeof(sock), url, sizeof(url))
        != TK_OK)
    {
        snprintf(err, errlen, "%s is neither an http(s) URL nor "
                 "unix:/path.sock:/uri", key);
        return TK_EINVAL;
    }

    *permanent = 0;

    if (tk__http_body(row->uuid, row->channel, row->event, row->ticket_id,
                      row->created_on, row->recipients, row->payload,
                      row->devices, &body)
        != TK_OK)
    {
        snprintf(err, errlen, "out of memory");
        return TK_ENOMEM;
    }

    snprintf(ts, sizeof(ts), "%lld", (long long) time(NULL));

    if (secret != NULL
        && tk__http_signature(secret, ts, body, strlen(body), sig) != TK_OK)
    {
        free(body);
        snprintf(err, errlen, "signing failed");
        return TK_EINTERNAL;
    }

    hdrs = NULL;
    rc = TK_ENOMEM;
    h = NULL;

    for (i = 0; i < 7; i++) {
        switch (i) {
        case 0:
            snprintf(line, sizeof(line), "Content-Type: application/json");
            break;
        case 1:
            snprintf(line, sizeof(line), "Idempotency-Key: %s", row->uuid);
            break;
        case 2:
            snprintf(line, sizeof(line), "X-Tickets-Event: %.64s",
                     row->event);
            break;
        case 3:
            snprintf(line, sizeof(line), "X-Tickets-Timestamp: %s", ts);
            break;
        case 4:
            if (secret == NULL) {
                continue;
            }
            snprintf(line, sizeof(line), "X-Tickets-Signature: %s", sig);
            break;
        case 5:
            snprintf(line, sizeof(line), "X-Tickets-Attempt: %ld",
                     row->attempts);
            break;
        default:
            /* no "Expect: 100-continue" round trip */
            snprintf(line, sizeof(line), "Expect:");
        }

        next = curl_slist_append(hdrs, line);
        if (next == NULL) {
            snprintf(err, errlen, "out of memory");
            goto done;
        }
        hdrs = next;
    }

    h = curl_easy_init();
    if (h == NULL) {
        snprintf(err, errlen, "curl_easy_init failed");
        rc = TK_EINTERNAL;
        goto done;
    }

    memset(&snip, 0, sizeof(snip));

    tk__curl_common(h, errbuf);
    curl_easy_setopt(h, CURLOPT_URL, url);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(h, CURLOPT_PROTOCOLS,
                     (long) (CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    if (sock[0] != '\0') {
        curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, sock);
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "ngx_tickets");
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
                     (curl_off_t) strlen(body));
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, tk__write_cb);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &snip);

    cc = curl_easy_perform(h);

    if (cc != CURLE_OK) {
        snprintf(err, errlen, "%s: %s%s%s", key, curl_easy_strerror(cc),
                 errbuf[0] ? ": " : "", errbuf);
        err[strcspn(err, "\r\n")] = '\0';
        rc = TK_EUNAVAIL;
        goto done;
    }

    code = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);

    if (code >= 200 && code < 300) {
        rc = TK_OK;
        goto done;
    }

    for (i = 0; i < snip.len; i++) {
        if ((unsigned char) snip.text[i] < 0x20 || snip.text[i] == 0x7f) {
            snip.text[i] = ' ';
        }
    }

    snprintf(err, errlen, "%s answered HTTP %ld%s%s", key, code,
             snip.len ? ": " : "", snip.text);

    *permanent = code >= 300 && code < 500 && code != 408 && code != 425
                 && code != 429;
    rc = TK_EUNAVAIL;

done:

    if (h != NULL) {
        curl_easy_cleanup(h);
    }

    curl_slist_free_all(hdrs);
    free(body);

    return rc;
}


/* The subscription's counters after an attempt: err NULL on success. */
static int
tk__webhook_outcome(tk_conn_t *c, const tk__dconf_t *dc, const tk__row_t *row,
    const char *err, tk__buf_t *log, tk_result_t *res)
{
    PGresult    *r;
    const char  *v[3], *pause;

    v[0] = row->webhook_id;
    v[1] = err;
    v[2] = dc->pause_after;

    r = tk__exec(c, &tk__webhook_outcome_stmt, v, res);
    if (r == NULL) {
        return res->code;
    }

    pause = tk__val(r, 0, 0);

    if (pause != NULL && pause[0] == 't') {
        tk__buf_fmt(log, "failed: webhook %s paused after %s consecutive "
                    "failed attempts: %s\n", row->webhook_id,
                    tk__val(r, 0, 1), err);
    }

    PQclear(r);
    return TK_OK;
}


/* In threads: no signals; bounded in time. */
static void
tk__curl_common(CURL *h, char *errbuf)
{
    errbuf[0] = '\0';
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, TK__CONNECT_TIMEOUT);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, TK__SEND_TIMEOUT);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
}


static size_t
tk__read_cb(char *buf, size_t size, size_t n, void *data)
{
    tk__upload_t  *up = data;
    size_t         len;

    len = size * n < up->left ? size * n : up->left;
    memcpy(buf, up->p, len);
    up->p += len;
    up->left -= len;

    return len;
}


static size_t
tk__write_cb(char *buf, size_t size, size_t n, void *data)
{
    tk__snippet_t  *snip = data;
    size_t          len;

    len = size * n;
    if (len > TK__SNIPPET_MAX - snip->len) {
        len = TK__SNIPPET_MAX - snip->len;
    }

    memcpy(snip->text + snip->len, buf, len);
    snip->len += len;
    snip->text[snip->len] = '\0';

    return size * n;
}
