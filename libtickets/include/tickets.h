/*
 * libtickets: the helpdesk ticket domain and its PostgreSQL persistence.
 *
 * This header is the whole contract.  Every function returns TK_OK (0) or a
 * positive success code, or a negative TK_E* error code; the message for a
 * human is kept in the tk_result (or the error buffer) that the caller
 * passed.  The library never prints and never exits.  A tk_conn is one
 * PostgreSQL connection: use one per thread.
 */

#ifndef TICKETS_H
#define TICKETS_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif


/* Result codes.  The HTTP layer maps them to statuses in one place. */
#define TK_OK            0      /* 200 with a body */
#define TK_CREATED       1      /* 201 with a body and a Location */
#define TK_NO_CONTENT    2      /* 204 */
#define TK_NOT_MODIFIED  3      /* 304: If-None-Match named the ETag */

#define TK_ENOMEM       -1
#define TK_EINVAL       -2      /* 400: bad input, errors per field */
#define TK_ENOTFOUND    -3      /* 404 */
#define TK_EFORBIDDEN   -4      /* 403 */
#define TK_EAUTH        -5      /* 401 */
#define TK_ECONFLICT    -6      /* 409 */
#define TK_EPRECOND     -7      /* 412: If-Match did not match */
#define TK_EUNAVAIL     -8      /* 503: the database is unavailable */
#define TK_EINTERNAL    -9      /* 500 */
#define TK_ETHROTTLED   -10     /* 429 */
#define TK_ECANCELED    -11     /* the caller cancelled it (tk_cancel_t) */

const char *tk_strerror(int code);

/* The release of the library, e.g. "0.1.0" (the VERSION file). */
const char *tk_version(void);


/* Roles and permissions. */
typedef enum {
    TK_ROLE_ADMIN = 0,
    TK_ROLE_TECHNICIAN,
    TK_ROLE_MEMBER,
    TK_ROLE_INTEGRATION
} tk_role_t;

#define TK_PERM_CREATE   0x01u
#define TK_PERM_UPDATE   0x02u
#define TK_PERM_FORWARD  0x04u
#define TK_PERM_REPLY    0x08u
#define TK_PERM_CLOSE    0x10u
#define TK_PERM_RESOLVE  0x20u
#define TK_PERM_DELETE   0x40u
/* POST /api/TicketsApi/inbound: hand over inbound mail (docs/email.md) */
#define TK_PERM_INBOUND  0x80u
#define TK_PERM_ALL      0xffu

/* "Tickets.Create" -> TK_PERM_CREATE; 0 for an unknown name */
unsigned tk_perm_parse(const char *name, size_t len);
/* TK_PERM_CREATE -> "Tickets.Create"; NULL for anything but one bit */
const char *tk_perm_name(unsigned perm);
/* case-insensitive; -1 for an unknown name */
int tk_role_parse(const char *name);
const char *tk_role_name(int role);

typedef struct {
    char        user_id[64];
    char        user_name[256];
    int         role;               /* tk_role_t */
    unsigned    perms;              /* TK_PERM_* bits */
} tk_principal_t;

#define tk_is_staff(p) \
    ((p)->role == TK_ROLE_ADMIN || (p)->role == TK_ROLE_TECHNICIAN)


/*
 * The answer of an operation: a JSON body, field errors for TK_EINVAL, a
 * message for a human.  Free what it holds with tk_result_clear().
 */
typedef struct {
    int         code;
    char       *body;               /* malloc'd JSON or file bytes */
    size_t      body_len;
    char       *errors;             /* malloc'd JSON object, or NULL */
    int64_t     id;                 /* created id, for Location */
    char        etag[48];           /* quoted strong ETag, or "" */
    char        content_type[128];  /* "" means application/json */
    char        filename[256];      /* for attachment downloads */
    int         retry_after;        /* seconds, for 429 and 503 */
    int64_t     total;              /* lists: matching items, else -1 */
    int         total_capped;       /* lists: more match than total */
    int         page;               /* lists: 1-based page answered */
    int         page_size;
    int         outbox;             /* notifications queued by the write */
    char        message[512];
} tk_result_t;

void tk_result_init(tk_result_t *res);
void tk_result_clear(tk_result_t *res);


/*
 * Forms: the fields and files of a request body.  Names are looked up
 * case-insensitively; values are bytes, NUL-terminated for convenience.
 */
