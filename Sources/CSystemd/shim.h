// libsystemd's sd_notify and sd_watchdog_enabled (Debian: libsystemd-dev).
#include <systemd/sd-daemon.h>
