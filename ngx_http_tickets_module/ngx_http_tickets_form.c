
/*
 * Request body parsers.  The multipart parser is a byte state machine, so
 * that nginx can feed it each body buffer as it arrives, however split.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_http_tickets_form.h"


typedef enum {
    NGX_HTTP_TICKETS_MP_PREAMBLE = 0,
    NGX_HTTP_TICKETS_MP_DELIMITER,      /* after "--boundary" */
    NGX_HTTP_TICKETS_MP_PADDING,        /* after "--boundary" and LWSP */
    NGX_HTTP_TICKETS_MP_DASH,           /* after "--boundary-" */
    NGX_HTTP_TICKETS_MP_CR,             /* after "--boundary\r" */
    NGX_HTTP_TICKETS_MP_HEADERS,
    NGX_HTTP_TICKETS_MP_BODY,
    NGX_HTTP_TICKETS_MP_EPILOGUE
} ngx_http_tickets_mp_state_e;


typedef enum {
    NGX_HTTP_TICKETS_PART_SKIP = 0,
    NGX_HTTP_TICKETS_PART_FIELD,
    NGX_HTTP_TICKETS_PART_FILE
} ngx_http_tickets_part_e;


typedef struct {
    size_t                len;
    unsigned char        *data;
} ngx_http_tickets_str_t;


typedef struct {
    size_t                name_len;
    size_t                value_len;
    size_t                used;
    const unsigned char  *name;
} ngx_http_tickets_param_t;


struct ngx_http_tickets_multipart_s {
    tk_form_t                   *form;
    const char                  *error;
    ngx_http_tickets_mp_state_e  state;
    ngx_http_tickets_part_e      part;
    ngx_http_tickets_str_t       name;          /* of a field, in vbuf */
    unsigned char               *value;         /* of a field */
    size_t                       value_len;
    size_t                       value_cap;
    size_t                       nparts;
    size_t                       max_parts;
    size_t                       hlen;
    size_t                       max_header;
    unsigned char               *hbuf;          /* one part's headers */
    unsigned char               *vbuf;          /* their unescaped values */
    size_t                       dlen;
    size_t                       match;         /* of delim, held back */
    unsigned char                delim[4 + NGX_HTTP_TICKETS_BOUNDARY_MAX];
};


static const char *ngx_http_tickets_multipart_scan(
    ngx_http_tickets_multipart_t *mp, const unsigned char **pp,
    const unsigned char *end);
static const char *ngx_http_tickets_multipart_emit(
    ngx_http_tickets_multipart_t *mp, const unsigned char *data, size_t len);
static const char *ngx_http_tickets_multipart_end_part(
    ngx_http_tickets_multipart_t *mp);
static const char *ngx_http_tickets_multipart_headers(
    ngx_http_tickets_multipart_t *mp);
static int ngx_http_tickets_form_disposition(ngx_http_tickets_multipart_t *mp,
    const unsigned char *p, const unsigned char *end,
    ngx_http_tickets_str_t *name, ngx_http_tickets_str_t *filename);
static int ngx_http_tickets_form_ext_value(ngx_http_tickets_str_t *s);
static int ngx_http_tickets_form_param(const unsigned char *p,
    const unsigned char *end, unsigned char *dst, size_t size,
    ngx_http_tickets_param_t *prm);
static int ngx_http_tickets_form_unescape(const unsigned char *src,
    size_t len, unsigned char *dst, int plus, size_t *dlen);
static const unsigned char *ngx_http_tickets_form_ows(const unsigned char *p,
    const unsigned char *end);
static const unsigned char *ngx_http_tickets_form_token(
    const unsigned char *p, const unsigned char *end);
static int ngx_http_tickets_form_eq(const unsigned char *s, size_t len,
    const char *lit);
static int ngx_http_tickets_form_hex(unsigned char c);