typedef struct tk_form_s  tk_form_t;

typedef struct {
    const char *name;
    const char *filename;           /* already reduced to a safe base name */
    const char *content_type;
    const unsigned char *data;
    size_t      size;
} tk_file_t;

tk_form_t *tk_form_new(void);
/* TK_EINVAL for a name or value holding a NUL byte; TK_ENOMEM */
void tk_form_free(tk_form_t *form);
int tk_form_add(tk_form_t *form, const char *name, size_t name_len,
    const char *value, size_t value_len);
/* a file part arrives in pieces: begin, append..., the file is complete */
int tk_form_file_begin(tk_form_t *form, const char *name, size_t name_len,
    const char *filename, size_t filename_len, const char *content_type,
    size_t content_type_len);
int tk_form_file_append(tk_form_t *form, const void *data, size_t len);
/* the first value of a field, NULL when absent */
const char *tk_form_get(const tk_form_t *form, const char *name);
/* every value of a field: returns how many, fills up to max */
size_t tk_form_get_all(const tk_form_t *form, const char *name,
    const char **values, size_t max);
size_t tk_form_nfiles(const tk_form_t *form);
const tk_file_t *tk_form_file(const tk_form_t *form, size_t i);


/* Connections.  Open never fails because the server is down: it connects
 * lazily and reconnects after a failure; operations then return
 * TK_EUNAVAIL. */
typedef struct tk_conn_s  tk_conn_t;

int tk_conn_open(tk_conn_t **conn, const char *conninfo);
void tk_conn_close(tk_conn_t *conn);
const char *tk_conn_error(const tk_conn_t *conn);
/*
 * conninfo is any libpq connection string or URI, several hosts and
 * target_session_attrs included; connect_timeout (5), keepalives (idle 10
 * s, then 3 probes 5 s apart), tcp_user_timeout (10 s) and
 * application_name (ngx_tickets) are added when it does not set them.  A
 * connection that finds its server gone or read only (a demoted primary,
 * SQLSTATE 25006) is dropped: the operation gets TK_EUNAVAIL with
 * retry_after and the next one connects anew.  TK_EINVAL with the reason
 * in err when conninfo does not parse.
 */
int tk_conninfo_check(const char *conninfo, char *err, size_t errlen);

/*
 * Replicas and read-your-writes (docs/scale.md).
 *
 * tk_conn_set_prepared(conn, 0): no named prepared statements, every
 * statement unnamed (PQexecParams), for PgBouncer's transaction pooling.
 */
void tk_conn_set_prepared(tk_conn_t *conn, int on);
/* forgets the commit LSN kept by the last write; call before each one */
void tk_conn_lsn_reset(tk_conn_t *conn);
/*
 * After a write that succeeded: a WAL position ("16/B374D848") at or past
 * its commit, taken with its COMMIT in the same round trip when it had a
 * transaction, else asked for now.
 */
int tk_conn_write_lsn(tk_conn_t *conn, char *buf, size_t len,
    tk_result_t *res);
/* "X/Y" (hex) -> 64 bits; TK_EINVAL */
int tk_lsn_parse(const char *text, uint64_t *lsn);
/*
 * On a connection to a replica: TK_OK when it may serve a read that must
 * see min_lsn (NULL: any) and lags max_lag_ms at most (0: any lag);
 * TK_EUNAVAIL (or the connection's error) when the read must go to the
 * primary.  A server that is not in recovery is always fit.  The
 * replica's state is asked in one statement and kept for 100 ms (longer
 * when a newer LSN is needed it is asked again).
 */
int tk_conn_replica_check(tk_conn_t *conn, const char *min_lsn,
    int64_t max_lag_ms, tk_result_t *res);


/*
 * Cancellation, for a caller whose work has become pointless (its client
 * went away): a tk_cancel_t, thread-safe and reference counted, attached
 * to a connection by the thread that uses the connection.  Once it is
 * cancelled, what runs on that connection stops: the statement running on
 * the server is interrupted (tk_cancel_interrupt), no further statement is
 * sent, the operation returns TK_ECANCELED and its transaction is rolled
 * back, so that a write is either whole or absent; the connection stays
 * usable for the next operation.
 */
typedef struct tk_cancel_s  tk_cancel_t;

