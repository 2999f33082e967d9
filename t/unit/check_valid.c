/*
 * Unit tests of the shared form readers and field errors (libtickets/src/
 * valid.c) and of the Idempotency-Key request hash (idem.c).  No database.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"
#include "idem.h"
#include "upload.h"
#include "valid.h"


/* A text file of data. */
#define add_text(f, name, filename, data)                                     \
    add_file(f, name, filename, "text/plain", data, strlen(data))


/* UTF-8 ---------------------------------------------------------------- */

START_TEST(utf8_count)
{
    static const struct {
        const char  *s;
        long         n;
    } cases[] = {
        { "", 0 },
        { "abc", 3 },
        { "caf\xc3\xa9", 4 },                       /* é */
        { "\xe2\x82\xac", 1 },                      /* € */
        { "\xf0\x9f\x98\x80", 1 },                  /* U+1F600 */
        { "\xf4\x8f\xbf\xbf", 1 },                  /* U+10FFFF */
        { "\xc2\x80", 1 },                          /* smallest 2-byte */
        { "\xe0\xa0\x80", 1 },                      /* smallest 3-byte */
        { "\xf0\x90\x80\x80", 1 },                  /* smallest 4-byte */
        { "\xed\x9f\xbf", 1 },                      /* U+D7FF */
        { "\xee\x80\x80", 1 },                      /* U+E000 */
        /* overlong forms */
        { "\xc0\xaf", -1 },
        { "\xc1\xbf", -1 },
        { "\xe0\x80\xaf", -1 },
        { "\xe0\x9f\xbf", -1 },
        { "\xf0\x80\x80\xaf", -1 },
        { "\xf0\x8f\xbf\xbf", -1 },
        /* surrogates */
        { "\xed\xa0\x80", -1 },
        { "\xed\xbf\xbf", -1 },
        { "a\xed\xb0\x80z", -1 },
        /* past U+10FFFF, and bytes that never start a character */
        { "\xf4\x90\x80\x80", -1 },
        { "\xf5\x80\x80\x80", -1 },
        { "\xf8\x88\x80\x80\x80", -1 },
        { "\xff", -1 },
        { "\xfe", -1 },
        /* a lone continuation byte, a cut sequence */
        { "\x80", -1 },
        { "ab\xbf", -1 },
        { "\xc3", -1 },
        { "\xe2\x82", -1 },
        { "\xf0\x9f\x98", -1 },
        { "\xc3z", -1 },
        { "\xe2\x82z", -1 }
    };
    size_t  i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ck_assert_msg(tk__utf8_count(cases[i].s) == cases[i].n,
                      "case %zu: %ld, not %ld", i, tk__utf8_count(cases[i].s),
                      cases[i].n);
    }
}
END_TEST


START_TEST(blank)
{
    ck_assert_int_eq(tk__blank(NULL), 1);
    ck_assert_int_eq(tk__blank(""), 1);
    ck_assert_int_eq(tk__blank(" "), 1);
    ck_assert_int_eq(tk__blank(" \t\r\n "), 1);
    ck_assert_int_eq(tk__blank("x"), 0);
    ck_assert_int_eq(tk__blank("  x  "), 0);
    ck_assert_int_eq(tk__blank("0"), 0);
    /* a non-breaking space is content */
    ck_assert_int_eq(tk__blank("\xc2\xa0"), 0);
}
END_TEST


START_TEST(echo)
{
    char  out[68], in[200];

    ck_assert_str_eq(tk__echo("abc", 3, out), "abc");
    ck_assert_str_eq(tk__echo("abcdef", 2, out), "ab");
    ck_assert_str_eq(tk__echo("", 0, out), "");

    memset(in, 'a', 100);
    in[100] = '\0';
    ck_assert_int_eq(strlen(tk__echo(in, 64, out)), 64);
    tk__echo(in, 100, out);
    ck_assert_int_eq(strlen(out), 67);
    ck_assert_str_eq(out + 64, "...");

    /* a two-byte character across the cut is left out whole */
    memset(in, 'a', 63);
    memcpy(in + 63, "\xc3\xa9" "bbbb", 7);
    tk__echo(in, strlen(in), out);
    ck_assert_int_eq(strlen(out), 66);
    ck_assert_str_eq(out + 63, "...");
    ck_assert_int_ge(tk__utf8_count(out), 0);
}
END_TEST


