#include "ctl_parse.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct ctl_batch batch;
static struct ff_error err;

static void teardown(void)
{
    ctl_batch_free(&batch);
}

TestSuite(ctl_parse, .fini = teardown);

static void parse_ok(enum ctl_scope scope, const char *text)
{
    int rc = ctl_parse(scope, text, strlen(text), &batch, &err);
    cr_assert_eq(rc, 0, "'%s' refused: line %u col %u: %s", text, err.line, err.column, err.msg);
}

static void parse_err(enum ctl_scope scope, const char *text, unsigned line, unsigned column,
                      const char *message)
{
    int rc = ctl_parse(scope, text, strlen(text), &batch, &err);
    cr_assert_eq(rc, -EINVAL, "'%s' accepted", text);
    cr_assert_str_eq(err.msg, message);
    cr_assert_eq(err.line, line, "line %u, want %u", err.line, line);
    cr_assert_eq(err.column, column, "column %u, want %u", err.column, column);
}

Test(ctl_parse, each_mode_sets_its_rule)
{
    parse_ok(CTL_SCOPE_DISK, "eio_read\neio_write\nslow\n");
    cr_assert_eq(batch.count, 3);
    cr_assert_eq(batch.commands[0].edit.op, FAULT_EDIT_SET);
    cr_assert_str_eq(batch.commands[0].edit.rule.mode->name, "eio_read");
    cr_assert_eq(batch.commands[0].edit.rule.error, EIO);
    cr_assert_eq(batch.commands[0].edit.rule.directions, FAULT_READ);
    cr_assert_eq(batch.commands[1].edit.rule.directions, FAULT_WRITE);
    cr_assert_str_eq(batch.commands[2].edit.rule.mode->name, "slow");
    cr_assert_eq(batch.commands[2].edit.rule.delay_a_ns, 50000000ull);
    cr_assert_eq(batch.commands[2].edit.rule.error, 0);
    cr_assert_eq(batch.commands[2].line, 3);
}

Test(ctl_parse, slow_takes_a_duration)
{
    parse_ok(CTL_SCOPE_DISK, "slow 200ms");
    cr_assert_eq(batch.commands[0].edit.rule.delay_a_ns, 200000000ull);
}

Test(ctl_parse, clear_all_and_clear_one)
{
    parse_ok(CTL_SCOPE_DISK, "clear\nclear slow\n");
    cr_assert_eq(batch.commands[0].edit.op, FAULT_EDIT_CLEAR_ALL);
    cr_assert_eq(batch.commands[1].edit.op, FAULT_EDIT_CLEAR_MODE);
    cr_assert_str_eq(batch.commands[1].edit.rule.mode->name, "slow");
}

Test(ctl_parse, comments_blank_lines_and_crlf)
{
    parse_ok(CTL_SCOPE_DISK, "# a comment\n\n   \n eio_read   # trailing\r\n\tslow 1s\r\n");
    cr_assert_eq(batch.count, 2);
    cr_assert_eq(batch.commands[0].line, 4);
    cr_assert_eq(batch.commands[1].line, 5);
    cr_assert_eq(batch.commands[1].edit.rule.delay_a_ns, 1000000000ull);
}

Test(ctl_parse, empty_batch_is_a_no_op)
{
    parse_ok(CTL_SCOPE_DISK, "");
    cr_assert_eq(batch.count, 0);
    ctl_batch_free(&batch);
    parse_ok(CTL_SCOPE_DISK, "\n");
    cr_assert_eq(batch.count, 0);
}

Test(ctl_parse, unknown_command_names_it)
{
    parse_err(CTL_SCOPE_DISK, "bogus", 1, 1,
              "unknown command 'bogus' (expected eio_read, eio_write, eio_flush, eio_discard, slow, corrupt_read, corrupt_write, drop_write, torn_write, bad_sectors, volatile, clear, powercut, mark or trace)");
}

Test(ctl_parse, bad_line_in_a_batch_is_located)
{
    parse_err(CTL_SCOPE_DISK, "eio_read\nslow 5x\n", 2, 6,
              "slow: bad duration '5x': unknown unit (use ns, us, ms, s, m or h)");
}

