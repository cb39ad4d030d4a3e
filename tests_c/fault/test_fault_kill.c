/*
 * test_fault_kill.c - processes killed with SIGKILL at the worst moments.
 *
 * - A sender killed at random points of a 16 MiB transfer: the receiver
 *   gets IPC_EPROTO (killed mid-frame) or IPC_ECLOSED (killed between
 *   frames), never a hang, a crash, or a truncated message reported whole.
 * - A server killed while clients wait in connect: they keep waiting
 *   (ipc_connect) or give up cleanly on time (ipc_connect_timeout ->
 *   IPC_ENOSERVER), and the next create reclaims the stale socket and
 *   serves them.
 *
 * Forks happen only while the test process has one thread.
 */
#include "testutil.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define BIG ((size_t)16 << 20)
#define BIG_SEED 0x5eedULL

/* ---------------------------------------------------------------------- */
/* The sender killed mid-transfer                                          */
/* ---------------------------------------------------------------------- */

enum sender_mode {
    SEND_NOTHING, /* connect, then wait to be killed */
    SEND_BIG      /* connect, send the 16 MiB message, wait to be killed */
};

struct sender {
    const char *name;
    enum sender_mode mode;
    int ready_w; /* written once connected */
    int sent_w;  /* written once the send returned */
};

static int sender_child(void *arg)
{
    struct sender *s = arg;
    unsigned char *buf = NULL;
    if (s->mode == SEND_BIG) {
        /* Fill the message before connecting, so the transfer starts as
         * soon as the parent is ready for it. */
        buf = malloc(BIG);
        child_check_code(buf != NULL, 2);
        tu_fill(buf, BIG, BIG_SEED);
    }
    int h = ipc_connect_timeout(s->name, 20000);
    child_check_code(h > 0, 3);
    child_check_code(tu_signal_fd(s->ready_w) == 0, 4);
    if (s->mode == SEND_BIG) {
        int rc = ipc_send(h, buf, BIG);
        child_check_code(rc == 0, 5);
        tu_signal_fd(s->sent_w);
    }
    for (;;) {
        pause(); /* until SIGKILL */
    }
}

struct receiver {
    int h;
    int rc;
    void *data;
    size_t len;
    atomic_int done;
};

static void *receiver_thread(void *arg)
{
    struct receiver *r = arg;
    r->rc = ipc_recv(r->h, &r->data, &r->len);
    atomic_store(&r->done, 1);
    return NULL;
}

/* Start a sender child and be its server. Returns our handle. */
static int start_sender(struct sender *s, pid_t *pid, int *ready_r, int *sent_r)
{
    int ready[2], sent[2];
    tu_pipe(ready);
    tu_pipe(sent);
    s->ready_w = ready[1];
    s->sent_w = sent[1];
    *pid = tu_fork(sender_child, s);
    close(ready[1]);
    close(sent[1]);
    *ready_r = ready[0];
    *sent_r = sent[0];
    int h = assert_handle(ipc_create_timeout(s->name, 20000));
    assert_int_equal(tu_wait_fd(*ready_r, 20000), 0);
    return h;
}

/* Bytes waiting unread in our socket. */
static int queued(int h)
{
    int n = 0;
    ioctl(ipc_fileno(h), FIONREAD, &n);
    return n;
}

/* Wait until the queue in our socket stops growing (the sender is blocked
 * on a full buffer) and return its size. */
static int wait_queue_full(int h)
{
    int last = -1, stable = 0;
    long long end = tu_now_ms() + 20000;
    while (tu_now_ms() < end) {
        int q = queued(h);
        if (q > 0 && q == last) {
            if (++stable == 5) {
                return q;
            }
        } else {
            stable = 0;
        }
        last = q;
        tu_sleep_ms(10);
    }
    fail_msg("the sender never filled the socket buffer");
    return -1;
}

/* After the peer died: every later call on the handle agrees. */
static void assert_stays(int h, int want)
{
    void *d = NULL;
    size_t n = 7;
    assert_status(ipc_recv_timeout(h, &d, &n, 2000), want);
    assert_null(d);
    assert_int_equal(n, 0);
}

