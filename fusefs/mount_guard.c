/*
 * Why faultfs needs its own: fusermount3's auto_unmount unmounts only a
 * mount whose open() fails with ENOTCONN, which it is the moment the last
 * /dev/fuse descriptor closes. The io_uring transport's pending commands
 * hold /dev/fuse open a little longer, until the kernel has torn the rings
 * down after the process is gone; fusermount3 looks in that window, its
 * open() waits on the dying connection, fails with ECONNABORTED, and the
 * dead mount stays ("Transport endpoint is not connected").
 *
 * The watcher knows the mount by its ID in /proc/self/mountinfo, so a new
 * mount at the same path is never touched; it gives up after a few seconds.
 */
#include "mount_guard.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define GUARD_LOOK_NS (50 * 1000 * 1000) /* how often it looks once the daemon is gone */
#define GUARD_LOOKS 200                  /* for 10 s at most */

/* The ID of the FUSE mount at MOUNT_ROOT in /proc/self/mountinfo, or -1. */
static long fuse_mount_id(const char *mount_root)
{
    char line[4096], point[4096];
    long found = -1;
    FILE *f = fopen("/proc/self/mountinfo", "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f)) {
        long id;
        /* "ID PARENT MAJ:MIN ROOT POINT OPTIONS ... - FSTYPE ..."; the last such line wins. */
        const char *type = strstr(line, " - fuse");
        if (type && sscanf(line, "%ld %*d %*s %*s %4095s", &id, point) == 2 &&
            strcmp(point, mount_root) == 0)
            found = id;
    }
    fclose(f);
    return found;
}

static bool mount_present(long id)
{
    char line[4096];
    bool present = false;
    FILE *f = fopen("/proc/self/mountinfo", "r");
    if (!f)
        return false;
    while (!present && fgets(line, sizeof line, f))
        present = strtol(line, NULL, 10) == id;
    fclose(f);
    return present;
}

static void unmount_lazily(const char *mount_root)
{
    if (umount2(mount_root, MNT_DETACH) == 0)
        return;
    /* Not root: the setuid helper unmounts the user's own mount. */
    pid_t pid = fork();
    if (pid == 0) {
        execlp("fusermount3", "fusermount3", "-u", "-z", "-q", mount_root, (char *)NULL);
        _exit(127);
    }
    if (pid > 0)
        waitpid(pid, NULL, 0);
}

static void guard_watch(int daemon_alive, long id, const char *mount_root)
{
    char byte;
    while (read(daemon_alive, &byte, 1) < 0 && errno == EINTR)
        ;
    /* The daemon has ended: a clean end took the mount with it. */
    for (int i = 0; i < GUARD_LOOKS && mount_present(id); i++) {
        int fd = open(mount_root, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            close(fd);
        } else if (errno == ENOTCONN || errno == ECONNABORTED) {
            unmount_lazily(mount_root);
            return;
        }
        nanosleep(&(struct timespec){.tv_nsec = GUARD_LOOK_NS}, NULL);
    }
}

pid_t mount_guard_start(const char *mount_root)
{
    int alive[2];
    long id = fuse_mount_id(mount_root);
    if (id < 0)
        return -ENOENT;
    if (pipe2(alive, O_CLOEXEC) < 0)
        return -errno;
    pid_t pid = fork();
    if (pid < 0) {
        int err = errno;
        close(alive[0]);
        close(alive[1]);
        return -err;
    }
    if (pid == 0) {
        /* Nothing of the daemon's stays open here: not /dev/fuse, not fusermount3's socket. */
        if (dup2(alive[0], 0) < 0)
            _exit(1);
        int devnull = open("/dev/null", O_RDWR);
        if (devnull >= 0) {
            dup2(devnull, 1);
            dup2(devnull, 2);
        }
        closefrom(3);
        prctl(PR_SET_NAME, "faultfs-guard"); /* ps tells it from the daemon */
        /* The signals that stop the daemon leave the watcher to do its work. */
        signal(SIGINT, SIG_IGN);
        signal(SIGTERM, SIG_IGN);
        signal(SIGHUP, SIG_IGN);
        guard_watch(0, id, mount_root);
        _exit(0);
    }
    close(alive[0]); /* the write end stays open, and closes when the daemon ends */
    return pid;
}

void mount_guard_stop(pid_t guard)
{
    if (guard <= 0)
        return;
    kill(guard, SIGKILL);
    waitpid(guard, NULL, 0);
}