Test(ctl_parse, errors_of_each_fault_command)
{
    parse_err(CTL_SCOPE_DISK, "slow 50", 1, 6,
              "slow: bad duration '50': missing unit (ns, us, ms, s, m or h)");
    ctl_batch_free(&batch);
    parse_err(CTL_SCOPE_DISK, "slow 0ms", 1, 6,
              "slow: bad duration '0ms': must be more than 0 (use 'clear slow')");
    ctl_batch_free(&batch);
    parse_err(CTL_SCOPE_DISK, "slow 1s 2s", 1, 9, "slow: unexpected argument '2s'");
    ctl_batch_free(&batch);
    parse_err(CTL_SCOPE_DISK, "eio_read now", 1, 10, "eio_read: unexpected argument 'now'");
    ctl_batch_free(&batch);
    parse_err(CTL_SCOPE_DISK, "eio_write 1", 1, 11, "eio_write: unexpected argument '1'");
    ctl_batch_free(&batch);
    parse_err(CTL_SCOPE_DISK, "clear fast", 1, 7,
              "clear: unknown mode 'fast' (expected eio_read, eio_write, eio_flush, eio_discard, slow, corrupt_read, corrupt_write, drop_write, torn_write, bad_sectors, volatile)");
    ctl_batch_free(&batch);
    parse_err(CTL_SCOPE_DISK, "clear slow eio_read", 1, 12,
              "slow: bad duration 'eio_read': expected a number such as 50ms");
    ctl_batch_free(&batch);
    parse_err(CTL_SCOPE_DISK, "attach a /b", 1, 1, "'attach' belongs in the mount's ctl, not a disk's");
    ctl_batch_free(&batch);
    parse_err(CTL_SCOPE_DISK, "EIO_READ", 1, 1,
              "unknown command 'EIO_READ' (expected eio_read, eio_write, eio_flush, eio_discard, slow, corrupt_read, corrupt_write, drop_write, torn_write, bad_sectors, volatile, clear, powercut, mark or trace)");
}

Test(ctl_parse, control_bytes_are_not_echoed)
{
    parse_err(CTL_SCOPE_DISK, "bo\x1bgus", 1, 1,
              "unknown command 'bo\\x1bgus' (expected eio_read, eio_write, eio_flush, eio_discard, slow, corrupt_read, corrupt_write, drop_write, torn_write, bad_sectors, volatile, clear, powercut, mark or trace)");
    ctl_batch_free(&batch);
    parse_err(CTL_SCOPE_DISK, "bo\xffgus", 1, 1,
              "unknown command 'bo\\xffgus' (expected eio_read, eio_write, eio_flush, eio_discard, slow, corrupt_read, corrupt_write, drop_write, torn_write, bad_sectors, volatile, clear, powercut, mark or trace)");
    ctl_batch_free(&batch);
    parse_err(CTL_SCOPE_DISK, "b\xc3\xa9gus", 1, 1,
              "unknown command 'b\xc3\xa9gus' (expected eio_read, eio_write, eio_flush, eio_discard, slow, corrupt_read, corrupt_write, drop_write, torn_write, bad_sectors, volatile, clear, powercut, mark or trace)");
    ctl_batch_free(&batch);
    const char nul[] = "eio_read\0x";
    cr_assert_eq(ctl_parse(CTL_SCOPE_DISK, nul, sizeof nul - 1, &batch, &err), -EINVAL);
    cr_assert_str_eq(err.msg, "NUL byte in a command");
    cr_assert_eq(err.column, 9);
}

Test(ctl_parse, oversized_batch_is_refused)
{
    size_t len = CTL_WRITE_MAX + 1;
    char *big = malloc(len);
    memset(big, '\n', len);
    cr_assert_eq(ctl_parse(CTL_SCOPE_DISK, big, len, &batch, &err), -EINVAL);
    cr_assert_str_eq(err.msg, "batch of 65537 bytes is over the 65536-byte limit");
    free(big);
}

