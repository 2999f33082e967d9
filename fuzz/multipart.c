/*
 * libFuzzer harness of the multipart/form-data parser.
 *
 * Input: a Content-Type value, a LF, then the body.  The boundary comes
 * from ngx_http_tickets_multipart_boundary(), which is fuzzed too.  The
 * body is parsed three times: in one chunk, byte by byte, and in random
 * chunks (the sizes drawn from a seed of the input, so that a crash
 * replays).  Invariants:
 *   - the three give the same result: the same return codes, the same
 *     error, the same fields and files (names, values, file names,
 *     content types, bytes), in the same order;
 *   - success agrees with a reference scan of the delimiters written here
 *     from RFC 2046 5.1.1 (transport padding only after the boundary, the
 *     close delimiter is the boundary and "--" at once), which skips the
 *     header block of each part as the parser does;
 *   - every file name is safe (see filename.c).
 */

#include <string.h>

#include "fuzz.h"
#include "form.h"
#include "ngx_http_tickets_form.h"
#include "tickets.h"


#define MAX_PARTS   32
#define MAX_HEADER  512


typedef struct {
    int          feed_rc;
    int          finish_rc;
    const char  *error;
    tk_form_t   *form;
} result_t;


/*
 * step 0: one chunk; 1: byte by byte; else random sizes from seed.  Each
 * chunk is a copy of its own, so that ASan sees a read past its end.
 */
static void
parse(const char *boundary, size_t blen, const uint8_t *body, size_t len,
    int step, uint64_t seed, result_t *r)
{
    size_t                         off, n;
    uint8_t                       *chunk;
    ngx_http_tickets_multipart_t  *mp;

    r->form = tk_form_new();
    FUZZ_CHECK(r->form != NULL, "tk_form_new");

    mp = ngx_http_tickets_multipart_create(boundary, blen, r->form,
                                           MAX_PARTS, MAX_HEADER);
    FUZZ_CHECK(mp != NULL, "create refused a boundary that parsed");

    r->feed_rc = 0;

    for (off = 0; off < len && r->feed_rc == 0; off += n) {
        if (step == 0) {
            n = len;
        } else if (step == 1) {
            n = 1;
        } else {
            /* mostly small chunks, some large */
            n = fuzz_rand(&seed) % 8 == 0 ? fuzz_rand(&seed) % (len + 1)
                                          : fuzz_rand(&seed) % 8;
        }

        if (n > len - off) {
            n = len - off;
        }

        chunk = malloc(n ? n : 1);
        FUZZ_CHECK(chunk != NULL, "malloc");
        memcpy(chunk, body + off, n);
        r->feed_rc = ngx_http_tickets_multipart_feed(mp, chunk, n);
        free(chunk);
    }

    r->finish_rc = ngx_http_tickets_multipart_finish(mp);
    r->error = ngx_http_tickets_multipart_error(mp);
    ngx_http_tickets_multipart_destroy(mp);

    /* the parser's messages are static: the same one is the same text */
    FUZZ_CHECK((r->finish_rc == 0) == (r->error == NULL),
               "finish %d with error %s", r->finish_rc,
               r->error ? r->error : "-");
}


static void
same(const result_t *a, const result_t *b, const char *how)
{
    size_t           i, nf;
    const char      *na, *nb, *va, *vb;
    const tk_file_t *fa, *fb;

    FUZZ_CHECK(a->feed_rc == b->feed_rc && a->finish_rc == b->finish_rc,
               "%s: feed %d/%d, finish %d/%d", how, a->feed_rc, b->feed_rc,
               a->finish_rc, b->finish_rc);
    FUZZ_CHECK((a->error == NULL && b->error == NULL)
               || (a->error != NULL && b->error != NULL
                   && strcmp(a->error, b->error) == 0),
               "%s: error \"%s\" / \"%s\"", how, a->error ? a->error : "-",
               b->error ? b->error : "-");

    nf = tk__form_nfields(a->form);
    FUZZ_CHECK(nf == tk__form_nfields(b->form), "%s: %zu / %zu fields", how,
               nf, tk__form_nfields(b->form));

    for (i = 0; i < nf; i++) {
        na = tk__form_field(a->form, i, &va);
        nb = tk__form_field(b->form, i, &vb);
        FUZZ_CHECK(strcmp(na, nb) == 0 && strcmp(va, vb) == 0,
                   "%s: field %zu differs", how, i);
    }

    FUZZ_CHECK(tk_form_nfiles(a->form) == tk_form_nfiles(b->form),
               "%s: %zu / %zu files", how, tk_form_nfiles(a->form),
               tk_form_nfiles(b->form));

    for (i = 0; i < tk_form_nfiles(a->form); i++) {
        fa = tk_form_file(a->form, i);
        fb = tk_form_file(b->form, i);
        FUZZ_CHECK(strcmp(fa->name, fb->name) == 0
                   && strcmp(fa->filename, fb->filename) == 0
                   && strcmp(fa->content_type, fb->content_type) == 0
                   && fa->size == fb->size
                   && memcmp(fa->data, fb->data, fa->size) == 0,
                   "%s: file %zu differs", how, i);
    }
}


