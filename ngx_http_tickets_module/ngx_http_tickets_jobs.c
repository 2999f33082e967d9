
/*
 * ngx_http_tickets_jobs_module: the background work of the ticket API,
 * inside the nginx workers and off their event loop.
 *
 * Each worker keeps two timers: every tickets_outbox_interval it posts a
 * task that delivers due notifications (tk_outbox_deliver), and when the
 * escalation job is due a task that runs it (tk_escalate_due).  A worker
 * has at most one such task in flight; what comes up meanwhile waits for
 * it.  The database decides who does what: rows are claimed with a lease
 * and the escalation job runs in one place at a time, so any number of
 * workers and hosts may run the timers.  Tasks go to the thread pool of
 * the tickets module and use the pool thread's PostgreSQL connection.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <tickets.h>
#include "ngx_http_tickets_jobs.h"
#include "ngx_http_tickets_metrics.h"


#define NGX_HTTP_TICKETS_JOBS_BATCH          16
#define NGX_HTTP_TICKETS_JOBS_ESCALATE_MAX   200
/* after a task the thread pool refused, or the first runs after start */
#define NGX_HTTP_TICKETS_JOBS_SOON           1000


typedef struct {
    ngx_flag_t                  enable;
    ngx_msec_t                  outbox_interval;
    /* of the first location with "tickets", NULL when there is none */
    char                       *db;
    ngx_thread_pool_t          *pool;
    unsigned                    warned:1;
} ngx_http_tickets_jobs_main_conf_t;


/* what a task is to do and what it found, read back in the event loop */
typedef struct {
    char                       *db;
    unsigned                    deliver:1;
    unsigned                    escalate:1;
    int                         delivered;
    int                         escalated;
    int                         next;
    uint64_t                    escalate_ns;
    tk_conn_stats_t             before;
    tk_conn_stats_t             after;
    tk_result_t                 deliver_res;
    tk_result_t                 escalate_res;
} ngx_http_tickets_jobs_ctx_t;


typedef struct {
    ngx_http_tickets_jobs_main_conf_t  *conf;
    ngx_thread_task_t                  *task;
    ngx_event_t                         outbox_timer;
    ngx_event_t                         escalation_timer;
    ngx_log_t                          *log;
    /* a failure is logged when it begins, not every second */
    ngx_uint_t                          deliver_failing;
    ngx_uint_t                          escalate_failing;
    unsigned                            busy:1;
    unsigned                            want_deliver:1;
    unsigned                            want_escalate:1;
} ngx_http_tickets_jobs_t;


static void ngx_http_tickets_jobs_outbox_handler(ngx_event_t *ev);
static void ngx_http_tickets_jobs_escalation_handler(ngx_event_t *ev);
static void ngx_http_tickets_jobs_post(ngx_http_tickets_jobs_t *jobs);
static void ngx_http_tickets_jobs_task_handler(void *data, ngx_log_t *log);
static void ngx_http_tickets_jobs_task_done(ngx_event_t *ev);
static void ngx_http_tickets_jobs_log_delivery(ngx_http_tickets_jobs_t *jobs,
    ngx_http_tickets_jobs_ctx_t *ctx);
static void ngx_http_tickets_jobs_log_failure(ngx_http_tickets_jobs_t *jobs,
    const char *what, int rc, tk_result_t *res, ngx_uint_t *failing);
static ngx_int_t ngx_http_tickets_jobs_stopping(void);
static void ngx_http_tickets_jobs_cleanup(void *data);

static ngx_int_t ngx_http_tickets_jobs_init_module(ngx_cycle_t *cycle);
static ngx_int_t ngx_http_tickets_jobs_init_process(ngx_cycle_t *cycle);
static void *ngx_http_tickets_jobs_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_tickets_jobs_init_main_conf(ngx_conf_t *cf,
    void *conf);