Test(ctl_parse, attach_and_detach)
{
    parse_ok(CTL_SCOPE_MOUNT, "attach vdb /tmp/b.img size=1M\ndetach vda\nattach x.y-z_1 /i\n");
    cr_assert_eq(batch.count, 3);
    cr_assert_eq(batch.commands[0].op, CTL_OP_ATTACH);
    cr_assert_str_eq(batch.commands[0].id, "vdb");
    cr_assert_str_eq(batch.commands[0].image, "/tmp/b.img");
    cr_assert_eq(batch.commands[0].size_limit, 1048576ull);
    cr_assert_eq(batch.commands[1].op, CTL_OP_DETACH);
    cr_assert_str_eq(batch.commands[1].id, "vda");
    cr_assert_eq(batch.commands[2].size_limit, 0);
}

Test(ctl_parse, attach_errors)
{
    parse_err(CTL_SCOPE_MOUNT, "attach", 1, 8, "attach: missing disk ID");
    ctl_batch_free(&batch);
    parse_err(CTL_SCOPE_MOUNT, "attach vdb", 1, 12,
              "attach: missing IMAGE (absolute path of an existing file)");
    ctl_batch_free(&batch);
    parse_err(CTL_SCOPE_MOUNT, "attach vdb img", 1, 12, "attach: image path 'img' is not absolute");
    ctl_batch_free(&batch);
    parse_err(CTL_SCOPE_MOUNT, "attach vdb /i size=12Q", 1, 15,
              "attach: bad size 'size=12Q': unknown suffix (use K, M, G or T)");
    ctl_batch_free(&batch);
    parse_err(CTL_SCOPE_MOUNT, "attach vdb /i size=0", 1, 15,
              "attach: bad size 'size=0': must be more than 0");
    ctl_batch_free(&batch);
    parse_err(CTL_SCOPE_MOUNT, "attach vdb /i bytes=5", 1, 15,
              "attach: unexpected argument 'bytes=5' (expected size=BYTES)");
    ctl_batch_free(&batch);
    parse_err(CTL_SCOPE_MOUNT, "attach vdb /i size=1 extra", 1, 22, "attach: unexpected argument 'extra'");
}

Test(ctl_parse, bad_disk_ids)
{
    parse_err(CTL_SCOPE_MOUNT, "attach a/b /i", 1, 8,
              "attach: bad disk ID 'a/b': only A-Z a-z 0-9 _ . - are allowed");
    ctl_batch_free(&batch);
    parse_err(CTL_SCOPE_MOUNT, "detach ..", 1, 8, "detach: bad disk ID '..': '.' and '..' are reserved");
    ctl_batch_free(&batch);
    parse_err(CTL_SCOPE_MOUNT, "detach .", 1, 8, "detach: bad disk ID '.': '.' and '..' are reserved");
    ctl_batch_free(&batch);
    char line[128];
    snprintf(line, sizeof line, "detach %065d", 0);
    parse_err(CTL_SCOPE_MOUNT, line, 1, 8,
              "detach: bad disk ID '00000000000000000000000000000000000000000000000000000000000000000': "
              "longer than 64 characters");
    ctl_batch_free(&batch);
    snprintf(line, sizeof line, "detach %064d", 0);
    parse_ok(CTL_SCOPE_MOUNT, line);
    ctl_batch_free(&batch);
    parse_err(CTL_SCOPE_MOUNT, "detach", 1, 8, "detach: missing disk ID");
    ctl_batch_free(&batch);
    parse_err(CTL_SCOPE_MOUNT, "detach a b", 1, 10, "detach: unexpected argument 'b'");
}

Test(ctl_parse, ctl_is_no_disk_id)
{
    parse_err(CTL_SCOPE_MOUNT, "attach ctl /i", 1, 8,
              "attach: bad disk ID 'ctl': 'ctl' is reserved (MOUNT/ctl is the mount's control file)");
    ctl_batch_free(&batch);
    parse_ok(CTL_SCOPE_MOUNT, "attach ctl2 /i\nattach Ctl /j");
}

