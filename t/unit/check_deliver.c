/*
 * Unit tests of the messages of notifications (libtickets/src/message.c):
 * the RFC 5322 email (headers, RFC 2047 subjects, quoted-printable text,
 * no header injection), the readable text of each event, the JSON body
 * and signature of HTTP notifications, and the targets.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "testlib.h"
#include "deliver.h"


#define UUID  "3a969a6d-8a75-4491-b4a1-50e12ce59923"
#define NOW   1700000000L


static const char *const  one_to[] = { "tech1@example.com" };


/* A message with the defaults of these tests and the given parts. */
static int
build(const char *from, const char *const *to, size_t nto,
    const char *const *cc, size_t ncc, const char *subject, const char *body,
    char **out, char *err)
{
    tk__mail_t  m;
    size_t      len;
    int         rc;

    m.from = from;
    m.host = "helpdesk.example.com";
    m.uuid = UUID;
    m.ticket_id = "12";
    m.event = "Reply";
    m.date = NOW;
    m.to = to;
    m.nto = nto;
    m.cc = cc;
    m.ncc = ncc;
    m.subject = subject;
    m.body = body;

    rc = tk__mail_build(&m, out, &len, err, 200);
    if (rc == TK_OK) {
        ck_assert_uint_eq(len, strlen(*out));
    }

    return rc;
}


static char *
build_ok(const char *subject, const char *body)
{
    char  *out, err[200];

    ck_assert_int_eq(build("helpdesk@example.com", one_to, 1, NULL, 0,
                           subject, body, &out, err), TK_OK);
    return out;
}


/* The part of msg before the empty line. */
static char *
head_of(const char *msg)
{
    const char  *e;

    e = strstr(msg, "\r\n\r\n");
    ck_assert_ptr_nonnull(e);
    return strndup(msg, (size_t) (e - msg) + 2);
}


/* The value of a header, unfolded. */
static char *
header(const char *msg, const char *name)
{
    char        *head, *p, *out, *o;
    const char  *s;
    size_t       n;

    head = head_of(msg);
    n = strlen(name);

    for (p = head; *p != '\0'; p = strstr(p, "\r\n") + 2) {
        if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
            break;
        }
    }

    if (*p == '\0') {
        free(head);
        return NULL;
    }

    out = malloc(strlen(p) + 1);
    ck_assert_ptr_nonnull(out);

    o = out;
    for (s = p + n + 1; *s == ' '; s++) { /* skip */ }

    while (*s != '\0') {
        if (s[0] == '\r' && s[1] == '\n') {
            if (s[2] != ' ' && s[2] != '\t') {
                break;
            }
            s += 2;
            continue;
        }
        *o++ = *s++;
    }
    *o = '\0';

    free(head);
    return out;
}


/* Every line ends in CRLF and is at most max characters. */
static void
lines_ok(const char *msg, size_t max)
{
    const char  *p, *e;

    for (p = msg; *p != '\0'; p = e + 2) {
        e = strstr(p, "\r\n");
        ck_assert_msg(e != NULL, "a line without CRLF: %s", p);
        ck_assert_msg(memchr(p, '\n', (size_t) (e - p)) == NULL
                      && memchr(p, '\r', (size_t) (e - p)) == NULL,
                      "a bare line break in: %.*s", (int) (e - p), p);
        ck_assert_msg((size_t) (e - p) <= max, "a line of %d: %.*s",
                      (int) (e - p), (int) (e - p), p);
    }
}


/* The text of quoted-printable, with CRLF as LF. */
static char *
qp_decode(const char *s)
{
    char   *out, *o;
    int     hi, lo;

    out = malloc(strlen(s) + 1);
    ck_assert_ptr_nonnull(out);

    for (o = out; *s != '\0'; s++) {
        if (s[0] == '=' && s[1] == '\r' && s[2] == '\n') {
            s += 2;
        } else if (s[0] == '=') {
            ck_assert(sscanf(s + 1, "%1x%1x", &hi, &lo) == 2);
            ck_assert_msg(!(s[1] >= 'a' && s[1] <= 'f'), "lower-case hex");
            *o++ = (char) (hi * 16 + lo);
            s += 2;
        } else if (s[0] == '\r' && s[1] == '\n') {
            *o++ = '\n';
            s++;
        } else {
            *o++ = *s;
        }
    }
    *o = '\0';

    return out;
}


