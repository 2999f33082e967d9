
/*
 * ngx_http_tickets_metrics_module: what the ticket API does, for
 * Prometheus (docs/operations.md has every series).
 *
 * The counters live in the shared memory zone of "tickets_metrics_zone",
 * so that every worker adds to the same series and a scrape sees the whole
 * host; a reload keeps the zone (same size) and with it the counts.  Every
 * label set is known in advance (route pattern x method x status class,
 * the operations, the refusal causes), so the series are laid out once
 * when the zone is made, and an update is an atomic add with no lock.  The
 * SQLSTATE classes of database errors take a slot of a small table the
 * first time they are seen (a compare-and-swap); what does not fit in the
 * zone is counted in tickets_metrics_series_dropped_total and dropped.
 *
 * The outbox gauges are read from the database at scrape time, in a task
 * of the thread pool the jobs use.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <nginx.h>

#include <tickets.h>
#include "ngx_http_tickets_jobs.h"
#include "ngx_http_tickets_metrics.h"



#define NGX_HTTP_TICKETS_METRICS_MAX_ROUTES    64
#define NGX_HTTP_TICKETS_METRICS_MAX_OPS       64
#define NGX_HTTP_TICKETS_METRICS_BUCKETS       18
#define NGX_HTTP_TICKETS_METRICS_METHODS       5
#define NGX_HTTP_TICKETS_METRICS_CLASSES       5
#define NGX_HTTP_TICKETS_METRICS_SQLSTATES     32
#define NGX_HTTP_TICKETS_METRICS_OUT_CHUNK     16384
#define NGX_HTTP_TICKETS_METRICS_LINE_MAX      1024
/* of a label value: escaped, twice this fits in half a line */
#define NGX_HTTP_TICKETS_METRICS_VALUE_MAX     200


typedef enum {
    NGX_HTTP_TICKETS_JWT_MISSING = 0,
    NGX_HTTP_TICKETS_JWT_MALFORMED,
    NGX_HTTP_TICKETS_JWT_ALGORITHM,
    NGX_HTTP_TICKETS_JWT_SIGNATURE,
    NGX_HTTP_TICKETS_JWT_EXPIRED,
    NGX_HTTP_TICKETS_JWT_NOT_YET_VALID,
    NGX_HTTP_TICKETS_JWT_ISSUER,
    NGX_HTTP_TICKETS_JWT_AUDIENCE,
    NGX_HTTP_TICKETS_JWT_CLAIMS,
    NGX_HTTP_TICKETS_JWT_UNKNOWN_USER,
    NGX_HTTP_TICKETS_JWT_CAUSES
} ngx_http_tickets_jwt_cause_e;


typedef enum {
    NGX_HTTP_TICKETS_LOGIN_SUCCESS = 0,
    NGX_HTTP_TICKETS_LOGIN_FAILURE,
    NGX_HTTP_TICKETS_LOGIN_THROTTLED,
    NGX_HTTP_TICKETS_LOGIN_RESULTS
} ngx_http_tickets_login_e;


/* bucket counts, not cumulative: the last one is above the last bound */
typedef struct {
    ngx_atomic_t                bucket[NGX_HTTP_TICKETS_METRICS_BUCKETS];
    ngx_atomic_t                sum_ns;
} ngx_http_tickets_metrics_hist_t;


typedef struct {
    /* the two characters of the class; 0: free */
    ngx_atomic_t                code;
    ngx_atomic_t                count;
} ngx_http_tickets_metrics_sqlstate_t;


/* the zone's own part, allocated first */
typedef struct {
    ngx_uint_t                  nlabels;
    ngx_uint_t                  nops;
    ngx_atomic_t                created;
    ngx_atomic_t                dropped;
    ngx_atomic_t                overload;
    ngx_atomic_t                jwt[NGX_HTTP_TICKETS_JWT_CAUSES];
    ngx_atomic_t                login[NGX_HTTP_TICKETS_LOGIN_RESULTS];
    ngx_atomic_t                reconnects;
    ngx_http_tickets_metrics_sqlstate_t
                                sqlstate[NGX_HTTP_TICKETS_METRICS_SQLSTATES];
    ngx_http_tickets_metrics_hist_t  queue;
    ngx_atomic_t                esc_runs[2];
    ngx_atomic_t                esc_escalated;
    ngx_atomic_t                esc_last_success;
    ngx_atomic_t                esc_last_ns;
    /* [label][method][class], [label], [op], [op]; NULL when they did not
     * fit */
    ngx_atomic_t               *requests;
    ngx_http_tickets_metrics_hist_t  *duration;
    ngx_http_tickets_metrics_hist_t  *db;
    ngx_atomic_t               *round_trips;
} ngx_http_tickets_metrics_sh_t;


typedef struct {
    ngx_shm_zone_t             *zone;
    ngx_http_tickets_metrics_sh_t  *sh;
    ngx_slab_pool_t            *shpool;
    /* the distinct route patterns: label 0 is "unmatched" */
    ngx_str_t                   labels[NGX_HTTP_TICKETS_METRICS_MAX_ROUTES];
    ngx_uint_t                  label_of[NGX_HTTP_TICKETS_METRICS_MAX_ROUTES];
    ngx_uint_t                  nlabels;
    ngx_uint_t                  nroutes;
    ngx_uint_t                  nops;
    ngx_uint_t                  handlers;
} ngx_http_tickets_metrics_main_conf_t;


/* the scrape's task: the outbox read in a pool thread */
typedef struct {
    ngx_http_request_t         *request;
    char                       *db;
    int                         rc;
    int                         n;
    tk_conn_stats_t             before;
    tk_conn_stats_t             after;
    tk_outbox_stats_t           outbox[TK_OUTBOX_CHANNELS];
    tk_result_t                 res;
} ngx_http_tickets_metrics_scrape_t;


typedef struct {
    ngx_http_request_t         *request;
    ngx_chain_t                *first;
    ngx_chain_t                *last;
    ngx_int_t                   failed;
} ngx_http_tickets_metrics_out_t;


static ngx_int_t ngx_http_tickets_metrics_handler(ngx_http_request_t *r);
static void ngx_http_tickets_metrics_scrape_task(void *data, ngx_log_t *log);
static void ngx_http_tickets_metrics_scrape_done(ngx_event_t *ev);
static ngx_int_t ngx_http_tickets_metrics_send(ngx_http_request_t *r,
    ngx_http_tickets_metrics_scrape_t *sc);