int
ngx_http_tickets_multipart_boundary(const char *content_type, size_t len,
    char *out, size_t outsize, size_t *outlen)
{
    int                        rc, found;
    size_t                     i;
    const unsigned char       *p, *end, *type;
    ngx_http_tickets_param_t   prm;
    unsigned char              buf[NGX_HTTP_TICKETS_BOUNDARY_MAX];

    p = (const unsigned char *) content_type;
    end = p + len;

    type = ngx_http_tickets_form_ows(p, end);
    p = ngx_http_tickets_form_token(type, end);

    if (p < end && *p == '/') {
        p = ngx_http_tickets_form_token(p + 1, end);
    }

    if (!ngx_http_tickets_form_eq(type, p - type, "multipart/form-data")) {
        return -1;
    }

    found = 0;

    for ( ;; ) {
        rc = ngx_http_tickets_form_param(p, end, buf, sizeof(buf), &prm);
        if (rc <= 0) {
            return rc == 0 && found ? 0 : -1;
        }

        p += prm.used;

        if (!ngx_http_tickets_form_eq(prm.name, prm.name_len, "boundary")) {
            continue;
        }

        if (found
            || prm.value_len == 0
            || prm.value_len > NGX_HTTP_TICKETS_BOUNDARY_MAX
            || prm.value_len >= outsize
            || buf[prm.value_len - 1] == ' ')
        {
            return -1;
        }

        /* RFC 2046 asks for fewer characters; printable ASCII is enough */
        for (i = 0; i < prm.value_len; i++) {
            if (buf[i] < 0x20 || buf[i] > 0x7e) {
                return -1;
            }
        }

        memcpy(out, buf, prm.value_len);
        out[prm.value_len] = '\0';
        *outlen = prm.value_len;
        found = 1;
    }
}


ngx_http_tickets_multipart_t *
ngx_http_tickets_multipart_create(const char *boundary, size_t blen,
    tk_form_t *form, size_t max_parts, size_t max_header_bytes)
{
    ngx_http_tickets_multipart_t  *mp;

    /* the scanner relies on CR being only the delimiter's first byte */
    if (blen == 0
        || blen > NGX_HTTP_TICKETS_BOUNDARY_MAX
        || memchr(boundary, '\r', blen) != NULL
        || max_header_bytes > (SIZE_MAX - sizeof(*mp)) / 2)
    {
        return NULL;
    }

    mp = malloc(sizeof(*mp) + 2 * max_header_bytes);
    if (mp == NULL) {
        return NULL;
    }

    memset(mp, 0, sizeof(*mp));

    mp->form = form;
    mp->max_parts = max_parts;
    mp->max_header = max_header_bytes;
    mp->hbuf = (unsigned char *) (mp + 1);
    mp->vbuf = mp->hbuf + max_header_bytes;

    memcpy(mp->delim, "\r\n--", 4);
    memcpy(mp->delim + 4, boundary, blen);
    mp->dlen = 4 + blen;

    /* a virtual CRLF precedes the body, so it may open with "--boundary" */
    mp->match = 2;

    return mp;
}