/* Numbers -------------------------------------------------------------- */

START_TEST(parse_id)
{
    static const char *const  bad[] = {
        "", "0", "00", "-1", "+1", " 1", "1 ", "1.5", "1,5", "12abc", "abc",
        "0x10", "1e3", "2147483648", "4294967296", "99999999999999999999999",
        "\xef\xbc\x91"                              /* fullwidth 1 */
    };
    int64_t  v;
    size_t   i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        v = 77;
        ck_assert_msg(tk__parse_id(bad[i], INT32_MAX, &v) == TK_EINVAL,
                      "'%s' was read", bad[i]);
        ck_assert_int_eq(v, 77);
    }

    ck_assert_int_eq(tk__parse_id(NULL, INT32_MAX, &v), TK_EINVAL);

    ck_assert_int_eq(tk__parse_id("1", INT32_MAX, &v), TK_OK);
    ck_assert_int_eq(v, 1);
    ck_assert_int_eq(tk__parse_id("2147483647", INT32_MAX, &v), TK_OK);
    ck_assert_int_eq(v, 2147483647);
    /* leading zeros are the same number */
    ck_assert_int_eq(tk__parse_id("007", INT32_MAX, &v), TK_OK);
    ck_assert_int_eq(v, 7);
    ck_assert_int_eq(tk__parse_id("0000000000000000000000000042", INT32_MAX,
                                  &v), TK_OK);
    ck_assert_int_eq(v, 42);

    /* max is inclusive */
    ck_assert_int_eq(tk__parse_id("10", 10, &v), TK_OK);
    ck_assert_int_eq(v, 10);
    ck_assert_int_eq(tk__parse_id("11", 10, &v), TK_EINVAL);
    ck_assert_int_eq(tk__parse_id("5", 4, &v), TK_EINVAL);
    ck_assert_int_eq(tk__parse_id("1", 0, &v), TK_EINVAL);

    /* up to the whole of int64 without overflow */
    ck_assert_int_eq(tk__parse_id("9223372036854775807", INT64_MAX, &v),
                     TK_OK);
    ck_assert(v == INT64_MAX);
    ck_assert_int_eq(tk__parse_id("9223372036854775808", INT64_MAX, &v),
                     TK_EINVAL);
    ck_assert_int_eq(tk__parse_id("18446744073709551617", INT64_MAX, &v),
                     TK_EINVAL);

    /* a piece of a list */
    ck_assert_int_eq(tk__parse_idn("12,13", 2, INT32_MAX, &v), TK_OK);
    ck_assert_int_eq(v, 12);
    ck_assert_int_eq(tk__parse_idn("12,13", 3, INT32_MAX, &v), TK_EINVAL);
    ck_assert_int_eq(tk__parse_idn("12", 0, INT32_MAX, &v), TK_EINVAL);
}
END_TEST


START_TEST(parse_bool)
{
    static const char *const  yes[] = {
        "true", "True", "TRUE", "1", "yes", "YES", "on", "On"
    };
    static const char *const  no[] = {
        "false", "False", "FALSE", "0", "no", "No", "off", "OFF"
    };
    static const char *const  bad[] = {
        "", " true", "true ", "t", "f", "y", "n", "2", "-1", "01", "truex",
        "enabled"
    };
    size_t  i;
    int     b;

    for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        b = -1;
        ck_assert_int_eq(tk__parse_bool(yes[i], &b), TK_OK);
        ck_assert_int_eq(b, 1);
        b = -1;
        ck_assert_int_eq(tk__parse_bool(no[i], &b), TK_OK);
        ck_assert_int_eq(b, 0);
    }

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        b = -1;
        ck_assert_msg(tk__parse_bool(bad[i], &b) == TK_EINVAL, "'%s'", bad[i]);
        ck_assert_int_eq(b, -1);
    }

    ck_assert_int_eq(tk__parse_bool(NULL, &b), TK_EINVAL);
}
END_TEST


