/*
 * options.c - the command line: verbs, options, --help, and loading the
 * -f files before anything connects (a file that cannot be read must not
 * cost a Kiwi server its one client).
 */
#include "kiwi.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage_text[] = "Usage: kiwi-ipc path NAME\n"
                                 "       kiwi-ipc connect NAME [OPTIONS]\n"
                                 "       kiwi-ipc create NAME [OPTIONS]\n"
                                 "       kiwi-ipc listen NAME [OPTIONS]\n";

static const char help_text[] =
    "\n"
    "Be either end of a Kiwi ipc pipe from a shell or a test harness.\n"
    "\n"
    "  path NAME     print the socket path NAME maps to (as Kiwi maps it)\n"
    "  connect NAME  be a client; waits for the server, as Kiwi's connect\n"
    "  create NAME   be the server for one client (Kiwi's create)\n"
    "  listen NAME   serve clients one after another, until killed or\n"
    "                --clients N; clients that connect meanwhile wait\n"
    "\n"
    "Once connected: send every -d/-f in order, then receive per -n,\n"
    "printing, echoing or bridging what arrives.\n"
    "\n"
    "Options:\n"
    "  -d, --data TEXT       a message to send; repeatable, sent in order\n"
    "  -f, --file PATH       one message from a file's contents (- = all of\n"
    "                        stdin); repeatable, in order with -d\n"
    "  -l, --lines           each line of stdin is a message (sent as the\n"
    "                        lines come, those already waiting together;\n"
    "                        the newline is not sent); the run\n"
    "                        ends once stdin has ended and -n is met, or\n"
    "                        when the peer closes\n"
    "  -n, --count N         stop after receiving N messages (default: until\n"
    "                        the peer closes; 0 = receive none)\n"
    "      --format FORMAT   how received messages are written, to stdout\n"
    "                        or to --exec's stdin:\n"
    "                          text  the message, then a newline (default)\n"
    "                          json  one JSON string per line: newlines and\n"
    "                                control bytes are escaped; invalid\n"
    "                                UTF-8 is written as U+FFFD, one per\n"
    "                                maximal invalid sequence, exactly as\n"
    "                                Kiwi decodes it (lossy: use hex or raw\n"
    "                                for exact bytes)\n"
    "                          raw   the payload bytes, nothing added\n"
    "                          hex   lowercase hex digits, then a newline\n"
    "  -t, --timeout SECONDS bound the connect or create, and each later\n"
    "                        wait (a receive, a send until the peer has\n"
    "                        all of the message, the next client);\n"
    "                        decimals allowed; 0 = do not wait\n"
    "      --echo            send each received message back\n";

/* Between the platform's --exec lines and its closing paragraphs
 * (help_posix.c, help_win32.c). */
static const char help_mid[] =
    "      --max-size BYTES  refuse (fail on) received messages larger\n"
    "                        than BYTES\n"
    "      --clients N       (listen) stop after serving N clients\n"
    "      --same-user       refuse a peer run by another user (connect:\n"
    "                        fail before sending; create, listen: close it\n"
    "                        and wait for the next) and a path another user\n"
    "                        could redirect; without it anyone is accepted,\n"
    "                        as Kiwi does, with a warning for such a path\n"
    "  -q, --quiet           do not print received messages or notes;\n"
    "                        errors are still printed\n"
    "  -v, --verbose         notes on stderr: connections, sizes, closes\n"
    "      --help            show this help\n"
    "      --version         show the version\n"
    "\n";

static const char help_end[] = "\n"
                               "See kiwi-ipc(1) for examples.\n";

static int usage_error(const char *fmt, const char *arg)
{
    fputs("kiwi-ipc: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs("\n", stderr);
    if (strstr(fmt, "verb") != NULL) {
        fputs(usage_text, stderr); /* no verb, or an unknown one */
    }
    fputs("Try 'kiwi-ipc --help' for more information.\n", stderr);
    return KIWI_EXIT_USAGE;
}

/* A whole non-negative decimal integer no larger than max, or -1. */
static long long parse_count(const char *s, long long max)
{
    if (*s < '0' || *s > '9') {
        return -1;
    }
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < 0 || v > max) {
        return -1;
    }
    return v;
}

/* Seconds (decimals allowed) to milliseconds, rounded up so that a tiny
 * timeout still waits; -2 when not a number >= 0. Very long timeouts are
 * capped at INT_MAX ms (24 days). */
static int parse_timeout(const char *s)
{
    if ((*s < '0' || *s > '9') && *s != '.') {
        return -2;
    }
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (errno != 0 || *end != '\0' || !(v >= 0)) {
        return -2;
    }
    double ms = v * 1000.0;
    if (ms >= (double)INT_MAX) {
        return INT_MAX;
    }
    int whole = (int)ms;
    return (double)whole < ms ? whole + 1 : whole;
}

