/*
 * libFuzzer harness of the validators of libtickets/src/valid.c.
 *
 * Input: byte 0 picks the validator, the rest is the value (as a C string
 * where the validator takes one: it ends at the first NUL).  Each answer
 * is checked against a reference written here, or against invariants:
 *   ids        digits only, 1..max, the value the digits say (__int128);
 *   dates      the output is in range (month, day of the month with leap
 *              years, hour, minute, second, offset), keeps the input's
 *              date, and reads back as itself;
 *   enums      a name (any case) or a number below the count, nothing else;
 *   booleans   the eight words, any case;
 *   emails     one @ with something on each side, no dot after the @ or
 *              at the end, no space, control or special (reference);
 *   lists      every comma- or semicolon-separated piece, trimmed, is an
 *              email or empty, and one is not;
 *   UTF-8      the count of code points, or -1 exactly when not UTF-8;
 *   echo       the value, or at most 64 bytes of it and "...", cut at a
 *              character boundary;
 *   UUIDs      8-4-4-4-12 hex digits or 32 of them, braces allowed.
 */

#include <string.h>
#include <strings.h>

#include "fuzz.h"
#include "valid.h"


static const char *const  enum_names[] = { "Low", "Medium", "High",
                                           "Critical" };


static int
ref_id(const char *s, size_t len, int64_t max, int64_t *out)
{
    __int128  v;
    size_t    i;

    if (len == 0) {
        return -1;
    }

    for (i = 0, v = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
        v = v * 10 + (s[i] - '0');
        if (v > max) {
            return -1;
        }
    }

    if (v < 1) {
        return -1;
    }

    *out = (int64_t) v;
    return 0;
}


static void
check_id(const char *s, size_t len, int whole)
{
    static const int64_t  maxes[] = { 1, 9, 1000, INT32_MAX, INT64_MAX };
    int64_t               got, want;
    size_t                i;
    int                   rc, ref;

    for (i = 0; i < sizeof(maxes) / sizeof(maxes[0]); i++) {
        got = want = -7;
        rc = whole ? tk__parse_id(s, maxes[i], &got)
                   : tk__parse_idn(s, len, maxes[i], &got);
        ref = ref_id(s, len, maxes[i], &want);
        FUZZ_CHECK((rc == TK_OK) == (ref == 0), "id \"%.*s\" max %lld: %d",
                   (int) len, s, (long long) maxes[i], rc);
        FUZZ_CHECK(rc != TK_OK || got == want, "id %lld, reference %lld",
                   (long long) got, (long long) want);
    }
}


static int
days_in(int y, int m)
{
    static const int  days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30,
                                 31 };

    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) {
        return 29;
    }

    return days[m - 1];
}


static void
check_datetime(const char *s)
{
    char  out[40], again[40], sign;
    int   y, mo, d, h, mi, sec, oh, om, n;

    if (tk__parse_datetime(s, out) != TK_OK) {
        return;
    }

    FUZZ_CHECK(strlen(out) < sizeof(out), "long output");
    n = -1;
    FUZZ_CHECK(sscanf(out, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi,
                      &sec, &n) == 6 && n == 19, "output \"%s\"", out);
    FUZZ_CHECK(y >= 1 && y <= 9999 && mo >= 1 && mo <= 12 && d >= 1
               && d <= days_in(y, mo) && h <= 23 && mi <= 59 && sec <= 59,
               "\"%s\" from \"%s\" is out of range", out, s);
    FUZZ_CHECK(memcmp(out, s, 10) == 0, "the date of \"%s\" became \"%s\"", s,
               out);

    n = 19;
    if (out[n] == '.') {
        for (n++; out[n] >= '0' && out[n] <= '9'; n++) {
            /* void */
        }
        FUZZ_CHECK(n > 20 && n <= 26, "fraction of \"%s\"", out);
    }

    FUZZ_CHECK(sscanf(out + n, "%c%2d:%2d", &sign, &oh, &om) == 3
               && (sign == '+' || sign == '-') && oh <= 14 && om <= 59
               && strlen(out + n) == 6, "offset of \"%s\"", out);

    FUZZ_CHECK(tk__parse_datetime(out, again) == TK_OK
               && strcmp(out, again) == 0, "\"%s\" reads back as \"%s\"", out,
               again);
}


static void
check_enum(const char *s)
{
    int64_t  v;
    size_t   len;
    int      rc, out, i, named;

    out = -1;
    rc = tk__parse_enum(s, enum_names, 4, &out);

    for (i = 0, named = -1; i < 4; i++) {
        if (strcasecmp(s, enum_names[i]) == 0) {
            named = i;
        }
    }

    if (named >= 0) {
        FUZZ_CHECK(rc == TK_OK && out == named, "enum \"%s\": %d", s, out);
        return;
    }

    /* a number: digits only, leading zeros allowed, below the count */
    len = strlen(s);
    for (i = 0, v = 0; i < (int) len && s[i] >= '0' && s[i] <= '9'; i++) {
        v = v * 10 + (s[i] - '0');
        if (v > 3) {
            break;
        }
    }

    if (len > 0 && i == (int) len && v <= 3) {
        FUZZ_CHECK(rc == TK_OK && out == (int) v, "enum \"%s\": %d %d", s,
                   rc, out);
        return;
    }

    FUZZ_CHECK(rc != TK_OK, "enum \"%s\" gave %d", s, out);
}