static void check_whole(const void *data, size_t len)
{
    assert_int_equal(len, BIG);
    if (!tu_check_fill(data, len, BIG_SEED)) {
        fail_msg("a 16 MiB message was reported whole but its bytes differ");
    }
}

/* Killed after connecting, before sending anything: a clean close. */
static void kill_before_send(void **state)
{
    (void)state;
    struct sender s = {.name = tu_name(), .mode = SEND_NOTHING};
    pid_t pid;
    int ready_r, sent_r;
    int h = start_sender(&s, &pid, &ready_r, &sent_r);
    assert_int_equal(tu_kill(pid), 128 + SIGKILL);
    assert_stays(h, IPC_ECLOSED);
    assert_stays(h, IPC_ECLOSED);
    assert_status(ipc_close(h), 0);
    close(ready_r);
    close(sent_r);
}

/* Killed while blocked with part of the frame in our socket buffer: the
 * bytes that did arrive are not a message. */
static void kill_blocked_mid_frame(void **state)
{
    (void)state;
    struct sender s = {.name = tu_name(), .mode = SEND_BIG};
    pid_t pid;
    int ready_r, sent_r;
    int h = start_sender(&s, &pid, &ready_r, &sent_r);
    int q = wait_queue_full(h);
    assert_true(q > 4 && (size_t)q < BIG + 4);
    assert_int_equal(tu_kill(pid), 128 + SIGKILL);
    assert_stays(h, IPC_EPROTO);
    assert_stays(h, IPC_EPROTO);
    assert_status(ipc_send(h, "x", 1), IPC_EPROTO);
    assert_status(ipc_close(h), 0);
    close(ready_r);
    close(sent_r);
}

/* Killed after the whole message went out: it arrives whole, then the
 * pipe is closed cleanly. */
static void kill_after_whole_message(void **state)
{
    (void)state;
    struct sender s = {.name = tu_name(), .mode = SEND_BIG};
    pid_t pid;
    int ready_r, sent_r;
    int h = start_sender(&s, &pid, &ready_r, &sent_r);
    void *data;
    size_t len;
    assert_status(ipc_recv_timeout(h, &data, &len, 20000), 0);
    check_whole(data, len);
    ipc_free(data);
    assert_int_equal(tu_wait_fd(sent_r, 20000), 0);
    assert_int_equal(tu_kill(pid), 128 + SIGKILL);
    assert_stays(h, IPC_ECLOSED);
    assert_status(ipc_close(h), 0);
    close(ready_r);
    close(sent_r);
}

/* One transfer with a kill `delay_us` after the receiver starts. Returns
 * the receiver's first status. */
static int transfer_killed_after(long long delay_us)
{
    struct sender s = {.name = tu_name(), .mode = SEND_BIG};
    pid_t pid;
    int ready_r, sent_r;
    int h = start_sender(&s, &pid, &ready_r, &sent_r);

    struct receiver *r = calloc(1, sizeof(*r));
    assert_non_null(r);
    r->h = h;
    pthread_t t;
    tu_thread_start(&t, receiver_thread, r);
    if (delay_us > 0) {
        tu_sleep_us(delay_us);
    }
    assert_int_equal(tu_kill(pid), 128 + SIGKILL);
    if (tu_thread_join(t, 20000) != 0) {
        /* A hang: wake the thread so the process can finish, then fail.
         * (r is leaked on purpose: the thread may still use it.) */
        ipc_close(h);
        fail_msg("the receiver hung after its sender was killed");
    }
    int rc = r->rc;
    if (rc == 0) {
        /* The whole message got through before the kill. */
        check_whole(r->data, r->len);
        ipc_free(r->data);
        assert_stays(h, IPC_ECLOSED);
    } else if (rc == IPC_EPROTO) {
        assert_null(r->data);
        assert_stays(h, IPC_EPROTO);
    } else if (rc == IPC_ECLOSED) {
        /* Killed before the first byte went out. */
        assert_null(r->data);
        assert_stays(h, IPC_ECLOSED);
    } else {
        fail_msg("receiver: expected protocol or closed, got %s (%d): %s",
                 ipc_errname(rc), rc, ipc_last_error());
    }
    free(r);
    assert_status(ipc_close(h), 0);
    close(ready_r);
    close(sent_r);
    return rc;
}

