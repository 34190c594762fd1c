/* The QMP client against a fake QEMU on a socketpair: replies, errors and their classes. */
#include "qmp.h"

#include "duration.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static struct qmp q;
static int qemu = -1; /* the fake QEMU's end */
static struct ff_error err;

static void setup(void)
{
    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    qmp_init(&q);
    q.conn.fd = sv[0];
    qemu = sv[1];
}

static void teardown(void)
{
    qmp_close(&q);
    close(qemu);
}

TestSuite(qmp, .init = setup, .fini = teardown);

/* QEMU's answer, written before the command: the client numbers its first command 1. */
static void qemu_answers(const char *line)
{
    cr_assert_eq(write(qemu, line, strlen(line)), (ssize_t)strlen(line));
}

static int run(const char *command)
{
    return qmp_command(&q, command, NULL, duration_now_ns() + 2 * DURATION_NS_PER_S, NULL, &err);
}

Test(qmp, a_return_is_success)
{
    json_t *ret;
    qemu_answers("{\"return\": {\"status\": \"running\"}, \"id\": 1}\n");
    cr_assert_eq(
        qmp_command(&q, "query-status", NULL, duration_now_ns() + DURATION_NS_PER_S, &ret, &err),
        0);
    cr_assert_str_eq(json_string_value(json_object_get(ret, "status")), "running");
    json_decref(ret);
}

Test(qmp, device_not_found_is_enodev_with_qemus_description)
{
    qemu_answers("{\"error\": {\"class\": \"DeviceNotFound\", \"desc\": \"Device 'dev-d3' not "
                 "found\"}, \"id\": 1}\n");
    cr_assert_eq(run("device_del"), -ENODEV);
    cr_assert_str_eq(err.msg, "Device 'dev-d3' not found");
}

Test(qmp, the_class_decides_not_the_wording)
{
    qemu_answers("{\"error\": {\"class\": \"GenericError\", \"desc\": \"Device not found, "
                 "and more\"}, \"id\": 1}\n");
    cr_assert_eq(run("device_del"), -EREMOTEIO);
}

Test(qmp, each_class_has_its_code)
{
    static const struct {
        const char *class;
        int code;
    } classes[] = {{"CommandNotFound", -ENOSYS},
                   {"DeviceNotActive", -ENXIO},
                   {"KVMMissingCap", -ENOTSUP},
                   {"SomethingNew", -EREMOTEIO}};
    char line[160];
    for (size_t i = 0; i < sizeof classes / sizeof classes[0]; i++) {
        snprintf(line, sizeof line,
                 "{\"error\": {\"class\": \"%s\", \"desc\": \"d\"}, \"id\": %zu}\n",
                 classes[i].class, i + 1);
        qemu_answers(line);
        cr_assert_eq(run("x"), classes[i].code, "%s", classes[i].class);
    }
}

Test(qmp, events_before_the_answer_are_queued)
{
    qemu_answers("{\"event\": \"BLOCK_IO_ERROR\", \"data\": {}}\n{\"return\": {}, \"id\": 1}\n");
    cr_assert_eq(run("cont"), 0);
    json_t *events = qmp_take_events(&q, "BLOCK_IO_ERROR");
    cr_assert_eq(json_array_size(events), 1);
    json_decref(events);
}

Test(qmp, no_answer_times_out_naming_the_command)
{
    cr_assert_eq(qmp_command(&q, "system_reset", NULL, duration_now_ns() + 20 * DURATION_NS_PER_MS,
                             NULL, &err),
                 -ETIMEDOUT);
    cr_assert_str_eq(err.msg, "waiting for QEMU to answer system_reset");
}
