/*
 * ticketsctl: migrations, demo data, users, tokens and settings from the
 * command line, over the public libtickets API only.
 *
 * Exit status: 0 on success, 1 when the operation fails, 2 on a usage
 * error; mail-deliver answers an MTA as sysexits.h does (docs/email.md):
 * 0 delivered, 65 or 67 refused (bounce), 75 a temporary failure (retry).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include "tickets.h"


#define CTL_EXIT_FAILED  1
#define CTL_EXIT_USAGE   2
/* mail-deliver, as sysexits.h: the MTA bounces or retries */
#define CTL_EXIT_NOUSER  67
#define CTL_EXIT_TEMPFAIL 75

/* the migrations of an installed ticketsctl (make install, the package) */
#ifndef CTL_SQLDIR
#define CTL_SQLDIR  "/usr/share/ngx-tickets/sql"
#endif

/* ten years: a token's lifetime must leave its exp within time_t */
#define CTL_LIFETIME_MAX  315360000L

/* a usage error, already reported: not one of the TK_E* codes */
#define CTL_EUSAGE       -1000

/* the options that commands take, as --name VALUE or --name=VALUE */
enum {
    CTL_OPT_EMAIL,
    CTL_OPT_NAME,
    CTL_OPT_ROLE,
    CTL_OPT_PASSWORD,
    CTL_OPT_KEY,
    CTL_OPT_ALG,
    CTL_OPT_ISS,
    CTL_OPT_AUD,
    CTL_OPT_LIFETIME,
    CTL_OPT_STATUS,
    CTL_OPT_ALL_FAILED,
    CTL_OPT_N
};

#define CTL_O(opt)  (1u << (opt))

/* the options that take no value: present or not */
#define CTL_FLAGS   CTL_O(CTL_OPT_ALL_FAILED)

typedef struct ctl_cmd_s  ctl_cmd_t;

typedef struct {
    const ctl_cmd_t  *cmd;
    tk_conn_t        *conn;
    char            **args;         /* the words after the command */
    int               nargs;
    const char       *opt[CTL_OPT_N];
    tk_result_t       res;          /* its message is what failed */
    int               exit;         /* set: the exit status (mail-deliver) */
} ctl_t;

struct ctl_cmd_s {
    const char  *name;
    const char  *sub;               /* the second word, or NULL */
    int          min_args;
    int          max_args;
    unsigned     opts;              /* CTL_O() of what it accepts */
    unsigned     required;          /* CTL_O() of what it needs */
    int        (*run)(ctl_t *ctl);
    const char  *usage;
};

static int ctl_migrate(ctl_t *ctl);
static int ctl_load(ctl_t *ctl);
static int ctl_user_add(ctl_t *ctl);
static int ctl_user_passwd(ctl_t *ctl);
static int ctl_token(ctl_t *ctl);
static int ctl_setting_get(ctl_t *ctl);
static int ctl_setting_set(ctl_t *ctl);
static int ctl_setting_list(ctl_t *ctl);
static int ctl_outbox_list(ctl_t *ctl);
static int ctl_outbox_retry(ctl_t *ctl);
static int ctl_mail_deliver(ctl_t *ctl);
static int ctl_help(ctl_t *ctl);
static int ctl_parse(ctl_t *ctl, int argc, char **argv);
static int ctl_print_body(ctl_t *ctl, int rc);
static char *ctl_read_password(void);
static int ctl_usage(const ctl_cmd_t *cmd, const char *fmt, const char *arg);
static void ctl_usage_all(FILE *out);


static const char *const  ctl_opt_names[CTL_OPT_N] = {
    "email", "name", "role", "password", "key", "alg", "iss", "aud",
    "lifetime", "status", "all-failed"
};