/* Killed at random points: first time a whole transfer, then kill at
 * random delays spread over (and a little beyond) that time. */
static void kill_at_random_points(void **state)
{
    (void)state;
    uint32_t seed = tu_seed();
    int rounds = TU_SCALE(16, 6);

    long long t0 = tu_now_us();
    {
        struct sender s = {.name = tu_name(), .mode = SEND_BIG};
        pid_t pid;
        int ready_r, sent_r;
        int h = start_sender(&s, &pid, &ready_r, &sent_r);
        t0 = tu_now_us();
        void *data;
        size_t len;
        assert_status(ipc_recv_timeout(h, &data, &len, 20000), 0);
        t0 = tu_now_us() - t0;
        check_whole(data, len);
        ipc_free(data);
        tu_kill(pid);
        assert_status(ipc_close(h), 0);
        close(ready_r);
        close(sent_r);
    }
    if (t0 < 1000) {
        t0 = 1000;
    }
    printf("# a whole 16 MiB transfer took %lld us\n", t0);

    int n_proto = 0, n_closed = 0, n_whole = 0;
    for (int i = 0; i < rounds; i++) {
        long long delay = (long long)(tu_rand(&seed) % (uint32_t)(t0 * 5 / 4));
        int rc = transfer_killed_after(delay);
        n_proto += rc == IPC_EPROTO;
        n_closed += rc == IPC_ECLOSED;
        n_whole += rc == 0;
    }
    printf("# %d kills: %d mid-frame (protocol), %d before the frame "
           "(closed), %d after it (whole)\n",
           rounds, n_proto, n_closed, n_whole);
}

/* ---------------------------------------------------------------------- */
/* The server killed while clients wait in connect                         */
/* ---------------------------------------------------------------------- */

struct waiter {
    const char *name;
    int timeout_ms; /* IPC_FOREVER: ipc_connect() */
    int id;
    atomic_int done;
    int rc;            /* of connect */
    long long elapsed; /* ms in connect */
    int xrc;           /* of the exchange after connecting */
};

/* Connect, then send our id and expect it echoed back. */
static void *waiter_thread(void *arg)
{
    struct waiter *w = arg;
    long long t = tu_now_ms();
    int h = w->timeout_ms == IPC_FOREVER
                ? ipc_connect(w->name)
                : ipc_connect_timeout(w->name, w->timeout_ms);
    w->elapsed = tu_now_ms() - t;
    w->rc = h;
    if (h > 0) {
        void *m = tu_msg_make((uint32_t)w->id, 0, 64);
        w->xrc = ipc_send(h, m, 64);
        free(m);
        if (w->xrc == 0) {
            void *d;
            size_t n;
            w->xrc = ipc_recv_timeout(h, &d, &n, 20000);
            if (w->xrc == 0) {
                uint32_t st, seq;
                char why[128];
                if (tu_msg_parse(d, n, &st, &seq, why) != 0 ||
                    st != (uint32_t)w->id) {
                    w->xrc = -100;
                }
                ipc_free(d);
            }
        }
        ipc_close(h);
    }
    atomic_store(&w->done, 1);
    return NULL;
}

/* Be the server for one client: receive its message and echo it. */
static void serve_one(const char *name, int timeout_ms)
{
    int h = assert_handle(ipc_create_timeout(name, timeout_ms));
    void *d;
    size_t n;
    assert_status(ipc_recv_timeout(h, &d, &n, 20000), 0);
    assert_status(ipc_send(h, d, n), 0);
    ipc_free(d);
    assert_status(ipc_close(h), 0);
}

struct busy_server {
    const char *name;
    int ready_w;
};

/* Serves one client, then stays busy with it (keeping the pipe open) until
 * killed - a Kiwi server in the middle of a session. */
