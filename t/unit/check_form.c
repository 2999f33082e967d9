
/*
 * Unit tests of the request body parsers (ngx_http_tickets_form.c) and of
 * the form container (libtickets/src/form.c).
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"
#include "form.h"
#include "ngx_http_tickets_form.h"


#define B  "XyZzy"


typedef struct {
    char    *data;
    size_t   len;
} buf_t;


static const char  simple_body[] =
    "a preamble to ignore\r\n"
    "--" B "\r\n"
    "Content-Disposition: form-data; name=\"title\"\r\n"
    "\r\n"
    "Printer on fire\r\n"
    "--" B "\r\n"
    "Content-Disposition: form-data; name=\"description\"\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "\r\n"
    "line one\r\nline two\r\n"
    "--" B "\r\n"
    "Content-Disposition: form-data; name=\"attachment\"; "
    "filename=\"a.txt\"\r\n"
    "Content-Type: text/plain\r\n"
    "\r\n"
    "hello\r\n"
    "--" B "\r\n"
    "Content-Disposition: form-data; name=\"attachment\"; "
    "filename=\"b.png\"\r\n"
    "Content-Type: image/png\r\n"
    "\r\n"
    "\x89PNG\r\n\x1a\n"
    "\r\n--" B "--\r\n"
    "an epilogue to ignore\r\n";


static void
buf_add(buf_t *b, const void *data, size_t len)
{
    b->data = realloc(b->data, b->len + len + 1);
    ck_assert_ptr_nonnull(b->data);
    memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
}


static void
buf_cat(buf_t *b, const char *s)
{
    buf_add(b, s, strlen(s));
}


/*
 * Feeds body in chunks: first bytes (0: as the others), then step bytes
 * (0: all that is left).  Each chunk is a copy of its own, so that
 * ASan and valgrind catch a read past it.  Returns the first -1 of feed()
 * or finish(), else 0; *err is the parser's message.
 */
static int
parse_with(const char *body, size_t len, size_t first, size_t step,
    size_t max_parts, size_t max_header, tk_form_t **form, const char **err)
{
    int                            rc;
    size_t                         off, n, limit;
    unsigned char                 *chunk;
    ngx_http_tickets_multipart_t  *mp;

    *form = tk_form_new();
    ck_assert_ptr_nonnull(*form);

    mp = ngx_http_tickets_multipart_create(B, sizeof(B) - 1, *form,
                                           max_parts, max_header);
    ck_assert_ptr_nonnull(mp);

    rc = 0;

    for (off = 0; off < len && rc == 0; off += n) {
        n = len - off;
        limit = (off == 0 && first > 0) ? first : step;

        if (limit > 0 && limit < n) {
            n = limit;
        }

        chunk = malloc(n);
        ck_assert_ptr_nonnull(chunk);
        memcpy(chunk, body + off, n);
        rc = ngx_http_tickets_multipart_feed(mp, chunk, n);
        free(chunk);
    }

    if (rc == 0) {
        rc = ngx_http_tickets_multipart_finish(mp);
    }

    *err = ngx_http_tickets_multipart_error(mp);
    ngx_http_tickets_multipart_destroy(mp);

    return rc;
}


static int
parse(const char *body, size_t len, tk_form_t **form, const char **err)
{
    return parse_with(body, len, 0, 0, 16, 1024, form, err);
}


/* a body of one part with these headers and this content */
static int
parse_part(const char *headers, const char *content, tk_form_t **form,
    const char **err)
{
    int    rc;
    buf_t  b = { NULL, 0 };

    buf_cat(&b, "--" B "\r\n");
    buf_cat(&b, headers);
    buf_cat(&b, "\r\n");
    buf_cat(&b, content);
    buf_cat(&b, "\r\n--" B "--\r\n");

    rc = parse(b.data, b.len, form, err);
    free(b.data);

    return rc;
}


static void
check_file(const tk_form_t *form, size_t i, const char *name,
    const char *filename, const char *type, const void *data, size_t size)
{
    const tk_file_t  *f;

    f = tk_form_file(form, i);
    ck_assert_ptr_nonnull(f);
    ck_assert_str_eq(f->name, name);
    ck_assert_str_eq(f->filename, filename);
    ck_assert_str_eq(f->content_type, type);
    ck_assert_uint_eq(f->size, size);
    ck_assert_ptr_nonnull(f->data);

    if (size > 0) {
        ck_assert_mem_eq(f->data, data, size);
    }
}


static void
check_simple(const tk_form_t *form)
{
    ck_assert_str_eq(tk_form_get(form, "title"), "Printer on fire");
    ck_assert_str_eq(tk_form_get(form, "description"),
                     "line one\r\nline two");
    ck_assert_ptr_null(tk_form_get(form, "attachment"));
    ck_assert_uint_eq(tk_form_nfiles(form), 2);
    check_file(form, 0, "attachment", "a.txt", "text/plain", "hello", 5);
    check_file(form, 1, "attachment", "b.png", "image/png",
               "\x89PNG\r\n\x1a\n", 8);
    ck_assert_ptr_null(tk_form_file(form, 2));
}


static void
expect_error(const char *headers, const char *content, const char *error)
{
    tk_form_t   *form;
    const char  *err;

    ck_assert_int_eq(parse_part(headers, content, &form, &err), -1);
    ck_assert_ptr_nonnull(err);
    ck_assert_str_eq(err, error);
    tk_form_free(form);
}


static const char *
boundary(const char *content_type)
{
    static char  out[NGX_HTTP_TICKETS_BOUNDARY_MAX + 1];
    size_t       len;

    if (ngx_http_tickets_multipart_boundary(content_type, strlen(content_type),
                                            out, sizeof(out), &len)
        != 0)
    {
        return NULL;
    }

    ck_assert_uint_eq(len, strlen(out));
    return out;
}


