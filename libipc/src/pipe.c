/*
 * pipe.c - sending and receiving frames on a connected stream.
 *
 * Send writes header and payload in one OS write where it can. Recv drives
 * the decoder (frame.h), which reads small frames through its own buffer
 * and large payloads straight into the message. All state of a half-done
 * frame (either direction) lives with the pipe, so a timeout or an
 * interrupt never loses, splices or repeats bytes:
 * - a recv that ends mid-message leaves what arrived in the decoder, and
 *   the next recv continues the same frame;
 * - a send that ends mid-frame keeps a copy of the unsent rest (at most
 *   that message), and the pipe writes it before anything else: at the
 *   start of the next send, recv or ipc_flush, and as far as the peer takes
 *   it without waiting at close. The caller's message is then committed:
 *   it arrives whole, and nobody has to send it again.
 * Send many writes the frames of a batch of messages together, and holds
 * to the same rule per message: the one a timeout cuts is committed and
 * its rest kept; those after it are not sent.
 */
#include "pipe.h"

#include "error.h"
#include "frame.h"
#include "wait.h"

#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ipc__pipe {
    struct ipc__stream s;
    atomic_int closing; /* ipc_close() was called */
    atomic_int broken;  /* a protocol error happened; see broken_why */
    char broken_why[192];
    const char *name; /* the pipe's name and path, for messages */
    const char *path;

    ipc__mutex send_lock;
    unsigned char *rest; /* the unsent rest of a committed frame, or NULL */
    size_t rest_len;     /* its length */
    size_t rest_done;    /* bytes of it written since */
    long rest_owner;     /* the process that committed it (see fork) */
    atomic_int has_rest; /* rest != NULL, readable without send_lock */

    ipc__mutex recv_lock;
    ipc__decoder *dec;
};

/* Write as much of the kept rest as the peer takes now, without waiting. */
static void flush_rest_now(struct ipc__pipe *p);

/* Whether this process committed the kept rest. After fork() parent and
 * child share the stream but each holds a copy of the rest: if both wrote
 * it the peer would get its bytes twice. Only the committing process
 * writes it; in any other the rest is not there to finish, and nothing may
 * be sent on the stream (it would land in the middle of that frame). */
static int rest_is_ours(const struct ipc__pipe *p)
{
    return p->rest_owner == ipc__os_process_id();
}

static void pipe_free(void *obj)
{
    struct ipc__pipe *p = obj;
    if (p->rest != NULL && !atomic_load(&p->closing) && rest_is_ours(p)) {
        flush_rest_now(p);
    }
    ipc__os_stream_close(&p->s);
    ipc__dec_free(p->dec);
    ipc__mutex_destroy(&p->send_lock);
    ipc__mutex_destroy(&p->recv_lock);
    free(p->rest);
    free(p);
}

int ipc__pipe_new(struct ipc__stream *s, const char *name, const char *path,
                  struct ipc__pipe **out)
{
    size_t nlen = strlen(name) + 1, plen = strlen(path) + 1;
    /* The names live right after the struct: one allocation. */
    struct ipc__pipe *p = calloc(1, sizeof(*p) + nlen + plen);
    ipc__decoder *d = ipc__dec_new();
    if (p == NULL || d == NULL) {
        free(p);
        ipc__dec_free(d);
        ipc__os_stream_close(s);
        return IPC_ENOMEM;
    }
    char *names = (char *)(p + 1);
    memcpy(names, name, nlen);
    memcpy(names + nlen, path, plen);
    p->name = names;
    p->path = names + nlen;
    p->s = *s;
    p->dec = d;
    ipc__mutex_init(&p->send_lock);
    ipc__mutex_init(&p->recv_lock);
    *out = p;
    return 0;
}

static void pipe_wake(void *obj)
{
    struct ipc__pipe *p = obj;
    atomic_store(&p->closing, 1);
    ipc__os_stream_wake(&p->s);
}

static int pipe_fd(const void *obj)
{
    const struct ipc__pipe *p = obj;
    return ipc__os_stream_fd(&p->s);
}

static const char *pipe_name(const void *obj)
{
    return ((const struct ipc__pipe *)obj)->name;
}

static const char *pipe_path(const void *obj)
{
    return ((const struct ipc__pipe *)obj)->path;
}

