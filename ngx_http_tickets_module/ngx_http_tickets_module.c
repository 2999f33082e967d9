
/*
 * ngx_http_tickets_module: the ticket REST API over libtickets.
 *
 * The event loop only routes, authenticates the token and reads the body;
 * everything that touches the database (and the parsing of the body, which
 * may be in a temp file) runs in a thread pool task, where each pool
 * thread keeps its own PostgreSQL connection.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <tickets.h>
#include "ngx_http_tickets_form.h"
#include "ngx_http_tickets_inflight.h"
#include "ngx_http_tickets_jobs.h"
#include "ngx_http_tickets_fleet.h"
#include "ngx_http_tickets_metrics.h"
#include "ngx_http_tickets_openapi.h"


#if !(NGX_THREADS)
#error ngx_http_tickets_module needs nginx built --with-threads
#endif


#define NGX_HTTP_TICKETS_MAX_PARTS         256
#define NGX_HTTP_TICKETS_MAX_PART_HEADER   8192
#define NGX_HTTP_TICKETS_MAX_FIELDS        1024
#define NGX_HTTP_TICKETS_REQUEST_ID_LEN    128


typedef enum {
    NGX_HTTP_TICKETS_OP_HEALTH = 0,
    NGX_HTTP_TICKETS_OP_TOKEN,
    NGX_HTTP_TICKETS_OP_GET,
    NGX_HTTP_TICKETS_OP_METADATA,
    NGX_HTTP_TICKETS_OP_APPMETADATA,
    NGX_HTTP_TICKETS_OP_REGISTER,
    NGX_HTTP_TICKETS_OP_UPDATE,
    NGX_HTTP_TICKETS_OP_FORWARD,
    NGX_HTTP_TICKETS_OP_REPLY,
    NGX_HTTP_TICKETS_OP_CLOSE,
    NGX_HTTP_TICKETS_OP_RESOLVE,
    NGX_HTTP_TICKETS_OP_CONFIRM,
    NGX_HTTP_TICKETS_OP_CONFIRM_POST,
    NGX_HTTP_TICKETS_OP_REOPEN,
    NGX_HTTP_TICKETS_OP_NOTE,
    NGX_HTTP_TICKETS_OP_CONVERSATIONS,
    NGX_HTTP_TICKETS_OP_HISTORY,
    NGX_HTTP_TICKETS_OP_DELETE,
    NGX_HTTP_TICKETS_OP_NEW,
    NGX_HTTP_TICKETS_OP_LIST_BY_USER,
    NGX_HTTP_TICKETS_OP_REQREPLY,
    NGX_HTTP_TICKETS_OP_ATTACHMENT,
    NGX_HTTP_TICKETS_OP_TASKS,
    NGX_HTTP_TICKETS_OP_TASK_CREATE,
    NGX_HTTP_TICKETS_OP_TASK_COMPLETE,
    NGX_HTTP_TICKETS_OP_ESCALATE,
    NGX_HTTP_TICKETS_OP_LIST,
    NGX_HTTP_TICKETS_OP_OPENAPI,
    NGX_HTTP_TICKETS_OP_WEBHOOKS,
    NGX_HTTP_TICKETS_OP_WEBHOOK_CREATE,
    NGX_HTTP_TICKETS_OP_WEBHOOK_GET,
    NGX_HTTP_TICKETS_OP_WEBHOOK_UPDATE,
    NGX_HTTP_TICKETS_OP_WEBHOOK_DELETE,
    NGX_HTTP_TICKETS_OP_WEBHOOK_DELIVERIES,
    NGX_HTTP_TICKETS_OP_WEBHOOK_REDELIVER,
    NGX_HTTP_TICKETS_OP_INBOUND
} ngx_http_tickets_op_e;


typedef struct {
    ngx_str_t                   pattern;
    ngx_uint_t                  methods;
    ngx_http_tickets_op_e       op;
    unsigned                    auth:1;
    unsigned                    form:1;
    /* of a 201: "%L" is the id the library answered with */
    char                       *location;
} ngx_http_tickets_route_t;


typedef struct {
    ngx_flag_t                  enable;
    ngx_str_t                   db;
    /* replicas for reads (docs/scale.md); "" none */
    ngx_str_t                   db_read;
    ngx_msec_t                  read_max_lag;
    ngx_flag_t                  prepared;
    ngx_str_t                   pool_name;
    ngx_thread_pool_t          *pool;
    tk_jwt_key_t               *key;
    tk_jwt_key_t               *signing_key;
    ngx_str_t                   issuer;
    ngx_str_t                   audience;
    time_t                      token_lifetime;
    /* lists count their matches this far; 0: every match */
    ngx_int_t                   list_count_limit;
    ngx_int_t                   search_count_limit;
    /* client_max_body_size, enforced here to answer in problem+json */
    off_t                       max_body;
    /* NUL-terminated copies for libtickets */
    char                       *db_c;
    char                       *db_read_c;
    char                       *issuer_c;
    char                       *audience_c;
} ngx_http_tickets_loc_conf_t;


/* one body segment, in memory or in the temp file */
typedef struct {
    u_char                     *pos;
    size_t                      len;
    ngx_fd_t                    fd;
    off_t                       offset;
} ngx_http_tickets_seg_t;


typedef struct {
    ngx_http_request_t         *request;
    ngx_http_tickets_loc_conf_t *conf;
    ngx_http_tickets_route_t   *route;
    int64_t                     id;
    /* the second "{id}" of a path, as in .../deliveries/{id}/redeliver */
    int64_t                     id2;
    ngx_str_t                   guid;
    ngx_str_t                   request_id;
    tk_jwt_claims_t             claims;
    off_t                       body_size;

    /* the request, copied for the task: NUL-terminated */
    char                       *idempotency_key;
    char                       *if_match;
    char                       *if_none_match;     /* GET by id only */
    char                       *token;
    char                        guid_c[40];
    ngx_str_t                   args;
    char                       *boundary;
    size_t                      boundary_len;
    unsigned                    multipart:1;
    unsigned                    wants_json:1;
    /* inbound: the body is a message/rfc822, read whole into raw */
    unsigned                    raw_mail:1;
    char                       *raw;
    size_t                      raw_len;
    ngx_http_tickets_seg_t     *segs;
    ngx_uint_t                  nsegs;

    /* read-your-writes: the LSN the client echoed, the one of a write */
    char                        lsn_in[NGX_HTTP_TICKETS_LSN_LEN];
    char                        lsn_out[NGX_HTTP_TICKETS_LSN_LEN];
    unsigned                    replica:1;  /* the read was served there */

    tk_result_t                 res;

    /* the task: posted and not done yet; its client went away */
    tk_cancel_t                *cancel;
    unsigned                    in_task:1;
    unsigned                    cancelled:1;

    ngx_http_tickets_metrics_req_t  *metrics;
} ngx_http_tickets_ctx_t;


static ngx_int_t ngx_http_tickets_handler(ngx_http_request_t *r);
static ngx_http_tickets_route_t *ngx_http_tickets_route(ngx_http_request_t *r,
    int64_t *id, int64_t *id2, ngx_str_t *guid, ngx_uint_t *allowed);
static ngx_int_t ngx_http_tickets_allow(ngx_http_request_t *r,
    ngx_uint_t allowed);
static ngx_int_t ngx_http_tickets_authenticate(ngx_http_request_t *r,
    ngx_http_tickets_ctx_t *ctx);
static ngx_int_t ngx_http_tickets_form_type(ngx_http_request_t *r,
    ngx_http_tickets_ctx_t *ctx);
static void ngx_http_tickets_body_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_tickets_post_task(ngx_http_request_t *r,
    ngx_http_tickets_ctx_t *ctx);
static void ngx_http_tickets_task_handler(void *data, ngx_log_t *log);
static int ngx_http_tickets_run_on(ngx_http_tickets_ctx_t *ctx,
    tk_conn_t *conn);
static int ngx_http_tickets_is_read(ngx_http_tickets_op_e op);
static ngx_int_t ngx_http_tickets_db_served_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static int ngx_http_tickets_run(ngx_http_tickets_ctx_t *ctx,
    tk_conn_t *conn);
static int ngx_http_tickets_read_form(ngx_http_tickets_ctx_t *ctx,
    tk_form_t *form);
static int ngx_http_tickets_read_query(ngx_http_tickets_ctx_t *ctx,
    tk_form_t *form);
static ngx_int_t ngx_http_tickets_links(ngx_http_request_t *r,
    ngx_http_tickets_ctx_t *ctx);
static int ngx_http_tickets_token(ngx_http_tickets_ctx_t *ctx,
    tk_conn_t *conn, tk_form_t *form);
static void ngx_http_tickets_task_done(ngx_event_t *ev);
static void ngx_http_tickets_check_client(ngx_http_request_t *r);
static void ngx_http_tickets_cancel(ngx_http_tickets_ctx_t *ctx);
static void ngx_http_tickets_request_cleanup(void *data);
static void ngx_http_tickets_cancel_free(void *data);
static ngx_int_t ngx_http_tickets_respond(ngx_http_request_t *r,
    ngx_http_tickets_ctx_t *ctx);
static ngx_uint_t ngx_http_tickets_wants_json(ngx_http_request_t *r);
static const char *ngx_http_tickets_confirm_token(ngx_http_tickets_ctx_t *ctx,
    tk_form_t *form);
static ngx_int_t ngx_http_tickets_confirm_headers(ngx_http_request_t *r);
static ngx_int_t ngx_http_tickets_send_result(ngx_http_request_t *r,
    ngx_http_tickets_ctx_t *ctx, ngx_uint_t status);
static ngx_int_t ngx_http_tickets_problem(ngx_http_request_t *r,
    ngx_http_tickets_ctx_t *ctx, ngx_uint_t status, const char *detail,
    const char *errors);
static ngx_int_t ngx_http_tickets_send(ngx_http_request_t *r,
    ngx_http_tickets_ctx_t *ctx, ngx_uint_t status, ngx_str_t *type,
    u_char *body, size_t len);
static ngx_int_t ngx_http_tickets_add_header(ngx_http_request_t *r,
    const char *name, u_char *value, size_t len);
static ngx_table_elt_t *ngx_http_tickets_header_in(ngx_http_request_t *r,
    const char *name, size_t len);
static ngx_int_t ngx_http_tickets_request_id(ngx_http_request_t *r,
    ngx_http_tickets_ctx_t *ctx);
static ngx_int_t ngx_http_tickets_request_id_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static u_char *ngx_http_tickets_json_escape(u_char *dst, const u_char *src,
    size_t len);
static size_t ngx_http_tickets_json_escaped_len(const u_char *src,
    size_t len);
static char *ngx_http_tickets_cstr(ngx_pool_t *pool, ngx_str_t *s);
static ngx_int_t ngx_http_tickets_arg(ngx_http_request_t *r, char *name,
    char **value);
static ngx_int_t ngx_http_tickets_disposition(ngx_http_request_t *r,
    const char *filename);
static u_char *ngx_http_tickets_take_body(ngx_http_request_t *r,
    tk_result_t *res);
static ngx_int_t ngx_http_tickets_request_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);

static ngx_int_t ngx_http_tickets_add_variables(ngx_conf_t *cf);
static ngx_int_t ngx_http_tickets_init(ngx_conf_t *cf);
static ngx_int_t ngx_http_tickets_init_module(ngx_cycle_t *cycle);
static ngx_int_t ngx_http_tickets_check_db(ngx_conf_t *cf,
    const char *directive, const char *conninfo);
static char *ngx_http_tickets_limit_body(ngx_conf_t *cf,
    ngx_http_tickets_loc_conf_t *conf);
static char *ngx_http_tickets_check_keys(ngx_conf_t *cf,
    ngx_http_tickets_loc_conf_t *conf);