START_TEST(test_boundary)
{
    char        small[4], b70[128], b71[128];
    size_t      len;
    const char *ct;

    ck_assert_str_eq(boundary("multipart/form-data; boundary=abc"), "abc");
    ck_assert_str_eq(boundary("multipart/form-data;boundary=\"a b;c\""),
                     "a b;c");
    ck_assert_str_eq(boundary("multipart/form-data; boundary=\"a\\\"b\""),
                     "a\"b");
    ck_assert_str_eq(boundary("multipart/form-data; charset=utf-8; "
                              "boundary=----WebKitFormBoundary7MA4YWxk"),
                     "----WebKitFormBoundary7MA4YWxk");
    ck_assert_str_eq(boundary("multipart/form-data; boundary=abc; "
                              "charset=\"utf-8\""), "abc");
    ck_assert_str_eq(boundary("  Multipart/Form-Data ; BOUNDARY = \"x'y\" ;"),
                     "x'y");
    ck_assert_str_eq(boundary("multipart/form-data; boundary=\"--\""), "--");

    ck_assert_ptr_null(boundary("multipart/form-data"));
    ck_assert_ptr_null(boundary("multipart/form-data; charset=utf-8"));
    ck_assert_ptr_null(boundary("multipart/form-data; boundary="));
    ck_assert_ptr_null(boundary("multipart/form-data; boundary=\"\""));
    ck_assert_ptr_null(boundary("multipart/form-data; boundary=\"abc"));
    ck_assert_ptr_null(boundary("multipart/form-data; boundary=\"abc \""));
    ck_assert_ptr_null(boundary("multipart/form-data; boundary=a; "
                                "boundary=b"));
    ck_assert_ptr_null(boundary("multipart/form-data; boundary=a b"));
    ck_assert_ptr_null(boundary("multipart/form-data boundary=a"));
    ck_assert_ptr_null(boundary("multipart/mixed; boundary=abc"));
    ck_assert_ptr_null(boundary("multipart/form-dataX; boundary=abc"));
    ck_assert_ptr_null(boundary("text/plain; boundary=abc"));
    ck_assert_ptr_null(boundary("application/x-www-form-urlencoded"));
    ck_assert_ptr_null(boundary(""));

    /* RFC 2046: 1 to 70 characters */
    strcpy(b70, "multipart/form-data; boundary=");
    memset(b70 + strlen(b70), 'b', 70);
    b70[30 + 70] = '\0';
    strcpy(b71, b70);
    strcat(b71, "b");
    ck_assert_uint_eq(strlen(boundary(b70)), 70);
    ck_assert_ptr_null(boundary(b71));

    ct = "multipart/form-data; boundary=abcd";
    ck_assert_int_eq(ngx_http_tickets_multipart_boundary(ct, strlen(ct),
                         small, sizeof(small), &len), -1);
    ct = "multipart/form-data; boundary=abc";
    ck_assert_int_eq(ngx_http_tickets_multipart_boundary(ct, strlen(ct),
                         small, sizeof(small), &len), 0);
    ck_assert_str_eq(small, "abc");

    /* the length bounds the value, not a NUL */
    ct = "multipart/form-data; boundary=abcdef";
    ck_assert_int_eq(ngx_http_tickets_multipart_boundary(ct, strlen(ct) - 3,
                         b70, sizeof(b70), &len), 0);
    ck_assert_str_eq(b70, "abc");
}
END_TEST


START_TEST(test_create)
{
    tk_form_t                     *form;
    ngx_http_tickets_multipart_t  *mp;

    form = tk_form_new();

    ck_assert_ptr_null(ngx_http_tickets_multipart_create("", 0, form, 8, 64));
    ck_assert_ptr_null(ngx_http_tickets_multipart_create(
        "0123456789012345678901234567890123456789"
        "012345678901234567890123456789x", 71, form, 8, 64));
    ck_assert_ptr_null(ngx_http_tickets_multipart_create("a\rb", 3, form, 8,
                                                         64));

    mp = ngx_http_tickets_multipart_create("ab", 2, form, 8, 64);
    ck_assert_ptr_nonnull(mp);
    ck_assert_ptr_null(ngx_http_tickets_multipart_error(mp));
    ck_assert_int_eq(ngx_http_tickets_multipart_feed(mp, NULL, 0), 0);
    ngx_http_tickets_multipart_destroy(mp);
    ngx_http_tickets_multipart_destroy(NULL);

    tk_form_free(form);
}
END_TEST


START_TEST(test_simple)
{
    tk_form_t   *form;
    const char  *err;

    ck_assert_int_eq(parse(simple_body, sizeof(simple_body) - 1, &form, &err),
                     0);
    ck_assert_ptr_null(err);
    check_simple(form);
    tk_form_free(form);
}
END_TEST


START_TEST(test_byte_by_byte)
{
    size_t       step;
    tk_form_t   *form;
    const char  *err;

    for (step = 1; step <= 7; step++) {
        ck_assert_int_eq(parse_with(simple_body, sizeof(simple_body) - 1,
                                    0, step, 16, 1024, &form, &err), 0);
        check_simple(form);
        tk_form_free(form);
    }
}
END_TEST


START_TEST(test_every_split)
{
    size_t       cut;
    tk_form_t   *form;
    const char  *err;

    /* every position of every boundary, CRLF and header among them */
    for (cut = 0; cut <= sizeof(simple_body) - 1; cut++) {
        ck_assert_int_eq(parse_with(simple_body, sizeof(simple_body) - 1,
                                    cut, 0, 16, 1024, &form, &err), 0);
        check_simple(form);
        tk_form_free(form);
    }
}
END_TEST


