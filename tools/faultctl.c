/* faultctl: switch faults and attach disks of a faultfs mount from a shell. */
#include "faultctl.h"

#include "ctl_client.h"
#include "ctl_parse.h"
#include "disk_id.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CTL_READ_MAX (1024 * 1024)

static void usage(FILE *out)
{
    fprintf(out,
            "usage: faultctl MOUNT/ID inject MODE [DELAY] [read|write|flush] [KEY=VALUE]...\n"
            "       faultctl MOUNT/ID clear [MODE [KEY=VALUE]...]\n"
            "       faultctl MOUNT/ID status [--json]\n"
            "       faultctl MOUNT/ID powercut [keep=N] [seed=N] | mark TEXT | trace on|off|clear|show\n"
            "       faultctl MOUNT attach ID IMAGE [size=BYTES]\n"
            "       faultctl MOUNT detach ID\n"
            "       faultctl MOUNT list [--json]\n"
            "       faultctl MOUNT watch [--interval SECONDS] [--count N]\n"
            "       faultctl --help | --version\n"
            "\n"
            "MODE: eio_read, eio_write, eio_flush, eio_discard, slow, corrupt_read,\n"
            "corrupt_write, drop_write, torn_write, bad_sectors or volatile. slow's DELAY is\n"
            "a DURATION (250us, 50ms, 1.5s; default 50ms), MIN..MAX or mean=D p99=D. Keys:\n"
            "sectors=A-B[,C-D...] errno=NAME prob=P%% seed=N times=N after=N, and bits=N\n"
            "(corrupt_*), keep=K (torn_write), limit=SIZE (volatile).\n"
            "  faultctl /mnt/faults/vda inject eio_read sectors=2048-4095 times=3\n"
            "Commands are checked before they are sent, so a mistake names the bad value.\n");
}

