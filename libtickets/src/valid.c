/*
 * Reading form values and collecting field errors: one rule, one place.
 */

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cJSON.h>

#include "result.h"
#include "valid.h"


long
tk__utf8_count(const char *s)
{
    const unsigned char  *p = (const unsigned char *) s;
    uint32_t              cp, min;
    long                  n;
    int                   k;

    for (n = 0; *p != '\0'; n++) {
        if (*p < 0x80) {
            p++;
            continue;
        }

        if (*p >= 0xc2 && *p <= 0xdf) {
            k = 1; min = 0x80; cp = *p & 0x1f;
        } else if (*p >= 0xe0 && *p <= 0xef) {
            k = 2; min = 0x800; cp = *p & 0x0f;
        } else if (*p >= 0xf0 && *p <= 0xf4) {
            k = 3; min = 0x10000; cp = *p & 0x07;
        } else {
            return -1;
        }

        /* a NUL is not a continuation byte: never read past it */
        for (p++; k > 0; k--, p++) {
            if ((*p & 0xc0) != 0x80) {
                return -1;
            }
            cp = cp << 6 | (*p & 0x3f);
        }

        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
            return -1;
        }
    }

    return n;
}


int
tk__blank(const char *s)
{
    return s == NULL || s[strspn(s, " \t\r\n")] == '\0';
}


const char *
tk__echo(const char *s, size_t len, char out[68])
{
    if (len > 64) {
        for (len = 64; len > 0 && (s[len] & 0xc0) == 0x80; len--) {
            /* back to the start of the cut character */
        }
        memcpy(out, s, len);
        memcpy(out + len, "...", 4);
    } else {
        memcpy(out, s, len);
        out[len] = '\0';
    }

    return out;
}


/* Digits only, 0..max (max >= 0); TK_OK or TK_EINVAL. */
static int
tk__parse_digits(const char *s, size_t len, int64_t max, int64_t *out)
{
    int64_t  v, d;
    size_t   i;

    if (s == NULL || len == 0 || max < 0) {
        return TK_EINVAL;
    }

    for (v = 0, i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return TK_EINVAL;
        }
        d = s[i] - '0';
        if (d > max || v > (max - d) / 10) {
            return TK_EINVAL;
        }
        v = v * 10 + d;
    }

    *out = v;
    return TK_OK;
}


int
tk__parse_idn(const char *s, size_t len, int64_t max, int64_t *out)
{
    int64_t  v;

    if (tk__parse_digits(s, len, max, &v) != TK_OK || v == 0) {
        return TK_EINVAL;
    }

    *out = v;
    return TK_OK;
}


int
tk__parse_id(const char *s, int64_t max, int64_t *out)
{
    return s == NULL ? TK_EINVAL : tk__parse_idn(s, strlen(s), max, out);
}


int
tk__parse_bool(const char *s, int *out)
{
    static const char *const  yes[] = { "true", "1", "yes", "on" };
    static const char *const  no[] = { "false", "0", "no", "off" };
    size_t                    i;

    if (s == NULL) {
        return TK_EINVAL;
    }

    for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = 1;
            return TK_OK;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = 0;
            return TK_OK;
        }
    }

    return TK_EINVAL;
}


/* exactly n digits (no NUL among them) into *out */
static int
tk__digits(const char *s, size_t n, int *out)
{
    int64_t  v;
    size_t   i;

    for (i = 0; i < n; i++) {
        if (s[i] == '\0') {
            return 0;
        }
    }

    if (tk__parse_digits(s, n, 9999, &v) != TK_OK) {
        return 0;
    }

    *out = (int) v;
    return 1;
}


/*
 * ISO 8601 in the extended format: a date, or a date and a time with an
 * optional fraction and offset (Z, +hh, +hhmm, +hh:mm; none means UTC).
 * Out is the same instant in a form PostgreSQL always reads, so that a
 * write cannot fail on it.
 */