static const ctl_cmd_t  ctl_cmds[] = {
    { "migrate", NULL, 0, 1, 0, 0, ctl_migrate, "migrate [SQL_DIR]" },
    { "load", NULL, 1, 1, 0, 0, ctl_load, "load FILE" },
    { "user", "add", 1, 1,
      CTL_O(CTL_OPT_EMAIL) | CTL_O(CTL_OPT_NAME) | CTL_O(CTL_OPT_ROLE)
      | CTL_O(CTL_OPT_PASSWORD),
      CTL_O(CTL_OPT_ROLE),
      ctl_user_add,
      "user add NAME --role ROLE [--email E] [--name FULLNAME] "
      "[--password P]" },
    { "user", "passwd", 1, 2, 0, 0, ctl_user_passwd,
      "user passwd NAME [PASSWORD]" },
    { "token", NULL, 1, 1,
      CTL_O(CTL_OPT_KEY) | CTL_O(CTL_OPT_ALG) | CTL_O(CTL_OPT_ISS)
      | CTL_O(CTL_OPT_AUD) | CTL_O(CTL_OPT_LIFETIME),
      CTL_O(CTL_OPT_KEY),
      ctl_token,
      "token NAME --key FILE [--alg HS256|RS256|ES256] [--iss I] [--aud A] "
      "[--lifetime SECONDS]" },
    { "setting", "get", 1, 1, 0, 0, ctl_setting_get, "setting get KEY" },
    { "setting", "set", 2, 2, 0, 0, ctl_setting_set,
      "setting set KEY VALUE" },
    { "setting", "list", 0, 0, 0, 0, ctl_setting_list, "setting list" },
    { "outbox", "list", 0, 0, CTL_O(CTL_OPT_STATUS), 0, ctl_outbox_list,
      "outbox list [--status pending|failed|sent]" },
    { "outbox", "retry", 0, 1, CTL_O(CTL_OPT_ALL_FAILED), 0,
      ctl_outbox_retry, "outbox retry ID|UUID|--all-failed" },
    { "mail-deliver", NULL, 0, 0, 0, 0, ctl_mail_deliver,
      "mail-deliver < MESSAGE" },
    { "help", NULL, 0, 0, 0, 0, ctl_help, "help" }
};

#define CTL_NCMDS  (sizeof(ctl_cmds) / sizeof(ctl_cmds[0]))


int
main(int argc, char **argv)
{
    const ctl_cmd_t  *cmd;
    const char       *conninfo;
    ctl_t             ctl;
    size_t            i;
    int               c, rc, words;

    conninfo = getenv("TICKETS_DB");
    if (conninfo == NULL || conninfo[0] == '\0') {
        conninfo = "dbname=tickets";
    }

    if (argc > 1 && strcmp(argv[1], "--version") == 0) {
        printf("ticketsctl %s\n", tk_version());
        return 0;
    }

    /* "+": options end at the command */
    while ((c = getopt(argc, argv, "+d:hV")) != -1) {
        switch (c) {
        case 'd':
            conninfo = optarg;
            break;
        case 'V':
            printf("ticketsctl %s\n", tk_version());
            return 0;
        case 'h':
            ctl_usage_all(stdout);
            return 0;
        default:
            ctl_usage_all(stderr);
            return CTL_EXIT_USAGE;
        }
    }

    argc -= optind;
    argv += optind;

    if (argc == 0) {
        ctl_usage_all(stderr);
        return CTL_EXIT_USAGE;
    }

    cmd = NULL;

    for (i = 0; i < CTL_NCMDS; i++) {
        if (strcmp(ctl_cmds[i].name, argv[0]) == 0
            && (ctl_cmds[i].sub == NULL
                || (argc > 1 && strcmp(ctl_cmds[i].sub, argv[1]) == 0)))
        {
            cmd = &ctl_cmds[i];
            break;
        }
    }

    if (cmd == NULL) {
        fprintf(stderr, "ticketsctl: unknown command \"%s%s%s\": "
                "see ticketsctl help\n", argv[0], argc > 1 ? " " : "",
                argc > 1 ? argv[1] : "");
        return CTL_EXIT_USAGE;
    }

    memset(&ctl, 0, sizeof(ctl));
    tk_result_init(&ctl.res);
    ctl.cmd = cmd;

    words = cmd->sub != NULL ? 2 : 1;

    rc = ctl_parse(&ctl, argc - words, argv + words);
    if (rc != TK_OK) {
        free(ctl.args);
        return rc == CTL_EUSAGE ? CTL_EXIT_USAGE : CTL_EXIT_FAILED;
    }

    rc = tk_conn_open(&ctl.conn, conninfo);
    if (rc != TK_OK) {
        fprintf(stderr, "ticketsctl: %s\n", tk_strerror(rc));
        free(ctl.args);
        return cmd->run == ctl_mail_deliver ? CTL_EXIT_TEMPFAIL
                                            : CTL_EXIT_FAILED;
    }

    rc = cmd->run(&ctl);

    if (rc < 0 && rc != CTL_EUSAGE) {
        /* libpq's messages end in a newline */
        ctl.res.message[strcspn(ctl.res.message, "\n")] = '\0';
        fprintf(stderr, "ticketsctl: %s\n", ctl.res.message[0] != '\0'
                ? ctl.res.message : tk_strerror(rc));
    }

    tk_result_clear(&ctl.res);
    tk_conn_close(ctl.conn);
    free(ctl.args);

    if (rc == CTL_EUSAGE) {
        return CTL_EXIT_USAGE;
    }

    if (ctl.exit != 0) {
        return ctl.exit;
    }

    return rc < 0 ? CTL_EXIT_FAILED : 0;
}


