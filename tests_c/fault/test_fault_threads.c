/*
 * test_fault_threads.c - 64 pipes in one process, 4 threads on each, all
 * sending and receiving at once. Every message must arrive exactly once,
 * intact, and in order per sender.
 *
 * Two shapes of pipe alternate:
 * - duplex: each end has a sender and a receiver thread, so every handle is
 *   sent on and received from concurrently;
 * - fan: two senders share one end and two receivers share the other, so
 *   concurrent sends must never interleave their frames and concurrent
 *   receives must split the stream into whole messages.
 * Messages carry (stream, seq) and a payload derived from both; sizes mix
 * empty-ish, small and 256 KiB so that frames cross the socket buffer.
 */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#define N_PIPES 64
#define SENDERS_PER_PIPE 2 /* and 2 receivers */

struct pipe_state;

struct sender {
    struct pipe_state *p;
    int h;
    uint32_t stream; /* pipe * 2 + which */
};

struct receiver {
    struct pipe_state *p;
    int h;
    int count; /* messages to take, or 0: until the pipe closes */
    int got;
    uint32_t last_seq[SENDERS_PER_PIPE]; /* seq + 1 of the last seen */
};

struct pipe_state {
    int index;
    int fan; /* else duplex */
    int a, b;
    int per_sender;
    struct sender s[SENDERS_PER_PIPE];
    struct receiver r[2];
    /* Each message seen, by sender and seq: must end up exactly 1. */
    pthread_mutex_t lock;
    unsigned char *seen[SENDERS_PER_PIPE];
    tu_err *err;
};

static size_t msg_len(uint32_t stream, uint32_t seq)
{
    uint32_t x = stream * 2654435761u ^ seq * 40503u;
    switch (x % 16) {
    case 0:
        return 256 * 1024 + x % 1024; /* larger than the socket buffer */
    case 1:
    case 2:
        return 16 * 1024 + x % 8192;
    default:
        return TU_MSG_MIN + x % 200;
    }
}

static void *sender_thread(void *arg)
{
    struct sender *s = arg;
    struct pipe_state *p = s->p;
    for (int i = 0; i < p->per_sender; i++) {
        size_t len = msg_len(s->stream, (uint32_t)i);
        void *m = tu_msg_make(s->stream, (uint32_t)i, len);
        if (m == NULL) {
            tu_err_set(p->err, "out of memory");
            return NULL;
        }
        int rc = ipc_send(s->h, m, len);
        free(m);
        if (rc != 0) {
            tu_err_set(p->err, "pipe %d stream %u: send %d: %s: %s", p->index,
                       s->stream, i, ipc_errname(rc), ipc_last_error());
            return NULL;
        }
    }
    return NULL;
}

static void *receiver_thread(void *arg)
{
    struct receiver *r = arg;
    struct pipe_state *p = r->p;
    for (;;) {
        if (r->count > 0 && r->got == r->count) {
            return NULL;
        }
        void *d;
        size_t n;
        int rc = ipc_recv_timeout(r->h, &d, &n, TU_SCALE(60000, 600000));
        if (rc == IPC_ECLOSED && r->count == 0) {
            return NULL; /* the senders' end was closed: all sent */
        }
        if (rc != 0) {
            tu_err_set(p->err, "pipe %d: recv after %d: %s: %s", p->index,
                       r->got, ipc_errname(rc), ipc_last_error());
            return NULL;
        }
        uint32_t stream, seq;
        char why[128];
        if (tu_msg_parse(d, n, &stream, &seq, why) != 0) {
            tu_err_set(p->err, "pipe %d: %s", p->index, why);
            ipc_free(d);
            return NULL;
        }
        ipc_free(d);
        uint32_t which = stream - (uint32_t)p->index * 2;
        if (stream / 2 != (uint32_t)p->index || which >= SENDERS_PER_PIPE ||
            seq >= (uint32_t)p->per_sender || msg_len(stream, seq) != n) {
            tu_err_set(p->err,
                       "pipe %d: a message of stream %u seq %u (%zu "
                       "bytes) does not belong here",
                       p->index, stream, seq, n);
            return NULL;
        }
        /* In order per sender, as this receiver sees them. */
        if (seq + 1 <= r->last_seq[which]) {
            tu_err_set(p->err, "pipe %d stream %u: seq %u after %u", p->index,
                       stream, seq, r->last_seq[which] - 1);
            return NULL;
        }
        if (!p->fan && seq != r->last_seq[which]) {
            /* One receiver per direction sees every message. */
            tu_err_set(p->err, "pipe %d stream %u: seq %u, expected %u",
                       p->index, stream, seq, r->last_seq[which]);
            return NULL;
        }
        r->last_seq[which] = seq + 1;
        pthread_mutex_lock(&p->lock);
        p->seen[which][seq]++;
        pthread_mutex_unlock(&p->lock);
        r->got++;
    }
}