START_TEST(parse_datetime)
{
    static const struct {
        const char  *in;
        const char  *out;
    } good[] = {
        { "2026-11-30T09:15:00Z", "2026-11-30T09:15:00+00:00" },
        { "2026-11-30t09:15:00z", "2026-11-30T09:15:00+00:00" },
        { "2026-11-30 09:15:00Z", "2026-11-30T09:15:00+00:00" },
        { "2026-11-30T09:15:00+02:00", "2026-11-30T09:15:00+02:00" },
        { "2026-11-30T09:15:00-05:30", "2026-11-30T09:15:00-05:30" },
        { "2026-11-30T09:15:00+0200", "2026-11-30T09:15:00+02:00" },
        { "2026-11-30T09:15:00+02", "2026-11-30T09:15:00+02:00" },
        { "2026-11-30T09:15:00+14:00", "2026-11-30T09:15:00+14:00" },
        /* no offset: UTC */
        { "2026-11-30T09:15:00", "2026-11-30T09:15:00+00:00" },
        { "2026-11-30T09:15", "2026-11-30T09:15:00+00:00" },
        { "2026-11-30T09:15Z", "2026-11-30T09:15:00+00:00" },
        /* a date alone is its midnight, UTC */
        { "2026-11-30", "2026-11-30T00:00:00+00:00" },
        /* fractions to microseconds */
        { "2026-11-30T09:15:00.5Z", "2026-11-30T09:15:00.5+00:00" },
        { "2026-11-30T09:15:00,25+01:00", "2026-11-30T09:15:00.25+01:00" },
        { "2026-11-30T09:15:00.1234567Z", "2026-11-30T09:15:00.123456+00:00" },
        /* leap years */
        { "2024-02-29", "2024-02-29T00:00:00+00:00" },
        { "2000-02-29", "2000-02-29T00:00:00+00:00" },
        { "0001-01-01T00:00:00Z", "0001-01-01T00:00:00+00:00" },
        { "9999-12-31T23:59:59Z", "9999-12-31T23:59:59+00:00" },
        /* the edges of years 1 to 9999 in UTC */
        { "0001-01-01T01:00:00+01:00", "0001-01-01T01:00:00+01:00" },
        { "0001-01-01T00:00:00-14:00", "0001-01-01T00:00:00-14:00" },
        { "9999-12-31T09:59:59-14:00", "9999-12-31T09:59:59-14:00" },
        { "9999-12-31T23:59:59+14:00", "9999-12-31T23:59:59+14:00" }
    };
    static const char *const  bad[] = {
        "", "tomorrow", "garbage", "2026", "2026-11", "2026-1-30",
        "2026-11-3", "26-11-30", "2026/11/30", "20261130", "0000-01-01",
        "2026-00-10", "2026-13-01", "2026-11-00", "2026-11-31",
        "2026-02-30", "2024-02-30", "2026-02-29", "1900-02-29",
        "2026-04-31", "2026-11-30T", "2026-11-30T9:15", "2026-11-30T09",
        "2026-11-30T24:00:00Z", "2026-11-30T25:00:00Z", "2026-11-30T09:60Z",
        "2026-11-30T09:15:60Z", "2026-11-30T09:15:00.Z",
        "2026-11-30T09:15:00+02:", "2026-11-30T09:15:00+2",
        "2026-11-30T09:15:00+15:00", "2026-11-30T09:15:00+02:60",
        "2026-11-30T09:15:00ZZ", "2026-11-30T09:15:00 Z",
        "2026-11-30T09:15:00Z junk", "2026-11-30 ", " 2026-11-30",
        "2026-11-30X09:15", "-2026-11-30", "+2026-11-30", "2026-11-30+02:00",
        "2026-11-30T09:15:00UTC", "2026-11-30T09:15:00+02:00:00",
        /* in UTC before year 1 or after 9999 */
        "0001-01-01T00:00:00+14:00", "0001-01-01T00:59:59+01:00",
        "0001-01-01T00:00:00+00:01", "9999-12-31T23:59:59-14:00",
        "9999-12-31T10:00:00-14:00", "9999-12-31T23:59:00-00:01"
    };
    size_t  i;
    char    out[40];

    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        memset(out, 0, sizeof(out));
        ck_assert_msg(tk__parse_datetime(good[i].in, out) == TK_OK,
                      "'%s' refused", good[i].in);
        ck_assert_str_eq(out, good[i].out);
    }

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_msg(tk__parse_datetime(bad[i], out) == TK_EINVAL,
                      "'%s' was read as %s", bad[i], out);
    }

    ck_assert_int_eq(tk__parse_datetime(NULL, out), TK_EINVAL);
}
END_TEST


