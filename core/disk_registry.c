/* The disks of a mount: lookups, and attach/detach batches applied all or nothing. */
#include "disk_registry.h"

#include "disk_control.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int disk_registry_init(struct disk_registry *reg, const char *mount_root)
{
    memset(reg, 0, sizeof *reg);
    reg->next_serial = 1;
    if (mount_root && !(reg->mount_root = strdup(mount_root)))
        return -ENOMEM;
    int rc = reg->mount_root ? image_guard_init(&reg->guard, reg->mount_root) : 0;
    if (rc == 0)
        rc = -pthread_mutex_init(&reg->lock, NULL);
    if (rc < 0)
        free(reg->mount_root);
    return rc;
}

int disk_registry_guard_mounted(struct disk_registry *reg)
{
    return reg->mount_root ? image_guard_mounted(&reg->guard) : 0;
}

void disk_registry_destroy(struct disk_registry *reg)
{
    for (size_t i = 0; i < reg->count; i++) {
        disk_mark_detached(reg->disks[i]);
        disk_unref(reg->disks[i]);
    }
    free(reg->disks);
    free(reg->mount_root);
    pthread_mutex_destroy(&reg->lock);
}

/* Index of the attached disk named ID, or -1. Caller holds the lock. */
static ssize_t registry_index_of(struct disk_registry *reg, const char *id, size_t len)
{
    for (size_t i = 0; i < reg->count; i++) {
        if (strlen(reg->disks[i]->id) == len && memcmp(reg->disks[i]->id, id, len) == 0)
            return (ssize_t)i;
    }
    return -1;
}

struct disk *disk_registry_find_id(struct disk_registry *reg, const char *id, size_t len)
{
    struct disk *disk = NULL;
    pthread_mutex_lock(&reg->lock);
    ssize_t i = registry_index_of(reg, id, len);
    if (i >= 0) {
        disk = reg->disks[i];
        disk_ref(disk);
    }
    pthread_mutex_unlock(&reg->lock);
    return disk;
}

struct disk *disk_registry_find_serial(struct disk_registry *reg, uint64_t serial)
{
    struct disk *disk = NULL;
    pthread_mutex_lock(&reg->lock);
    size_t lo = 0, hi = reg->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (reg->disks[mid]->serial < serial)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < reg->count && reg->disks[lo]->serial == serial) {
        disk = reg->disks[lo];
        disk_ref(disk);
    }
    pthread_mutex_unlock(&reg->lock);
    return disk;
}

ssize_t disk_registry_list(struct disk_registry *reg, struct disk ***out)
{
    pthread_mutex_lock(&reg->lock);
    size_t n = reg->count;
    struct disk **copy = malloc((n ? n : 1) * sizeof *copy);
    if (!copy) {
        pthread_mutex_unlock(&reg->lock);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        copy[i] = reg->disks[i];
        disk_ref(copy[i]);
    }
    pthread_mutex_unlock(&reg->lock);
    *out = copy;
    return (ssize_t)n;
}

void disk_registry_list_free(struct disk **disks, size_t count)
{
    for (size_t i = 0; i < count; i++)
        disk_unref(disks[i]);
    free(disks);
}

json_t *disk_registry_json(struct disk_registry *reg)
{
    struct disk **disks;
    ssize_t n = disk_registry_list(reg, &disks);
    if (n < 0)
        return NULL;
    json_t *array = json_array();
    for (ssize_t i = 0; i < n; i++)
        json_array_append_new(array, disk_info_json(disks[i]));
    disk_registry_list_free(disks, (size_t)n);
    return json_pack("{s:o}", "disks", array);
}

/* ---- batches ---- */

static int registry_fail(struct ff_error *err, const struct ctl_command *cmd, int rc,
                         const char *fmt, ...)
{
    va_list ap;
    err->line = cmd->line;
    err->column = 1;
    va_start(ap, fmt);
    ff_error_vset(err, rc, fmt, ap);
    va_end(ap);
    return rc;
}

/*
 * Whether ID is attached after commands [0, UPTO) of BATCH would run.
 * Caller holds the lock.
 */
static bool batch_id_present(struct disk_registry *reg, const struct ctl_batch *batch, size_t upto,
                             const char *id)
{
    bool present = registry_index_of(reg, id, strlen(id)) >= 0;
    for (size_t i = 0; i < upto; i++) {
        const struct ctl_command *c = &batch->commands[i];
        if ((c->op == CTL_OP_ATTACH || c->op == CTL_OP_DETACH) && strcmp(c->id, id) == 0)
            present = c->op == CTL_OP_ATTACH;
    }
    return present;
}