static void
check_bool(const char *s)
{
    static const char *const  words[] = { "false", "true", "0", "1", "no",
                                          "yes", "off", "on" };
    size_t                    i;
    int                       rc, out, want;

    for (i = 0, want = -1; i < 8; i++) {
        if (strcasecmp(s, words[i]) == 0) {
            want = (int) (i % 2);
        }
    }

    out = -1;
    rc = tk__parse_bool(s, &out);
    FUZZ_CHECK((rc == TK_OK) == (want >= 0) && (rc != TK_OK || out == want),
               "bool \"%s\": %d %d", s, rc, out);
}


static int
ref_email(const char *s, size_t len)
{
    size_t  i, ats, at;

    for (i = 0, ats = 0, at = 0; i < len; i++) {
        unsigned char c = (unsigned char) s[i];

        if (c <= 0x20 || c == 0x7f || memchr("\"(),:;<>[\\]", c, 11)) {
            return 0;
        }
        if (c == '@') {
            ats++;
            at = i;
        }
    }

    return ats == 1 && at > 0 && at + 1 < len && s[at + 1] != '.'
           && s[len - 1] != '.';
}


static void
check_email_list(const char *s)
{
    size_t  i, start, end, n;
    int     want, any;

    want = 1;
    any = 0;

    for (start = 0; want; start = end + 1) {
        end = start + strcspn(s + start, ",;");

        for (i = start; i < end && strchr(" \t\r\n", s[i]); i++) {
            /* void */
        }
        for (n = end; n > i && strchr(" \t\r\n", s[n - 1]); n--) {
            /* void */
        }

        if (n > i) {
            any = 1;
            want = ref_email(s + i, n - i);
        }

        if (s[end] == '\0') {
            break;
        }
    }

    want = want && any;
    FUZZ_CHECK(tk__valid_email_list(s) == want, "list \"%s\": want %d", s,
               want);
}


static void
check_utf8(const char *s)
{
    const unsigned char  *u;
    size_t                i, k, len;
    long                  n, want;

    u = (const unsigned char *) s;
    len = strlen(s);
    want = -1;

    if (fuzz_utf8_valid(u, len)) {
        for (i = 0, want = 0; i < len; i += k, want++) {
            (void) fuzz_utf8_cp(u + i, &k);
        }
    }

    n = tk__utf8_count(s);
    FUZZ_CHECK(n == want, "utf8_count %ld, reference %ld", n, want);
}


static void
check_echo(const char *s, size_t len)
{
    char    out[68];
    size_t  n;

    tk__echo(s, len, out);
    n = strlen(out);

    if (len <= 64) {
        FUZZ_CHECK(memcmp(out, s, len) == 0 && out[len] == '\0',
                   "echo changed a short value");
        return;
    }

    FUZZ_CHECK(n >= 3 && n <= 67 && strcmp(out + n - 3, "...") == 0
               && memcmp(out, s, n - 3) == 0, "echo \"%s\"", out);

    if (fuzz_utf8_valid((const unsigned char *) s, len)) {
        FUZZ_CHECK(fuzz_utf8_valid((const unsigned char *) out, n),
                   "echo cut a character: \"%s\"", out);
    }
}


static void
check_uuid(const char *orig)
{
    const char  *s;
    size_t       i, n;
    int          want;

    s = orig;
    n = strlen(s);
    if (n >= 2 && s[0] == '{' && s[n - 1] == '}') {
        s++;
        n -= 2;
    }

    want = n == 32 || n == 36;

    for (i = 0; i < n && want; i++) {
        if (n == 36 && (i == 8 || i == 13 || i == 18 || i == 23)) {
            want = s[i] == '-';
        } else {
            want = (s[i] >= '0' && s[i] <= '9')
                   || ((s[i] | 0x20) >= 'a' && (s[i] | 0x20) <= 'f');
        }
    }

    FUZZ_CHECK(tk__valid_uuid(orig) == want, "uuid \"%s\": reference %d",
               orig, want);
}


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char    *s;
    size_t   len;

    if (size == 0) {
        return 0;
    }

    /* a copy of the exact length (a NUL added), so that ASan sees overreads */
    len = size - 1;
    s = malloc(len + 1);
    FUZZ_CHECK(s != NULL, "malloc");
    memcpy(s, data + 1, len);
    s[len] = '\0';

    switch (data[0] % 10) {
    case 0:
        check_id(s, strlen(s), 1);
        break;
    case 1:
        check_id(s, len, 0);
        break;
    case 2:
        check_datetime(s);
        break;
    case 3:
        check_enum(s);
        break;
    case 4:
        check_bool(s);
        break;
    case 5:
        FUZZ_CHECK(tk__valid_email(s, len) == ref_email(s, len),
                   "email \"%.*s\": reference %d", (int) len, s,
                   ref_email(s, len));
        break;
    case 6:
        check_email_list(s);
        break;
    case 7:
        check_utf8(s);
        break;
    case 8:
        check_echo(s, strlen(s));     /* its callers pass C strings */
        break;
    default:
        check_uuid(s);
        break;
    }

    free(s);
    return 0;
}