static void ngx_http_tickets_metrics_render(
    ngx_http_tickets_metrics_out_t *o,
    ngx_http_tickets_metrics_main_conf_t *mcf,
    ngx_http_tickets_metrics_scrape_t *sc);
static void ngx_http_tickets_metrics_family(
    ngx_http_tickets_metrics_out_t *o, const char *name, const char *type,
    const char *help);
static void ngx_http_tickets_metrics_histogram(
    ngx_http_tickets_metrics_out_t *o, const char *name, const char *label,
    ngx_str_t *value, ngx_http_tickets_metrics_hist_t *h,
    const uint64_t *bounds, const char **les);
static void ngx_http_tickets_metrics_printf(
    ngx_http_tickets_metrics_out_t *o, const char *fmt, ...);
static u_char *ngx_http_tickets_metrics_escape(u_char *dst, u_char *src,
    size_t len);
static void ngx_http_tickets_metrics_observe(
    ngx_http_tickets_metrics_hist_t *h, const uint64_t *bounds, uint64_t ns);
static ngx_http_tickets_metrics_sh_t *ngx_http_tickets_metrics_shm(
    ngx_http_request_t *r);
static ngx_http_tickets_metrics_sh_t *ngx_http_tickets_metrics_cycle_shm(
    void);
static void ngx_http_tickets_metrics_db_sh(ngx_http_tickets_metrics_sh_t *sh,
    const tk_conn_stats_t *before, const tk_conn_stats_t *after);
static ngx_int_t ngx_http_tickets_metrics_log(ngx_http_request_t *r);

static ngx_int_t ngx_http_tickets_metrics_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_tickets_metrics_add_variables(ngx_conf_t *cf);
static ngx_int_t ngx_http_tickets_metrics_init(ngx_conf_t *cf);
static ngx_int_t ngx_http_tickets_metrics_init_zone(ngx_shm_zone_t *zone,
    void *data);
static void *ngx_http_tickets_metrics_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_tickets_metrics_init_main_conf(ngx_conf_t *cf,
    void *conf);
