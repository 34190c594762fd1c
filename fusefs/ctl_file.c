/* The control files: MOUNT/ctl (attach, detach, list), ID/ctl (faults) and ID/stats. */
#include "faultfs.h"

#include "ctl_parse.h"

#include <errno.h>
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
    size_t size = FAULT_TABLE_MAX_RULES * FAULT_RULE_TEXT_MAX + 1;
    h->text = malloc(size);
    if (!h->text)
        return -ENOMEM;
    ssize_t len = fault_table_render(&h->disk->faults, h->text, size);
    if (len < 0)
        return (int)len;
    h->text_len = (size_t)len;
    return 0;
}

int ctl_file_snapshot(struct faultfs *fs, struct handle *h)
{
    switch (h->kind) {
    case NODE_MOUNT_CTL:
        return snapshot_json(h, disk_registry_json(&fs->disks));
    case NODE_DISK_CTL:
        return snapshot_faults(h);
    case NODE_STATS:
        return snapshot_json(h, disk_stats_json(h->disk));
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

/* Parses and applies one batch of H's scope: 0 or -errno, the reason logged. */
static int ctl_apply(struct faultfs *fs, struct handle *h, const char *text, size_t len)
{
    enum ctl_scope scope = h->kind == NODE_MOUNT_CTL ? CTL_SCOPE_MOUNT : CTL_SCOPE_DISK;
    struct ctl_batch batch;
    struct ctl_error err;
    struct disk **detached = NULL;
    size_t ndetached = 0;

    if (h->disk && atomic_load(&h->disk->detached))
        return -ENXIO;
    int rc = ctl_parse(scope, text, len, &batch, &err);
    if (rc == 0 && scope == CTL_SCOPE_MOUNT) {
        detached = calloc(batch.count ? batch.count : 1, sizeof *detached);
        if (!detached)
            rc = -ENOMEM;
        else
            ndetached = batch_detached(fs, &batch, detached);
        if (rc == 0)
            rc = disk_registry_apply(&fs->disks, &batch, &err);
    } else if (rc == 0) {
        rc = ctl_batch_apply_faults(&batch, &h->disk->faults);
    }
    ctl_batch_free(&batch);

    /* Requests parked under the old rules wait only as long as the new ones say. */
    if (rc == 0 && h->disk)
        parking_retime(fs, h->disk);
    for (size_t i = 0; i < ndetached; i++) {
        if (rc == 0)
            parking_retime(fs, detached[i]);
        disk_unref(detached[i]);
    }
    free(detached);

    if (rc < 0 && err.text[0]) {
        char why[CTL_ERROR_TEXT_MAX + 64];
        ctl_error_format(&err, why, sizeof why);
        fuse_log(FUSE_LOG_ERR, "faultfs: %s ctl: %s\n", h->disk ? h->disk->id : "mount", why);
    }
    return rc;
}

/*
 * A write that ends at a multiple of this many bytes may be the first piece
 * of a longer text: stdio writes whole buffers of a multiple of it, and the
 * kernel cuts a buffered write at its pages.
 */
#define CTL_PIECE_ALIGN 4096

void ctl_file_write(fuse_req_t req, struct handle *h, const char *buf, size_t size, off_t off)
{
    struct faultfs *fs = faultfs_of(req);
    int rc = 0;

    pthread_mutex_lock(&h->lock);
    const char *text = buf;
    size_t len = size;
    if (h->pending_len > 0 || (size > 0 && (off + (off_t)size) % CTL_PIECE_ALIGN == 0)) {
        /* Join the pieces: the batch is their whole text. */
        if (h->pending_len + size > CTL_WRITE_MAX) {
            fuse_log(FUSE_LOG_ERR, "faultfs: %s ctl: a batch is at most %d bytes\n",
                     h->disk ? h->disk->id : "mount", CTL_WRITE_MAX);
            rc = -EINVAL;
            goto out;
        }
        char *grown = realloc(h->pending, h->pending_len + size);
        if (!grown) {
            rc = -ENOMEM;
            goto out;
        }
        memcpy(grown + h->pending_len, buf, size);
        h->pending = grown;
        h->pending_len += size;
        if ((off + (off_t)size) % CTL_PIECE_ALIGN == 0) {
            pthread_mutex_unlock(&h->lock);
            fuse_reply_write(req, size); /* more may follow: applied with it, or at close */
            return;
        }
        text = h->pending;
        len = h->pending_len;
    }
    rc = ctl_apply(fs, h, text, len);
out:
    free(h->pending);
    h->pending = NULL;
    h->pending_len = 0;
    pthread_mutex_unlock(&h->lock);
    if (rc < 0)
        fuse_reply_err(req, -rc);
    else
        fuse_reply_write(req, size);
}

int ctl_file_flush(struct faultfs *fs, struct handle *h)
{
    int rc = 0;
    pthread_mutex_lock(&h->lock);
    if (h->pending_len > 0)
        rc = ctl_apply(fs, h, h->pending, h->pending_len);
    free(h->pending);
    h->pending = NULL;
    h->pending_len = 0;
    pthread_mutex_unlock(&h->lock);
    return rc;
}