/* a new handle holding one reference: TK_OK or TK_ENOMEM */
int tk_cancel_new(tk_cancel_t **cancel);
tk_cancel_t *tk_cancel_ref(tk_cancel_t *cancel);
/* any thread; the last reference frees it */
void tk_cancel_unref(tk_cancel_t *cancel);
/*
 * In the connection's thread, between operations: the operations that
 * follow can be cancelled through cancel (the connection holds a
 * reference), until another handle or NULL is set.  Detaching waits for a
 * tk_cancel_interrupt() in progress on it, so that none reaches the
 * connection's next operation.
 */
void tk_conn_set_cancel(tk_conn_t *conn, tk_cancel_t *cancel);
/* Any thread, never blocks: marks it cancelled; the operation stops at
 * its next statement. */
void tk_cancel_request(tk_cancel_t *cancel);
/*
 * Any thread: marks it cancelled and, when it is attached to a connection,
 * asks the server to interrupt the statement running there (PQcancel).
 * Blocks for a connection to the server: not for an event loop.  TK_OK,
 * or TK_EUNAVAIL when the server could not be asked.
 */
int tk_cancel_interrupt(tk_cancel_t *cancel);
int tk_cancel_requested(const tk_cancel_t *cancel);

/*
 * What a connection has spent and met since it was opened, for metrics:
 * read it before and after an operation and take the difference.  Cheap
 * (a copy); the counts are kept whether anyone reads them or not.
 */
typedef struct {
    uint64_t    db_ns;          /* waiting on the server: connects, round
                                 * trips (monotonic clock) */
    uint64_t    round_trips;
    uint64_t    connects;       /* connections made, the first included */
    uint64_t    reconnects;     /* ... after the first */
    uint64_t    errors;         /* statements and connects that failed */
    char        sqlstate[6];    /* of the last failure: the server's, or
                                 * "08006" (connection lost), "08001"
                                 * (could not connect), "XX000" (none) */
} tk_conn_stats_t;

void tk_conn_stats(const tk_conn_t *conn, tk_conn_stats_t *stats);


/* Schema migrations: applies each NNN_*.sql of dir not yet recorded, each
 * in its own transaction. */
int tk_migrate(tk_conn_t *conn, const char *dir, int *applied,
    char *err, size_t errlen);
/* runs a SQL file once: recorded under its base name */
int tk_load_once(tk_conn_t *conn, const char *path, int *loaded,
    char *err, size_t errlen);


/* Passwords: PBKDF2-HMAC-SHA256, encoded with its parameters. */
int tk_password_hash(const char *password, char **encoded);
/* 1 when the password matches, 0 when not, < 0 on error; constant time */
int tk_password_verify(const char *password, const char *encoded);


/* JSON Web Tokens. */
typedef struct tk_jwt_key_s  tk_jwt_key_t;

/*
 * alg is "HS256", "RS256" or "ES256".  For HS256 the file holds the secret
 * (a trailing newline is not part of it; at least 32 bytes); otherwise a
 * PEM key: public to verify, private to sign.
 */
int tk_jwt_key_load(tk_jwt_key_t **key, const char *alg, const char *path,
    char *err, size_t errlen);
void tk_jwt_key_free(tk_jwt_key_t *key);
/* "HS256", "RS256" or "ES256" */
const char *tk_jwt_key_alg(const tk_jwt_key_t *key);

typedef struct {
    char        sub[128];
    char        role[32];
    unsigned    perms;
    time_t      iat;
    time_t      exp;
    time_t      nbf;
} tk_jwt_claims_t;

#define TK_JWT_LEEWAY  60

/*
 * Verifies the signature with the key's pinned algorithm and the claims:
 * exp and nbf with TK_JWT_LEEWAY, iss and aud when not NULL.  Returns TK_OK
 * or TK_EAUTH with *why set to a static reason.
 */
int tk_jwt_verify(const tk_jwt_key_t *key, const char *token, size_t len,
    const char *iss, const char *aud, time_t now, tk_jwt_claims_t *claims,
    const char **why);
/* a signed token for the principal; free *token with free() */
int tk_jwt_issue(const tk_jwt_key_t *key, const tk_principal_t *p,
    const char *iss, const char *aud, long lifetime, time_t now,
    char **token);


/* Identity. */

/* The user of a verified token: TK_EAUTH when unknown or inactive.  The
 * permissions are the token's; the role is the user's. */