const struct ipc__kind ipc__pipe_kind = {
    .name = "pipe",
    .destroy = pipe_free,
    .wake = pipe_wake,
    .fd = pipe_fd,
    .pipe_name = pipe_name,
    .path = pipe_path,
};

void ipc__pipe_set_max(struct ipc__pipe *p, size_t max)
{
    /* Not under recv_lock: a thread blocked in recv holds it. The decoder
     * takes the limit from any thread. */
    ipc__dec_set_max(p->dec, max);
}

/* Who is failing: `call(h) on "name" (path): ...` in messages. */
static struct ipc__who who_of(const struct ipc__pipe *p, const char *call,
                              int h)
{
    struct ipc__who who = {call, h, p->name, p->path};
    return who;
}

static int broken_status(struct ipc__pipe *p, const struct ipc__who *who)
{
    return ipc__fail_who(IPC_EPROTO, 0, who,
                         "the pipe is broken by an earlier protocol error "
                         "(%s)",
                         p->broken_why);
}

/* The pipe's send or receive lock was not had in time: another call of
 * the same kind holds it while it waits for the peer. */
static int busy_status(int rc, const struct ipc__who *who)
{
    if (rc == IPC_EINVAL) {
        return ipc__fail_who(rc, 0, who,
                             "called from the interrupt hook (a signal "
                             "handler) while a %s on this pipe waits; it "
                             "would wait for itself",
                             who->call);
    }
    return ipc__fail_who(rc, 0, who,
                         "%s while another thread's %s on this pipe waited "
                         "for the peer; nothing was done",
                         rc == IPC_EINTR ? "interrupted" : "timed out",
                         who->call);
}

static int closed_status(const struct ipc__who *who)
{
    return ipc__fail_who(IPC_ECLOSED, 0, who, "the handle was closed");
}

/* ---- send -------------------------------------------------------------- */

/* A write failed for good (not a timeout or interrupt): word it. */
static int write_failed(struct ipc__pipe *p, const struct ipc__who *who, int rc)
{
    if (atomic_load(&p->closing)) {
        return closed_status(who);
    }
    if (rc == IPC_ECLOSED) {
        return ipc__fail_who(IPC_ECLOSED, 0, who, "the peer closed the pipe");
    }
    return rc; /* recorded by the backend */
}

/* The peer has gone, or the pipe broke: a kept rest can never be sent. */
static void drop_rest(struct ipc__pipe *p)
{
    free(p->rest);
    p->rest = NULL;
    p->rest_len = p->rest_done = 0;
    atomic_store(&p->has_rest, 0);
}

/* Finish the kept rest within `u` (send_lock held). 0 when it is all
 * written (or there is none); else the status, worded for `who`. */
static int finish_rest(struct ipc__pipe *p, const struct ipc__who *who,
                       const struct ipc__until *u)
{
    if (p->rest == NULL) {
        return 0;
    }
    if (!rest_is_ours(p)) {
        return ipc__fail_who(IPC_EINVAL, 0, who,
                             "the rest of a message committed by process %ld "
                             "is still to be written, and only that process "
                             "writes it (this is process %ld, forked from "
                             "it?); nothing of this call's was done",
                             p->rest_owner, ipc__os_process_id());
    }
    struct ipc__seg seg = {p->rest, p->rest_len};
    struct ipc__out out = {&seg, 1, p->rest_done};
    int rc = ipc__os_write(&p->s, who, &out, u);
    p->rest_done = out.done;
    if (rc == 0) {
        drop_rest(p);
        return 0;
    }
    if (rc == IPC_ETIMEDOUT || rc == IPC_EINTR) {
        const char *why = rc == IPC_EINTR ? "interrupted" : "timed out";
        size_t left = p->rest_len - p->rest_done;
        if (left == 0) {
            /* All of it handed to the OS; a backend that writes from a
             * buffer of its own (Windows) still waits for the last part. */
            return ipc__fail_who(rc, 0, who,
                                 "%s while the last part of an earlier "
                                 "message was on its way to the peer; "
                                 "nothing of this call's was done",
                                 why);
        }
        return ipc__fail_who(rc, 0, who,
                             "%s while finishing an earlier message (%zu "
                             "bytes of it still to go, kept for the next "
                             "call); nothing of this call's was done",
                             why, left);
    }
    drop_rest(p);
    return write_failed(p, who, rc);
}

