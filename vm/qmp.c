/* QMP: greeting, capabilities, commands with ids, and an event queue. */
#include "qmp.h"

#include "duration.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Keeps at most this many unclaimed events; the oldest go first. */
#define QMP_EVENTS_MAX 1024

static void qmp_queue_event(struct qmp *q, json_t *msg)
{
    if (json_array_size(q->events) >= QMP_EVENTS_MAX)
        json_array_remove(q->events, 0);
    json_array_append(q->events, msg);
}

/* Reads one message before DEADLINE; events are queued and NULL returned with *ERR = 0. */
static json_t *qmp_read(struct qmp *q, uint64_t deadline_ns, int *err)
{
    json_error_t jerr;
    char *line = line_conn_read(&q->conn, deadline_ns, err);
    if (!line)
        return NULL;
    json_t *msg = json_loads(line, 0, &jerr);
    *err = 0;
    if (!msg || !json_is_object(msg)) {
        json_decref(msg);
        *err = -EPROTO;
        return NULL;
    }
    if (json_object_get(msg, "event")) {
        qmp_queue_event(q, msg);
        json_decref(msg);
        return NULL;
    }
    return msg;
}

int qmp_open(struct qmp *q, const char *path, uint64_t deadline_ns, char *why, size_t why_size)
{
    int err = 0;
    memset(q, 0, sizeof *q);
    q->events = json_array();
    int rc = line_conn_open(&q->conn, path, deadline_ns);
    if (rc < 0) {
        snprintf(why, why_size, "cannot connect to QMP at %s: %s", path, strerror(-rc));
        return rc;
    }
    json_t *greeting = NULL;
    while (!greeting && err == 0)
        greeting = qmp_read(q, deadline_ns, &err);
    if (!greeting || !json_object_get(greeting, "QMP")) {
        json_decref(greeting);
        snprintf(why, why_size, "no QMP greeting: %s", strerror(err ? -err : EPROTO));
        return err ? err : -EPROTO;
    }
    json_decref(greeting);
    json_t *ret = qmp_execute(q, "qmp_capabilities", NULL, deadline_ns - duration_now_ns(), why,
                              why_size);
    if (!ret)
        return -EPROTO;
    json_decref(ret);
    return 0;
}

void qmp_close(struct qmp *q)
{
    line_conn_close(&q->conn);
    json_decref(q->events);
    q->events = NULL;
}

json_t *qmp_execute(struct qmp *q, const char *command, json_t *args, uint64_t timeout_ns,
                    char *why, size_t why_size)
{
    uint64_t deadline = duration_now_ns() + timeout_ns;
    unsigned id = ++q->next_id;
    json_t *msg = json_pack("{s:s, s:I}", "execute", command, "id", (json_int_t)id);
    if (args)
        json_object_set_new(msg, "arguments", args);
    char *text = json_dumps(msg, JSON_COMPACT);
    json_decref(msg);
    if (!text) {
        snprintf(why, why_size, "%s: out of memory", command);
        return NULL;
    }
    size_t len = strlen(text);
    text[len] = '\n'; /* json_dumps leaves room: we overwrite the NUL and send len + 1 */
    int rc = line_conn_write(&q->conn, text, len + 1);
    free(text);
    if (rc < 0) {
        snprintf(why, why_size, "%s: QMP connection lost: %s", command, strerror(-rc));
        return NULL;
    }
    for (;;) {
        int err;
        json_t *reply = qmp_read(q, deadline, &err);
        if (!reply && err) {
            snprintf(why, why_size, "%s: %s", command,
                     err == -ETIMEDOUT ? "QEMU did not answer in time" : strerror(-err));
            return NULL;
        }
        if (!reply || json_integer_value(json_object_get(reply, "id")) != (json_int_t)id) {
            json_decref(reply);
            continue;
        }
        json_t *ret = json_object_get(reply, "return");
        if (ret) {
            json_incref(ret);
            json_decref(reply);
            return ret;
        }
        const char *desc = json_string_value(json_object_get(json_object_get(reply, "error"), "desc"));
        snprintf(why, why_size, "%s", desc ? desc : "QEMU refused the command");
        json_decref(reply);
        return NULL;
    }
}

/* Whether every member of MATCH is equal in DATA. */
static bool qmp_matches(json_t *data, json_t *match)
{
    const char *key;
    json_t *want;
    if (!match)
        return true;
    json_object_foreach(match, key, want)
    {
        if (!json_equal(json_object_get(data, key), want))
            return false;
    }
    return true;
}

static json_t *qmp_take_first(struct qmp *q, const char *name, json_t *match)
{
    size_t i;
    json_t *ev;
    json_array_foreach(q->events, i, ev)
    {
        const char *evname = json_string_value(json_object_get(ev, "event"));
        if (evname && strcmp(evname, name) == 0 && qmp_matches(json_object_get(ev, "data"), match)) {
            json_incref(ev);
            json_array_remove(q->events, i);
            return ev;
        }
    }
    return NULL;
}

json_t *qmp_wait_event(struct qmp *q, const char *name, json_t *match, uint64_t timeout_ns)
{
    uint64_t deadline = duration_now_ns() + timeout_ns;
    for (;;) {
        json_t *ev = qmp_take_first(q, name, match);
        if (ev)
            return ev;
        int err;
        json_t *reply = qmp_read(q, deadline, &err);
        json_decref(reply); /* a stray command reply: nobody waits for it any more */
        if (err)
            return NULL;
    }
}

json_t *qmp_take_events(struct qmp *q, const char *name)
{
    int err = 0;
    /* Pick up what QEMU has already sent. */
    while (err == 0) {
        json_t *reply = qmp_read(q, duration_now_ns(), &err);
        json_decref(reply);
    }
    json_t *taken = json_array();
    for (size_t i = 0; i < json_array_size(q->events);) {
        json_t *ev = json_array_get(q->events, i);
        const char *evname = json_string_value(json_object_get(ev, "event"));
        if (!name || (evname && strcmp(evname, name) == 0)) {
            json_array_append(taken, ev);
            json_array_remove(q->events, i);
        } else {
            i++;
        }
    }
    return taken;
}
