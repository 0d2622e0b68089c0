"""Params of the `train_seeds` stage: the main model and the 1-D CNN over several seeds.

`train` and `train_cnn` each train one model from params' `seed`; one seed is one draw of the
initialisation and the batch order. This stage retrains both with seed+1, … (the same data, the
same `model`/`train` settings) so the flagship's numbers carry their spread.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from genlab.config.base import Strict


class TrainSeedsConfig(Strict):
    seeds: Annotated[int, Field(ge=2, le=100)] = 3  # params' seed (from `evaluate`) + the rest
    torch_threads: Annotated[int, Field(ge=1, le=256)] = 1  # one fit at a time, small models