static void flush_rest_now(struct ipc__pipe *p)
{
    /* What the peer takes now; the rest goes with the pipe. Not through
     * finish_rest(): a close that succeeds records no failure. */
    struct ipc__until now = {.deadline = ipc__os_now_ms(), .hook = NULL};
    struct ipc__who who = who_of(p, "close", 0);
    struct ipc__seg seg = {p->rest, p->rest_len};
    struct ipc__out out = {&seg, 1, p->rest_done};
    (void)ipc__os_write(&p->s, &who, &out, &now);
}

/* The frame of `hdr` and `data` (len bytes) stopped after `done` bytes
 * (0 < done < its size): keep a copy of the rest, so the message is
 * committed. Returns 0, or IPC_ENOMEM (the pipe is then broken: the peer
 * has part of a frame that can never be finished). */
static int keep_rest(struct ipc__pipe *p, const struct ipc__who *who,
                     const unsigned char *hdr, const void *data, size_t len,
                     size_t done)
{
    size_t total = IPC__HEADER_SIZE + len;
    size_t n = total - done;
    unsigned char *rest = malloc(n);
    if (rest == NULL) {
        snprintf(p->broken_why, sizeof(p->broken_why),
                 "a send stopped after %zu of %zu bytes of its frame and "
                 "there was no memory to keep the rest",
                 done, total);
        atomic_store(&p->broken, 1);
        return ipc__fail_who(IPC_ENOMEM, 0, who, "%s", p->broken_why);
    }
    size_t at = 0;
    if (done < IPC__HEADER_SIZE) {
        at = IPC__HEADER_SIZE - done;
        memcpy(rest, hdr + done, at);
    }
    size_t off = done < IPC__HEADER_SIZE ? 0 : done - IPC__HEADER_SIZE;
    if (len > off) {
        memcpy(rest + at, (const unsigned char *)data + off, len - off);
    }
    p->rest = rest;
    p->rest_len = n;
    p->rest_done = 0;
    p->rest_owner = ipc__os_process_id();
    atomic_store(&p->has_rest, 1);
    return 0;
}

static int send_frame(struct ipc__pipe *p, const struct ipc__who *who,
                      const void *data, size_t len, const struct ipc__until *u)
{
    unsigned char hdr[IPC__HEADER_SIZE];
    ipc__frame_header(hdr, len);
    struct ipc__seg seg[2] = {{hdr, sizeof(hdr)}, {data, len}};
    struct ipc__out out = {seg, 2, 0};
    int rc = ipc__os_write(&p->s, who, &out, u);
    if (rc == 0) {
        return 0;
    }
    if (rc != IPC_ETIMEDOUT && rc != IPC_EINTR) {
        return write_failed(p, who, rc);
    }
    if (out.done == 0) {
        return ipc__fail_who(rc, 0, who, "%s; nothing was sent",
                             rc == IPC_EINTR ? "interrupted" : "timed out");
    }
    /* Part of the frame is out: the message is committed. */
    size_t total = sizeof(hdr) + len, done = out.done;
    int kept = keep_rest(p, who, hdr, data, len, done);
    if (kept != 0 || rc == IPC_ETIMEDOUT) {
        return kept;
    }
    /* The hook asked to stop: say so, and that the message goes on. */
    return ipc__fail_who(IPC_EINTR, 0, who,
                         "interrupted after %zu of %zu bytes of the frame; "
                         "the message is committed: the rest is kept and "
                         "sent before anything else",
                         done, total);
}

int ipc__pipe_send(struct ipc__pipe *p, int h, const void *data, size_t len,
                   int timeout_ms)
{
    struct ipc__who who = who_of(p, "send", h);
    if (len > IPC_MAX_MESSAGE) {
        return ipc__fail_who(IPC_ETOOBIG, 0, &who,
                             "a message of %zu bytes exceeds the protocol's "
                             "limit of %d bytes",
                             len, IPC_MAX_MESSAGE);
    }
    if (data == NULL && len != 0) {
        return ipc__fail_who(IPC_EINVAL, 0, &who, "data is NULL");
    }
    struct ipc__until u;
    ipc__until_init(&u, timeout_ms);
    int rc = ipc__lock(&p->send_lock, &u);
    if (rc != 0) {
        return busy_status(rc, &who);
    }
    if (atomic_load(&p->broken)) {
        rc = broken_status(p, &who);
    } else if ((rc = finish_rest(p, &who, &u)) == 0) {
        rc = send_frame(p, &who, data, len, &u);
    }
    ipc__mutex_unlock(&p->send_lock);
    return rc;
}