static const uint8_t *
find(const uint8_t *p, const uint8_t *end, const uint8_t *s, size_t n)
{
    for ( /* void */ ; (size_t) (end - p) >= n; p++) {
        if (memcmp(p, s, n) == 0) {
            return p;
        }
    }

    return NULL;
}


/*
 * RFC 2046 5.1.1 delimiters in CRLF body (the CRLF makes a delimiter on
 * the first line one like the others): the number of parts when a close
 * delimiter ends the body part list, else -1.
 */
static long
ref_scan(const char *boundary, size_t blen, const uint8_t *body, size_t len)
{
    long            parts;
    size_t          dlen;
    uint8_t        *buf, delim[4 + NGX_HTTP_TICKETS_BOUNDARY_MAX];
    const uint8_t  *p, *end, *d;

    buf = malloc(len + 2);
    FUZZ_CHECK(buf != NULL, "malloc");
    memcpy(buf, "\r\n", 2);
    memcpy(buf + 2, body, len);
    p = buf;
    end = buf + len + 2;

    memcpy(delim, "\r\n--", 4);
    memcpy(delim + 4, boundary, blen);
    dlen = 4 + blen;

    for (parts = 0; /* void */ ; parts++) {
        d = find(p, end, delim, dlen);
        if (d == NULL) {
            break;
        }

        p = d + dlen;

        if (end - p >= 2 && p[0] == '-' && p[1] == '-') {
            free(buf);
            return parts;
        }

        while (p < end && (*p == ' ' || *p == '\t')) {
            p++;
        }

        if (end - p < 2 || p[0] != '\r' || p[1] != '\n') {
            break;
        }

        p += 2;

        /* the header block: none, or up to the first blank line */
        if (end - p >= 2 && p[0] == '\r' && p[1] == '\n') {
            p += 2;
            continue;
        }

        d = find(p, end, (const uint8_t *) "\r\n\r\n", 4);
        if (d == NULL) {
            break;
        }

        p = d + 4;
    }

    free(buf);
    return -1;
}


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    long            ref;
    size_t          i, blen, len;
    uint64_t        seed;
    const uint8_t  *lf, *body;
    const tk_file_t *f;
    char            boundary[NGX_HTTP_TICKETS_BOUNDARY_MAX + 1];
    char            safe[TK__FILENAME_MAX + 1];
    result_t        one, bytes, random;

    lf = memchr(data, '\n', size);
    if (lf == NULL) {
        return 0;
    }

    if (ngx_http_tickets_multipart_boundary((const char *) data,
                                            (size_t) (lf - data), boundary,
                                            sizeof(boundary), &blen)
        != 0)
    {
        return 0;
    }

    FUZZ_CHECK(blen > 0 && blen <= NGX_HTTP_TICKETS_BOUNDARY_MAX
               && strlen(boundary) == blen, "boundary of %zu bytes", blen);

    body = lf + 1;
    len = size - (size_t) (body - data);
    seed = fuzz_seed(data, size);

    parse(boundary, blen, body, len, 0, seed, &one);
    parse(boundary, blen, body, len, 1, seed, &bytes);
    parse(boundary, blen, body, len, 2, seed, &random);

    same(&one, &bytes, "one chunk / byte by byte");
    same(&one, &random, "one chunk / random chunks");

    ref = ref_scan(boundary, blen, body, len);

    if (one.finish_rc == 0) {
        FUZZ_CHECK(ref >= 0, "accepted, but the delimiters are not RFC 2046"
                   "'s");
        FUZZ_CHECK((size_t) ref <= MAX_PARTS
                   && tk__form_nfields(one.form) + tk_form_nfiles(one.form)
                      <= (size_t) ref,
                   "%ld parts, %zu fields, %zu files", ref,
                   tk__form_nfields(one.form), tk_form_nfiles(one.form));
    }

    for (i = 0; i < tk_form_nfiles(one.form); i++) {
        f = tk_form_file(one.form, i);
        FUZZ_CHECK(tk__safe_filename(f->filename, strlen(f->filename), safe,
                                     sizeof(safe)) == strlen(f->filename)
                   && strcmp(safe, f->filename) == 0,
                   "file name \"%s\" is not safe", f->filename);
    }

    tk_form_free(one.form);
    tk_form_free(bytes.form);
    tk_form_free(random.form);
    return 0;
}