int
ngx_http_tickets_multipart_feed(ngx_http_tickets_multipart_t *mp,
    const unsigned char *data, size_t len)
{
    size_t                n;
    unsigned char         c, *h;
    const char           *err;
    const unsigned char  *p, *end;

    if (mp->error != NULL) {
        return -1;
    }

    if (len == 0) {
        return 0;
    }

    p = data;
    end = data + len;

    while (p < end) {

        switch (mp->state) {

        case NGX_HTTP_TICKETS_MP_PREAMBLE:
        case NGX_HTTP_TICKETS_MP_BODY:
            err = ngx_http_tickets_multipart_scan(mp, &p, end);
            if (err != NULL) {
                goto failed;
            }
            break;

        case NGX_HTTP_TICKETS_MP_DELIMITER:
            c = *p++;

            if (c == '-') {
                mp->state = NGX_HTTP_TICKETS_MP_DASH;

            } else if (c == '\r') {
                mp->state = NGX_HTTP_TICKETS_MP_CR;

            } else if (c == ' ' || c == '\t') {
                mp->state = NGX_HTTP_TICKETS_MP_PADDING;

            } else {
                err = "malformed boundary";
                goto failed;
            }

            break;

        /*
         * RFC 2046 5.1.1: transport padding may follow the boundary, but
         * the "--" of the close delimiter follows it at once
         */
        case NGX_HTTP_TICKETS_MP_PADDING:
            c = *p++;

            if (c == '\r') {
                mp->state = NGX_HTTP_TICKETS_MP_CR;

            } else if (c != ' ' && c != '\t') {
                err = "malformed boundary";
                goto failed;
            }

            break;

        case NGX_HTTP_TICKETS_MP_DASH:
            if (*p++ != '-') {
                err = "malformed boundary";
                goto failed;
            }

            mp->state = NGX_HTTP_TICKETS_MP_EPILOGUE;
            break;

        case NGX_HTTP_TICKETS_MP_CR:
            if (*p++ != '\n') {
                err = "malformed boundary";
                goto failed;
            }

            if (mp->nparts++ == mp->max_parts) {
                err = "too many parts";
                goto failed;
            }

            mp->hlen = 0;
            mp->state = NGX_HTTP_TICKETS_MP_HEADERS;
            break;

        case NGX_HTTP_TICKETS_MP_HEADERS:
            if (mp->hlen == mp->max_header) {
                err = "part headers too large";
                goto failed;
            }

            h = mp->hbuf;
            h[mp->hlen++] = *p++;
            n = mp->hlen;

            /* the blank line: at once for no headers, or after some */
            if (n >= 2 && h[n - 2] == '\r' && h[n - 1] == '\n'
                && (n == 2
                    || (n >= 4 && h[n - 4] == '\r' && h[n - 3] == '\n')))
            {
                err = ngx_http_tickets_multipart_headers(mp);
                if (err != NULL) {
                    goto failed;
                }

                mp->state = NGX_HTTP_TICKETS_MP_BODY;
            }

            break;

        case NGX_HTTP_TICKETS_MP_EPILOGUE:
            return 0;
        }
    }

    return 0;

failed:

    mp->error = err;
    return -1;
}


int
ngx_http_tickets_multipart_finish(ngx_http_tickets_multipart_t *mp)
{
    if (mp->error == NULL && mp->state != NGX_HTTP_TICKETS_MP_EPILOGUE) {
        mp->error = "missing final boundary";
    }

    return mp->error == NULL ? 0 : -1;
}


const char *
ngx_http_tickets_multipart_error(ngx_http_tickets_multipart_t *mp)
{
    return mp->error;
}


void
ngx_http_tickets_multipart_destroy(ngx_http_tickets_multipart_t *mp)
{
    if (mp != NULL) {
        free(mp->value);
        free(mp);
    }
}


/*
 * Passes body bytes on until the delimiter CRLF "--" boundary.  Bytes that
 * may begin the delimiter are held back only as a count: they equal its
 * first bytes, so on a mismatch they are emitted from delim itself.  No CR
 * follows the first byte of delim, so after a mismatch the search restarts
 * at the current byte.
 */

static const char *
ngx_http_tickets_multipart_scan(ngx_http_tickets_multipart_t *mp,
    const unsigned char **pp, const unsigned char *end)
{
    const char           *err;
    const unsigned char  *p, *cr;

    p = *pp;
    err = NULL;

    while (p < end && err == NULL) {

        if (mp->match == 0) {
            cr = memchr(p, '\r', end - p);
            if (cr == NULL) {
                cr = end;
            }

            err = ngx_http_tickets_multipart_emit(mp, p, cr - p);
            p = cr;

            if (p < end) {
                p++;
                mp->match = 1;
            }

            continue;
        }

        if (*p != mp->delim[mp->match]) {
            err = ngx_http_tickets_multipart_emit(mp, mp->delim, mp->match);
            mp->match = 0;
            continue;
        }

        p++;

        if (++mp->match == mp->dlen) {
            mp->match = 0;
            mp->state = NGX_HTTP_TICKETS_MP_DELIMITER;
            err = ngx_http_tickets_multipart_end_part(mp);
            break;
        }
    }

    *pp = p;
    return err;
}