/* Messages per write: their headers live on the stack, and a batch this
 * size already makes the system call a small part of each message's
 * cost. The OS layer splits a write further if it must. */
#define SEND_BATCH 64

/* Check every message before anything is sent: the call is refused whole
 * rather than stopped at a bad message. */
static int check_many(const struct ipc__who *who, const struct ipc_msg *msgs,
                      size_t count)
{
    if (count > INT_MAX) {
        return ipc__fail_who(IPC_EINVAL, 0, who,
                             "%zu messages is more than one call counts "
                             "(at most %d)",
                             count, INT_MAX);
    }
    if (msgs == NULL && count != 0) {
        return ipc__fail_who(IPC_EINVAL, 0, who, "msgs is NULL");
    }
    for (size_t i = 0; i < count; i++) {
        if (msgs[i].len > IPC_MAX_MESSAGE) {
            return ipc__fail_who(IPC_ETOOBIG, 0, who,
                                 "message %zu of %zu bytes exceeds the "
                                 "protocol's limit of %d bytes; nothing was "
                                 "sent",
                                 i, msgs[i].len, IPC_MAX_MESSAGE);
        }
        if (msgs[i].data == NULL && msgs[i].len != 0) {
            return ipc__fail_who(IPC_EINVAL, 0, who,
                                 "message %zu: data is NULL; nothing was sent",
                                 i);
        }
    }
    return 0;
}

/*
 * Write msgs[0..k) (k <= SEND_BATCH) in one go. Returns 0 with *sent = k,
 * or the status that stopped it with *sent the messages committed: those
 * written whole, and one written in part whose rest is now kept.
 */
static int send_batch(struct ipc__pipe *p, const struct ipc__who *who,
                      const struct ipc_msg *msgs, size_t k,
                      const struct ipc__until *u, size_t *sent)
{
    unsigned char hdr[SEND_BATCH][IPC__HEADER_SIZE];
    struct ipc__seg seg[2 * SEND_BATCH];
    for (size_t j = 0; j < k; j++) {
        ipc__frame_header(hdr[j], msgs[j].len);
        seg[2 * j].p = hdr[j];
        seg[2 * j].len = IPC__HEADER_SIZE;
        seg[2 * j + 1].p = msgs[j].data;
        seg[2 * j + 1].len = msgs[j].len;
    }
    struct ipc__out out = {seg, 2 * k, 0};
    int rc = ipc__os_write(&p->s, who, &out, u);
    if (rc == 0) {
        *sent = k;
        return 0;
    }
    /* Which message the write stopped in, and how far into its frame. */
    size_t j = 0, at = out.done;
    while (j < k && at >= IPC__HEADER_SIZE + msgs[j].len) {
        at -= IPC__HEADER_SIZE + msgs[j].len;
        j++;
    }
    *sent = j;
    if (rc != IPC_ETIMEDOUT && rc != IPC_EINTR) {
        return write_failed(p, who, rc);
    }
    if (at > 0) {
        /* Part of message j is out: it is committed, as in send_frame. */
        int kept = keep_rest(p, who, hdr[j], msgs[j].data, msgs[j].len, at);
        if (kept != 0) {
            return kept;
        }
        *sent = j + 1;
    }
    return rc;
}

