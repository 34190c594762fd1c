#include "io_trace.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static struct io_trace trace;

static void setup(void)
{
    cr_assert_eq(io_trace_init(&trace), 0);
}

static void teardown(void)
{
    io_trace_destroy(&trace);
}

TestSuite(io_trace, .init = setup, .fini = teardown);

/* Line I (from 0) of the rendered trace, parsed; NULL past the end. */
static json_t *line(const char *text, int i)
{
    const char *at = text;
    for (; i > 0 && at; i--) {
        at = strchr(at, '\n');
        at = at && at[1] ? at + 1 : NULL;
    }
    if (!at)
        return NULL;
    const char *nl = strchr(at, '\n');
    return json_loadb(at, (size_t)(nl - at), 0, NULL);
}

static const struct io_trace_request read8 = {.op = "read", .offset = 4096, .length = 4096, .result = 4096};

Test(io_trace, off_records_nothing_but_marks)
{
    io_trace_request(&trace, &read8);
    cr_assert_eq(io_trace_mark(&trace, "m"), 0);
    size_t len;
    char *text = io_trace_render(&trace, &len);
    json_t *first = line(text, 0);
    cr_assert_str_eq(json_string_value(json_object_get(first, "mark")), "m");
    cr_assert_null(line(text, 1));
    json_decref(first);
    free(text);
}

Test(io_trace, a_request_as_json)
{
    io_trace_switch(&trace, true);
    io_trace_request(&trace, &read8);
    io_trace_request(&trace, &(struct io_trace_request){
                                 .op = "write", .offset = 100, .length = 1000, .result = -EIO,
                                 .rule = "eio_write", .rule_id = 7});
    size_t len;
    char *text = io_trace_render(&trace, &len);
    json_t *r = line(text, 0), *w = line(text, 1);
    cr_assert_str_eq(json_string_value(json_object_get(r, "op")), "read");
    cr_assert_eq(json_integer_value(json_object_get(r, "sector")), 8);
    cr_assert_eq(json_integer_value(json_object_get(r, "count")), 8);
    cr_assert_str_eq(json_string_value(json_object_get(r, "result")), "ok");
    cr_assert_eq(json_integer_value(json_object_get(r, "bytes")), 4096);
    cr_assert_null(json_object_get(r, "rule"));
    cr_assert_eq(json_integer_value(json_object_get(w, "sector")), 0);
    cr_assert_eq(json_integer_value(json_object_get(w, "count")), 3, "bytes 100..1099 touch sectors 0-2");
    cr_assert_str_eq(json_string_value(json_object_get(w, "result")), "EIO");
    cr_assert_str_eq(json_string_value(json_object_get(w, "rule")), "eio_write");
    cr_assert_eq(json_integer_value(json_object_get(w, "rule_id")), 7);
    cr_assert_eq(json_integer_value(json_object_get(w, "seq")), json_integer_value(json_object_get(r, "seq")) + 1);
    json_decref(r);
    json_decref(w);
    free(text);
}

Test(io_trace, a_mark_with_quotes_is_escaped)
{
    io_trace_mark(&trace, "say \"hi\" \\ there");
    size_t len;
    char *text = io_trace_render(&trace, &len);
    json_t *m = line(text, 0);
    cr_assert_not_null(m, "valid JSON: %s", text);
    cr_assert_str_eq(json_string_value(json_object_get(m, "mark")), "say \"hi\" \\ there");
    json_decref(m);
    free(text);
}

Test(io_trace, the_ring_keeps_the_newest_and_sequence_numbers_go_on)
{
    io_trace_switch(&trace, true);
    for (int i = 0; i < IO_TRACE_ENTRIES + 10; i++)
        io_trace_request(&trace, &read8);
    size_t len;
    char *text = io_trace_render(&trace, &len);
    json_t *first = line(text, 0);
    cr_assert_eq(json_integer_value(json_object_get(first, "seq")), 11, "the 10 oldest are gone");
    cr_assert_null(line(text, IO_TRACE_ENTRIES));
    json_decref(first);
    free(text);
    io_trace_clear(&trace);
    io_trace_request(&trace, &read8);
    text = io_trace_render(&trace, &len);
    first = line(text, 0);
    cr_assert_eq(json_integer_value(json_object_get(first, "seq")), IO_TRACE_ENTRIES + 11);
    cr_assert_null(line(text, 1), "clear emptied it");
    json_decref(first);
    free(text);
}