static int
ctl_migrate(ctl_t *ctl)
{
    int           applied, rc;
    const char   *dir;
    struct stat   st;

    /* a source tree's sql/ first, then where make install put them */
    dir = ctl->nargs > 0 ? ctl->args[0]
          : stat("sql", &st) == 0 && S_ISDIR(st.st_mode) ? "sql" : CTL_SQLDIR;

    rc = tk_migrate(ctl->conn, dir, &applied, ctl->res.message,
                    sizeof(ctl->res.message));

    /* what ran before a failure stays applied */
    if (applied > 0 || rc == TK_OK) {
        printf("%d migration%s applied\n", applied, applied == 1 ? "" : "s");
    }

    return rc;
}


static int
ctl_load(ctl_t *ctl)
{
    int  loaded, rc;

    rc = tk_load_once(ctl->conn, ctl->args[0], &loaded, ctl->res.message,
                      sizeof(ctl->res.message));
    if (rc == TK_OK) {
        printf("%s %s\n", ctl->args[0],
               loaded ? "loaded" : "was loaded before: skipped");
    }

    return rc;
}


static int
ctl_user_add(ctl_t *ctl)
{
    const char  *password;
    int          rc;

    password = ctl->opt[CTL_OPT_PASSWORD];
    if (password == NULL) {
        password = getenv("TICKETS_PASSWORD");
    }

    rc = tk_user_add(ctl->conn, ctl->args[0], ctl->opt[CTL_OPT_EMAIL],
                     ctl->opt[CTL_OPT_NAME], ctl->opt[CTL_OPT_ROLE],
                     password, &ctl->res);

    return ctl_print_body(ctl, rc);
}


static int
ctl_user_passwd(ctl_t *ctl)
{
    char  *line;
    int    rc;

    if (ctl->nargs > 1) {
        return tk_user_set_password(ctl->conn, ctl->args[0], ctl->args[1],
                                    &ctl->res);
    }

    line = ctl_read_password();
    if (line == NULL) {
        snprintf(ctl->res.message, sizeof(ctl->res.message),
                 "no password on stdin");
        return TK_EINVAL;
    }

    rc = tk_user_set_password(ctl->conn, ctl->args[0], line, &ctl->res);

    memset(line, 0, strlen(line));
    free(line);
    return rc;
}


static int
ctl_token(ctl_t *ctl)
{
    tk_jwt_key_t    *key;
    tk_principal_t   p;
    const char      *alg, *s;
    char            *token, *end;
    long             lifetime;
    int              rc;

    lifetime = 3600;
    s = ctl->opt[CTL_OPT_LIFETIME];

    if (s != NULL) {
        lifetime = strtol(s, &end, 10);
        if (*s < '0' || *s > '9' || *end != '\0' || lifetime <= 0
            || lifetime > CTL_LIFETIME_MAX)
        {
            return ctl_usage(ctl->cmd, "--lifetime \"%s\": give 1 to "
                             "315360000 seconds (ten years)", s);
        }
    }

    alg = ctl->opt[CTL_OPT_ALG] != NULL ? ctl->opt[CTL_OPT_ALG] : "HS256";

    rc = tk_jwt_key_load(&key, alg, ctl->opt[CTL_OPT_KEY], ctl->res.message,
                         sizeof(ctl->res.message));
    if (rc != TK_OK) {
        return rc;
    }

    rc = tk_principal_by_name(ctl->conn, ctl->args[0], &p, &ctl->res);

    if (rc == TK_OK) {
        rc = tk_jwt_issue(key, &p, ctl->opt[CTL_OPT_ISS],
                          ctl->opt[CTL_OPT_AUD], lifetime, time(NULL),
                          &token);
        if (rc == TK_OK) {
            printf("%s\n", token);
            free(token);
        } else {
            snprintf(ctl->res.message, sizeof(ctl->res.message),
                     "cannot sign a token: %s", tk_strerror(rc));
        }
    }

    tk_jwt_key_free(key);
    return rc;
}