Test(ctl_parse, image_paths_must_be_utf8_without_control_bytes)
{
    parse_err(CTL_SCOPE_MOUNT, "attach a /tmp/\xff\xfe.img", 1, 10,
              "attach: image path '/tmp/\\xff\\xfe.img' is not valid UTF-8");
    ctl_batch_free(&batch);
    parse_err(CTL_SCOPE_MOUNT, "attach a /tmp/\x1b[31mred.img", 1, 10,
              "attach: image path '/tmp/\\x1b[31mred.img' contains a control character");
    ctl_batch_free(&batch);
    /* Overlong encodings and surrogates are not UTF-8 either. */
    parse_err(CTL_SCOPE_MOUNT, "attach a /\xc0\xaf", 1, 10,
              "attach: image path '/\\xc0\\xaf' is not valid UTF-8");
    ctl_batch_free(&batch);
    parse_err(CTL_SCOPE_MOUNT, "attach a /\xed\xa0\x80", 1, 10,
              "attach: image path '/\\xed\\xa0\\x80' is not valid UTF-8");
    ctl_batch_free(&batch);
    parse_err(CTL_SCOPE_MOUNT, "attach a /\xe2\x82", 1, 10,
              "attach: image path '/\\xe2\\x82' is not valid UTF-8");
    ctl_batch_free(&batch);
    parse_ok(CTL_SCOPE_MOUNT, "attach a /tmp/caf\xc3\xa9-\xf0\x9f\x92\xbe.img");
    cr_assert_str_eq(batch.commands[0].image, "/tmp/caf\xc3\xa9-\xf0\x9f\x92\xbe.img");
}

Test(ctl_parse, a_long_quote_never_cuts_a_character)
{
    char line[256] = "x";
    for (int i = 0; i < 60; i++)
        strcat(line, "\xc3\xa9"); /* 2-byte characters, 121 bytes in all */
    cr_assert_eq(ctl_parse(CTL_SCOPE_DISK, line, strlen(line), &batch, &err), -EINVAL);
    const char *open = strchr(err.msg, '\'') + 1, *close = strstr(open, "...'");
    cr_assert_not_null(close, "%s", err.msg);
    cr_assert_eq((close - open) % 2, 1, "an odd count: the 'x' and whole characters");
}

Test(ctl_parse, scopes_point_to_the_right_file)
{
    parse_err(CTL_SCOPE_MOUNT, "eio_read", 1, 1,
              "'eio_read' belongs in a disk's ctl (MOUNT/ID/ctl), or write 'ID: eio_read'");
    ctl_batch_free(&batch);
    parse_err(CTL_SCOPE_MOUNT, "mount x", 1, 1,
              "unknown command 'mount' (expected attach, detach or ID: COMMAND)");
}

Test(ctl_parse, sizes)
{
    uint64_t v;
    const char *why;
    cr_assert_eq(ctl_parse_size("4096", 4, &v, &why), 0);
    cr_assert_eq(v, 4096);
    cr_assert_eq(ctl_parse_size("4K", 2, &v, &why), 0);
    cr_assert_eq(v, 4096);
    cr_assert_eq(ctl_parse_size("2G", 2, &v, &why), 0);
    cr_assert_eq(v, 2ull << 30);
    cr_assert_eq(ctl_parse_size("17179869183G", 12, &v, &why), -EINVAL, "2^64 - 2^30 bytes");
    cr_assert_str_eq(why, "too large");
    cr_assert_eq(ctl_parse_size("8589934592G", 11, &v, &why), -EINVAL, "2^63 bytes");
    cr_assert_eq(ctl_parse_size("8589934591G", 11, &v, &why), 0);
    cr_assert_eq(v, (8589934591ull << 30));
    cr_assert_eq(ctl_parse_size("1T", 2, &v, &why), 0);
    cr_assert_eq(v, 1ull << 40);
    cr_assert_eq(ctl_parse_size("99999999999999999999", 20, &v, &why), -EINVAL);
    cr_assert_str_eq(why, "too large");
    cr_assert_eq(ctl_parse_size("16777216T", 9, &v, &why), -EINVAL);
    cr_assert_str_eq(why, "too large");
    cr_assert_eq(ctl_parse_size("1KB", 3, &v, &why), -EINVAL);
}