int tk_principal_load(tk_conn_t *conn, const char *user_id,
    unsigned token_perms, tk_principal_t *p, tk_result_t *res);
/* Password login: TK_EAUTH (same for unknown user and wrong password),
 * TK_ETHROTTLED after repeated failures.  The role's permissions come from
 * the database. */
int tk_auth_login(tk_conn_t *conn, const char *username,
    const char *password, tk_principal_t *p, tk_result_t *res);
/* ticketsctl: by user name */
int tk_principal_by_name(tk_conn_t *conn, const char *username,
    tk_principal_t *p, tk_result_t *res);
int tk_user_add(tk_conn_t *conn, const char *username, const char *email,
    const char *full_name, const char *role, const char *password,
    tk_result_t *res);
int tk_user_set_password(tk_conn_t *conn, const char *username,
    const char *password, tk_result_t *res);


/* Settings, by key. */
int tk_setting_get(tk_conn_t *conn, const char *key, char **value,
    tk_result_t *res);
int tk_setting_set(tk_conn_t *conn, const char *key, const char *value,
    tk_result_t *res);
int tk_settings_list(tk_conn_t *conn, tk_result_t *res);


/* The API.  Each fills res with a JSON body or an error. */
int tk_health(tk_conn_t *conn, tk_result_t *res);
int tk_ticket_get(tk_conn_t *conn, const tk_principal_t *p, int64_t id,
    tk_result_t *res);
int tk_ticket_register(tk_conn_t *conn, const tk_principal_t *p,
    const tk_form_t *form, const char *idempotency_key, tk_result_t *res);
/*
 * tk_principal_load and tk_ticket_get in one round trip: TK_EAUTH when
 * user_id is unknown or inactive (p then zeroed), else p filled as
 * tk_principal_load does and res as tk_ticket_get does; but when
 * if_none_match (NULL: none) names the ticket's current ETag (weak
 * comparison) or is "*", TK_NOT_MODIFIED with res->etag set and no body.
 */
int tk_ticket_get_as(tk_conn_t *conn, const char *user_id,
    unsigned token_perms, int64_t id, const char *if_none_match,
    tk_principal_t *p, tk_result_t *res);
/* id 0: no ticket context */
int tk_metadata(tk_conn_t *conn, const tk_principal_t *p, int64_t id,
    tk_result_t *res);
int tk_appmetadata(tk_conn_t *conn, const tk_principal_t *p,
    tk_result_t *res);


/*
 * The ticket lifecycle (SPEC 3.4-3.17).  id is the ticket id of the path;
 * form the request body; idempotency_key the header or NULL.  Each write
 * is one transaction with its history and outbox rows.  A Member acting
 * on a ticket that is not theirs gets TK_ENOTFOUND (or TK_EINVAL where the
 * compat answer for an unknown ticket is 400).
 */

/*
 * GET /api/TicketsApi (SPEC 3.1): query holds the query string's
 * arguments.  TK_OK with an array of TicketList; res->total, page and
 * page_size set for X-Total-Count and Link.
 */
int tk_ticket_list(tk_conn_t *conn, const tk_principal_t *p,
    const tk_form_t *query, tk_result_t *res);

/*
 * How far tk_ticket_list counts the matches: up to limit (search_limit
 * for a search), or to the end of the page asked for when that is
 * further.  When more match, res->total is that bound and
 * res->total_capped 1.  0 counts every match.  A new connection counts to
 * TK_LIST_COUNT_LIMIT and TK_SEARCH_COUNT_LIMIT.
 */
#define TK_LIST_COUNT_LIMIT    1000
#define TK_SEARCH_COUNT_LIMIT  100
void tk_conn_set_list_count_limit(tk_conn_t *conn, int64_t limit,
    int64_t search_limit);

/*
 * Every write takes an idempotency_key (the Idempotency-Key header, or
 * NULL): a retry with the same key and the same request by the same
 * principal within 24 hours gets the first answer again and changes
 * nothing; the key with another request is TK_EINVAL.
 */

/* TK_NO_CONTENT; if_match: the If-Match header or NULL (TK_EPRECOND) */
int tk_ticket_update(tk_conn_t *conn, const tk_principal_t *p, int64_t id,
    const tk_form_t *form, const char *if_match, const char *idempotency_key,
    tk_result_t *res);