START_TEST(test_near_boundaries)
{
    size_t       cut;
    buf_t        b = { NULL, 0 };
    tk_form_t   *form;
    const char  *err;

    /* everything but CRLF "--" B itself, ending with a prefix of it */
    static const char  content[] =
        "\r\n\r\n--\r\n-- " B "\r\n-" B "\r\n--xyzzy\r\n--XyZz\r\r\n--XyZ\n"
        "--" B "\r\r\r\n--XyZzY--\r\n\r\n--XyZz";

    buf_cat(&b, "\r\n--" B "\r\n"
                "Content-Disposition: form-data; name=\"f\"; filename=f\r\n"
                "\r\n");
    buf_cat(&b, content);
    buf_cat(&b, "\r\n--" B "\r\n"
                "Content-Disposition: form-data; name=\"v\"\r\n"
                "\r\n");
    buf_cat(&b, content);
    buf_cat(&b, "\r\n--" B "--");

    for (cut = 0; cut <= b.len; cut++) {
        ck_assert_int_eq(parse_with(b.data, b.len, cut, cut % 3 + 1, 16, 1024,
                                    &form, &err), 0);
        check_file(form, 0, "f", "f", "application/octet-stream", content,
                   sizeof(content) - 1);
        ck_assert_str_eq(tk_form_get(form, "v"), content);
        tk_form_free(form);
    }

    free(b.data);
}
END_TEST


START_TEST(test_browser_boundary)
{
    tk_form_t                     *form;
    ngx_http_tickets_multipart_t  *mp;

    static const char  wb[] = "----WebKitFormBoundary7MA4YWxkTrZu0gW";
    static const char  body[] =
        "------WebKitFormBoundary7MA4YWxkTrZu0gW\r\n"
        "Content-Disposition: form-data; name=\"a\"\r\n"
        "\r\n"
        "x\r\n-----WebKitFormBoundary7MA4YWxkTrZu0gW\r\n"
        "\r\n------WebKitFormBoundary7MA4YWxkTrZu0g\r\n"
        "------WebKitFormBoundary7MA4YWxkTrZu0gW--";

    form = tk_form_new();
    mp = ngx_http_tickets_multipart_create(wb, sizeof(wb) - 1, form, 4, 256);
    ck_assert_int_eq(ngx_http_tickets_multipart_feed(mp,
                         (const unsigned char *) body, sizeof(body) - 1), 0);
    ck_assert_int_eq(ngx_http_tickets_multipart_finish(mp), 0);
    ck_assert_str_eq(tk_form_get(form, "a"),
                     "x\r\n-----WebKitFormBoundary7MA4YWxkTrZu0gW\r\n"
                     "\r\n------WebKitFormBoundary7MA4YWxkTrZu0g");
    ngx_http_tickets_multipart_destroy(mp);
    tk_form_free(form);
}
END_TEST


START_TEST(test_binary)
{
    int             i;
    size_t          n;
    buf_t           b = { NULL, 0 };
    tk_form_t      *form;
    const char     *err;
    unsigned char  *content;

    static const char  near[] = "\0\0\r\n--XyZz\0\r\n--";

    n = 4096 * 16;
    content = malloc(n);

    for (i = 0; i < (int) n; i++) {
        content[i] = (unsigned char) (i * 7 + (i >> 8));
    }

    memcpy(content + 100, near, sizeof(near));

    buf_cat(&b, "--" B "\r\n"
                "Content-Disposition: form-data; name=\"bin\"; "
                "filename=\"blob.bin\"\r\n"
                "Content-Type: application/octet-stream\r\n"
                "\r\n");
    buf_add(&b, content, n);
    buf_cat(&b, "\r\n--" B "--");

    ck_assert_int_eq(parse(b.data, b.len, &form, &err), 0);
    check_file(form, 0, "bin", "blob.bin", "application/octet-stream",
               content, n);
    tk_form_free(form);

    ck_assert_int_eq(parse_with(b.data, b.len, 0, 1000, 16, 1024, &form, &err),
                     0);
    check_file(form, 0, "bin", "blob.bin", "application/octet-stream",
               content, n);
    ck_assert_int_eq(memcmp(tk_form_file(form, 0)->data, content, n), 0);
    tk_form_free(form);

    free(b.data);
    free(content);
}
END_TEST


START_TEST(test_large_field)
{
    size_t       i, n;
    char        *value;
    buf_t        b = { NULL, 0 };
    tk_form_t   *form;
    const char  *err;

    n = 100000;
    value = malloc(n + 1);

    for (i = 0; i < n; i++) {
        value[i] = (char) ('a' + i % 26);
    }

    value[n] = '\0';

    buf_cat(&b, "--" B "\r\nContent-Disposition: form-data; name=big\r\n\r\n");
    buf_cat(&b, value);
    buf_cat(&b, "\r\n--" B "--");

    ck_assert_int_eq(parse_with(b.data, b.len, 0, 999, 16, 1024, &form, &err),
                     0);
    ck_assert_str_eq(tk_form_get(form, "big"), value);
    tk_form_free(form);

    free(b.data);
    free(value);
}
END_TEST


START_TEST(test_missing_final_boundary)
{
    size_t       cut, end;
    tk_form_t   *form;
    const char  *err;

    end = strstr(simple_body, "--" B "--") - simple_body + sizeof(B) + 3;

    for (cut = 0; cut < end; cut++) {
        ck_assert_int_eq(parse_with(simple_body, cut, 0, 0, 16, 1024, &form,
                                    &err), -1);
        ck_assert_str_eq(err, "missing final boundary");
        tk_form_free(form);
    }

    ck_assert_int_eq(parse_with(simple_body, end, 0, 0, 16, 1024, &form, &err),
                     0);
    check_simple(form);
    tk_form_free(form);

    /* no parts at all is an empty form, not an error */
    ck_assert_int_eq(parse("--" B "--", sizeof(B) + 3, &form, &err), 0);
    ck_assert_uint_eq(tk_form_nfiles(form), 0);
    tk_form_free(form);
}
END_TEST


