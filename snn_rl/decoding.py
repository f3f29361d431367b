"""Action decoders: output spike counts -> actions.

Discrete actions are read from populations: with ``n_actions`` actions of ``pop`` neurons each,
the counts have shape ``(B, n_actions * pop)`` and action ``a`` owns columns
``a * pop .. (a + 1) * pop - 1``. :func:`population_counts` sums them; :class:`GreedyDecoder`,
:class:`SoftmaxDecoder` and :class:`EpsilonGreedyDecoder` pick one action per row and return
``(B,)`` long tensors on the counts' device. :class:`PopulationVectorDecoder` reads Box actions.
Randomness comes only from an explicit ``torch.Generator`` (None: torch's global RNG).

Example:
    >>> import torch
    >>> from snn_rl.decoding import GreedyDecoder
    >>> counts = torch.tensor([[3.0, 1.0, 0.0, 2.0], [0.0, 1.0, 1.0, 0.0]])  # 2 actions x 2
    >>> decoder = GreedyDecoder(2)
    >>> decoder(counts)  # totals [4, 2] and [1, 1]: the tie goes to action 0
    tensor([0, 0])
    >>> v = torch.tensor([[0.0, 0.0, 0.0, 0.0], [0.1, 0.1, 0.5, 0.3]])  # e.g. membrane potentials
    >>> decoder(counts, tie_break=v)  # row 1: mean scores 0.1 < 0.4
    tensor([0, 1])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from snn_rl._coding import (
    Generators,
    check_bounds,
    check_generator,
    check_n_per_dim,
    draw_rows,
    evenly_spaced_centres,
    space_bounds,
)
from snn_rl._validation import check_in_range, check_int, check_positive

__all__ = [
    "population_counts",
    "GreedyDecoder",
    "SoftmaxDecoder",
    "EpsilonGreedyDecoder",
    "PopulationVectorDecoder",
]


def _check_values(
    name: str, x: Any, expected: tuple[int, ...] | None, values: bool = True
) -> Tensor:
    """A finite 2-D tensor; ``expected`` is its exact shape where known. ``values=False``
    checks type and shape only (no host synchronisation)."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.ndim != 2 or (expected is not None and tuple(x.shape) != expected):
        want = "(B, n)" if expected is None else str(expected)
        raise ValueError(f"{name} must have shape {want}, got {tuple(x.shape)}")
    if x.dtype == torch.bool or x.is_complex():
        raise TypeError(f"{name} must hold real numbers, got dtype {x.dtype}")
    if values and x.is_floating_point() and not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} must be finite, got NaN or inf")
    return x


def _check_counts(counts: Any, n_actions: int, pop_size: int | None, values: bool = True) -> Tensor:
    """Spike counts ``(B, n_actions * pop)``: finite, non-negative, divisible into populations."""
    counts = _check_values("counts", counts, None, values)
    columns = counts.shape[1]
    if pop_size is not None and columns != n_actions * pop_size:
        raise ValueError(
            f"counts must have shape (B, {n_actions * pop_size}) for {n_actions} "
            f"actions x {pop_size} neurons, got {tuple(counts.shape)}"
        )
    if columns == 0 or columns % n_actions:
        raise ValueError(
            f"counts must have shape (B, {n_actions} * pop_size) for {n_actions} "
            f"actions, got {tuple(counts.shape)}"
        )
    if values and bool((counts < 0).any()):
        raise ValueError(f"counts must be non-negative spike counts, got minimum {counts.min()}")
    return counts


def population_counts(counts: Tensor, n_actions: int) -> Tensor:
    """Total spike count of each action's population: ``n_a = sum_{j in pop(a)} counts[:, j]``.

    Args:
        counts: spike counts (or rates) of the output neurons, population-major.
        n_actions: number of populations; must divide the number of columns.

    Returns:
        Per-action totals in the counts' dtype.

    Shape:
        counts: ``(B, n_actions * pop)`` -> ``(B, n_actions)``.
    """
    n_actions = check_int("n_actions", n_actions, minimum=1)
    counts = _check_counts(counts, n_actions, None)
    return counts.reshape(counts.shape[0], n_actions, -1).sum(dim=2)


