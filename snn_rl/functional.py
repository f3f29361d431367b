"""Pure per-step math of the spiking engine.

Every function here computes one simulation step of one quantity from explicit inputs and
returns new tensors: nothing keeps state and no argument is modified in place. The neuron
modules in :mod:`snn_rl.neurons` are thin stateful wrappers around these functions.

Two update forms exist for every decaying quantity, selected by ``update_type``, and each
has its own parameter name, so that a name always carries one unit:

* ``"linear"``: a decay factor per step ``decay_*`` in ``[0, 1]``: ``q <- decay * q + input``.
* ``"exponential"``: a time constant ``tau_*`` (same unit as ``dt``), forward Euler:
  ``q <- q + dt / tau * (-q + input)``.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor

UpdateType = Literal["linear", "exponential"]
UPDATE_TYPES: tuple[str, ...] = ("linear", "exponential")


def _unknown_update_type(update_type: str) -> ValueError:
    return ValueError(f"update_type must be one of {list(UPDATE_TYPES)}, got {update_type!r}")


def _need(name: str, value: float | None, update_type: str) -> float:
    """The mode's own parameter (``decay_*`` for linear, ``tau_*`` for exponential)."""
    if value is None:
        raise ValueError(f"update_type={update_type!r} needs {name}")
    return value


def trace_update(
    trace: Tensor,
    spikes: Tensor,
    *,
    alpha_t: float,
    decay_t: float | None = None,
    tau_t: float | None = None,
    dt: float = 1.0,
    update_type: UpdateType = "linear",
) -> Tensor:
    """One step of a spike trace.

    linear: ``y <- decay_t * y + alpha_t * z``; exponential:
    ``y <- y + dt/tau_t * (-y + alpha_t * z)``.

    Shape:
        trace, spikes: ``(B, *shape)``; returns the same shape.
    """
    if update_type == "linear":
        decay_t = _need("decay_t", decay_t, update_type)
        if alpha_t == 1.0:  # one op: spikes + decay_t * trace
            return torch.add(spikes, trace, alpha=decay_t)
        return torch.add(trace * decay_t, spikes, alpha=alpha_t)
    if update_type == "exponential":
        k = dt / _need("tau_t", tau_t, update_type)
        return torch.add(trace * (1.0 - k), spikes, alpha=k * alpha_t)
    raise _unknown_update_type(update_type)


def _scaled(current: Tensor, alpha: float) -> Tensor:
    """``alpha * current`` (``current`` itself for 1). Not ``torch.add(x, current, alpha=)``:
    torch 2.13's inductor drops ``alpha`` when ``current`` is a matmul result (a Linear's
    output), so :func:`snn_rl.compile_step` gave wrong voltages with that form."""
    return current if alpha == 1.0 else current * alpha


def if_voltage_update(
    v: Tensor, current: Tensor, *, alpha_v: float, gate: Tensor | None = None
) -> Tensor:
    """Integrate-and-fire: ``v <- v + gate * alpha_v * I`` (``gate`` is 0 while refractory;
    None means every neuron integrates)."""
    if gate is None:
        return v + _scaled(current, alpha_v)
    return v + gate * (alpha_v * current)


def lif_voltage_update(
    v: Tensor,
    current: Tensor,
    *,
    v_rest: float,
    alpha_v: float,
    decay_v: float | None = None,
    tau_v: float | None = None,
    gate: Tensor | None = None,
    dt: float = 1.0,
    update_type: UpdateType = "linear",
) -> Tensor:
    """Leaky integrate-and-fire voltage step, skipped (``gate == 0``) while refractory.

    linear: ``v <- v_rest + gate * ((v - v_rest) * decay_v + alpha_v * I)`` (so a refractory
    neuron is held at ``v_rest``); exponential:
    ``v <- v + gate * dt/tau_v * (-(v - v_rest) + alpha_v * I)``.
    ``gate=None`` means every neuron integrates.
    """
    if update_type == "linear":
        decay_v = _need("decay_v", decay_v, update_type)
        if gate is None:
            leak = v * decay_v if v_rest == 0.0 else (v - v_rest) * decay_v + v_rest
            return leak + _scaled(current, alpha_v)
        return v_rest + gate * ((v - v_rest) * decay_v + alpha_v * current)
    if update_type == "exponential":
        k = dt / _need("tau_v", tau_v, update_type)
        if gate is None:
            return v * (1.0 - k) + k * v_rest + _scaled(current, k * alpha_v)
        return v + gate * (k * (alpha_v * current - (v - v_rest)))
    raise _unknown_update_type(update_type)