static int busy_server_child(void *arg)
{
    struct busy_server *s = arg;
    int h = ipc_create_timeout(s->name, 20000);
    child_check_code(h > 0, 2);
    void *d;
    size_t n;
    child_check_code(ipc_recv(h, &d, &n) == 0, 3);
    child_check_code(ipc_send(h, d, n) == 0, 4);
    tu_signal_fd(s->ready_w);
    for (;;) {
        pause();
    }
}

static void check_timed_out(const struct waiter *w)
{
    if (w->rc != IPC_ENOSERVER) {
        fail_msg("waiter %d (timeout %d ms): expected no_server, got %s (%d)",
                 w->id, w->timeout_ms, ipc_errname(w->rc), w->rc);
    }
    /* Not early, and not much late (generous: CI machines stall). */
    if (w->elapsed < w->timeout_ms - 2 || w->elapsed > w->timeout_ms + 3000) {
        fail_msg("waiter %d: timeout %d ms but gave up after %lld ms", w->id,
                 w->timeout_ms, w->elapsed);
    }
}

#define N_FOREVER 3
#define N_TIMED 3

/* A forever waiter that has finished must have been served. One that got
 * a pipe which was dead on arrival did not wait for its create. */
static void check_forever_waiters(struct waiter *w, int n)
{
    for (int i = 0; i < n; i++) {
        if (atomic_load(&w[i].done) && (w[i].rc <= 0 || w[i].xrc != 0)) {
            fail_msg("waiter %d: connect returned %d, then its first "
                     "exchange failed with %s (%d): it got a pipe that was "
                     "already dead instead of waiting for the next create",
                     w[i].id, w[i].rc, ipc_errname(w[i].xrc), w[i].xrc);
        }
    }
}

/* The server dies while busy with one client and others wait in connect
 * (its create had already removed the path). */
static void server_killed_while_clients_wait(void **state)
{
    (void)state;
    const char *name = tu_name();
    int ready[2];
    tu_pipe(ready);
    struct busy_server bs = {name, ready[1]};
    pid_t pid = tu_fork(busy_server_child, &bs);
    close(ready[1]);

    /* Our first client is served, then the server stays busy with it. */
    int c0 = assert_handle(ipc_connect_timeout(name, 20000));
    void *m = tu_msg_make(0, 0, 32);
    assert_status(ipc_send(c0, m, 32), 0);
    free(m);
    void *d;
    size_t n;
    assert_status(ipc_recv_timeout(c0, &d, &n, 20000), 0);
    ipc_free(d);
    assert_int_equal(tu_wait_fd(ready[0], 20000), 0);
    assert_int_equal(access(name, F_OK), -1); /* create gave the name back */

    struct waiter *w = calloc(N_FOREVER + N_TIMED, sizeof(*w));
    pthread_t t[N_FOREVER + N_TIMED];
    assert_non_null(w);
    for (int i = 0; i < N_FOREVER + N_TIMED; i++) {
        w[i].name = name;
        w[i].id = i + 1;
        w[i].timeout_ms = i < N_FOREVER ? IPC_FOREVER : 300 + 200 * (i % 3);
        tu_thread_start(&t[i], waiter_thread, &w[i]);
    }
    tu_sleep_ms(100);
    for (int i = 0; i < N_FOREVER; i++) {
        assert_false(atomic_load(&w[i].done));
    }

    assert_int_equal(tu_kill(pid), 128 + SIGKILL);
    /* The session of the first client ends cleanly: the server died
     * between messages. */
    assert_status(ipc_recv_timeout(c0, &d, &n, 5000), IPC_ECLOSED);
    assert_status(ipc_close(c0), 0);

    /* The timed waiters give up on time, the others keep waiting. */
    for (int i = N_FOREVER; i < N_FOREVER + N_TIMED; i++) {
        assert_int_equal(tu_thread_join(t[i], 10000), 0);
        check_timed_out(&w[i]);
    }
    tu_sleep_ms(200);
    for (int i = 0; i < N_FOREVER; i++) {
        assert_false(atomic_load(&w[i].done));
    }

    /* A new server serves each of them. */
    for (int i = 0; i < N_FOREVER; i++) {
        serve_one(name, 20000);
        tu_sleep_ms(50);
        check_forever_waiters(w, N_FOREVER);
    }
    for (int i = 0; i < N_FOREVER; i++) {
        assert_int_equal(tu_thread_join(t[i], 20000), 0);
        assert_true(w[i].rc > 0);
        assert_status(w[i].xrc, 0);
    }
    free(w);
    close(ready[0]);
    assert_int_equal(access(name, F_OK), -1);
}

