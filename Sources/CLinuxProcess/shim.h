// pidfd_open(2) and pidfd_send_signal(2) from glibc 2.36 (Debian 12), which Swift's Glibc module
// does not export: a signal sent through a pidfd reaches the process that was checked, or no one,
// even if its pid is reused in between.
#pragma once
#include <signal.h>
#include <sys/types.h>
#include <sys/pidfd.h>

static inline int csrproxy_pidfd_open(pid_t pid) { return pidfd_open(pid, 0); }
static inline int csrproxy_pidfd_send_signal(int pidfd, int signal) { return pidfd_send_signal(pidfd, signal, 0, 0); }
