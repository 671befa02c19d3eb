"""The one place that knows pydantic 1.10 from pydantic 2.

Rasa 3.6 pins pydantic 1.10 and Rasa Pro ships pydantic 2; the API layer has to run
on both, so every version-dependent call goes through these helpers and no other
module calls `.dict()`, `.parse_obj()` or `.model_validate()`.
"""

from __future__ import annotations

from collections.abc import Mapping  # isinstance: typing's aliases check slower
from typing import Any, Dict, Type, TypeVar

import pydantic

__all__ = ["PYDANTIC_V2", "construct", "model_copy", "model_dump", "parse_obj"]

PYDANTIC_V2 = int(pydantic.VERSION.split(".", 1)[0]) >= 2

ModelT = TypeVar("ModelT", bound="_Model")


def _prepare_hook(cls: Any, data: Any) -> Any:
    if isinstance(data, Mapping):
        return cls._prepare_input(dict(data))
    return data


# One before-validator for every model, declared the way each generation wants it.
_prepare_validator: Any
if PYDANTIC_V2:
    _prepare_validator = pydantic.model_validator(mode="before")(  # type: ignore[attr-defined]
        _prepare_hook
    )
else:
    _prepare_validator = pydantic.root_validator(pre=True, allow_reuse=True)(_prepare_hook)


class _Model(pydantic.BaseModel):
    """Base of every model here: keeps fields it does not know instead of refusing them.

    LoopMessage adds fields without a version bump, so a stricter base would turn
    its next release into our outage. Subclasses that accept LoopMessage's aliases
    (`recipient` for `contact`, `group_id` for `id`) override `_prepare_input`, which
    runs on the raw mapping before field validation in both pydantic generations.
    """

    if PYDANTIC_V2:
        model_config = {"extra": "allow"}
    else:

        class Config:
            extra = "allow"

    _lm_prepare = _prepare_validator

    @classmethod
    def _prepare_input(cls, data: Dict[str, Any]) -> Dict[str, Any]:
        return data


def parse_obj(model_cls: Type[ModelT], data: Any) -> ModelT:
    """Validate `data` into `model_cls`; raises pydantic's ValidationError (a ValueError)."""
    if PYDANTIC_V2:
        return model_cls.model_validate(data)  # type: ignore[attr-defined,no-any-return]
    return model_cls.parse_obj(data)


def construct(model_cls: Type[ModelT], data: Mapping[str, Any]) -> ModelT:
    """Build from fields this package has checked and typed already.

    On pydantic 1 validation would only repeat those checks (57 -> 18 µs for a webhook,
    23.5 -> 5.3 µs for a send result), so it is skipped. Pydantic 2 validates in Rust in
    about 4 µs, while its `model_construct` runs in Python and takes far longer: there it
    validates.
    """
    if PYDANTIC_V2:
        return model_cls.model_validate(data)  # type: ignore[attr-defined,no-any-return]
    return model_cls.construct(**data)


def model_dump(model: pydantic.BaseModel, **kwargs: Any) -> Dict[str, Any]:
    """The model as a plain dict; keyword arguments common to both (`exclude_none`, ...)."""
    if PYDANTIC_V2:
        return model.model_dump(**kwargs)  # type: ignore[attr-defined,no-any-return]
    return model.dict(**kwargs)


def model_copy(model: ModelT, update: Mapping[str, Any]) -> ModelT:
    """A shallow copy with `update` applied, without re-validation (as in both versions)."""
    if PYDANTIC_V2:
        return model.model_copy(update=dict(update))  # type: ignore[attr-defined,no-any-return]
    return model.copy(update=dict(update))