int ipc__pipe_send_many(struct ipc__pipe *p, int h, const struct ipc_msg *msgs,
                        size_t count, int timeout_ms)
{
    struct ipc__who who = who_of(p, "send_many", h);
    int rc = check_many(&who, msgs, count);
    if (rc != 0 || count == 0) {
        return rc;
    }
    struct ipc__until u;
    ipc__until_init(&u, timeout_ms);
    rc = ipc__lock(&p->send_lock, &u);
    if (rc != 0) {
        return busy_status(rc, &who);
    }
    size_t sent = 0;
    int batched = 0; /* the batches began (a stop is worded here) */
    if (atomic_load(&p->broken)) {
        rc = broken_status(p, &who);
    } else if ((rc = finish_rest(p, &who, &u)) == 0) {
        batched = 1;
        while (sent < count) {
            size_t k = count - sent < SEND_BATCH ? count - sent : SEND_BATCH;
            size_t got = 0;
            rc = send_batch(p, &who, msgs + sent, k, &u, &got);
            sent += got;
            if (rc != 0) {
                break;
            }
        }
    }
    ipc__mutex_unlock(&p->send_lock);
    if (batched && (rc == IPC_ETIMEDOUT || rc == IPC_EINTR)) {
        /* Say what was done: the count alone returns when it is not 0. */
        const char *why = rc == IPC_EINTR ? "interrupted" : "timed out";
        if (sent == 0) {
            rc = ipc__fail_who(rc, 0, &who, "%s; nothing was sent", why);
        } else {
            (void)ipc__fail_who(rc, 0, &who,
                                "%s after %zu of %zu messages were committed "
                                "(the last of them may be partly written: "
                                "its rest is kept and sent before anything "
                                "else); the others were not sent",
                                why, sent, count);
        }
    }
    return sent > 0 ? (int)sent : rc;
}

int ipc__pipe_flush(struct ipc__pipe *p, int h, int timeout_ms)
{
    struct ipc__who who = who_of(p, "flush", h);
    if (!atomic_load(&p->has_rest)) {
        return 0;
    }
    struct ipc__until u;
    ipc__until_init(&u, timeout_ms);
    int rc = ipc__lock(&p->send_lock, &u);
    if (rc != 0) {
        return busy_status(rc, &who);
    }
    rc = finish_rest(p, &who, &u);
    ipc__mutex_unlock(&p->send_lock);
    return rc;
}

/* ---- recv -------------------------------------------------------------- */

static int break_pipe(struct ipc__pipe *p, const struct ipc__who *who,
                      const char *why)
{
    snprintf(p->broken_why, sizeof(p->broken_why), "%s", why);
    atomic_store(&p->broken, 1);
    return ipc__fail_who(IPC_EPROTO, 0, who, "%s", why);
}

static int at_eof(struct ipc__pipe *p, const struct ipc__who *who)
{
    if (atomic_load(&p->closing)) {
        return closed_status(who);
    }
    if (ipc__dec_at_boundary(p->dec)) {
        return ipc__fail_who(IPC_ECLOSED, 0, who, "the peer closed the pipe");
    }
    struct ipc__dec_info d;
    ipc__dec_inspect(p->dec, &d);
    char why[160];
    if (d.state == IPC__DEC_HEADER) {
        snprintf(why, sizeof(why),
                 "the peer closed the pipe after %zu of 4 header bytes",
                 d.hdr_have);
    } else {
        snprintf(why, sizeof(why),
                 "the peer closed the pipe after %zu of a %zu-byte message",
                 d.have, d.need);
    }
    return break_pipe(p, who, why);
}

/* Word a failure of ipc__dec_next(). */
static int decode_failed(struct ipc__pipe *p, const struct ipc__who *who,
                         int rc, int with_alloc)
{
    struct ipc__dec_info d;
    ipc__dec_inspect(p->dec, &d);
    if (rc == IPC_EPROTO) {
        char why[96];
        snprintf(why, sizeof(why),
                 "negative message length in header %02x %02x %02x %02x",
                 d.hdr[0], d.hdr[1], d.hdr[2], d.hdr[3]);
        return break_pipe(p, who, why);
    }
    if (rc == IPC_ETOOBIG) {
        return ipc__fail_who(rc, 0, who,
                             "a message of %zu bytes exceeds this pipe's "
                             "limit of %zu bytes; it is skipped",
                             d.need, d.max);
    }
    if (with_alloc) {
        return ipc__fail_who(rc, 0, who,
                             "no memory for a %zu-byte message (the "
                             "allocator returned NULL); it is kept for the "
                             "next recv",
                             d.need);
    }
    return ipc__fail_who(rc, 0, who, "no memory for a %zu-byte message",
                         d.need);
}

/* The call ends mid-message (timeout, interrupt): word it. */
static int wait_ended(struct ipc__pipe *p, const struct ipc__who *who, int rc)
{
    const char *what = rc == IPC_EINTR ? "interrupted" : "timed out";
    if (ipc__dec_at_boundary(p->dec)) {
        return ipc__fail_who(rc, 0, who, "%s", what);
    }
    return ipc__fail_who(rc, 0, who,
                         "%s in the middle of a message; what arrived is "
                         "kept for the next recv",
                         what);
}