static ngx_command_t  ngx_http_tickets_jobs_commands[] = {

    { ngx_string("tickets_jobs"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_tickets_jobs_main_conf_t, enable),
      NULL },

    { ngx_string("tickets_outbox_interval"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_tickets_jobs_main_conf_t, outbox_interval),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_tickets_jobs_module_ctx = {
    NULL,                                  /* preconfiguration */
    NULL,                                  /* postconfiguration */

    ngx_http_tickets_jobs_create_main_conf, /* create main configuration */
    ngx_http_tickets_jobs_init_main_conf,  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    NULL,                                  /* create location configuration */
    NULL                                   /* merge location configuration */
};


ngx_module_t  ngx_http_tickets_jobs_module = {
    NGX_MODULE_V1,
    &ngx_http_tickets_jobs_module_ctx,     /* module context */
    ngx_http_tickets_jobs_commands,        /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    ngx_http_tickets_jobs_init_module,     /* init module */
    ngx_http_tickets_jobs_init_process,    /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


/* the jobs of this worker process, NULL when they are off */
static ngx_http_tickets_jobs_t  *ngx_http_tickets_jobs;


ngx_int_t
ngx_http_tickets_jobs_target(ngx_conf_t *cf, char *db,
    ngx_thread_pool_t *pool)
{
    ngx_http_tickets_jobs_main_conf_t  *jmcf;

    jmcf = ngx_http_conf_get_module_main_conf(cf,
                                              ngx_http_tickets_jobs_module);

    if (jmcf->db == NULL) {
        jmcf->db = db;
        jmcf->pool = pool;
        return NGX_OK;
    }

    if ((ngx_strcmp(jmcf->db, db) != 0 || jmcf->pool != pool)
        && !jmcf->warned)
    {
        jmcf->warned = 1;
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "the tickets jobs use the \"tickets_db\" and "
                           "\"tickets_thread_pool\" of the first location "
                           "with \"tickets\"");
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_tickets_jobs_database(char **db, ngx_thread_pool_t **pool)
{
    ngx_http_tickets_jobs_main_conf_t  *jmcf;

    if (ngx_cycle->conf_ctx == NULL
        || ngx_cycle->conf_ctx[ngx_http_module.index] == NULL)
    {
        return NGX_DECLINED;
    }

    jmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_tickets_jobs_module);

    if (jmcf == NULL || jmcf->db == NULL) {
        return NGX_DECLINED;
    }

    *db = jmcf->db;
    *pool = jmcf->pool;

    return NGX_OK;
}


void
ngx_http_tickets_jobs_kick(void)
{
    if (ngx_http_tickets_jobs == NULL) {
        return;
    }

    ngx_http_tickets_jobs->want_deliver = 1;
    ngx_http_tickets_jobs_post(ngx_http_tickets_jobs);
}


static void
ngx_http_tickets_jobs_outbox_handler(ngx_event_t *ev)
{
    ngx_http_tickets_jobs_t  *jobs = ev->data;

    if (ngx_http_tickets_jobs_stopping()) {
        return;
    }

    jobs->want_deliver = 1;
    ngx_http_tickets_jobs_post(jobs);

    ngx_add_timer(ev, jobs->conf->outbox_interval);
}


/* Armed again when the task that runs the job is done. */
static void
ngx_http_tickets_jobs_escalation_handler(ngx_event_t *ev)
{
    ngx_http_tickets_jobs_t  *jobs = ev->data;

    if (ngx_http_tickets_jobs_stopping()) {
        return;
    }

    jobs->want_escalate = 1;
    ngx_http_tickets_jobs_post(jobs);
}


static void
ngx_http_tickets_jobs_post(ngx_http_tickets_jobs_t *jobs)
{
    ngx_http_tickets_jobs_ctx_t  *ctx;

    if (jobs->busy
        || !(jobs->want_deliver || jobs->want_escalate)
        || ngx_http_tickets_jobs_stopping())
    {
        return;
    }

    ctx = jobs->task->ctx;
    ngx_memzero(ctx, sizeof(ngx_http_tickets_jobs_ctx_t));

    ctx->db = jobs->conf->db;
    ctx->deliver = jobs->want_deliver;
    ctx->escalate = jobs->want_escalate;
    tk_result_init(&ctx->deliver_res);
    tk_result_init(&ctx->escalate_res);

    if (ngx_thread_task_post(jobs->conf->pool, jobs->task) != NGX_OK) {
        /* the queue is full: the requests come first */
        if (ctx->escalate) {
            jobs->want_escalate = 0;
            ngx_add_timer(&jobs->escalation_timer,
                          NGX_HTTP_TICKETS_JOBS_SOON);
        }

        return;
    }

    jobs->want_deliver = 0;
    jobs->want_escalate = 0;
    jobs->busy = 1;
}


/* In a pool thread: nothing here may touch nginx's pools or events. */
static void
ngx_http_tickets_jobs_task_handler(void *data, ngx_log_t *log)
{
    ngx_http_tickets_jobs_ctx_t  *ctx = data;

    uint64_t    t;
    tk_conn_t  *conn;

    conn = ngx_http_tickets_thread_conn(ctx->db);

    if (conn == NULL) {
        ctx->escalated = TK_ENOMEM;
        ctx->delivered = TK_ENOMEM;
        return;
    }

    tk_conn_stats(conn, &ctx->before);

    if (ctx->escalate) {
        t = ngx_http_tickets_metrics_now();
        ctx->escalated = tk_escalate_due(conn,
                                         NGX_HTTP_TICKETS_JOBS_ESCALATE_MAX,
                                         &ctx->next, &ctx->escalate_res);
        ctx->escalate_ns = ngx_http_tickets_metrics_now() - t;

        /* the emails of the escalation go out at once */
        if (ctx->escalate_res.outbox > 0) {
            ctx->deliver = 1;
        }
    }

    if (ctx->deliver) {
        ctx->delivered = tk_outbox_deliver(conn, NGX_HTTP_TICKETS_JOBS_BATCH,
                                           &ctx->deliver_res);
    }

    tk_conn_stats(conn, &ctx->after);
}


static void
ngx_http_tickets_jobs_task_done(ngx_event_t *ev)
{
    ngx_http_tickets_jobs_t  *jobs = ev->data;

    ngx_msec_t                    next;
    ngx_http_tickets_jobs_ctx_t  *ctx;

    ctx = jobs->task->ctx;
    jobs->busy = 0;

    ngx_http_tickets_metrics_db(&ctx->before, &ctx->after);

    if (ctx->escalate) {
        ngx_http_tickets_metrics_escalation(ctx->escalated >= 0,
                                            ctx->escalate_ns,
                                            ctx->escalated);

        next = (ngx_msec_t) (ctx->next > 0 ? ctx->next : 1) * 1000;

        if (ctx->escalated < 0) {
            ngx_http_tickets_jobs_log_failure(jobs, "escalation",
                                              ctx->escalated,
                                              &ctx->escalate_res,
                                              &jobs->escalate_failing);

        } else {
            ngx_http_tickets_jobs_log_failure(jobs, "escalation", TK_OK,
                                              NULL, &jobs->escalate_failing);

            if (ctx->escalated > 0) {
                ngx_log_error(NGX_LOG_NOTICE, jobs->log, 0, "tickets %s",
                              ctx->escalate_res.message);
            }
        }

        if (!ngx_http_tickets_jobs_stopping()) {
            ngx_add_timer(&jobs->escalation_timer, next);
        }
    }

    if (ctx->deliver) {
        ngx_http_tickets_jobs_log_delivery(jobs, ctx);

        /* a full batch: there may be more due */
        if (ctx->delivered >= NGX_HTTP_TICKETS_JOBS_BATCH) {
            jobs->want_deliver = 1;
        }
    }

    tk_result_clear(&ctx->deliver_res);
    tk_result_clear(&ctx->escalate_res);

    ngx_http_tickets_jobs_post(jobs);
}


/* A line per notification that failed, with its id; never a password. */
static void
ngx_http_tickets_jobs_log_delivery(ngx_http_tickets_jobs_t *jobs,
    ngx_http_tickets_jobs_ctx_t *ctx)
{
    u_char       *p, *end, *nl;
    ngx_uint_t    level;
    tk_result_t  *res;

    res = &ctx->deliver_res;

    if (ctx->delivered < 0) {
        ngx_http_tickets_jobs_log_failure(jobs, "outbox", ctx->delivered,
                                          res, &jobs->deliver_failing);
        return;
    }

    ngx_http_tickets_jobs_log_failure(jobs, "outbox", TK_OK, NULL,
                                      &jobs->deliver_failing);

    if (ctx->delivered == 0) {
        return;
    }

    ngx_log_error(NGX_LOG_INFO, jobs->log, 0, "tickets %s", res->message);

    if (res->body == NULL) {
        return;
    }

    p = (u_char *) res->body;
    end = p + res->body_len;

    while (p < end) {
        nl = ngx_strlchr(p, end, '\n');
        if (nl == NULL) {
            nl = end;
        }

        level = (nl - p > 6 && ngx_strncmp(p, "failed", 6) == 0)
                ? NGX_LOG_WARN : NGX_LOG_INFO;

        ngx_log_error(level, jobs->log, 0, "tickets outbox %*s", nl - p, p);

        p = nl + 1;
    }
}


/*
 * A job that fails (the database is down, say) is logged when it begins
 * to fail and when it works again, not at every tick.  rc TK_OK: it works.
 */
static void
ngx_http_tickets_jobs_log_failure(ngx_http_tickets_jobs_t *jobs,
    const char *what, int rc, tk_result_t *res, ngx_uint_t *failing)
{
    if (rc >= 0) {
        if (*failing) {
            ngx_log_error(NGX_LOG_NOTICE, jobs->log, 0,
                          "tickets %s: works again", what);
        }

    } else if (!*failing) {
        ngx_log_error(NGX_LOG_WARN, jobs->log, 0, "tickets %s failed: %s "
                      "(%s)", what, res->message[0] ? res->message
                                                    : "no details",
                      tk_strerror(rc));
    }

    *failing = rc < 0;
}


/* No new work while the worker exits: its timers are cancelable. */
static ngx_int_t
ngx_http_tickets_jobs_stopping(void)
{
    return ngx_exiting || ngx_quit || ngx_terminate;
}


/* The cycle goes (a reload without a master process): so do the jobs. */
static void
ngx_http_tickets_jobs_cleanup(void *data)
{
    ngx_http_tickets_jobs_t  *jobs = data;

    if (jobs->outbox_timer.timer_set) {
        ngx_del_timer(&jobs->outbox_timer);
    }

    if (jobs->escalation_timer.timer_set) {
        ngx_del_timer(&jobs->escalation_timer);
    }

    if (ngx_http_tickets_jobs == jobs) {
        ngx_http_tickets_jobs = NULL;
    }
}


/* libcurl's global state, once, before any thread sends. */
static ngx_int_t
ngx_http_tickets_jobs_init_module(ngx_cycle_t *cycle)
{
    if (tk_outbox_init() != TK_OK) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "tickets: libcurl could not be initialized");
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_tickets_jobs_init_process(ngx_cycle_t *cycle)
{
    ngx_pool_cleanup_t                 *cln;
    ngx_thread_task_t                  *task;
    ngx_http_tickets_jobs_t            *jobs;
    ngx_http_tickets_jobs_main_conf_t  *jmcf;

    ngx_http_tickets_jobs = NULL;

    if ((ngx_process != NGX_PROCESS_WORKER
         && ngx_process != NGX_PROCESS_SINGLE)
        || cycle->conf_ctx[ngx_http_module.index] == NULL)
    {
        return NGX_OK;
    }

    jmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_tickets_jobs_module);

    if (jmcf == NULL || !jmcf->enable || jmcf->db == NULL) {
        return NGX_OK;
    }

    jobs = ngx_pcalloc(cycle->pool, sizeof(ngx_http_tickets_jobs_t));
    if (jobs == NULL) {
        return NGX_ERROR;
    }

    task = ngx_thread_task_alloc(cycle->pool,
                                 sizeof(ngx_http_tickets_jobs_ctx_t));
    if (task == NULL) {
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(cycle->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_tickets_jobs_cleanup;
    cln->data = jobs;

    task->handler = ngx_http_tickets_jobs_task_handler;
    task->event.handler = ngx_http_tickets_jobs_task_done;
    task->event.data = jobs;
    task->event.log = cycle->log;

    jobs->conf = jmcf;
    jobs->task = task;
    jobs->log = cycle->log;

    jobs->outbox_timer.handler = ngx_http_tickets_jobs_outbox_handler;
    jobs->outbox_timer.data = jobs;
    jobs->outbox_timer.log = cycle->log;
    jobs->outbox_timer.cancelable = 1;

    jobs->escalation_timer.handler = ngx_http_tickets_jobs_escalation_handler;
    jobs->escalation_timer.data = jobs;
    jobs->escalation_timer.log = cycle->log;
    jobs->escalation_timer.cancelable = 1;

    /* what was pending before a restart goes out within the first tick */
    ngx_add_timer(&jobs->outbox_timer,
                  ngx_min(jmcf->outbox_interval, NGX_HTTP_TICKETS_JOBS_SOON));
    ngx_add_timer(&jobs->escalation_timer, NGX_HTTP_TICKETS_JOBS_SOON);

    ngx_http_tickets_jobs = jobs;

    return NGX_OK;
}


static void *
ngx_http_tickets_jobs_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_tickets_jobs_main_conf_t  *jmcf;

    jmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_tickets_jobs_main_conf_t));
    if (jmcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     jmcf->db = NULL;
     *     jmcf->pool = NULL;
     *     jmcf->warned = 0;
     */

    jmcf->enable = NGX_CONF_UNSET;
    jmcf->outbox_interval = NGX_CONF_UNSET_MSEC;

    return jmcf;
}


static char *
ngx_http_tickets_jobs_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_tickets_jobs_main_conf_t *jmcf = conf;

    ngx_conf_init_value(jmcf->enable, 1);
    ngx_conf_init_msec_value(jmcf->outbox_interval, 1000);

    if (jmcf->outbox_interval == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"tickets_outbox_interval\" must be positive");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}