enum {
    OPT_FORMAT = 256,
    OPT_ECHO,
    OPT_EXEC,
    OPT_MAX_SIZE,
    OPT_CLIENTS,
    OPT_SAME_USER,
    OPT_HELP,
    OPT_VERSION
};

int kiwi_parse_args(int argc, char **argv, struct kiwi_options *o)
{
    static const struct option longopts[] = {
        {"data", required_argument, NULL, 'd'},
        {"file", required_argument, NULL, 'f'},
        {"lines", no_argument, NULL, 'l'},
        {"count", required_argument, NULL, 'n'},
        {"format", required_argument, NULL, OPT_FORMAT},
        {"timeout", required_argument, NULL, 't'},
        {"echo", no_argument, NULL, OPT_ECHO},
        {"exec", required_argument, NULL, OPT_EXEC},
        {"max-size", required_argument, NULL, OPT_MAX_SIZE},
        {"clients", required_argument, NULL, OPT_CLIENTS},
        {"same-user", no_argument, NULL, OPT_SAME_USER},
        {"quiet", no_argument, NULL, 'q'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, OPT_HELP},
        {"version", no_argument, NULL, OPT_VERSION},
        {NULL, 0, NULL, 0}};

    memset(o, 0, sizeof(*o));
    o->count = -1;
    o->timeout_ms = IPC_FOREVER;
    o->clients = -1;
    o->messages = calloc((size_t)argc, sizeof(*o->messages));
    if (o->messages == NULL) {
        fputs("kiwi-ipc: out of memory\n", stderr);
        return KIWI_EXIT_FAIL;
    }
    int stdin_files = 0, have_clients = 0;

    /* Our own messages for bad options (opterr = 0), so that every usage
     * error has the same shape. A leading ':' tells a missing argument
     * apart from an unknown option. */
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":d:f:ln:t:qv", longopts, NULL)) !=
           -1) {
        switch (c) {
        case 'd':
        case 'f': {
            struct kiwi_message *m = &o->messages[o->n_messages++];
            m->from_file = c == 'f';
            m->arg = optarg;
            if (c == 'd') {
                m->data = optarg;
                m->len = strlen(optarg);
            } else if (strcmp(optarg, "-") == 0) {
                stdin_files++;
            }
            break;
        }
        case 'l':
            o->lines = 1;
            break;
        case 'n':
            o->count = parse_count(optarg, LLONG_MAX);
            if (o->count < 0) {
                return usage_error("-n: not a count (a whole number >= 0): "
                                   "'%s'",
                                   optarg);
            }
            break;
        case OPT_FORMAT:
            if (strcmp(optarg, "text") == 0) {
                o->format = KIWI_TEXT;
            } else if (strcmp(optarg, "json") == 0) {
                o->format = KIWI_JSON;
            } else if (strcmp(optarg, "raw") == 0) {
                o->format = KIWI_RAW;
            } else if (strcmp(optarg, "hex") == 0) {
                o->format = KIWI_HEX;
            } else {
                return usage_error("--format: '%s' is not one of text, json, "
                                   "raw, hex",
                                   optarg);
            }
            break;
        case 't':
            o->timeout_ms = parse_timeout(optarg);
            if (o->timeout_ms == -2) {
                return usage_error("-t: not a number of seconds >= 0: '%s'",
                                   optarg);
            }
            break;
        case OPT_ECHO:
            o->echo = 1;
            break;
        case OPT_EXEC:
            o->exec = optarg;
            break;
        case OPT_MAX_SIZE: {
            long long v = parse_count(optarg, IPC_MAX_MESSAGE);
            if (v < 0) {
                return usage_error("--max-size: not a size in bytes from 0 to "
                                   "2147483647: '%s'",
                                   optarg);
            }
            o->max_size = (size_t)v;
            o->have_max_size = 1;
            break;
        }
        case OPT_CLIENTS:
            o->clients = parse_count(optarg, LLONG_MAX);
            if (o->clients < 1) {
                return usage_error("--clients: not a number >= 1: '%s'",
                                   optarg);
            }
            have_clients = 1;
            break;
        case OPT_SAME_USER:
            o->same_user = 1;
            break;
        case 'q':
            o->quiet = 1;
            break;
        case 'v':
            o->verbose = 1;
            break;
        case OPT_HELP:
            fputs(usage_text, stdout);
            fputs(help_text, stdout);
            fputs(kiwi_help_exec, stdout);
            fputs(help_mid, stdout);
            fputs(kiwi_help_platform, stdout);
            fputs(help_end, stdout);
            return KIWI_EXIT_OK;
        case OPT_VERSION:
            printf("kiwi-ipc %s (library %s)\n", KIWI_IPC_VERSION,
                   ipc_version());
            return KIWI_EXIT_OK;
        case ':':
            return usage_error("option '%s' needs an argument",
                               argv[optind - 1]);
        default:
            return usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }

    int rest = argc - optind;
    if (rest == 0) {
        return usage_error("no verb given%s", "");
    }
    const char *verb = argv[optind];
    if (strcmp(verb, "path") == 0) {
        o->verb = KIWI_PATH;
    } else if (strcmp(verb, "connect") == 0) {
        o->verb = KIWI_CONNECT;
    } else if (strcmp(verb, "create") == 0) {
        o->verb = KIWI_CREATE;
    } else if (strcmp(verb, "listen") == 0) {
        o->verb = KIWI_LISTEN;
    } else {
        return usage_error("unknown verb '%s' (path, connect, create, listen)",
                           verb);
    }
    if (rest < 2) {
        return usage_error("%s: missing the pipe NAME", verb);
    }
    if (rest > 2) {
        return usage_error("unexpected argument '%s'", argv[optind + 2]);
    }
    o->name = argv[optind + 1];

    if (o->verb == KIWI_PATH &&
        (o->n_messages || o->lines || o->count >= 0 || o->format ||
         o->timeout_ms != IPC_FOREVER || o->echo || o->exec ||
         o->have_max_size || have_clients || o->same_user)) {
        return usage_error("path takes no options but -q and -v%s", "");
    }
    if (have_clients && o->verb != KIWI_LISTEN) {
        return usage_error("--clients is for listen only%s", "");
    }
    if (o->echo && o->exec) {
        return usage_error("--echo and --exec cannot be used together%s", "");
    }
    if (o->lines && o->exec) {
        return usage_error("-l and --exec cannot be used together (--exec's "
                           "output is what is sent)%s",
                           "");
    }
    if (o->lines && o->verb == KIWI_LISTEN) {
        return usage_error("-l is for connect and create (stdin cannot be "
                           "shared out between clients)%s",
                           "");
    }
    if (stdin_files > 1 || (stdin_files && o->lines)) {
        return usage_error("stdin can be read once only: -f - given twice, "
                           "or with -l%s",
                           "");
    }
    return -1;
}