/* Read until the decoder hands over a message (IPC__DEC_FRAME) or fails;
 * every failure is worded here. */
static int recv_frame(struct ipc__pipe *p, const struct ipc__who *who,
                      struct ipc__dec_io *io, const struct ipc__until *u)
{
    for (;;) {
        int rc = ipc__dec_next(p->dec, io);
        if (rc != IPC__DEC_MORE) {
            return rc < 0 ? decode_failed(p, who, rc, io->alloc != NULL) : rc;
        }
        long n = ipc__os_read(&p->s, who, io->where, io->room, u);
        if (n > 0) {
            io->got = (size_t)n;
        } else if (n == 0) {
            return at_eof(p, who);
        } else if (n == IPC_ETIMEDOUT || n == IPC_EINTR) {
            return wait_ended(p, who, (int)n);
        } else {
            return (int)n; /* recorded by the backend */
        }
    }
}

/* A recv finishes a kept rest first, so that a request whose send ran out
 * of time still reaches the peer before we wait for its reply. Another
 * thread holding the send lock will finish it itself. */
static int recv_finishes_rest(struct ipc__pipe *p, const struct ipc__who *who,
                              const struct ipc__until *u)
{
    if (!ipc__mutex_trylock(&p->send_lock)) {
        return 0;
    }
    if (!rest_is_ours(p)) {
        /* Another process's to write (fork): receiving is not sending. */
        ipc__mutex_unlock(&p->send_lock);
        return 0;
    }
    int rc = finish_rest(p, who, u);
    ipc__mutex_unlock(&p->send_lock);
    return rc;
}

/*
 * ipc_recv (alloc NULL: into the decoder's own buffer, handed over in
 * *data) and ipc_recv_alloc (into alloc's buffer): the same receive, but
 * for where the payload goes and what a call that ends mid-message leaves.
 */
static inline __attribute__((always_inline)) int
pipe_recv(struct ipc__pipe *p, int h, ipc_alloc_fn alloc, void *ctx,
          void **data, size_t *len, int timeout_ms)
{
    struct ipc__who who = who_of(p, "recv", h);
    struct ipc__until u;
    ipc__until_init(&u, timeout_ms);
    int rc = ipc__lock(&p->recv_lock, &u);
    if (rc != 0) {
        return busy_status(rc, &who);
    }
    if (atomic_load(&p->broken)) {
        rc = broken_status(p, &who);
    } else if (atomic_load_explicit(&p->has_rest, memory_order_relaxed) &&
               (rc = recv_finishes_rest(p, &who, &u)) != 0) {
        /* worded by finish_rest */
    } else {
        struct ipc__dec_io io = {.alloc = alloc, .ctx = ctx};
        rc = recv_frame(p, &who, &io, &u);
        if (rc == IPC__DEC_FRAME) {
            *data = io.data;
            *len = io.len;
            rc = 0;
        } else if (alloc != NULL &&
                   ipc__dec_leave(p->dec, !atomic_load(&p->broken)) != 0) {
            /* The caller takes its buffer back; without memory to keep the
             * part that arrived, the stream cannot be resumed. */
            rc = break_pipe(p, &who,
                            "no memory to keep the part of a message that "
                            "arrived before the call ended");
        }
    }
    ipc__mutex_unlock(&p->recv_lock);
    return rc;
}

int ipc__pipe_recv(struct ipc__pipe *p, int h, void **data, size_t *len,
                   int timeout_ms)
{
    return pipe_recv(p, h, NULL, NULL, data, len, timeout_ms);
}

int ipc__pipe_recv_alloc(struct ipc__pipe *p, int h, ipc_alloc_fn alloc,
                         void *ctx, size_t *len, int timeout_ms)
{
    void *unused;
    return pipe_recv(p, h, alloc, ctx, &unused, len, timeout_ms);
}

