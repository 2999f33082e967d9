/*
 * libFuzzer harness of the application/x-www-form-urlencoded parser,
 * against a reference decoder written here from the WHATWG URL standard's
 * application/x-www-form-urlencoded parsing, with the parser's documented
 * strictness: a bad %-escape is an error (not kept literally), a field
 * holding a NUL is refused, at most MAX_FIELDS fields.
 *
 * Input: the body.  Invariants: both agree on success or failure, and on
 * success on every name and value, in order.
 */

#include <string.h>

#include "fuzz.h"
#include "form.h"
#include "ngx_http_tickets_form.h"
#include "tickets.h"


#define MAX_FIELDS  64


typedef struct {
    char    *name;
    size_t   name_len;
    char    *value;
    size_t   value_len;
} ref_field_t;


static int
ref_hex(int c)
{
    static const char  digits[] = "0123456789abcdef";
    const char        *p;

    if (c >= 'A' && c <= 'F') {
        c += 'a' - 'A';
    }

    p = c != 0 ? strchr(digits, c) : NULL;
    return p != NULL ? (int) (p - digits) : -1;
}


/* percent-decodes s[0..len) into a new buffer; -1 on a bad escape */
static int
ref_decode(const uint8_t *s, size_t len, char **out, size_t *outlen)
{
    size_t  i, n;
    char   *d;

    d = malloc(len + 1);
    FUZZ_CHECK(d != NULL, "malloc");

    for (i = 0, n = 0; i < len; i++) {
        if (s[i] == '+') {
            d[n++] = ' ';
        } else if (s[i] != '%') {
            d[n++] = (char) s[i];
        } else if (i + 2 < len && ref_hex(s[i + 1]) >= 0
                   && ref_hex(s[i + 2]) >= 0)
        {
            d[n++] = (char) (ref_hex(s[i + 1]) * 16 + ref_hex(s[i + 2]));
            i += 2;
        } else {
            free(d);
            return -1;
        }
    }

    *out = d;
    *outlen = n;
    return 0;
}


/* 0 and the fields, or -1 */
static int
ref_parse(const uint8_t *data, size_t size, ref_field_t *f, size_t *nf)
{
    size_t  start, end, eq;

    *nf = 0;

    for (start = 0; start <= size; start = end + 1) {
        for (end = start; end < size && data[end] != '&'; end++) {
            /* void */
        }

        if (end == start) {
            continue;
        }

        if (*nf == MAX_FIELDS) {
            return -1;
        }

        for (eq = start; eq < end && data[eq] != '='; eq++) {
            /* void */
        }

        if (ref_decode(data + start, eq - start, &f[*nf].name,
                       &f[*nf].name_len) != 0)
        {
            return -1;
        }

        if (ref_decode(data + (eq < end ? eq + 1 : end),
                       end - (eq < end ? eq + 1 : end), &f[*nf].value,
                       &f[*nf].value_len) != 0)
        {
            free(f[*nf].name);
            return -1;
        }

        (*nf)++;

        if (memchr(f[*nf - 1].name, '\0', f[*nf - 1].name_len) != NULL
            || memchr(f[*nf - 1].value, '\0', f[*nf - 1].value_len) != NULL)
        {
            return -1;
        }
    }

    return 0;
}


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int          rc, ref;
    size_t       i, nf;
    tk_form_t   *form;
    const char  *err, *name, *value;
    uint8_t     *body;
    ref_field_t  f[MAX_FIELDS];

    /* a copy of its own size, so that ASan sees a read past it */
    body = malloc(size ? size : 1);
    FUZZ_CHECK(body != NULL, "malloc");
    memcpy(body, data, size);

    form = tk_form_new();
    FUZZ_CHECK(form != NULL, "tk_form_new");

    err = NULL;
    rc = ngx_http_tickets_urlencoded_parse(body, size, form, MAX_FIELDS, &err);
    ref = ref_parse(data, size, f, &nf);

    FUZZ_CHECK(rc == ref, "parser %d (%s), reference %d", rc,
               err ? err : "-", ref);
    FUZZ_CHECK(rc == 0 || err != NULL, "an error without a message");

    if (rc == 0) {
        FUZZ_CHECK(tk__form_nfields(form) == nf, "%zu fields, reference %zu",
                   tk__form_nfields(form), nf);

        for (i = 0; i < nf; i++) {
            name = tk__form_field(form, i, &value);
            FUZZ_CHECK(name != NULL, "field %zu missing", i);
            FUZZ_CHECK(strlen(name) == f[i].name_len
                       && memcmp(name, f[i].name, f[i].name_len) == 0,
                       "field %zu: name \"%s\"", i, name);
            FUZZ_CHECK(strlen(value) == f[i].value_len
                       && memcmp(value, f[i].value, f[i].value_len) == 0,
                       "field %zu: value \"%s\"", i, value);
        }
    }

    for (i = 0; i < nf; i++) {
        free(f[i].name);
        free(f[i].value);
    }

    tk_form_free(form);
    free(body);
    return 0;
}