START_TEST(parse_enum)
{
    static const char *const  types[] = {
        "Ticket", "Problem", "Incident", "ServiceRequest", "Change"
    };
    static const char *const  bad[] = {
        "", "5", "6", "-1", "+1", "1.0", " 1", "1 ", "Bogus", " Ticket",
        "Ticket ", "Tickets", "Service Request", "99999999999999999999",
        "0x1"
    };
    size_t  i;
    int     v;

    for (i = 0; i < 5; i++) {
        v = -1;
        ck_assert_int_eq(tk__parse_enum(types[i], types, 5, &v), TK_OK);
        ck_assert_int_eq(v, (int) i);
    }

    ck_assert_int_eq(tk__parse_enum("incident", types, 5, &v), TK_OK);
    ck_assert_int_eq(v, 2);
    ck_assert_int_eq(tk__parse_enum("SERVICEREQUEST", types, 5, &v), TK_OK);
    ck_assert_int_eq(v, 3);
    ck_assert_int_eq(tk__parse_enum("cHaNgE", types, 5, &v), TK_OK);
    ck_assert_int_eq(v, 4);

    ck_assert_int_eq(tk__parse_enum("0", types, 5, &v), TK_OK);
    ck_assert_int_eq(v, 0);
    ck_assert_int_eq(tk__parse_enum("4", types, 5, &v), TK_OK);
    ck_assert_int_eq(v, 4);
    ck_assert_int_eq(tk__parse_enum("04", types, 5, &v), TK_OK);
    ck_assert_int_eq(v, 4);

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        v = -1;
        ck_assert_msg(tk__parse_enum(bad[i], types, 5, &v) == TK_EINVAL,
                      "'%s' was read", bad[i]);
        ck_assert_int_eq(v, -1);
    }

    /* the range is the list's */
    ck_assert_int_eq(tk__parse_enum("2", types, 2, &v), TK_EINVAL);
    ck_assert_int_eq(tk__parse_enum("Incident", types, 2, &v), TK_EINVAL);
    ck_assert_int_eq(tk__parse_enum("1", types, 2, &v), TK_OK);
    ck_assert_int_eq(v, 1);
    ck_assert_int_eq(tk__parse_enum("0", types, 0, &v), TK_EINVAL);
    ck_assert_int_eq(tk__parse_enum(NULL, types, 5, &v), TK_EINVAL);
}
END_TEST


/* UUIDs and addresses -------------------------------------------------- */