static void *ngx_http_tickets_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_tickets_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_tickets(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *ngx_http_tickets_jwt_key(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_tickets_load_key(ngx_conf_t *cf, tk_jwt_key_t **key,
    const char *alg, ngx_str_t *path);
static void ngx_http_tickets_free_key(void *data);


static ngx_command_t  ngx_http_tickets_commands[] = {

    { ngx_string("tickets"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_tickets,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("tickets_db"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_tickets_loc_conf_t, db),
      NULL },

    { ngx_string("tickets_db_read"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_tickets_loc_conf_t, db_read),
      NULL },

    { ngx_string("tickets_db_read_max_lag"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_tickets_loc_conf_t, read_max_lag),
      NULL },

    /* http only: the jobs share the connections of the pool threads */
    { ngx_string("tickets_db_prepared"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_tickets_loc_conf_t, prepared),
      NULL },

    { ngx_string("tickets_thread_pool"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_tickets_loc_conf_t, pool_name),
      NULL },

    { ngx_string("tickets_jwt_key"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE2,
      ngx_http_tickets_jwt_key,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_tickets_loc_conf_t, key),
      NULL },

    { ngx_string("tickets_jwt_signing_key"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_tickets_jwt_key,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_tickets_loc_conf_t, signing_key),
      NULL },

    { ngx_string("tickets_jwt_issuer"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_tickets_loc_conf_t, issuer),
      NULL },

    { ngx_string("tickets_jwt_audience"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_tickets_loc_conf_t, audience),
      NULL },

    { ngx_string("tickets_list_count_limit"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_tickets_loc_conf_t, list_count_limit),
      NULL },

    { ngx_string("tickets_search_count_limit"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_tickets_loc_conf_t, search_count_limit),
      NULL },

    { ngx_string("tickets_token_lifetime"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_tickets_loc_conf_t, token_lifetime),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_tickets_module_ctx = {
    ngx_http_tickets_add_variables,        /* preconfiguration */
    ngx_http_tickets_init,                 /* postconfiguration */

    NULL,                                  /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_tickets_create_loc_conf,      /* create location configuration */
    ngx_http_tickets_merge_loc_conf        /* merge location configuration */
};


ngx_module_t  ngx_http_tickets_module = {
    NGX_MODULE_V1,
    &ngx_http_tickets_module_ctx,          /* module context */
    ngx_http_tickets_commands,             /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    ngx_http_tickets_init_module,          /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


/* Matched case-insensitively; "{id}" is a positive integer segment. */
#define NGX_HTTP_TICKETS_GET   (NGX_HTTP_GET|NGX_HTTP_HEAD)
#define NGX_HTTP_TICKETS_AUTH  1
#define NGX_HTTP_TICKETS_FORM  1
#define NGX_HTTP_TICKETS_R(pattern, methods, op, auth, form, location)      \
    { ngx_string(pattern), methods, NGX_HTTP_TICKETS_OP_##op, auth, form,  \
      location }

/*
 * Matched case-insensitively, in order; "{id}" is a positive integer
 * segment and "{guid}" a UUID.
 */
static ngx_http_tickets_route_t  ngx_http_tickets_routes[] = {

    NGX_HTTP_TICKETS_R("/api/health", NGX_HTTP_TICKETS_GET, HEALTH,
                       0, 0, NULL),
    NGX_HTTP_TICKETS_R("/api/auth/token", NGX_HTTP_POST, TOKEN,
                       0, 1, NULL),
    NGX_HTTP_TICKETS_R("/api/openapi.json", NGX_HTTP_TICKETS_GET, OPENAPI,
                       0, 0, NULL),
    NGX_HTTP_TICKETS_R("/api/TicketsApi", NGX_HTTP_TICKETS_GET, LIST,
                       1, 0, NULL),
    NGX_HTTP_TICKETS_R("/api/TicketsApi/metadata", NGX_HTTP_TICKETS_GET,
                       METADATA, 1, 0, NULL),
    NGX_HTTP_TICKETS_R("/api/TicketsApi/metadata/{id}", NGX_HTTP_TICKETS_GET,
                       METADATA, 1, 0, NULL),
    NGX_HTTP_TICKETS_R("/api/TicketsApi/appmetadata", NGX_HTTP_TICKETS_GET,
                       APPMETADATA, 1, 0, NULL),
    NGX_HTTP_TICKETS_R("/api/TicketsApi/register", NGX_HTTP_POST, REGISTER,
                       1, 1, "/api/TicketsApi/%L"),
    NGX_HTTP_TICKETS_R("/api/TicketsApi/new", NGX_HTTP_POST, NEW,
                       1, 1, "/api/TicketsApi/%L"),
    NGX_HTTP_TICKETS_R("/api/TicketsApi/list", NGX_HTTP_POST, LIST_BY_USER,
                       1, 1, NULL),
    NGX_HTTP_TICKETS_R("/api/TicketsApi/update/{id}", NGX_HTTP_POST, UPDATE,
                       1, 1, NULL),
    NGX_HTTP_TICKETS_R("/api/TicketsApi/forward/{id}", NGX_HTTP_POST,
                       FORWARD, 1, 1, NULL),
    NGX_HTTP_TICKETS_R("/api/TicketsApi/reply/{id}", NGX_HTTP_POST, REPLY,
                       1, 1, NULL),
    NGX_HTTP_TICKETS_R("/api/TicketsApi/close/{id}", NGX_HTTP_POST, CLOSE,
                       1, 1, NULL),
    NGX_HTTP_TICKETS_R("/api/TicketsApi/resolve/{id}", NGX_HTTP_POST,
                       RESOLVE, 1, 1, NULL),
    /* GET and HEAD only read: link scanners fetch them; POST closes */
    NGX_HTTP_TICKETS_R("/api/TicketsApi/confirm/{guid}", NGX_HTTP_TICKETS_GET,
                       CONFIRM, 0, 0, NULL),
    NGX_HTTP_TICKETS_R("/api/TicketsApi/confirm/{guid}", NGX_HTTP_POST,
                       CONFIRM_POST, 0, 1, NULL),
    NGX_HTTP_TICKETS_R("/api/TicketsApi/reopen/{id}", NGX_HTTP_POST, REOPEN,
                       1, 0, NULL),
    NGX_HTTP_TICKETS_R("/api/TicketsApi/note/{id}", NGX_HTTP_POST, NOTE,
                       1, 1, "/api/TicketsApi/%L/conversations"),
    NGX_HTTP_TICKETS_R("/api/TicketsApi/reqreply/{id}", NGX_HTTP_POST,
                       REQREPLY, 1, 1, NULL),
    NGX_HTTP_TICKETS_R("/api/TicketsApi/escalate/{id}", NGX_HTTP_POST,
                       ESCALATE, 1, 1, NULL),
    NGX_HTTP_TICKETS_R("/api/TicketsApi/attachment/{id}",
                       NGX_HTTP_TICKETS_GET, ATTACHMENT, 1, 0, NULL),
    NGX_HTTP_TICKETS_R("/api/TicketsApi/tasks/complete/{id}", NGX_HTTP_POST,
                       TASK_COMPLETE, 1, 0, NULL),
    NGX_HTTP_TICKETS_R("/api/TicketsApi/{id}/conversations",
                       NGX_HTTP_TICKETS_GET, CONVERSATIONS, 1, 0, NULL),
    NGX_HTTP_TICKETS_R("/api/TicketsApi/{id}/history", NGX_HTTP_TICKETS_GET,
                       HISTORY, 1, 0, NULL),
    NGX_HTTP_TICKETS_R("/api/TicketsApi/{id}/tasks", NGX_HTTP_TICKETS_GET,
                       TASKS, 1, 0, NULL),
    NGX_HTTP_TICKETS_R("/api/TicketsApi/{id}/tasks", NGX_HTTP_POST,
                       TASK_CREATE, 1, 1, "/api/TicketsApi/%L/tasks"),
    NGX_HTTP_TICKETS_R("/api/TicketsApi/{id}", NGX_HTTP_TICKETS_GET, GET,
                       1, 0, NULL),
    NGX_HTTP_TICKETS_R("/api/TicketsApi/{id}", NGX_HTTP_DELETE, DELETE,
                       1, 0, NULL),
    /* webhook subscriptions, Admin only (docs/webhooks.md) */
    NGX_HTTP_TICKETS_R("/api/webhooks", NGX_HTTP_TICKETS_GET, WEBHOOKS,
                       1, 0, NULL),
    NGX_HTTP_TICKETS_R("/api/webhooks", NGX_HTTP_POST, WEBHOOK_CREATE,
                       1, 1, "/api/webhooks/%L"),
    NGX_HTTP_TICKETS_R("/api/webhooks/{id}/deliveries", NGX_HTTP_TICKETS_GET,
                       WEBHOOK_DELIVERIES, 1, 0, NULL),
    NGX_HTTP_TICKETS_R("/api/webhooks/{id}/deliveries/{id}/redeliver",
                       NGX_HTTP_POST, WEBHOOK_REDELIVER, 1, 0, NULL),
    NGX_HTTP_TICKETS_R("/api/webhooks/{id}", NGX_HTTP_TICKETS_GET,
                       WEBHOOK_GET, 1, 0, NULL),
    NGX_HTTP_TICKETS_R("/api/webhooks/{id}", NGX_HTTP_PATCH, WEBHOOK_UPDATE,
                       1, 1, NULL),
    NGX_HTTP_TICKETS_R("/api/webhooks/{id}", NGX_HTTP_DELETE, WEBHOOK_DELETE,
                       1, 0, NULL),
    /* inbound mail, a message/rfc822 body (docs/email.md) */
    NGX_HTTP_TICKETS_R("/api/TicketsApi/inbound", NGX_HTTP_POST, INBOUND,
                       1, 1, "/api/TicketsApi/%L"),
};


/* the "operation" label of the metrics, in the order of the enum */
/* by op, so that an op added without a name shows as NULL, not shifted */
static const char  *ngx_http_tickets_op_names[] = {
    [NGX_HTTP_TICKETS_OP_HEALTH] = "health",
    [NGX_HTTP_TICKETS_OP_TOKEN] = "token",
    [NGX_HTTP_TICKETS_OP_GET] = "ticket_get",
    [NGX_HTTP_TICKETS_OP_METADATA] = "metadata",
    [NGX_HTTP_TICKETS_OP_APPMETADATA] = "appmetadata",
    [NGX_HTTP_TICKETS_OP_REGISTER] = "register",
    [NGX_HTTP_TICKETS_OP_UPDATE] = "update",
    [NGX_HTTP_TICKETS_OP_FORWARD] = "forward",
    [NGX_HTTP_TICKETS_OP_REPLY] = "reply",
    [NGX_HTTP_TICKETS_OP_CLOSE] = "close",
    [NGX_HTTP_TICKETS_OP_RESOLVE] = "resolve",
    [NGX_HTTP_TICKETS_OP_CONFIRM] = "confirm",
    [NGX_HTTP_TICKETS_OP_CONFIRM_POST] = "confirm_post",
    [NGX_HTTP_TICKETS_OP_REOPEN] = "reopen",
    [NGX_HTTP_TICKETS_OP_NOTE] = "note",
    [NGX_HTTP_TICKETS_OP_CONVERSATIONS] = "conversations",
    [NGX_HTTP_TICKETS_OP_HISTORY] = "history",
    [NGX_HTTP_TICKETS_OP_DELETE] = "delete",
    [NGX_HTTP_TICKETS_OP_NEW] = "new",
    [NGX_HTTP_TICKETS_OP_LIST_BY_USER] = "list_by_user",
    [NGX_HTTP_TICKETS_OP_REQREPLY] = "reqreply",
    [NGX_HTTP_TICKETS_OP_ATTACHMENT] = "attachment",
    [NGX_HTTP_TICKETS_OP_TASKS] = "tasks",
    [NGX_HTTP_TICKETS_OP_TASK_CREATE] = "task_create",
    [NGX_HTTP_TICKETS_OP_TASK_COMPLETE] = "task_complete",
    [NGX_HTTP_TICKETS_OP_ESCALATE] = "escalate",
    [NGX_HTTP_TICKETS_OP_LIST] = "list",
    [NGX_HTTP_TICKETS_OP_OPENAPI] = "openapi",
    [NGX_HTTP_TICKETS_OP_WEBHOOKS] = "webhooks",
    [NGX_HTTP_TICKETS_OP_WEBHOOK_CREATE] = "webhook_create",
    [NGX_HTTP_TICKETS_OP_WEBHOOK_GET] = "webhook_get",
    [NGX_HTTP_TICKETS_OP_WEBHOOK_UPDATE] = "webhook_update",
    [NGX_HTTP_TICKETS_OP_WEBHOOK_DELETE] = "webhook_delete",
    [NGX_HTTP_TICKETS_OP_WEBHOOK_DELIVERIES] = "webhook_deliveries",
    [NGX_HTTP_TICKETS_OP_WEBHOOK_REDELIVER] = "webhook_redeliver",
    [NGX_HTTP_TICKETS_OP_INBOUND] = "inbound",
};


static ngx_str_t  ngx_http_tickets_json_type =
    ngx_string("application/json; charset=utf-8");
static ngx_str_t  ngx_http_tickets_problem_type =
    ngx_string("application/problem+json");

static ngx_str_t  ngx_http_tickets_request_id_name =
    ngx_string("tickets_request_id");
static ngx_int_t  ngx_http_tickets_request_id_index = NGX_ERROR;

/* each pool thread keeps its own connection */
static __thread tk_conn_t  *ngx_http_tickets_conn;
static __thread char       *ngx_http_tickets_conn_info;
/* tickets_db_prepared off: for every connection of the process */
static ngx_uint_t           ngx_http_tickets_unprepared;

static ngx_str_t  ngx_http_tickets_db_served_name =
    ngx_string("tickets_db_served");

static ngx_http_request_body_filter_pt  ngx_http_tickets_next_body_filter;


static ngx_int_t
ngx_http_tickets_handler(ngx_http_request_t *r)
{
    int64_t                       id;
    ngx_int_t                     rc;
    ngx_uint_t                    allowed;
    ngx_http_tickets_ctx_t       *ctx;
    ngx_http_tickets_route_t     *route;
    ngx_http_tickets_loc_conf_t  *tlcf;

    tlcf = ngx_http_get_module_loc_conf(r, ngx_http_tickets_module);

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_tickets_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->request = r;
    ctx->conf = tlcf;
    tk_result_init(&ctx->res);
    ngx_http_set_ctx(r, ctx, ngx_http_tickets_module);
    ctx->metrics = ngx_http_tickets_metrics_begin(r);

    if (ngx_http_tickets_request_id(r, ctx) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* nginx's own error, redirected here by the error page we set up */
    if (r->internal && r->err_status >= NGX_HTTP_BAD_REQUEST) {
        r->keepalive = 0;
        return ngx_http_tickets_problem(r, ctx, r->err_status,
                                        r->err_status
                                        == NGX_HTTP_REQUEST_ENTITY_TOO_LARGE
                                        ? "The request body is too large."
                                        : NULL, NULL);
    }

    route = ngx_http_tickets_route(r, &id, &ctx->id2, &ctx->guid, &allowed);

    if (route == NULL) {
        if (ngx_http_discard_request_body(r) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (allowed == 0) {
            return ngx_http_tickets_problem(r, ctx, NGX_HTTP_NOT_FOUND,
                                            "No such resource.", NULL);
        }

        if (ngx_http_tickets_allow(r, allowed) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_tickets_problem(r, ctx, NGX_HTTP_NOT_ALLOWED,
                                        "Method not allowed.", NULL);
    }

    ctx->route = route;
    ctx->id = id;
    ngx_http_tickets_metrics_route(ctx->metrics,
                                   route - ngx_http_tickets_routes,
                                   route->op);

    /* the document is in memory: no task */
    if (route->op == NGX_HTTP_TICKETS_OP_OPENAPI) {
        if (ngx_http_discard_request_body(r) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        rc = ngx_http_tickets_openapi_send(r, &ctx->request_id);
        if (rc != NGX_DECLINED) {
            return rc;
        }

        return ngx_http_tickets_problem(r, ctx, NGX_HTTP_NOT_FOUND,
                                        "No such resource.", NULL);
    }

    /* NGX_DECLINED from these: nothing was answered, go on */

    if (route->auth) {
        rc = ngx_http_tickets_authenticate(r, ctx);
        if (rc != NGX_DECLINED) {
            return rc;
        }
    }

    if (!route->form) {
        if (ngx_http_discard_request_body(r) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        r->main->count++;

        if (ngx_http_tickets_post_task(r, ctx) != NGX_OK) {
            r->main->count--;
            return ngx_http_tickets_problem(r, ctx,
                                      NGX_HTTP_SERVICE_UNAVAILABLE,
                                      "The service is overloaded.", NULL);
        }

        return NGX_DONE;
    }

    rc = ngx_http_tickets_form_type(r, ctx);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    r->request_body_in_single_buf = 0;
    r->request_body_file_log_level = 0;

    rc = ngx_http_read_client_request_body(r, ngx_http_tickets_body_handler);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        if (rc == NGX_HTTP_REQUEST_ENTITY_TOO_LARGE) {
            r->keepalive = 0;
            return ngx_http_tickets_problem(r, ctx, rc,
                                 "The request body is too large.", NULL);
        }

        return rc;
    }

    return NGX_DONE;
}


/*
 * Finds the route of the request.  Returns NULL when none fits: *allowed
 * is then 0 for an unknown path (404) or the methods the path has (405).
 */
static ngx_http_tickets_route_t *
ngx_http_tickets_route(ngx_http_request_t *r, int64_t *id, int64_t *id2,
    ngx_str_t *guid, ngx_uint_t *allowed)
{
    u_char                    *p, *q, *end, *pp, *pe;
    int64_t                    n, first;
    ngx_uint_t                 i, ok, nids;
    ngx_http_tickets_route_t  *route;

    *allowed = 0;
    *id = 0;

    end = r->uri.data + r->uri.len;

    /* a single trailing slash does not make another resource */
    if (r->uri.len > 1 && end[-1] == '/') {
        end--;
    }

    for (i = 0; i < sizeof(ngx_http_tickets_routes)
                    / sizeof(ngx_http_tickets_routes[0]); i++)
    {
        route = &ngx_http_tickets_routes[i];

        p = r->uri.data;
        pp = route->pattern.data;
        pe = pp + route->pattern.len;
        ok = 1;
        n = 0;
        first = 0;
        nids = 0;

        while (pp < pe && p < end) {

            if (*pp == '{' && pp[1] == 'g') {
                for (q = p; q < end && *q != '/'; q++) {
                    if (!((*q >= '0' && *q <= '9') || ((*q | 0x20) >= 'a'
                           && (*q | 0x20) <= 'f') || *q == '-'))
                    {
                        break;
                    }
                }

                if (q - p != 36 || (q < end && *q != '/')) {
                    ok = 0;
                    break;
                }

                guid->data = p;
                guid->len = 36;
                p = q;
                pp = (u_char *) ngx_strchr(pp, '}') + 1;
                continue;
            }

            if (*pp == '{') {
                if (nids++ == 1) {
                    first = n;
                }

                q = p;
                n = 0;

                while (q < end && *q != '/') {
                    if (*q < '0' || *q > '9'
                        || n > (INT64_MAX - (*q - '0')) / 10)
                    {
                        ok = 0;
                        break;
                    }

                    n = n * 10 + (*q - '0');
                    q++;
                }

                if (!ok || q == p || n == 0) {
                    ok = 0;
                    break;
                }

                p = q;
                pp = (u_char *) ngx_strchr(pp, '}') + 1;
                continue;
            }

            if (ngx_tolower(*pp) != ngx_tolower(*p)) {
                ok = 0;
                break;
            }

            pp++;
            p++;
        }

        if (!ok || pp != pe || p != end) {
            continue;
        }

        if (!(r->method & route->methods)) {
            *allowed |= route->methods;
            continue;
        }

        if (nids > 1) {
            *id = first;
            *id2 = n;

        } else {
            *id = n;
        }

        return route;
    }

    return NULL;
}


static ngx_int_t
ngx_http_tickets_allow(ngx_http_request_t *r, ngx_uint_t allowed)
{
    u_char  *p, *start;

    start = ngx_pnalloc(r->pool, sizeof("GET, HEAD, POST, PATCH, DELETE"));
    if (start == NULL) {
        return NGX_ERROR;
    }

    p = start;

    if (allowed & NGX_HTTP_GET) {
        p = ngx_cpymem(p, "GET, HEAD, ", 11);
    }

    if (allowed & NGX_HTTP_POST) {
        p = ngx_cpymem(p, "POST, ", 6);
    }

    if (allowed & NGX_HTTP_PATCH) {
        p = ngx_cpymem(p, "PATCH, ", 7);
    }

    if (allowed & NGX_HTTP_DELETE) {
        p = ngx_cpymem(p, "DELETE, ", 8);
    }

    return ngx_http_tickets_add_header(r, "Allow", start,
                                       p > start ? p - start - 2 : 0);
}


static ngx_int_t
ngx_http_tickets_authenticate(ngx_http_request_t *r,
    ngx_http_tickets_ctx_t *ctx)
{
    u_char                       *p, *end;
    const char                   *why;
    ngx_table_elt_t              *h;
    ngx_http_tickets_loc_conf_t  *tlcf;

    tlcf = ctx->conf;
    h = r->headers_in.authorization;
    why = "missing bearer token";

    if (h != NULL && h->value.len > 7
        && ngx_strncasecmp(h->value.data, (u_char *) "Bearer ", 7) == 0)
    {
        p = h->value.data + 7;
        end = h->value.data + h->value.len;

        while (p < end && *p == ' ') {
            p++;
        }

        if (tk_jwt_verify(tlcf->key, (const char *) p, end - p,
                          tlcf->issuer_c, tlcf->audience_c, ngx_time(),
                          &ctx->claims, &why)
            == TK_OK)
        {
            ngx_http_tickets_metrics_user(ctx->metrics, ctx->claims.sub);
            return NGX_DECLINED;
        }
    }

    ngx_http_tickets_metrics_refused(r, why);

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "tickets: 401 %s, request id %V", why, &ctx->request_id);

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_tickets_add_header(r, "WWW-Authenticate",
                         (u_char *) "Bearer error=\"invalid_token\"", 28)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_tickets_problem(r, ctx, NGX_HTTP_UNAUTHORIZED,
                                    "A valid bearer token is required.",
                                    NULL);
}


/*
 * Form endpoints take multipart/form-data or urlencoded bodies only, and
 * a body over client_max_body_size is refused before it is read.
 */
static ngx_int_t
ngx_http_tickets_form_type(ngx_http_request_t *r, ngx_http_tickets_ctx_t *ctx)
{
    char                      *b;
    size_t                     blen;
    ngx_str_t                 *ct;

    if (ctx->conf->max_body
        && r->headers_in.content_length_n > ctx->conf->max_body)
    {
        r->keepalive = 0;
        r->lingering_close = 1;

        if (ngx_http_discard_request_body(r) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_tickets_problem(r, ctx,
                                        NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                        "The request body is too large.",
                                        NULL);
    }

    ct = r->headers_in.content_type ? &r->headers_in.content_type->value
                                    : NULL;

    if (ctx->route->op == NGX_HTTP_TICKETS_OP_INBOUND) {
        if (ct != NULL && ct->len >= 14
            && ngx_strncasecmp(ct->data, (u_char *) "message/rfc822", 14)
               == 0
            && (ct->len == 14 || ct->data[14] == ';' || ct->data[14] == ' '))
        {
            ctx->raw_mail = 1;
            return NGX_DECLINED;
        }

        if (ngx_http_discard_request_body(r) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_tickets_problem(r, ctx,
                                        NGX_HTTP_UNSUPPORTED_MEDIA_TYPE,
                                        "The body must be message/rfc822.",
                                        NULL);
    }

    if (ct != NULL
        && ct->len >= 33
        && ngx_strncasecmp(ct->data,
                           (u_char *) "application/x-www-form-urlencoded",
                           33) == 0
        && (ct->len == 33 || ct->data[33] == ';' || ct->data[33] == ' '))
    {
        return NGX_DECLINED;
    }

    if (ct != NULL) {
        b = ngx_pnalloc(r->pool, 72);
        if (b == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (ngx_http_tickets_multipart_boundary((const char *) ct->data,
                                                ct->len, b, 72, &blen)
            == 0)
        {
            b[blen] = '\0';
            ctx->boundary = b;
            ctx->boundary_len = blen;
            ctx->multipart = 1;
            return NGX_DECLINED;
        }

        if (ct->len >= 19
            && ngx_strncasecmp(ct->data, (u_char *) "multipart/form-data",
                               19) == 0)
        {
            if (ngx_http_discard_request_body(r) != NGX_OK) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            return ngx_http_tickets_problem(r, ctx, NGX_HTTP_BAD_REQUEST,
                       "The multipart body has no valid boundary.", NULL);
        }
    }

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_tickets_problem(r, ctx, NGX_HTTP_UNSUPPORTED_MEDIA_TYPE,
                 "The body must be multipart/form-data or "
                 "application/x-www-form-urlencoded.", NULL);
}


static void
ngx_http_tickets_body_handler(ngx_http_request_t *r)
{
    ngx_buf_t               *b;
    ngx_uint_t               n;
    ngx_chain_t             *cl;
    ngx_http_tickets_ctx_t  *ctx;
    ngx_http_tickets_seg_t  *seg;

    ctx = ngx_http_get_module_ctx(r, ngx_http_tickets_module);

    n = 0;

    if (r->request_body) {
        for (cl = r->request_body->bufs; cl; cl = cl->next) {
            n++;
        }
    }

    if (n) {
        ctx->segs = ngx_palloc(r->pool, n * sizeof(ngx_http_tickets_seg_t));
        if (ctx->segs == NULL) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        for (cl = r->request_body->bufs; cl; cl = cl->next) {
            b = cl->buf;
            seg = &ctx->segs[ctx->nsegs];

            if (b->in_file) {
                seg->pos = NULL;
                seg->fd = b->file->fd;
                seg->offset = b->file_pos;
                seg->len = (size_t) (b->file_last - b->file_pos);

            } else {
                seg->pos = b->pos;
                seg->fd = NGX_INVALID_FILE;
                seg->offset = 0;
                seg->len = (size_t) (b->last - b->pos);
            }

            if (seg->len) {
                ctx->nsegs++;
            }
        }
    }

    if (ngx_http_tickets_post_task(r, ctx) != NGX_OK) {
        ngx_http_finalize_request(r,
            ngx_http_tickets_problem(r, ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                     "The service is overloaded.", NULL));
    }
}


static ngx_int_t
ngx_http_tickets_post_task(ngx_http_request_t *r, ngx_http_tickets_ctx_t *ctx)
{
    ngx_table_elt_t     *h;
    ngx_thread_task_t   *task;
    ngx_pool_cleanup_t  *cln;
    ngx_http_cleanup_t  *hcln;

    h = ngx_http_tickets_header_in(r, "Idempotency-Key", 15);
    if (h != NULL && h->value.len) {
        ctx->idempotency_key = ngx_http_tickets_cstr(r->pool, &h->value);
        if (ctx->idempotency_key == NULL) {
            return NGX_ERROR;
        }
    }

    if (r->headers_in.if_match) {
        ctx->if_match = ngx_http_tickets_cstr(r->pool,
                                              &r->headers_in.if_match->value);
        if (ctx->if_match == NULL) {
            return NGX_ERROR;
        }
    }

    if (r->headers_in.if_none_match
        && ctx->route->op == NGX_HTTP_TICKETS_OP_GET)
    {
        ctx->if_none_match = ngx_http_tickets_cstr(r->pool,
                                          &r->headers_in.if_none_match->value);
        if (ctx->if_none_match == NULL) {
            return NGX_ERROR;
        }
    }

    ctx->args = r->args;

    if (ctx->conf->db_read.len) {
        ngx_http_tickets_fleet_client_lsn(r, ctx->lsn_in,
                                          sizeof(ctx->lsn_in));
    }

    if (ctx->guid.len) {
        ngx_memcpy(ctx->guid_c, ctx->guid.data, ctx->guid.len);
        ctx->guid_c[ctx->guid.len] = '\0';
    }

    if (ctx->route->op == NGX_HTTP_TICKETS_OP_CONFIRM
        || ctx->route->op == NGX_HTTP_TICKETS_OP_CONFIRM_POST)
    {
        if (ngx_http_tickets_arg(r, "token", &ctx->token) != NGX_OK) {
            return NGX_ERROR;
        }

        ctx->wants_json = ngx_http_tickets_wants_json(r);
    }

    /* the request pool outlives the task: its cleanup frees the handle */
    cln = ngx_pool_cleanup_add(r->pool, 0);
    hcln = ngx_http_cleanup_add(r, 0);
    if (cln == NULL || hcln == NULL
        || tk_cancel_new(&ctx->cancel) != TK_OK)
    {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_tickets_cancel_free;
    cln->data = ctx->cancel;
    hcln->handler = ngx_http_tickets_request_cleanup;
    hcln->data = ctx;

    task = ngx_thread_task_alloc(r->pool, 0);
    if (task == NULL) {
        return NGX_ERROR;
    }

    task->ctx = ctx;
    task->handler = ngx_http_tickets_task_handler;
    task->event.data = ctx;
    task->event.handler = ngx_http_tickets_task_done;

    ngx_http_tickets_metrics_queued(ctx->metrics);

    if (ngx_thread_task_post(ctx->conf->pool, task) != NGX_OK) {
        ngx_http_tickets_metrics_overload(r);
        return NGX_ERROR;
    }

    r->main->blocked++;
    r->aio = 1;

    ctx->in_task = 1;
    ngx_http_tickets_inflight_add();

    /* a client that goes away meanwhile is noticed (not while nginx
     * discards a body: that has its own handler) */
    if (r->read_event_handler == ngx_http_block_reading) {
        r->read_event_handler = ngx_http_tickets_check_client;
    }

    return NGX_OK;
}


/*
 * The read handler while the task runs, as the upstream module checks for
 * a broken client connection: EOF or an error on the socket means the
 * client is gone (a client that only shuts down its sending side counts
 * as gone too, as with proxy_ignore_client_abort off), and its statement
 * is cancelled.  Data means a pipelined request: the client is there.
 */
static void
ngx_http_tickets_check_client(ngx_http_request_t *r)
{
    int                      n;
    char                     buf[1];
    ngx_err_t                err;
    ngx_event_t             *rev;
    ngx_connection_t        *c;
    ngx_http_tickets_ctx_t  *ctx;

    c = r->connection;
    rev = c->read;
    ctx = ngx_http_get_module_ctx(r, ngx_http_tickets_module);

    if (ctx == NULL || !ctx->in_task || ctx->cancelled) {
        return;
    }

#if (NGX_HTTP_V2)
    if (r->stream) {
        return;
    }
#endif

    err = 0;

    if (!c->error) {

#if (NGX_HAVE_EPOLLRDHUP)
        if ((ngx_event_flags & NGX_USE_EPOLL_EVENT) && ngx_use_epoll_rdhup) {
            if (!rev->pending_eof) {
                return;
            }

        } else
#endif
        {
            n = recv(c->fd, buf, 1, MSG_PEEK);
            err = ngx_socket_errno;

            if (n > 0 || (n == -1 && err == NGX_EAGAIN)) {
                if (n > 0 && (ngx_event_flags & NGX_USE_LEVEL_EVENT)
                    && rev->active)
                {
                    (void) ngx_del_event(rev, NGX_READ_EVENT, 0);
                }

                return;
            }

            if (n == 0) {
                err = 0;
            }
        }
    }

    if ((ngx_event_flags & NGX_USE_LEVEL_EVENT) && rev->active) {
        (void) ngx_del_event(rev, NGX_READ_EVENT, 0);
    }

    rev->eof = 1;
    c->error = 1;

    ngx_log_error(NGX_LOG_INFO, c->log, err,
                  "tickets: client closed the connection, its request "
                  "is cancelled, request id %V", &ctx->request_id);

    ngx_http_tickets_cancel(ctx);
}


static void
ngx_http_tickets_cancel(ngx_http_tickets_ctx_t *ctx)
{
    if (!ctx->in_task || ctx->cancelled) {
        return;
    }

    ctx->cancelled = 1;
    ngx_http_tickets_cancel_post(ctx->cancel,
                                 ctx->request->connection->log);
}


/*
 * The request is terminated (worker_shutdown_timeout closed its
 * connection, ...) or freed: a task still in flight is cancelled.
 */
static void
ngx_http_tickets_request_cleanup(void *data)
{
    ngx_http_tickets_ctx_t  *ctx = data;

    ngx_http_tickets_cancel(ctx);
}


static void
ngx_http_tickets_cancel_free(void *data)
{
    tk_cancel_unref(data);
}


/* In a pool thread: nothing here may touch nginx's pools or events. */
static void
ngx_http_tickets_task_handler(void *data, ngx_log_t *log)
{
    ngx_http_tickets_ctx_t  *ctx = data;

    int          read;
    tk_conn_t   *conn, *rconn;
    tk_result_t  lres;
    char         min_lsn[NGX_HTTP_TICKETS_LSN_LEN];

    read = ngx_http_tickets_is_read(ctx->route->op);

    if (read && ctx->conf->db_read_c != NULL) {
        /* a replica, when it has replayed what this principal wrote */
        ngx_http_tickets_fleet_min_lsn(ctx->claims.sub, ctx->lsn_in,
                                       min_lsn, sizeof(min_lsn));

        rconn = ngx_http_tickets_fleet_replica(ctx->conf->db_read_c,
                                               !ngx_http_tickets_unprepared,
                                               min_lsn,
                                               ctx->conf->read_max_lag);
        if (rconn != NULL) {
            ctx->res.code = ngx_http_tickets_run_on(ctx, rconn);

            if (ctx->res.code != TK_EUNAVAIL && ctx->res.code != TK_EAUTH) {
                ctx->replica = 1;
                return;
            }

            /* the replica went away, or does not know the user yet */
            tk_result_clear(&ctx->res);
            tk_result_init(&ctx->res);
        }
    }

    conn = ngx_http_tickets_thread_conn(ctx->conf->db_c);
    if (conn == NULL) {
        ngx_http_tickets_metrics_task_start(ctx->metrics, NULL);
        ctx->res.code = TK_ENOMEM;
        return;
    }

    tk_conn_lsn_reset(conn);

    ctx->res.code = ngx_http_tickets_run_on(ctx, conn);

    if (read || ctx->conf->db_read_c == NULL || ctx->res.code < TK_OK
        || ctx->route->op == NGX_HTTP_TICKETS_OP_HEALTH
        || ctx->route->op == NGX_HTTP_TICKETS_OP_TOKEN)
    {
        return;
    }

    /* a write: where its commit is, for the reads after it */
    tk_result_init(&lres);

    if (tk_conn_write_lsn(conn, ctx->lsn_out, sizeof(ctx->lsn_out), &lres)
        == TK_OK)
    {
        ngx_http_tickets_fleet_wrote(ctx->claims.sub, ctx->lsn_out);

    } else {
        ctx->lsn_out[0] = '\0';
    }

    tk_result_clear(&lres);
}


/* One run on one connection: cancellable, and timed for the metrics. */
static int
ngx_http_tickets_run_on(ngx_http_tickets_ctx_t *ctx, tk_conn_t *conn)
{
    int  rc;

    ngx_http_tickets_metrics_task_start(ctx->metrics, conn);
    tk_conn_set_cancel(conn, ctx->cancel);

    rc = ngx_http_tickets_run(ctx, conn);

    tk_conn_set_cancel(conn, NULL);
    ngx_http_tickets_metrics_task_end(ctx->metrics, conn);

    return rc;
}


/* What a replica may serve: the reads of docs/scale.md */
static int
ngx_http_tickets_is_read(ngx_http_tickets_op_e op)
{
    switch (op) {
    case NGX_HTTP_TICKETS_OP_GET:
    case NGX_HTTP_TICKETS_OP_METADATA:
    case NGX_HTTP_TICKETS_OP_APPMETADATA:
    case NGX_HTTP_TICKETS_OP_CONVERSATIONS:
    case NGX_HTTP_TICKETS_OP_HISTORY:
    case NGX_HTTP_TICKETS_OP_ATTACHMENT:
    case NGX_HTTP_TICKETS_OP_TASKS:
    case NGX_HTTP_TICKETS_OP_LIST:
    case NGX_HTTP_TICKETS_OP_LIST_BY_USER:
        return 1;
    default:
        return 0;
    }
}


/* For the metrics (ngx_http_tickets_metrics.h). */
ngx_str_t *
ngx_http_tickets_route_pattern(ngx_uint_t i)
{
    if (i >= sizeof(ngx_http_tickets_routes)
             / sizeof(ngx_http_tickets_routes[0]))
    {
        return NULL;
    }

    return &ngx_http_tickets_routes[i].pattern;
}


const char *
ngx_http_tickets_op_name(ngx_uint_t op)
{
    if (op >= sizeof(ngx_http_tickets_op_names)
              / sizeof(ngx_http_tickets_op_names[0]))
    {
        return NULL;
    }

    return ngx_http_tickets_op_names[op];
}


/* Shared with the jobs module's tasks (ngx_http_tickets_jobs.h). */
tk_conn_t *
ngx_http_tickets_thread_conn(const char *conninfo)
{
    if (ngx_http_tickets_conn != NULL
        && ngx_strcmp(ngx_http_tickets_conn_info, conninfo) != 0)
    {
        tk_conn_close(ngx_http_tickets_conn);
        ngx_http_tickets_conn = NULL;
    }

    if (ngx_http_tickets_conn == NULL) {
        if (tk_conn_open(&ngx_http_tickets_conn, conninfo) != TK_OK) {
            return NULL;
        }

        ngx_http_tickets_conn_info = (char *) conninfo;
    }

    tk_conn_set_prepared(ngx_http_tickets_conn, !ngx_http_tickets_unprepared);

    return ngx_http_tickets_conn;
}


static int
ngx_http_tickets_run(ngx_http_tickets_ctx_t *ctx, tk_conn_t *conn)
{
    int              rc;
    tk_form_t       *form;
    tk_result_t     *res;
    tk_principal_t   p;

    res = &ctx->res;
    form = NULL;

    if (ctx->route->form || ctx->route->op == NGX_HTTP_TICKETS_OP_LIST) {
        form = tk_form_new();
        if (form == NULL) {
            return TK_ENOMEM;
        }

        rc = ctx->route->form
             ? ngx_http_tickets_read_form(ctx, form)
             : ngx_http_tickets_read_query(ctx, form);

        if (rc != TK_OK) {
            tk_form_free(form);
            return rc;
        }
    }

    if (ctx->route->auth && ctx->route->op == NGX_HTTP_TICKETS_OP_GET) {
        /* the principal and the ticket in one round trip */
        return tk_ticket_get_as(conn, ctx->claims.sub, ctx->claims.perms,
                                ctx->id, ctx->if_none_match, &p, res);
    }

    if (ctx->route->auth) {
        rc = tk_principal_load(conn, ctx->claims.sub, ctx->claims.perms, &p,
                               res);
        if (rc != TK_OK) {
            tk_form_free(form);
            free(ctx->raw);
            ctx->raw = NULL;
            return rc;
        }
    }

    switch (ctx->route->op) {

    case NGX_HTTP_TICKETS_OP_HEALTH:
        rc = tk_health(conn, res);
        break;

    case NGX_HTTP_TICKETS_OP_TOKEN:
        rc = ngx_http_tickets_token(ctx, conn, form);
        break;

    case NGX_HTTP_TICKETS_OP_GET:
        rc = tk_ticket_get(conn, &p, ctx->id, res);
        break;

    case NGX_HTTP_TICKETS_OP_METADATA:
        rc = tk_metadata(conn, &p, ctx->id, res);
        break;

    case NGX_HTTP_TICKETS_OP_APPMETADATA:
        rc = tk_appmetadata(conn, &p, res);
        break;

    case NGX_HTTP_TICKETS_OP_REGISTER:
        rc = tk_ticket_register(conn, &p, form, ctx->idempotency_key, res);
        break;

    case NGX_HTTP_TICKETS_OP_UPDATE:
        rc = tk_ticket_update(conn, &p, ctx->id, form, ctx->if_match,
                              ctx->idempotency_key, res);
        break;

    case NGX_HTTP_TICKETS_OP_FORWARD:
        rc = tk_ticket_forward(conn, &p, ctx->id, form, ctx->idempotency_key,
                               res);
        break;

    case NGX_HTTP_TICKETS_OP_REPLY:
        rc = tk_ticket_reply(conn, &p, ctx->id, form, ctx->idempotency_key,
                             res);
        break;

    case NGX_HTTP_TICKETS_OP_CLOSE:
        rc = tk_ticket_close(conn, &p, ctx->id, form, ctx->idempotency_key,
                             res);
        break;

    case NGX_HTTP_TICKETS_OP_RESOLVE:
        rc = tk_ticket_resolve(conn, &p, ctx->id, form, ctx->idempotency_key,
                               res);
        break;

    case NGX_HTTP_TICKETS_OP_CONFIRM:
        rc = tk_ticket_confirm_page(conn, ctx->guid_c,
                                    ctx->token ? ctx->token : "", res);
        break;

    case NGX_HTTP_TICKETS_OP_CONFIRM_POST:
        rc = tk_ticket_confirm(conn, ctx->guid_c,
                               ngx_http_tickets_confirm_token(ctx, form),
                               res);
        break;

    case NGX_HTTP_TICKETS_OP_REOPEN:
        rc = tk_ticket_reopen(conn, &p, ctx->id, ctx->idempotency_key, res);
        break;

    case NGX_HTTP_TICKETS_OP_NOTE:
        rc = tk_ticket_note(conn, &p, ctx->id, form, ctx->idempotency_key,
                            res);
        break;

    case NGX_HTTP_TICKETS_OP_CONVERSATIONS:
        rc = tk_ticket_conversations(conn, &p, ctx->id, res);
        break;

    case NGX_HTTP_TICKETS_OP_HISTORY:
        rc = tk_ticket_history(conn, &p, ctx->id, res);
        break;

    case NGX_HTTP_TICKETS_OP_DELETE:
        rc = tk_ticket_delete(conn, &p, ctx->id, ctx->idempotency_key, res);
        break;

    case NGX_HTTP_TICKETS_OP_NEW:
        rc = tk_ticket_new(conn, &p, form, ctx->idempotency_key, res);
        break;

    case NGX_HTTP_TICKETS_OP_LIST_BY_USER:
        rc = tk_ticket_list_by_user(conn, &p, form, res);
        break;

    case NGX_HTTP_TICKETS_OP_REQREPLY:
        rc = tk_ticket_reqreply(conn, &p, ctx->id, form, ctx->idempotency_key,
                                res);
        break;

    case NGX_HTTP_TICKETS_OP_ATTACHMENT:
        rc = tk_attachment_get(conn, &p, ctx->id, res);
        break;

    case NGX_HTTP_TICKETS_OP_TASKS:
        rc = tk_task_list(conn, &p, ctx->id, res);
        break;

    case NGX_HTTP_TICKETS_OP_TASK_CREATE:
        rc = tk_task_create(conn, &p, ctx->id, form, ctx->idempotency_key,
                            res);
        break;

    case NGX_HTTP_TICKETS_OP_TASK_COMPLETE:
        rc = tk_task_complete(conn, &p, ctx->id, ctx->idempotency_key, res);
        break;

    case NGX_HTTP_TICKETS_OP_ESCALATE:
        rc = tk_ticket_escalate(conn, &p, ctx->id, form,
                                ctx->idempotency_key, res);
        break;

    case NGX_HTTP_TICKETS_OP_LIST:
        tk_conn_set_list_count_limit(conn, ctx->conf->list_count_limit,
                                     ctx->conf->search_count_limit);
        rc = tk_ticket_list(conn, &p, form, res);
        break;

    case NGX_HTTP_TICKETS_OP_WEBHOOKS:
        rc = tk_webhook_list(conn, &p, res);
        break;

    case NGX_HTTP_TICKETS_OP_WEBHOOK_CREATE:
        rc = tk_webhook_create(conn, &p, form, res);
        break;

    case NGX_HTTP_TICKETS_OP_WEBHOOK_GET:
        rc = tk_webhook_get(conn, &p, ctx->id, res);
        break;

    case NGX_HTTP_TICKETS_OP_WEBHOOK_UPDATE:
        rc = tk_webhook_update(conn, &p, ctx->id, form, res);
        break;

    case NGX_HTTP_TICKETS_OP_WEBHOOK_DELETE:
        rc = tk_webhook_delete(conn, &p, ctx->id, res);
        break;

    case NGX_HTTP_TICKETS_OP_WEBHOOK_DELIVERIES:
        rc = tk_webhook_deliveries(conn, &p, ctx->id, res);
        break;

    case NGX_HTTP_TICKETS_OP_WEBHOOK_REDELIVER:
        rc = tk_webhook_redeliver(conn, &p, ctx->id, ctx->id2, res);
        break;

    case NGX_HTTP_TICKETS_OP_INBOUND:
        if (!(p.perms & TK_PERM_INBOUND)) {
            rc = TK_EFORBIDDEN;
            snprintf(res->message, sizeof(res->message),
                     "Tickets.Inbound is required");

        } else {
            rc = tk_mail_deliver(conn, ctx->raw, ctx->raw_len, res);
        }

        free(ctx->raw);
        ctx->raw = NULL;
        break;

    default:
        rc = TK_ENOTFOUND;
    }

    tk_form_free(form);

    return rc;
}


/* Parses the body, in memory or spooled to a temp file, into the form. */
static int
ngx_http_tickets_read_form(ngx_http_tickets_ctx_t *ctx, tk_form_t *form)
{
    int                             rc;
    u_char                         *buf, *all, *p;
    size_t                          total, len;
    ssize_t                         n;
    ngx_uint_t                      i;
    const char                     *err;
    ngx_http_tickets_seg_t         *seg;
    ngx_http_tickets_multipart_t   *mp;
    u_char                          chunk[16384];

    total = 0;
    for (i = 0; i < ctx->nsegs; i++) {
        total += ctx->segs[i].len;
    }

    mp = NULL;
    all = NULL;

    if (ctx->multipart) {
        mp = ngx_http_tickets_multipart_create(ctx->boundary,
                                               ctx->boundary_len, form,
                                               NGX_HTTP_TICKETS_MAX_PARTS,
                                               NGX_HTTP_TICKETS_MAX_PART_HEADER);
        if (mp == NULL) {
            return TK_ENOMEM;
        }

    } else {
        all = malloc(total + 1);
        if (all == NULL) {
            return TK_ENOMEM;
        }
    }

    p = all;
    rc = TK_OK;

    for (i = 0; i < ctx->nsegs && rc == TK_OK; i++) {
        seg = &ctx->segs[i];
        len = 0;

        while (len < seg->len) {
            if (seg->pos != NULL) {
                buf = seg->pos + len;
                n = seg->len - len;

            } else {
                n = pread(seg->fd, chunk,
                          ngx_min(sizeof(chunk), seg->len - len),
                          seg->offset + len);
                if (n <= 0) {
                    snprintf(ctx->res.message, sizeof(ctx->res.message),
                             "reading the request body failed");
                    rc = TK_EINTERNAL;
                    break;
                }

                buf = chunk;
            }

            if (mp != NULL) {
                if (ngx_http_tickets_multipart_feed(mp, buf, n) != 0) {
                    rc = TK_EINVAL;
                    break;
                }

            } else {
                memcpy(p, buf, n);
                p += n;
            }

            len += n;
        }
    }

    if (mp != NULL) {
        if (rc == TK_OK && ngx_http_tickets_multipart_finish(mp) != 0) {
            rc = TK_EINVAL;
        }

        err = ngx_http_tickets_multipart_error(mp);

        if (rc == TK_EINVAL && err != NULL
            && ngx_strcmp(err, "out of memory") == 0)
        {
            rc = TK_ENOMEM;

        } else if (rc == TK_EINVAL) {
            snprintf(ctx->res.message, sizeof(ctx->res.message),
                     "Malformed multipart body: %s", err ? err : "invalid");
        }

        ngx_http_tickets_multipart_destroy(mp);
        return rc;
    }

    if (rc == TK_OK && ctx->raw_mail) {
        /* the message itself, for tk_mail_deliver() */
        ctx->raw = (char *) all;
        ctx->raw_len = p - all;
        return TK_OK;
    }

    if (rc == TK_OK
        && ngx_http_tickets_urlencoded_parse(all, p - all, form,
                                             NGX_HTTP_TICKETS_MAX_FIELDS,
                                             &err)
           != 0)
    {
        rc = ngx_strcmp(err, "out of memory") == 0 ? TK_ENOMEM : TK_EINVAL;
        snprintf(ctx->res.message, sizeof(ctx->res.message),
                 "Malformed form body: %s", err);
    }

    free(all);

    return rc;
}


static int
ngx_http_tickets_read_query(ngx_http_tickets_ctx_t *ctx, tk_form_t *form)
{
    const char  *err;

    if (ngx_http_tickets_urlencoded_parse(ctx->args.data, ctx->args.len,
                                          form, NGX_HTTP_TICKETS_MAX_FIELDS,
                                          &err)
        != 0)
    {
        snprintf(ctx->res.message, sizeof(ctx->res.message),
                 "Malformed query string: %s", err);
        return ngx_strcmp(err, "out of memory") == 0 ? TK_ENOMEM : TK_EINVAL;
    }

    return TK_OK;
}


static int
ngx_http_tickets_token(ngx_http_tickets_ctx_t *ctx, tk_conn_t *conn,
    tk_form_t *form)
{
    int                           rc;
    char                         *token;
    size_t                        len;
    tk_result_t                  *res;
    const char                   *user, *password;
    tk_principal_t                p;
    ngx_http_tickets_loc_conf_t  *tlcf;

    res = &ctx->res;
    tlcf = ctx->conf;

    if (tlcf->signing_key == NULL) {
        snprintf(res->message, sizeof(res->message),
                 "This service issues no tokens.");
        return TK_ENOTFOUND;
    }

    user = tk_form_get(form, "username");
    password = tk_form_get(form, "password");

    if (user == NULL || password == NULL || *user == '\0') {
        snprintf(res->message, sizeof(res->message),
                 "username and password are required.");
        return TK_EINVAL;
    }

    rc = tk_auth_login(conn, user, password, &p, res);
    if (rc != TK_OK) {
        return rc;
    }

    rc = tk_jwt_issue(tlcf->signing_key, &p, tlcf->issuer_c,
                      tlcf->audience_c, (long) tlcf->token_lifetime,
                      time(NULL), &token);
    if (rc != TK_OK) {
        snprintf(res->message, sizeof(res->message), "issuing a token failed");
        return TK_EINTERNAL;
    }

    len = strlen(token) + 96;
    res->body = malloc(len);
    if (res->body == NULL) {
        free(token);
        return TK_ENOMEM;
    }

    res->body_len = snprintf(res->body, len,
                             "{\"access_token\":\"%s\",\"token_type\":"
                             "\"Bearer\",\"expires_in\":%ld}",
                             token, (long) tlcf->token_lifetime);
    free(token);

    return TK_OK;
}


/* Back in the event loop. */
static void
ngx_http_tickets_task_done(ngx_event_t *ev)
{
    ngx_int_t                rc;
    ngx_connection_t        *c;
    ngx_http_request_t      *r;
    ngx_http_tickets_ctx_t  *ctx;

    ctx = ev->data;
    r = ctx->request;
    c = r->connection;

    ngx_http_set_log_request(c->log, r);

    r->main->blocked--;
    r->aio = 0;

    ctx->in_task = 0;
    ngx_http_tickets_inflight_done();

    if (r->read_event_handler == ngx_http_tickets_check_client) {
        r->read_event_handler = ngx_http_block_reading;
    }

    ngx_http_tickets_metrics_task_done(r, ctx->metrics, ctx->res.code,
                               ctx->route->op == NGX_HTTP_TICKETS_OP_TOKEN,
                               ctx->route->auth);

    if (ctx->res.outbox > 0) {
        ngx_http_tickets_jobs_kick();
    }

    if (c->error || ctx->cancelled) {
        /* nobody to answer: a write is whole or absent, never half */
        ngx_log_error(NGX_LOG_INFO, c->log, 0,
                      "tickets: the connection is gone, the answer (%s) "
                      "dropped, request id %V", tk_strerror(ctx->res.code),
                      &ctx->request_id);

        tk_result_clear(&ctx->res);

        ngx_http_finalize_request(r, NGX_HTTP_CLIENT_CLOSED_REQUEST);
        ngx_http_run_posted_requests(c);
        return;
    }

    rc = ngx_http_tickets_respond(r, ctx);

    tk_result_clear(&ctx->res);

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


/* The one place where library codes become HTTP statuses. */
static ngx_int_t
ngx_http_tickets_respond(ngx_http_request_t *r, ngx_http_tickets_ctx_t *ctx)
{
    u_char       *p;
    ngx_uint_t    status;
    tk_result_t  *res;
    u_char        loc[NGX_INT64_LEN + 64];

    res = &ctx->res;

    if ((ctx->route->op == NGX_HTTP_TICKETS_OP_CONFIRM
         || ctx->route->op == NGX_HTTP_TICKETS_OP_CONFIRM_POST)
        && ngx_http_tickets_confirm_headers(r) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (res->code >= TK_OK && ctx->lsn_out[0]
        && ngx_http_tickets_fleet_lsn_headers(r, ctx->lsn_out) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (res->code >= TK_OK && res->etag[0]
        && ngx_http_tickets_add_header(r, "ETag", (u_char *) res->etag,
                                       ngx_strlen(res->etag))
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    switch (res->code) {

    case TK_OK:
    case TK_CREATED:
        if (res->message[0]) {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "tickets: %s, request id %V", res->message,
                          &ctx->request_id);
        }

        status = NGX_HTTP_OK;

        if (res->code == TK_CREATED) {
            status = NGX_HTTP_CREATED;
        }

        if (res->code == TK_CREATED && ctx->route->location) {
            p = ngx_snprintf(loc, sizeof(loc), ctx->route->location,
                             (int64_t) res->id);

            if (ngx_http_tickets_add_header(r, "Location", loc, p - loc)
                != NGX_OK)
            {
                return NGX_ERROR;
            }
        }

        if (res->filename[0]
            && ngx_http_tickets_disposition(r, res->filename) != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (res->total >= 0 && ngx_http_tickets_links(r, ctx) != NGX_OK) {
            return NGX_ERROR;
        }

        return ngx_http_tickets_send_result(r, ctx, status);

    case TK_NO_CONTENT:
        return ngx_http_tickets_send(r, ctx, NGX_HTTP_NO_CONTENT, NULL,
                                     NULL, 0);

    case TK_NOT_MODIFIED:
        /* the ETag (above) and no body, nor a length of one */
        if (ngx_http_tickets_add_header(r, "X-Request-Id",
                                        ctx->request_id.data,
                                        ctx->request_id.len)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        r->headers_out.status = NGX_HTTP_NOT_MODIFIED;
        ngx_http_clear_content_length(r);
        r->header_only = 1;
        return ngx_http_send_header(r);

    case TK_EINVAL:
        if (res->content_type[0] && res->body != NULL && !ctx->wants_json) {
            /* a page for a person, such as a used close link */
            return ngx_http_tickets_send_result(r, ctx,
                                                NGX_HTTP_BAD_REQUEST);
        }

        return ngx_http_tickets_problem(r, ctx, NGX_HTTP_BAD_REQUEST,
                                        res->message, res->errors);

    case TK_ENOTFOUND:
        return ngx_http_tickets_problem(r, ctx, NGX_HTTP_NOT_FOUND,
                                        res->message[0] ? res->message
                                                        : "Not found.",
                                        NULL);

    case TK_EFORBIDDEN:
        return ngx_http_tickets_problem(r, ctx, NGX_HTTP_FORBIDDEN,
                                        res->message, NULL);

    case TK_EAUTH:
        if (ctx->route->op != NGX_HTTP_TICKETS_OP_TOKEN
            && ngx_http_tickets_add_header(r, "WWW-Authenticate",
                          (u_char *) "Bearer error=\"invalid_token\"", 28)
               != NGX_OK)
        {
            return NGX_ERROR;
        }

        return ngx_http_tickets_problem(r, ctx, NGX_HTTP_UNAUTHORIZED,
                                        res->message, NULL);

    case TK_ECONFLICT:
        return ngx_http_tickets_problem(r, ctx, NGX_HTTP_CONFLICT,
                                        res->message, NULL);

    case TK_EPRECOND:
        return ngx_http_tickets_problem(r, ctx, NGX_HTTP_PRECONDITION_FAILED,
                                        res->message, NULL);

    case TK_ETHROTTLED:
    case TK_EUNAVAIL:
        p = ngx_sprintf(loc, "%d", res->retry_after > 0 ? res->retry_after
                                                         : 1);
        if (ngx_http_tickets_add_header(r, "Retry-After", loc, p - loc)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (res->code == TK_ETHROTTLED) {
            return ngx_http_tickets_problem(r, ctx, 429,
                                        "Too many failed attempts; retry "
                                        "later.", NULL);
        }

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "tickets: %s, request id %V", res->message,
                      &ctx->request_id);

        return ngx_http_tickets_problem(r, ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                        "The database is unavailable; "
                                        "retry shortly.", NULL);

    default:
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "tickets: %s (%s), request id %V",
                      res->message, tk_strerror(res->code),
                      &ctx->request_id);

        return ngx_http_tickets_problem(r, ctx,
                                        NGX_HTTP_INTERNAL_SERVER_ERROR,
                                        "An unexpected error occurred.",
                                        NULL);
    }
}


/* A client that asks for JSON and not for a page gets problem+json. */
static ngx_uint_t
ngx_http_tickets_wants_json(ngx_http_request_t *r)
{
    ngx_str_t         v;
    ngx_table_elt_t  *h;

    h = ngx_http_tickets_header_in(r, "Accept", 6);
    if (h == NULL) {
        return 0;
    }

    v = h->value;

    return ngx_strlcasestrn(v.data, v.data + v.len, (u_char *) "json", 3)
           != NULL
           && ngx_strlcasestrn(v.data, v.data + v.len, (u_char *) "text/html",
                               8)
              == NULL;
}


/*
 * The token of the close link's POST: the form's, else the query's; two
 * that differ are no token.
 */
static const char *
ngx_http_tickets_confirm_token(ngx_http_tickets_ctx_t *ctx, tk_form_t *form)
{
    const char  *body;

    body = tk_form_get(form, "token");

    if (body == NULL) {
        return ctx->token ? ctx->token : "";
    }

    if (ctx->token != NULL && ngx_strcmp(ctx->token, body) != 0) {
        return "";
    }

    return body;
}


/* The close link's pages: nothing else loads, frames, caches or refers. */
static ngx_int_t
ngx_http_tickets_confirm_headers(ngx_http_request_t *r)
{
    ngx_uint_t  i;

    static struct {
        char       *name;
        char       *value;
    }  headers[] = {
        { "Content-Security-Policy", "default-src 'none'; form-action 'self';"
          " frame-ancestors 'none'; base-uri 'none'" },
        { "X-Frame-Options", "DENY" },
        { "Cache-Control", "no-store" },
        { "Referrer-Policy", "no-referrer" },
        { "X-Content-Type-Options", "nosniff" }
    };

    for (i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
        if (ngx_http_tickets_add_header(r, headers[i].name,
                                        (u_char *) headers[i].value,
                                        ngx_strlen(headers[i].value))
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_tickets_send_result(ngx_http_request_t *r,
    ngx_http_tickets_ctx_t *ctx, ngx_uint_t status)
{
    u_char       *body;
    size_t        len;
    ngx_str_t     type;
    tk_result_t  *res;

    res = &ctx->res;

    if (res->content_type[0]) {
        type.data = (u_char *) res->content_type;
        type.len = ngx_strlen(res->content_type);

    } else {
        type = ngx_http_tickets_json_type;
    }

    len = res->body_len;
    body = NULL;

    if (res->body != NULL && len) {
        body = ngx_http_tickets_take_body(r, res);
        if (body == NULL) {
            return NGX_ERROR;
        }
    }

    return ngx_http_tickets_send(r, ctx, status, &type, body, len);
}


/*
 * X-Total-Count, and an RFC 8288 Link to the next and previous pages: the
 * request's own path and arguments with page replaced.
 */
static ngx_int_t
ngx_http_tickets_links(ngx_http_request_t *r, ngx_http_tickets_ctx_t *ctx)
{
    u_char       *p, *start, *a, *end, *amp;
    size_t        len, plen;
    int64_t       page;
    ngx_uint_t    i;
    tk_result_t  *res;

    res = &ctx->res;

    start = ngx_pnalloc(r->pool, NGX_INT64_LEN);
    if (start == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(start, "%L", res->total);

    if (ngx_http_tickets_add_header(r, "X-Total-Count", start, p - start)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* false: more match than X-Total-Count (tickets_*_count_limit) */
    if (ngx_http_tickets_add_header(r, "X-Total-Count-Exact",
                                    (u_char *) (res->total_capped
                                                ? "false" : "true"),
                                    res->total_capped ? 5 : 4)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (res->page_size <= 0) {
        return NGX_OK;
    }

    plen = r->unparsed_uri.len;
    p = ngx_strlchr(r->unparsed_uri.data,
                    r->unparsed_uri.data + r->unparsed_uri.len, '?');
    if (p != NULL) {
        plen = p - r->unparsed_uri.data;
    }

    len = 2 * (plen + r->args.len + sizeof("<?page=>; rel=\"next\", ")
               + NGX_INT_T_LEN);

    start = ngx_pnalloc(r->pool, len);
    if (start == NULL) {
        return NGX_ERROR;
    }

    p = start;

    for (i = 0; i < 2; i++) {
        page = i == 0 ? res->page + 1 : res->page - 1;

        if ((i == 0 && !res->total_capped
             && (int64_t) res->page * res->page_size >= res->total)
            || (i == 1 && page < 1))
        {
            continue;
        }

        if (p > start) {
            p = ngx_cpymem(p, ", ", 2);
        }

        *p++ = '<';
        p = ngx_cpymem(p, r->unparsed_uri.data, plen);
        *p++ = '?';

        /* every argument but page, as the client sent it */
        for (a = r->args.data, end = a + r->args.len; a < end; a = amp + 1) {
            amp = ngx_strlchr(a, end, '&');
            if (amp == NULL) {
                amp = end;
            }

            if (amp - a >= 5 && ngx_strncasecmp(a, (u_char *) "page=", 5) == 0)
            {
                continue;
            }

            if (amp > a) {
                p = ngx_cpymem(p, a, amp - a);
                *p++ = '&';
            }
        }

        p = ngx_sprintf(p, "page=%L>; rel=\"%s\"", page,
                        i == 0 ? "next" : "prev");
    }

    if (p == start) {
        return NGX_OK;
    }

    return ngx_http_tickets_add_header(r, "Link", start, p - start);
}


static ngx_int_t
ngx_http_tickets_problem(ngx_http_request_t *r, ngx_http_tickets_ctx_t *ctx,
    ngx_uint_t status, const char *detail, const char *errors)
{
    u_char      *body, *p;
    size_t       len, dlen;
    const char  *title;

    switch (status) {
    case NGX_HTTP_BAD_REQUEST: title = "Bad Request"; break;
    case NGX_HTTP_UNAUTHORIZED: title = "Unauthorized"; break;
    case NGX_HTTP_FORBIDDEN: title = "Forbidden"; break;
    case NGX_HTTP_NOT_FOUND: title = "Not Found"; break;
    case NGX_HTTP_NOT_ALLOWED: title = "Method Not Allowed"; break;
    case NGX_HTTP_CONFLICT: title = "Conflict"; break;
    case NGX_HTTP_PRECONDITION_FAILED: title = "Precondition Failed"; break;
    case NGX_HTTP_REQUEST_ENTITY_TOO_LARGE: title = "Payload Too Large"; break;
    case NGX_HTTP_UNSUPPORTED_MEDIA_TYPE:
        title = "Unsupported Media Type";
        break;
    case 429: title = "Too Many Requests"; break;
    case NGX_HTTP_SERVICE_UNAVAILABLE: title = "Service Unavailable"; break;
    default: title = "Internal Server Error"; break;
    }

    if (detail == NULL || *detail == '\0') {
        detail = title;
    }

    dlen = ngx_strlen(detail);

    len = sizeof("{\"type\":\"about:blank\",\"title\":\"\",\"status\":,"
                 "\"detail\":\"\",\"errors\":,\"traceId\":\"\"}")
          + ngx_strlen(title) + NGX_INT_T_LEN
          + ngx_http_tickets_json_escaped_len((u_char *) detail, dlen)
          + (errors ? ngx_strlen(errors) : 0)
          + ngx_http_tickets_json_escaped_len(ctx->request_id.data,
                                              ctx->request_id.len);

    body = ngx_pnalloc(r->pool, len);
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(body, "{\"type\":\"about:blank\",\"title\":\"%s\","
                    "\"status\":%ui,\"detail\":\"", title, status);
    p = ngx_http_tickets_json_escape(p, (u_char *) detail, dlen);
    p = ngx_cpymem(p, "\"", 1);

    if (errors != NULL) {
        p = ngx_sprintf(p, ",\"errors\":%s", errors);
    }

    p = ngx_cpymem(p, ",\"traceId\":\"", 12);
    p = ngx_http_tickets_json_escape(p, ctx->request_id.data,
                                     ctx->request_id.len);
    p = ngx_cpymem(p, "\"}", 2);

    return ngx_http_tickets_send(r, ctx, status,
                                 &ngx_http_tickets_problem_type, body,
                                 p - body);
}


static ngx_int_t
ngx_http_tickets_send(ngx_http_request_t *r, ngx_http_tickets_ctx_t *ctx,
    ngx_uint_t status, ngx_str_t *type, u_char *body, size_t len)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    if (ngx_http_tickets_add_header(r, "X-Request-Id", ctx->request_id.data,
                                    ctx->request_id.len)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    r->headers_out.status = status;

    if (type != NULL) {
        r->headers_out.content_type = *type;
        r->headers_out.content_type_len = type->len;
        r->headers_out.content_type_lowcase = NULL;
    }

    if (len == 0) {
        r->headers_out.content_length_n = 0;
        r->header_only = 1;
        return ngx_http_send_header(r);
    }

    r->headers_out.content_length_n = len;

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = body;
    b->last = body + len;
    b->memory = 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


static ngx_int_t
ngx_http_tickets_add_header(ngx_http_request_t *r, const char *name,
    u_char *value, size_t len)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.data = (u_char *) name;
    h->key.len = ngx_strlen(name);
    h->value.data = value;
    h->value.len = len;

    return NGX_OK;
}


static ngx_table_elt_t *
ngx_http_tickets_header_in(ngx_http_request_t *r, const char *name,
    size_t len)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NULL;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == len
            && ngx_strncasecmp(h[i].key.data, (u_char *) name, len) == 0)
        {
            return &h[i];
        }
    }
}


/*
 * The client's X-Request-Id when it is a sane token, else nginx's own
 * $request_id: echoed on the response and written in the log.
 */
static ngx_int_t
ngx_http_tickets_request_id(ngx_http_request_t *r, ngx_http_tickets_ctx_t *ctx)
{
    u_char                     *p;
    ngx_table_elt_t            *h;
    ngx_http_variable_value_t  *v;

    h = ngx_http_tickets_header_in(r, "X-Request-Id", 12);

    if (h != NULL && h->value.len > 0
        && h->value.len <= NGX_HTTP_TICKETS_REQUEST_ID_LEN)
    {
        for (p = h->value.data; p < h->value.data + h->value.len; p++) {
            if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z')
                  || (*p >= 'A' && *p <= 'Z') || *p == '-' || *p == '_'
                  || *p == '.' || *p == ':'))
            {
                break;
            }
        }

        if (p == h->value.data + h->value.len) {
            ctx->request_id = h->value;
            return NGX_OK;
        }
    }

    v = ngx_http_get_indexed_variable(r, ngx_http_tickets_request_id_index);
    if (v == NULL || v->not_found) {
        return NGX_ERROR;
    }

    ctx->request_id.data = v->data;
    ctx->request_id.len = v->len;

    return NGX_OK;
}


static ngx_int_t
ngx_http_tickets_request_id_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_tickets_ctx_t     *ctx;
    ngx_http_variable_value_t  *rid;

    ctx = ngx_http_get_module_ctx(r, ngx_http_tickets_module);

    if (ctx != NULL && ctx->request_id.len) {
        v->data = ctx->request_id.data;
        v->len = ctx->request_id.len;
        v->valid = 1;
        v->no_cacheable = 0;
        v->not_found = 0;
        return NGX_OK;
    }

    rid = ngx_http_get_indexed_variable(r, ngx_http_tickets_request_id_index);
    if (rid == NULL) {
        return NGX_ERROR;
    }

    *v = *rid;

    return NGX_OK;
}


static size_t
ngx_http_tickets_json_escaped_len(const u_char *src, size_t len)
{
    size_t  n;

    for (n = 0; len; len--, src++) {
        n += (*src < 0x20) ? 6 : (*src == '"' || *src == '\\') ? 2 : 1;
    }

    return n;
}


static u_char *
ngx_http_tickets_json_escape(u_char *dst, const u_char *src, size_t len)
{
    static u_char  hex[] = "0123456789abcdef";

    for ( /* void */ ; len; len--, src++) {

        if (*src == '"' || *src == '\\') {
            *dst++ = '\\';
            *dst++ = *src;

        } else if (*src < 0x20) {
            dst = ngx_cpymem(dst, "\\u00", 4);
            *dst++ = hex[*src >> 4];
            *dst++ = hex[*src & 0xf];

        } else {
            *dst++ = *src;
        }
    }

    return dst;
}


static char *
ngx_http_tickets_cstr(ngx_pool_t *pool, ngx_str_t *s)
{
    char  *p;

    p = ngx_pnalloc(pool, s->len + 1);
    if (p == NULL) {
        return NULL;
    }

    ngx_memcpy(p, s->data, s->len);
    p[s->len] = '\0';

    return p;
}


/*
 * client_max_body_size of a tickets location is enforced here rather than
 * by nginx, whose 413 is an HTML page: a chunked body that grows too large
 * ends in nginx's error page machinery, which sends it back to this
 * location, and the handler answers in problem+json.
 */
static ngx_int_t
ngx_http_tickets_request_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_chain_t             *cl;
    ngx_http_tickets_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_tickets_module);

    if (ctx != NULL && ctx->conf->max_body) {
        for (cl = in; cl; cl = cl->next) {
            ctx->body_size += ngx_buf_size(cl->buf);
        }

        if (ctx->body_size > ctx->conf->max_body) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "client intended to send too large body");
            r->lingering_close = 1;
            return NGX_HTTP_REQUEST_ENTITY_TOO_LARGE;
        }
    }

    return ngx_http_tickets_next_body_filter(r, in);
}


static ngx_int_t
ngx_http_tickets_init(ngx_conf_t *cf)
{
    ngx_http_tickets_next_body_filter = ngx_http_top_request_body_filter;
    ngx_http_top_request_body_filter = ngx_http_tickets_request_body_filter;

    return ngx_http_tickets_fleet_init(cf);
}


/* at each start and reload: which release the workers run */
static ngx_int_t
ngx_http_tickets_init_module(ngx_cycle_t *cycle)
{
    ngx_log_error(NGX_LOG_NOTICE, cycle->log, 0,
                  "ngx_http_tickets_module %s", tk_version());

    return NGX_OK;
}


/* a query argument, decoded; NULL when absent */
static ngx_int_t
ngx_http_tickets_arg(ngx_http_request_t *r, char *name, char **value)
{
    u_char     *dst, *src;
    ngx_str_t   arg;

    *value = NULL;

    if (ngx_http_arg(r, (u_char *) name, ngx_strlen(name), &arg) != NGX_OK) {
        return NGX_OK;
    }

    dst = ngx_pnalloc(r->pool, arg.len + 1);
    if (dst == NULL) {
        return NGX_ERROR;
    }

    *value = (char *) dst;
    src = arg.data;
    ngx_unescape_uri(&dst, &src, arg.len, 0);
    *dst = '\0';

    return NGX_OK;
}


/*
 * RFC 6266: an ASCII fallback for old clients and filename* with the
 * name percent-encoded as UTF-8.
 */
static ngx_int_t
ngx_http_tickets_disposition(ngx_http_request_t *r, const char *filename)
{
    u_char      *p, *start;
    size_t       len;
    const u_char *f;

    static u_char  hex[] = "0123456789ABCDEF";

    len = ngx_strlen(filename);

    start = ngx_pnalloc(r->pool, sizeof("attachment; filename=\"\"; "
                                        "filename*=UTF-8''") + len * 4);
    if (start == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(start, "attachment; filename=\"",
                   sizeof("attachment; filename=\"") - 1);

    for (f = (const u_char *) filename; *f; f++) {
        *p++ = (*f < 0x20 || *f >= 0x7f || *f == '"' || *f == '\\')
               ? '_' : *f;
    }

    p = ngx_cpymem(p, "\"; filename*=UTF-8''",
                   sizeof("\"; filename*=UTF-8''") - 1);

    for (f = (const u_char *) filename; *f; f++) {
        if ((*f >= '0' && *f <= '9') || ((*f | 0x20) >= 'a' && (*f | 0x20) <= 'z')
            || *f == '.' || *f == '-' || *f == '_')
        {
            *p++ = *f;

        } else {
            *p++ = '%';
            *p++ = hex[*f >> 4];
            *p++ = hex[*f & 0xf];
        }
    }

    if (ngx_http_tickets_add_header(r, "Content-Disposition", start,
                                    p - start)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_tickets_add_header(r, "X-Content-Type-Options",
                                       (u_char *) "nosniff", 7);
}


/* The library's malloc'd body, freed with the request: no copy. */
static u_char *
ngx_http_tickets_take_body(ngx_http_request_t *r, tk_result_t *res)
{
    ngx_pool_cleanup_t  *cln;

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    cln->handler = free;
    cln->data = res->body;
    res->body = NULL;

    return cln->data;
}


static ngx_int_t
ngx_http_tickets_add_variables(ngx_conf_t *cf)
{
    ngx_str_t             name = ngx_string("request_id");
    ngx_http_variable_t  *var;

    var = ngx_http_add_variable(cf, &ngx_http_tickets_request_id_name,
                                NGX_HTTP_VAR_NOCACHEABLE);
    if (var == NULL) {
        return NGX_ERROR;
    }

    var->get_handler = ngx_http_tickets_request_id_variable;

    var = ngx_http_add_variable(cf, &ngx_http_tickets_db_served_name,
                                NGX_HTTP_VAR_NOCACHEABLE);
    if (var == NULL) {
        return NGX_ERROR;
    }

    var->get_handler = ngx_http_tickets_db_served_variable;

    ngx_http_tickets_request_id_index = ngx_http_get_variable_index(cf,
                                                                    &name);
    if (ngx_http_tickets_request_id_index == NGX_ERROR) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* $tickets_db_served: "replica" or "primary" for a request that ran, "-" */
static ngx_int_t
ngx_http_tickets_db_served_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_tickets_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_tickets_module);

    if (ctx == NULL || ctx->route == NULL) {
        v->data = (u_char *) "-";
        v->len = 1;

    } else if (ctx->replica) {
        v->data = (u_char *) "replica";
        v->len = 7;

    } else {
        v->data = (u_char *) "primary";
        v->len = 7;
    }

    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


static void *
ngx_http_tickets_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_tickets_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_tickets_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->db = { 0, NULL };
     *     conf->pool_name = { 0, NULL };
     *     conf->issuer = { 0, NULL };
     *     conf->audience = { 0, NULL };
     *     conf->pool = NULL;
     */

    conf->enable = NGX_CONF_UNSET;
    conf->key = NGX_CONF_UNSET_PTR;
    conf->signing_key = NGX_CONF_UNSET_PTR;
    conf->token_lifetime = NGX_CONF_UNSET;
    conf->list_count_limit = NGX_CONF_UNSET;
    conf->search_count_limit = NGX_CONF_UNSET;
    conf->read_max_lag = NGX_CONF_UNSET_MSEC;
    conf->prepared = NGX_CONF_UNSET;

    return conf;
}


static char *
ngx_http_tickets_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_tickets_loc_conf_t *prev = parent;
    ngx_http_tickets_loc_conf_t *conf = child;

    ngx_conf_merge_value(conf->enable, prev->enable, 0);
    ngx_conf_merge_str_value(conf->db, prev->db, "dbname=tickets");
    ngx_conf_merge_str_value(conf->db_read, prev->db_read, "");
    ngx_conf_merge_msec_value(conf->read_max_lag, prev->read_max_lag, 5000);
    ngx_conf_merge_value(conf->prepared, prev->prepared, 1);

    if (!conf->prepared) {
        ngx_http_tickets_unprepared = 1;
    }
    ngx_conf_merge_str_value(conf->pool_name, prev->pool_name, "default");
    ngx_conf_merge_ptr_value(conf->key, prev->key, NULL);
    ngx_conf_merge_ptr_value(conf->signing_key, prev->signing_key, NULL);
    ngx_conf_merge_str_value(conf->issuer, prev->issuer, "");
    ngx_conf_merge_str_value(conf->audience, prev->audience, "");
    ngx_conf_merge_value(conf->list_count_limit, prev->list_count_limit,
                         TK_LIST_COUNT_LIMIT);

    ngx_conf_merge_value(conf->search_count_limit, prev->search_count_limit,
                         TK_SEARCH_COUNT_LIMIT);

    if (conf->list_count_limit < 0 || conf->search_count_limit < 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"tickets_%s_count_limit\" must not be "
                           "negative", conf->list_count_limit < 0
                                       ? "list" : "search");
        return NGX_CONF_ERROR;
    }

    ngx_conf_merge_sec_value(conf->token_lifetime, prev->token_lifetime,
                             3600);

    if (!conf->enable) {
        return NGX_CONF_OK;
    }

    if (conf->key == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"tickets\" needs \"tickets_jwt_key\"");
        return NGX_CONF_ERROR;
    }

    if (conf->token_lifetime <= 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"tickets_token_lifetime\" must be positive");
        return NGX_CONF_ERROR;
    }

    conf->pool = ngx_thread_pool_add(cf, &conf->pool_name);
    if (conf->pool == NULL) {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_tickets_limit_body(cf, conf) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    conf->db_c = ngx_http_tickets_cstr(cf->pool, &conf->db);
    conf->issuer_c = conf->issuer.len
                     ? ngx_http_tickets_cstr(cf->pool, &conf->issuer) : NULL;
    conf->audience_c = conf->audience.len
                       ? ngx_http_tickets_cstr(cf->pool, &conf->audience)
                       : NULL;

    conf->db_read_c = conf->db_read.len
                      ? ngx_http_tickets_cstr(cf->pool, &conf->db_read)
                      : NULL;

    if (conf->db_c == NULL
        || (conf->db_read.len && conf->db_read_c == NULL)
        || (conf->issuer.len && conf->issuer_c == NULL)
        || (conf->audience.len && conf->audience_c == NULL))
    {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_tickets_check_db(cf, "tickets_db", conf->db_c) != NGX_OK
        || (conf->db_read_c != NULL
            && ngx_http_tickets_check_db(cf, "tickets_db_read",
                                         conf->db_read_c)
               != NGX_OK))
    {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_tickets_jobs_target(cf, conf->db_c, conf->pool) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return ngx_http_tickets_check_keys(cf, conf);
}


/* a conninfo that libpq cannot parse stops nginx -t */
static ngx_int_t
ngx_http_tickets_check_db(ngx_conf_t *cf, const char *directive,
    const char *conninfo)
{
    char  err[256];

    if (tk_conninfo_check(conninfo, err, sizeof(err)) != TK_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "\"%s\": %s", directive,
                           err);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * Takes over client_max_body_size of the location (see the request body
 * filter) and sends nginx's own 413 back to the location, unless the
 * operator has an error_page for it.
 */
static char *
ngx_http_tickets_limit_body(ngx_conf_t *cf, ngx_http_tickets_loc_conf_t *conf)
{
    ngx_uint_t                         i, n;
    ngx_array_t                       *pages;
    ngx_http_err_page_t               *err, *old;
    ngx_http_core_loc_conf_t          *clcf;
    ngx_http_compile_complex_value_t   ccv;

    static ngx_str_t  uri = ngx_string("$uri");

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->client_max_body_size) {
        conf->max_body = clcf->client_max_body_size;
        clcf->client_max_body_size = 0;
    }

    n = clcf->error_pages ? clcf->error_pages->nelts : 0;
    old = n ? clcf->error_pages->elts : NULL;

    for (i = 0; i < n; i++) {
        if (old[i].status == NGX_HTTP_REQUEST_ENTITY_TOO_LARGE) {
            return NGX_CONF_OK;
        }
    }

    /* a copy: the array may be shared with the enclosing level */
    pages = ngx_array_create(cf->pool, n + 1, sizeof(ngx_http_err_page_t));
    if (pages == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 0; i < n; i++) {
        err = ngx_array_push(pages);
        *err = old[i];
    }

    err = ngx_array_push(pages);
    ngx_memzero(err, sizeof(ngx_http_err_page_t));
    err->status = NGX_HTTP_REQUEST_ENTITY_TOO_LARGE;
    err->overwrite = -1;

    ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));
    ccv.cf = cf;
    ccv.value = &uri;
    ccv.complex_value = &err->value;

    if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    clcf->error_pages = pages;

    return NGX_CONF_OK;
}


/* A signing key that cannot sign, or signs what the key cannot verify,
 * would only show at the first login: refuse it at startup. */
static char *
ngx_http_tickets_check_keys(ngx_conf_t *cf, ngx_http_tickets_loc_conf_t *conf)
{
    char             *token;
    const char       *why;
    tk_jwt_claims_t   claims;
    tk_principal_t    p;

    if (conf->signing_key == NULL) {
        return NGX_CONF_OK;
    }

    ngx_memzero(&p, sizeof(tk_principal_t));
    ngx_cpystrn((u_char *) p.user_id, (u_char *) "startup-check",
                sizeof(p.user_id));

    if (tk_jwt_issue(conf->signing_key, &p, conf->issuer_c,
                     conf->audience_c, 60, ngx_time(), &token)
        != TK_OK)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"tickets_jwt_signing_key\" cannot sign %s "
                           "tokens: it needs the private key",
                           tk_jwt_key_alg(conf->signing_key));
        return NGX_CONF_ERROR;
    }

    why = NULL;

    if (tk_jwt_verify(conf->key, token, ngx_strlen(token), conf->issuer_c,
                      conf->audience_c, ngx_time(), &claims, &why)
        != TK_OK)
    {
        free(token);
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "tokens of \"tickets_jwt_signing_key\" fail "
                           "\"tickets_jwt_key\": %s", why);
        return NGX_CONF_ERROR;
    }

    free(token);

    return NGX_CONF_OK;
}


static char *
ngx_http_tickets(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_tickets_loc_conf_t *tlcf = conf;

    ngx_http_core_loc_conf_t  *clcf;

    if (tlcf->enable != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    tlcf->enable = 1;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_tickets_handler;

    return NGX_CONF_OK;
}


/*
 * "tickets_jwt_key ALG FILE" pins the algorithm tokens must use;
 * "tickets_jwt_signing_key FILE" signs the tokens of /api/auth/token with
 * the same algorithm.
 */
static char *
ngx_http_tickets_jwt_key(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_tickets_loc_conf_t *tlcf = conf;

    char          *alg;
    ngx_str_t     *value;
    tk_jwt_key_t **key;

    value = cf->args->elts;
    key = (tk_jwt_key_t **) ((char *) conf + cmd->offset);

    if (*key != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    if (cf->args->nelts == 3) {
        alg = ngx_http_tickets_cstr(cf->pool, &value[1]);
        if (alg == NULL) {
            return NGX_CONF_ERROR;
        }

        return ngx_http_tickets_load_key(cf, key, alg, &value[2]);
    }

    if (tlcf->key == NGX_CONF_UNSET_PTR || tlcf->key == NULL) {
        return "must follow \"tickets_jwt_key\" at the same level";
    }

    return ngx_http_tickets_load_key(cf, key, tk_jwt_key_alg(tlcf->key),
                                     &value[1]);
}


static char *
ngx_http_tickets_load_key(ngx_conf_t *cf, tk_jwt_key_t **key,
    const char *alg, ngx_str_t *path)
{
    char                *file;
    char                 err[256];
    ngx_str_t            full;
    ngx_pool_cleanup_t  *cln;

    full = *path;

    if (ngx_conf_full_name(cf->cycle, &full, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    file = ngx_http_tickets_cstr(cf->pool, &full);
    if (file == NULL) {
        return NGX_CONF_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_CONF_ERROR;
    }

    if (tk_jwt_key_load(key, alg, file, err, sizeof(err)) != TK_OK) {
        *key = NULL;
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%s", err);
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_tickets_free_key;
    cln->data = *key;

    return NGX_CONF_OK;
}


static void
ngx_http_tickets_free_key(void *data)
{
    tk_jwt_key_free(data);
}