/* 1 when the bytes are whole UTF-8 characters: no word cuts one. */
static int
utf8_whole(const unsigned char *s, size_t len)
{
    size_t  i, more;

    for (i = 0; i < len; i += 1 + more) {
        more = s[i] < 0x80 ? 0 : s[i] >= 0xf0 ? 3 : s[i] >= 0xe0 ? 2
               : s[i] >= 0xc0 ? 1 : len;
        if (i + more >= len + (more == 0)) {
            return 0;
        }
    }

    return 1;
}


/* The subject of RFC 2047 encoded-words, decoded; each word checked. */
static char *
words_decode(const char *s)
{
    unsigned char  *out;
    const char     *p, *e;
    size_t          n;
    int             len;

    out = calloc(1, strlen(s) + 1);
    ck_assert_ptr_nonnull(out);
    n = 0;

    for (p = s; (p = strstr(p, "=?UTF-8?B?")) != NULL; p = e + 2) {
        p += 10;
        e = strstr(p, "?=");
        ck_assert_ptr_nonnull(e);
        ck_assert_msg(e - p + 12 <= 75, "an encoded-word over 75");
        len = EVP_DecodeBlock(out + n, (const unsigned char *) p,
                              (int) (e - p));
        ck_assert_int_ge(len, 0);
        /* EVP_DecodeBlock counts the padding as zero bytes */
        len -= (e[-1] == '=') + (e[-2] == '=');
        ck_assert_msg(utf8_whole(out + n, (size_t) len),
                      "a word cut a character");
        n += (size_t) len;
    }

    out[n] = '\0';
    return (char *) out;
}


START_TEST(mail_headers)
{
    char  *msg, *v, *head;

    msg = build_ok("Printer on 2nd floor", "Fixed.");

    head = head_of(msg);
    lines_ok(msg, 76);

    v = header(msg, "Date");
    ck_assert_str_eq(v, "Tue, 14 Nov 2023 22:13:20 +0000");
    free(v);
    v = header(msg, "From");
    ck_assert_str_eq(v, "<helpdesk@example.com>");
    free(v);
    v = header(msg, "To");
    ck_assert_str_eq(v, "tech1@example.com");
    free(v);
    ck_assert_ptr_null(header(msg, "Cc"));
    v = header(msg, "Subject");
    ck_assert_str_eq(v, "Printer on 2nd floor");
    free(v);
    v = header(msg, "Message-ID");
    ck_assert_str_eq(v, "<" UUID "@helpdesk.example.com>");
    free(v);
    v = header(msg, "References");
    ck_assert_str_eq(v, "<ticket-12@helpdesk.example.com>");
    free(v);
    v = header(msg, "MIME-Version");
    ck_assert_str_eq(v, "1.0");
    free(v);
    v = header(msg, "Content-Type");
    ck_assert_str_eq(v, "text/plain; charset=utf-8");
    free(v);
    v = header(msg, "Content-Transfer-Encoding");
    ck_assert_str_eq(v, "quoted-printable");
    free(v);
    v = header(msg, "Auto-Submitted");
    ck_assert_str_eq(v, "auto-generated");
    free(v);
    v = header(msg, "X-Tickets-Event");
    ck_assert_str_eq(v, "Reply");
    free(v);

    ck_assert_str_eq(strstr(msg, "\r\n\r\n") + 4, "Fixed.\r\n");

    free(head);
    free(msg);
}
END_TEST