/* Clients waiting in connect when a create comes: one is served, the
 * others keep waiting for the next create (as the header promises) - none
 * may be handed a pipe that is dead on arrival. Waiters started together
 * retry in step, so they reach the listening socket in the same instant:
 * repeated, this hits any window in which create lets a second client in. */
static void second_waiter_waits_for_next_create(void **state)
{
    (void)state;
    int rounds = TU_SCALE(30, 5);
    for (int r = 0; r < rounds; r++) {
        const char *name = tu_name();
        /* On the heap: should the test fail, the threads may outlive it. */
        struct waiter *w = calloc(2, sizeof(*w));
        pthread_t t[2];
        assert_non_null(w);
        for (int i = 0; i < 2; i++) {
            w[i].name = name;
            w[i].id = i + 1;
            w[i].timeout_ms = IPC_FOREVER;
            tu_thread_start(&t[i], waiter_thread, &w[i]);
        }
        tu_sleep_ms(40);
        serve_one(name, 20000);
        tu_sleep_ms(60);
        check_forever_waiters(w, 2);
        assert_int_equal(atomic_load(&w[0].done) + atomic_load(&w[1].done), 1);
        serve_one(name, 20000);
        for (int i = 0; i < 2; i++) {
            assert_int_equal(tu_thread_join(t[i], 20000), 0);
            assert_true(w[i].rc > 0);
            assert_status(w[i].xrc, 0);
        }
        free(w);
    }
}

struct waiting_server {
    const char *name;
};

/* Blocks in ipc_create() with no client until killed. */
static int waiting_server_child(void *arg)
{
    struct waiting_server *s = arg;
    int h = ipc_create(s->name);
    /* A client is not expected: say so by the exit code. */
    _exit(h > 0 ? 10 : 11);
}

/* The server dies listening: its socket file stays, stale. Clients waiting
 * meanwhile keep waiting or time out; the next create reclaims the file. */