static const char *
ngx_http_tickets_multipart_emit(ngx_http_tickets_multipart_t *mp,
    const unsigned char *data, size_t len)
{
    size_t          cap;
    unsigned char  *v;

    if (len == 0) {
        return NULL;
    }

    switch (mp->part) {

    case NGX_HTTP_TICKETS_PART_FILE:
        if (tk_form_file_append(mp->form, data, len) != TK_OK) {
            return "out of memory";
        }

        return NULL;

    case NGX_HTTP_TICKETS_PART_FIELD:
        if (len > SIZE_MAX / 2 - mp->value_len) {
            return "out of memory";
        }

        if (mp->value_len + len > mp->value_cap) {
            cap = mp->value_cap ? mp->value_cap : 256;

            while (cap < mp->value_len + len) {
                cap *= 2;
            }

            v = realloc(mp->value, cap);
            if (v == NULL) {
                return "out of memory";
            }

            mp->value = v;
            mp->value_cap = cap;
        }

        memcpy(mp->value + mp->value_len, data, len);
        mp->value_len += len;
        return NULL;

    default:
        return NULL;
    }
}


static const char *
ngx_http_tickets_multipart_end_part(ngx_http_tickets_multipart_t *mp)
{
    int  rc;

    rc = TK_OK;

    if (mp->part == NGX_HTTP_TICKETS_PART_FIELD) {
        rc = tk_form_add(mp->form, (const char *) mp->name.data, mp->name.len,
                         (const char *) mp->value, mp->value_len);
    }

    mp->part = NGX_HTTP_TICKETS_PART_SKIP;

    return rc == TK_OK ? NULL
           : rc == TK_EINVAL ? "a field holds a NUL byte" : "out of memory";
}


/*
 * Parses the headers of a part, now whole in hbuf and ending with the
 * blank line, and starts the part as a field, a file or a skipped part.
 */

static const char *
ngx_http_tickets_multipart_headers(ngx_http_tickets_multipart_t *mp)
{
    size_t                   i, n, ct_len;
    unsigned char           *h;
    const unsigned char     *p, *eol, *colon, *v, *vend, *cd, *cd_end, *ct;
    ngx_http_tickets_str_t   filename;

    h = mp->hbuf;
    n = mp->hlen - 2;
    cd = NULL;
    cd_end = NULL;
    ct = NULL;
    ct_len = 0;

    /* unfold obsolete continuation lines (RFC 5322 2.2.3) */
    for (i = 0; i + 2 < n; i++) {
        if (h[i] == '\r' && h[i + 1] == '\n'
            && (h[i + 2] == ' ' || h[i + 2] == '\t'))
        {
            h[i] = ' ';
            h[i + 1] = ' ';
        }
    }

    /* each line ends with CRLF, so the scans for CR stop inside hbuf */
    for (p = h; p < h + n; p = eol + 2) {

        for (eol = p; *eol != '\r'; eol++) {
            if ((*eol < 0x20 && *eol != '\t') || *eol == 0x7f) {
                return "malformed part headers";
            }
        }

        colon = ngx_http_tickets_form_token(p, eol);

        if (eol[1] != '\n' || colon == p || colon == eol || *colon != ':') {
            return "malformed part headers";
        }

        v = ngx_http_tickets_form_ows(colon + 1, eol);
        vend = eol;

        while (vend > v && (vend[-1] == ' ' || vend[-1] == '\t')) {
            vend--;
        }

        if (ngx_http_tickets_form_eq(p, colon - p, "content-disposition")) {
            if (cd != NULL) {
                return "malformed part headers";
            }

            cd = v;
            cd_end = vend;

        } else if (ngx_http_tickets_form_eq(p, colon - p, "content-type")) {
            if (ct != NULL) {
                return "malformed part headers";
            }

            ct = v;
            ct_len = vend - v;
        }
    }

    if (cd == NULL
        || ngx_http_tickets_form_disposition(mp, cd, cd_end, &mp->name,
                                             &filename)
           != 0)
    {
        return "malformed part headers";
    }

    mp->value_len = 0;

    if (filename.data == NULL) {
        mp->part = NGX_HTTP_TICKETS_PART_FIELD;
        return NULL;
    }

    /* a browser's file input with no file selected */
    if (filename.len == 0) {
        mp->part = NGX_HTTP_TICKETS_PART_SKIP;
        return NULL;
    }

    if (tk_form_file_begin(mp->form, (const char *) mp->name.data,
                           mp->name.len, (const char *) filename.data,
                           filename.len, (const char *) ct, ct_len)
        != TK_OK)
    {
        return "out of memory";
    }

    mp->part = NGX_HTTP_TICKETS_PART_FILE;
    return NULL;
}