START_TEST(test_malformed_boundary)
{
    tk_form_t   *form;
    const char  *err;

    static const char  body[] =
        "--" B "\r\nContent-Disposition: form-data; name=a\r\n\r\nx\r\n"
        "--" B "x\r\n";
    static const char  dash[] = "--" B "-x";
    static const char  cr[] = "--" B "\rx";

    ck_assert_int_eq(parse(body, sizeof(body) - 1, &form, &err), -1);
    ck_assert_str_eq(err, "malformed boundary");
    tk_form_free(form);

    ck_assert_int_eq(parse(dash, sizeof(dash) - 1, &form, &err), -1);
    ck_assert_str_eq(err, "malformed boundary");
    tk_form_free(form);

    ck_assert_int_eq(parse(cr, sizeof(cr) - 1, &form, &err), -1);
    ck_assert_str_eq(err, "malformed boundary");
    tk_form_free(form);
}
END_TEST


/* RFC 2046 5.1.1: padding after the boundary, never before the "--" */
START_TEST(test_boundary_padding)
{
    size_t       i;
    tk_form_t   *form;
    const char  *err;

    static const char  *bad[] = {
        "--" B " --\r\n",
        "--" B " \t--\r\n",
        "--" B "\r\nContent-Disposition: form-data; name=a\r\n\r\nx"
            "\r\n--" B "\t--",
        "--" B " -",
        "--" B " x\r\n",
    };

    static const char  good[] =
        "--" B " \t \r\nContent-Disposition: form-data; name=a\r\n\r\nx"
        "\r\n--" B "-- \t\r\n";

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_int_eq(parse_with(bad[i], strlen(bad[i]), 0, 1, 16, 1024,
                                    &form, &err), -1);
        ck_assert_str_eq(err, "malformed boundary");
        tk_form_free(form);
    }

    ck_assert_int_eq(parse_with(good, sizeof(good) - 1, 0, 1, 16, 1024, &form,
                                &err), 0);
    ck_assert_str_eq(tk_form_get(form, "a"), "x");
    tk_form_free(form);
}
END_TEST


/* A field left empty: the parser hands tk_form_add() no value at all. */
START_TEST(test_empty_first_field)
{
    tk_form_t   *form;
    const char  *err;

    static const char  body[] =
        "--" B "\r\nContent-Disposition: form-data; name=a\r\n\r\n"
        "\r\n--" B "\r\nContent-Disposition: form-data; name=b\r\n\r\n"
        "\r\n--" B "--\r\n";

    ck_assert_int_eq(parse(body, sizeof(body) - 1, &form, &err), 0);
    ck_assert_str_eq(tk_form_get(form, "a"), "");
    ck_assert_str_eq(tk_form_get(form, "b"), "");
    tk_form_free(form);
}
END_TEST


START_TEST(test_too_many_parts)
{
    tk_form_t   *form;
    const char  *err;

    ck_assert_int_eq(parse_with(simple_body, sizeof(simple_body) - 1, 0, 0, 3,
                                1024, &form, &err), -1);
    ck_assert_str_eq(err, "too many parts");
    tk_form_free(form);

    ck_assert_int_eq(parse_with(simple_body, sizeof(simple_body) - 1, 0, 0, 4,
                                1024, &form, &err), 0);
    check_simple(form);
    tk_form_free(form);
}
END_TEST


START_TEST(test_header_limit)
{
    size_t       hlen;
    tk_form_t   *form;
    const char  *err;

    static const char  body[] =
        "--" B "\r\n"
        "Content-Disposition: form-data; name=\"a\"\r\n"
        "X-Padding: 0123456789\r\n"
        "\r\n"
        "v\r\n--" B "--";

    /* the header block, its blank line included */
    hlen = strstr(body, "\r\n\r\n") + 4 - (body + sizeof(B) + 3);

    ck_assert_int_eq(parse_with(body, sizeof(body) - 1, 0, 0, 4, hlen, &form,
                                &err), 0);
    ck_assert_str_eq(tk_form_get(form, "a"), "v");
    tk_form_free(form);

    ck_assert_int_eq(parse_with(body, sizeof(body) - 1, 0, 0, 4, hlen - 1,
                                &form, &err), -1);
    ck_assert_str_eq(err, "part headers too large");
    tk_form_free(form);
}
END_TEST


START_TEST(test_malformed_headers)
{
    static const char  *headers[] = {
        "Content-Disposition: attachment; name=\"a\"\r\n",
        "Content-Disposition: form-data; name=\"a\r\n",
        "Content-Disposition: form-data; filename=\"a.txt\"\r\n",
        "Content-Disposition: form-data\r\n",
        "Content-Type: text/plain\r\n",
        "",
        "Content-Disposition form-data; name=\"a\"\r\n",
        "Content-Disposition : form-data; name=\"a\"\r\n",
        " Content-Disposition: form-data; name=\"a\"\r\n",
        "Content-Disposition: form-data; name=\"a\"; name=\"b\"\r\n",
        "Content-Disposition: form-data; name=\"a\"\r\n"
        "Content-Disposition: form-data; name=\"b\"\r\n",
        "Content-Disposition: form-data; name=\"a\"; filename=x; "
        "filename=y\r\n",
        "Content-Disposition: form-data; name=\"a\"\r\n"
        "Content-Type: text/plain\r\nContent-Type: text/html\r\n",
        "Content-Disposition: form-data; name=\"a\"\rX\r\n",
        "Content-Disposition: form-data; name=\"a\"\nX: y\r\n",
        "Content-Disposition: form-data; name=\"a\"\x01\r\n",
        "Content-Disposition: form-data; name=\r\n",
        "Content-Disposition: form-data; name=\"a\" junk\r\n",
        "Content-Disposition: form-data; =\"a\"\r\n",
        "Content-Disposition: form-data; name\r\n",
        "Content-Disposition: form-data; name=\"a\"; "
        "filename*=ISO-8859-1''%E9.txt\r\n",
        "Content-Disposition: form-data; name=\"a\"; "
        "filename*=UTF-8''%E9%.txt\r\n",
        "Content-Disposition: form-data; name=\"a\"; filename*=x.txt\r\n",
        "Content-Disposition: form-data; name=\"a\"; "
        "filename*=UTF-8'x.txt\r\n",
    };

    size_t  i;

    for (i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
        expect_error(headers[i], "content", "malformed part headers");
    }
}
END_TEST