START_TEST(valid_uuid)
{
    ck_assert_int_eq(tk__valid_uuid("1b4e28ba-2fa1-11d2-883f-0016cb000001"),
                     1);
    ck_assert_int_eq(tk__valid_uuid("1B4E28BA-2FA1-11D2-883F-0016CB000001"),
                     1);
    ck_assert_int_eq(tk__valid_uuid("{1b4e28ba-2fa1-11d2-883f-0016cb000001}"),
                     1);
    ck_assert_int_eq(tk__valid_uuid("1b4e28ba2fa111d2883f0016cb000001"), 1);
    ck_assert_int_eq(tk__valid_uuid("{1b4e28ba2fa111d2883f0016cb000001}"),
                     1);

    ck_assert_int_eq(tk__valid_uuid(NULL), 0);
    ck_assert_int_eq(tk__valid_uuid(""), 0);
    ck_assert_int_eq(tk__valid_uuid("xyz"), 0);
    ck_assert_int_eq(tk__valid_uuid("{}"), 0);
    ck_assert_int_eq(tk__valid_uuid("6f9619ff-8b86-d011-b42d-00c04fc964fg"),
                     0);
    ck_assert_int_eq(tk__valid_uuid("1b4e28ba-2fa1-11d2-883f-0016cb00000"),
                     0);
    ck_assert_int_eq(tk__valid_uuid("1b4e28ba-2fa1-11d2-883f-0016cb0000011"),
                     0);
    ck_assert_int_eq(tk__valid_uuid("1b4e28ba2-fa1-11d2-883f-0016cb000001"),
                     0);
    ck_assert_int_eq(tk__valid_uuid("1b4e28ba-2fa1-11d2-883f+0016cb000001"),
                     0);
    ck_assert_int_eq(tk__valid_uuid("{1b4e28ba-2fa1-11d2-883f-0016cb000001"),
                     0);
    ck_assert_int_eq(tk__valid_uuid("1b4e28ba-2fa1-11d2-883f-0016cb000001}"),
                     0);
    ck_assert_int_eq(tk__valid_uuid(" 1b4e28ba-2fa1-11d2-883f-0016cb00000"),
                     0);
    ck_assert_int_eq(tk__valid_uuid("1b4e28ba-2fa1-11d2-883f-0016cb00000 "),
                     0);
}
END_TEST


static int
email(const char *s)
{
    return tk__valid_email(s, strlen(s));
}


START_TEST(valid_email)
{
    ck_assert_int_eq(email("a@b.com"), 1);
    ck_assert_int_eq(email("first.last+tag@sub.example.org"), 1);
    ck_assert_int_eq(email("x@localhost"), 1);
    ck_assert_int_eq(email("j\xc3\xb6rg@example.de"), 1);

    ck_assert_int_eq(email(""), 0);
    ck_assert_int_eq(email("not-an-address"), 0);
    ck_assert_int_eq(email("@b.com"), 0);
    ck_assert_int_eq(email("a@"), 0);
    ck_assert_int_eq(email("a@b@c.com"), 0);
    ck_assert_int_eq(email("a@.com"), 0);
    ck_assert_int_eq(email("a@b.com."), 0);
    ck_assert_int_eq(email("two words@b.com"), 0);
    ck_assert_int_eq(email("a@b .com"), 0);
    ck_assert_int_eq(email("a\t@b.com"), 0);
    ck_assert_int_eq(email("\"q\"@b.com"), 0);
    ck_assert_int_eq(email("<a@b.com>"), 0);
    ck_assert_int_eq(email("a@[1.2.3.4]"), 0);
    ck_assert_int_eq(email("a,b@c.com"), 0);
    ck_assert_int_eq(email("a;b@c.com"), 0);
    ck_assert_int_eq(email("a:b@c.com"), 0);
    ck_assert_int_eq(email("a\\b@c.com"), 0);
    ck_assert_int_eq(email("a\x7f@c.com"), 0);

    /* len bounds what is read */
    ck_assert_int_eq(tk__valid_email("a@b.com, c@d.com", 7), 1);
    ck_assert_int_eq(tk__valid_email("a@b.com", 2), 0);
    ck_assert_int_eq(tk__valid_email(NULL, 0), 0);
}
END_TEST


