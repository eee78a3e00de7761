"""What every network config shares: the shape of one input sample and a JSON form.

Example:
    >>> from search_spaces.nb201.network import NetworkConfig
    >>> NetworkConfig.for_dataset("mnist1d").spatial_dims, NetworkConfig.for_dataset("digits").input_shape
    (1, (1, 8, 8))
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Self, TypeVar

__all__ = ["SampleShapeMixin"]

Config = TypeVar("Config", bound="SampleShapeMixin")


class SampleShapeMixin:
    """For a frozen dataclass with integer fields ``in_channels``, ``height``, ``width`` and
    ``length`` (``None`` for images): images are ``(in_channels, height, width)``, signals
    (``length`` set) ``(in_channels, length)``, and the networks take their 1-D form."""

    in_channels: int
    height: int
    width: int
    length: int | None

    @property
    def spatial_dims(self) -> int:
        """1 for signals, 2 for images."""
        return 2 if self.length is None else 1

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The shape of one input sample: ``(in_channels, height, width)`` or ``(in_channels, length)``."""
        if self.length is not None:
            return (self.in_channels, self.length)
        return (self.in_channels, self.height, self.width)

    def to_json(self) -> dict[str, int]:
        """The settings as JSON; ``length`` only for signals, so image configs read as they always did."""
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}  # type: ignore[call-overload]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        """Inverse of ``to_json``."""
        return cls(**{str(k): None if v is None else int(v) for k, v in data.items()})

    @classmethod
    def of_shape(cls, input_shape: tuple[int, ...], **settings: Any) -> Self:
        """The config for samples of ``input_shape`` (``(C, L)`` signals or ``(C, H, W)`` images)
        with the other ``settings`` (``num_cells``, ``channels``, ``num_classes``, ...)."""
        if len(input_shape) == 2:
            return cls(**settings, in_channels=input_shape[0], length=input_shape[1])
        if len(input_shape) == 3:
            return cls(**settings, in_channels=input_shape[0], height=input_shape[1], width=input_shape[2])
        raise ValueError(f"inputs must be (channels, length) signals or (channels, height, width) images, "
                         f"got samples of shape {tuple(input_shape)}")