int faultctl_fail(const char *fmt, ...)
{
    va_list ap;
    fputs("faultctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 1;
}

static void ctl_path(char *buf, size_t size, const char *target, const char *file)
{
    snprintf(buf, size, "%s/%s", target, file);
}

/* Reads all of PATH (a ctl or stats file) into a NUL-terminated string. */
char *faultctl_read_file(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    char *buf = malloc(CTL_READ_MAX + 1);
    size_t len = 0;
    ssize_t n = 0;
    while (buf && len < CTL_READ_MAX && (n = read(fd, buf + len, CTL_READ_MAX - len)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break;
        len += (size_t)n;
    }
    int saved = errno;
    close(fd);
    if (!buf || n < 0) {
        free(buf);
        errno = buf ? saved : ENOMEM;
        return NULL;
    }
    buf[len] = '\0';
    return buf;
}

/* What TARGET is: a disk (it has an image), a mount (a ctl but no image), or neither. */
enum target_kind { TARGET_NONE, TARGET_DISK, TARGET_MOUNT };

static enum target_kind target_kind(const char *target)
{
    char path[PATH_MAX];
    struct stat st;
    ctl_path(path, sizeof path, target, "image");
    if (stat(path, &st) == 0)
        return TARGET_DISK;
    ctl_path(path, sizeof path, target, "ctl");
    return stat(path, &st) == 0 ? TARGET_MOUNT : TARGET_NONE;
}

/*
 * Checks TEXT with the daemon's own parser and TARGET's kind, then sends it;
 * a refusal prints the daemon's own reason. The exit status: 0 or 1.
 */
static int send_batch(const char *target, enum ctl_scope scope, const char *text)
{
    struct ctl_batch batch;
    struct ff_error err;
    char path[PATH_MAX];
    int rc = ctl_parse(scope, text, strlen(text), &batch, &err);
    ctl_batch_free(&batch);
    if (rc < 0)
        return faultctl_fail("%s", err.msg);
    enum target_kind kind = target_kind(target);
    if (scope == CTL_SCOPE_MOUNT && kind == TARGET_DISK)
        return faultctl_fail("%s is a disk: attach, detach and list go to its mount (the folder above it)",
                    target);
    if (scope == CTL_SCOPE_DISK && kind == TARGET_MOUNT)
        return faultctl_fail("%s is a mount: faults go to one of its disks (%s/ID)", target, target);
    if (kind == TARGET_NONE)
        return faultctl_fail("%s is not a faultfs %s", target,
                    scope == CTL_SCOPE_DISK ? "disk (MOUNT/ID)" : "mount");

    ctl_path(path, sizeof path, target, "ctl");
    rc = ctl_client_send(path, text, &err);
    return rc < 0 ? faultctl_fail("%s", err.msg) : 0;
}

/* ---- disk commands ---- */

/* Joins WORDS with blanks after PREFIX into one ctl line: 0, or 1 if it does not fit. */
static int join_line(char *line, size_t size, const char *prefix, int argc, char **argv)
{
    size_t len = (size_t)snprintf(line, size, "%s", prefix);
    for (int i = 0; i < argc && len < size; i++)
        len += (size_t)snprintf(line + len, size - len, "%s%s", len ? " " : "", argv[i]);
    if (len + 2 > size)
        return faultctl_fail("the command is too long");
    memcpy(line + len, "\n", 2);
    return 0;
}

/* inject MODE [DELAY] [read|write|flush]... [KEY=VALUE]...: one rule, as a ctl line writes it */
static int cmd_inject(const char *target, int argc, char **argv)
{
    char line[4096];
    if (argc < 1)
        return faultctl_fail("inject needs a MODE (" CTL_MODE_NAMES ") and its keys");
    if (!fault_mode_find(argv[0], strlen(argv[0])))
        return faultctl_fail("inject: unknown mode '%s' (expected " CTL_MODE_NAMES ")", argv[0]);
    return join_line(line, sizeof line, "", argc, argv) || send_batch(target, CTL_SCOPE_DISK, line);
}

/* VERB and the words after it, as one line of the disk's ctl. */
static int send_disk_line(const char *target, const char *verb, int argc, char **argv)
{
    char line[4096];
    return join_line(line, sizeof line, verb, argc, argv) ||
           send_batch(target, CTL_SCOPE_DISK, line);
}

/* clear [MODE [KEY=VALUE]...]: every rule, a mode's rules, or the one rule that line makes */
static int cmd_clear(const char *target, int argc, char **argv)
{
    return send_disk_line(target, "clear", argc, argv);
}

/* powercut, mark TEXT..., trace on|off|clear: a disk's one-shot commands, as ctl takes them */
static int cmd_powercut(const char *target, int argc, char **argv)
{
    return send_disk_line(target, "powercut", argc, argv);
}

static int cmd_mark(const char *target, int argc, char **argv)
{
    return send_disk_line(target, "mark", argc, argv);
}

/* trace show: MOUNT/ID/trace as it is (JSON lines); trace on|off|clear: a command */
static int cmd_trace(const char *target, int argc, char **argv)
{
    char line[4096];
    if (argc == 1 && strcmp(argv[0], "show") == 0) {
        ctl_path(line, sizeof line, target, "trace");
        char *text = faultctl_read_file(line);
        if (!text)
            return faultctl_fail("%s is not a faultfs disk (MOUNT/ID): %s: %s", target, line,
                                 strerror(errno));
        fputs(text, stdout);
        free(text);
        return 0;
    }
    return send_disk_line(target, "trace", argc, argv);
}

static json_t *faults_json(const char *text)
{
    struct ctl_batch batch;
    struct ff_error err;
    json_t *faults = json_array();
    if (ctl_parse(CTL_SCOPE_DISK, text, strlen(text), &batch, &err) == 0) {
        for (size_t i = 0; i < batch.count; i++) {
            const struct fault_rule *r = &batch.commands[i].edit.rule;
            char line[FAULT_RULE_TEXT_MAX];
            fault_rule_format(r, false, line);
            json_t *rule = json_pack("{s:s, s:s}", "mode", r->mode->name, "line", line);
            if (r->delay == FAULT_DELAY_FIXED)
                json_object_set_new(rule, "delay_ns", json_integer((json_int_t)r->delay_a_ns));
            json_array_append_new(faults, rule);
        }
    }
    ctl_batch_free(&batch);
    return faults;
}

/* Prints ctl's lines ("RULE  # matched=N fired=N") as a table. */
static void print_rules(const char *text)
{
    int width = 4;
    for (const char *p = text; *p; p = strchr(p, '\n') + 1) {
        int len = (int)strcspn(p, "#\n");
        while (len > 0 && p[len - 1] == ' ')
            len--;
        width = len > width ? len : width;
        if (!strchr(p, '\n'))
            break;
    }
    if (!*text) {
        puts("(no faults)");
        return;
    }
    printf("%-*s %8s %8s\n", width, "RULE", "MATCHED", "FIRED");
    for (const char *p = text; *p; p = strchr(p, '\n') + 1) {
        int len = (int)strcspn(p, "#\n");
        while (len > 0 && p[len - 1] == ' ')
            len--;
        unsigned long long matched = 0, fired = 0;
        const char *hash = strchr(p, '#');
        if (hash && hash < strchr(p, '\n'))
            sscanf(hash, "# matched=%llu fired=%llu", &matched, &fired);
        printf("%-*.*s %8llu %8llu\n", width, len, p, matched, fired);
        if (!strchr(p, '\n'))
            break;
    }
}

static int cmd_status(const char *target, int argc, char **argv)
{
    char path[PATH_MAX];
    bool as_json = argc == 1 && strcmp(argv[0], "--json") == 0;
    if (argc > 1 || (argc == 1 && !as_json))
        return faultctl_fail("status takes only --json");
    ctl_path(path, sizeof path, target, "ctl");
    char *text = faultctl_read_file(path);
    if (!text)
        return faultctl_fail("%s is not a faultfs disk (MOUNT/ID): %s: %s", target, path, strerror(errno));
    if (!as_json) {
        print_rules(text);
        free(text);
        return 0;
    }
    ctl_path(path, sizeof path, target, "stats");
    char *stats_text = faultctl_read_file(path);
    json_error_t jerr;
    json_t *stats = stats_text ? json_loads(stats_text, 0, &jerr) : NULL;
    const char *slash = strrchr(target, '/');
    json_t *out = json_pack("{s:s, s:o, s:o}", "id", slash ? slash + 1 : target, "faults",
                            faults_json(text), "stats", stats ? stats : json_null());
    json_dumpf(out, stdout, JSON_INDENT(2));
    fputc('\n', stdout);
    json_decref(out);
    free(stats_text);
    free(text);
    return 0;
}

/* ---- mount commands ---- */

static int cmd_attach(const char *target, int argc, char **argv)
{
    char image[PATH_MAX], cwd[PATH_MAX];
    char line[PATH_MAX * 2 + 256];
    const char *why;
    if (argc < 2 || argc > 3)
        return faultctl_fail("attach needs ID IMAGE [size=BYTES]");
    /* Checked before the line is made: an ID with a blank would shift the words. */
    if (disk_id_check(argv[0], strlen(argv[0]), &why) < 0)
        return faultctl_fail("attach: bad disk ID '%s': %s", argv[0], why);
    /* The protocol takes absolute paths; a shell user may type a relative one. */
    if (argv[1][0] == '/')
        snprintf(image, sizeof image, "%s", argv[1]);
    else if (!getcwd(cwd, sizeof cwd))
        return faultctl_fail("attach: image '%s': %s", argv[1], strerror(errno));
    else if (snprintf(image, sizeof image, "%s/%s", cwd, argv[1]) >= (int)sizeof image)
        return faultctl_fail("attach: image '%s': %s", argv[1], strerror(ENAMETOOLONG));
    snprintf(line, sizeof line, "attach %s %s%s%s\n", argv[0], image, argc == 3 ? " " : "",
             argc == 3 ? argv[2] : "");
    return send_batch(target, CTL_SCOPE_MOUNT, line);
}

static int cmd_detach(const char *target, int argc, char **argv)
{
    char line[DISK_ID_MAX + 32];
    if (argc != 1)
        return faultctl_fail("detach needs exactly one ID");
    const char *why;
    if (disk_id_check(argv[0], strlen(argv[0]), &why) < 0)
        return faultctl_fail("detach: bad disk ID '%s': %s", argv[0], why);
    snprintf(line, sizeof line, "detach %s\n", argv[0]);
    return send_batch(target, CTL_SCOPE_MOUNT, line);
}

static int cmd_list(const char *target, int argc, char **argv)
{
    char path[PATH_MAX];
    json_error_t jerr;
    bool as_json = argc == 1 && strcmp(argv[0], "--json") == 0;
    if (argc > 1 || (argc == 1 && !as_json))
        return faultctl_fail("list takes only --json");
    if (target_kind(target) == TARGET_DISK)
        return faultctl_fail("%s is a disk: list goes to its mount (the folder above it)", target);
    ctl_path(path, sizeof path, target, "ctl");
    char *text = faultctl_read_file(path);
    if (!text)
        return faultctl_fail("%s is not a faultfs mount: %s: %s", target, path, strerror(errno));
    json_t *list = json_loads(text, 0, &jerr);
    if (!list) {
        free(text);
        return faultctl_fail("%s is not a faultfs mount: %s is not JSON", target, path);
    }
    if (as_json) {
        fputs(text, stdout);
    } else {
        size_t i;
        json_t *disk;
        printf("%-16s %12s  %-24s %s\n", "ID", "SIZE", "FAULTS", "IMAGE");
        json_array_foreach(json_object_get(list, "disks"), i, disk)
        {
            char faults[256] = "-";
            size_t j, len = 0;
            json_t *f;
            json_array_foreach(json_object_get(disk, "faults"), j, f)
            {
                len += (size_t)snprintf(faults + len, len < sizeof faults ? sizeof faults - len : 0,
                                        "%s%s", j ? "," : "", json_string_value(f));
            }
            printf("%-16s %12lld  %-24s %s\n", json_string_value(json_object_get(disk, "id")),
                   (long long)json_integer_value(json_object_get(disk, "size")), faults,
                   json_string_value(json_object_get(disk, "image")));
        }
    }
    json_decref(list);
    free(text);
    return 0;
}

struct command {
    const char *name;
    int (*run)(const char *target, int argc, char **argv);
};

static const struct command commands[] = {
    {"inject", cmd_inject}, {"clear", cmd_clear},   {"status", cmd_status},
    {"attach", cmd_attach}, {"detach", cmd_detach}, {"list", cmd_list},
    {"watch", faultctl_watch},   {"powercut", cmd_powercut}, {"mark", cmd_mark},
    {"trace", cmd_trace},
};

int main(int argc, char **argv)
{
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        usage(stdout);
        return 0;
    }
    if (argc == 2 && (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0)) {
        printf("faultctl %s\n", FAULTFS_VERSION);
        return 0;
    }
    if (argc < 3) {
        usage(stderr);
        return 2;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(argv[2], commands[i].name) == 0)
            return commands[i].run(argv[1], argc - 3, argv + 3);
    }
    faultctl_fail("unknown command '%s' (expected inject, clear, status, powercut, mark, trace, "
                  "attach, detach, list or watch)",
                  argv[2]);
    return 2;
}
