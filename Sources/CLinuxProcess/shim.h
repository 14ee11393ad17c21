// pidfd_open(2) and pidfd_send_signal(2) from glibc 2.36 (Debian 12), which Swift's Glibc module
// does not export: a signal sent through a pidfd reaches the process that was checked, or no one,
// even if its pid is reused in between.
#pragma once
#include <signal.h>
#include <sys/types.h>
#include <sys/pidfd.h>

static inline int csrproxy_pidfd_open(pid_t pid) { return pidfd_open(pid, 0); }
static inline int csrproxy_pidfd_send_signal(int pidfd, int signal) { return pidfd_send_signal(pidfd, signal, 0, 0); }

// posix_spawn_file_actions_addchdir_np (glibc 2.29), declared under _GNU_SOURCE only: the child
// starts in the directory given (a desktop user's home), with no fork in Swift.
#include <spawn.h>
extern int posix_spawn_file_actions_addchdir_np(posix_spawn_file_actions_t *__restrict actions, const char *__restrict path);
static inline int csrproxy_spawn_file_actions_addchdir(posix_spawn_file_actions_t *actions, const char *path) {
    return posix_spawn_file_actions_addchdir_np(actions, path);
}
