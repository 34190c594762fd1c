/*
 * faultctl MOUNT watch: a live view of every disk of a mount, like iostat:
 * requests and bytes per second, the mean latency of the requests answered,
 * the rules and the faults fired, refreshed each interval from MOUNT/ctl
 * and each MOUNT/ID/stats.
 */
#include "faultctl.h"

#include "duration.h"

#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* What one look at a disk's stats says; rates come from two looks. */
struct disk_look {
    char id[128];
    uint64_t counter[8]; /* see watch_fields */
    size_t rules;
};

static const char *const watch_fields[] = {"reads",   "writes",   "read_bytes", "write_bytes",
                                           "read_ns", "write_ns", "faults_fired", "failed_reads"};

/* Reads the stats of every disk of MOUNT: how many, or -1 with errno set. */
static ssize_t watch_look(const char *mount, struct disk_look **out)
{
    char path[PATH_MAX];
    json_error_t jerr;
    snprintf(path, sizeof path, "%s/ctl", mount);
    char *text = faultctl_read_file(path);
    json_t *list = text ? json_loads(text, 0, &jerr) : NULL;
    free(text);
    if (!list)
        return -1;
    json_t *disks = json_object_get(list, "disks");
    size_t n = json_array_size(disks), i;
    struct disk_look *looks = calloc(n ? n : 1, sizeof *looks);
    json_t *disk;
    json_array_foreach(disks, i, disk)
    {
        struct disk_look *l = &looks[i];
        snprintf(l->id, sizeof l->id, "%s", json_string_value(json_object_get(disk, "id")));
        l->rules = json_array_size(json_object_get(disk, "faults"));
        snprintf(path, sizeof path, "%s/%s/stats", mount, l->id);
        char *stats_text = faultctl_read_file(path);
        json_t *stats = stats_text ? json_loads(stats_text, 0, &jerr) : NULL;
        for (size_t f = 0; stats && f < sizeof watch_fields / sizeof watch_fields[0]; f++)
            l->counter[f] = (uint64_t)json_integer_value(json_object_get(stats, watch_fields[f]));
        json_decref(stats);
        free(stats_text);
    }
    json_decref(list);
    *out = looks;
    return (ssize_t)n;
}

static const struct disk_look *watch_find(const struct disk_look *looks, ssize_t n, const char *id)
{
    for (ssize_t i = 0; i < n; i++) {
        if (strcmp(looks[i].id, id) == 0)
            return &looks[i];
    }
    return NULL;
}

/* Mean milliseconds per request over the interval, or "-" with none. */
static void watch_latency(char *buf, size_t size, uint64_t ns, uint64_t requests)
{
    if (requests == 0)
        snprintf(buf, size, "-");
    else
        snprintf(buf, size, "%.2f", (double)ns / (double)requests / 1e6);
}

static void watch_print(const struct disk_look *now, ssize_t n, const struct disk_look *before,
                        ssize_t nbefore, double seconds, bool tty)
{
    if (tty)
        fputs("\033[H\033[2J", stdout); /* home and clear, as top does */
    printf("%-20s %9s %9s %9s %9s %9s %9s %6s %9s\n", "DISK", "r/s", "w/s", "rMiB/s", "wMiB/s",
           "r_ms", "w_ms", "rules", "fired/s");
    for (ssize_t i = 0; i < n; i++) {
        const struct disk_look *a = &now[i];
        const struct disk_look *b = watch_find(before, nbefore, a->id);
        uint64_t d[8] = {0};
        for (size_t f = 0; f < 8; f++)
            d[f] = b && a->counter[f] >= b->counter[f] ? a->counter[f] - b->counter[f] : 0;
        char rl[16], wl[16];
        watch_latency(rl, sizeof rl, d[4], d[0]);
        watch_latency(wl, sizeof wl, d[5], d[1]);
        printf("%-20s %9.0f %9.0f %9.2f %9.2f %9s %9s %6zu %9.0f\n", a->id, d[0] / seconds,
               d[1] / seconds, d[2] / seconds / 1048576, d[3] / seconds / 1048576, rl, wl, a->rules,
               d[6] / seconds);
    }
    if (n == 0)
        puts("(no disks)");
    fflush(stdout);
}

int faultctl_watch(const char *target, int argc, char **argv)
{
    double interval = 1.0;
    long count = -1; /* forever */
    for (int i = 0; i < argc; i++) {
        char *end;
        if (strcmp(argv[i], "--interval") == 0 && i + 1 < argc) {
            interval = strtod(argv[++i], &end);
            if (*end || interval < 0.1 || interval > 3600)
                return faultctl_fail("watch: bad --interval '%s' (seconds, 0.1 to 3600)", argv[i]);
        } else if (strcmp(argv[i], "--count") == 0 && i + 1 < argc) {
            count = strtol(argv[++i], &end, 10);
            if (*end || count < 1)
                return faultctl_fail("watch: bad --count '%s' (a number of screens, at least 1)",
                                     argv[i]);
        } else {
            return faultctl_fail("watch takes only --interval SECONDS and --count N");
        }
    }
    struct disk_look *before = NULL, *now = NULL;
    ssize_t nbefore = watch_look(target, &before);
    if (nbefore < 0)
        return faultctl_fail("%s is not a faultfs mount", target);
    bool tty = isatty(STDOUT_FILENO);
    uint64_t last = duration_now_ns();
    for (long shown = 0; count < 0 || shown < count; shown++) {
        duration_sleep((uint64_t)(interval * 1e9));
        ssize_t n = watch_look(target, &now);
        if (n < 0) {
            free(before);
            return faultctl_fail("%s: the mount went away", target);
        }
        uint64_t t = duration_now_ns();
        watch_print(now, n, before, nbefore, (double)(t - last) / 1e9, tty);
        free(before);
        before = now;
        nbefore = n;
        last = t;
    }
    free(before);
    return 0;
}