def _greedy(totals: Tensor, tie_break: Tensor | None) -> Tensor:
    """Argmax of ``totals (B, A)``; exact ties go to the highest ``tie_break (B, A)``, then to
    the lowest index."""
    if tie_break is None:
        return totals.argmax(dim=1)
    tied = totals == totals.max(dim=1, keepdim=True).values
    return tie_break.masked_fill(~tied, float("-inf")).argmax(dim=1)


class _PopulationDecoder(nn.Module):
    """Shared checks of the discrete decoders.

    Attributes:
        check_values: when True (default) every call checks that counts and tie-break scores
            are finite and counts non-negative, which synchronises with the device; a caller
            that produces the counts itself (an agent's hot loop) may set it to False, leaving
            only the type and shape checks.
    """

    check_values: bool = True

    def __init__(self, n_actions: int, pop_size: int | None) -> None:
        super().__init__()
        self.n_actions = check_int("n_actions", n_actions, minimum=1)
        if pop_size is not None:
            pop_size = check_int("pop_size", pop_size, minimum=1)
        self.pop_size = pop_size

    def _totals(self, counts: Tensor, tie_break: Tensor | None) -> tuple[Tensor, Tensor | None]:
        """Validated per-action totals ``(B, A)`` and per-population mean tie-break scores."""
        counts = _check_counts(counts, self.n_actions, self.pop_size, self.check_values)
        batch = counts.shape[0]
        totals = counts.reshape(batch, self.n_actions, -1).sum(dim=2)
        if tie_break is None:
            return totals, None
        tie_break = _check_values("tie_break", tie_break, tuple(counts.shape), self.check_values)
        if not tie_break.is_floating_point():
            tie_break = tie_break.to(torch.get_default_dtype())
        return totals, tie_break.reshape(batch, self.n_actions, -1).mean(dim=2)

    def extra_repr(self) -> str:
        return f"n_actions={self.n_actions}, pop_size={self.pop_size}"


class GreedyDecoder(_PopulationDecoder):
    """The action whose population fired most: ``a = argmax_a n_a``.

    Exact count ties go to the population with the highest mean ``tie_break`` score (e.g. the
    membrane potentials), and remaining ties to the lowest action index. The tie-break never
    overrides a count difference (the CartPole recipe added ``1e-3 * mean v`` to the counts,
    which is the same whenever the mean potentials differ by less than 1000).

    Args:
        n_actions: number of actions (populations).
        pop_size: population size; when given, the counts' width is checked exactly.

    Shape:
        counts: ``(B, n_actions * pop)``; tie_break: same shape or None -> actions ``(B,)`` long.
    """

    def __init__(self, n_actions: int, *, pop_size: int | None = None) -> None:
        super().__init__(n_actions, pop_size)

    def forward(self, counts: Tensor, tie_break: Tensor | None = None) -> Tensor:
        totals, scores = self._totals(counts, tie_break)
        return _greedy(totals, scores)


