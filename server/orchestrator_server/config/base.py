"""Building blocks shared by the configuration models."""

from __future__ import annotations

import datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field


def _date_as_text(value: Any) -> Any:
    # YAML reads an unquoted 2024-10-21 as a date; API versions are written exactly so.
    return value.isoformat() if isinstance(value, datetime.date) else value


PositiveSeconds = Annotated[float, Field(gt=0)]
NonNegativeSeconds = Annotated[float, Field(ge=0)]
ProviderName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")]
EnvVarName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
ApiVersion = Annotated[str, BeforeValidator(_date_as_text), Field(min_length=1)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PriceConfig(Strict):
    """Price per 1,000 tokens, used for cost and the `cheapest` strategy."""

    prompt_per_1k: float = Field(0.0, ge=0)
    completion_per_1k: float = Field(0.0, ge=0)
    currency: str = Field("USD", pattern=r"^[A-Z]{3}$")
