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

/* QEMU's error classes (qapi/error.json), as the codes callers decide on. */
static const struct {
    const char *name;
    int code;
} qmp_classes[] = {
    {"DeviceNotFound", -ENODEV}, {"CommandNotFound", -ENOSYS}, {"DeviceNotActive", -ENXIO},
    {"KVMMissingCap", -ENOTSUP}, {"GenericError", -EREMOTEIO},
};

static int qmp_class_code(const char *class)
{
    for (size_t i = 0; class && i < sizeof qmp_classes / sizeof qmp_classes[0]; i++) {
        if (strcmp(class, qmp_classes[i].name) == 0)
            return qmp_classes[i].code;
    }
    return -EREMOTEIO;
}

static void qmp_queue_event(struct qmp *q, json_t *msg)
{
    if (json_array_size(q->events) >= QMP_EVENTS_MAX)
        json_array_remove(q->events, 0);
    json_array_append(q->events, msg);
}

/* Reads one message before DEADLINE into *MSG; an event is queued and *MSG left NULL. 0 or -errno.
 */
static int qmp_read(struct qmp *q, uint64_t deadline_ns, json_t **msg)
{
    char *line;
    *msg = NULL;
    int rc = line_conn_read(&q->conn, deadline_ns, &line);
    if (rc < 0)
        return rc;
    json_t *m = json_loads(line, 0, NULL);
    if (!m || !json_is_object(m)) {
        json_decref(m);
        return -EPROTO;
    }
    if (json_object_get(m, "event")) {
        qmp_queue_event(q, m);
        json_decref(m);
        return 0;
    }
    *msg = m;
    return 0;
}

void qmp_init(struct qmp *q)
{
    memset(q, 0, sizeof *q);
    line_conn_init(&q->conn);
    q->events = json_array();
}

int qmp_handshake(struct qmp *q, uint64_t deadline_ns, struct ff_error *err)
{
    json_t *greeting = NULL;
    int rc = 0;
    while (!greeting && rc == 0)
        rc = qmp_read(q, deadline_ns, &greeting);
    if (rc == -ETIMEDOUT)
        return ff_error_set(err, rc, "waiting for QMP greeting");
    if (rc == 0 && !json_object_get(greeting, "QMP"))
        rc = -EPROTO;
    json_decref(greeting);
    if (rc < 0)
        return ff_error_set(err, rc, "no QMP greeting: %s", strerror(-rc));
    return qmp_command(q, "qmp_capabilities", NULL, deadline_ns, NULL, err);
}

void qmp_close(struct qmp *q)
{
    line_conn_close(&q->conn);
    json_decref(q->events);
    q->events = NULL;
}

int qmp_command(struct qmp *q, const char *command, json_t *args, uint64_t deadline_ns,
                json_t **ret, struct ff_error *err)
{
    unsigned id = ++q->next_id;
    if (ret)
        *ret = NULL;
    json_t *msg = json_pack("{s:s, s:I}", "execute", command, "id", (json_int_t)id);
    if (msg && args)
        json_object_set_new(msg, "arguments", args);
    else
        json_decref(args);
    char *text = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
    json_decref(msg);
    if (!text)
        return ff_error_set(err, -ENOMEM, "%s: out of memory", command);
    size_t len = strlen(text);
    text[len] = '\n'; /* json_dumps leaves room: we overwrite the NUL and send len + 1 */
    int rc = line_conn_write(&q->conn, text, len + 1);
    free(text);
    if (rc < 0)
        return ff_error_set(err, rc, "%s: QMP connection lost: %s", command, strerror(-rc));
    for (;;) {
        json_t *reply;
        rc = qmp_read(q, deadline_ns, &reply);
        if (rc == -ETIMEDOUT)
            return ff_error_set(err, rc, "waiting for QEMU to answer %s", command);
        if (rc < 0)
            return ff_error_set(err, rc, "%s: %s", command, strerror(-rc));
        if (!reply || json_integer_value(json_object_get(reply, "id")) != (json_int_t)id) {
            json_decref(reply);
            continue;
        }
        json_t *value = json_object_get(reply, "return");
        if (value) {
            if (ret)
                *ret = json_incref(value);
            json_decref(reply);
            return 0;
        }
        json_t *error = json_object_get(reply, "error");
        const char *desc = json_string_value(json_object_get(error, "desc"));
        rc = ff_error_set(err, qmp_class_code(json_string_value(json_object_get(error, "class"))),
                          "%s", desc ? desc : "QEMU refused the command");
        json_decref(reply);
        return rc;
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
        if (evname && strcmp(evname, name) == 0 &&
            qmp_matches(json_object_get(ev, "data"), match)) {
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
        json_t *reply;
        int rc = qmp_read(q, deadline, &reply);
        json_decref(reply); /* a stray command reply: nobody waits for it any more */
        if (rc < 0)
            return NULL;
    }
}

json_t *qmp_take_events(struct qmp *q, const char *name)
{
    json_t *reply;
    /* Pick up what QEMU has already sent. */
    while (qmp_read(q, 0, &reply) == 0)
        json_decref(reply);
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