/*
 * Content-Disposition: form-data; name="..."; filename="..." with the
 * values unescaped into vbuf, which holds them all: unescaping never makes
 * a value longer.  filename* (RFC 5987) wins over filename.
 */

static int
ngx_http_tickets_form_disposition(ngx_http_tickets_multipart_t *mp,
    const unsigned char *p, const unsigned char *end,
    ngx_http_tickets_str_t *name, ngx_http_tickets_str_t *filename)
{
    int                        rc;
    unsigned char             *dst;
    const unsigned char       *type;
    ngx_http_tickets_str_t    *s, ext;
    ngx_http_tickets_param_t   prm;

    type = p;
    p = ngx_http_tickets_form_token(p, end);

    if (!ngx_http_tickets_form_eq(type, p - type, "form-data")) {
        return -1;
    }

    name->data = NULL;
    filename->data = NULL;
    ext.data = NULL;
    dst = mp->vbuf;

    for ( ;; ) {
        rc = ngx_http_tickets_form_param(p, end, dst,
                                         mp->vbuf + mp->max_header - dst,
                                         &prm);
        if (rc <= 0) {
            break;
        }

        p += prm.used;

        if (ngx_http_tickets_form_eq(prm.name, prm.name_len, "name")) {
            s = name;

        } else if (ngx_http_tickets_form_eq(prm.name, prm.name_len,
                                            "filename"))
        {
            s = filename;

        } else if (ngx_http_tickets_form_eq(prm.name, prm.name_len,
                                            "filename*"))
        {
            s = &ext;

        } else {
            continue;
        }

        if (s->data != NULL) {
            return -1;
        }

        s->data = dst;
        s->len = prm.value_len;
        dst += prm.value_len;
    }

    if (rc < 0 || name->data == NULL) {
        return -1;
    }

    if (ext.data != NULL) {
        if (ngx_http_tickets_form_ext_value(&ext) != 0) {
            return -1;
        }

        *filename = ext;
    }

    return 0;
}


/* UTF-8'language'percent-encoded, decoded in place; other charsets fail */

static int
ngx_http_tickets_form_ext_value(ngx_http_tickets_str_t *s)
{
    unsigned char  *end, *q;

    end = s->data + s->len;

    q = memchr(s->data, '\'', s->len);
    if (q == NULL || !ngx_http_tickets_form_eq(s->data, q - s->data, "utf-8"))
    {
        return -1;
    }

    q = memchr(q + 1, '\'', end - (q + 1));
    if (q == NULL) {
        return -1;
    }

    q++;

    return ngx_http_tickets_form_unescape(q, end - q, s->data, 0, &s->len);
}


/*
 * Parses one "; name=value" parameter (RFC 9110 5.6.6) from p: the value,
 * a token or a quoted-string, is unescaped into dst as far as size allows,
 * and its whole length is set.  Returns 1, 0 at the end, -1 on an error.
 */

static int
ngx_http_tickets_form_param(const unsigned char *p, const unsigned char *end,
    unsigned char *dst, size_t size, ngx_http_tickets_param_t *prm)
{
    size_t                n;
    const unsigned char  *start, *t;

    start = p;

    p = ngx_http_tickets_form_ows(p, end);
    if (p == end) {
        return 0;
    }

    if (*p++ != ';') {
        return -1;
    }

    p = ngx_http_tickets_form_ows(p, end);
    if (p == end) {
        return 0;
    }

    prm->name = p;
    p = ngx_http_tickets_form_token(p, end);
    prm->name_len = p - prm->name;

    p = ngx_http_tickets_form_ows(p, end);

    if (prm->name_len == 0 || p == end || *p++ != '=') {
        return -1;
    }

    p = ngx_http_tickets_form_ows(p, end);
    n = 0;

    if (p < end && *p == '"') {

        for (p++; p < end && *p != '"'; p++, n++) {
            /*
             * Only a special character is taken as escaped: MSIE sends
             * full paths such as "C:\dir\name.txt" unescaped.
             */
            if (*p == '\\' && end - p > 1 && p[1] != '\0'
                && strchr("()<>@,;:\\\"/[]?=", p[1]) != NULL)
            {
                p++;
            }

            if (n < size) {
                dst[n] = *p;
            }
        }

        if (p == end) {
            return -1;
        }

        p++;

    } else {
        t = ngx_http_tickets_form_token(p, end);

        if (t == p) {
            return -1;
        }

        for ( /* void */ ; p < t; p++, n++) {
            if (n < size) {
                dst[n] = *p;
            }
        }
    }

    prm->value_len = n;
    prm->used = p - start;

    return 1;
}