START_TEST(mail_from_and_cc)
{
    static const char *const  to[] = { "a@example.com", "b@example.com" };
    static const char *const  cc[] = { "c@example.com" };

    char  *msg, *v, err[200];

    ck_assert_int_eq(build("Help \"Desk\" \\ <help@example.com>", to, 2, cc,
                           1, "s", "b", &msg, err), TK_OK);
    v = header(msg, "From");
    ck_assert_str_eq(v, "\"Help \\\"Desk\\\" \\\\\" <help@example.com>");
    free(v);
    v = header(msg, "To");
    ck_assert_str_eq(v, "a@example.com, b@example.com");
    free(v);
    v = header(msg, "Cc");
    ck_assert_str_eq(v, "c@example.com");
    free(v);
    free(msg);

    ck_assert_int_eq(build("Séverine <sev@example.com>", to, 1, NULL, 0, "s",
                           "b", &msg, err), TK_OK);
    v = header(msg, "From");
    ck_assert_str_eq(v, "=?UTF-8?B?U8OpdmVyaW5l?= <sev@example.com>");
    free(v);
    free(msg);
}
END_TEST


START_TEST(mail_subject_folded)
{
    char         subject[400], *msg, *v;
    size_t       n;

    for (n = 0; n < 60; n++) {
        memcpy(subject + n * 6, "word ", 5);
        subject[n * 6 + 4] = (char) ('a' + n % 26);
        subject[n * 6 + 5] = ' ';
    }
    subject[n * 6 - 1] = '\0';

    msg = build_ok(subject, "x");
    lines_ok(msg, 78);

    v = header(msg, "Subject");
    ck_assert_str_eq(v, subject);
    free(v);
    free(msg);
}
END_TEST


START_TEST(mail_subject_encoded)
{
    const char  *subject;
    char        *msg, *v, *text;

    /* 2-, 3- and 4-byte characters across the 45-byte words */
    subject = "Drucker kaputt — Grüße aus Köln, ünïcödé ✓✓✓ 𝄞𝄞 über alles "
              "und noch ein langes Stück Text, das gefaltet wird";

    msg = build_ok(subject, "x");
    lines_ok(msg, 76);

    v = header(msg, "Subject");
    ck_assert_ptr_nonnull(strstr(v, "=?UTF-8?B?"));
    text = words_decode(v);
    ck_assert_str_eq(text, subject);

    free(text);
    free(v);
    free(msg);

    /* ASCII that could read as an encoded-word is encoded too */
    msg = build_ok("=?UTF-8?B?QQ==?=", "x");
    v = header(msg, "Subject");
    text = words_decode(v);
    ck_assert_str_eq(text, "=?UTF-8?B?QQ==?=");
    free(text);
    free(v);
    free(msg);
}
END_TEST


