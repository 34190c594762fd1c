/* The control files: MOUNT/ctl (attach, detach, list), ID/ctl (faults), ID/stats and ID/trace. */
#include "ctl_file.h"

#include "ctl_parse.h"
#include "disk_control.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int snapshot_json(struct handle *h, json_t *json)
{
    if (!json)
        return -ENOMEM;
    char *text = json_dumps(json, JSON_INDENT(2));
    json_decref(json);
    if (!text)
        return -ENOMEM;
    size_t len = strlen(text);
    char *with_newline = realloc(text, len + 2);
    if (!with_newline) {
        free(text);
        return -ENOMEM;
    }
    memcpy(with_newline + len, "\n", 2);
    h->text = with_newline;
    h->text_len = len + 1;
    return 0;
}

static int snapshot_faults(struct handle *h)
{
    ssize_t len = -ENOSPC;
    /* Rules added between the sizing and the rendering: size again. */
    while (len == -ENOSPC) {
        size_t size = fault_table_render_size(&h->disk->faults);
        free(h->text);
        h->text = malloc(size);
        if (!h->text)
            return -ENOMEM;
        len = fault_table_render(&h->disk->faults, h->text, size);
    }
    if (len < 0)
        return (int)len;
    h->text_len = (size_t)len;
    return 0;
}

/* Adds which transport the kernel's requests come by ("dev" or "uring") to JSON. */
static json_t *with_transport(struct faultfs *fs, json_t *json)
{
    if (json)
        json_object_set_new(json, "transport", json_string(atomic_load(&fs->transport)));
    return json;
}

int ctl_file_snapshot(struct faultfs *fs, struct handle *h)
{
    switch (h->kind) {
    case NODE_MOUNT_CTL:
        return snapshot_json(h, with_transport(fs, disk_registry_json(&fs->disks)));
    case NODE_DISK_CTL:
        return snapshot_faults(h);
    case NODE_STATS:
        return snapshot_json(h, with_transport(fs, disk_stats_json(h->disk)));
    case NODE_TRACE:
        h->text = io_trace_render(&h->disk->trace, &h->text_len);
        return h->text ? 0 : -ENOMEM;
    default:
        return -EINVAL;
    }
}

/* The disks BATCH detaches, each with a reference, so their parked requests can be released. */
static size_t batch_detached(struct faultfs *fs, const struct ctl_batch *batch, struct disk **out)
{
    size_t n = 0;
    for (size_t i = 0; i < batch->count; i++) {
        const struct ctl_command *c = &batch->commands[i];
        if (c->op == CTL_OP_DETACH && (out[n] = disk_registry_find_id(&fs->disks, c->id,
                                                                      strlen(c->id))))
            n++;
    }
    return n;
}

static enum ctl_scope handle_scope(const struct handle *h)
{
    return h->kind == NODE_MOUNT_CTL ? CTL_SCOPE_MOUNT : CTL_SCOPE_DISK;
}

/*
 * A refused batch: the reason goes to the log, and becomes what reading this
 * open file returns, so the writer can learn it (ctl_client.h).
 */
static void ctl_refuse(struct handle *h, struct ff_error *err, int rc)
{
    char why[FF_ERROR_MSG_MAX + 64];
    if (!err->msg[0])
        snprintf(err->msg, sizeof err->msg, "%s", strerror(-rc));
    ff_error_format(err, why, sizeof why);
    fuse_log(FUSE_LOG_ERR, "faultfs: %s ctl: %s\n", h->disk ? h->disk->id : "mount", why);
    size_t len = strlen(why);
    char *text = malloc(len + 2);
    if (!text)
        return;
    memcpy(text, why, len);
    memcpy(text + len, "\n", 2);
    free(h->text);
    h->text = text;
    h->text_len = len + 1;
}