/* %XX escapes, and "+" as a space when plus is set; dst may be src */

static int
ngx_http_tickets_form_unescape(const unsigned char *src, size_t len,
    unsigned char *dst, int plus, size_t *dlen)
{
    int     hi, lo;
    size_t  i, n;

    for (i = 0, n = 0; i < len; i++, n++) {

        if (src[i] == '%') {
            if (len - i < 3) {
                return -1;
            }

            hi = ngx_http_tickets_form_hex(src[i + 1]);
            lo = ngx_http_tickets_form_hex(src[i + 2]);

            if (hi < 0 || lo < 0) {
                return -1;
            }

            dst[n] = (unsigned char) (hi << 4 | lo);
            i += 2;

        } else if (plus && src[i] == '+') {
            dst[n] = ' ';

        } else {
            dst[n] = src[i];
        }
    }

    *dlen = n;
    return 0;
}


int
ngx_http_tickets_urlencoded_parse(const unsigned char *data, size_t len,
    tk_form_t *form, size_t max_fields, const char **err)
{
    int                   rc;
    size_t                nfields, nlen, vlen;
    unsigned char        *buf;
    const unsigned char  *p, *end, *next, *amp, *eq, *v;

    if (len == 0) {
        return 0;
    }

    /* a decoded pair is never longer than the body */
    buf = malloc(len);
    if (buf == NULL) {
        *err = "out of memory";
        return -1;
    }

    end = data + len;
    nfields = 0;

    for (p = data; p < end; p = next) {
        amp = memchr(p, '&', end - p);
        if (amp == NULL) {
            amp = end;
        }

        next = (amp < end) ? amp + 1 : end;

        if (amp == p) {
            continue;
        }

        if (nfields++ == max_fields) {
            *err = "too many fields";
            goto failed;
        }

        eq = memchr(p, '=', amp - p);
        if (eq == NULL) {
            eq = amp;
        }

        v = (eq < amp) ? eq + 1 : amp;

        if (ngx_http_tickets_form_unescape(p, eq - p, buf, 1, &nlen) != 0
            || ngx_http_tickets_form_unescape(v, amp - v, buf + nlen, 1,
                                              &vlen)
               != 0)
        {
            *err = "invalid percent-encoding";
            goto failed;
        }

        rc = tk_form_add(form, (const char *) buf, nlen,
                         (const char *) buf + nlen, vlen);
        if (rc != TK_OK) {
            *err = rc == TK_EINVAL ? "a field holds a NUL byte"
                                   : "out of memory";
            goto failed;
        }
    }

    free(buf);
    return 0;

failed:

    free(buf);
    return -1;
}


static const unsigned char *
ngx_http_tickets_form_ows(const unsigned char *p, const unsigned char *end)
{
    while (p < end && (*p == ' ' || *p == '\t')) {
        p++;
    }

    return p;
}


/* the end of the RFC 9110 token that starts at p */

static const unsigned char *
ngx_http_tickets_form_token(const unsigned char *p, const unsigned char *end)
{
    while (p < end
           && ((*p >= '0' && *p <= '9')
               || ((*p | 0x20) >= 'a' && (*p | 0x20) <= 'z')
               || (*p != '\0' && strchr("!#$%&'*+-.^_`|~", *p) != NULL)))
    {
        p++;
    }

    return p;
}


/* compares with a lowercase literal, ignoring ASCII case */

static int
ngx_http_tickets_form_eq(const unsigned char *s, size_t len, const char *lit)
{
    size_t         i;
    unsigned char  c;

    for (i = 0; i < len; i++) {
        c = s[i];

        if (c >= 'A' && c <= 'Z') {
            c |= 0x20;
        }

        if (lit[i] == '\0' || c != (unsigned char) lit[i]) {
            return 0;
        }
    }

    return lit[len] == '\0';
}


static int
ngx_http_tickets_form_hex(unsigned char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    c |= 0x20;

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    return -1;
}