/* Line breaks in the data never make a header of their own. */
START_TEST(mail_injection)
{
    static const char *const  bad_to[] = { "a@example.com\r\nBcc: e@x.y" };
    static const char *const  bad_to2[] = { "a@example.com>, <e@x.y" };
    static const char *const  bad_to3[] = { "ädam@example.com" };

    tk__mail_t   m;
    char        *msg, *v, err[200];
    size_t       len;

    msg = build_ok("Hello\r\nBcc: evil@example.com\nX-Evil: 1", "body");
    ck_assert_ptr_null(strstr(msg, "\r\nBcc:"));
    ck_assert_ptr_null(strstr(msg, "\nX-Evil"));
    ck_assert_ptr_null(header(msg, "Bcc"));
    v = header(msg, "Subject");
    ck_assert_str_eq(v, "Hello Bcc: evil@example.com X-Evil: 1");
    free(v);
    free(msg);

    ck_assert_int_eq(build("helpdesk@example.com", bad_to, 1, NULL, 0, "s",
                           "b", &msg, err), TK_EINVAL);
    ck_assert_ptr_null(msg);
    ck_assert_int_eq(build("helpdesk@example.com", bad_to2, 1, NULL, 0, "s",
                           "b", &msg, err), TK_EINVAL);
    ck_assert_int_eq(build("helpdesk@example.com", one_to, 1, bad_to, 1, "s",
                           "b", &msg, err), TK_EINVAL);
    ck_assert_int_eq(build("helpdesk@example.com", bad_to3, 1, NULL, 0, "s",
                           "b", &msg, err), TK_EINVAL);
    ck_assert_int_eq(build("h@example.com\r\nBcc: e@x.y", one_to, 1, NULL, 0,
                           "s", "b", &msg, err), TK_EINVAL);
    ck_assert_int_eq(build("Name\r\nBcc: e@x.y <h@example.com>", one_to, 1,
                           NULL, 0, "s", "b", &msg, err), TK_EINVAL);

    memset(&m, 0, sizeof(m));
    m.from = "h@example.com";
    m.host = "example.com\r\nBcc: e@x.y";
    m.uuid = UUID;
    m.to = one_to;
    m.nto = 1;
    ck_assert_int_eq(tk__mail_build(&m, &msg, &len, err, sizeof(err)),
                     TK_EINVAL);

    m.host = "example.com";
    m.uuid = UUID "\r\nBcc: e@x.y";
    ck_assert_int_eq(tk__mail_build(&m, &msg, &len, err, sizeof(err)),
                     TK_EINVAL);

    m.uuid = UUID;
    m.ticket_id = "12\r\nBcc: e@x.y";
    ck_assert_int_eq(tk__mail_build(&m, &msg, &len, err, sizeof(err)),
                     TK_EINVAL);

    m.ticket_id = NULL;
    m.event = "Reply\r\nBcc: e@x.y";
    ck_assert_int_eq(tk__mail_build(&m, &msg, &len, err, sizeof(err)),
                     TK_EINVAL);

    m.event = NULL;
    ck_assert_int_eq(tk__mail_build(&m, &msg, &len, err, sizeof(err)),
                     TK_OK);
    ck_assert_ptr_null(header(msg, "References"));
    free(msg);
}
END_TEST


START_TEST(mail_quoted_printable)
{
    char        body[600], *msg, *text;
    const char  *b;
    size_t      i;

    b = "a=b, trailing space \nand tab\t\r\n.leading dot\rÜmlaut\n";
    msg = build_ok("s", b);
    lines_ok(msg, 76);
    text = qp_decode(strstr(msg, "\r\n\r\n") + 4);
    ck_assert_str_eq(text, "a=b, trailing space \nand tab\t\n.leading dot\n"
                           "Ümlaut\n\n");
    ck_assert_ptr_nonnull(strstr(msg, "a=3Db"));
    ck_assert_ptr_nonnull(strstr(msg, "space=20\r\n"));
    ck_assert_ptr_nonnull(strstr(msg, "\r\n=2Eleading"));
    ck_assert_ptr_nonnull(strstr(msg, "=C3=9Cmlaut"));
    free(text);
    free(msg);

    /* one long line: soft breaks, never inside an =XX */
    for (i = 0; i < sizeof(body) - 1; i++) {
        body[i] = i % 7 == 0 ? '=' : 'x';
    }
    body[sizeof(body) - 1] = '\0';

    msg = build_ok("s", body);
    lines_ok(msg, 76);
    text = qp_decode(strstr(msg, "\r\n\r\n") + 4);
    ck_assert_uint_eq(strlen(text), sizeof(body));
    ck_assert_int_eq(memcmp(text, body, sizeof(body) - 1), 0);
    free(text);
    free(msg);
}
END_TEST


