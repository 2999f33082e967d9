/*
 * Cancellation handles (tk_cancel_t): a flag that every statement of the
 * connection checks before it is sent, and the PGcancel of the connection
 * the handle is attached to, to interrupt the statement that runs.
 *
 * The lock guards the reference count and pg; the flag is atomic, so that
 * a statement never waits for a PQcancel in progress to learn it.  The
 * connection takes the lock to attach, detach or free its PGcancel, and
 * tk_cancel_interrupt() holds it during PQcancel: once detached, a handle
 * can no longer interrupt anything on that connection.
 */

#include <pthread.h>
#include <stdlib.h>

#include "db.h"


struct tk_cancel_s {
    pthread_mutex_t     lock;
    int                 refs;
    int                 cancelled;      /* __atomic */
    PGcancel           *pg;
};


int
tk_cancel_new(tk_cancel_t **cancel)
{
    tk_cancel_t  *h;

    h = calloc(1, sizeof(*h));
    if (h == NULL) {
        return TK_ENOMEM;
    }

    if (pthread_mutex_init(&h->lock, NULL) != 0) {
        free(h);
        return TK_ENOMEM;
    }

    h->refs = 1;
    *cancel = h;
    return TK_OK;
}


tk_cancel_t *
tk_cancel_ref(tk_cancel_t *h)
{
    pthread_mutex_lock(&h->lock);
    h->refs++;
    pthread_mutex_unlock(&h->lock);

    return h;
}


void
tk_cancel_unref(tk_cancel_t *h)
{
    int  refs;

    if (h == NULL) {
        return;
    }

    pthread_mutex_lock(&h->lock);
    refs = --h->refs;
    pthread_mutex_unlock(&h->lock);

    if (refs == 0) {
        pthread_mutex_destroy(&h->lock);
        free(h);
    }
}


void
tk_cancel_request(tk_cancel_t *h)
{
    __atomic_store_n(&h->cancelled, 1, __ATOMIC_SEQ_CST);
}


int
tk_cancel_requested(const tk_cancel_t *h)
{
    return __atomic_load_n(&h->cancelled, __ATOMIC_SEQ_CST);
}


int
tk_cancel_interrupt(tk_cancel_t *h)
{
    int   rc;
    char  err[256];

    tk_cancel_request(h);

    rc = TK_OK;

    pthread_mutex_lock(&h->lock);

    if (h->pg != NULL && !PQcancel(h->pg, err, sizeof(err))) {
        rc = TK_EUNAVAIL;
    }

    pthread_mutex_unlock(&h->lock);

    return rc;
}


void
tk__cancel_attach(tk_cancel_t *h, PGcancel *pg)
{
    pthread_mutex_lock(&h->lock);
    h->pg = pg;
    pthread_mutex_unlock(&h->lock);
}


void
tk_conn_set_cancel(tk_conn_t *c, tk_cancel_t *h)
{
    if (c->cancel != NULL) {
        tk__cancel_attach(c->cancel, NULL);
        tk_cancel_unref(c->cancel);
        c->cancel = NULL;
    }

    if (h != NULL) {
        c->cancel = tk_cancel_ref(h);
        tk__cancel_attach(h, c->pgcancel);
    }
}