static void sixty_four_pipes_four_threads_each(void **state)
{
    (void)state;
    int per_sender = TU_SCALE(400, 16);
    int fds_before = tu_fd_count();
    tu_err err = TU_ERR_INIT;
    struct pipe_state *ps = calloc(N_PIPES, sizeof(*ps));
    assert_non_null(ps);
    pthread_t(*t)[4] = calloc(N_PIPES, sizeof(*t));
    assert_non_null(t);

    for (int i = 0; i < N_PIPES; i++) {
        struct pipe_state *p = &ps[i];
        p->index = i;
        p->fan = i % 2;
        p->per_sender = per_sender;
        p->err = &err;
        pthread_mutex_init(&p->lock, NULL);
        tu_lib_pair(&p->a, &p->b);
        for (int k = 0; k < SENDERS_PER_PIPE; k++) {
            p->seen[k] = calloc((size_t)per_sender, 1);
            assert_non_null(p->seen[k]);
            p->s[k].p = p;
            p->s[k].stream = (uint32_t)(i * 2 + k);
            p->r[k].p = p;
        }
        if (p->fan) {
            /* a: two senders; b: two receivers, until a is closed. */
            p->s[0].h = p->s[1].h = p->a;
            p->r[0].h = p->r[1].h = p->b;
        } else {
            /* a sends stream 0 and receives stream 1; b the reverse. */
            p->s[0].h = p->a;
            p->r[0].h = p->b;
            p->r[0].count = per_sender;
            p->s[1].h = p->b;
            p->r[1].h = p->a;
            p->r[1].count = per_sender;
        }
    }
    assert_int_equal(tu_fd_count(), fds_before + 2 * N_PIPES);

    long long t0 = tu_now_ms();
    for (int i = 0; i < N_PIPES; i++) {
        tu_thread_start(&t[i][0], sender_thread, &ps[i].s[0]);
        tu_thread_start(&t[i][1], sender_thread, &ps[i].s[1]);
        tu_thread_start(&t[i][2], receiver_thread, &ps[i].r[0]);
        tu_thread_start(&t[i][3], receiver_thread, &ps[i].r[1]);
    }
    /* Senders first; then close the fan pipes' sending ends so that their
     * receivers see the end of the stream. */
    for (int i = 0; i < N_PIPES; i++) {
        for (int k = 0; k < 2; k++) {
            if (tu_thread_join(t[i][k], TU_SCALE(120000, 800000)) != 0) {
                fail_msg("pipe %d: sender %d hung", i, k);
            }
        }
        if (ps[i].fan) {
            assert_status(ipc_close(ps[i].a), 0);
        }
    }
    for (int i = 0; i < N_PIPES; i++) {
        for (int k = 2; k < 4; k++) {
            if (tu_thread_join(t[i][k], TU_SCALE(120000, 800000)) != 0) {
                fail_msg("pipe %d: receiver %d hung", i, k - 2);
            }
        }
    }
    long long ms = tu_now_ms() - t0;
    assert_no_err(&err);

    long total = 0;
    for (int i = 0; i < N_PIPES; i++) {
        struct pipe_state *p = &ps[i];
        for (int k = 0; k < SENDERS_PER_PIPE; k++) {
            for (int q = 0; q < per_sender; q++) {
                if (p->seen[k][q] != 1) {
                    fail_msg("pipe %d stream %d seq %d arrived %d times", i, k,
                             q, p->seen[k][q]);
                }
            }
            free(p->seen[k]);
        }
        total += p->r[0].got + p->r[1].got;
        if (!p->fan) {
            assert_status(ipc_close(p->a), 0);
        }
        assert_status(ipc_close(p->b), 0);
        pthread_mutex_destroy(&p->lock);
    }
    assert_int_equal(total, (long)N_PIPES * SENDERS_PER_PIPE * per_sender);
    printf("# %ld messages over %d pipes with %d threads in %lld ms\n", total,
           N_PIPES, N_PIPES * 4, ms);
    assert_int_equal(tu_fd_count(), fds_before);
    free(t);
    free(ps);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(sixty_four_pipes_four_threads_each,
                                        tu_guarded_setup, tu_guarded_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