START_TEST(valid_email_list)
{
    static const char *const  good[] = {
        "a@b.com",
        "a@b.com,c@d.org",
        "a@b.com;c@d.org",
        "a@b.com; c@d.org , e@f.net",
        "  a@b.com  ",
        "\ta@b.com\r\n;\nc@d.org",
        "a@b.com,,c@d.org",
        "a@b.com;;;",
        ",a@b.com",
        " ; a@b.com ; "
    };
    static const char *const  bad[] = {
        "", " ", ",", ";", " , ; ",
        "not-an-address",
        "a@b.com; two words@b.com",
        "a@b.com c@d.org",
        "a@b.com,bad",
        "bad,a@b.com",
        "a@b@c.com",
        "a@b.com;@d.org",
        "a@b.com|c@d.org"
    };
    size_t  i;

    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        ck_assert_msg(tk__valid_email_list(good[i]) == 1, "'%s' refused",
                      good[i]);
    }

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_msg(tk__valid_email_list(bad[i]) == 0, "'%s' taken",
                      bad[i]);
    }

    ck_assert_int_eq(tk__valid_email_list(NULL), 0);
}
END_TEST


/* Field errors --------------------------------------------------------- */

START_TEST(field_errors)
{
    cJSON        *errors = NULL, *j;
    const cJSON  *list;

    tk_result_init(&res);

    ck_assert_int_eq(tk__error_add(&errors, "Title",
                                   "The %s field is required.", "Title"),
                     TK_OK);
    ck_assert_int_eq(tk__error_add(&errors, "SiteId",
                                   "The value '%s' is not valid for %s.",
                                   "x", "SiteId"), TK_OK);
    ck_assert_int_eq(tk__error_add(&errors, "SiteId", "Unknown %s %d.",
                                   "SiteId", 9), TK_OK);

    ck_assert_int_eq(tk__errors_answer(&errors, &res), TK_EINVAL);
    ck_assert_ptr_null(errors);
    ck_assert_int_eq(res.code, TK_EINVAL);
    ck_assert_str_eq(res.message, "One or more validation errors occurred.");
    ck_assert_ptr_nonnull(res.errors);
    ck_assert_str_eq(res.errors, "{\"Title\":[\"The Title field is "
                     "required.\"],\"SiteId\":[\"The value 'x' is not valid "
                     "for SiteId.\",\"Unknown SiteId 9.\"]}");

    j = cJSON_Parse(res.errors);
    ck_assert_ptr_nonnull(j);
    list = cJSON_GetObjectItemCaseSensitive(j, "SiteId");
    ck_assert_int_eq(cJSON_GetArraySize(list), 2);
    cJSON_Delete(j);

    /* a second answer replaces the first errors */
    ck_assert_int_eq(tk__error_add(&errors, "Cc", "%s", "bad"), TK_OK);
    ck_assert_int_eq(tk__errors_answer(&errors, &res), TK_EINVAL);
    ck_assert_str_eq(res.errors, "{\"Cc\":[\"bad\"]}");

    /* none: still a 400, without errors */
    ck_assert_int_eq(tk__errors_answer(&errors, &res), TK_EINVAL);
    ck_assert_ptr_null(res.errors);

    tk_result_clear(&res);
}
END_TEST


START_TEST(errors_long_message)
{
    cJSON       *errors = NULL;
    char         big[1000];

    tk_result_init(&res);
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';

    ck_assert_int_eq(tk__error_add(&errors, "Description", "%s", big),
                     TK_OK);
    ck_assert_int_eq(tk__errors_answer(&errors, &res), TK_EINVAL);
    /* cut, never overrun */
    ck_assert_int_lt(strlen(res.errors), 300);

    tk_result_clear(&res);
}
END_TEST


/* Idempotency-Key ------------------------------------------------------ */

