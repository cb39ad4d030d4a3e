/*
 * output.c - how a received message is written: text, json, raw or hex.
 *
 * JSON and invalid UTF-8: Kiwi itself decodes invalid UTF-8 as U+FFFD, so
 * --format json writes what a Kiwi script would have seen: one U+FFFD for
 * each maximal subpart of an ill-formed sequence (Unicode's "best practice"
 * of chapter 3, which .NET's decoder follows). This is lossy on purpose:
 * a JSON string is text, and any escape of raw bytes (\u00XX per byte)
 * would read back as different, valid characters. Exact bytes: raw or hex.
 */
#include "kiwi.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int kiwi_write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t k = write(fd, p, len);
        if (k < 0) {
            /* Without SA_RESTART a signal interrupts the write: give up
             * only if it was one of ours. */
            if (errno == EINTR && !kiwi_signalled) {
                continue;
            }
            return -1;
        }
        p += k;
        len -= (size_t)k;
    }
    return 0;
}

/* The length of the well-formed UTF-8 sequence at p (1 to 4), or minus the
 * length of the maximal subpart of an ill-formed one (-1 to -3), per
 * Unicode table 3-7. p[0] >= 0x80. */
static int utf8_sequence(const unsigned char *p, size_t avail)
{
    unsigned char c = p[0];
    int need;
    unsigned char lo = 0x80, hi = 0xbf; /* the range of the second byte */
    if (c >= 0xc2 && c <= 0xdf) {
        need = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        need = 3;
        if (c == 0xe0) {
            lo = 0xa0; /* no overlong forms */
        } else if (c == 0xed) {
            hi = 0x9f; /* no surrogates */
        }
    } else if (c >= 0xf0 && c <= 0xf4) {
        need = 4;
        if (c == 0xf0) {
            lo = 0x90;
        } else if (c == 0xf4) {
            hi = 0x8f; /* nothing above U+10FFFF */
        }
    } else {
        return -1; /* a continuation byte, C0, C1 or F5..FF */
    }
    for (int i = 1; i < need; i++) {
        if ((size_t)i >= avail) {
            return -i;
        }
        unsigned char b = p[i];
        if (i == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xbf)) {
            return -i;
        }
    }
    return need;
}

static char *format_json(const unsigned char *p, size_t len, size_t *out_len)
{
    /* Worst case: every byte a \u00XX escape (6 bytes), plus quotes and
     * the newline. A U+FFFD (3 bytes) replaces at least one byte. */
    if (len > (SIZE_MAX - 3) / 6) {
        return NULL;
    }
    char *out = malloc(len * 6 + 3);
    if (out == NULL) {
        return NULL;
    }
    static const char hexdig[] = "0123456789abcdef";
    size_t o = 0;
    out[o++] = '"';
    for (size_t i = 0; i < len;) {
        unsigned char c = p[i];
        if (c < 0x80) {
            const char *esc = NULL;
            switch (c) {
            case '"':
                esc = "\\\"";
                break;
            case '\\':
                esc = "\\\\";
                break;
            case '\b':
                esc = "\\b";
                break;
            case '\f':
                esc = "\\f";
                break;
            case '\n':
                esc = "\\n";
                break;
            case '\r':
                esc = "\\r";
                break;
            case '\t':
                esc = "\\t";
                break;
            default:
                break;
            }
            if (esc != NULL) {
                memcpy(out + o, esc, 2);
                o += 2;
            } else if (c < 0x20 || c == 0x7f) {
                memcpy(out + o, "\\u00", 4);
                out[o + 4] = hexdig[c >> 4];
                out[o + 5] = hexdig[c & 15];
                o += 6;
            } else {
                out[o++] = (char)c;
            }
            i++;
            continue;
        }
        int n = utf8_sequence(p + i, len - i);
        if (n > 0) {
            memcpy(out + o, p + i, (size_t)n);
            o += (size_t)n;
            i += (size_t)n;
        } else {
            memcpy(out + o, "\xef\xbf\xbd", 3); /* U+FFFD */
            o += 3;
            i += (size_t)-n;
        }
    }
    out[o++] = '"';
    out[o++] = '\n';
    *out_len = o;
    return out;
}

char *kiwi_format_message(enum kiwi_format format, const char *data, size_t len,
                          size_t *out_len)
{
    const unsigned char *p = (const unsigned char *)data;
    char *out;
    switch (format) {
    case KIWI_JSON:
        return format_json(p, len, out_len);
    case KIWI_HEX: {
        static const char hexdig[] = "0123456789abcdef";
        if (len > (SIZE_MAX - 1) / 2) {
            return NULL;
        }
        out = malloc(len * 2 + 1);
        if (out == NULL) {
            return NULL;
        }
        for (size_t i = 0; i < len; i++) {
            out[2 * i] = hexdig[p[i] >> 4];
            out[2 * i + 1] = hexdig[p[i] & 15];
        }
        out[len * 2] = '\n';
        *out_len = len * 2 + 1;
        return out;
    }
    case KIWI_RAW:
    case KIWI_TEXT:
    default:
        out = malloc(len + 1);
        if (out == NULL) {
            return NULL;
        }
        if (len > 0) {
            memcpy(out, data, len);
        }
        *out_len = len;
        if (format == KIWI_TEXT) {
            out[len] = '\n';
            *out_len = len + 1;
        }
        return out;
    }
}

int kiwi_write_message(int fd, enum kiwi_format format, const char *data,
                       size_t len)
{
    /* Text and raw need no copy: write the payload, then the newline. */
    if (format == KIWI_TEXT || format == KIWI_RAW) {
        if (kiwi_write_all(fd, data, len) < 0) {
            return -1;
        }
        return format == KIWI_TEXT ? kiwi_write_all(fd, "\n", 1) : 0;
    }
    size_t n;
    char *out = kiwi_format_message(format, data, len, &n);
    if (out == NULL) {
        errno = ENOMEM;
        return -1;
    }
    int rc = kiwi_write_all(fd, out, n);
    int saved = errno;
    free(out);
    errno = saved;
    return rc;
}