Test(ctl_parse, apply_is_all_or_nothing_on_the_table)
{
    struct fault_table table;
    fault_table_init(&table);
    parse_ok(CTL_SCOPE_DISK, "eio_read\nslow 2ms\nclear eio_read\neio_write\n");
    cr_assert_eq(ctl_batch_apply_faults(&batch, &table), 0);
    char text[256];
    fault_table_render(&table, text, sizeof text);
    cr_assert_str_eq(text, "eio_write  # matched=0 fired=0\nslow 2ms  # matched=0 fired=0\n");
    ctl_batch_free(&batch);

    /* A bad line refuses the whole batch before anything reaches the table. */
    parse_err(CTL_SCOPE_DISK, "clear\nbogus\n", 2, 1,
              "unknown command 'bogus' (expected eio_read, eio_write, eio_flush, eio_discard, slow, corrupt_read, corrupt_write, drop_write, torn_write, bad_sectors, volatile, clear, powercut, mark or trace)");
    fault_table_render(&table, text, sizeof text);
    cr_assert_str_eq(text, "eio_write  # matched=0 fired=0\nslow 2ms  # matched=0 fired=0\n");
    fault_table_destroy(&table);
}

Test(ctl_parse, error_format_names_line_and_column)
{
    char text[512];
    parse_err(CTL_SCOPE_DISK, "\nslow 5x", 2, 6,
              "slow: bad duration '5x': unknown unit (use ns, us, ms, s, m or h)");
    ff_error_format(&err, text, sizeof text);
    cr_assert_str_eq(text,
                     "line 2, column 6: slow: bad duration '5x': unknown unit (use ns, us, ms, s, m or h)");
}

