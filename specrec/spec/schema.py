"""The JSON Schema of spec files, generated from the pydantic models.

The committed copy (``specrec/spec/specrec-v1.schema.json``) is regenerated with
``specrec schema > specrec/spec/specrec-v1.schema.json``; a test fails when it is stale.
The distribution names and signatures from the one table are added to the descriptions so an
editor shows them while typing a prior.
"""

from __future__ import annotations

import json
from pathlib import Path

from specrec.model.distributions import DISTRIBUTIONS
from specrec.model.functions import ALL_FUNCTIONS
from specrec.spec.models import Spec

COMMITTED = Path(__file__).with_name("specrec-v1.schema.json")


def schema() -> dict:
    s = Spec.model_json_schema()
    s["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    s["title"] = "specrec model spec, version 1"
    dists = "; ".join(d.signature() for d in DISTRIBUTIONS.values())
    funcs = ", ".join(ALL_FUNCTIONS)
    s["$defs"]["Param"]["properties"]["prior"]["description"] = f"A distribution: {dists}"
    s["properties"]["likelihood"]["description"] += f". Distributions: {dists}. Functions: {funcs}"
    return s


def schema_text() -> str:
    return json.dumps(schema(), indent=2, sort_keys=True) + "\n"