START_TEST(test_sticky_error)
{
    tk_form_t                     *form;
    ngx_http_tickets_multipart_t  *mp;

    static const char  bad[] = "--" B "\r\n\r\n";

    form = tk_form_new();
    mp = ngx_http_tickets_multipart_create(B, sizeof(B) - 1, form, 8, 256);
    ck_assert_int_eq(ngx_http_tickets_multipart_feed(mp,
                         (const unsigned char *) bad, sizeof(bad) - 1), -1);
    ck_assert_str_eq(ngx_http_tickets_multipart_error(mp),
                     "malformed part headers");
    ck_assert_int_eq(ngx_http_tickets_multipart_feed(mp,
                         (const unsigned char *) simple_body,
                         sizeof(simple_body) - 1), -1);
    ck_assert_int_eq(ngx_http_tickets_multipart_finish(mp), -1);
    ck_assert_str_eq(ngx_http_tickets_multipart_error(mp),
                     "malformed part headers");
    ngx_http_tickets_multipart_destroy(mp);
    tk_form_free(form);
}
END_TEST


START_TEST(test_case_insensitive)
{
    tk_form_t   *form;
    const char  *err;

    ck_assert_int_eq(parse_part(
        "CONTENT-DISPOSITION: FORM-DATA; NAME=\"Report\"; "
        "FileName=\"x.txt\"\r\n"
        "content-TYPE: Text/Plain\r\n", "data", &form, &err), 0);
    check_file(form, 0, "Report", "x.txt", "Text/Plain", "data", 4);
    tk_form_free(form);

    ck_assert_int_eq(parse_part(
        "content-disposition:form-data;name=Title\r\n", "v", &form, &err), 0);
    ck_assert_str_eq(tk_form_get(form, "TITLE"), "v");
    ck_assert_str_eq(tk_form_get(form, "title"), "v");
    tk_form_free(form);
}
END_TEST


START_TEST(test_filename_ext)
{
    tk_form_t   *form;
    const char  *err;

    ck_assert_int_eq(parse_part(
        "Content-Disposition: form-data; name=\"f\"; filename=\"rates.txt\"; "
        "filename*=UTF-8''%E2%82%AC%20rates.txt\r\n", "1", &form, &err), 0);
    check_file(form, 0, "f", "\xe2\x82\xac rates.txt",
               "application/octet-stream", "1", 1);
    tk_form_free(form);

    ck_assert_int_eq(parse_part(
        "Content-Disposition: form-data; name=\"f\"; "
        "FILENAME*=utf-8'en'%2e%2E%2f%2E%2Fpass+wd; filename=\"x\"\r\n",
        "2", &form, &err), 0);
    check_file(form, 0, "f", "pass+wd", "application/octet-stream", "2", 1);
    tk_form_free(form);
}
END_TEST


