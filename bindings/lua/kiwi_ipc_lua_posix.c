/*
 * kiwi_ipc_lua_posix.c - kiwi_ipc_lua_os.h on POSIX: a pthread mutex, and
 * a SIGINT handler of ours chained in front of the one SIGINT has.
 *
 * Our handler records the signal (kiwi_lua_ctrl_c) and then calls the old
 * one, so the host still does what it always does. It stays in place after
 * the call. Looking at what SIGINT has is a sigaction() system call, which
 * costs a noticeable part of a small message's round trip, so a blocking
 * call looks only when we do not know that ours is in place: we remember
 * that we installed it, and on_sigint() forgets it, because the handler it
 * chains to may replace ours (lua.c's does). A script run by lua5.4 or
 * luajit thus makes one sigaction() at its first blocking call and then
 * none. The knowledge can also go stale without a signal: lua.c's REPL
 * resets SIGINT to SIG_DFL after each line, and a host may install a
 * handler of its own. For the stock interpreters the binding does not
 * depend on our handler (it sees their debug hook, kiwi_ipc_lua.c). For
 * the rest, the interrupt hook looks again (kiwi_lua_os_recheck_ctrl_c)
 * whenever it runs and finds no reason to stop, which is only after a
 * slice of waiting or a signal, never on the way of a message that is
 * already there, and puts ours back in front. A Ctrl-C in the first slice
 * of a wait after such a replacement goes to the new handler alone.
 *
 * When SIGINT is ignored or has its default action there is nothing to
 * chain: default Ctrl-C ends the process anyway, and an ignored one is
 * meant to be. As a handler may be installed at any time, such a process
 * keeps looking at each blocking call.
 *
 * Our handler stays SIGINT's after the host unloads the module (lua_close
 * dlcloses every C module a state required; a Python or C host may do it
 * long before the process ends), and a Ctrl-C would then run unmapped
 * code. So, before the handler is first installed, the module is pinned:
 * dlopen(itself, RTLD_NODELETE) keeps it loaded for the life of the
 * process, as the Windows DLL is. If it cannot be pinned, no handler of
 * ours is installed: no Ctrl-C of ours is better than a crash.
 */
#define _GNU_SOURCE /* dladdr, on glibc */

#include "kiwi_ipc_lua_os.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>

static pthread_mutex_t process_lock = PTHREAD_MUTEX_INITIALIZER;

void kiwi_lua_os_lock(void)
{
    pthread_mutex_lock(&process_lock);
}

void kiwi_lua_os_unlock(void)
{
    pthread_mutex_unlock(&process_lock);
}

static pthread_mutex_t open_lock = PTHREAD_MUTEX_INITIALIZER;

void kiwi_lua_os_open_lock(void)
{
    pthread_mutex_lock(&open_lock);
}

void kiwi_lua_os_open_unlock(void)
{
    pthread_mutex_unlock(&open_lock);
}

/* Whether we know that our handler is SIGINT's: set when we install it (or
 * find it), cleared by our handler, as the handler it chains to may
 * replace it. Lock-free, so the handler may store to it. */
static atomic_int handler_known;

/* Serialises installing our handler and the `chained` it reads. */
static pthread_mutex_t install_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sigaction chained; /* what SIGINT did before ours */

static void on_sigint(int sig, siginfo_t *info, void *context)
{
    int saved_errno = errno;
    kiwi_lua_ctrl_c();
    atomic_store_explicit(&handler_known, 0, memory_order_relaxed);
    if (chained.sa_flags & SA_SIGINFO) {
        chained.sa_sigaction(sig, info, context);
    } else if (chained.sa_handler != SIG_DFL && chained.sa_handler != SIG_IGN) {
        chained.sa_handler(sig);
    }
    errno = saved_errno;
}

static int is_ours(const struct sigaction *sa)
{
    return (sa->sa_flags & SA_SIGINFO) && sa->sa_sigaction == on_sigint;
}

static int is_handler(const struct sigaction *sa)
{
    if (sa->sa_flags & SA_SIGINFO) {
        return sa->sa_sigaction != NULL && !is_ours(sa);
    }
    return sa->sa_handler != SIG_DFL && sa->sa_handler != SIG_IGN;
}

/* Keep this module loaded until the process ends (see the top); with
 * install_lock held. The handle is never closed: that is the pin. */
static int pin_module(void)
{
    static int pinned;
    if (!pinned) {
        Dl_info self;
        pinned = dladdr((const void *)&chained, &self) != 0 &&
                 self.dli_fname != NULL &&
                 dlopen(self.dli_fname,
                        RTLD_LAZY | RTLD_NOLOAD | RTLD_NODELETE) != NULL;
    }
    return pinned;
}

/* Put our handler in front of SIGINT's if SIGINT has another handler, and
 * note whether ours is in place. */
void kiwi_lua_os_recheck_ctrl_c(void)
{
    pthread_mutex_lock(&install_lock);
    struct sigaction current;
    if (sigaction(SIGINT, NULL, &current) != 0) {
        /* cannot tell: try again next time */
    } else if (is_ours(&current)) {
        atomic_store(&handler_known, 1);
    } else if (is_handler(&current) && pin_module()) {
        struct sigaction ours;
        memset(&ours, 0, sizeof(ours));
        ours.sa_sigaction = on_sigint;
        ours.sa_flags = SA_SIGINFO;
        sigemptyset(&ours.sa_mask);
        chained = current; /* before ours can run */
        /* Known before installed: a signal from then on clears it. */
        atomic_store(&handler_known, 1);
        if (sigaction(SIGINT, &ours, NULL) != 0) {
            atomic_store(&handler_known, 0);
        }
    }
    pthread_mutex_unlock(&install_lock);
}

void kiwi_lua_os_watch_ctrl_c(void)
{
    if (!atomic_load_explicit(&handler_known, memory_order_relaxed)) {
        kiwi_lua_os_recheck_ctrl_c();
    }
}
