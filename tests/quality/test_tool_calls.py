"""Tool-call answers (issue 13.3): text checks skip them, `tool_call` validates them, and a request's
`response_format` becomes a check; hostile arguments and schemas fail closed within seconds."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from pydantic import BaseModel

from cascadepolicy.errors import RequestError
from cascadepolicy.quality import Draft, build_check, check_params, score_draft
from cascadepolicy.quality.base import ToolCall
from cascadepolicy.quality.composite import scoring
from cascadepolicy.quality.structured import response_format_check

WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1}},
    "required": ["city"], "additionalProperties": False}}}
CLOCK = {"type": "function", "function": {"name": "now"}}  # no parameters declared
TOOLS = [WEATHER, CLOCK]
SECONDS = 5.0  # hostile inputs must finish "within seconds"; each is refused in well under one


def call(arguments: str, name: str = "get_weather") -> ToolCall:
    return ToolCall("call_1", name, arguments)


def answer(*calls: ToolCall, tools: Any = TOOLS, text: str = "", tool_choice: Any = None) -> Draft:
    return Draft(text, "What's the weather in Paris?", tool_calls=calls, tools=tools, tool_choice=tool_choice)


def tool_check(**params: Any):  # type: ignore[no-untyped-def]
    return build_check("tool_call", params)


# ---------------------------------------------------------------- the draft


def test_tool_call_is_read_from_openai_and_litellm_shapes() -> None:
    from litellm.types.utils import ChatCompletionMessageToolCall

    raw = {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
    assert ToolCall.of(raw) == ToolCall("c1", "get_weather", '{"city": "Paris"}')
    assert ToolCall.of(ChatCompletionMessageToolCall(**raw)) == ToolCall("c1", "get_weather", '{"city": "Paris"}')
    decoded = {"id": "c2", "function": {"name": "now", "arguments": {"tz": "UTC"}}}
    assert json.loads(ToolCall.of(decoded).arguments) == {"tz": "UTC"}


def test_a_draft_with_calls_and_no_text_is_a_tool_call() -> None:
    assert answer(call("{}")).is_tool_call and answer(call("{}"), text=" \n").is_tool_call
    assert not answer(call("{}"), text="Let me check.").is_tool_call
    assert not Draft("", "q").is_tool_call


# ---------------------------------------------------------------- text checks skip a tool call


def test_text_checks_are_skipped_on_a_tool_call_and_the_record_says_so() -> None:
    checks = [(build_check("length", {"min_chars": 5}), 1.0, True), (build_check("coherence", {}), 1.0, True),
              (build_check("json", {}), 1.0, True), (tool_check(), 1.0, True)]
    composite = score_draft(checks, answer(call('{"city": "Paris"}')))
    assert composite.gate_failed is None and composite.score == 1.0
    by_name = {r.check: r for r in composite.results}
    for name in ("length", "coherence", "json"):
        assert by_name[name].skipped and by_name[name].detail == "the answer is a tool call; text checks do not apply"
    assert not by_name["tool_call"].skipped and by_name["tool_call"].passed


def test_a_judge_is_not_asked_about_a_tool_call() -> None:
    def judge(model: str, prompt: str) -> tuple[str, float]:
        raise AssertionError("the judge was asked")

    steps = scoring([(build_check("judge", {"model": "m"}, judge=judge), 1.0, True)], answer(call("{}", "now")))
    with pytest.raises(StopIteration) as done:
        next(steps)  # no JudgeRequest is yielded
    assert done.value.value.results[0].skipped and done.value.value.results[0].check == "judge"


def test_checks_that_do_not_read_text_still_run_on_a_tool_call() -> None:
    logprob = build_check("logprob", {"min_mean": -0.5})
    custom = build_check("custom", {"function": "tests.quality.fake_checks:mentions_units"})
    draft = Draft("", "q", [-3.0, -2.0], tool_calls=(call("{}", "now"),), tools=TOOLS)
    results = score_draft([(logprob, 1.0, False), (custom, 1.0, False)], draft).results
    assert [(r.check, r.skipped, r.passed) for r in results] == [("logprob", False, False), ("custom", False, False)]


def test_text_beside_tool_calls_is_still_checked() -> None:
    composite = score_draft([(build_check("length", {"min_chars": 50}), 1.0, True)], answer(call("{}", "now"), text="Hm."))
    assert composite.gate_failed == "length"


# ---------------------------------------------------------------- the tool_call check


def test_valid_calls_pass() -> None:
    result = tool_check()(answer(call('{"city": "Paris", "days": 3}'), ToolCall("c2", "now", "{}")))
    assert (result.score, result.passed, result.skipped, result.detail) == (1.0, True, False, "2 tool calls valid")


@pytest.mark.parametrize(("calls", "expected"), [
    ((call('{"city": "Paris"}', "get_wether"),), "tool call 1 ('get_wether'): the request offers no tool of that name (offered: 'get_weather', 'now')"),
    ((call('{"city": "Paris"}'), call("{'city': 'Paris'}")), "tool call 2 ('get_weather'): the arguments are not valid JSON: Expecting property name enclosed in double quotes at line 1 column 2"),
    ((call('["Paris"]'),), "tool call 1 ('get_weather'): the arguments are an array, not a JSON object"),
    ((call('{"city": 5}'),), "tool call 1 ('get_weather'): schema violation at $.city: 5 is not of type 'string'"),
    ((call('{"days": 0}'),), "tool call 1 ('get_weather'): schema violation at $: 'city' is a required property (and 1 more)"),
    ((call('{"city": "Paris", "units": "C"}'),), "tool call 1 ('get_weather'): schema violation at $: additional properties are not allowed ('units' unexpected)"),
    ((call(""),), "tool call 1 ('get_weather'): the arguments are not valid JSON: Expecting value at line 1 column 1"),
    ((call('{"city": NaN}'),), "tool call 1 ('get_weather'): the arguments are not valid JSON: NaN is not a JSON value"),
])
def test_invalid_calls_fail_naming_the_first_bad_call(calls: tuple[ToolCall, ...], expected: str) -> None:
    result = tool_check()(answer(*calls))
    assert (result.score, result.passed, result.detail) == (0.0, False, expected)


def test_an_invalid_call_gates_a_required_check() -> None:
    composite = score_draft([(tool_check(), 1.0, True)], answer(call('{"city": 5}')))
    assert composite.score == 0.0 and composite.gate_failed == "tool_call"


def test_unknown_tools_and_calls_without_offered_tools() -> None:
    assert not tool_check()(answer(call("{}", "search"), tools=())).passed
    allowed = tool_check(allow_unknown_tools=True)
    assert allowed(answer(call('{"q": 1}', "search"))).passed
    assert allowed(answer(call("[1]", "search"))).detail.endswith("the arguments are an array, not a JSON object")


def test_a_text_answer_skips_unless_a_call_is_required() -> None:
    text = Draft("It is sunny.", "q", tools=TOOLS)
    assert tool_check()(text).skipped
    required = tool_check(require_call=True)(text)
    assert (required.passed, required.skipped, required.detail) == (False, False, "the answer is text, and this check requires a tool call")


@pytest.mark.parametrize(("tool_choice", "draft_calls", "passed"), [
    ("required", (), False),
    ({"type": "function", "function": {"name": "get_weather"}}, (), False),
    ({"type": "function", "function": {"name": "get_weather"}}, (call("{}", "now"),), False),
    ({"type": "function", "function": {"name": "now"}}, (call("{}", "now"),), True),
    ("none", (call("{}", "now"),), False),
    ("auto", (call("{}", "now"),), True),
])
def test_tool_choice_is_honoured(tool_choice: Any, draft_calls: tuple[ToolCall, ...], passed: bool) -> None:
    draft = Draft("It is sunny." if not draft_calls else "", "q", tool_calls=draft_calls, tools=TOOLS, tool_choice=tool_choice)
    assert tool_check()(draft).passed is passed


@pytest.mark.parametrize("tools", ["get_weather", {"function": {"name": "x"}}, [None], [{"type": "function", "function": {}}]])
def test_a_malformed_tools_list_fails_closed(tools: Any) -> None:
    result = tool_check()(answer(call("{}", "x"), tools=tools))
    assert not result.passed and result.detail.startswith("the request")


def test_provider_side_tools_are_not_offered_to_the_caller() -> None:
    result = tool_check()(answer(call("{}", "web_search"), tools=[{"type": "web_search"}, CLOCK]))
    assert not result.passed and "offered: 'now'" in result.detail


def test_parameters_are_validated_against_the_right_tool() -> None:
    other = {"type": "function", "function": {"name": "add", "parameters": {
        "type": "object", "properties": {"a": {"type": "number"}}, "required": ["a"]}}}
    check = tool_check()
    assert check(answer(call('{"a": 1}', "add"), tools=[WEATHER, other])).passed
    assert not check(answer(call('{"city": "Paris"}', "add"), tools=[WEATHER, other])).passed


def test_params_are_the_models() -> None:
    assert set(check_params("tool_call")) == {"require_call", "allow_unknown_tools"}
    with pytest.raises(ValueError, match="tool_call"):
        build_check("tool_call", {"require_call": "sometimes"})


# ---------------------------------------------------------------- hostile arguments and schemas


def timed(draft: Draft, check: Any = None) -> tuple[Any, float]:
    started = time.monotonic()
    result = (check or tool_check())(draft)
    return result, time.monotonic() - started


@pytest.mark.parametrize(("arguments", "because"), [
    ('{"city": "' + "a" * 3_000_000 + '"}', "longer than 1,000,000 characters"),
    ('{"city": ' + "[" * 200_000 + "]" * 200_000 + "}", "nests deeper than 64 levels"),
    ('{"city": ' + "[" * 100 + "]" * 100 + "}", "nests deeper than 64 levels"),
    ('{"city": [' + ",".join(["[0]"] * 60_000) + "]}", "more than 100,000 values"),
    ('{"city": ' + "9" * 5000 + "}", "not valid JSON"),
])
def test_hostile_arguments_fail_closed_quickly(arguments: str, because: str) -> None:
    result, took = timed(answer(call(arguments)))
    assert not result.passed and because in result.detail and took < SECONDS


def with_schema(parameters: Any, arguments: str = '{"a": {"a": {}}}') -> Draft:
    return answer(call(arguments, "f"), tools=[{"type": "function", "function": {"name": "f", "parameters": parameters}}])


def exponential_schema(levels: int) -> dict[str, Any]:
    defs: dict[str, Any] = {"d0": {"not": {}}}
    for level in range(1, levels):
        defs[f"d{level}"] = {"anyOf": [{"$ref": f"#/$defs/d{level - 1}"}, {"$ref": f"#/$defs/d{level - 1}"}]}
    return {"$defs": defs, "$ref": f"#/$defs/d{levels - 1}"}


@pytest.mark.parametrize(("parameters", "because"), [
    ({"$ref": "https://example.com/schema.json"}, "refers outside itself"),
    ({"type": "object", "properties": {"a": {"$ref": "file:///etc/passwd"}}}, "refers outside itself"),
    ({"$ref": "#"}, "refers to itself without end"),
    (exponential_schema(40), "could not decide"),  # 2**40 branches without the deadline
    ({"type": "object", "properties": {"a": {"type": "strin"}}}, "cannot be used"),
    (json.loads("[" * 70 + "{}" + "]" * 70), "cannot be used"),
    ({"enum": list(range(150_000))}, "more than 100,000 values"),
    ({"type": "object", "properties": {"a": {"type": "string", "pattern": "(a|aa)+$"}}}, "pattern not decided"),
])
def test_hostile_tool_schemas_fail_closed_quickly(parameters: Any, because: str) -> None:
    arguments = '{"a": "' + "a" * 40 + 'b"}' if because == "pattern not decided" else '{"a": {"a": {}}}'
    result, took = timed(with_schema(parameters, arguments))
    assert not result.passed and because in result.detail and took < SECONDS


def test_a_recursive_schema_checks_recursive_data() -> None:
    tree = {"type": "object", "properties": {"child": {"$ref": "#"}, "n": {"type": "integer"}}}
    check = tool_check()
    assert check(with_schema(tree, '{"n": 1, "child": {"n": 2, "child": {}}}')).passed
    assert "$.child.child.n" in check(with_schema(tree, '{"child": {"child": {"n": "x"}}}')).detail


# ---------------------------------------------------------------- response_format


class Answer(BaseModel):
    answer: int


SCHEMA_FORMAT = {"type": "json_schema", "json_schema": {"name": "answer", "strict": True, "schema": {
    "type": "object", "properties": {"answer": {"type": "integer"}}, "required": ["answer"], "additionalProperties": False}}}


def test_response_format_asking_for_text_needs_no_check() -> None:
    assert response_format_check(None) is None and response_format_check({"type": "text"}) is None


@pytest.mark.parametrize("response_format", [SCHEMA_FORMAT, Answer])
def test_response_format_schema_is_checked(response_format: Any) -> None:
    check = response_format_check(response_format)
    assert check is not None
    assert check(Draft('{"answer": 4}', "q")).passed
    wrong = check(Draft('{"answer": "four"}', "q"))
    assert (wrong.check, wrong.passed, wrong.detail) == ("response_format", False, "schema violation at $.answer: 'four' is not of type 'integer'")
    assert not check(Draft('```json\n{"answer": 4}\n```', "q")).passed  # the caller parses the content as it is


def test_json_object_format_wants_an_object() -> None:
    check = response_format_check({"type": "json_object"})
    assert check is not None and check(Draft('{"a": [1]}', "q")).passed
    assert check(Draft("[1]", "q")).detail == "the JSON is an array, not an object"
    assert not check(Draft("Sure! {}", "q")).passed


@pytest.mark.parametrize(("response_format", "message"), [
    ({"type": "json_schema"}, "has no schema"),
    ({"type": "json_schema", "json_schema": {"name": "x"}}, "has no schema"),
    ({"type": "xml"}, "not one cascadepolicy can check"),
    ("json", "pass a mapping"),
    ({"type": "json_schema", "json_schema": {"schema": {"$ref": "https://example.com/s.json"}}}, "refers outside itself"),
    ({"type": "json_schema", "json_schema": {"schema": {"type": 5}}}, "cannot be used"),
])
def test_an_uncheckable_response_format_is_a_request_error(response_format: Any, message: str) -> None:
    with pytest.raises(RequestError, match=message):
        response_format_check(response_format)


def test_a_tool_call_skips_the_response_format_check() -> None:
    check = response_format_check(SCHEMA_FORMAT)
    assert check is not None
    draft = Draft("", "q", tool_calls=(call("{}", "now"),), tools=TOOLS, response_format=SCHEMA_FORMAT)
    assert score_draft([(check, 1.0, True)], draft).results[0].skipped


# ---------------------------------------------------------------- the json check shares the bounds


@pytest.mark.parametrize(("text", "because"), [
    ("[" * 200_000 + "]" * 200_000, "nests deeper than 64 levels"),
    ("9" * 5000, "not valid JSON"),
    ('{"a": Infinity}', "not valid JSON"),
])
def test_the_json_check_fails_closed_on_hostile_answers(text: str, because: str) -> None:
    result, took = timed(Draft(text, "q"), build_check("json", {}))
    assert not result.passed and because in result.detail and took < SECONDS


def test_the_json_check_schema_stops_at_the_deadline() -> None:
    result, took = timed(Draft("{}", "q"), build_check("json", {"schema": exponential_schema(40)}))
    assert not result.passed and "could not decide" in result.detail and took < SECONDS