START_TEST(test_unsafe_filenames)
{
    size_t  i, n;
    char    out[TK__FILENAME_MAX + 1], in[512], small[4];

    static const struct {
        const char  *in;
        const char  *out;
    } names[] = {
        { "../../etc/passwd", "passwd" },
        { "C:\\x\\evil.exe", "evil.exe" },
        { "C:\\\\x\\\\evil.exe", "evil.exe" },
        { "..", "file" },
        { ".", "file" },
        { "", "file" },
        { "dir/", "file" },
        { "dir\\..", "file" },
        { "a\x01" "b\nc\r\x7f\x1b.txt", "abc.txt" },
        { "\"quoted\" <name>: a|b?c*.txt", "quoted name abc.txt" },
        { "\"<>:|?*", "file" },
        { ".hidden", "hidden" },
        { " . .x. . ", "x" },
        { "report.pdf...", "report.pdf" },
        { "r\xc3\xa9sum\xc3\xa9.txt", "r\xc3\xa9sum\xc3\xa9.txt" },
        /* U+202E: "invoice" RLO "fdp.exe" would display as invoiceexe.pdf */
        { "invoice\xe2\x80\xae" "fdp.exe", "invoicefdp.exe" },
        /* the other bidi controls, zero-width characters, soft hyphen */
        { "a\xe2\x80\xaa\xe2\x80\xab\xe2\x80\xac\xe2\x80\xad"
          "\xe2\x81\xa6\xe2\x81\xa7\xe2\x81\xa8\xe2\x81\xa9" "b",
          "ab" },
        { "a\xe2\x80\x8b\xe2\x80\x8c\xe2\x80\x8d\xe2\x80\x8e"
          "\xe2\x80\x8f\xc2\xad" "b.txt", "ab.txt" },
        /* C1 controls: U+0085 NEL, U+009B CSI */
        { "a\xc2\x85\xc2\x9b[31mb.txt", "a[31mb.txt" },
        /* a format character cannot shield a leading or trailing dot */
        { "\xef\xbb\xbf.hidden", "hidden" },
        { "\xe2\x80\x8b.\xe2\x80\x8b.x", "x" },
        { "x.txt.\xe2\x80\x8b", "x.txt" },
        { "\xef\xbb\xbf\xe2\x80\xae", "file" },
        /* tags and the Unicode 15 Egyptian format controls (4 bytes) */
        { "a\xf3\xa0\x80\x81\xf3\xa0\x81\xbf" "b", "ab" },
        { "a\xf0\x93\x90\xb0\xf0\x93\x90\xbf" "b", "ab" },
        /* near the Cf ranges, kept: U+2065 is unassigned, U+FFFC is So */
        { "a\xe2\x81\xa5\xef\xbf\xbc", "a\xe2\x81\xa5\xef\xbf\xbc" },
        /* not UTF-8: U+FFFD for each maximal subpart */
        { "r\xe9sum\xe9.txt", "r\xef\xbf\xbdsum\xef\xbf\xbd.txt" },
        { "a\xe2\x82.txt", "a\xef\xbf\xbd.txt" },
        { "a\xc0\xaf" "b", "a\xef\xbf\xbd\xef\xbf\xbd" "b" },
        { "a\xed\xa0\x80" "b", "a\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" "b" },
        { "a\xf4\x90\x80\x80", "a\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
          "\xef\xbf\xbd" },
        { "a\xf0\x9f\x93", "a\xef\xbf\xbd" },
        { "\xff", "\xef\xbf\xbd" },
        /* an overlong "." or "/" is no dot and no separator */
        { "\xc0\xae\xc0\xae", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },
    };

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        n = tk__safe_filename(names[i].in, strlen(names[i].in), out,
                              sizeof(out));
        ck_assert_str_eq(out, names[i].out);
        ck_assert_uint_eq(n, strlen(out));
    }

    ck_assert_uint_eq(tk__safe_filename("a\0b.txt", 7, out, sizeof(out)), 6);
    ck_assert_str_eq(out, "ab.txt");

    /* 300 bytes: cut at 200 */
    memset(in, 'a', 300);
    ck_assert_uint_eq(tk__safe_filename(in, 300, out, sizeof(out)), 200);
    ck_assert_uint_eq(strspn(out, "a"), 200);

    /* never in the middle of a UTF-8 sequence */
    in[0] = 'x';
    for (i = 0; i < 150; i++) {
        memcpy(in + 1 + 2 * i, "\xc3\xa9", 2);
    }
    ck_assert_uint_eq(tk__safe_filename(in, 301, out, sizeof(out)), 199);
    ck_assert_int_eq(memcmp(out + 197, "\xc3\xa9", 2), 0);

    for (i = 0; i < 100; i++) {
        memcpy(in + 3 * i, "\xe2\x82\xac", 3);
    }
    ck_assert_uint_eq(tk__safe_filename(in, 300, out, sizeof(out)), 198);

    for (i = 0; i < 75; i++) {
        memcpy(in + 4 * i, "\xf0\x9f\x93\x8e", 4);
    }
    ck_assert_uint_eq(tk__safe_filename(in, 300, out, sizeof(out)), 200);

    /* a sequence cut short in the input is one U+FFFD, cut in turn */
    in[199] = 'a';
    in[200] = 'b';
    ck_assert_uint_eq(tk__safe_filename(in, 300, out, sizeof(out)), 200);
    ck_assert_int_eq(memcmp(out + 196, "\xef\xbf\xbd" "a", 4), 0);
    in[199] = '\xf0';
    ck_assert_uint_eq(tk__safe_filename(in, 300, out, sizeof(out)), 199);
    ck_assert_int_eq(memcmp(out + 196, "\xef\xbf\xbd", 3), 0);

    /* a cut that leaves a trailing dot */
    memset(in, 'a', 199);
    in[199] = '.';
    ck_assert_uint_eq(tk__safe_filename(in, 300, out, sizeof(out)), 199);

    /* a smaller buffer caps the name too */
    ck_assert_uint_eq(tk__safe_filename("abcdef", 6, small, sizeof(small)), 3);
    ck_assert_str_eq(small, "abc");
    ck_assert_uint_eq(tk__safe_filename("..", 2, small, sizeof(small)), 3);
    ck_assert_str_eq(small, "fil");
}
END_TEST


START_TEST(test_unsafe_filenames_multipart)
{
    tk_form_t   *form;
    const char  *err;

    ck_assert_int_eq(parse_part(
        "Content-Disposition: form-data; name=\"f\"; "
        "filename=\"../../etc/passwd\"\r\n", "x", &form, &err), 0);
    ck_assert_str_eq(tk_form_file(form, 0)->filename, "passwd");
    tk_form_free(form);

    /* MSIE's unescaped full path */
    ck_assert_int_eq(parse_part(
        "Content-Disposition: form-data; name=\"f\"; "
        "filename=\"C:\\x\\evil.exe\"\r\n", "x", &form, &err), 0);
    ck_assert_str_eq(tk_form_file(form, 0)->filename, "evil.exe");
    tk_form_free(form);

    ck_assert_int_eq(parse_part(
        "Content-Disposition: form-data; name=\"f\"; "
        "filename=\"a\\\"b\\\\c.txt\"\r\n", "x", &form, &err), 0);
    ck_assert_str_eq(tk_form_file(form, 0)->filename, "c.txt");
    tk_form_free(form);

    ck_assert_int_eq(parse_part(
        "Content-Disposition: form-data; name=\"f\"; filename=\"..\"\r\n",
        "x", &form, &err), 0);
    ck_assert_str_eq(tk_form_file(form, 0)->filename, "file");
    tk_form_free(form);

    ck_assert_int_eq(parse_part(
        "Content-Disposition: form-data; name=\"f\"; "
        "filename*=UTF-8''%01%22a%0D%0A.txt\r\n", "x", &form, &err), 0);
    ck_assert_str_eq(tk_form_file(form, 0)->filename, "a.txt");
    tk_form_free(form);
}
END_TEST