def fede_voltage_update(
    v: Tensor,
    current: Tensor,
    trace_sum: Tensor,
    *,
    v_rest: float,
    alpha_v: float,
    tau_v: float,
    gate: Tensor | None = None,
    dt: float = 1.0,
) -> Tensor:
    """Paredes-Valles neuron: forcing ``F = alpha_v * (sum_i w_i s_i - sum_i x_i)``, exponential.

    ``v <- v + gate * dt/tau_v * (-(v - v_rest) + F)``, where ``current = sum_i w_i s_i`` and
    ``trace_sum = sum_i x_i`` over each neuron's receptive field.
    """
    forcing = alpha_v * (current - trace_sum)
    step = (dt / tau_v) * (forcing - (v - v_rest))
    return v + step if gate is None else v + gate * step


def voltage_floor(v: Tensor, v_min: float | None) -> Tensor:
    """Clamp the voltage from below at ``v_min`` (no clamp when ``v_min`` is None)."""
    return v if v_min is None else torch.clamp(v, min=v_min)


def spike(v: Tensor, thresh: Tensor | float) -> Tensor:
    """Spikes ``z = 1[v >= thresh]`` as 0/1 values in the dtype of ``v``."""
    return (v >= thresh).to(v.dtype)


def threshold_update(
    thresh: Tensor,
    spikes: Tensor,
    *,
    thresh_rest: float,
    alpha_thresh: float,
    decay_thresh: float | None = None,
    tau_thresh: float | None = None,
    dt: float = 1.0,
    update_type: UpdateType = "linear",
) -> Tensor:
    """Adaptive threshold that jumps by ``alpha_thresh`` per spike and relaxes to ``thresh_rest``.

    linear: ``th <- thresh_rest + decay_thresh * (th - thresh_rest) + alpha_thresh * z``;
    exponential: ``th <- th + dt/tau_thresh * (-(th - thresh_rest) + alpha_thresh * z)``.
    """
    if update_type == "linear":
        decay = _need("decay_thresh", decay_thresh, update_type)
        return thresh_rest + decay * (thresh - thresh_rest) + alpha_thresh * spikes
    if update_type == "exponential":
        k = dt / _need("tau_thresh", tau_thresh, update_type)
        return thresh + k * (alpha_thresh * spikes - (thresh - thresh_rest))
    raise _unknown_update_type(update_type)


def neighbourhood_winners(v: Tensor, fired: Tensor, radius: int) -> tuple[Tensor, Tensor]:
    """Winner-take-all over maps and a spatial neighbourhood: the crossing neurons whose
    voltage is the highest of all crossing ones of every map within ``radius`` positions
    spike; every neuron within ``radius`` of a crossing one resets.

    Shape:
        v, fired: ``(B, C, H, W)`` -> spikes and resets ``(B, C, H, W)`` (bool).
    """
    window = 2 * radius + 1
    masked = torch.where(fired, v, torch.full_like(v, torch.finfo(v.dtype).min))
    peak = torch.nn.functional.max_pool3d(
        masked.unsqueeze(1), (v.shape[1], window, window), stride=1, padding=(0, radius, radius)
    ).squeeze(1)  # (B, 1, H, W): the highest crossing voltage near each position
    crossed = fired.any(1, keepdim=True).to(v.dtype)
    near = torch.nn.functional.max_pool2d(crossed, window, stride=1, padding=radius) > 0
    return fired & (masked >= peak), near.expand_as(fired)