/* Applies the batch H has gathered: 0, or -errno with ERR. */
static int ctl_commit(struct faultfs *fs, struct handle *h, struct ff_error *err)
{
    struct ctl_batch *batch = &h->gather.commands;
    struct disk **detached = NULL;
    size_t ndetached = 0;
    int rc = 0;

    if (h->disk && atomic_load(&h->disk->detached)) {
        snprintf(err->msg, sizeof err->msg, "disk '%s' is detached", h->disk->id);
        return -ENXIO;
    }
    if (handle_scope(h) == CTL_SCOPE_MOUNT) {
        detached = calloc(batch->count ? batch->count : 1, sizeof *detached);
        if (!detached)
            return -ENOMEM;
        ndetached = batch_detached(fs, batch, detached);
        rc = disk_registry_apply(&fs->disks, batch, err);
    } else {
        rc = disk_control_apply(h->disk, batch, err);
    }

    /* Requests parked under the old rules wait only as long as the new ones say. */
    if (rc == 0 && h->disk)
        parking_retime(&fs->parked, h->disk);
    for (size_t i = 0; i < ndetached; i++) {
        if (rc == 0)
            parking_retime(&fs->parked, detached[i]);
        disk_unref(detached[i]);
    }
    free(detached);
    /* So do those of disks an "ID: COMMAND" line changed. */
    for (size_t i = 0; rc == 0 && h->kind == NODE_MOUNT_CTL && i < batch->count; i++) {
        const struct ctl_command *c = &batch->commands[i];
        struct disk *disk = c->op == CTL_OP_FAULT
                                ? disk_registry_find_id(&fs->disks, c->id, strlen(c->id))
                                : NULL;
        if (disk) {
            parking_retime(&fs->parked, disk);
            disk_unref(disk);
        }
    }
    return rc;
}

/*
 * Takes the complete lines of H's text not parsed yet (all of it when
 * CLOSING) into its batch, and checks what they ask against the disks
 * attached now. 0, or -errno with ERR.
 */
static int ctl_take_lines(struct faultfs *fs, struct handle *h, bool closing,
                          struct ff_error *err)
{
    struct ctl_gather *g = &h->gather;
    const char *from = g->text + g->parsed;
    size_t left = g->len - g->parsed;
    const char *nl = left ? memrchr(from, '\n', left) : NULL;
    size_t take = closing ? left : nl ? (size_t)(nl - from) + 1 : 0;
    if (take == 0)
        return 0;

    size_t before = g->commands.count;
    int rc = ctl_parse_more(handle_scope(h), from, take, g->lines, &g->commands, err);
    if (rc == 0 && handle_scope(h) == CTL_SCOPE_MOUNT)
        rc = disk_registry_check(&fs->disks, &g->commands, before, err);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < take; i++)
        g->lines += from[i] == '\n';
    g->parsed += take;
    return 0;
}

static void ctl_gather_reset(struct ctl_gather *g)
{
    free(g->text);
    ctl_batch_free(&g->commands);
    memset(g, 0, sizeof *g);
    g->lines = 1;
}

void ctl_file_write(struct request req, struct handle *h, const char *buf, size_t size)
{
    struct ctl_gather *g = &h->gather;
    struct ff_error err = {0};
    int rc = 0;

    pthread_mutex_lock(&h->lock);
    if (g->error) {
        /* An earlier piece of this batch was refused, and so is the batch: keep that reason. */
        pthread_mutex_unlock(&h->lock);
        return (void)request_reply_err(req, -g->error);
    }
    if (h->disk && atomic_load(&h->disk->detached)) {
        snprintf(err.msg, sizeof err.msg, "disk '%s' is detached", h->disk->id);
        rc = -ENXIO;
    } else if (g->len + size > CTL_WRITE_MAX) {
        snprintf(err.msg, sizeof err.msg, "a batch is at most %d bytes", CTL_WRITE_MAX);
        rc = -EFBIG;
    } else {
        char *grown = realloc(g->text, g->len + size);
        if (!grown) {
            rc = -ENOMEM;
        } else {
            memcpy(grown + g->len, buf, size);
            g->text = grown;
            g->len += size;
            rc = ctl_take_lines(faultfs_of(req), h, false, &err);
        }
    }
    if (rc < 0) {
        g->error = rc;
        ctl_refuse(h, &err, rc);
    }
    pthread_mutex_unlock(&h->lock);
    if (rc < 0)
        request_reply_err(req, -rc);
    else
        request_reply_write(req, size);
}

int ctl_file_flush(struct faultfs *fs, struct handle *h)
{
    struct ctl_gather *g = &h->gather;
    struct ff_error err = {0};
    pthread_mutex_lock(&h->lock);
    int rc = g->error;
    if (rc == 0 && g->len > 0) {
        rc = ctl_take_lines(fs, h, true, &err);
        if (rc == 0)
            rc = ctl_commit(fs, h, &err);
        if (rc < 0)
            ctl_refuse(h, &err, rc);
    }
    /* The next write, through another copy of the descriptor, starts a new batch. */
    ctl_gather_reset(g);
    pthread_mutex_unlock(&h->lock);
    return rc;
}

void ctl_file_release(struct handle *h)
{
    ctl_gather_reset(&h->gather);
}