class SoftmaxDecoder(_PopulationDecoder):
    """Sample ``a ~ softmax(n / temperature)`` from the population totals ``n``.

    Args:
        n_actions: number of actions (populations).
        temperature: > 0; settable (e.g. for annealing). Small values approach greedy.
        generator: random generator on the counts' device (None: torch's global RNG), or
            one per agent of a population (agent-major rows, each block from its own).
        pop_size: population size; when given, the counts' width is checked exactly.

    Shape:
        counts: ``(B, n_actions * pop)`` -> actions ``(B,)`` long. ``tie_break`` is accepted
        for a signature shared with the other decoders and validated, but sampling ignores it.
    """

    def __init__(
        self,
        n_actions: int,
        *,
        temperature: float,
        generator: Generators = None,
        pop_size: int | None = None,
    ) -> None:
        super().__init__(n_actions, pop_size)
        self.temperature = temperature
        self.generator = check_generator(generator)

    @property
    def temperature(self) -> float:
        return self._temperature

    @temperature.setter
    def temperature(self, value: float) -> None:
        self._temperature = check_positive("temperature", value)

    def _softmax(self, totals: Tensor) -> Tensor:
        if not totals.is_floating_point():
            totals = totals.to(torch.get_default_dtype())
        return torch.softmax(totals / self.temperature, dim=1)

    def probabilities(self, counts: Tensor) -> Tensor:
        """``softmax(n / temperature)`` per row, shape ``(B, n_actions)``."""
        return self._softmax(self._totals(counts, None)[0])

    def forward(self, counts: Tensor, tie_break: Tensor | None = None) -> Tensor:
        probs = self._softmax(self._totals(counts, tie_break)[0])
        check_generator(self.generator, probs.device)
        return draw_rows(
            lambda rows, g: torch.multinomial(probs[rows], 1, generator=g)[:, 0],
            probs.shape[0],
            self.generator,
        )

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, temperature={self.temperature}"


class EpsilonGreedyDecoder(_PopulationDecoder):
    """Greedy with probability ``1 - epsilon``, else a uniformly random action.

    The random action ignores the network (it may equal the greedy one). Both draws are made
    for every row on every call, so the generator's stream does not depend on ``epsilon``.

    Args:
        n_actions: number of actions (populations).
        epsilon: exploration probability in ``[0, 1]``; settable (exploration schedules),
            also to a ``(B,)`` tensor of one probability per row.
        generator: random generator on the counts' device (None: torch's global RNG), or
            one per agent of a population (agent-major rows, each block from its own).
        pop_size: population size; when given, the counts' width is checked exactly.

    Shape:
        counts: ``(B, n_actions * pop)``; tie_break: same shape or None (for the greedy
        choice, as :class:`GreedyDecoder`) -> actions ``(B,)`` long.
    """

    def __init__(
        self,
        n_actions: int,
        *,
        epsilon: float,
        generator: Generators = None,
        pop_size: int | None = None,
    ) -> None:
        super().__init__(n_actions, pop_size)
        self.epsilon = epsilon
        self.generator = check_generator(generator)

    @property
    def epsilon(self) -> float:
        return self._epsilon

    @epsilon.setter
    def epsilon(self, value: float | Tensor) -> None:
        if isinstance(value, Tensor):  # one probability per row (a population's agents)
            if value.dim() != 1 or not bool(((value >= 0) & (value <= 1)).all()):
                raise ValueError(
                    f"epsilon must be a float or a (B,) tensor of probabilities in [0, 1], got "
                    f"{value}"
                )
            self._epsilon = value
            return
        self._epsilon = check_in_range("epsilon", value, 0.0, 1.0)

    def forward(self, counts: Tensor, tie_break: Tensor | None = None) -> Tensor:
        totals, scores = self._totals(counts, tie_break)
        device, batch = totals.device, totals.shape[0]
        check_generator(self.generator, device)
        gen, n_actions = self.generator, self.n_actions
        if gen is None or isinstance(gen, torch.Generator):  # one stream: two plain draws
            explore = torch.rand(batch, generator=gen, device=device) < self.epsilon
            random = torch.randint(n_actions, (batch,), generator=gen, device=device)
        else:  # one stream per agent: each draws its rand then its randint, as alone
            both = draw_rows(
                lambda rows, g: torch.stack(
                    (
                        torch.rand(rows.stop - rows.start, generator=g, device=device),
                        torch.randint(
                            n_actions, (rows.stop - rows.start,), generator=g, device=device
                        ).to(torch.get_default_dtype()),
                    ),
                    dim=1,
                ),
                batch,
                gen,
            )
            explore, random = both[:, 0] < self.epsilon, both[:, 1].long()
        return torch.where(explore, random, _greedy(totals, scores))

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, epsilon={self.epsilon}"


