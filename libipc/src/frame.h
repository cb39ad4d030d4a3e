/*
 * frame.h - the frame codec: bytes in, messages out, no I/O.
 *
 * A frame is a 4-byte big-endian signed length N (0 <= N <= 2^31-1) and N
 * payload bytes. The decoder is fed whatever bytes arrived, in any chunking,
 * and hands back whole messages. Keeping it free of sockets makes hostile
 * input testable byte by byte (tests_c/test_frame.c, the fuzzer).
 *
 * Memory: the decoder never allocates for bytes that have not arrived. Its
 * payload buffer holds at most the bytes received so far plus `grow` (plus
 * one NUL), so a header announcing 2 GiB costs nothing until the bytes come.
 *
 * A payload can instead go into a buffer of the caller's, sized once the
 * header is known (ipc_recv_alloc): in `lazy` mode the decoder stops at the
 * start of each payload until one is attached (ipc__dec_attach), and hands
 * the bytes back to a buffer of its own if the caller has to leave with the
 * frame unfinished (ipc__dec_detach).
 */
#ifndef IPC__FRAME_H
#define IPC__FRAME_H

#include <stddef.h>
#include <stdint.h>

#define IPC__HEADER_SIZE 4

/* Default step by which a large payload buffer grows ahead of the data. */
#define IPC__DEC_GROW (1u << 20)

/* ipc__dec_feed() results that are not errors (errors are IPC_E*). */
enum { IPC__DEC_MORE = 1, IPC__DEC_FRAME = 2, IPC__DEC_NEED_BUF = 3 };

enum ipc__dec_state {
    IPC__DEC_HEADER,  /* collecting the 4 header bytes */
    IPC__DEC_PAYLOAD, /* collecting `need` payload bytes into buf */
    IPC__DEC_SKIP,    /* discarding an over-long message's payload */
    IPC__DEC_READY,   /* a whole message waits in buf for ipc__dec_take() */
    IPC__DEC_BROKEN   /* a protocol error happened; nothing more decodes */
};

typedef struct ipc__decoder {
    enum ipc__dec_state state;
    unsigned char hdr[IPC__HEADER_SIZE];
    size_t hdr_have; /* header bytes collected */
    size_t need;     /* payload length of the current frame */
    size_t have;     /* payload bytes collected (or skipped) */
    char *buf;       /* payload buffer, cap bytes; NULL until needed */
    size_t cap;
    size_t max;  /* longest message accepted; longer ones are skipped */
    size_t grow; /* see IPC__DEC_GROW */
    char *ext;   /* the caller's buffer for this payload (need bytes), or
                    NULL; never freed here */
    int lazy;    /* wait for ipc__dec_attach() at each payload's start */
} ipc__decoder;

/* Header of a frame carrying `len` (<= IPC_MAX_MESSAGE) bytes. */
void ipc__frame_header(unsigned char out[IPC__HEADER_SIZE], size_t len);

void ipc__dec_init(ipc__decoder *d);
void ipc__dec_free(ipc__decoder *d);

/*
 * Feed `len` bytes. Consumes bytes until a message is complete or the input
 * is used up, and stores the count consumed in *used. Returns
 *   IPC__DEC_FRAME  a message is ready: take it with ipc__dec_take() before
 *                   feeding more (feeding then consumes nothing);
 *   IPC__DEC_MORE   all input consumed, no message complete yet;
 *   IPC__DEC_NEED_BUF  (lazy mode only) a payload has begun and has no
 *                   buffer: attach one, then feed the rest;
 *   IPC_ETOOBIG     a header announced more than `max`; its payload will be
 *                   skipped by later feeds (*used counts the header);
 *   IPC_EPROTO      a negative length: the decoder is broken for good;
 *   IPC_ENOMEM      no memory for the payload; nothing was consumed past
 *                   *used, so the same bytes may be fed again.
 */
int ipc__dec_feed(ipc__decoder *d, const void *bytes, size_t len, size_t *used);

/*
 * Let the caller read payload bytes straight into the message buffer (no
 * copy through an intermediate buffer). Valid in state IPC__DEC_PAYLOAD
 * only. Makes room for up to `want` more bytes (never more than the frame
 * still needs, nor more than `grow` beyond what has arrived), sets *where,
 * and returns the room (> 0), or IPC_ENOMEM. After writing n bytes there,
 * call ipc__dec_commit(d, n).
 */
long ipc__dec_window(ipc__decoder *d, void **where, size_t want);

/* Account for n bytes written into the window; returns IPC__DEC_FRAME or
 * IPC__DEC_MORE. */
int ipc__dec_commit(ipc__decoder *d, size_t n);

/*
 * Hand over the ready message: *data (malloc'd, NUL after the payload,
 * caller frees) and *len. Returns 0, or IPC_ENOMEM (an empty message needs a
 * 1-byte buffer). The decoder then waits for the next header.
 */
int ipc__dec_take(ipc__decoder *d, void **data, size_t *len);

/*
 * Put the current payload (state IPC__DEC_PAYLOAD or IPC__DEC_READY) into
 * `ext`, the caller's buffer of at least `need` bytes: the bytes held so far
 * are copied there and the decoder's own buffer is freed. From then on the
 * payload is written to `ext` only.
 */
void ipc__dec_attach(ipc__decoder *d, void *ext);

/*
 * Stop using the caller's buffer before the payload is complete: the bytes
 * written there so far are copied to a buffer of the decoder's own (they
 * have arrived, so this is within the memory rule above). Returns 0, or
 * IPC_ENOMEM (the decoder is then left without those bytes: the caller must
 * treat the stream as broken).
 */
int ipc__dec_detach(ipc__decoder *d);

/* Hand over a ready payload that was written to the attached buffer:
 * returns its length, and the decoder waits for the next header. */
size_t ipc__dec_take_ext(ipc__decoder *d);

/* True when no byte of an unfinished frame is held (EOF here is clean). */
int ipc__dec_at_boundary(const ipc__decoder *d);

/* Payload bytes the current frame still needs (0 outside a payload). */
size_t ipc__dec_remaining(const ipc__decoder *d);

/* Bytes of heap the decoder holds. */
size_t ipc__dec_held(const ipc__decoder *d);

#endif
