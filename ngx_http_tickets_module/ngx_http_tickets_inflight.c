
/*
 * Tasks in flight and their cancellation.
 *
 * An nginx worker that was told to quit leaves as soon as no timer but
 * cancelable ones is left (ngx_worker_process_cycle() and
 * ngx_event_no_timers_left()).  A request blocked on a thread pool task
 * has no timer of its own, so the worker would go with the task still
 * running, and its client would never get the answer of a write that
 * committed.  One timer per worker, not cancelable, is set while any
 * task of a request is in flight; worker_shutdown_timeout still applies
 * (its handler closes the connections, which cancels their statements).
 * The jobs' timers stay cancelable: they never hold a worker.
 *
 * Cancellation: PQcancel opens a connection to the server and waits for
 * it, so one thread per worker, started the first time it is needed,
 * sends them from a small queue.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include <pthread.h>
#include <signal.h>

#include "ngx_http_tickets_inflight.h"


/* the timer is set again while tasks run; its period does not matter */
#define NGX_HTTP_TICKETS_INFLIGHT_TICK  60000
#define NGX_HTTP_TICKETS_CANCEL_QUEUE   256


static void ngx_http_tickets_inflight_handler(ngx_event_t *ev);
static void *ngx_http_tickets_cancel_thread(void *data);


static ngx_event_t       ngx_http_tickets_inflight_ev;
static ngx_uint_t        ngx_http_tickets_inflight_n;

static pthread_mutex_t   ngx_http_tickets_cancel_mtx =
                             PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t    ngx_http_tickets_cancel_cond =
                             PTHREAD_COND_INITIALIZER;
static tk_cancel_t      *ngx_http_tickets_cancel_queue
                             [NGX_HTTP_TICKETS_CANCEL_QUEUE];
static ngx_uint_t        ngx_http_tickets_cancel_head;
static ngx_uint_t        ngx_http_tickets_cancel_n;
/* 0: not started; 1: running; -1: could not start */
static ngx_int_t         ngx_http_tickets_cancel_started;


void
ngx_http_tickets_inflight_add(void)
{
    ngx_event_t  *ev;

    ev = &ngx_http_tickets_inflight_ev;

    if (ngx_http_tickets_inflight_n++ == 0) {
        ev->handler = ngx_http_tickets_inflight_handler;
        ev->log = ngx_cycle->log;
        ev->cancelable = 0;

        ngx_add_timer(ev, NGX_HTTP_TICKETS_INFLIGHT_TICK);
    }
}


void
ngx_http_tickets_inflight_done(void)
{
    if (ngx_http_tickets_inflight_n == 0) {
        return;
    }

    if (--ngx_http_tickets_inflight_n == 0
        && ngx_http_tickets_inflight_ev.timer_set)
    {
        ngx_del_timer(&ngx_http_tickets_inflight_ev);
    }
}


static void
ngx_http_tickets_inflight_handler(ngx_event_t *ev)
{
    if (ngx_http_tickets_inflight_n) {
        ngx_add_timer(ev, NGX_HTTP_TICKETS_INFLIGHT_TICK);
    }
}


void
ngx_http_tickets_cancel_post(tk_cancel_t *cancel, ngx_log_t *log)
{
    int             err;
    ngx_uint_t      i;
    pthread_t       tid;
    pthread_attr_t  attr;

    tk_cancel_request(cancel);

    if (ngx_http_tickets_cancel_started == 0) {
        ngx_http_tickets_cancel_started = -1;

        err = pthread_attr_init(&attr);
        if (err == 0) {
            (void) pthread_attr_setdetachstate(&attr,
                                               PTHREAD_CREATE_DETACHED);
            err = pthread_create(&tid, &attr, ngx_http_tickets_cancel_thread,
                                 NULL);
            (void) pthread_attr_destroy(&attr);
        }

        if (err != 0) {
            ngx_log_error(NGX_LOG_ERR, log, err,
                          "tickets: the cancel thread could not start, "
                          "statements run to their end");

        } else {
            ngx_http_tickets_cancel_started = 1;
        }
    }

    if (ngx_http_tickets_cancel_started != 1) {
        return;
    }

    (void) pthread_mutex_lock(&ngx_http_tickets_cancel_mtx);

    if (ngx_http_tickets_cancel_n == NGX_HTTP_TICKETS_CANCEL_QUEUE) {
        (void) pthread_mutex_unlock(&ngx_http_tickets_cancel_mtx);

        /* the flag is set: the task stops at its next statement */
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "tickets: too many cancellations queued");
        return;
    }

    i = (ngx_http_tickets_cancel_head + ngx_http_tickets_cancel_n)
        % NGX_HTTP_TICKETS_CANCEL_QUEUE;
    ngx_http_tickets_cancel_queue[i] = tk_cancel_ref(cancel);
    ngx_http_tickets_cancel_n++;

    (void) pthread_cond_signal(&ngx_http_tickets_cancel_cond);
    (void) pthread_mutex_unlock(&ngx_http_tickets_cancel_mtx);
}


/* Touches nothing of nginx: the handles are the library's. */
static void *
ngx_http_tickets_cancel_thread(void *data)
{
    sigset_t      set;
    tk_cancel_t  *cancel;

    /* the worker's signals are for its event loop */
    sigfillset(&set);
    sigdelset(&set, SIGILL);
    sigdelset(&set, SIGFPE);
    sigdelset(&set, SIGSEGV);
    sigdelset(&set, SIGBUS);
    (void) pthread_sigmask(SIG_BLOCK, &set, NULL);

    for ( ;; ) {
        (void) pthread_mutex_lock(&ngx_http_tickets_cancel_mtx);

        while (ngx_http_tickets_cancel_n == 0) {
            (void) pthread_cond_wait(&ngx_http_tickets_cancel_cond,
                                     &ngx_http_tickets_cancel_mtx);
        }

        cancel = ngx_http_tickets_cancel_queue[ngx_http_tickets_cancel_head];
        ngx_http_tickets_cancel_head = (ngx_http_tickets_cancel_head + 1)
                                       % NGX_HTTP_TICKETS_CANCEL_QUEUE;
        ngx_http_tickets_cancel_n--;

        (void) pthread_mutex_unlock(&ngx_http_tickets_cancel_mtx);

        (void) tk_cancel_interrupt(cancel);
        tk_cancel_unref(cancel);
    }

    return NULL;
}