START_TEST(mail_addresses)
{
    char  addr[TK__ADDR_MAX + 1], name[64], longest[300];

    ck_assert(tk__mail_addr_ok("a@example.com"));
    ck_assert(tk__mail_addr_ok("first.last+tag@sub.example.co.uk"));
    ck_assert(!tk__mail_addr_ok(""));
    ck_assert(!tk__mail_addr_ok("no-at"));
    ck_assert(!tk__mail_addr_ok("@example.com"));
    ck_assert(!tk__mail_addr_ok("a@"));
    ck_assert(!tk__mail_addr_ok("a b@example.com"));
    ck_assert(!tk__mail_addr_ok("a@b@example.com"));
    ck_assert(!tk__mail_addr_ok("<a@example.com>"));
    ck_assert(!tk__mail_addr_ok("a@example.com,b@example.com"));
    ck_assert(!tk__mail_addr_ok("ä@example.com"));
    ck_assert(!tk__mail_addr_ok("a@example.com\n"));

    memset(longest, 'a', sizeof(longest));
    memcpy(longest + 250, "@x.yz", 6);
    ck_assert(!tk__mail_addr_ok(longest));

    ck_assert_int_eq(tk__mail_from_parse("a@example.com", addr, name,
                                         sizeof(name)), TK_OK);
    ck_assert_str_eq(addr, "a@example.com");
    ck_assert_str_eq(name, "");
    ck_assert_int_eq(tk__mail_from_parse("  Help Desk <a@example.com>", addr,
                                         name, sizeof(name)), TK_OK);
    ck_assert_str_eq(addr, "a@example.com");
    ck_assert_str_eq(name, "Help Desk");
    ck_assert_int_eq(tk__mail_from_parse("\"Desk, IT\" <a@example.com>",
                                         addr, name, sizeof(name)), TK_OK);
    ck_assert_str_eq(name, "Desk, IT");
    ck_assert_int_eq(tk__mail_from_parse("<a@example.com>", addr, name,
                                         sizeof(name)), TK_OK);
    ck_assert_str_eq(name, "");
    ck_assert_int_eq(tk__mail_from_parse("D <a@example.com> x", addr, name,
                                         sizeof(name)), TK_EINVAL);
    ck_assert_int_eq(tk__mail_from_parse("D a@example.com>", addr, name,
                                         sizeof(name)), TK_EINVAL);
    ck_assert_int_eq(tk__mail_from_parse("D <nobody>", addr, name,
                                         sizeof(name)), TK_EINVAL);
    ck_assert_int_eq(tk__mail_from_parse(NULL, addr, name, sizeof(name)),
                     TK_EINVAL);
}
END_TEST


START_TEST(url_hosts)
{
    char  host[64];

    tk__url_host("https://user:pw@Help.Example.com:8443/x?y", host,
                 sizeof(host));
    ck_assert_str_eq(host, "Help.Example.com");
    tk__url_host("http://127.0.0.1:8080", host, sizeof(host));
    ck_assert_str_eq(host, "127.0.0.1");
    tk__url_host("http://[::1]:8080/", host, sizeof(host));
    ck_assert_str_eq(host, "localhost");
    tk__url_host("http://bad\r\nhost/", host, sizeof(host));
    ck_assert_str_eq(host, "localhost");
    tk__url_host(NULL, host, sizeof(host));
    ck_assert_str_eq(host, "localhost");
    tk__url_host("unix:/run/x.sock", host, sizeof(host));
    ck_assert_str_eq(host, "localhost");
}
END_TEST


static void
template_is(const char *event, const char *payload, const char *subject,
    const char *const *in_body)
{
    char  *s, *b;

    ck_assert_int_eq(tk__mail_template(event, payload,
                                       "https://help.example.com/", &s, &b),
                     TK_OK);
    ck_assert_str_eq(s, subject);

    for (; *in_body != NULL; in_body++) {
        ck_assert_msg(strstr(b, *in_body) != NULL, "%s: \"%s\" not in:\n%s",
                      event, *in_body, b);
    }

    free(s);
    free(b);
}


