/*
 * Internal to libtickets: how an operation reports its outcome.
 */

#ifndef TK_RESULT_H
#define TK_RESULT_H

#include "tickets.h"

/*
 * Sets res->code and the message for a human (printf-style, truncated to
 * fit) and returns code, so that a failure path reads
 * "return tk__fail(res, TK_ENOTFOUND, "no ticket %lld", id);".
 */
int tk__fail(tk_result_t *res, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif /* TK_RESULT_H */