class PopulationVectorDecoder(nn.Module):
    """Box actions from a rate-weighted population vector, one population per action dimension.

    Population ``i`` has ``n_i`` neurons with preferred values ``p_{i,k}`` evenly spaced over
    ``[low_i, high_i]`` (one neuron: the midpoint). The action is
    ``a_i = sum_k c_{i,k} p_{i,k} / sum_k c_{i,k}``, the midpoint ``(low_i + high_i) / 2`` when
    the population is silent, clamped to ``[low_i, high_i]``.

    Args:
        low, high: finite action bounds ``(action_dim,)``.
        pop_size: neurons per action dimension, an int or one int per dimension.
        dtype, device: of the decoder's tensors and of the actions (counts are moved there).

    Shape:
        counts: ``(B, sum_i n_i)``, dimension 0's population first -> actions
        ``(B, action_dim)``. ``tie_break`` is accepted for a shared signature and ignored.

    Example:
        >>> import torch
        >>> dec = PopulationVectorDecoder([-1.0], [1.0], 3)  # preferred values -1, 0, 1
        >>> dec(torch.tensor([[0.0, 1.0, 3.0], [0.0, 0.0, 0.0]]))
        tensor([[0.7500],
                [0.0000]])
    """

    def __init__(
        self,
        low: Any,
        high: Any,
        pop_size: int | Sequence[int],
        *,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        low, high = check_bounds(low, high)
        self.action_dim = low.size
        self.pop_size = check_n_per_dim(pop_size, self.action_dim, name="pop_size")
        self.in_features = sum(self.pop_size)
        preferred, _, dim_index = evenly_spaced_centres(low, high, self.pop_size)
        opts: dict[str, Any] = {"dtype": dtype or torch.get_default_dtype(), "device": device}
        membership = torch.zeros(self.in_features, self.action_dim, **opts)
        membership[torch.arange(self.in_features), torch.as_tensor(dim_index)] = 1.0
        self.register_buffer("membership", membership, persistent=False)
        weighted = membership * torch.tensor(preferred, **opts).unsqueeze(1)
        self.register_buffer("weighted", weighted, persistent=False)
        self.register_buffer("low", torch.tensor(low, **opts), persistent=False)
        self.register_buffer("high", torch.tensor(high, **opts), persistent=False)

    @classmethod
    def from_space(
        cls,
        space: Any,
        pop_size: int | Sequence[int],
        *,
        low: Any = None,
        high: Any = None,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> PopulationVectorDecoder:
        """Build from a Box-like action space; ``low``/``high`` replace its bounds when given."""
        low, high = space_bounds(space, low, high)
        return cls(low, high, pop_size, dtype=dtype, device=device)

    @property
    def preferred_values(self) -> Tensor:
        """Preferred value of every neuron, shape ``(sum_i n_i,)``."""
        return self.weighted.sum(dim=1)

    def forward(self, counts: Tensor, tie_break: Tensor | None = None) -> Tensor:
        if (
            not isinstance(counts, Tensor)
            or counts.ndim != 2
            or counts.shape[1] != (self.in_features)
        ):
            shape = tuple(counts.shape) if isinstance(counts, Tensor) else type(counts).__name__
            raise ValueError(
                f"counts must have shape (B, {self.in_features}) for {self.action_dim} action "
                f"dimensions with pop_size={self.pop_size} neurons, got {shape}"
            )
        counts = _check_values("counts", counts, None)
        if bool((counts < 0).any()):
            raise ValueError(f"counts must be non-negative, got minimum {counts.min()}")
        if tie_break is not None:
            _check_values("tie_break", tie_break, tuple(counts.shape))
        counts = counts.to(dtype=self.weighted.dtype, device=self.weighted.device)
        total = counts @ self.membership
        mean = (counts @ self.weighted) / torch.where(total > 0, total, torch.ones_like(total))
        midpoint = (self.low + self.high) / 2
        action = torch.where(total > 0, mean, midpoint)
        return torch.maximum(torch.minimum(action, self.high), self.low)

    def extra_repr(self) -> str:
        return f"action_dim={self.action_dim}, pop_size={self.pop_size}"