int
tk__parse_datetime(const char *s, char out[40])
{
    static const int  mdays[] = { 31, 29, 31, 30, 31, 30,
                                  31, 31, 30, 31, 30, 31 };
    const char       *frac = "";
    size_t            nfrac = 0;
    char              sign = '+';
    int               y, mo, d, h = 0, mi = 0, sec = 0, oh = 0, om = 0;
    int               leap;

    if (s == NULL || !tk__digits(s, 4, &y) || s[4] != '-'
        || !tk__digits(s + 5, 2, &mo) || s[7] != '-'
        || !tk__digits(s + 8, 2, &d))
    {
        return TK_EINVAL;
    }

    s += 10;

    if (*s == 'T' || *s == 't' || *s == ' ') {
        if (!tk__digits(s + 1, 2, &h) || s[3] != ':'
            || !tk__digits(s + 4, 2, &mi))
        {
            return TK_EINVAL;
        }
        s += 6;

        if (*s == ':') {
            if (!tk__digits(s + 1, 2, &sec)) {
                return TK_EINVAL;
            }
            s += 3;

            if (*s == '.' || *s == ',') {
                frac = ++s;
                while (*s >= '0' && *s <= '9') {
                    s++;
                }
                nfrac = (size_t) (s - frac);
                if (nfrac == 0) {
                    return TK_EINVAL;
                }
            }
        }

        if (*s == 'Z' || *s == 'z') {
            s++;
        } else if (*s == '+' || *s == '-') {
            sign = *s;
            if (!tk__digits(s + 1, 2, &oh)) {
                return TK_EINVAL;
            }
            s += 3;
            if (*s == ':' || (*s >= '0' && *s <= '9')) {
                s += *s == ':';
                if (!tk__digits(s, 2, &om)) {
                    return TK_EINVAL;
                }
                s += 2;
            }
        }
    }

    leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);

    if (*s != '\0' || y < 1 || mo < 1 || mo > 12 || d < 1
        || d > mdays[mo - 1] || (mo == 2 && d == 29 && !leap)
        || h > 23 || mi > 59 || sec > 59 || oh > 14 || om > 59)
    {
        return TK_EINVAL;
    }

    /* the instant in UTC must have a year of 1 to 9999 too: else it
     * prints as another instant (1 BC as 0001) or past four digits */
    if ((sign == '+' && y == 1 && mo == 1 && d == 1
         && h * 3600 + mi * 60 + sec < oh * 3600 + om * 60)
        || (sign == '-' && y == 9999 && mo == 12 && d == 31
            && h * 60 + mi + oh * 60 + om >= 24 * 60))
    {
        return TK_EINVAL;
    }

    /* each value is within its digits now: 32 bytes at most */
    snprintf(out, 40, "%04u-%02u-%02uT%02u:%02u:%02u%s%.*s%c%02u:%02u",
             (unsigned) y % 10000, (unsigned) mo % 100, (unsigned) d % 100,
             (unsigned) h % 100, (unsigned) mi % 100, (unsigned) sec % 100,
             nfrac ? "." : "", (int) (nfrac > 6 ? 6 : nfrac), frac, sign,
             (unsigned) oh % 100, (unsigned) om % 100);
    return TK_OK;
}


int
tk__parse_enum(const char *s, const char *const *names, int n, int *out)
{
    int64_t  v;
    int      i;

    if (s == NULL || n <= 0) {
        return TK_EINVAL;
    }

    for (i = 0; i < n; i++) {
        if (strcasecmp(s, names[i]) == 0) {
            *out = i;
            return TK_OK;
        }
    }

    if (tk__parse_digits(s, strlen(s), n - 1, &v) != TK_OK) {
        return TK_EINVAL;
    }

    *out = (int) v;
    return TK_OK;
}


