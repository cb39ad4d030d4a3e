/*
 * frame.h - the frame codec: bytes in, messages out, no I/O.
 *
 * A frame is a 4-byte big-endian signed length N (0 <= N <= 2^31-1) and N
 * payload bytes. The decoder is fed whatever bytes arrived, in any chunking,
 * and hands back whole messages. Keeping it free of sockets makes hostile
 * input testable byte by byte (tests_c/test_frame.c, the fuzzer).
 *
 * The receive loop (pipe.c) drives it through one call, which sees a small
 * result (IPC__DEC_MORE: read more bytes; IPC__DEC_FRAME: a message was
 * handed over; a negative IPC_E* status):
 *
 *     struct ipc__dec_io io = {.alloc = alloc, .ctx = ctx};
 *     while ((rc = ipc__dec_next(d, &io)) == IPC__DEC_MORE)
 *         io.got = read(io.where, io.room);
 *
 * The decoder owns a read buffer through which small frames come in about
 * one read each; a frame that is already whole in it is handed over with
 * one copy, without the state machine. A large payload is read straight
 * into the message's buffer instead. All of this lives here, so the fuzzer
 * drives exactly what pipe.c uses.
 *
 * Memory: the decoder never allocates for bytes that have not arrived. Its
 * payload buffer holds at most the bytes received so far plus `grow` (plus
 * one NUL), so a header announcing 2 GiB costs nothing until the bytes come.
 *
 * A payload can instead go into a buffer of the caller's, sized once the
 * header is known (ipc_recv_alloc): with an allocator, ipc__dec_next() asks
 * for it at the start of each payload, and ipc__dec_leave() hands the bytes
 * back to a buffer of the decoder's own if the caller has to leave with the
 * frame unfinished. Such a payload then goes on in that buffer, and the
 * caller's is asked for only once it is complete: one copy per message,
 * however many calls it takes (a copy per call made loops of short
 * timeouts quadratic).
 *
 * The state machine's own steps (ipc__dec_feed and friends, below) stay
 * visible for the unit tests of its every chunking.
 */
#ifndef IPC__FRAME_H
#define IPC__FRAME_H

#include "kiwi_ipc.h"

#include <stddef.h>
#include <stdint.h>

#define IPC__HEADER_SIZE 4

/* Default step by which a large payload buffer grows ahead of the data. */
#define IPC__DEC_GROW (1u << 20)

/* Results that are not errors (errors are IPC_E*). */
enum { IPC__DEC_MORE = 1, IPC__DEC_FRAME = 2, IPC__DEC_NEED_BUF = 3 };

enum ipc__dec_state {
    IPC__DEC_HEADER,  /* collecting the 4 header bytes */
    IPC__DEC_PAYLOAD, /* collecting `need` payload bytes */
    IPC__DEC_SKIP,    /* discarding an over-long message's payload */
    IPC__DEC_READY,   /* a whole message waits to be handed over */
    IPC__DEC_BROKEN   /* a protocol error happened; nothing more decodes */
};

typedef struct ipc__decoder ipc__decoder; /* private to frame.c */

/* A look at the decoder, for error messages and tests. */
struct ipc__dec_info {
    enum ipc__dec_state state;
    unsigned char hdr[IPC__HEADER_SIZE]; /* the last header's bytes */
    size_t hdr_have;                     /* header bytes collected */
    size_t need;     /* payload length of the current frame */
    size_t have;     /* payload bytes collected (or skipped) */
    size_t max;      /* longest message accepted */
    size_t grow;     /* see IPC__DEC_GROW */
    const void *ext; /* the caller's buffer for this payload, or NULL */
    size_t buffered; /* bytes read but not yet decoded */
};

/* Header of a frame carrying `len` (<= IPC_MAX_MESSAGE) bytes. */
void ipc__frame_header(unsigned char out[IPC__HEADER_SIZE], size_t len);

/* A new decoder (NULL: out of memory), and its end. */
ipc__decoder *ipc__dec_new(void);
void ipc__dec_free(ipc__decoder *d);

/* Longer messages are skipped (IPC_ETOOBIG); default IPC_MAX_MESSAGE.
 * Safe from any thread, also while another one is in ipc__dec_next(): the
 * limit applies from the next header on. */
void ipc__dec_set_max(ipc__decoder *d, size_t max);
void ipc__dec_set_grow(ipc__decoder *d, size_t grow);
void ipc__dec_inspect(const ipc__decoder *d, struct ipc__dec_info *out);

/* ---- the receive loop's calls ------------------------------------------ */

/* One call of the receive loop: what goes in, what comes out. */
struct ipc__dec_io {
    ipc_alloc_fn alloc; /* in: NULL, or where each message goes (below) */
    void *ctx;          /* in: alloc's */
    size_t got;         /* in: bytes read into `where` since the last call
                           (0 on the first) */
    void *where;        /* out, IPC__DEC_MORE: read up to `room` bytes */
    size_t room;        /*   here, then call again with `got` set */
    void *data;         /* out, IPC__DEC_FRAME: the message */
    size_t len;
};

