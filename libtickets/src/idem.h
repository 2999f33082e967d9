/*
 * Internal: Idempotency-Key for every POST that creates something.
 *
 * A key belongs to a principal and lives 24 hours.  A retry with the same
 * key and the same request gets the first answer again and creates
 * nothing; the same key with another request is refused (400).  The
 * request is identified by a SHA-256 over a scope (the operation and its
 * path id), the named form fields and the uploads.
 *
 *   tk__idem_hash()                   before anything else
 *   tk__idem_lookup()                 before validation: a retry is
 *                                     answered even if what it named has
 *                                     changed since
 *   tk__begin(); tk__idem_claim()     first in the write's transaction:
 *                                     two requests with one key serialize
 *   ... the write ...
 *   tk__idem_store(); tk__commit()
 */

#ifndef TK_IDEM_H
#define TK_IDEM_H

#include "tickets.h"


/* TK_OK, or TK_EINVAL when the key is empty, too long or not UTF-8 */
int tk__idem_check_key(const char *key, tk_result_t *res);

/*
 * names: the fields that make the request (NULL-terminated); every value
 * of each counts.  Uploads named "Uploads" count by name and content.
 */
int tk__idem_hash(const char *scope, const tk_form_t *form,
    const char *const *names, char out[65]);

/* 1: res holds the answer (the stored one, or the reuse error);
 * 0: no stored answer; < 0: error in res */
int tk__idem_lookup(tk_conn_t *c, const tk_principal_t *p, const char *key,
    const char *sha, tk_result_t *res);

/* In the transaction.  0: claimed, go on; 1: res holds the answer of a
 * request that committed meanwhile (roll back and return it); < 0: error */
int tk__idem_claim(tk_conn_t *c, const tk_principal_t *p, const char *key,
    const char *sha, tk_result_t *res);

/* Keeps answer (code, id, body, etag) under the key, in the transaction. */
int tk__idem_store(tk_conn_t *c, const tk_principal_t *p, const char *key,
    const tk_result_t *answer, tk_result_t *res);


#endif /* TK_IDEM_H */
