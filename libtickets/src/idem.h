/*
 * Internal: Idempotency-Key for every write (every POST and DELETE).
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
 *
 * A write takes these steps with the tk__write_* functions below:
 *
 *   if (tk__write_replay(c, p, key, scope, form, names, sha, res) != 0)
 *       return res->code;
 *   ... validation ...
 *   if (tk__write_begin(c, p, key, sha, res) != 0)
 *       return res->code;
 *   ... the write, "goto failed" on an error ...
 *   res->code = TK_CREATED;           (and the rest of the answer)
 *   return tk__write_commit(c, p, key, res);
 * failed:
 *   return tk__write_failed(c, res);
 *
 * key may be NULL (no Idempotency-Key): then they only open, commit or
 * roll back the transaction.
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


/*
 * Before validation: with a key, checks it, hashes the request (scope,
 * names as tk__idem_hash) into sha and looks for its first answer.
 * 0: go on (nothing to do without a key); else return res->code: the
 * answer of a retry, or an error.
 */
int tk__write_replay(tk_conn_t *c, const tk_principal_t *p, const char *key,
    const char *scope, const tk_form_t *form, const char *const *names,
    char sha[65], tk_result_t *res);

/*
 * Opens the write's transaction and, with a key, claims it.  0: go on;
 * else the transaction is rolled back: return res->code, an error or the
 * answer of a request with the key that committed meanwhile.
 */
int tk__write_begin(tk_conn_t *c, const tk_principal_t *p, const char *key,
    const char *sha, tk_result_t *res);

/*
 * The end of a write whose answer res holds, code set: keeps it under the
 * key, if any, and commits.  Returns res->code: the answer's, or an error
 * with the write undone as by tk__write_failed().
 */
int tk__write_commit(tk_conn_t *c, const tk_principal_t *p, const char *key,
    tk_result_t *res);

/*
 * The end of a write that failed: rolls it back and drops what it had put
 * in its answer (body, etag, id, queued notifications), keeping the error.
 * Returns res->code.
 */
int tk__write_failed(tk_conn_t *c, tk_result_t *res);


#endif /* TK_IDEM_H */