int ipc__pipe_recv_held(struct ipc__pipe *p, int h, ipc_alloc_fn alloc,
                        void *ctx, size_t *len)
{
    /* Never waits: a recv under way in another thread takes the messages
     * itself. A kept rest of a send is not this call's to write either:
     * the message is here already, nothing waits for the peer. */
    if (!ipc__mutex_trylock(&p->recv_lock)) {
        return 0;
    }
    int rc = 0;
    if (!atomic_load(&p->broken)) {
        struct ipc__dec_io io = {.alloc = alloc, .ctx = ctx};
        rc = ipc__dec_take_held(p->dec, &io);
        if (rc == IPC__DEC_FRAME) {
            *len = io.len;
            rc = 1;
        } else if (rc != 0) {
            struct ipc__who who = who_of(p, "recv_held", h);
            rc = decode_failed(p, &who, rc, 1);
        }
    }
    ipc__mutex_unlock(&p->recv_lock);
    return rc;
}

/* ---- who is on the other end ------------------------------------------ */
/* ---- many pipes at once (see pipe.h) ----------------------------------- */

/* Push a kept rest without waiting (send_lock free): 0, or IPC_ECLOSED
 * when the peer has gone (the rest is dropped). */
static int push_rest(struct ipc__pipe *p, int h)
{
    if (!atomic_load(&p->has_rest) || !ipc__mutex_trylock(&p->send_lock)) {
        return 0;
    }
    struct ipc__until now = {.deadline = ipc__os_now_ms(), .hook = NULL};
    struct ipc__who who = who_of(p, "poll", h);
    int rc = finish_rest(p, &who, &now);
    ipc__mutex_unlock(&p->send_lock);
    return rc == IPC_ETIMEDOUT ? 0 : rc;
}

/* With the receive lock held: take what the stream has, without waiting,
 * into the decoder. Returns IPC_POLL* bits: IPC_POLLIN|IPC_POLLHUP at the
 * end of the stream, IPC_POLLIN|IPC_POLLERR on a read error (a recv will
 * report it), else 0. */
static int read_ahead(struct ipc__pipe *p, int h)
{
    void *where;
    size_t room;
    int rc = ipc__dec_read_space(p->dec, &where, &room);
    if (rc != IPC__DEC_MORE) {
        return IPC_POLLIN | IPC_POLLERR; /* no memory: recv says so */
    }
    struct ipc__until now = {.deadline = ipc__os_now_ms(), .hook = NULL};
    struct ipc__who who = who_of(p, "poll", h);
    long n = ipc__os_read(&p->s, &who, where, room, &now);
    if (n > 0) {
        ipc__dec_account(p->dec, (size_t)n);
        return 0;
    }
    if (n == 0) {
        return IPC_POLLIN | IPC_POLLHUP;
    }
    if (n == IPC_ETIMEDOUT || n == IPC_EINTR) {
        return 0;
    }
    return IPC_POLLIN | IPC_POLLERR;
}

int ipc__pipe_poll(struct ipc__pipe *p, int h, int events, int os, int *want)
{
    int out = 0;
    if (atomic_load(&p->broken)) {
        *want = 0;
        return IPC_POLLIN | IPC_POLLERR;
    }
    if (os & (IPC_POLLOUT | IPC_POLLHUP | IPC_POLLERR)) {
        if (push_rest(p, h) == IPC_ECLOSED) {
            out |= IPC_POLLHUP;
        }
    }
    int rest = atomic_load(&p->has_rest);
    if ((events & IPC_POLLOUT) && (os & IPC_POLLOUT) && !rest) {
        out |= IPC_POLLOUT;
    }
    if (os & (IPC_POLLHUP | IPC_POLLERR)) {
        out |= os & (IPC_POLLHUP | IPC_POLLERR);
    }
    int in_wait = 0;
    if (events & IPC_POLLIN) {
        if (!ipc__mutex_trylock(&p->recv_lock)) {
            out |= IPC__POLL_BUSY;
        } else {
            int ready = ipc__dec_ready(p->dec);
            if (!ready && (os & (IPC_POLLIN | IPC_POLLHUP | IPC_POLLERR))) {
                int got = read_ahead(p, h);
                out |= got & ~IPC_POLLIN;
                ready = (got & IPC_POLLIN) || ipc__dec_ready(p->dec);
            }
            ipc__mutex_unlock(&p->recv_lock);
            if (ready && !rest) {
                out |= IPC_POLLIN;
            } else if (!ready) {
                in_wait = IPC_POLLIN;
            }
        }
    }
    *want = in_wait | ((rest || (events & IPC_POLLOUT)) ? IPC_POLLOUT : 0);
    return out;
}

const struct ipc__stream *ipc__pipe_stream(const struct ipc__pipe *p)
{
    return &p->s;
}