static void stale_socket_reclaimed(void **state)
{
    (void)state;
    const char *name = tu_name();
    struct waiting_server ws = {name};
    pid_t pid = tu_fork(waiting_server_child, &ws);
    assert_int_equal(tu_wait_listening(name, 20000), 0);
    assert_int_equal(tu_kill(pid), 128 + SIGKILL);

    /* Stale: a socket file nobody listens on. */
    struct stat st;
    assert_int_equal(lstat(name, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    assert_false(tu_is_listening(name));

    struct waiter *w = calloc(N_FOREVER + N_TIMED, sizeof(*w));
    pthread_t t[N_FOREVER + N_TIMED];
    assert_non_null(w);
    for (int i = 0; i < N_FOREVER + N_TIMED; i++) {
        w[i].name = name;
        w[i].id = i + 1;
        w[i].timeout_ms = i < N_FOREVER ? IPC_FOREVER : 200 + 150 * (i % 3);
        tu_thread_start(&t[i], waiter_thread, &w[i]);
    }
    /* One attempt only, on a stale socket: no server. */
    assert_status(ipc_connect_timeout(name, 0), IPC_ENOSERVER);
    for (int i = N_FOREVER; i < N_FOREVER + N_TIMED; i++) {
        assert_int_equal(tu_thread_join(t[i], 10000), 0);
        check_timed_out(&w[i]);
    }
    for (int i = 0; i < N_FOREVER; i++) {
        assert_false(atomic_load(&w[i].done));
    }
    /* Waiting clients never remove the stale file. */
    assert_int_equal(lstat(name, &st), 0);

    /* The next create reclaims the stale file and serves each of them. */
    for (int i = 0; i < N_FOREVER; i++) {
        serve_one(name, 20000);
        tu_sleep_ms(50);
        check_forever_waiters(w, N_FOREVER);
    }
    for (int i = 0; i < N_FOREVER; i++) {
        assert_int_equal(tu_thread_join(t[i], 20000), 0);
        assert_true(w[i].rc > 0);
        assert_status(w[i].xrc, 0);
    }
    free(w);
    assert_int_equal(access(name, F_OK), -1);
}

/* ---- a server serving clients one by one, killed at random ------------- */

struct looping_server {
    const char *name;
    int delay_ms;
};

/* Serves clients one at a time, slowly, until killed. */
static int looping_server_child(void *arg)
{
    struct looping_server *s = arg;
    for (;;) {
        int h = ipc_create(s->name);
        child_check_code(h > 0, 2);
        void *d;
        size_t n;
        if (ipc_recv(h, &d, &n) == 0) {
            tu_sleep_ms(s->delay_ms);
            ipc_send(h, d, n);
            ipc_free(d);
        }
        ipc_close(h);
    }
}

#define N_CLIENTS 6
#define SESSIONS 3

struct client {
    const char *name;
    int id;
    int forever; /* ipc_connect() rather than ipc_connect_timeout() */
    int sessions, interrupted, timeouts;
    tu_err *err;
    atomic_int finished;
};

/* Complete SESSIONS sessions, retrying through the server's death. */
static void *client_thread(void *arg)
{
    struct client *c = arg;
    uint32_t seq = 0;
    long long give_up = tu_now_ms() + 60000;
    while (c->sessions < SESSIONS && tu_now_ms() < give_up) {
        long long t = tu_now_ms();
        int h = c->forever ? ipc_connect(c->name)
                           : ipc_connect_timeout(c->name, 250);
        if (h == IPC_ENOSERVER && !c->forever) {
            long long el = tu_now_ms() - t;
            if (el < 248 || el > 250 + 3000) {
                tu_err_set(c->err, "client %d: 250 ms timeout took %lld ms",
                           c->id, el);
            }
            c->timeouts++;
            continue;
        }
        if (h <= 0) {
            tu_err_set(c->err, "client %d: connect: %s: %s", c->id,
                       ipc_errname(h), ipc_last_error());
            break;
        }
        void *m = tu_msg_make((uint32_t)c->id, seq, 100);
        int rc = ipc_send(h, m, 100);
        free(m);
        void *d = NULL;
        size_t n = 0;
        if (rc == 0) {
            rc = ipc_recv_timeout(h, &d, &n, 30000);
        }
        if (rc == 0) {
            uint32_t st, sq;
            char why[128];
            if (tu_msg_parse(d, n, &st, &sq, why) != 0 ||
                st != (uint32_t)c->id || sq != seq) {
                tu_err_set(c->err, "client %d: bad echo", c->id);
            }
            ipc_free(d);
            c->sessions++;
            seq++;
        } else if (rc == IPC_ECLOSED || rc == IPC_EPROTO) {
            /* The server died during our session (or we sat in its
             * backlog when it died): try again. */
            c->interrupted++;
        } else {
            tu_err_set(c->err, "client %d: session: %s: %s", c->id,
                       ipc_errname(rc), ipc_last_error());
        }
        ipc_close(h);
    }
    if (c->sessions < SESSIONS) {
        tu_err_set(c->err, "client %d: only %d sessions", c->id, c->sessions);
    }
    atomic_store(&c->finished, 1);
    return NULL;
}

struct in_process_server {
    const char *name;
    struct client *clients;
    tu_err *err;
    int served;
};

static int all_finished(const struct client *c)
{
    for (int i = 0; i < N_CLIENTS; i++) {
        if (!atomic_load(&c[i].finished)) {
            return 0;
        }
    }
    return 1;
}

/* The replacement server: a thread of the test process (no fork while
 * client threads run). */
static void *in_process_server_thread(void *arg)
{
    struct in_process_server *s = arg;
    while (!all_finished(s->clients)) {
        int h = ipc_create_timeout(s->name, 100);
        if (h == IPC_ETIMEDOUT) {
            continue;
        }
        if (h <= 0) {
            tu_err_set(s->err, "replacement server: create: %s: %s",
                       ipc_errname(h), ipc_last_error());
            break;
        }
        void *d;
        size_t n;
        if (ipc_recv_timeout(h, &d, &n, 10000) == 0) {
            ipc_send(h, d, n);
            ipc_free(d);
            s->served++;
        }
        ipc_close(h);
    }
    return NULL;
}

static void server_killed_at_random(void **state)
{
    (void)state;
    uint32_t seed = tu_seed();
    int rounds = TU_SCALE(3, 1);
    for (int round = 0; round < rounds; round++) {
        const char *name = tu_name();
        struct looping_server ls = {name, 20};
        pid_t pid = tu_fork(looping_server_child, &ls);

        tu_err err = TU_ERR_INIT;
        struct client *c = calloc(N_CLIENTS, sizeof(*c));
        assert_non_null(c);
        pthread_t t[N_CLIENTS];
        for (int i = 0; i < N_CLIENTS; i++) {
            c[i].name = name;
            c[i].id = i + 1;
            c[i].forever = i % 2 == 0;
            c[i].err = &err;
            tu_thread_start(&t[i], client_thread, &c[i]);
        }
        tu_sleep_ms(20 + (int)(tu_rand(&seed) % 150));
        assert_int_equal(tu_kill(pid), 128 + SIGKILL);

        struct stat st;
        int stale = lstat(name, &st) == 0;
        if (stale) {
            assert_true(S_ISSOCK(st.st_mode));
            assert_false(tu_is_listening(name));
        }
        /* Nobody serves for a while: nothing may fail meanwhile. */
        tu_sleep_ms(300);
        assert_no_err(&err);

        struct in_process_server s = {name, c, &err, 0};
        pthread_t ts;
        tu_thread_start(&ts, in_process_server_thread, &s);
        for (int i = 0; i < N_CLIENTS; i++) {
            assert_int_equal(tu_thread_join(t[i], 90000), 0);
        }
        assert_int_equal(tu_thread_join(ts, 20000), 0);
        assert_no_err(&err);
        int interrupted = 0, timeouts = 0;
        for (int i = 0; i < N_CLIENTS; i++) {
            assert_int_equal(c[i].sessions, SESSIONS);
            interrupted += c[i].interrupted;
            timeouts += c[i].timeouts;
        }
        printf("# round %d: socket %s after the kill; replacement served "
               "%d; %d sessions cut by the kill; %d connect timeouts\n",
               round, stale ? "stale" : "absent", s.served, interrupted,
               timeouts);
        free(c);
        assert_int_equal(access(name, F_OK), -1);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(kill_before_send, tu_guarded_setup,
                                        tu_guarded_teardown),
        cmocka_unit_test_setup_teardown(kill_blocked_mid_frame,
                                        tu_guarded_setup, tu_guarded_teardown),
        cmocka_unit_test_setup_teardown(kill_after_whole_message,
                                        tu_guarded_setup, tu_guarded_teardown),
        cmocka_unit_test_setup_teardown(kill_at_random_points, tu_guarded_setup,
                                        tu_guarded_teardown),
        cmocka_unit_test_setup_teardown(server_killed_while_clients_wait,
                                        tu_guarded_setup, tu_guarded_teardown),
        cmocka_unit_test_setup_teardown(stale_socket_reclaimed,
                                        tu_guarded_setup, tu_guarded_teardown),
        cmocka_unit_test_setup_teardown(second_waiter_waits_for_next_create,
                                        tu_guarded_setup, tu_guarded_teardown),
        cmocka_unit_test_setup_teardown(server_killed_at_random,
                                        tu_guarded_setup, tu_guarded_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
