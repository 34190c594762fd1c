/* The host end of the guest agent's protocol, against a fake guest on a socketpair. */
#include "agent.h"

#include "base64.h"
#include "duration.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static struct agent a;
static int guest = -1; /* the fake guest's end */
static struct ff_error err;

static void setup(void)
{
    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    agent_init(&a);
    a.conn.fd = sv[0];
    guest = sv[1];
}

static void teardown(void)
{
    agent_close(&a);
    close(guest);
}

TestSuite(agent, .init = setup, .fini = teardown);

static void guest_says(const char *line)
{
    cr_assert_eq(write(guest, line, strlen(line)), (ssize_t)strlen(line));
}

static uint64_t soon(void)
{
    return duration_now_ns() + 2 * DURATION_NS_PER_S;
}

Test(agent, a_hello_of_this_version_is_accepted)
{
    char hello[64];
    snprintf(hello, sizeof hello, "hello pebble %d\n", AGENT_PROTO_VERSION);
    guest_says(hello);
    cr_assert_eq(agent_wait_hello(&a, soon(), &err), 0, "%s", err.msg);
}

Test(agent, a_hello_of_another_version_is_a_protocol_error_naming_both)
{
    char want[160];
    guest_says("hello pebble 1\n");
    cr_assert_eq(agent_wait_hello(&a, soon(), &err), -EPROTO);
    snprintf(want, sizeof want,
             "the guest agent speaks protocol version 1, this host speaks version %d: rebuild "
             "the guest with build-guest",
             AGENT_PROTO_VERSION);
    cr_assert_str_eq(err.msg, want);
}

Test(agent, a_hello_without_a_version_is_refused)
{
    guest_says("hello pebble\n");
    cr_assert_eq(agent_wait_hello(&a, soon(), &err), -EPROTO);
    cr_assert(strstr(err.msg, "protocol version (none)"), "%s", err.msg);
}

Test(agent, no_hello_times_out_naming_the_step)
{
    cr_assert_eq(agent_wait_hello(&a, duration_now_ns() + 50 * DURATION_NS_PER_MS, &err),
                 -ETIMEDOUT);
    cr_assert_str_eq(err.msg, "waiting for the guest agent's hello");
}

Test(agent, a_command_goes_out_as_run_and_its_exit_comes_back)
{
    char id[AGENT_ID_SIZE], line[256], expect[128];
    cr_assert_eq(agent_start(&a, "echo hi", id), 0);
    ssize_t n = read(guest, line, sizeof line - 1);
    cr_assert_gt(n, 0);
    line[n] = '\0';
    snprintf(expect, sizeof expect, "run %s ZWNobyBoaQ==\n", id);
    cr_assert_str_eq(line, expect);

    snprintf(line, sizeof line, "exit %s 3 aGkK %s\n", id, AGENT_PROTO_EMPTY);
    guest_says(line);
    struct agent_result r;
    cr_assert_eq(agent_wait(&a, id, soon(), &r), 0);
    cr_assert_eq(r.status, 3);
    cr_assert_eq(r.out_len, 3);
    cr_assert_str_eq(r.out, "hi\n");
    cr_assert_eq(r.err_len, 0);
    cr_assert_null(r.failure);
    agent_result_free(&r);
}

Test(agent, a_command_over_the_limit_is_refused_before_sending)
{
    static char cmd[AGENT_PROTO_COMMAND_MAX + 2];
    char id[AGENT_ID_SIZE];
    memset(cmd, 'x', sizeof cmd - 1);
    cr_assert_eq(agent_start(&a, cmd, id), -E2BIG);
}

Test(agent, host_ids_fit_the_protocol)
{
    char id[AGENT_ID_SIZE];
    cr_assert_eq(agent_start(&a, "true", id), 0);
    cr_assert(strlen(id) >= 1 && strlen(id) <= AGENT_PROTO_ID_MAX);
    cr_assert_eq(strspn(id, AGENT_PROTO_ID_CHARS), strlen(id));
}

Test(agent, the_guest_accepts_a_line_of_the_longest_command)
{
    cr_assert_geq(AGENT_PROTO_LINE_MAX, sizeof "run " + AGENT_PROTO_ID_MAX + 1 +
                                            base64_encoded_len(AGENT_PROTO_COMMAND_MAX));
}
