/*
 * Internal: the messages that delivery of the outbox sends (message.c),
 * shared with deliver.c and the unit tests (t/unit/check_deliver.c).
 * Each function returns TK_OK or a negative TK_E* code unless it says
 * otherwise; what it allocates is freed with free().
 */

#ifndef TK_DELIVER_H
#define TK_DELIVER_H

#include <stddef.h>
#include <time.h>

#include "tickets.h"


/* the longest address taken, as RFC 5321 allows */
#define TK__ADDR_MAX  254


/* A growing NUL-terminated string; oom set once an append failed. */
typedef struct {
    char               *p;
    size_t              len;
    size_t              cap;
    int                 oom;
} tk__buf_t;

void tk__buf_add(tk__buf_t *b, const char *s, size_t n);
void tk__buf_str(tk__buf_t *b, const char *s);
void tk__buf_fmt(tk__buf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));


/* An email before it is written out. */
typedef struct {
    const char         *from;       /* "addr" or "Name <addr>" */
    const char         *host;       /* right side of the Message-ID */
    const char         *uuid;       /* the notification's id */
    const char         *ticket_id;  /* NULL: no References header */
    const char         *event;
    time_t              date;
    const char *const  *to;
    size_t              nto;
    const char *const  *cc;
    size_t              ncc;
    const char         *subject;    /* UTF-8, any characters */
    const char         *body;       /* UTF-8 text */
} tk__mail_t;

/*
 * The RFC 5322 message, with CRLF line ends: From, To, Cc, Subject
 * (RFC 2047 when it is not ASCII), Date, Message-ID <uuid@host>,
 * References <ticket-ID@host>, MIME headers, a quoted-printable UTF-8
 * body.  No header carries a line break from the data: TK_EINVAL (with
 * err) for an address, host or id that is not what it must be; text is
 * cleaned of control characters.
 */
int tk__mail_build(const tk__mail_t *m, char **out, size_t *len,
    char *err, size_t errlen);

/*
 * An address as SMTP and the headers take it: ASCII, no space, control,
 * quote, bracket or separator, one "@" with something on both sides.
 * Returns 1 or 0.
 */
int tk__mail_addr_ok(const char *s);

/* 1 when addr is one of a comma- or semicolon-separated list, in any
 * case */
int tk__mail_in_list(const char *list, const char *addr);

/*
 * Splits a sender setting, "addr" or "Display Name <addr>", into the
 * address (TK__ADDR_MAX + 1 bytes) and the name (may be empty).
 * TK_EINVAL when the address is not one.
 */
int tk__mail_from_parse(const char *from, char *addr, char *name,
    size_t namelen);

/* "host" of "scheme://user@host:port/path", "localhost" when none:
 * letters, digits, dots and dashes only. */
void tk__url_host(const char *url, char *host, size_t len);

/*
 * The subject and the text of the email of an event, from the payload the
 * endpoint wrote (a JSON object: ticketId, title, subject, message, and
 * per event closeLink, reason, ...).  base_url is public_base_url or NULL.
 */
int tk__mail_template(const char *event, const char *payload,
    const char *base_url, char **subject, char **body);

/*
 * The JSON body of an HTTP notification:
 * {"id","channel","event","ticketId","createdOn","recipients","data"}
 * and "devices" for push when given (a JSON array).
 */
int tk__http_body(const char *uuid, const char *channel, const char *event,
    const char *ticket_id, const char *created_on, const char *recipients,
    const char *payload, const char *devices, char **out);

/* "sha256=" and the hex HMAC-SHA256 of "<timestamp>.<body>" under secret;
 * out holds 72 bytes. */
int tk__http_signature(const char *secret, const char *timestamp,
    const char *body, size_t len, char out[72]);

/*
 * A target setting: a plain URL, or a server on a unix socket as
 * "unix:/path/to.sock:/uri" (also "http://unix:/path/to.sock:/uri", as
 * nginx's proxy_pass writes it).  For a socket, *sock gets the path and
 * url becomes "http://localhost/uri".  TK_EINVAL for anything else.
 */
int tk__target_parse(const char *target, char *sock, size_t socklen,
    char *url, size_t urllen);


#endif /* TK_DELIVER_H */