START_TEST(test_part_details)
{
    tk_form_t   *form;
    const char  *err;

    static const char  body[] =
        "\r\n--" B " \t\r\n"
        "Content-Disposition: form-data; name=\"skipped\"; filename=\"\"\r\n"
        "Content-Type: application/octet-stream\r\n"
        "\r\n"
        "\r\n--" B "\r\n"
        "Content-Disposition: form-data;\r\n"
        "\tname=\"folded\"\r\n"
        "X-Ignored: yes\r\n"
        "\r\n"
        "f\r\n--" B "\r\n"
        "Content-Disposition: form-data; name=\"a\\\\b\\\"c\"; x=\"y\"\r\n"
        "\r\n"
        "\r\n--" B "\r\n"
        "Content-Disposition: form-data; name=\"empty\"; filename=e.txt\r\n"
        "\r\n"
        "\r\n--" B "--";

    ck_assert_int_eq(parse(body, sizeof(body) - 1, &form, &err), 0);
    ck_assert_ptr_null(tk_form_get(form, "skipped"));
    ck_assert_str_eq(tk_form_get(form, "folded"), "f");
    ck_assert_str_eq(tk_form_get(form, "a\\b\"c"), "");
    ck_assert_uint_eq(tk_form_nfiles(form), 1);
    check_file(form, 0, "empty", "e.txt", "application/octet-stream", "", 0);
    tk_form_free(form);
}
END_TEST


static int
urlencoded(const char *body, size_t max_fields, tk_form_t **form,
    const char **err)
{
    *form = tk_form_new();
    *err = NULL;

    return ngx_http_tickets_urlencoded_parse((const unsigned char *) body,
                                             strlen(body), *form, max_fields,
                                             err);
}


START_TEST(test_urlencoded)
{
    tk_form_t   *form;
    const char  *err, *values[2];

    ck_assert_int_eq(urlencoded("a=1&b=hello+world&c=%41%62%2B%26%3d%2525",
                                16, &form, &err), 0);
    ck_assert_str_eq(tk_form_get(form, "a"), "1");
    ck_assert_str_eq(tk_form_get(form, "b"), "hello world");
    ck_assert_str_eq(tk_form_get(form, "c"), "Ab+&=%25");
    tk_form_free(form);

    ck_assert_int_eq(urlencoded("&&a=1&&b=2&", 2, &form, &err), 0);
    ck_assert_str_eq(tk_form_get(form, "a"), "1");
    ck_assert_str_eq(tk_form_get(form, "b"), "2");
    tk_form_free(form);

    ck_assert_int_eq(urlencoded("flag&x=&my+name=a=b&=v", 16, &form, &err), 0);
    ck_assert_str_eq(tk_form_get(form, "flag"), "");
    ck_assert_str_eq(tk_form_get(form, "x"), "");
    ck_assert_str_eq(tk_form_get(form, "my name"), "a=b");
    ck_assert_str_eq(tk_form_get(form, ""), "v");
    tk_form_free(form);

    ck_assert_int_eq(urlencoded("tag=a&Tag=b&TAG=c&other=d", 16, &form, &err),
                     0);
    ck_assert_str_eq(tk_form_get(form, "tAg"), "a");
    ck_assert_uint_eq(tk_form_get_all(form, "tag", values, 2), 3);
    ck_assert_str_eq(values[0], "a");
    ck_assert_str_eq(values[1], "b");
    ck_assert_uint_eq(tk_form_get_all(form, "ta", values, 2), 0);
    ck_assert_uint_eq(tk_form_get_all(form, "tags", values, 2), 0);
    ck_assert_ptr_null(tk_form_get(form, "missing"));
    tk_form_free(form);

    ck_assert_int_eq(urlencoded("", 0, &form, &err), 0);
    ck_assert_ptr_null(tk_form_get(form, ""));
    tk_form_free(form);

    ck_assert_int_eq(urlencoded("a=1&b=2&c=3", 2, &form, &err), -1);
    ck_assert_str_eq(err, "too many fields");
    tk_form_free(form);
}
END_TEST


START_TEST(test_urlencoded_bad_escape)
{
    size_t       i;
    tk_form_t   *form;
    const char  *err;

    static const char  *bodies[] = {
        "a=%", "a=%4", "a=%zz", "a=%4g", "a=1&b=%%41", "%g1=x", "a%=1"
    };

    for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        ck_assert_int_eq(urlencoded(bodies[i], 16, &form, &err), -1);
        ck_assert_str_eq(err, "invalid percent-encoding");
        tk_form_free(form);
    }
}
END_TEST


/* a NUL would cut the text short, here and in PostgreSQL: refused */
START_TEST(test_nul_refused)
{
    tk_form_t   *form;
    const char  *err;

    static const char  body[] = "--" B "\r\n"
        "Content-Disposition: form-data; name=\"Title\"\r\n\r\n"
        "ab\0cd\r\n--" B "--\r\n";

    ck_assert_int_eq(urlencoded("Title=ab%00cd", 16, &form, &err), -1);
    ck_assert_str_eq(err, "a field holds a NUL byte");
    tk_form_free(form);

    ck_assert_int_eq(urlencoded("a%00b=1", 16, &form, &err), -1);
    ck_assert_str_eq(err, "a field holds a NUL byte");
    tk_form_free(form);

    ck_assert_int_eq(parse(body, sizeof(body) - 1, &form, &err), -1);
    ck_assert_str_eq(err, "a field holds a NUL byte");
    tk_form_free(form);

    form = tk_form_new();
    ck_assert_int_eq(tk_form_add(form, "a", 1, "x\0y", 3), TK_EINVAL);
    ck_assert_ptr_null(tk_form_get(form, "a"));
    tk_form_free(form);
}
END_TEST