Test(ctl_parse, every_rule_key_names_its_mistake)
{
    static const struct {
        const char *line;
        unsigned column;
        const char *message;
    } cases[] = {
        {"eio_read sectors=5-3", 10, "eio_read: bad sectors 'sectors=5-3': a range ends before it starts"},
        {"eio_read sectors=a-b", 10,
         "eio_read: bad sectors 'sectors=a-b': expected A-B[,C-D...], 512-byte sectors, both ends included"},
        {"eio_read sectors=1,3,5,7,9,11,13,15,17", 10,
         "eio_read: bad sectors 'sectors=1,3,5,7,9,11,13,15,17': at most 8 separate ranges in one rule (use more rules)"},
        {"eio_read errno=EFOO", 10,
         "eio_read: bad errno 'errno=EFOO': expected EIO, ENOSPC, EROFS, ETIMEDOUT, ENODEV, ENOMEM, EAGAIN, EINVAL or ENXIO"},
        {"eio_read prob=150%", 10, "eio_read: bad probability 'prob=150%': more than 100%"},
        {"eio_read prob=0%", 10, "eio_read: bad probability 'prob=0%': must be more than 0% and at most 100%"},
        {"eio_read prob=50", 10, "eio_read: bad probability 'prob=50': expected a percentage such as 25% or 0.5%"},
        {"eio_read prob=0.00001%", 10,
         "eio_read: bad probability 'prob=0.00001%': expected a percentage such as 25% or 0.5%"},
        {"eio_read times=0", 10, "eio_read: bad count 'times=0': must be at least 1"},
        {"eio_read after=-1", 10, "eio_read: bad count 'after=-1': expected a whole number"},
        {"eio_read seed=x", 10, "eio_read: bad count 'seed=x': expected a whole number"},
        {"eio_read times=1 times=2", 18, "eio_read: 'times=2': this key is given twice"},
        {"eio_read colour=red", 10,
         "eio_read: unknown key in 'colour=red': expected sectors=, errno=, prob=, seed=, times=, after= (and mean=, p99= for slow, bits= for corrupt_*, keep= for torn_write, limit= for volatile)"},
        {"slow errno=EIO", 6, "slow: 'errno=EIO': errno= goes with the eio_ modes (slow only delays)"},
        {"eio_read mean=5ms", 10, "eio_read: 'mean=5ms': mean= and p99= go with slow"},
        {"slow mean=5ms", 1, "slow: a tail is mean=DURATION p99=DURATION, without another delay ('slow')"},
        {"slow 5ms mean=5ms p99=9ms", 1,
         "slow: a tail is mean=DURATION p99=DURATION, without another delay ('slow')"},
        {"slow mean=5ms p99=1s", 1, "slow: p99 must be above the mean and at most 14.9 times it"},
        {"slow 20ms..10ms", 6, "slow: bad delay range '20ms..10ms': MIN is more than MAX"},
        {"slow 5ms..x", 6, "slow: bad duration '5ms..x': expected a number such as 50ms"},
        {"slow read read", 11, "slow: 'read': this direction is given twice"},
        {"eio_read write", 10, "eio_read: unexpected argument 'write'"},
        {"clear eio_read sectors=1-", 16,
         "eio_read: bad sectors 'sectors=1-': expected A-B[,C-D...], 512-byte sectors, both ends included"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        parse_err(CTL_SCOPE_DISK, cases[i].line, 1, cases[i].column, cases[i].message);
        ctl_batch_free(&batch);
    }
}

Test(ctl_parse, rules_parse_into_their_fields)
{
    parse_ok(CTL_SCOPE_DISK, "eio_read sectors=2048-4095 prob=25% seed=7 times=3 after=1 errno=ENOSPC\n"
                             "slow 5ms write flush\nslow 1ms..3ms\nslow mean=2ms p99=10ms\nclear slow 5ms write flush\n");
    const struct fault_rule *r = &batch.commands[0].edit.rule;
    cr_assert_eq(r->nranges, 1);
    cr_assert_eq(r->ranges[0].first, 2048);
    cr_assert_eq(r->ranges[0].last, 4095);
    cr_assert_eq(r->prob_ppm, 250000);
    cr_assert_eq(r->seed, 7);
    cr_assert_eq(r->times, 3);
    cr_assert_eq(r->after, 1);
    cr_assert_eq(r->error, ENOSPC);
    r = &batch.commands[1].edit.rule;
    cr_assert_eq(r->directions, FAULT_WRITE | FAULT_FLUSH);
    cr_assert_eq(r->delay_a_ns, 5000000ull);
    cr_assert_eq(batch.commands[2].edit.rule.delay, FAULT_DELAY_UNIFORM);
    cr_assert_eq(batch.commands[3].edit.rule.delay, FAULT_DELAY_TAIL);
    cr_assert_eq(batch.commands[4].edit.op, FAULT_EDIT_CLEAR_RULE);
    cr_assert(fault_rule_same(&batch.commands[4].edit.rule, &batch.commands[1].edit.rule));
}

Test(ctl_parse, the_mount_takes_disk_commands_as_id_colon_command)
{
    parse_ok(CTL_SCOPE_MOUNT, "vda: eio_read sectors=0-7\nvdb: clear\nattach vdc /i\nvdc: slow 5ms\n");
    cr_assert_eq(batch.count, 4);
    cr_assert_eq(batch.commands[0].op, CTL_OP_FAULT);
    cr_assert_str_eq(batch.commands[0].id, "vda");
    cr_assert_eq(batch.commands[0].edit.rule.nranges, 1);
    cr_assert_eq(batch.commands[1].edit.op, FAULT_EDIT_CLEAR_ALL);
    cr_assert_str_eq(batch.commands[3].id, "vdc");
    ctl_batch_free(&batch);
    parse_err(CTL_SCOPE_MOUNT, "vd/a: eio_read", 1, 1,
              "bad disk ID 'vd/a:': only A-Z a-z 0-9 _ . - are allowed");
    ctl_batch_free(&batch);
    parse_err(CTL_SCOPE_MOUNT, "vda:", 1, 6, "vda: missing a command for the disk");
    ctl_batch_free(&batch);
    parse_err(CTL_SCOPE_MOUNT, "vda: attach x /i", 1, 6,
              "'attach' belongs in the mount's ctl, not a disk's");
    ctl_batch_free(&batch);
    parse_err(CTL_SCOPE_MOUNT, "vda: eio_read times=0", 1, 15,
              "eio_read: bad count 'times=0': must be at least 1");
}
