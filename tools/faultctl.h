/* faultctl's files: faultctl.c (the commands) and faultctl_watch.c (the live view). */
#ifndef FAULTFS_FAULTCTL_H
#define FAULTFS_FAULTCTL_H

/* Prints "faultctl: MESSAGE" on stderr; returns 1, the exit status of a refusal. */
int faultctl_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* All of PATH (a ctl or stats file) as a malloc'd string, or NULL with errno set. */
char *faultctl_read_file(const char *path);

/* faultctl MOUNT watch [--interval SECONDS] [--count N] */
int faultctl_watch(const char *target, int argc, char **argv);

#endif