/*
 * Account for the io->got bytes just read, then hand over the next message
 * if the bytes read so far hold all of it. Without io->alloc the message
 * goes to io->data (malloc'd, a NUL after the payload, the caller frees
 * it); with io->alloc, alloc(ctx, length) is asked once, as soon as the
 * header is known, and the payload is written there; but for a payload of
 * which the decoder's own buffer already holds bytes (an earlier call left
 * it unfinished), once it is complete, and the bytes are copied there.
 * io->len gets the length. Returns
 *   IPC__DEC_FRAME  a message was handed over;
 *   IPC__DEC_MORE   read more bytes: up to io->room at io->where;
 *   IPC_ETOOBIG     a header announced more than the max; its payload is
 *                   skipped by later calls;
 *   IPC_EPROTO      a negative length: the decoder is broken for good;
 *   IPC_ENOMEM      no memory for the message or the read buffer, or
 *                   alloc returned NULL; nothing is lost, the same call may
 *                   be made again.
 * io->got is consumed (set to 0) whatever the result.
 */
int ipc__dec_next(ipc__decoder *d, struct ipc__dec_io *io);

/*
 * Hand over the next message only when its whole frame is already in the
 * read buffer (at a frame boundary, within the limit): IPC__DEC_FRAME as
 * from ipc__dec_next(); 0 when not (nothing changes: a frame still
 * arriving, one too long or negative, is left for ipc__dec_next() to
 * judge); IPC_ENOMEM when io->alloc returned NULL (nothing consumed).
 * Never asks for a read. For ipc_recv_held().
 */
int ipc__dec_take_held(ipc__decoder *d, struct ipc__dec_io *io);

/*
 * The receive call ends without a message (timeout, interrupt, error):
 * stop using the caller's buffer. With `keep`, the payload bytes written
 * there so far are copied to a buffer of the decoder's own (they have
 * arrived, so this is within the memory rule), where the payload goes on
 * (see ipc__dec_next); without, they are dropped (the stream is broken
 * anyway). Returns 0, or IPC_ENOMEM: the bytes could
 * not be kept, and the stream cannot be resumed.
 */
int ipc__dec_leave(ipc__decoder *d, int keep);

/* True when no byte of an unfinished frame is held (EOF here is clean). */
int ipc__dec_at_boundary(const ipc__decoder *d);

/* Bytes of heap held for payloads (the read buffer not counted). */
size_t ipc__dec_held(const ipc__decoder *d);

/* ---- the state machine's steps (used by the calls above) -------------- */

/*
 * Feed `len` bytes. Consumes bytes until a message is complete or the input
 * is used up, and stores the count consumed in *used. Returns
 *   IPC__DEC_FRAME  a message is ready: take it with ipc__dec_take() before
 *                   feeding more (feeding then consumes nothing);
 *   IPC__DEC_MORE   all input consumed, no message complete yet;
 *   IPC__DEC_NEED_BUF  (in ipc__dec_next() with an allocator) a payload
 *                   has begun and has no buffer yet: one is attached before
 *                   the rest is fed;
 *   IPC_ETOOBIG, IPC_EPROTO  as for ipc__dec_next();
 *   IPC_ENOMEM      no memory for the payload; nothing was consumed past
 *                   *used, so the same bytes may be fed again.
 */
int ipc__dec_feed(ipc__decoder *d, const void *bytes, size_t len, size_t *used);

/*
 * Let the caller write payload bytes straight into the message buffer.
 * Valid in state IPC__DEC_PAYLOAD only. Makes room for up to `want` more
 * bytes (never more than the frame still needs, nor more than `grow`
 * beyond what has arrived), sets *where, and returns the room (> 0), or
 * IPC_ENOMEM. After writing n bytes there, call ipc__dec_commit(d, n),
 * which returns IPC__DEC_FRAME or IPC__DEC_MORE.
 */
long ipc__dec_window(ipc__decoder *d, void **where, size_t want);
int ipc__dec_commit(ipc__decoder *d, size_t n);

/* Hand over the ready message: *data (malloc'd, NUL after the payload,
 * caller frees) and *len. Returns 0, or IPC_ENOMEM. */
int ipc__dec_take(ipc__decoder *d, void **data, size_t *len);

/* Payload bytes the current frame still needs (0 outside a payload). */
size_t ipc__dec_remaining(const ipc__decoder *d);

/* ---- many pipes at once (ipc_pending, ipc_poll) ------------------------ */

/*
 * Would ipc__dec_next() hand over a result without another read: a whole
 * frame is buffered (or decoded and waiting), or a header already read
 * says IPC_ETOOBIG or IPC_EPROTO? This is readiness as ipc_pending() and
 * ipc_poll() mean it: once bytes sit in the read buffer, the descriptor
 * alone cannot tell (it may say "nothing" while frames wait here). Reads
 * nothing, changes nothing; kept off the receive path.
 */
int ipc__dec_ready(const ipc__decoder *d);

/*
 * Read ahead without taking a message, for a poll that must find out
 * whether a whole frame has come: when ipc__dec_ready() is false, sets
 * *where and *room for one read (like IPC__DEC_MORE) and returns
 * IPC__DEC_MORE, or IPC_ENOMEM; after reading n bytes there, call
 * ipc__dec_account(d, n). The bytes stay for the next ipc__dec_next().
 */
int ipc__dec_read_space(ipc__decoder *d, void **where, size_t *room);
void ipc__dec_account(ipc__decoder *d, size_t got);

#endif
