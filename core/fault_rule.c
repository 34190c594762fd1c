/* The named fault modes and what a rule built from one does. */
#include "fault_rule.h"

#include "duration.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Sorted by name: rendering the active set walks this order. */
const struct fault_mode fault_modes[FAULT_MODE_COUNT] = {
    [FAULT_MODE_EIO_READ] = {.name = "eio_read", .directions = FAULT_READ, .error = EIO},
    [FAULT_MODE_EIO_WRITE] = {.name = "eio_write", .directions = FAULT_WRITE, .error = EIO},
    [FAULT_MODE_SLOW] = {.name = "slow",
                         .directions = FAULT_READ | FAULT_WRITE,
                         .default_delay_ns = SLOW_FAULT_MS * DURATION_NS_PER_MS},
};

const struct fault_mode *fault_mode_find(const char *name, size_t len)
{
    for (size_t i = 0; i < FAULT_MODE_COUNT; i++) {
        if (strlen(fault_modes[i].name) == len && memcmp(fault_modes[i].name, name, len) == 0)
            return &fault_modes[i];
    }
    return NULL;
}

enum fault_mode_id fault_mode_id(const struct fault_mode *mode)
{
    return (enum fault_mode_id)(mode - fault_modes);
}

struct fault_rule fault_rule_default(const struct fault_mode *mode)
{
    return (struct fault_rule){
        .mode = mode,
        .directions = mode->directions,
        .error = mode->error,
        .delay_ns = mode->default_delay_ns,
    };
}

bool fault_rule_matches(const struct fault_rule *rule, const struct fault_request *rq)
{
    return (rule->directions & rq->dir) != 0;
}

void fault_rule_format(const struct fault_rule *rule, char buf[FAULT_RULE_TEXT_MAX])
{
    if (rule->mode->default_delay_ns == 0) {
        snprintf(buf, FAULT_RULE_TEXT_MAX, "%s", rule->mode->name);
        return;
    }
    char delay[DURATION_TEXT_MAX];
    duration_format(rule->delay_ns, delay);
    snprintf(buf, FAULT_RULE_TEXT_MAX, "%s %s", rule->mode->name, delay);
}