/* Read a whole file (or stdin) into a malloc'd buffer. */
static int read_all(const char *path, char **data, size_t *len)
{
    int fd = strcmp(path, "-") == 0 ? STDIN_FILENO : kiwi_open_read(path);
    if (fd < 0) {
        return -1;
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (buf == NULL) {
            errno = ENOMEM;
            break;
        }
        if (n == cap) {
            char *bigger = realloc(buf, cap * 2);
            if (bigger == NULL) {
                free(buf);
                buf = NULL;
                errno = ENOMEM;
                break;
            }
            buf = bigger;
            cap *= 2;
        }
        ssize_t k = read(fd, buf + n, cap - n);
        if (k < 0 && errno == EINTR && !kiwi_signalled) {
            continue;
        }
        if (k <= 0) {
            if (k == 0) {
                if (fd != STDIN_FILENO) {
                    close(fd);
                }
                *data = buf;
                *len = n;
                return 0;
            }
            free(buf);
            buf = NULL;
            break;
        }
        n += (size_t)k;
    }
    int saved = errno;
    if (fd != STDIN_FILENO) {
        close(fd);
    }
    errno = saved;
    return -1;
}

int kiwi_load_messages(struct kiwi_options *o)
{
    for (size_t i = 0; i < o->n_messages; i++) {
        struct kiwi_message *m = &o->messages[i];
        if (!m->from_file) {
            continue;
        }
        if (read_all(m->arg, &m->data, &m->len) < 0) {
            if (kiwi_signalled) {
                return KIWI_EXIT_SIGNAL;
            }
            kiwi_error("-f %s: %s", m->arg, strerror(errno));
            return KIWI_EXIT_FAIL;
        }
        if (m->len > IPC_MAX_MESSAGE) {
            kiwi_error("-f %s: %zu bytes; a message holds at most %d", m->arg,
                       m->len, IPC_MAX_MESSAGE);
            return KIWI_EXIT_FAIL;
        }
    }
    return 0;
}

void kiwi_free_messages(struct kiwi_options *o)
{
    for (size_t i = 0; i < o->n_messages; i++) {
        if (o->messages[i].from_file) {
            free(o->messages[i].data);
        }
    }
    free(o->messages);
    o->messages = NULL;
}
