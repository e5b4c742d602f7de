from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from ninja import Field, Schema
from pydantic import BaseModel, ConfigDict

from jobs import job
from jobs.exceptions import InvalidParams, UnknownTask
from jobs.registry import all_specs, get_spec


def errors_of(task: str, params: object) -> list[dict[str, object]]:
    with pytest.raises(InvalidParams) as caught:
        get_spec(task).validate(params)
    return caught.value.errors


def test_validate_fills_in_defaults():
    assert get_spec("demo.count").validate({"n": 3}) == {"n": 3, "interval_ms": 0}
    assert get_spec("demo.fail").validate({}) == {"message": "demo failure"}
    assert get_spec("coucou").validate({}) == {}
    assert get_spec("coucou").validate(None) == {}


def test_an_out_of_range_param_names_its_field_and_why():
    [error] = errors_of("demo.count", {"n": 0})
    assert error["loc"] == ["body", "params", "n"]
    assert "greater than or equal to 1" in error["msg"]
    assert error["type"] == "greater_than_equal"


def test_every_bad_field_is_reported():
    errors = errors_of("demo.count", {"n": "many", "interval_ms": 99_999})
    assert [e["loc"] for e in errors] == [["body", "params", "n"], ["body", "params", "interval_ms"]]
    assert "valid integer" in errors[0]["msg"]
    assert "less than or equal to 10000" in errors[1]["msg"]


def test_a_missing_required_param_is_named():
    [error] = errors_of("demo.sleep", {})
    assert error["loc"] == ["body", "params", "seconds"]
    assert error["type"] == "missing"


def test_params_must_be_an_object():
    [error] = errors_of("demo.count", [1, 2])
    assert error["loc"] == ["body", "params"]
    assert error["msg"] == "params must be an object"


def test_a_task_without_params_refuses_some():
    [error] = errors_of("coucou", {"loud": True})
    assert error["loc"] == ["body", "params"]
    assert "takes no params" in error["msg"]


def test_unknown_params_are_refused_each_by_name():
    errors = errors_of("demo.count", {"n": 3, "verbose": True, "colour": "red"})
    assert errors == [
        {"loc": ["body", "params", "colour"], "msg": "unknown param", "type": "extra_forbidden"},
        {"loc": ["body", "params", "verbose"], "msg": "unknown param", "type": "extra_forbidden"},
    ]


@pytest.mark.usefixtures("scratch_registry")
def test_params_named_by_alias_are_stored_as_sent_and_parse_back():
    class Mail(Schema):
        sender: str = Field(..., alias="from")

    @job("tests.mail", params=Mail)
    def mail(ctx, params):
        return params.sender

    spec = get_spec("tests.mail")
    stored = spec.validate({"from": "carol"})
    assert stored == {"from": "carol"}
    assert spec.parse(stored) == Mail.model_validate({"from": "carol"})
    assert [e["loc"] for e in errors_of("tests.mail", {"from": "carol", "to": "dave"})] == [
        ["body", "params", "to"]
    ]


@pytest.mark.usefixtures("scratch_registry")
def test_a_job_whose_params_allow_extras_keeps_them():
    class Loose(BaseModel):
        model_config = ConfigDict(extra="allow")
        n: int = 1

    job("tests.loose", params=Loose)(lambda ctx, params: None)
    assert get_spec("tests.loose").validate({"colour": "red"}) == {"n": 1, "colour": "red"}


def test_unknown_task_raises_unknown_task():
    with pytest.raises(UnknownTask) as caught:
        get_spec("no.such.task")
    assert caught.value.args == ("no.such.task",)


def test_builtins_are_registered_with_descriptions():
    specs = {spec.name: spec for spec in all_specs()}
    assert {"coucou", "demo.count", "demo.fail", "demo.sleep"} <= specs.keys()
    assert all(spec.description for spec in specs.values())
    assert [spec.name for spec in all_specs()] == sorted(specs)


def test_params_schema_is_the_json_schema_of_the_params():
    schema = get_spec("demo.count").params_schema()
    assert schema["type"] == "object"
    assert schema["required"] == ["n"]
    assert schema["properties"]["n"]["minimum"] == 1
    assert schema["properties"]["n"]["maximum"] == 1_000_000
    assert schema["properties"]["interval_ms"]["default"] == 0


def test_params_schema_of_a_job_without_params_accepts_only_an_empty_object():
    assert get_spec("coucou").params_schema() == {
        "type": "object",
        "properties": {},
        "additionalProperties": False,
    }


@pytest.mark.parametrize(
    "name", ["Images.resize", "images resize", "images..resize", "1images", ".x", "x.", ""]
)
def test_bad_job_names_are_rejected(name):
    with pytest.raises(ImproperlyConfigured, match="dotted lowercase"):
        job(name)


@pytest.mark.usefixtures("scratch_registry")
def test_a_registered_job_gets_its_spec_and_a_celery_task_of_the_same_name():
    class Greet(Schema):
        who: str = Field(..., min_length=1)

    @job("tests.greet", params=Greet)
    def greet(ctx, params):
        """Greet someone.

        More text that is not part of the description.
        """

    spec = get_spec("tests.greet")
    assert spec.fn is greet
    assert spec.description == "Greet someone."
    assert spec.celery_task.name == "tests.greet"
    assert spec.validate({"who": "carol"}) == {"who": "carol"}
    assert spec.parse({"who": "carol"}) == Greet(who="carol")


@pytest.mark.usefixtures("scratch_registry")
def test_two_bodies_under_one_name_are_rejected():
    @job("tests.twice")
    def first(ctx):
        pass

    job("tests.twice")(first)  # registering the same body again is harmless (module reload)
    with pytest.raises(ImproperlyConfigured, match="registered twice"):

        @job("tests.twice")
        def second(ctx):
            pass