def homeostasis_update(
    offset: Tensor, spikes: Tensor, *, target_rate: float, lr: float, floor: float
) -> Tensor:
    """Threshold offset after one step of rate homeostasis: ``offset + lr * (r - target_rate)``,
    clamped at ``floor``.

    ``r`` is the spike rate of this step over the env rows and over every dimension the offset
    shares (size 1 in ``offset``, e.g. the positions of a feature map with one offset per map).
    A neuron firing above the target raises its threshold, one firing below lowers it, so every
    neuron (map) ends up spiking at about ``target_rate`` per step on its input statistics.

    An offset with one block per agent, ``(A, ...)`` (one more dimension than a single one),
    takes each agent's rate over its own rows (agent-major, ``B = A * n``).

    Shape:
        offset: ``shape`` or ``(C, 1, 1)`` for a ``(C, H, W)`` population, or ``(A, ...)``;
        spikes ``(B, *shape)``.
    """
    if offset.dim() == spikes.dim():  # (A, ...): per agent
        agents = offset.shape[0]
        rate = spikes.view(agents, spikes.shape[0] // agents, *spikes.shape[1:]).mean(1)
    else:
        rate = spikes.mean(0)
    shared = tuple(i for i, n in enumerate(offset.shape) if n == 1 and rate.shape[i] != 1)
    if shared:
        rate = rate.mean(shared, keepdim=True)
    return torch.add(offset, rate - target_rate, alpha=lr).clamp_(min=floor)


def refractory_update(counts: Tensor, spikes: Tensor, *, refrac_steps: int) -> Tensor:
    """Remaining refractory steps: decrement where positive, then add ``refrac_steps`` per spike.

    A neuron that spikes at step t does not integrate during steps t+1 .. t+refrac_steps.
    """
    return torch.clamp(counts - 1.0, min=0.0) + refrac_steps * spikes


def refractory_gate(counts: Tensor) -> Tensor:
    """1 where a neuron may integrate (no refractory steps left), else 0."""
    return (counts <= 0).to(counts.dtype)


def reset_voltage(v: Tensor, spikes: Tensor, *, v_rest: float) -> Tensor:
    """Hard reset: ``v <- v_rest`` where a spike occurred (``spikes`` bool or 0/1 values)."""
    fired = spikes if spikes.dtype == torch.bool else spikes > 0
    return v.masked_fill(fired, v_rest)


# ------------------------------------------------------------------- learning-rule math
# The learning rules see every connection through one "synapse view":
#   weight (out, K); presynaptic trace x and spikes s (B, K, L), shared by every output, or
#   (B, out, K, L) with per-synapse delays; postsynaptic spikes z and trace y (B, out, L).
# Linear: K = in, L = 1. Conv2d: K = C_in*kh*kw (kernel elements), L = H_out*W_out (output
# positions that share the kernel). A weight (o, k) averages its terms over the L positions.
# The pair-term functions also take a Linear layer's activity as it is, x and s (B, K), z and
# y (B, out): the views to (B, K, 1) cost more than the update itself at small batch sizes.

FedeMode = Literal["post_spike", "every_step"]
FEDE_MODES: tuple[str, ...] = ("post_spike", "every_step")


def _accumulate_pairs(
    out: Tensor,
    pre: Tensor,
    post: Tensor,
    alpha: float,
    batch_mean: bool,
    beta: float = 1.0,
    agents: int | None = None,
) -> Tensor:
    """``out <- beta * out + alpha * sum_l pre[b, (o,) k, l] * post[b, o, l]`` (per env, or
    batch mean), in place: the callers pass a tensor they own. ``agents``: the batch mean is
    taken per agent over its block of rows, into ``out`` ``(A, out, K)``.

    For the batch mean (the memory-bound case) the decay ``beta`` rides on the matmul, so E is
    read and written once per term instead of once more for the decay.
    """
    if agents is not None:
        if pre.dim() != 2:
            raise ValueError("a per-agent mean eligibility needs the Linear layout (B, K)")
        n = pre.shape[0] // agents
        p = post.view(agents, n, -1).transpose(1, 2)
        return out.baddbmm_(p, pre.view(agents, n, -1), beta=beta, alpha=alpha / n)
    if pre.dim() == 2:  # Linear layout: pre (B, K), post (B, out); the fewest ops at small B
        if batch_mean:
            return out.addmm_(post.t(), pre, beta=beta, alpha=alpha / pre.shape[0])
        if post.shape[1] >= 4:
            # an outer product per env as a batched rank-1 GEMM, the decay riding on it: one
            # pass over E, 0.45-0.75x the time of mul_ + a broadcasting addcmul_ (measured
            # from 4 x 20 x 270 to 256 x 100 x 100); with fewer than 4 postsynaptic neurons
            # the GEMM path is 2-6x slower at 16+ envs, so those keep the elementwise form
            return out.baddbmm_(post.unsqueeze(2), pre.unsqueeze(1), beta=beta, alpha=alpha)
        if beta != 1.0:
            out.mul_(beta)
        return out.addcmul_(post.unsqueeze(2), pre.unsqueeze(1), value=alpha)
    if pre.dim() == 4:  # per-synapse delays: (B, out, K, L)
        term = torch.einsum("bokl,bol->bok", pre, post)
        if beta != 1.0:
            out.mul_(beta)
        return out.add_((term.mean(0) if batch_mean else term) * alpha)  # see _scaled
    if batch_mean:  # one (out, B*L) @ (B*L, K) matmul
        b, n_out, positions = post.shape
        p = post.transpose(0, 1).reshape(n_out, b * positions)
        q = pre.transpose(1, 2).reshape(b * positions, pre.shape[1])
        return out.addmm_(p, q, beta=beta, alpha=alpha / b)
    if beta != 1.0:
        out.mul_(beta)
    if post.shape[-1] == 1:  # Linear: an outer product per env, one fused pass over E
        return out.addcmul_(post, pre.transpose(1, 2), value=alpha)
    return out.baddbmm_(post, pre.transpose(1, 2), alpha=alpha)


def _pair_terms(
    out: Tensor,
    pre_trace: Tensor,
    pre_spikes: Tensor,
    post_spikes: Tensor,
    post_trace: Tensor,
    a_pre: float,
    a_post: float,
    decay: float = 1.0,
    agents: int | None = None,
) -> Tensor:
    """``out <- decay * out + a_pre * (x (x) z) - a_post * (s (x) y)``, in place."""
    batch_mean = out.dim() == 2 or agents is not None
    positions = post_spikes.shape[-1] if post_spikes.dim() == 3 else 1
    if a_pre != 0:
        _accumulate_pairs(out, pre_trace, post_spikes, a_pre / positions, batch_mean, decay, agents)
        decay = 1.0
    if a_post != 0:
        _accumulate_pairs(
            out, pre_spikes, post_trace, -a_post / positions, batch_mean, decay, agents
        )
        decay = 1.0
    return out if decay == 1.0 else out.mul_(decay)


def eligibility_update(
    e_trace: Tensor,
    pre_trace: Tensor,
    pre_spikes: Tensor,
    post_spikes: Tensor,
    post_trace: Tensor,
    *,
    a_pre: float,
    a_post: float,
    e_trace_decay: float,
    out: Tensor | None = None,
    agents: int | None = None,
) -> Tensor:
    """One step of the MSTDPET eligibility trace (Florian 2007, in discrete per-step form).

    ``E[o, k] <- g * E[o, k] + mean_l(a_pre * x[k, l] * z[o, l] - a_post * s[k, l] * y[o, l])``
    per env, with ``g = e_trace_decay``: the pre trace times the post spikes potentiates, the
    pre spikes times the post trace depresses. Given a 2-d ``e_trace``, the batch mean of E is
    updated instead (with scalar rewards only that mean matters): one matmul per term.

    Args:
        e_trace: eligibility, per env ``(B, out, K)`` or batch mean ``(out, K)``.
        pre_trace, pre_spikes: presynaptic trace x and spikes s at the synapses.
        post_spikes, post_trace: postsynaptic spikes z and trace y.
        a_pre: potentiation factor (pre trace x post spike).
        a_post: depression factor (pre spike x post trace).
        e_trace_decay: per-step decay factor g.
        out: optional tensor shaped like ``e_trace`` to write the result into, as in torch's
            ``out=``; it may be ``e_trace`` itself (the rules do this: a fresh allocation per
            step costs several times the update for large E). Default: a new tensor.
        agents: for a population of ``A`` agents with agent-major rows (``B = A * n``), the
            batch-mean E ``(A, out, K)`` holds one mean per agent over its ``n`` rows (Linear
            layout only). None: one agent.

    Returns:
        The new eligibility (``out`` when given), shaped like ``e_trace``.

    Shape:
        pre_trace, pre_spikes: ``(B, K, L)`` or ``(B, out, K, L)``;
        post_spikes, post_trace: ``(B, out, L)``. A Linear layer without per-synapse delays
        may also come as pre ``(B, K)`` and post ``(B, out)`` (``L = 1``, fewer ops).
    """
    if out is None:
        out = e_trace.clone()
    elif out is not e_trace:
        out.copy_(e_trace)
    return _pair_terms(
        out, pre_trace, pre_spikes, post_spikes, post_trace, a_pre, a_post, e_trace_decay, agents
    )


def stdp_update(
    pre_trace: Tensor,
    pre_spikes: Tensor,
    post_spikes: Tensor,
    post_trace: Tensor,
    *,
    a_pre: float,
    a_post: float,
    batch_mean: bool,
) -> Tensor:
    """Pair-based STDP term of one step: :func:`eligibility_update` from ``E = 0``.

    ``D[o, k] = mean_l(a_pre * x[k, l] * z[o, l] - a_post * s[k, l] * y[o, l])`` per env, or
    its mean over the batch when ``batch_mean``.

    Shape:
        as :func:`eligibility_update`; returns ``(out, K)`` if ``batch_mean`` else
        ``(B, out, K)``.
    """
    b, n_out = post_spikes.shape[:2]
    k = pre_trace.shape[-1] if pre_trace.dim() == 2 else pre_trace.shape[-2]
    out = pre_trace.new_zeros((n_out, k) if batch_mean else (b, n_out, k))
    return _pair_terms(out, pre_trace, pre_spikes, post_spikes, post_trace, a_pre, a_post)


def fede_delta(
    weight: Tensor,
    pre_trace: Tensor,
    post_spikes: Tensor,
    *,
    w_init: float,
    a: float,
    mode: FedeMode = "post_spike",
) -> Tensor:
    """FedeSTDP weight change (Paredes-Valles et al.) before the learning rate.

    With ``d = W - w_init`` and the normalised pre trace ``x_hat = x / max(x)``:
    ``dW = exp(-d) * (mean e^x_hat - a) - exp(d) * (mean e^(1 - x_hat) - a)``, the mean being
    taken over the postsynaptic neurons that *count* for the weight (batch rows and, for
    Conv2d, output positions sharing the kernel):

    * ``"post_spike"`` (the paper): neurons that spiked this step; ``max`` over each neuron's
      receptive field.
    * ``"every_step"``: every neuron of every env row; ``max`` over the
      row's whole presynaptic trace.

    A neuron whose ``max`` is not positive (no presynaptic activity) never counts, and a weight
    with no counting neuron gets ``dW = 0``, so an all-zero trace gives no change (not NaN).

    A weight ``(A, out, K)`` holds the blocks of ``A`` agents of a population, whose rows are
    agent-major (``B = A * n``): each agent's means run over its own ``n`` rows only, so each
    block changes as a network of its own would.

    Args:
        weight: ``W`` viewed as ``(out, K)``, or ``(A, out, K)``.
        pre_trace: presynaptic trace x at the synapses.
        post_spikes: postsynaptic spikes (read in ``"post_spike"`` mode only).
        w_init: reference weight.
        a: stability parameter in ``[0, 1)``.
        mode: ``"post_spike"`` or ``"every_step"``.

    Returns:
        ``(out, K)`` (or ``(A, out, K)``) change per weight, without the learning rate.

    Shape:
        pre_trace: ``(B, K, L)`` or ``(B, out, K, L)``; post_spikes: ``(B, out, L)``.
    """
    stacked = weight.dim() == 3  # (A, out, K): one block per agent, each from its own rows
    agents = weight.shape[0] if stacked else 1
    b = pre_trace.shape[0]
    n = b // agents
    d = weight - w_init
    if mode == "every_step":
        # every neuron of an active row counts, so the means do not depend on the neuron: sum
        # exp(x_hat) over positions once per row, no per-neuron einsum; exp(1 - x) = e / exp(x)
        positions = post_spikes.shape[-1]
        peak = pre_trace.flatten(1).amax(1)  # (B,)
        active = (peak > 0).to(pre_trace.dtype)
        safe = torch.where(peak > 0, peak, torch.ones_like(peak))
        e_x = torch.exp(pre_trace / safe.view(b, *([1] * (pre_trace.dim() - 1))))
        ltp_rows = e_x.sum(-1)  # (B, K) or (B, out, K)
        ltd_rows = e_x.reciprocal_().sum(-1) * math.e
        rows = active.view(b, *([1] * (ltp_rows.dim() - 1)))
        per_agent = (agents, n, *ltp_rows.shape[1:])
        ltp_sum = (ltp_rows * rows).view(per_agent).sum(1)  # (A, K) or (A, out, K)
        ltd_sum = (ltd_rows * rows).view(per_agent).sum(1)
        count = active.view(agents, n).sum(1) * positions  # (A,)
        if ltp_sum.dim() == 2:  # the same means for every neuron of the agent
            ltp_sum, ltd_sum = ltp_sum.unsqueeze(1), ltd_sum.unsqueeze(1)
        count = count.view(agents, 1, 1)
    elif mode == "post_spike":
        peak = pre_trace.amax(-2, keepdim=True)  # (B, 1, L) or (B, out, 1, L)
        active = (peak > 0).squeeze(-2).to(pre_trace.dtype)  # (B, L) or (B, out, L)
        gate = post_spikes * (active.unsqueeze(1) if active.dim() == 2 else active)
        x_hat = pre_trace / torch.where(peak > 0, peak, torch.ones_like(peak))
        gate = gate.view(agents, n, *gate.shape[1:])  # (A, n, out, L)
        x_hat = x_hat.view(agents, n, *x_hat.shape[1:])
        spec = "anol,ankl->aok" if pre_trace.dim() == 3 else "anol,anokl->aok"
        ltp_sum = torch.einsum(spec, gate, torch.exp(x_hat))
        ltd_sum = torch.einsum(spec, gate, torch.exp(1.0 - x_hat))
        count = gate.sum((1, 3)).unsqueeze(-1)  # (A, out, 1)
    else:
        raise ValueError(f"mode must be one of {list(FEDE_MODES)}, got {mode!r}")
    if not stacked:
        ltp_sum, ltd_sum, count = ltp_sum[0], ltd_sum[0], count[0]
    scale = 1.0 / count.clamp_min(1.0)
    delta = torch.exp(-d) * (ltp_sum * scale - a) - torch.exp(d) * (ltd_sum * scale - a)
    return torch.where(count > 0, delta, torch.zeros_like(delta))
