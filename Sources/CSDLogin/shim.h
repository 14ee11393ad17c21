// sd-login (libsystemd, Debian's libsystemd0, on every systemd box), loaded with dlopen when
// `csrproxy-agent open` asks logind who sits at the screen. Nothing is linked: the agent's other
// commands (a renewal twice a day) map nothing more, and a box without libsystemd gets "no
// session" instead of a loader error. Each call returns what sd-login's does (>= 0, or -errno);
// -ENOSYS when libsystemd or the function is missing (sd_session_get_leader came in 254).
#pragma once
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/types.h>

static inline void *csrproxy_sd_login_function(const char *name) {
    // dlopen of a loaded library only counts a reference; the handle is never closed.
    void *library = dlopen("libsystemd.so.0", RTLD_NOW | RTLD_LOCAL);
    return library ? dlsym(library, name) : NULL;
}

#define CSRPROXY_SD_SESSION_STRING(property)                                                      \
    static inline int csrproxy_sd_session_get_##property(const char *session, char **value) {     \
        int (*function)(const char *, char **) =                                                  \
            (int (*)(const char *, char **))csrproxy_sd_login_function("sd_session_get_" #property); \
        return function ? function(session, value) : -ENOSYS;                                    \
    }

CSRPROXY_SD_SESSION_STRING(state)
CSRPROXY_SD_SESSION_STRING(type)
CSRPROXY_SD_SESSION_STRING(class)
CSRPROXY_SD_SESSION_STRING(seat)
CSRPROXY_SD_SESSION_STRING(display)

static inline int csrproxy_sd_get_sessions(char ***sessions) {
    int (*function)(char ***) = (int (*)(char ***))csrproxy_sd_login_function("sd_get_sessions");
    return function ? function(sessions) : -ENOSYS;
}

static inline int csrproxy_sd_session_is_active(const char *session) {
    int (*function)(const char *) = (int (*)(const char *))csrproxy_sd_login_function("sd_session_is_active");
    return function ? function(session) : -ENOSYS;
}

static inline int csrproxy_sd_session_is_remote(const char *session) {
    int (*function)(const char *) = (int (*)(const char *))csrproxy_sd_login_function("sd_session_is_remote");
    return function ? function(session) : -ENOSYS;
}

static inline int csrproxy_sd_session_get_uid(const char *session, uid_t *uid) {
    int (*function)(const char *, uid_t *) = (int (*)(const char *, uid_t *))csrproxy_sd_login_function("sd_session_get_uid");
    return function ? function(session, uid) : -ENOSYS;
}

static inline int csrproxy_sd_session_get_leader(const char *session, pid_t *leader) {
    int (*function)(const char *, pid_t *) = (int (*)(const char *, pid_t *))csrproxy_sd_login_function("sd_session_get_leader");
    return function ? function(session, leader) : -ENOSYS;
}

static inline int csrproxy_sd_pid_get_session(pid_t pid, char **session) {
    int (*function)(pid_t, char **) = (int (*)(pid_t, char **))csrproxy_sd_login_function("sd_pid_get_session");
    return function ? function(pid, session) : -ENOSYS;
}