static int
ctl_setting_get(ctl_t *ctl)
{
    char  *value;
    int    rc;

    rc = tk_setting_get(ctl->conn, ctl->args[0], &value, &ctl->res);

    /* an unset value prints nothing */
    if (rc == TK_OK && value != NULL) {
        printf("%s\n", value);
        free(value);
    }

    return rc;
}


static int
ctl_setting_set(ctl_t *ctl)
{
    return tk_setting_set(ctl->conn, ctl->args[0], ctl->args[1], &ctl->res);
}


static int
ctl_setting_list(ctl_t *ctl)
{
    return ctl_print_body(ctl, tk_settings_list(ctl->conn, &ctl->res));
}


/* The pending and failed notifications (or those of --status), as JSON. */
static int
ctl_outbox_list(ctl_t *ctl)
{
    return ctl_print_body(ctl, tk_outbox_list(ctl->conn,
                                              ctl->opt[CTL_OPT_STATUS],
                                              &ctl->res));
}


/* Queues a notification again, or every failed one. */
static int
ctl_outbox_retry(ctl_t *ctl)
{
    int  rc;

    if ((ctl->nargs == 1) == (ctl->opt[CTL_OPT_ALL_FAILED] != NULL)) {
        return ctl_usage(ctl->cmd, "give an ID or --all-failed%s", "");
    }

    rc = tk_outbox_retry(ctl->conn, ctl->nargs == 1 ? ctl->args[0] : NULL,
                         &ctl->res);

    if (rc == TK_OK) {
        printf("%lld notification%s queued again\n",
               (long long) ctl->res.total, ctl->res.total == 1 ? "" : "s");
    }

    return rc;
}


/*
 * One RFC 5322 message on stdin, as a pipe transport hands it over: the
 * outcome as JSON on stdout, a refusal on stderr (the MTA puts it in the
 * bounce), and the exit status the MTA acts on.
 */
static int
ctl_mail_deliver(ctl_t *ctl)
{
    char    *buf, *p;
    size_t   len = 0, cap = 65536, n;
    int      rc;

    buf = malloc(cap);
    if (buf == NULL) {
        ctl->exit = CTL_EXIT_TEMPFAIL;
        return TK_ENOMEM;
    }

    while ((n = fread(buf + len, 1, cap - len, stdin)) > 0) {
        len += n;
        if (len == cap) {
            /* far past any mail_max_bytes: the library refuses it */
            if (cap >= (size_t) 1 << 30) {
                break;
            }
            p = realloc(buf, cap * 2);
            if (p == NULL) {
                free(buf);
                ctl->exit = CTL_EXIT_TEMPFAIL;
                return TK_ENOMEM;
            }
            buf = p;
            cap *= 2;
        }
    }

    if (ferror(stdin)) {
        free(buf);
        ctl->exit = CTL_EXIT_TEMPFAIL;
        snprintf(ctl->res.message, sizeof(ctl->res.message),
                 "cannot read the message from stdin");
        return TK_EINTERNAL;
    }

    rc = tk_mail_deliver(ctl->conn, buf, len, &ctl->res);
    free(buf);

    switch (rc) {
    case TK_OK:
    case TK_CREATED:
        ctl->exit = 0;
        return ctl_print_body(ctl, TK_OK);
    case TK_EINVAL:
    case TK_EFORBIDDEN:
    case TK_ENOTFOUND:
    case TK_ECONFLICT:
        ctl->exit = CTL_EXIT_NOUSER;
        return rc;
    default:
        /* the database is down, out of memory...: the MTA tries again */
        ctl->exit = CTL_EXIT_TEMPFAIL;
        return rc;
    }
}