START_TEST(templates)
{
    static const char *const  assigned[] = {
        "ticket #12 \"Paper jam\" has been assigned to you.",
        "https://help.example.com/api/TicketsApi/12\n", NULL
    };
    static const char *const  reply[] = {
        "there is a reply on ticket #12 \"Paper jam\":\n\nLine 1\nLine 2\n",
        "2 attachments:\n"
        "  https://help.example.com/api/TicketsApi/attachment/5\n", NULL
    };
    static const char *const  resolved[] = {
        "has been resolved:\n\nNew toner.\n",
        "close the ticket with this link:\n\n"
        "https://help.example.com/api/TicketsApi/confirm/x?token=y\n", NULL
    };
    static const char *const  escalated[] = {
        "Reason:     VIP\n", "Group:      Network\n", NULL
    };
    static const char *const  none[] = { "Ticket #12: Paper jam\n", NULL };

    template_is("TicketAssigned", "{\"ticketId\":12,\"title\":\"Paper jam\"}",
                "Ticket #12 assigned to you: Paper jam", assigned);
    template_is("Reply", "{\"ticketId\":12,\"title\":\"Paper jam\","
                "\"subject\":\"Re: jam\",\"message\":\"Line 1\\nLine 2\","
                "\"attachments\":[5,6]}",
                "[Ticket #12] Re: jam", reply);
    template_is("Reply", "{\"ticketId\":12,\"title\":\"t\","
                "\"subject\":\"About #12, again\"}",
                "About #12, again", none + 1);
    template_is("Reply", "{\"ticketId\":12,\"title\":\"t\","
                "\"subject\":\"About #123\"}",
                "[Ticket #12] About #123", none + 1);
    template_is("Resolved", "{\"ticketId\":12,\"title\":\"Paper jam\","
                "\"subject\":\"Ticket #12 resolved: Paper jam\","
                "\"message\":\"New toner.\",\"closeLink\":"
                "\"https://help.example.com/api/TicketsApi/confirm/x"
                "?token=y\"}",
                "Ticket #12 resolved: Paper jam", resolved);
    template_is("Escalated", "{\"ticketId\":12,\"title\":\"Paper jam\","
                "\"reason\":\"VIP\",\"group\":\"Network\",\"tierLevel\":null}",
                "Ticket #12 escalated: Paper jam", escalated);
    template_is("Closed", "{\"ticketId\":12,\"title\":\"Paper jam\"}",
                "Ticket #12 closed: Paper jam", none);
    template_is("Whatever", "not json", "Ticket #: ", none + 1);
}
END_TEST


START_TEST(http_body)
{
    char  *out;

    ck_assert_int_eq(tk__http_body(UUID, "push", "TicketAssigned", "12",
                                   "2026-11-30T09:15:00Z", "[\"u1\"]",
                                   "{\"title\":\"Tür\"}", "[]", &out),
                     TK_OK);
    ck_assert_str_eq(out, "{\"id\":\"" UUID "\",\"channel\":\"push\","
                     "\"event\":\"TicketAssigned\",\"ticketId\":12,"
                     "\"createdOn\":\"2026-11-30T09:15:00Z\","
                     "\"recipients\":[\"u1\"],\"devices\":[],"
                     "\"data\":{\"title\":\"Tür\"}}");
    free(out);

    ck_assert_int_eq(tk__http_body(UUID, "webhook", "Closed", NULL, NULL,
                                   NULL, "not json", NULL, &out), TK_OK);
    ck_assert_str_eq(out, "{\"id\":\"" UUID "\",\"channel\":\"webhook\","
                     "\"event\":\"Closed\",\"ticketId\":null,"
                     "\"createdOn\":null,\"recipients\":[],\"data\":{}}");
    free(out);
}
END_TEST


START_TEST(http_signature)
{
    char  sig[72];

    /* HMAC-SHA256("webhook-secret", "1700000000.{\"id\":\"x\"}") */
    ck_assert_int_eq(tk__http_signature("webhook-secret", "1700000000",
                                        "{\"id\":\"x\"}", 10, sig), TK_OK);
    ck_assert_str_eq(sig, "sha256=b4ff47847b951adb74e7131d92f803b87a581be2"
                     "a6c6dbbe8d66c7a33de5f4cf");

    /* the timestamp is signed too */
    ck_assert_int_eq(tk__http_signature("webhook-secret", "1700000001",
                                        "{\"id\":\"x\"}", 10, sig), TK_OK);
    ck_assert_str_ne(sig, "sha256=b4ff47847b951adb74e7131d92f803b87a581be2"
                     "a6c6dbbe8d66c7a33de5f4cf");
}
END_TEST


