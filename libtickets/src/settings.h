/*
 * Internal to libtickets: typed reads of settings for the library itself.
 */

#ifndef TK_SETTINGS_H
#define TK_SETTINGS_H

#include "tickets.h"

/* the largest value of an int setting (and of an id setting) */
#define TK__SETTING_INT_MAX  2147483647L

/*
 * *out is the setting's value, or dflt when it is unset or not what its
 * kind allows.  TK_ENOTFOUND for a key that setting_keys does not know;
 * TK_EUNAVAIL or TK_EINTERNAL when the database fails; TK_OK otherwise.
 */
int tk__setting_int(tk_conn_t *c, const char *key, long dflt, long *out,
    tk_result_t *res);
/* *out is 1 or 0 */
int tk__setting_bool(tk_conn_t *c, const char *key, int dflt, int *out,
    tk_result_t *res);

/*
 * The parsers behind them, for a value read some other way: an int
 * setting is a decimal integer from 0 to TK__SETTING_INT_MAX without sign,
 * space or fraction; a bool is true/false, yes/no or 1/0 in any case.
 * TK_OK or TK_EINVAL (NULL is TK_EINVAL).
 */
int tk__setting_parse_int(const char *s, long *out);
int tk__setting_parse_bool(const char *s, int *out);

#endif /* TK_SETTINGS_H */
