// libsystemd: sd_notify for the service manager and sd_journal_sendv for structured journal entries.
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>
