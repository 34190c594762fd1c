/* The guest agent client: commands out, results in, in any order. */
#include "agent.h"

#include "base64.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct agent_job {
    char id[AGENT_ID_SIZE];
    bool finished;
    struct agent_result result;
    struct agent_job *next;
};

static struct agent_job *job_find(struct agent *a, const char *id)
{
    for (struct agent_job *j = a->jobs; j; j = j->next) {
        if (strcmp(j->id, id) == 0)
            return j;
    }
    return NULL;
}

static void job_fail(struct agent_job *j, const char *why)
{
    if (j->finished)
        return;
    j->finished = true;
    j->result.status = -1;
    j->result.failure = strdup(why);
}

/* A payload field. Returns a malloc'd, NUL-terminated buffer, or NULL. */
static char *decode_field(const char *field, size_t *len)
{
    size_t n = strlen(field);
    char *out = malloc(n * 3 / 4 + 2);
    if (!out)
        return NULL;
    long got = strcmp(field, AGENT_PROTO_EMPTY) == 0 ? 0 : base64_decode(field, n, out);
    if (got < 0) {
        free(out);
        return NULL;
    }
    out[got] = '\0';
    *len = (size_t)got;
    return out;
}

/* Handles one line from the guest. Returns 1 for a hello. */
static int agent_handle(struct agent *a, char *line)
{
    char *save = NULL;
    char *verb = strtok_r(line, " ", &save);
    char *id = strtok_r(NULL, " ", &save);
    if (!verb)
        return 0;
    if (strcmp(verb, "hello") == 0) {
        /* hello GUEST VERSION: ID holds the guest's name here. */
        const char *version = strtok_r(NULL, " ", &save);
        snprintf(a->peer_version, sizeof a->peer_version, "%s", version ? version : "");
        a->generation++;
        for (struct agent_job *j = a->jobs; j; j = j->next)
            job_fail(j, "the guest restarted before the command finished");
        return 1;
    }
    struct agent_job *j = id ? job_find(a, id) : NULL;
    if (!j || j->finished)
        return 0;
    if (strcmp(verb, "exit") == 0) {
        char *status = strtok_r(NULL, " ", &save);
        char *out = strtok_r(NULL, " ", &save);
        char *err = strtok_r(NULL, " ", &save);
        struct agent_result r = {0};
        if (status && out && err) {
            r.out = decode_field(out, &r.out_len);
            r.err = decode_field(err, &r.err_len);
        }
        if (!r.out || !r.err) {
            agent_result_free(&r);
            job_fail(j, "the agent sent a malformed result");
            return 0;
        }
        r.status = atoi(status);
        j->result = r;
        j->finished = true;
    } else if (strcmp(verb, "error") == 0) {
        char *msg = strtok_r(NULL, " ", &save);
        size_t len;
        char *text = msg ? decode_field(msg, &len) : NULL;
        job_fail(j, text ? text : "the agent refused the command");
        free(text);
    }
    return 0;
}

/* Reads and handles one line. 1 for a hello, 0, or -errno. */
static int agent_pump(struct agent *a, uint64_t deadline_ns)
{
    char *line;
    int rc = line_conn_read(&a->conn, deadline_ns, &line);
    return rc < 0 ? rc : agent_handle(a, line);
}

int agent_wait_hello(struct agent *a, uint64_t deadline_ns, struct ff_error *err)
{
    char ours[16];
    int rc;
    while ((rc = agent_pump(a, deadline_ns)) == 0)
        ;
    if (rc == -ETIMEDOUT)
        return ff_error_set(err, rc, "waiting for the guest agent's hello");
    if (rc < 0)
        return ff_error_set(err, rc, "the guest agent did not say hello: %s", strerror(-rc));
    snprintf(ours, sizeof ours, "%d", AGENT_PROTO_VERSION);
    if (strcmp(a->peer_version, ours) != 0)
        return ff_error_set(err, -EPROTO,
                            "the guest agent speaks protocol version %s, this host speaks version "
                            "%s: rebuild the guest with build-guest",
                            a->peer_version[0] ? a->peer_version : "(none)", ours);
    return 0;
}

void agent_init(struct agent *a)
{
    memset(a, 0, sizeof *a);
    line_conn_init(&a->conn);
}

void agent_result_free(struct agent_result *r)
{
    free(r->out);
    free(r->err);
    free(r->failure);
    memset(r, 0, sizeof *r);
}

void agent_close(struct agent *a)
{
    while (a->jobs) {
        struct agent_job *j = a->jobs;
        a->jobs = j->next;
        agent_result_free(&j->result);
        free(j);
    }
    line_conn_close(&a->conn);
}

/* Ids run on across machines and boots: see agent_start. */
static unsigned agent_last_id;

int agent_start(struct agent *a, const char *cmd, char id[AGENT_ID_SIZE])
{
    size_t len = strlen(cmd);
    if (len > AGENT_PROTO_COMMAND_MAX)
        return -E2BIG;
    struct agent_job *j = calloc(1, sizeof *j);
    char *line = malloc(base64_encoded_len(len) + AGENT_ID_SIZE + 16);
    if (!j || !line) {
        free(j);
        free(line);
        return -ENOMEM;
    }
    snprintf(j->id, sizeof j->id, "c%u", ++agent_last_id);
    int n = sprintf(line, "run %s ", j->id);
    base64_encode(cmd, len, line + n);
    strcat(line + n, "\n");
    int rc = line_conn_write(&a->conn, line, strlen(line));
    free(line);
    if (rc < 0) {
        free(j);
        return rc;
    }
    j->next = a->jobs;
    a->jobs = j;
    snprintf(id, AGENT_ID_SIZE, "%s", j->id);
    return 0;
}

int agent_wait(struct agent *a, const char *id, uint64_t deadline_ns, struct agent_result *out)
{
    struct agent_job *j = job_find(a, id);
    if (!j)
        return -ENOENT;
    while (!j->finished) {
        int rc = agent_pump(a, deadline_ns);
        if (rc < 0 && rc != -ETIMEDOUT)
            job_fail(j, "the connection to the guest agent was lost");
        else if (rc < 0)
            return rc;
    }
    /* Unlink and hand the result over. */
    for (struct agent_job **p = &a->jobs; *p; p = &(*p)->next) {
        if (*p == j) {
            *p = j->next;
            break;
        }
    }
    *out = j->result;
    free(j);
    return 0;
}

bool agent_done(struct agent *a, const char *id)
{
    struct agent_job *j = job_find(a, id);
    /* Take what has arrived without waiting. */
    while (j && !j->finished && agent_pump(a, 0) >= 0)
        ;
    return !j || j->finished;
}

void agent_drain(struct agent *a)
{
    while (agent_pump(a, 0) >= 0)
        ;
}

void agent_forget(struct agent *a, const char *id)
{
    for (struct agent_job **p = &a->jobs; *p; p = &(*p)->next) {
        if (strcmp((*p)->id, id) == 0) {
            struct agent_job *j = *p;
            *p = j->next;
            agent_result_free(&j->result);
            free(j);
            return;
        }
    }
}

int agent_kill(struct agent *a, const char *id)
{
    char line[AGENT_ID_SIZE + 16];
    if (!job_find(a, id))
        return -ENOENT;
    snprintf(line, sizeof line, "kill %s\n", id);
    return line_conn_write(&a->conn, line, strlen(line));
}