START_TEST(targets)
{
    char  sock[64], url[128];

    ck_assert_int_eq(tk__target_parse("https://push.example.com/v1?x=1", sock,
                                      sizeof(sock), url, sizeof(url)), TK_OK);
    ck_assert_str_eq(sock, "");
    ck_assert_str_eq(url, "https://push.example.com/v1?x=1");

    ck_assert_int_eq(tk__target_parse("unix:/run/out.sock:/hooks/tickets",
                                      sock, sizeof(sock), url, sizeof(url)),
                     TK_OK);
    ck_assert_str_eq(sock, "/run/out.sock");
    ck_assert_str_eq(url, "http://localhost/hooks/tickets");

    ck_assert_int_eq(tk__target_parse("http://unix:/run/out.sock:/a?b=c",
                                      sock, sizeof(sock), url, sizeof(url)),
                     TK_OK);
    ck_assert_str_eq(sock, "/run/out.sock");
    ck_assert_str_eq(url, "http://localhost/a?b=c");

    ck_assert_int_eq(tk__target_parse("unix:/run/out.sock", sock,
                                      sizeof(sock), url, sizeof(url)), TK_OK);
    ck_assert_str_eq(url, "http://localhost/");

    ck_assert_int_eq(tk__target_parse("unix:run/out.sock:/x", sock,
                                      sizeof(sock), url, sizeof(url)),
                     TK_EINVAL);
    ck_assert_int_eq(tk__target_parse("unix:/run/out.sock:x", sock,
                                      sizeof(sock), url, sizeof(url)),
                     TK_EINVAL);
    ck_assert_int_eq(tk__target_parse("ftp://example.com/", sock,
                                      sizeof(sock), url, sizeof(url)),
                     TK_EINVAL);
    ck_assert_int_eq(tk__target_parse("smtp://example.com/", sock,
                                      sizeof(sock), url, sizeof(url)),
                     TK_EINVAL);
    ck_assert_int_eq(tk__target_parse("http://", sock, sizeof(sock), url,
                                      sizeof(url)), TK_EINVAL);
    ck_assert_int_eq(tk__target_parse("http://a b/", sock, sizeof(sock), url,
                                      sizeof(url)), TK_EINVAL);
    ck_assert_int_eq(tk__target_parse("", sock, sizeof(sock), url,
                                      sizeof(url)), TK_EINVAL);
    ck_assert_int_eq(tk__target_parse("unix:/a/very/long/path/that/does/not/"
                                      "fit/in/the/buffer/of/the/test.sock:/",
                                      sock, sizeof(sock), url, sizeof(url)),
                     TK_EINVAL);
}
END_TEST


static Suite *
deliver_suite(void)
{
    Suite  *s;
    TCase  *tc;

    s = suite_create("deliver");

    tc = add_tcase(s, "mail", NULL, NULL, 0);
    tcase_add_test(tc, mail_headers);
    tcase_add_test(tc, mail_from_and_cc);
    tcase_add_test(tc, mail_subject_folded);
    tcase_add_test(tc, mail_subject_encoded);
    tcase_add_test(tc, mail_injection);
    tcase_add_test(tc, mail_quoted_printable);
    tcase_add_test(tc, mail_addresses);
    tcase_add_test(tc, url_hosts);
    tcase_add_test(tc, templates);

    tc = add_tcase(s, "http", NULL, NULL, 0);
    tcase_add_test(tc, http_body);
    tcase_add_test(tc, http_signature);
    tcase_add_test(tc, targets);

    return s;
}


int
main(void)
{
    return run_suite(deliver_suite()) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