/* TK_OK with the conversation */
int tk_ticket_forward(tk_conn_t *conn, const tk_principal_t *p, int64_t id,
    const tk_form_t *form, const char *idempotency_key, tk_result_t *res);
int tk_ticket_reply(tk_conn_t *conn, const tk_principal_t *p, int64_t id,
    const tk_form_t *form, const char *idempotency_key, tk_result_t *res);
/* TK_NO_CONTENT; TK_OK when it was closed already */
int tk_ticket_close(tk_conn_t *conn, const tk_principal_t *p, int64_t id,
    const tk_form_t *form, const char *idempotency_key, tk_result_t *res);
/* TK_NO_CONTENT; TK_OK when resolved already with the same text */
int tk_ticket_resolve(tk_conn_t *conn, const tk_principal_t *p, int64_t id,
    const tk_form_t *form, const char *idempotency_key, tk_result_t *res);
/*
 * The close link, no principal.  _page (GET) changes nothing: TK_OK with
 * a small HTML page whose form POSTs the token back; tk_ticket_confirm
 * (that POST) closes the ticket as acknowledged: TK_OK with a page.
 * Both: TK_EINVAL (also HTML) for a bad, expired or used token.
 */
int tk_ticket_confirm_page(tk_conn_t *conn, const char *guid,
    const char *token, tk_result_t *res);
int tk_ticket_confirm(tk_conn_t *conn, const char *guid, const char *token,
    tk_result_t *res);
/* TK_NO_CONTENT; TK_OK when already active; TK_ECONFLICT when locked */
int tk_ticket_reopen(tk_conn_t *conn, const tk_principal_t *p, int64_t id,
    const char *idempotency_key, tk_result_t *res);
/* TK_CREATED with the conversation */
int tk_ticket_note(tk_conn_t *conn, const tk_principal_t *p, int64_t id,
    const tk_form_t *form, const char *idempotency_key, tk_result_t *res);
int tk_ticket_conversations(tk_conn_t *conn, const tk_principal_t *p,
    int64_t id, tk_result_t *res);
int tk_ticket_history(tk_conn_t *conn, const tk_principal_t *p, int64_t id,
    tk_result_t *res);
/* TK_OK with the ticket as deleted */
int tk_ticket_delete(tk_conn_t *conn, const tk_principal_t *p, int64_t id,
    const char *idempotency_key, tk_result_t *res);
/* the integration API: TK_CREATED with the ticket, res->id set */
int tk_ticket_new(tk_conn_t *conn, const tk_principal_t *p,
    const tk_form_t *form, const char *idempotency_key, tk_result_t *res);
/* POST list: TK_OK with an array of TicketApiModel */
int tk_ticket_list_by_user(tk_conn_t *conn, const tk_principal_t *p,
    const tk_form_t *form, tk_result_t *res);
/* TK_OK with the conversation */
int tk_ticket_reqreply(tk_conn_t *conn, const tk_principal_t *p, int64_t id,
    const tk_form_t *form, const char *idempotency_key, tk_result_t *res);
/*
 * Inbound email (docs/email.md): one RFC 5322 message of len bytes, as an
 * MTA hands it over.  TK_CREATED: a new ticket (res->id); TK_OK: a reply
 * on a ticket, or accepted and ignored (a robot, a loop, a duplicate);
 * the body says which: {"outcome", "messageId", "ticketId",
 * "conversationId", "reason"}.  TK_EINVAL: refused (malformed, too large,
 * invalid content), TK_EFORBIDDEN: refused (an unknown or unauthorised
 * sender); nothing is stored then.  TK_EUNAVAIL: try again later.
 */
int tk_mail_deliver(tk_conn_t *conn, const char *raw, size_t len,
    tk_result_t *res);
/* TK_OK with the bytes in body, content_type and filename set */
int tk_attachment_get(tk_conn_t *conn, const tk_principal_t *p,
    int64_t attachment_id, tk_result_t *res);
int tk_task_list(tk_conn_t *conn, const tk_principal_t *p, int64_t ticket_id,
    tk_result_t *res);
/* TK_CREATED with the task */
int tk_task_create(tk_conn_t *conn, const tk_principal_t *p,
    int64_t ticket_id, const tk_form_t *form, const char *idempotency_key,
    tk_result_t *res);