static int registry_insert(struct disk_registry *reg, struct disk *disk)
{
    if (reg->count == reg->capacity) {
        size_t cap = reg->capacity ? reg->capacity * 2 : 16;
        struct disk **grown = realloc(reg->disks, cap * sizeof *grown);
        if (!grown)
            return -ENOMEM;
        reg->disks = grown;
        reg->capacity = cap;
    }
    disk->serial = reg->next_serial++;
    reg->disks[reg->count++] = disk; /* serials only grow: stays sorted */
    return 0;
}

static struct disk *registry_remove(struct disk_registry *reg, const char *id)
{
    ssize_t i = registry_index_of(reg, id, strlen(id));
    struct disk *disk = reg->disks[i];
    memmove(&reg->disks[i], &reg->disks[i + 1], (reg->count - (size_t)i - 1) * sizeof disk);
    reg->count--;
    return disk;
}

/* Whether ids are in use or missing for commands [FROM, count). Caller holds the lock. */
static int registry_check_ids(struct disk_registry *reg, const struct ctl_batch *batch,
                              size_t from, struct ff_error *err)
{
    for (size_t i = from; i < batch->count; i++) {
        const struct ctl_command *c = &batch->commands[i];
        bool present = batch_id_present(reg, batch, i, c->id);
        if (c->op == CTL_OP_ATTACH && present)
            return registry_fail(err, c, -EEXIST, "attach: disk '%s' is already attached", c->id);
        if (c->op == CTL_OP_DETACH && !present)
            return registry_fail(err, c, -ENOENT, "detach: no disk '%s' is attached", c->id);
        if (c->op == CTL_OP_FAULT && !present)
            return registry_fail(err, c, -ENOENT, "%s: no disk '%s' is attached", c->id, c->id);
        /* Checked at whichever of the two comes second (a batch arrives in pieces). */
        for (size_t k = 0; k < i && c->op == CTL_OP_DETACH; k++) {
            const struct ctl_command *earlier = &batch->commands[k];
            if (earlier->op == CTL_OP_FAULT && strcmp(earlier->id, c->id) == 0)
                return registry_fail(err, c, -EINVAL,
                                     "detach: %s's commands and its detach go in separate batches",
                                     c->id);
        }
        for (size_t k = i + 1; k < batch->count && c->op == CTL_OP_FAULT; k++) {
            const struct ctl_command *later = &batch->commands[k];
            if (later->op == CTL_OP_DETACH && strcmp(later->id, c->id) == 0)
                return registry_fail(err, later, -EINVAL,
                                     "detach: %s's commands and its detach go in separate batches",
                                     c->id);
        }
    }
    return 0;
}

/*
 * The disk fault command I of BATCH is for: one the batch attaches (in
 * OPENED), or one attached now. Caller holds the lock; the ids are checked.
 */
static struct disk *batch_fault_target(struct disk_registry *reg, const struct ctl_batch *batch,
                                       size_t i, struct disk **opened)
{
    const char *id = batch->commands[i].id;
    for (size_t k = i; k-- > 0;) {
        if (batch->commands[k].op == CTL_OP_ATTACH && strcmp(batch->commands[k].id, id) == 0)
            return opened[k];
    }
    return reg->disks[registry_index_of(reg, id, strlen(id))];
}

/*
 * Prepares the fault edits of BATCH's "ID: COMMAND" lines, one change per
 * disk (its table locked until commit or abandon). Returns how many disks
 * it prepared, or -errno with ERR (and nothing left prepared).
 */
static ssize_t registry_prepare_faults(struct disk_registry *reg, const struct ctl_batch *batch,
                                       struct disk **opened, struct disk **targets,
                                       struct fault_change *changes, struct ff_error *err)
{
    size_t ntargets = 0;
    struct fault_edit *edits = malloc((batch->count ? batch->count : 1) * sizeof *edits);
    if (!edits)
        return -ENOMEM;
    int rc = 0;
    for (size_t i = 0; i < batch->count && rc == 0; i++) {
        if (batch->commands[i].op != CTL_OP_FAULT)
            continue;
        struct disk *disk = batch_fault_target(reg, batch, i, opened);
        bool done = false;
        for (size_t t = 0; t < ntargets && !done; t++)
            done = targets[t] == disk;
        if (done)
            continue; /* its edits went with its first command */
        size_t n = 0;
        for (size_t k = i; k < batch->count; k++) {
            if (batch->commands[k].op == CTL_OP_FAULT &&
                batch_fault_target(reg, batch, k, opened) == disk)
                edits[n++] = batch->commands[k].edit;
        }
        rc = fault_table_prepare(&disk->faults, edits, n, &changes[ntargets]);
        if (rc < 0)
            registry_fail(err, &batch->commands[i], rc, "%s: %s", disk->id,
                          rc == -ENOSPC ? "too many rules for one disk" : strerror(-rc));
        else
            targets[ntargets++] = disk;
    }
    free(edits);
    if (rc < 0) {
        while (ntargets-- > 0)
            fault_table_abandon(&targets[ntargets]->faults, &changes[ntargets]);
        return rc;
    }
    return (ssize_t)ntargets;
}

