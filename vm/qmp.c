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

void qmp_init(struct qmp *q)
{
    memset(q, 0, sizeof *q);
    q->conn.fd = -1;
    q->events = json_array();
}

int qmp_handshake(struct qmp *q, uint64_t deadline_ns, char *why, size_t why_size)
{
    int err = 0;
    json_t *greeting = NULL;
    while (!greeting && err == 0)
        greeting = qmp_read(q, deadline_ns, &err);
    if (err == -ETIMEDOUT) {
        snprintf(why, why_size, "waiting for QMP greeting");
        return err;
    }
    if (!greeting || !json_object_get(greeting, "QMP")) {
        json_decref(greeting);
        snprintf(why, why_size, "no QMP greeting: %s", strerror(err ? -err : EPROTO));
        return err ? err : -EPROTO;
    }
    json_decref(greeting);
    json_t *ret;
    int rc = qmp_command(q, "qmp_capabilities", NULL, deadline_ns, &ret, why, why_size);
    if (rc < 0)
        return rc;
    json_decref(ret);
    return 0;
}

void qmp_close(struct qmp *q)
{
    line_conn_close(&q->conn);
    json_decref(q->events);
    q->events = NULL;
}

int qmp_command(struct qmp *q, const char *command, json_t *args, uint64_t deadline_ns,
                json_t **ret, char *why, size_t why_size)
{
    unsigned id = ++q->next_id;
    *ret = NULL;
    json_t *msg = json_pack("{s:s, s:I}", "execute", command, "id", (json_int_t)id);
    if (args)
        json_object_set_new(msg, "arguments", args);
    char *text = json_dumps(msg, JSON_COMPACT);
    json_decref(msg);
    if (!text) {
        snprintf(why, why_size, "%s: out of memory", command);
        return -ENOMEM;
    }
    size_t len = strlen(text);
    text[len] = '\n'; /* json_dumps leaves room: we overwrite the NUL and send len + 1 */
    int rc = line_conn_write(&q->conn, text, len + 1);
    free(text);
    if (rc < 0) {
        snprintf(why, why_size, "%s: QMP connection lost: %s", command, strerror(-rc));
        return rc;
    }
    for (;;) {
        int err;
        json_t *reply = qmp_read(q, deadline_ns, &err);
        if (!reply && err == -ETIMEDOUT) {
            snprintf(why, why_size, "waiting for QEMU to answer %s", command);
            return err;
        }
        if (!reply && err) {
            snprintf(why, why_size, "%s: %s", command, strerror(-err));
            return err;
        }
        if (!reply || json_integer_value(json_object_get(reply, "id")) != (json_int_t)id) {
            json_decref(reply);
            continue;
        }
        *ret = json_object_get(reply, "return");
        if (*ret) {
            json_incref(*ret);
            json_decref(reply);
            return 0;
        }
        const char *desc = json_string_value(json_object_get(json_object_get(reply, "error"), "desc"));
        snprintf(why, why_size, "%s", desc ? desc : "QEMU refused the command");
        json_decref(reply);
        return -EREMOTEIO;
    }
}

json_t *qmp_execute(struct qmp *q, const char *command, json_t *args, uint64_t timeout_ns,
                    char *why, size_t why_size)
{
    json_t *ret;
    int rc = qmp_command(q, command, args, duration_now_ns() + timeout_ns, &ret, why, why_size);
    if (rc == -ETIMEDOUT)
        snprintf(why, why_size, "%s: QEMU did not answer in time", command);
    return ret;
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