START_TEST(idem_check_key)
{
    char         key[300];

    tk_result_init(&res);

    ck_assert_int_eq(tk__idem_check_key(NULL, &res), TK_OK);
    ck_assert_int_eq(tk__idem_check_key("k-1", &res), TK_OK);
    ck_assert_int_eq(tk__idem_check_key("\xc3\xa9t\xc3\xa9", &res), TK_OK);

    memset(key, 'k', 255);
    key[255] = '\0';
    ck_assert_int_eq(tk__idem_check_key(key, &res), TK_OK);
    key[255] = 'k';
    key[256] = '\0';
    ck_assert_int_eq(tk__idem_check_key(key, &res), TK_EINVAL);
    ck_assert_int_eq(res.code, TK_EINVAL);
    ck_assert_str_eq(res.message, "Idempotency-Key must be 1 to 255 bytes "
                     "of UTF-8");

    ck_assert_int_eq(tk__idem_check_key("", &res), TK_EINVAL);
    ck_assert_int_eq(tk__idem_check_key("bad\xff", &res), TK_EINVAL);
    ck_assert_int_eq(tk__idem_check_key("\xed\xa0\x80", &res), TK_EINVAL);

    tk_result_clear(&res);
}
END_TEST


static const char *const  names[] = {
    "Title", "Description", "SiteId", "SelectedTags", NULL
};


/* The same request each time it is called; with_file adds the upload. */
static tk_form_t *
request(int with_file)
{
    tk_form_t  *f = tk_form_new();

    ck_assert_ptr_nonnull(f);
    add(f, "Title", "Printer on fire");
    add(f, "Description", "Smoke");
    add(f, "SiteId", "1");
    add(f, "SelectedTags", "1");
    add(f, "SelectedTags", "2");
    if (with_file) {
        add_text(f, "Uploads", "a.txt", "hello");
    }
    return f;
}


static void
hash(const char *scope, const tk_form_t *f, const char *const *n,
    char out[65])
{
    size_t  i;

    memset(out, 'Z', 65);
    ck_assert_int_eq(tk__idem_hash(scope, f, n, out), TK_OK);
    ck_assert_int_eq(strlen(out), 64);
    for (i = 0; i < 64; i++) {
        ck_assert(strchr("0123456789abcdef", out[i]) != NULL);
    }
}


START_TEST(idem_hash)
{
    static const char *const  shuffled[] = {
        "selectedtags", "SITEID", "title", "DeScRiPtIoN", NULL
    };
    static const char *const  more[] = {
        "Title", "Description", "SiteId", "SelectedTags", "Cc", NULL
    };
    tk_form_t  *f, *g;
    char        a[65], b[65], c[65];

    f = request(1);
    hash("register", f, names, a);
    hash("register", f, names, b);
    ck_assert_str_eq(a, b);

    /* the names in any order and case, the fields in any order and case */
    g = tk_form_new();
    add(g, "selectedTAGS", "1");
    add(g, "siteid", "1");
    add(g, "ignored", "anything");
    add(g, "DESCRIPTION", "Smoke");
    add(g, "SelectedTags", "2");
    add(g, "title", "Printer on fire");
    add_text(g, "uploads", "a.txt", "hello");
    add_text(g, "Other", "b.txt", "not an upload");
    hash("register", g, shuffled, b);
    ck_assert_str_eq(a, b);
    tk_form_free(g);

    /* a named field that is absent counts as absent everywhere */
    hash("register", f, more, b);
    ck_assert_str_ne(a, b);
    g = request(1);
    hash("register", g, more, c);
    ck_assert_str_eq(b, c);
    /* ... but an empty value is a value */
    add(g, "Cc", "");
    hash("register", g, more, c);
    ck_assert_str_ne(b, c);
    tk_form_free(g);

    /* another scope is another request */
    hash("note 7", f, names, b);
    ck_assert_str_ne(a, b);
    hash("note 8", f, names, c);
    ck_assert_str_ne(b, c);
    hash("", f, names, c);
    ck_assert_str_ne(a, c);
    hash(NULL, f, names, b);
    ck_assert_str_eq(b, c);

    /* another value, another order of values, another file */
    g = request(0);
    hash("register", g, names, b);
    ck_assert_str_ne(a, b);
    add_text(g, "Uploads", "a.txt", "hellO");
    hash("register", g, names, b);
    ck_assert_str_ne(a, b);
    tk_form_free(g);

    g = request(0);
    add_text(g, "Uploads", "A.txt", "hello");
    hash("register", g, names, b);
    ck_assert_str_ne(a, b);
    tk_form_free(g);

    g = tk_form_new();
    add(g, "Title", "Printer on fire");
    add(g, "Description", "Smoke");
    add(g, "SiteId", "1");
    add(g, "SelectedTags", "2");
    add(g, "SelectedTags", "1");
    add_text(g, "Uploads", "a.txt", "hello");
    hash("register", g, names, b);
    ck_assert_str_ne(a, b);
    tk_form_free(g);

    /* pieces never run together: ("ab", "c") is not ("a", "bc") */
    g = tk_form_new();
    add(g, "Title", "ab");
    add(g, "Description", "c");
    hash("x", g, names, b);
    tk_form_free(g);
    g = tk_form_new();
    add(g, "Title", "a");
    add(g, "Description", "bc");
    hash("x", g, names, c);
    ck_assert_str_ne(b, c);
    tk_form_free(g);

    /* no names: the scope and the uploads */
    hash("register", f, NULL, b);
    ck_assert_str_ne(a, b);
    g = tk_form_new();
    add_text(g, "Uploads", "a.txt", "hello");
    hash("register", g, NULL, c);
    ck_assert_str_eq(b, c);
    tk_form_free(g);

    tk_form_free(f);
}
END_TEST


