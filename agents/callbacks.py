"""Callbacks: Stable-Baselines3's own classes work with our agents unchanged.

Our agents implement what SB3's callbacks read from a model (``num_timesteps``,
``get_env()``, ``logger``, ``save()``, ``predict()``, ``get_vec_normalize_env()``) and
from ``self.locals`` after every step (``new_obs``, ``rewards``, ``dones``, ``infos``,
``actions`` as numpy arrays, plus our ``transition`` and ``modulator``), so every class of
``stable_baselines3.common.callbacks`` is used as it is; the common ones are re-exported
here. :class:`ProgressBar` is a plain-tqdm progress bar (SB3's needs ``rich`` too).

Building the step locals costs a host copy per step; the loop skips it when every callback
declares ``reads_step_locals = False`` (ours do).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.callbacks import (
    BaseCallback,
    CallbackList,
    CheckpointCallback,
    ConvertCallback,
    EvalCallback,
    StopTrainingOnMaxEpisodes,
    StopTrainingOnNoModelImprovement,
    StopTrainingOnRewardThreshold,
)
from tqdm.auto import tqdm

from snn_rl._validation import check_int

__all__ = [
    "BaseCallback",
    "CallbackList",
    "CheckpointCallback",
    "EvalCallback",
    "PeriodicCheckpoint",
    "ProgressBar",
    "StopTrainingOnMaxEpisodes",
    "StopTrainingOnNoModelImprovement",
    "StopTrainingOnRewardThreshold",
    "ScheduledEvaluation",
    "WeightImages",
    "make_callback",
    "reads_step_locals",
]

MaybeCallback = BaseCallback | list | Callable[[dict, dict], bool] | None


class ProgressBar(BaseCallback):
    """A tqdm progress bar over the env steps of one ``learn`` call."""

    reads_step_locals = False

    def __init__(self) -> None:
        super().__init__()
        self.pbar: Any = None
        self._last = 0

    def _on_training_start(self) -> None:
        self._last = self.model.num_timesteps
        total = self.locals["total_timesteps"] - self.model.num_timesteps
        self.pbar = tqdm(total=total, unit="step", dynamic_ncols=True)

    def _on_step(self) -> bool:
        now = self.model.num_timesteps
        self.pbar.update(now - self._last)
        self._last = now
        return True

    def _on_training_end(self) -> None:
        self.pbar.refresh()
        self.pbar.close()


class ScheduledEvaluation(BaseCallback):
    """Evaluate every ``eval_freq`` env steps (counted in ``model.num_timesteps``) for any model.

    Unlike SB3's ``EvalCallback`` (which counts vector steps), the schedule is in env steps, so
    agents with different numbers of envs are evaluated at the same points. Each point
    records env steps, training wall-clock (evaluation time excluded) and the episode returns;
    ``on_result`` (if given) receives every record as it is made.

    Args:
        evaluate_fn: ``model -> (returns array, lengths array)``.
        eval_freq: env steps between evaluations (> 0); an evaluation also runs at step 0
            when ``eval_at_start``, and when training ends off the schedule when
            ``eval_at_end`` (SB3 algorithms overshoot to whole rollouts).
        on_result: optional ``f(record: dict) -> None``.
        stop_threshold: stop training once the mean return reaches it (None: never).
        clock: ``f() -> seconds of training so far`` (default: this callback's own clock,
            wall-clock since training started less its evaluations); a population of agents
            passes its own, which excludes every member's evaluations.
    """

    reads_step_locals = False

    def __init__(
        self,
        evaluate_fn: Callable[[Any], tuple[Any, Any]],
        eval_freq: int,
        *,
        on_result: Callable[[dict], None] | None = None,
        eval_at_start: bool = False,
        eval_at_end: bool = False,
        stop_threshold: float | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        super().__init__()
        self.eval_freq = check_int("eval_freq", eval_freq, minimum=1)
        self.clock = clock
        self.evaluate_fn = evaluate_fn
        self.on_result = on_result
        self.eval_at_start = eval_at_start
        self.eval_at_end = eval_at_end
        self.stop_threshold = stop_threshold
        self.records: list[dict] = []
        self._next = eval_freq
        self._train_time = 0.0
        self._mark = 0.0

    def _evaluate(self) -> bool:
        self._train_time += time.perf_counter() - self._mark
        if self.clock is not None:
            self._train_time = self.clock()
        returns, lengths = self.evaluate_fn(self.model)
        returns = np.asarray(returns, dtype=np.float64)
        record = {
            "timesteps": int(self.model.num_timesteps),
            "train_seconds": self._train_time,
            "mean_return": float(returns.mean()),
            "std_return": float(returns.std()),
            "min_return": float(returns.min()),
            "mean_length": float(np.mean(lengths)),
            "episodes": int(returns.size),
        }
        self.records.append(record)
        if self.on_result is not None:
            self.on_result(record)
        self._mark = time.perf_counter()
        return self.stop_threshold is None or record["mean_return"] < self.stop_threshold

    def _on_training_start(self) -> None:
        self._mark = time.perf_counter()
        self._next = _next_point(self.model.num_timesteps, self.eval_freq)
        if self.eval_at_start:
            self._evaluate()

    def _on_training_end(self) -> None:
        last = self.records[-1]["timesteps"] if self.records else -1
        if self.eval_at_end and last < self.model.num_timesteps:
            self._evaluate()

    def _on_step(self) -> bool:
        if self.model.num_timesteps < self._next:
            return True
        self._next = _next_point(self.model.num_timesteps, self.eval_freq)
        return self._evaluate()


def _next_point(steps: int, every: int) -> int:
    """The first multiple of ``every`` env steps after ``steps``."""
    return (steps // every + 1) * every


class _EveryEnvSteps(BaseCallback):
    """Calls :meth:`_due` every ``every`` env steps (counted in ``model.num_timesteps``, as
    :class:`ScheduledEvaluation`), whatever the number of envs."""

    reads_step_locals = False

    def __init__(self, every: int, name: str) -> None:
        super().__init__()
        self._every = check_int(name, every, minimum=1)
        self._next = self._every

    def _due(self) -> None:
        raise NotImplementedError

    def _on_training_start(self) -> None:
        self._next = _next_point(self.model.num_timesteps, self._every)

    def _on_step(self) -> bool:
        if self.model.num_timesteps >= self._next:
            self._next = _next_point(self.model.num_timesteps, self._every)
            self._due()
        return True


class PeriodicCheckpoint(_EveryEnvSteps):
    """Save the model every ``save_freq`` env steps (counted in ``model.num_timesteps``, as
    :class:`ScheduledEvaluation`) to ``folder/<name_prefix>_<steps>_steps.zip``.

    SB3's ``CheckpointCallback`` counts callback calls (vector steps), so its files of a
    16-env agent come 16 times further apart in env steps than the number suggests; this
    one's schedule means the same for any number of envs. Each file is written atomically
    (the model's ``save``). ``saved`` lists the paths written.
    """

    def __init__(self, save_freq: int, folder: str | Path, name_prefix: str = "model") -> None:
        super().__init__(save_freq, "save_freq")
        self.folder = Path(folder)
        self.name_prefix = name_prefix
        self.saved: list[Path] = []

    def _due(self) -> None:
        path = self.folder / f"{self.name_prefix}_{self.model.num_timesteps}_steps.zip"
        self.saved.append(Path(self.model.save(path) or path))


class WeightImages(_EveryEnvSteps):
    """Every ``every`` env steps (and at the end) write the weights of the layers of
    ``roles`` as PNG mosaics, ``folder/<layer>_<steps>.png``
    (:func:`~snn_rl.agents.weight_images.save_weight_images`; needs matplotlib), each layer
    a FedeSTDP rule trains centred on its ``w_init``. ``saved`` lists the paths written."""

    def __init__(
        self, every: int, folder: str | Path, roles: tuple[str, ...] = ("features",)
    ) -> None:
        super().__init__(every, "every")
        self.folder = Path(folder)
        self.roles = tuple(roles)
        self.saved: list[Path] = []

    def _due(self) -> None:
        from snn_rl.agents.weight_images import save_weight_images

        centres = {
            name: group["w_init"]
            for learner in self.model.learners
            if learner.role == "features"
            for group in learner.rule.param_groups
            for name in group["layers"]
        }
        network, step = self.model.policy.network, self.model.num_timesteps
        self.saved += save_weight_images(network, self.folder, step, self.roles, centres)

    def _on_training_end(self) -> None:
        self._due()


def make_callback(callback: MaybeCallback, progress_bar: bool) -> BaseCallback:
    """Turn a callback, a list of them, a ``f(locals, globals) -> bool`` or None into one callback."""
    if isinstance(callback, list):
        callback = CallbackList(callback)
    elif callback is None:
        callback = CallbackList([])
    elif not isinstance(callback, BaseCallback):
        if not callable(callback):
            raise TypeError(
                "callback must be a BaseCallback, a list of them, a callable "
                f"f(locals, globals) -> bool, or None; got {type(callback).__name__}"
            )
        callback = ConvertCallback(callback)
    if progress_bar:
        callback = CallbackList([callback, ProgressBar()])
    return callback


def reads_step_locals(callback: BaseCallback) -> bool:
    """Whether ``callback`` (or one inside a CallbackList) may read the per-step locals."""
    if isinstance(callback, CallbackList):
        return any(reads_step_locals(c) for c in callback.callbacks)
    return getattr(callback, "reads_step_locals", True)