static int
ctl_help(ctl_t *ctl)
{
    ctl_usage_all(stdout);
    return TK_OK;
}


/*
 * Splits the words after the command into ctl's positional arguments and
 * options: TK_OK, TK_ENOMEM or CTL_EUSAGE.
 */
static int
ctl_parse(ctl_t *ctl, int argc, char **argv)
{
    const ctl_cmd_t  *cmd;
    const char       *arg, *eq;
    size_t            len;
    int               i, o;

    cmd = ctl->cmd;

    ctl->args = calloc((size_t) argc + 1, sizeof(char *));
    if (ctl->args == NULL) {
        fprintf(stderr, "ticketsctl: out of memory\n");
        return TK_ENOMEM;
    }

    for (i = 0; i < argc; i++) {
        arg = argv[i];

        if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
            ctl->args[ctl->nargs++] = argv[i];
            continue;
        }

        eq = strchr(arg, '=');
        len = eq != NULL ? (size_t) (eq - arg - 2) : strlen(arg + 2);

        for (o = 0; o < CTL_OPT_N; o++) {
            if ((cmd->opts & CTL_O(o)) && strlen(ctl_opt_names[o]) == len
                && strncmp(arg + 2, ctl_opt_names[o], len) == 0)
            {
                break;
            }
        }

        if (o == CTL_OPT_N) {
            return ctl_usage(cmd, "unknown option \"%s\"", arg);
        }

        if (CTL_O(o) & CTL_FLAGS) {
            if (eq != NULL) {
                return ctl_usage(cmd, "%s takes no value", arg);
            }
            ctl->opt[o] = "";
            continue;
        }

        if (eq != NULL) {
            ctl->opt[o] = eq + 1;
        } else if (i + 1 < argc) {
            ctl->opt[o] = argv[++i];
        } else {
            return ctl_usage(cmd, "%s needs a value", arg);
        }
    }

    if (ctl->nargs < cmd->min_args || ctl->nargs > cmd->max_args) {
        return ctl_usage(cmd, "wrong number of arguments%s", "");
    }

    for (o = 0; o < CTL_OPT_N; o++) {
        if ((cmd->required & CTL_O(o)) && ctl->opt[o] == NULL) {
            return ctl_usage(cmd, "--%s is required", ctl_opt_names[o]);
        }
    }

    return TK_OK;
}


static int
ctl_print_body(ctl_t *ctl, int rc)
{
    if (rc >= 0 && ctl->res.body != NULL) {
        printf("%s\n", ctl->res.body);
    }

    return rc;
}


/* A line of stdin, without echo when it is a terminal; NULL at EOF. */
static char *
ctl_read_password(void)
{
    struct termios   saved, quiet;
    char            *line;
    size_t           cap;
    ssize_t          n;
    int              tty;

    tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved) == 0;

    if (tty) {
        fprintf(stderr, "password: ");
        quiet = saved;
        quiet.c_lflag &= ~(tcflag_t) ECHO;
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    }

    line = NULL;
    cap = 0;
    n = getline(&line, &cap, stdin);

    if (tty) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
        fprintf(stderr, "\n");
    }

    if (n < 0) {
        free(line);
        return NULL;
    }

    line[strcspn(line, "\r\n")] = '\0';
    return line;
}


static int
ctl_usage(const ctl_cmd_t *cmd, const char *fmt, const char *arg)
{
    fprintf(stderr, "ticketsctl: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nusage: ticketsctl [-d CONNINFO] %s\n", cmd->usage);

    return CTL_EUSAGE;
}


static void
ctl_usage_all(FILE *out)
{
    size_t  i;

    fprintf(out, "usage: ticketsctl [-d CONNINFO] COMMAND ...\n"
            "       ticketsctl --version\n\n"
            "CONNINFO defaults to $TICKETS_DB, then \"dbname=tickets\".\n"
            "migrate reads ./sql when it exists, else " CTL_SQLDIR ".\n"
            "Commands:\n");

    for (i = 0; i < CTL_NCMDS; i++) {
        fprintf(out, "  %s\n", ctl_cmds[i].usage);
    }

    fprintf(out, "\nuser add also reads the password from "
            "$TICKETS_PASSWORD; user passwd\nreads it from stdin when it "
            "is not given.\n");
}