int disk_registry_check(struct disk_registry *reg, const struct ctl_batch *batch, size_t from,
                        struct ff_error *err)
{
    int rc = 0;
    memset(err, 0, sizeof *err);
    pthread_mutex_lock(&reg->lock);
    rc = registry_check_ids(reg, batch, from, err);
    pthread_mutex_unlock(&reg->lock);
    /* Outside the lock, as in apply: the walk to an image may take its time. */
    for (size_t i = from; i < batch->count && rc == 0; i++) {
        const struct ctl_command *c = &batch->commands[i];
        struct ff_error why;
        if (c->op != CTL_OP_ATTACH)
            continue;
        int fd = image_open(c->image, &reg->guard, &why);
        if (fd < 0)
            rc = registry_fail(err, c, fd, "attach: %s", why.msg);
        else
            close(fd);
    }
    return rc;
}

int disk_registry_apply(struct disk_registry *reg, const struct ctl_batch *batch,
                        struct ff_error *err)
{
    size_t slots = batch->count ? batch->count : 1;
    struct disk **opened = calloc(slots, sizeof *opened);
    struct disk **removed = calloc(slots, sizeof *opened);
    struct disk **targets = calloc(slots, sizeof *targets);
    struct fault_change *changes = calloc(slots, sizeof *changes);
    size_t nremoved = 0;
    ssize_t ntargets = 0;
    int rc = 0;

    memset(err, 0, sizeof *err);
    if (!opened || !removed || !targets || !changes) {
        rc = -ENOMEM;
        goto out;
    }
    /* Open every image first, without the lock: checking a path may look inside the mount. */
    for (size_t i = 0; i < batch->count && rc == 0; i++) {
        const struct ctl_command *c = &batch->commands[i];
        struct ff_error why;
        if (c->op != CTL_OP_ATTACH)
            continue;
        rc = disk_open(c->id, c->image, c->size_limit, &reg->guard, &opened[i], &why);
        if (rc < 0)
            registry_fail(err, c, rc, "attach: %s", why.msg);
    }
    if (rc < 0)
        goto out;

    pthread_mutex_lock(&reg->lock);
    rc = registry_check_ids(reg, batch, 0, err);
    /* Room for every attach up front, so the commit below cannot fail half-way. */
    while (rc == 0 && reg->capacity < reg->count + batch->count) {
        size_t cap = reg->capacity ? reg->capacity * 2 : 16;
        struct disk **grown = realloc(reg->disks, cap * sizeof *grown);
        if (!grown)
            rc = -ENOMEM;
        else {
            reg->disks = grown;
            reg->capacity = cap;
        }
    }
    if (rc == 0 && (ntargets = registry_prepare_faults(reg, batch, opened, targets, changes, err)) < 0)
        rc = (int)ntargets;
    /* Nothing below can fail: the batch takes effect whole. */
    for (size_t i = 0; i < batch->count && rc == 0; i++) {
        const struct ctl_command *c = &batch->commands[i];
        if (c->op == CTL_OP_ATTACH) {
            registry_insert(reg, opened[i]);
            opened[i] = NULL;
        } else if (c->op == CTL_OP_DETACH) {
            removed[nremoved++] = registry_remove(reg, c->id);
        }
    }
    ssize_t committed = rc == 0 ? ntargets : 0;
    for (ssize_t t = 0; t < committed; t++) {
        fault_table_commit(&targets[t]->faults, &changes[t]);
        disk_ref(targets[t]);
    }
    pthread_mutex_unlock(&reg->lock);

    /* The disks' caches and one-shot commands, once their rules are in. */
    for (ssize_t t = 0; t < committed; t++) {
        struct ff_error why;
        int after = disk_control_after(targets[t], batch, targets[t]->id, &why);
        if (after < 0 && rc == 0) {
            *err = why;
            rc = after;
        }
        disk_unref(targets[t]);
    }

    /* Waiting for requests in flight happens outside the lock. */
    for (size_t i = 0; i < nremoved; i++) {
        disk_mark_detached(removed[i]);
        disk_unref(removed[i]);
    }
out:
    for (size_t i = 0; opened && i < batch->count; i++) {
        if (opened[i])
            disk_unref(opened[i]);
    }
    free(opened);
    free(removed);
    free(targets);
    free(changes);
    return rc;
}