START_TEST(test_form_many_fields)
{
    int          i;
    char         name[32], value[32];
    size_t       n;
    tk_form_t   *form;
    const char  *values[4];

    form = tk_form_new();
    ck_assert_ptr_nonnull(form);

    for (i = 0; i < 1000; i++) {
        n = (size_t) snprintf(name, sizeof(name), "Field%d", i);
        snprintf(value, sizeof(value), "value %d", i);
        ck_assert_int_eq(tk_form_add(form, name, n, value, strlen(value)),
                         TK_OK);
    }

    ck_assert_int_eq(tk_form_add(form, "FIELD7", 6, "again", 5), TK_OK);

    for (i = 0; i < 1000; i++) {
        snprintf(name, sizeof(name), "field%d", i);
        snprintf(value, sizeof(value), "value %d", i);
        ck_assert_str_eq(tk_form_get(form, name), value);
    }

    ck_assert_uint_eq(tk_form_get_all(form, "field7", values, 4), 2);
    ck_assert_str_eq(values[0], "value 7");
    ck_assert_str_eq(values[1], "again");
    ck_assert_ptr_null(tk_form_get(form, "field1000"));
    ck_assert_ptr_null(tk_form_get(form, "field"));

    /* the name ends at its length; a value with a NUL is refused */
    ck_assert_int_eq(tk_form_add(form, "nulXYZ", 3, "ab", 2), TK_OK);
    ck_assert_str_eq(tk_form_get(form, "NUL"), "ab");
    ck_assert_int_eq(tk_form_add(form, "nul2", 4, "a\0b", 3), TK_EINVAL);
    ck_assert_ptr_null(tk_form_get(form, "nul2"));
    ck_assert_int_eq(tk_form_add(form, "empty", 5, NULL, 0), TK_OK);
    ck_assert_str_eq(tk_form_get(form, "empty"), "");
    ck_assert_int_eq(tk_form_add(form, NULL, 0, NULL, 0), TK_OK);
    ck_assert_str_eq(tk_form_get(form, ""), "");

    ck_assert_uint_eq(tk_form_nfiles(form), 0);
    tk_form_free(form);
    tk_form_free(NULL);
}
END_TEST


START_TEST(test_form_files)
{
    int               i;
    char              data[1000];
    tk_form_t        *form;
    const tk_file_t  *f;

    form = tk_form_new();

    ck_assert_int_eq(tk_form_file_append(form, "x", 1), TK_EINVAL);
    ck_assert_ptr_null(tk_form_file(form, 0));

    memset(data, 'd', sizeof(data));

    for (i = 0; i < 100; i++) {
        ck_assert_int_eq(tk_form_file_begin(form, "files", 5, "../a.txt", 8,
                                            "text/plain", 10), TK_OK);
        ck_assert_int_eq(tk_form_file_append(form, data, (size_t) i), TK_OK);
        ck_assert_int_eq(tk_form_file_append(form, data, 0), TK_OK);
        ck_assert_int_eq(tk_form_file_append(form, data, sizeof(data)), TK_OK);
    }

    ck_assert_uint_eq(tk_form_nfiles(form), 100);

    for (i = 0; i < 100; i++) {
        f = tk_form_file(form, (size_t) i);
        ck_assert_str_eq(f->name, "files");
        ck_assert_str_eq(f->filename, "a.txt");
        ck_assert_str_eq(f->content_type, "text/plain");
        ck_assert_uint_eq(f->size, (size_t) i + sizeof(data));
        ck_assert_int_eq(f->data[f->size - 1], 'd');
    }

    ck_assert_int_eq(tk_form_file_begin(form, "n", 1, "", 0, NULL, 0), TK_OK);
    check_file(form, 100, "n", "file", "application/octet-stream", "", 0);

    tk_form_free(form);
}
END_TEST


static Suite *
form_suite(void)
{
    TCase  *tc;
    Suite  *s;

    s = suite_create("form");

    tc = add_tcase(s, "multipart", NULL, NULL, 60);
    tcase_add_test(tc, test_boundary);
    tcase_add_test(tc, test_create);
    tcase_add_test(tc, test_simple);
    tcase_add_test(tc, test_byte_by_byte);
    tcase_add_test(tc, test_every_split);
    tcase_add_test(tc, test_near_boundaries);
    tcase_add_test(tc, test_browser_boundary);
    tcase_add_test(tc, test_binary);
    tcase_add_test(tc, test_large_field);
    tcase_add_test(tc, test_missing_final_boundary);
    tcase_add_test(tc, test_malformed_boundary);
    tcase_add_test(tc, test_boundary_padding);
    tcase_add_test(tc, test_empty_first_field);
    tcase_add_test(tc, test_too_many_parts);
    tcase_add_test(tc, test_header_limit);
    tcase_add_test(tc, test_malformed_headers);
    tcase_add_test(tc, test_sticky_error);
    tcase_add_test(tc, test_case_insensitive);
    tcase_add_test(tc, test_filename_ext);
    tcase_add_test(tc, test_unsafe_filenames_multipart);
    tcase_add_test(tc, test_part_details);

    tc = add_tcase(s, "urlencoded", NULL, NULL, 0);
    tcase_add_test(tc, test_urlencoded);
    tcase_add_test(tc, test_urlencoded_bad_escape);
    tcase_add_test(tc, test_nul_refused);

    tc = add_tcase(s, "tk_form", NULL, NULL, 0);
    tcase_add_test(tc, test_unsafe_filenames);
    tcase_add_test(tc, test_form_many_fields);
    tcase_add_test(tc, test_form_files);

    return s;
}


int
main(void)
{
    return run_suite(form_suite()) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