static char *ngx_http_tickets_metrics_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_tickets_metrics(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


static ngx_command_t  ngx_http_tickets_metrics_commands[] = {

    { ngx_string("tickets_metrics_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_tickets_metrics_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("tickets_metrics"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_tickets_metrics,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_tickets_metrics_module_ctx = {
    ngx_http_tickets_metrics_add_variables, /* preconfiguration */
    ngx_http_tickets_metrics_init,         /* postconfiguration */

    ngx_http_tickets_metrics_create_main_conf, /* create main configuration */
    ngx_http_tickets_metrics_init_main_conf, /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    NULL,                                  /* create location configuration */
    NULL                                   /* merge location configuration */
};


ngx_module_t  ngx_http_tickets_metrics_module = {
    NGX_MODULE_V1,
    &ngx_http_tickets_metrics_module_ctx,  /* module context */
    ngx_http_tickets_metrics_commands,     /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_str_t  ngx_http_tickets_metrics_type =
    ngx_string("text/plain; version=0.0.4; charset=utf-8");

static ngx_str_t  ngx_http_tickets_metrics_unmatched =
    ngx_string("unmatched");

static const char  *ngx_http_tickets_metrics_methods[] = {
    "GET", "HEAD", "POST", "DELETE", "other"
};

static const char  *ngx_http_tickets_metrics_causes[] = {
    "missing", "malformed", "algorithm", "signature", "expired",
    "not_yet_valid", "issuer", "audience", "claims", "unknown_user"
};

static const char  *ngx_http_tickets_metrics_logins[] = {
    "success", "failure", "throttled"
};

/* requests: 1 ms to 10 s */
static const uint64_t  ngx_http_tickets_metrics_req_bounds[] = {
    1000000, 2500000, 5000000, 10000000, 25000000, 50000000, 100000000,
    250000000, 500000000, 1000000000, 2500000000u, 5000000000u,
    10000000000u, 0
};

static const char  *ngx_http_tickets_metrics_req_les[] = {
    "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25",
    "0.5", "1", "2.5", "5", "10", NULL
};

/* the thread pool queue and the database: 0.1 ms to 10 s */
static const uint64_t  ngx_http_tickets_metrics_fine_bounds[] = {
    100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000, 25000000,
    50000000, 100000000, 250000000, 500000000, 1000000000, 2500000000u,
    5000000000u, 10000000000u, 0
};

static const char  *ngx_http_tickets_metrics_fine_les[] = {
    "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01",
    "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", NULL
};


static ngx_http_variable_t  ngx_http_tickets_metrics_vars[] = {

    { ngx_string("tickets_route"), NULL, ngx_http_tickets_metrics_variable,
      0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("tickets_user"), NULL, ngx_http_tickets_metrics_variable,
      1, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("tickets_db_time"), NULL, ngx_http_tickets_metrics_variable,
      2, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("tickets_queue_time"), NULL,
      ngx_http_tickets_metrics_variable, 3, NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


uint64_t
ngx_http_tickets_metrics_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return (uint64_t) ts.tv_sec * 1000000000 + (uint64_t) ts.tv_nsec;
}


/* Hooks ------------------------------------------------------------------ */


ngx_http_tickets_metrics_req_t *
ngx_http_tickets_metrics_begin(ngx_http_request_t *r)
{
    ngx_http_tickets_metrics_req_t  *m;

    m = ngx_pcalloc(r->pool, sizeof(ngx_http_tickets_metrics_req_t));
    if (m == NULL) {
        return NULL;
    }

    m->start = ngx_http_tickets_metrics_now();
    ngx_http_set_ctx(r, m, ngx_http_tickets_metrics_module);

    return m;
}


void
ngx_http_tickets_metrics_route(ngx_http_tickets_metrics_req_t *m,
    ngx_uint_t route, ngx_uint_t op)
{
    if (m != NULL) {
        m->route = route + 1;
        m->op = op;
    }
}


void
ngx_http_tickets_metrics_user(ngx_http_tickets_metrics_req_t *m, char *user)
{
    if (m != NULL) {
        m->user = (u_char *) user;
    }
}


void
ngx_http_tickets_metrics_refused(ngx_http_request_t *r, const char *why)
{
    ngx_uint_t                      cause;
    ngx_http_tickets_metrics_sh_t  *sh;

    sh = ngx_http_tickets_metrics_shm(r);
    if (sh == NULL) {
        return;
    }

    /* tk_jwt_verify's reasons, and the module's own */
    if (why == NULL) {
        cause = NGX_HTTP_TICKETS_JWT_CLAIMS;

    } else if (ngx_strcmp(why, "missing bearer token") == 0) {
        cause = NGX_HTTP_TICKETS_JWT_MISSING;

    } else if (ngx_strcmp(why, "malformed token") == 0) {
        cause = NGX_HTTP_TICKETS_JWT_MALFORMED;

    } else if (ngx_strcmp(why, "algorithm not allowed") == 0) {
        cause = NGX_HTTP_TICKETS_JWT_ALGORITHM;

    } else if (ngx_strcmp(why, "bad signature") == 0) {
        cause = NGX_HTTP_TICKETS_JWT_SIGNATURE;

    } else if (ngx_strcmp(why, "token expired") == 0) {
        cause = NGX_HTTP_TICKETS_JWT_EXPIRED;

    } else if (ngx_strcmp(why, "token not yet valid") == 0) {
        cause = NGX_HTTP_TICKETS_JWT_NOT_YET_VALID;

    } else if (ngx_strcmp(why, "wrong issuer") == 0) {
        cause = NGX_HTTP_TICKETS_JWT_ISSUER;

    } else if (ngx_strcmp(why, "wrong audience") == 0) {
        cause = NGX_HTTP_TICKETS_JWT_AUDIENCE;

    } else if (ngx_strcmp(why, "unknown or inactive user") == 0) {
        cause = NGX_HTTP_TICKETS_JWT_UNKNOWN_USER;

    } else {
        cause = NGX_HTTP_TICKETS_JWT_CLAIMS;
    }

    (void) ngx_atomic_fetch_add(&sh->jwt[cause], 1);
}


void
ngx_http_tickets_metrics_overload(ngx_http_request_t *r)
{
    ngx_http_tickets_metrics_sh_t  *sh;

    sh = ngx_http_tickets_metrics_shm(r);
    if (sh != NULL) {
        (void) ngx_atomic_fetch_add(&sh->overload, 1);
    }
}


void
ngx_http_tickets_metrics_queued(ngx_http_tickets_metrics_req_t *m)
{
    if (m != NULL) {
        m->queued = ngx_http_tickets_metrics_now();
    }
}


void
ngx_http_tickets_metrics_task_start(ngx_http_tickets_metrics_req_t *m,
    tk_conn_t *conn)
{
    if (m == NULL) {
        return;
    }

    m->run = ngx_http_tickets_metrics_now();

    if (conn != NULL) {
        tk_conn_stats(conn, &m->before);
    }
}


void
ngx_http_tickets_metrics_task_end(ngx_http_tickets_metrics_req_t *m,
    tk_conn_t *conn)
{
    if (m == NULL || conn == NULL) {
        return;
    }

    tk_conn_stats(conn, &m->after);
    m->done = ngx_http_tickets_metrics_now();
    m->ran = 1;
}


void
ngx_http_tickets_metrics_task_done(ngx_http_request_t *r,
    ngx_http_tickets_metrics_req_t *m, int code, ngx_uint_t login,
    ngx_uint_t auth)
{
    ngx_uint_t                             i;
    ngx_http_tickets_metrics_sh_t         *sh;
    ngx_http_tickets_metrics_main_conf_t  *mcf;

    if (m == NULL) {
        return;
    }

    mcf = ngx_http_get_module_main_conf(r, ngx_http_tickets_metrics_module);
    sh = mcf->sh;

    if (sh == NULL) {
        return;
    }

    if (m->run >= m->queued && m->queued) {
        ngx_http_tickets_metrics_observe(&sh->queue,
                                         ngx_http_tickets_metrics_fine_bounds,
                                         m->run - m->queued);
    }

    if (m->ran) {
        i = m->op;

        if (i < mcf->nops && sh->db != NULL) {
            ngx_http_tickets_metrics_observe(&sh->db[i],
                                         ngx_http_tickets_metrics_fine_bounds,
                                         m->after.db_ns - m->before.db_ns);
            (void) ngx_atomic_fetch_add(&sh->round_trips[i],
                                        m->after.round_trips
                                        - m->before.round_trips);
        }

        ngx_http_tickets_metrics_db_sh(sh, &m->before, &m->after);
    }

    if (login) {
        i = code == TK_OK ? NGX_HTTP_TICKETS_LOGIN_SUCCESS
            : code == TK_EAUTH ? NGX_HTTP_TICKETS_LOGIN_FAILURE
            : code == TK_ETHROTTLED ? NGX_HTTP_TICKETS_LOGIN_THROTTLED
            : NGX_HTTP_TICKETS_LOGIN_RESULTS;

        if (i < NGX_HTTP_TICKETS_LOGIN_RESULTS) {
            (void) ngx_atomic_fetch_add(&sh->login[i], 1);
        }

    } else if (auth && code == TK_EAUTH) {
        /* a valid token of a user that is gone or inactive */
        (void) ngx_atomic_fetch_add(
                             &sh->jwt[NGX_HTTP_TICKETS_JWT_UNKNOWN_USER], 1);
    }
}


void
ngx_http_tickets_metrics_db(const tk_conn_stats_t *before,
    const tk_conn_stats_t *after)
{
    ngx_http_tickets_metrics_sh_t  *sh;

    sh = ngx_http_tickets_metrics_cycle_shm();
    if (sh != NULL) {
        ngx_http_tickets_metrics_db_sh(sh, before, after);
    }
}


void
ngx_http_tickets_metrics_escalation(ngx_uint_t ok, uint64_t ns,
    ngx_int_t escalated)
{
    ngx_http_tickets_metrics_sh_t  *sh;

    sh = ngx_http_tickets_metrics_cycle_shm();
    if (sh == NULL) {
        return;
    }

    (void) ngx_atomic_fetch_add(&sh->esc_runs[ok ? 0 : 1], 1);

    if (ok) {
        if (escalated > 0) {
            (void) ngx_atomic_fetch_add(&sh->esc_escalated, escalated);
        }

        sh->esc_last_success = (ngx_atomic_uint_t) ngx_time();
        sh->esc_last_ns = (ngx_atomic_uint_t) ns;
    }
}


/*
 * Errors and reconnects between two readings of a connection: the errors
 * go to the class of the last one (an operation rarely meets two).
 */
static void
ngx_http_tickets_metrics_db_sh(ngx_http_tickets_metrics_sh_t *sh,
    const tk_conn_stats_t *before, const tk_conn_stats_t *after)
{
    u_char              c0, c1;
    uint64_t            n;
    ngx_uint_t          i;
    ngx_atomic_uint_t   code, cur;

    if (after->reconnects > before->reconnects) {
        (void) ngx_atomic_fetch_add(&sh->reconnects,
                                    after->reconnects - before->reconnects);
    }

    n = after->errors - before->errors;
    if (after->errors <= before->errors) {
        return;
    }

    c0 = (u_char) after->sqlstate[0];
    c1 = c0 ? (u_char) after->sqlstate[1] : 0;

    if (!((c0 >= '0' && c0 <= '9') || (c0 >= 'A' && c0 <= 'Z'))
        || !((c1 >= '0' && c1 <= '9') || (c1 >= 'A' && c1 <= 'Z')))
    {
        c0 = 'X';
        c1 = 'X';
    }

    code = (ngx_atomic_uint_t) c0 << 8 | c1;

    for (i = 0; i < NGX_HTTP_TICKETS_METRICS_SQLSTATES; i++) {
        cur = sh->sqlstate[i].code;

        if (cur == 0 && ngx_atomic_cmp_set(&sh->sqlstate[i].code, 0, code)) {
            cur = code;

        } else if (cur == 0) {
            /* another process took the slot just now */
            cur = sh->sqlstate[i].code;
        }

        if (cur == code) {
            (void) ngx_atomic_fetch_add(&sh->sqlstate[i].count, n);
            return;
        }
    }

    (void) ngx_atomic_fetch_add(&sh->dropped, 1);
}


static void
ngx_http_tickets_metrics_observe(ngx_http_tickets_metrics_hist_t *h,
    const uint64_t *bounds, uint64_t ns)
{
    ngx_uint_t  i;

    for (i = 0; bounds[i] && ns > bounds[i]; i++) { /* void */ }

    (void) ngx_atomic_fetch_add(&h->bucket[i], 1);
    (void) ngx_atomic_fetch_add(&h->sum_ns, ns);
}


/* The log phase: every request of a tickets location, as answered. */
static ngx_int_t
ngx_http_tickets_metrics_log(ngx_http_request_t *r)
{
    ngx_uint_t                             label, method, class, status;
    ngx_http_tickets_metrics_sh_t         *sh;
    ngx_http_tickets_metrics_req_t        *m;
    ngx_http_tickets_metrics_main_conf_t  *mcf;

    m = ngx_http_get_module_ctx(r, ngx_http_tickets_metrics_module);
    if (m == NULL) {
        return NGX_OK;
    }

    mcf = ngx_http_get_module_main_conf(r, ngx_http_tickets_metrics_module);
    sh = mcf->sh;

    if (sh == NULL) {
        return NGX_OK;
    }

    label = (m->route && m->route <= mcf->nroutes)
            ? mcf->label_of[m->route - 1] : 0;

    switch (r->method) {
    case NGX_HTTP_GET: method = 0; break;
    case NGX_HTTP_HEAD: method = 1; break;
    case NGX_HTTP_POST: method = 2; break;
    case NGX_HTTP_DELETE: method = 3; break;
    default: method = 4;
    }

    /* as the access log has it */
    status = r->err_status ? r->err_status : r->headers_out.status;
    if (status == 0 && r->connection->error) {
        status = 499;
    }

    class = status / 100;

    if (sh->requests != NULL && class >= 1 && class <= 5) {
        (void) ngx_atomic_fetch_add(&sh->requests[(label
                                    * NGX_HTTP_TICKETS_METRICS_METHODS
                                    + method)
                                    * NGX_HTTP_TICKETS_METRICS_CLASSES
                                    + class - 1], 1);
    }

    if (sh->duration != NULL) {
        ngx_http_tickets_metrics_observe(&sh->duration[label],
                                         ngx_http_tickets_metrics_req_bounds,
                                         ngx_http_tickets_metrics_now()
                                         - m->start);
    }

    return NGX_OK;
}


static ngx_http_tickets_metrics_sh_t *
ngx_http_tickets_metrics_shm(ngx_http_request_t *r)
{
    ngx_http_tickets_metrics_main_conf_t  *mcf;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_tickets_metrics_module);

    return mcf->sh;
}


static ngx_http_tickets_metrics_sh_t *
ngx_http_tickets_metrics_cycle_shm(void)
{
    ngx_http_tickets_metrics_main_conf_t  *mcf;

    if (ngx_cycle->conf_ctx == NULL
        || ngx_cycle->conf_ctx[ngx_http_module.index] == NULL)
    {
        return NULL;
    }

    mcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                             ngx_http_tickets_metrics_module);

    return mcf ? mcf->sh : NULL;
}


/* The scrape ------------------------------------------------------------- */


static ngx_int_t
ngx_http_tickets_metrics_handler(ngx_http_request_t *r)
{
    char                               *db;
    ngx_int_t                           rc;
    ngx_thread_pool_t                  *pool;
    ngx_thread_task_t                  *task;
    ngx_http_tickets_metrics_scrape_t  *sc;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    task = ngx_thread_task_alloc(r->pool,
                                 sizeof(ngx_http_tickets_metrics_scrape_t));
    if (task == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    sc = task->ctx;
    sc->request = r;
    sc->rc = TK_EUNAVAIL;
    tk_result_init(&sc->res);

    if (ngx_http_tickets_jobs_database(&db, &pool) != NGX_OK) {
        return ngx_http_tickets_metrics_send(r, sc);
    }

    sc->db = db;
    task->handler = ngx_http_tickets_metrics_scrape_task;
    task->event.data = sc;
    task->event.handler = ngx_http_tickets_metrics_scrape_done;

    if (ngx_thread_task_post(pool, task) != NGX_OK) {
        /* the queue is full: the counters without the outbox */
        return ngx_http_tickets_metrics_send(r, sc);
    }

    r->main->count++;
    r->main->blocked++;
    r->aio = 1;

    return NGX_DONE;
}


/* In a pool thread. */
static void
ngx_http_tickets_metrics_scrape_task(void *data, ngx_log_t *log)
{
    ngx_http_tickets_metrics_scrape_t  *sc = data;

    tk_conn_t  *conn;

    conn = ngx_http_tickets_thread_conn(sc->db);
    if (conn == NULL) {
        sc->rc = TK_ENOMEM;
        return;
    }

    tk_conn_stats(conn, &sc->before);
    sc->rc = tk_outbox_stats(conn, sc->outbox, TK_OUTBOX_CHANNELS, &sc->n,
                             &sc->res);
    tk_conn_stats(conn, &sc->after);
}


static void
ngx_http_tickets_metrics_scrape_done(ngx_event_t *ev)
{
    ngx_int_t                           rc;
    ngx_connection_t                   *c;
    ngx_http_request_t                 *r;
    ngx_http_tickets_metrics_scrape_t  *sc;

    sc = ev->data;
    r = sc->request;
    c = r->connection;

    ngx_http_set_log_request(c->log, r);

    r->main->blocked--;
    r->aio = 0;

    ngx_http_tickets_metrics_db(&sc->before, &sc->after);

    if (sc->rc < 0) {
        ngx_log_error(NGX_LOG_WARN, c->log, 0,
                      "tickets metrics: the outbox could not be read: %s",
                      sc->res.message[0] ? sc->res.message
                                         : tk_strerror(sc->rc));
    }

    rc = ngx_http_tickets_metrics_send(r, sc);
    tk_result_clear(&sc->res);

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


static ngx_int_t
ngx_http_tickets_metrics_send(ngx_http_request_t *r,
    ngx_http_tickets_metrics_scrape_t *sc)
{
    off_t                                  len;
    ngx_int_t                              rc;
    ngx_chain_t                           *cl;
    ngx_http_tickets_metrics_out_t         o;
    ngx_http_tickets_metrics_main_conf_t  *mcf;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_tickets_metrics_module);

    ngx_memzero(&o, sizeof(ngx_http_tickets_metrics_out_t));
    o.request = r;

    ngx_http_tickets_metrics_render(&o, mcf, sc);

    if (o.failed || o.first == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    len = 0;
    for (cl = o.first; cl; cl = cl->next) {
        len += cl->buf->last - cl->buf->pos;
    }

    o.last->buf->last_buf = (r == r->main) ? 1 : 0;
    o.last->buf->last_in_chain = 1;

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_type = ngx_http_tickets_metrics_type;
    r->headers_out.content_type_len = ngx_http_tickets_metrics_type.len;
    r->headers_out.content_type_lowcase = NULL;
    r->headers_out.content_length_n = len;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    return ngx_http_output_filter(r, o.first);
}


static void
ngx_http_tickets_metrics_render(ngx_http_tickets_metrics_out_t *o,
    ngx_http_tickets_metrics_main_conf_t *mcf,
    ngx_http_tickets_metrics_scrape_t *sc)
{
    u_char                         *p;
    uint64_t                        n;
    ngx_int_t                       i, j, k;
    ngx_str_t                       op;
    ngx_atomic_uint_t               code;
    tk_outbox_stats_t              *ob;
    ngx_http_tickets_metrics_sh_t  *sh;
    u_char                          lab[NGX_HTTP_TICKETS_METRICS_LINE_MAX / 2];

    sh = mcf->sh;

    ngx_http_tickets_metrics_family(o, "tickets_build_info", "gauge",
                                    "The version of ngx_tickets and of "
                                    "nginx; the value is 1.");
    p = ngx_http_tickets_metrics_escape(lab, (u_char *) tk_version(),
                                       ngx_min(ngx_strlen(tk_version()),
                                           NGX_HTTP_TICKETS_METRICS_VALUE_MAX));
    ngx_http_tickets_metrics_printf(o, "tickets_build_info{version=\"%*s\","
                                    "nginx=\"%s\"} 1\n", p - lab, lab,
                                    NGINX_VERSION);

    if (sh != NULL) {
        ngx_http_tickets_metrics_family(o,
            "tickets_metrics_series_dropped_total", "counter",
            "Series that found no room in tickets_metrics_zone and are "
            "not kept.");
        ngx_http_tickets_metrics_printf(o,
            "tickets_metrics_series_dropped_total %uA\n", sh->dropped);

        ngx_http_tickets_metrics_family(o, "tickets_http_requests_total",
            "counter", "Requests answered, by route pattern, method and "
            "status class.");

        for (i = 0; sh->requests && i < (ngx_int_t) mcf->nlabels; i++) {
            p = ngx_http_tickets_metrics_escape(lab, mcf->labels[i].data,
                                   ngx_min(mcf->labels[i].len,
                                           NGX_HTTP_TICKETS_METRICS_VALUE_MAX));

            for (j = 0; j < NGX_HTTP_TICKETS_METRICS_METHODS; j++) {
                for (k = 0; k < NGX_HTTP_TICKETS_METRICS_CLASSES; k++) {
                    n = sh->requests[(i * NGX_HTTP_TICKETS_METRICS_METHODS
                                      + j) * NGX_HTTP_TICKETS_METRICS_CLASSES
                                     + k];
                    if (n == 0) {
                        continue;
                    }

                    ngx_http_tickets_metrics_printf(o,
                        "tickets_http_requests_total{route=\"%*s\","
                        "method=\"%s\",status=\"%uixx\"} %uL\n", p - lab, lab,
                        ngx_http_tickets_metrics_methods[j], k + 1, n);
                }
            }
        }

        ngx_http_tickets_metrics_family(o,
            "tickets_http_request_duration_seconds", "histogram",
            "Time from the start of a request to its log line, by route "
            "pattern.");

        for (i = 0; sh->duration && i < (ngx_int_t) mcf->nlabels; i++) {
            ngx_http_tickets_metrics_histogram(o,
                "tickets_http_request_duration_seconds", "route",
                &mcf->labels[i], &sh->duration[i],
                ngx_http_tickets_metrics_req_bounds,
                ngx_http_tickets_metrics_req_les);
        }

        ngx_http_tickets_metrics_family(o,
            "tickets_thread_pool_queue_seconds", "histogram",
            "Time a request's task waited in the thread pool queue.");
        ngx_http_tickets_metrics_histogram(o,
            "tickets_thread_pool_queue_seconds", NULL, NULL, &sh->queue,
            ngx_http_tickets_metrics_fine_bounds,
            ngx_http_tickets_metrics_fine_les);

        ngx_http_tickets_metrics_family(o,
            "tickets_thread_pool_rejected_total", "counter",
            "Requests answered 503 because the thread pool queue was "
            "full.");
        ngx_http_tickets_metrics_printf(o,
            "tickets_thread_pool_rejected_total %uA\n", sh->overload);

        ngx_http_tickets_metrics_family(o, "tickets_db_duration_seconds",
            "histogram", "Time a request waited on PostgreSQL (connects "
            "and round trips), by operation.");

        for (i = 0; sh->db && i < (ngx_int_t) mcf->nops; i++) {
            op.data = (u_char *) ngx_http_tickets_op_name(i);
            op.len = ngx_strlen(op.data);
            ngx_http_tickets_metrics_histogram(o,
                "tickets_db_duration_seconds", "operation", &op, &sh->db[i],
                ngx_http_tickets_metrics_fine_bounds,
                ngx_http_tickets_metrics_fine_les);
        }

        ngx_http_tickets_metrics_family(o, "tickets_db_round_trips_total",
            "counter", "Round trips to PostgreSQL, by operation.");

        for (i = 0; sh->round_trips && i < (ngx_int_t) mcf->nops; i++) {
            if (sh->round_trips[i] == 0) {
                continue;
            }

            ngx_http_tickets_metrics_printf(o,
                "tickets_db_round_trips_total{operation=\"%s\"} %uA\n",
                ngx_http_tickets_op_name(i), sh->round_trips[i]);
        }

        ngx_http_tickets_metrics_family(o, "tickets_db_errors_total",
            "counter", "Failed statements and connects, by SQLSTATE "
            "class (08: connection).");

        for (i = 0; i < NGX_HTTP_TICKETS_METRICS_SQLSTATES; i++) {
            code = sh->sqlstate[i].code;
            if (code == 0) {
                continue;
            }

            ngx_http_tickets_metrics_printf(o,
                "tickets_db_errors_total{sqlstate_class=\"%c%c\"} %uA\n",
                (int) (code >> 8), (int) (code & 0xff),
                sh->sqlstate[i].count);
        }

        ngx_http_tickets_metrics_family(o, "tickets_db_reconnects_total",
            "counter", "Connections to PostgreSQL made again after one "
            "was lost.");
        ngx_http_tickets_metrics_printf(o,
            "tickets_db_reconnects_total %uA\n", sh->reconnects);

        ngx_http_tickets_metrics_family(o, "tickets_jwt_refusals_total",
            "counter", "Requests refused 401 for their bearer token, by "
            "cause.");

        for (i = 0; i < NGX_HTTP_TICKETS_JWT_CAUSES; i++) {
            ngx_http_tickets_metrics_printf(o,
                "tickets_jwt_refusals_total{cause=\"%s\"} %uA\n",
                ngx_http_tickets_metrics_causes[i], sh->jwt[i]);
        }

        ngx_http_tickets_metrics_family(o, "tickets_logins_total",
            "counter", "Password logins at /api/auth/token, by result "
            "(throttled: refused 429 after repeated failures).");

        for (i = 0; i < NGX_HTTP_TICKETS_LOGIN_RESULTS; i++) {
            ngx_http_tickets_metrics_printf(o,
                "tickets_logins_total{result=\"%s\"} %uA\n",
                ngx_http_tickets_metrics_logins[i], sh->login[i]);
        }

        ngx_http_tickets_metrics_family(o, "tickets_escalation_runs_total",
            "counter", "Runs of the escalation job in this host's "
            "workers, by result.");
        ngx_http_tickets_metrics_printf(o,
            "tickets_escalation_runs_total{result=\"success\"} %uA\n"
            "tickets_escalation_runs_total{result=\"failure\"} %uA\n",
            sh->esc_runs[0], sh->esc_runs[1]);

        ngx_http_tickets_metrics_family(o,
            "tickets_escalation_tickets_total", "counter",
            "Tickets the escalation job escalated.");
        ngx_http_tickets_metrics_printf(o,
            "tickets_escalation_tickets_total %uA\n", sh->esc_escalated);

        ngx_http_tickets_metrics_family(o,
            "tickets_escalation_last_success_timestamp_seconds", "gauge",
            "When the escalation job last ran without error (Unix time; "
            "0: not yet).");
        ngx_http_tickets_metrics_printf(o,
            "tickets_escalation_last_success_timestamp_seconds %uA\n",
            sh->esc_last_success);

        ngx_http_tickets_metrics_family(o,
            "tickets_escalation_last_duration_seconds", "gauge",
            "How long the last successful run of the escalation job "
            "took.");
        n = sh->esc_last_ns;
        ngx_http_tickets_metrics_printf(o,
            "tickets_escalation_last_duration_seconds %uL.%09uL\n",
            n / 1000000000, n % 1000000000);

        ngx_http_tickets_metrics_family(o,
            "tickets_metrics_zone_created_timestamp_seconds", "gauge",
            "When the counters started (Unix time): a reload keeps them, "
            "a restart does not.");
        ngx_http_tickets_metrics_printf(o,
            "tickets_metrics_zone_created_timestamp_seconds %uA\n",
            sh->created);
    }

    ngx_http_tickets_metrics_family(o, "tickets_outbox_up", "gauge",
        "1 when this scrape could read the outbox from the database.");
    ngx_http_tickets_metrics_printf(o, "tickets_outbox_up %d\n",
                                    sc->rc >= 0 ? 1 : 0);

    if (sc->rc < 0) {
        return;
    }

    ngx_http_tickets_metrics_family(o, "tickets_outbox_pending", "gauge",
        "Notifications waiting for delivery, by channel.");
    for (i = 0; i < sc->n; i++) {
        ob = &sc->outbox[i];
        ngx_http_tickets_metrics_printf(o,
            "tickets_outbox_pending{channel=\"%s\"} %L\n", ob->channel,
            ob->pending);
    }

    ngx_http_tickets_metrics_family(o, "tickets_outbox_failed", "gauge",
        "Notifications that failed for good (ticketsctl outbox retry "
        "queues them again), by channel.");
    for (i = 0; i < sc->n; i++) {
        ob = &sc->outbox[i];
        ngx_http_tickets_metrics_printf(o,
            "tickets_outbox_failed{channel=\"%s\"} %L\n", ob->channel,
            ob->failed);
    }

    ngx_http_tickets_metrics_family(o,
        "tickets_outbox_oldest_pending_age_seconds", "gauge",
        "Age of the oldest pending notification, by channel (0: none).");
    for (i = 0; i < sc->n; i++) {
        ob = &sc->outbox[i];
        ngx_http_tickets_metrics_printf(o,
            "tickets_outbox_oldest_pending_age_seconds{channel=\"%s\"} "
            "%.3f\n", ob->channel, ob->oldest_pending_seconds);
    }

    ngx_http_tickets_metrics_family(o, "tickets_outbox_delivered_total",
        "counter", "Notifications delivered, by channel (rows of the "
        "outbox marked sent).");
    for (i = 0; i < sc->n; i++) {
        ob = &sc->outbox[i];
        ngx_http_tickets_metrics_printf(o,
            "tickets_outbox_delivered_total{channel=\"%s\"} %L\n",
            ob->channel, ob->sent);
    }

    ngx_http_tickets_metrics_family(o, "tickets_outbox_retries_total",
        "counter", "Delivery attempts after the first, by channel.");
    for (i = 0; i < sc->n; i++) {
        ob = &sc->outbox[i];
        ngx_http_tickets_metrics_printf(o,
            "tickets_outbox_retries_total{channel=\"%s\"} %L\n",
            ob->channel, ob->retries);
    }
}


static void
ngx_http_tickets_metrics_family(ngx_http_tickets_metrics_out_t *o,
    const char *name, const char *type, const char *help)
{
    /* the texts are ours: no backslash or newline to escape */
    ngx_http_tickets_metrics_printf(o, "# HELP %s %s\n# TYPE %s %s\n",
                                    name, help, name, type);
}


/* Cumulative buckets, +Inf equal to _count; nothing while it is empty. */
static void
ngx_http_tickets_metrics_histogram(ngx_http_tickets_metrics_out_t *o,
    const char *name, const char *label, ngx_str_t *value,
    ngx_http_tickets_metrics_hist_t *h, const uint64_t *bounds,
    const char **les)
{
    u_char      *p;
    uint64_t     cum, sum, b[NGX_HTTP_TICKETS_METRICS_BUCKETS];
    ngx_uint_t   i, nb;
    u_char       lab[NGX_HTTP_TICKETS_METRICS_LINE_MAX / 2];

    for (nb = 0; bounds[nb]; nb++) { /* void */ }

    cum = 0;
    for (i = 0; i <= nb; i++) {
        b[i] = h->bucket[i];
        cum += b[i];
    }

    if (cum == 0) {
        return;
    }

    sum = h->sum_ns;

    p = lab;
    if (label != NULL) {
        p = ngx_sprintf(p, "%s=\"", label);
        p = ngx_http_tickets_metrics_escape(p, value->data,
                                  ngx_min(value->len,
                                          NGX_HTTP_TICKETS_METRICS_VALUE_MAX));
        p = ngx_sprintf(p, "\",");
    }

    cum = 0;
    for (i = 0; i <= nb; i++) {
        cum += b[i];
        ngx_http_tickets_metrics_printf(o, "%s_bucket{%*sle=\"%s\"} %uL\n",
                                        name, p - lab, lab,
                                        i < nb ? les[i] : "+Inf", cum);
    }

    if (label != NULL) {
        p--;
    }

    ngx_http_tickets_metrics_printf(o, "%s_sum%s%*s%s %uL.%09uL\n",
                                    name, label ? "{" : "", p - lab, lab,
                                    label ? "}" : "", sum / 1000000000,
                                    sum % 1000000000);
    ngx_http_tickets_metrics_printf(o, "%s_count%s%*s%s %uL\n",
                                    name, label ? "{" : "", p - lab, lab,
                                    label ? "}" : "", cum);
}


/* A label value: backslash, double quote and newline escaped. */
static u_char *
ngx_http_tickets_metrics_escape(u_char *dst, u_char *src, size_t len)
{
    for ( /* void */ ; len; len--, src++) {

        if (*src == '\\' || *src == '"') {
            *dst++ = '\\';
            *dst++ = *src;

        } else if (*src == '\n') {
            *dst++ = '\\';
            *dst++ = 'n';

        } else {
            *dst++ = *src;
        }
    }

    return dst;
}


/* One line at a time into a chain of buffers from the request's pool. */
static void
ngx_http_tickets_metrics_printf(ngx_http_tickets_metrics_out_t *o,
    const char *fmt, ...)
{
    va_list       args;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    if (o->failed) {
        return;
    }

    if (o->last == NULL
        || o->last->buf->end - o->last->buf->last
           < NGX_HTTP_TICKETS_METRICS_LINE_MAX)
    {
        b = ngx_create_temp_buf(o->request->pool,
                                NGX_HTTP_TICKETS_METRICS_OUT_CHUNK);
        cl = ngx_alloc_chain_link(o->request->pool);

        if (b == NULL || cl == NULL) {
            o->failed = 1;
            return;
        }

        cl->buf = b;
        cl->next = NULL;

        if (o->last) {
            o->last->next = cl;

        } else {
            o->first = cl;
        }

        o->last = cl;
    }

    b = o->last->buf;

    va_start(args, fmt);
    b->last = ngx_vslprintf(b->last, b->end, fmt, args);
    va_end(args);
}


/* Variables -------------------------------------------------------------- */


static ngx_int_t
ngx_http_tickets_metrics_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char                                *p;
    uint64_t                               ns;
    ngx_str_t                             *s;
    ngx_http_tickets_metrics_req_t        *m;
    ngx_http_tickets_metrics_main_conf_t  *mcf;

    m = ngx_http_get_module_ctx(r, ngx_http_tickets_metrics_module);

    v->not_found = 1;

    if (m == NULL) {
        return NGX_OK;
    }

    switch (data) {

    case 0:
        mcf = ngx_http_get_module_main_conf(r,
                                            ngx_http_tickets_metrics_module);
        s = (m->route && m->route <= mcf->nroutes)
            ? &mcf->labels[mcf->label_of[m->route - 1]]
            : &ngx_http_tickets_metrics_unmatched;
        v->data = s->data;
        v->len = s->len;
        break;

    case 1:
        if (m->user == NULL || m->user[0] == '\0') {
            return NGX_OK;
        }

        v->data = m->user;
        v->len = ngx_strlen(m->user);
        break;

    default:
        if (data == 2 && !m->ran) {
            return NGX_OK;
        }

        if (data == 3 && (m->queued == 0 || m->run < m->queued)) {
            return NGX_OK;
        }

        ns = data == 2 ? m->after.db_ns - m->before.db_ns
                       : m->run - m->queued;

        p = ngx_pnalloc(r->pool, NGX_INT64_LEN + 8);
        if (p == NULL) {
            return NGX_ERROR;
        }

        v->data = p;
        v->len = ngx_sprintf(p, "%uL.%06uL", ns / 1000000000,
                             ns % 1000000000 / 1000) - p;
    }

    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


static ngx_int_t
ngx_http_tickets_metrics_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_tickets_metrics_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


/* Configuration ---------------------------------------------------------- */


/*
 * The log phase handler goes first, before the access log's: a request
 * that is in the access log is counted.
 */
static ngx_int_t
ngx_http_tickets_metrics_init(ngx_conf_t *cf)
{
    ngx_array_t                *a;
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);
    a = &cmcf->phases[NGX_HTTP_LOG_PHASE].handlers;

    if (ngx_array_push(a) == NULL) {
        return NGX_ERROR;
    }

    h = a->elts;
    ngx_memmove(&h[1], &h[0], (a->nelts - 1) * sizeof(ngx_http_handler_pt));
    h[0] = ngx_http_tickets_metrics_log;

    return NGX_OK;
}


/*
 * A zone kept over a reload comes with the data of the old configuration;
 * its series were laid out for the same routes (the module is not loaded
 * again on a reload).
 */
static ngx_int_t
ngx_http_tickets_metrics_init_zone(ngx_shm_zone_t *zone, void *data)
{
    ngx_http_tickets_metrics_main_conf_t  *omcf = data;

    size_t                                 size;
    ngx_slab_pool_t                       *shpool;
    ngx_http_tickets_metrics_sh_t         *sh;
    ngx_http_tickets_metrics_main_conf_t  *mcf;

    mcf = zone->data;
    shpool = (ngx_slab_pool_t *) zone->shm.addr;

    if (omcf != NULL && omcf->sh != NULL
        && omcf->sh->nlabels == mcf->nlabels && omcf->sh->nops == mcf->nops)
    {
        mcf->sh = omcf->sh;
        mcf->shpool = omcf->shpool;
        return NGX_OK;
    }

    if (zone->shm.exists) {
        mcf->sh = shpool->data;
        mcf->shpool = shpool;
        return NGX_OK;
    }

    mcf->shpool = shpool;

    sh = ngx_slab_calloc(shpool, sizeof(ngx_http_tickets_metrics_sh_t));
    if (sh == NULL) {
        ngx_log_error(NGX_LOG_EMERG, zone->shm.log, 0,
                      "\"tickets_metrics_zone\" is too small");
        return NGX_ERROR;
    }

    sh->nlabels = mcf->nlabels;
    sh->nops = mcf->nops;
    sh->created = (ngx_atomic_uint_t) ngx_time();

    /* what does not fit is counted, not kept (nor logged at crit) */
    shpool->log_nomem = 0;

    size = mcf->nlabels * NGX_HTTP_TICKETS_METRICS_METHODS
           * NGX_HTTP_TICKETS_METRICS_CLASSES;
    sh->requests = ngx_slab_calloc(shpool, size * sizeof(ngx_atomic_t));
    if (sh->requests == NULL) {
        sh->dropped += size;
    }

    sh->duration = ngx_slab_calloc(shpool, mcf->nlabels
                                   * sizeof(ngx_http_tickets_metrics_hist_t));
    if (sh->duration == NULL) {
        sh->dropped += mcf->nlabels;
    }

    sh->db = ngx_slab_calloc(shpool, mcf->nops
                             * sizeof(ngx_http_tickets_metrics_hist_t));
    sh->round_trips = ngx_slab_calloc(shpool,
                                      mcf->nops * sizeof(ngx_atomic_t));

    if (sh->db == NULL || sh->round_trips == NULL) {
        /* both or neither */
        if (sh->db != NULL) {
            ngx_slab_free(shpool, sh->db);
            sh->db = NULL;
        }

        if (sh->round_trips != NULL) {
            ngx_slab_free(shpool, (void *) sh->round_trips);
            sh->round_trips = NULL;
        }

        sh->dropped += 2 * mcf->nops;
    }

    if (sh->dropped) {
        ngx_log_error(NGX_LOG_WARN, zone->shm.log, 0,
                      "\"tickets_metrics_zone\" is too small: %uA series "
                      "dropped", sh->dropped);
    }

    shpool->data = sh;
    mcf->sh = sh;

    return NGX_OK;
}


static void *
ngx_http_tickets_metrics_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_tickets_metrics_main_conf_t  *mcf;

    mcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_tickets_metrics_main_conf_t));
    if (mcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     mcf->zone = NULL;
     *     mcf->sh = NULL;
     *     mcf->handlers = 0;
     */

    return mcf;
}


/* The label of each route: the distinct patterns, in table order. */
static char *
ngx_http_tickets_metrics_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_tickets_metrics_main_conf_t *mcf = conf;

    ngx_str_t   *pat;
    ngx_uint_t   i, j;

    mcf->labels[0] = ngx_http_tickets_metrics_unmatched;
    mcf->nlabels = 1;

    for (i = 0; (pat = ngx_http_tickets_route_pattern(i)) != NULL; i++) {

        if (i == NGX_HTTP_TICKETS_METRICS_MAX_ROUTES
            || mcf->nlabels == NGX_HTTP_TICKETS_METRICS_MAX_ROUTES)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "tickets metrics: "
                               "more routes than %d",
                               NGX_HTTP_TICKETS_METRICS_MAX_ROUTES);
            return NGX_CONF_ERROR;
        }

        for (j = 1; j < mcf->nlabels; j++) {
            if (mcf->labels[j].len == pat->len
                && ngx_strncmp(mcf->labels[j].data, pat->data, pat->len) == 0)
            {
                break;
            }
        }

        if (j == mcf->nlabels) {
            mcf->labels[mcf->nlabels++] = *pat;
        }

        mcf->label_of[i] = j;
    }

    mcf->nroutes = i;

    for (i = 0; ngx_http_tickets_op_name(i) != NULL; i++) { /* void */ }

    mcf->nops = ngx_min(i, NGX_HTTP_TICKETS_METRICS_MAX_OPS);

    if (mcf->handlers && mcf->zone == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"tickets_metrics\" needs "
                           "\"tickets_metrics_zone\"");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_tickets_metrics_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_tickets_metrics_main_conf_t *mcf = conf;

    ssize_t     size;
    ngx_str_t  *value;

    static ngx_str_t  name = ngx_string("tickets_metrics");

    if (mcf->zone != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;

    size = ngx_parse_size(&value[1]);

    if (size == NGX_ERROR || size < (ssize_t) (2 * ngx_pagesize)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"tickets_metrics_zone\" of \"%V\": a size of "
                           "at least %uz is needed", &value[1],
                           2 * ngx_pagesize);
        return NGX_CONF_ERROR;
    }

    mcf->zone = ngx_shared_memory_add(cf, &name, size,
                                      &ngx_http_tickets_metrics_module);
    if (mcf->zone == NULL) {
        return NGX_CONF_ERROR;
    }

    mcf->zone->init = ngx_http_tickets_metrics_init_zone;
    mcf->zone->data = mcf;

    return NGX_CONF_OK;
}


static char *
ngx_http_tickets_metrics(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t              *clcf;
    ngx_http_tickets_metrics_main_conf_t  *mcf;

    mcf = ngx_http_conf_get_module_main_conf(cf,
                                             ngx_http_tickets_metrics_module);
    mcf->handlers++;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_tickets_metrics_handler;

    return NGX_CONF_OK;
}