START_TEST(idem_hash_known)
{
    static const char *const  none[] = { NULL };
    tk_form_t  *f;
    char        out[65];

    /* sha256("0:") for an empty scope, no fields, no uploads */
    f = tk_form_new();
    hash("", f, none, out);
    tk_form_free(f);
    ck_assert_str_eq(out, "ba768b331fd86cec803be04e56ab2b3d4c0e98ef4ee4fcd4"
                     "e72ad7cce61a1d1f");
}
END_TEST


START_TEST(is_upload)
{
    tk_form_t        *f;

    f = tk_form_new();
    add_text(f, "Uploads", "a.txt", "x");
    add_text(f, "UPLOADS", "b.txt", "x");
    add_text(f, "Upload", "c.txt", "x");
    add_text(f, "Uploads2", "d.txt", "x");

    ck_assert_int_eq(tk_form_nfiles(f), 4);
    ck_assert_int_eq(tk__is_upload(tk_form_file(f, 0)), 1);
    ck_assert_int_eq(tk__is_upload(tk_form_file(f, 1)), 1);
    ck_assert_int_eq(tk__is_upload(tk_form_file(f, 2)), 0);
    ck_assert_int_eq(tk__is_upload(tk_form_file(f, 3)), 0);
    tk_form_free(f);
}
END_TEST


static Suite *
valid_suite(void)
{
    Suite  *s = suite_create("valid");
    TCase  *tc;

    tc = add_tcase(s, "utf8", NULL, NULL, 0);
    tcase_add_test(tc, utf8_count);
    tcase_add_test(tc, blank);
    tcase_add_test(tc, echo);

    tc = add_tcase(s, "parse", NULL, NULL, 0);
    tcase_add_test(tc, parse_id);
    tcase_add_test(tc, parse_bool);
    tcase_add_test(tc, parse_datetime);
    tcase_add_test(tc, parse_enum);

    tc = add_tcase(s, "formats", NULL, NULL, 0);
    tcase_add_test(tc, valid_uuid);
    tcase_add_test(tc, valid_email);
    tcase_add_test(tc, valid_email_list);

    tc = add_tcase(s, "errors", NULL, NULL, 0);
    tcase_add_test(tc, field_errors);
    tcase_add_test(tc, errors_long_message);

    tc = add_tcase(s, "idem", NULL, NULL, 0);
    tcase_add_test(tc, idem_check_key);
    tcase_add_test(tc, idem_hash);
    tcase_add_test(tc, idem_hash_known);
    tcase_add_test(tc, is_upload);

    return s;
}


int
main(void)
{
    return run_suite(valid_suite()) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
