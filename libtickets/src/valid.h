/*
 * Internal: reading form values and collecting field errors, shared by
 * every endpoint so that one rule reads the same everywhere.
 */

#ifndef TK_VALID_H
#define TK_VALID_H

#include <stddef.h>
#include <stdint.h>

#include <cJSON.h>

#include "tickets.h"


/* code points of s, or -1 when s is not well-formed UTF-8 */
long tk__utf8_count(const char *s);
/* NULL, empty or only white space: an absent optional field */
int tk__blank(const char *s);
/* digits only (no sign, no space), 1..max: 0, else -1 */
int tk__parse_id(const char *s, int64_t max, int64_t *out);
/* the same for the len bytes at s (a piece of a list) */
int tk__parse_idn(const char *s, size_t len, int64_t max, int64_t *out);
/* true/false, 1/0, yes/no, on/off, case-insensitive: 0, else -1 */
int tk__parse_bool(const char *s, int *out);
/* ISO 8601 date or date-time with Z or an offset (none means UTC) into a
 * text PostgreSQL reads as timestamptz: 0, else -1 */
int tk__parse_datetime(const char *s, char out[40]);
/* an enum by its name (case-insensitive) or its number 0..n-1 */
int tk__parse_enum(const char *s, const char *const *names, int n, int *out);
int tk__valid_uuid(const char *s);
int tk__valid_email(const char *s, size_t len);
/* one or more addresses separated by commas or semicolons */
int tk__valid_email_list(const char *s);

/* A client value quoted in a message: at most 64 bytes and "...", cut at a
 * character boundary.  Returns out. */
const char *tk__echo(const char *s, size_t len, char out[68]);

/*
 * Field errors as the API shows them: {"Title":["The Title field is
 * required."]}.  *errors starts NULL; TK_OK or TK_ENOMEM.
 */
int tk__error_add(cJSON **errors, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* moves the errors into res: TK_EINVAL, "One or more validation errors
 * occurred." */
int tk__errors_answer(cJSON **errors, tk_result_t *res);

/*
 * A text field of form into *out: NULL when absent or blank (as ASP.NET
 * binds it); an error when required and absent, not UTF-8, or longer than
 * max code points (0: no limit).  TK_OK or TK_ENOMEM.
 */
int tk__text_field(const tk_form_t *form, const char *name, int required,
    long max, const char **out, cJSON **errors);


#endif /* TK_VALID_H */