int
tk__valid_uuid(const char *s)
{
    size_t  n, i;

    if (s == NULL) {
        return 0;
    }

    n = strlen(s);
    if (n >= 2 && s[0] == '{' && s[n - 1] == '}') {
        s++;
        n -= 2;
    }

    if (n != 32 && n != 36) {
        return 0;
    }

    for (i = 0; i < n; i++) {
        if (n == 36 && (i == 8 || i == 13 || i == 18 || i == 23)) {
            if (s[i] != '-') {
                return 0;
            }
        } else if (strchr("0123456789abcdefABCDEF", s[i]) == NULL
                   || s[i] == '\0')
        {
            return 0;
        }
    }

    return 1;
}


/* local@domain, as users.email: no space, no second @, nothing quoted. */
int
tk__valid_email(const char *s, size_t len)
{
    const char  *at;
    size_t       i;

    if (s == NULL || len == 0) {
        return 0;
    }

    at = memchr(s, '@', len);
    if (at == NULL || at == s || at == s + len - 1 || at[1] == '.'
        || s[len - 1] == '.' || memchr(at + 1, '@', len - (at - s) - 1))
    {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if ((unsigned char) s[i] <= ' ' || s[i] == 0x7f
            || strchr("\"(),:;<>[\\]", s[i]) != NULL)
        {
            return 0;
        }
    }

    return 1;
}


/*
 * White space around each address is trimmed; an empty piece ("a@b.c,,")
 * is passed over.  0 when there is no address at all.
 */
int
tk__valid_email_list(const char *s)
{
    const char  *e;
    size_t       n;
    int          any = 0;

    if (s == NULL) {
        return 0;
    }

    for (; *s != '\0'; s = *e ? e + 1 : e) {
        e = s + strcspn(s, ",;");
        for (; s < e && strchr(" \t\r\n", *s); s++) { /* trim */ }
        for (n = (size_t) (e - s); n > 0 && strchr(" \t\r\n", s[n - 1]); n--)
        {
            /* trim */
        }
        if (n > 0 && !tk__valid_email(s, n)) {
            return 0;
        }
        any |= n > 0;
    }

    return any;
}


int
tk__error_add(cJSON **errors, const char *field, const char *fmt, ...)
{
    va_list  ap;
    cJSON   *list, *msg;
    char     text[256];

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);

    if (*errors == NULL && (*errors = cJSON_CreateObject()) == NULL) {
        return TK_ENOMEM;
    }

    list = cJSON_GetObjectItemCaseSensitive(*errors, field);
    if (list == NULL) {
        list = cJSON_AddArrayToObject(*errors, field);
        if (list == NULL) {
            return TK_ENOMEM;
        }
    }

    msg = cJSON_CreateString(text);
    if (msg == NULL || !cJSON_AddItemToArray(list, msg)) {
        cJSON_Delete(msg);
        return TK_ENOMEM;
    }

    return TK_OK;
}


int
tk__errors_answer(cJSON **errors, tk_result_t *res)
{
    free(res->errors);
    res->errors = NULL;

    if (*errors != NULL) {
        res->errors = cJSON_PrintUnformatted(*errors);
        cJSON_Delete(*errors);
        *errors = NULL;

        if (res->errors == NULL) {
            return tk__fail(res, TK_ENOMEM, "out of memory");
        }
    }

    return tk__fail(res, TK_EINVAL, "One or more validation errors occurred.");
}


int
tk__text_field(const tk_form_t *form, const char *name, int required,
    long max, const char **out, cJSON **errors)
{
    const char  *s;
    long         n;

    *out = NULL;
    s = tk_form_get(form, name);

    if (tk__blank(s)) {
        return required ? tk__error_add(errors, name,
                                        "The %s field is required.", name)
                        : TK_OK;
    }

    n = tk__utf8_count(s);
    if (n < 0) {
        return tk__error_add(errors, name,
                             "The field %s contains invalid UTF-8.", name);
    }

    if (max > 0 && n > max) {
        return tk__error_add(errors, name, "The field %s must be a string "
                             "with a maximum length of %ld.", name, max);
    }

    *out = s;
    return TK_OK;
}