/* TK_NO_CONTENT */
int tk_task_complete(tk_conn_t *conn, const tk_principal_t *p,
    int64_t task_id, const char *idempotency_key, tk_result_t *res);
/* TK_NO_CONTENT */
int tk_ticket_escalate(tk_conn_t *conn, const tk_principal_t *p, int64_t id,
    const tk_form_t *form, const char *idempotency_key, tk_result_t *res);


/*
 * Notifications and background jobs (SPEC 4).  docs/notifications.md has
 * the settings, the messages and the signature.
 */

/* once per process, before any thread delivers (libcurl's global init) */
int tk_outbox_init(void);
/*
 * Claims up to max due notifications with a lease, sends them (SMTP or an
 * HTTP POST, outside any transaction) and marks each sent, to retry or
 * failed.  Returns how many it claimed (max: there may be more), or a
 * TK_E* code.  res->message is a summary, res->body (text, or NULL) one
 * line per notification that failed: "retry: ..." or "failed: ...".
 * Blocks for up to a few seconds per notification.
 */
int tk_outbox_deliver(tk_conn_t *conn, int max, tk_result_t *res);
/* ticketsctl: a JSON array of the pending and failed notifications, or of
 * those of one status ("pending", "failed", "sent"); the newest 1000 */
int tk_outbox_list(tk_conn_t *conn, const char *status, tk_result_t *res);
/*
 * Queues again, due now with its attempts reset, the notification of that
 * id or uuid (TK_ENOTFOUND; TK_ECONFLICT when it was sent or is being
 * sent), or every failed one when id is NULL.  res->total: how many.
 */
int tk_outbox_retry(tk_conn_t *conn, const char *id, tk_result_t *res);
/*
 * The outbox by channel, for metrics: how many notifications are pending
 * and failed, the age of the oldest pending one, how many were sent and
 * how many delivery attempts were retries (sum of attempts - 1).  Fills
 * one entry per channel ("email", "push", "tpi", "webhook" for the
 * configured webhook_url, "subscription" for the webhook subscriptions,
 * every one even when empty) up to max; *n is how many.
 */
typedef struct {
    char        channel[16];
    int64_t     pending;
    int64_t     failed;
    int64_t     sent;
    int64_t     retries;
    double      oldest_pending_seconds;     /* 0 when none is pending */
} tk_outbox_stats_t;

#define TK_OUTBOX_CHANNELS  5

int tk_outbox_stats(tk_conn_t *conn, tk_outbox_stats_t *stats, int max,
    int *n, tk_result_t *res);
/*
 * Webhook subscriptions (docs/webhooks.md), Admin only (TK_EFORBIDDEN).
 * Form fields: url, events (repeated or comma-separated), active.
 * create: TK_CREATED with the subscription and its secret, res->id set;
 * update: TK_OK with it; delete: TK_NO_CONTENT; deliveries: the newest
 * 100; redeliver: TK_OK with the delivery queued again (TK_ECONFLICT when
 * it is being sent or the subscription is paused).
 */
int tk_webhook_list(tk_conn_t *conn, const tk_principal_t *p,
    tk_result_t *res);
int tk_webhook_get(tk_conn_t *conn, const tk_principal_t *p, int64_t id,
    tk_result_t *res);
int tk_webhook_create(tk_conn_t *conn, const tk_principal_t *p,
    const tk_form_t *form, tk_result_t *res);
int tk_webhook_update(tk_conn_t *conn, const tk_principal_t *p, int64_t id,
    const tk_form_t *form, tk_result_t *res);
int tk_webhook_delete(tk_conn_t *conn, const tk_principal_t *p, int64_t id,
    tk_result_t *res);
int tk_webhook_deliveries(tk_conn_t *conn, const tk_principal_t *p,
    int64_t id, tk_result_t *res);
int tk_webhook_redeliver(tk_conn_t *conn, const tk_principal_t *p,
    int64_t id, int64_t delivery_id, tk_result_t *res);
/*
 * The escalation job: escalates up to max active tickets past their due
 * date, unless it ran elsewhere less than escalation_interval_seconds ago
 * or runs elsewhere now.  Returns how many it escalated or a TK_E* code;
 * *next is the number of seconds after which to call it again.
 */
int tk_escalate_due(tk_conn_t *conn, int max, int *next, tk_result_t *res);


#ifdef __cplusplus
}
#endif

#endif /* TICKETS_H */
