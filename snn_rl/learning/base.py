"""LearningRule: an optimizer-like object beside the network, as a torch optimizer is.

A rule is built from the layers it trains, ``name -> {"connection", "presynaptic",
"postsynaptic", "type"}`` as :meth:`snn_rl.SNNNetwork.layer_state_dict` returns them, or from
parameter groups ``[{"layers": mapping, **hyperparameters}, ...]`` whose values override the
rule's defaults, as torch optimizers treat ``params``. The rule keeps the live modules and
reads their ``weight``, ``spikes`` and ``trace`` at every call, so ``net.to(...)`` after
building the rule keeps working; the rule's own state follows the weight's device and dtype.

Per simulation step: ``net(x)``, then ``rule.update_state()``, then ``rule.step(...)``
whenever a learning signal arrives.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor

from snn_rl._guard import FiniteGuard
from snn_rl.connections import Connection, Conv2d, Linear
from snn_rl.neurons import Neuron

__all__ = ["CONNECTION_TYPES", "LearningRule", "Synapses", "resolve_connection_type"]

#: Connection types the rules support, by their names in the seed API ("linear", "conv2d").
CONNECTION_TYPES: dict[str, type[Connection]] = {"linear": Linear, "conv2d": Conv2d}
LAYER_KEYS: tuple[str, ...] = ("connection", "presynaptic", "postsynaptic")
LayerMapping = Mapping[str, Mapping[str, Any]]


def resolve_connection_type(con_type: type[Connection] | str) -> type[Connection]:
    """Return the connection class for a class (or subclass) or a name ("linear", "conv2d").

    Raises:
        ValueError: an unknown type, listing the valid ones.
    """
    if isinstance(con_type, str) and con_type.lower() in CONNECTION_TYPES:
        return CONNECTION_TYPES[con_type.lower()]
    if isinstance(con_type, type) and issubclass(con_type, tuple(CONNECTION_TYPES.values())):
        return con_type
    name = con_type.__name__ if isinstance(con_type, type) else repr(con_type)
    valid = ", ".join(f"{c.__name__} ({k!r})" for k, c in CONNECTION_TYPES.items())
    raise ValueError(f"unknown connection type {name}; valid types: {valid}")


class Synapses(NamedTuple):
    """A layer's activity in the rules' synapse view (see :mod:`snn_rl.functional`).

    Shape:
        pre_trace, pre_spikes: ``(B, K, L)``, or ``(B, out, K, L)`` with per-synapse delays;
        post_spikes, post_trace: ``(B, out, L)``; weight viewed as ``(out, K)``.
        Linear: ``K = in``, ``L = 1``; Conv2d: ``K = C_in*kh*kw``, ``L = H_out*W_out``.
    """

    pre_trace: Tensor
    pre_spikes: Tensor
    post_spikes: Tensor
    post_trace: Tensor


def synapse_view(layer: Mapping[str, Any], dense: bool = False) -> Synapses:
    """Read a layer's live presynaptic (after delay) and postsynaptic activity as :class:`Synapses`.

    ``dense=True``: a Linear layer without per-synapse delays comes as it is, x and s
    ``(B, in)``, z and y ``(B, out)`` (the pair-term functions take that layout too).
    """
    # the modules' dicts directly: nn.Module.__getattr__ costs more than the views at B = 1
    conn_buf, post_buf = layer["connection"]._buffers, layer["postsynaptic"]._buffers
    weight = layer["connection"]._parameters["weight"]
    x, s, z, y = conn_buf["trace"], conn_buf["spikes"], post_buf["spikes"], post_buf["trace"]
    stacked = layer["connection"].n_agents > 1  # weight (A, out, ...): one block per agent
    b, out = x.shape[0], weight.shape[1 if stacked else 0]
    if z.shape[0] != b:
        raise RuntimeError(
            f"the connection holds {b} env rows but its postsynaptic population holds "
            f"{z.shape[0]}; reset the whole network with one batch size"
        )
    dtype = weight.dtype
    if z.dtype != dtype:
        z, y = z.to(dtype), y.to(dtype)
    if x.dim() == 2:  # Linear without per-synapse delays: (B, in) -> (B, in, 1)
        if dense:
            return Synapses(x, s, z, y)
        return Synapses(
            x.unsqueeze(-1), s.unsqueeze(-1), z.reshape(b, out, 1), y.reshape(b, out, 1)
        )
    k = weight[0, 0].numel() if stacked else weight[0].numel()
    lead = (b, out, k) if layer["connection"].per_synapse_delay else (b, k)
    return Synapses(
        x.reshape(*lead, -1), s.reshape(*lead, -1), z.reshape(b, out, -1), y.reshape(b, out, -1)
    )


def weight_view(layer: Mapping[str, Any]) -> Tensor:
    """The layer's weight as ``(out, K)``, or ``(A, out, K)`` for a connection holding one
    weight per agent (a view of the live parameter)."""
    conn = layer["connection"]
    weight = conn.weight
    if conn.n_agents > 1:
        return weight.reshape(weight.shape[0], weight.shape[1], -1)
    return weight.reshape(weight.shape[0], -1)


def _as_groups(layers: Any) -> list[Mapping[str, Any]]:
    if isinstance(layers, Mapping):
        inner = layers.get("layers")
        if isinstance(inner, Mapping) and "connection" not in inner:
            raise TypeError(
                "layers looks like one parameter group {'layers': mapping, ...}; "
                "to pass parameter groups, give a list of dicts"
            )
        return [{"layers": layers}]
    if isinstance(layers, str | bytes) or not isinstance(layers, Iterable):
        raise TypeError(
            "layers must be a mapping name -> layer (e.g. SNNNetwork.layer_state_dict()) or "
            "an iterable of parameter groups {'layers': mapping, **hyperparameters}, "
            f"got {type(layers).__name__}"
        )
    groups = list(layers)
    if not groups:
        raise ValueError("layers is an empty list; give at least one parameter group")
    for i, group in enumerate(groups):
        if not isinstance(group, Mapping) or "layers" not in group:
            raise TypeError(
                f"parameter group {i} must be a dict with a 'layers' key "
                f"({{'layers': mapping, **hyperparameters}}), got {type(group).__name__}"
            )
    return groups


class LearningRule:
    """Base class of the learning rules, used like a torch optimizer.

    Args:
        layers: one mapping ``name -> layer`` (as :meth:`SNNNetwork.layer_state_dict`
            returns it) or an iterable of parameter groups ``{"layers": mapping, **hp}``.
            The mapping is never modified.
        defaults: every hyperparameter of the rule with its default; a group may override
            any of them, and a key that is not among them raises.

    Attributes:
        param_groups: one dict per group: ``"layers"`` (name -> layer) and every
            hyperparameter.
        state: per layer name, the rule's state tensors (e.g. ``{"e_trace": E}``).

    Stateless rules inherit the no-op :meth:`update_state` and :meth:`reset_state`, so one
    training loop drives every rule.

    ``check_finite`` (default True): weights that a step makes NaN or inf raise
    :class:`~snn_rl.NonFiniteError` naming the layer and the step (on a GPU at
    :meth:`verify_finite`); set it False to skip the check's cost.
    """

    check_finite: bool = True
    #: hyperparameters added after rule states were first saved, with the value that gives
    #: the behaviour from before them: a saved state without one loads with that value
    added_hyperparameters: dict[str, Any] = {}
    #: whether the rule trains connections holding one weight per agent of a population
    #: (:meth:`snn_rl.connections.Connection.stack_agents`), each from its own rows only
    supports_agents: bool = False
    #: hyperparameters that may hold one value per agent, a ``(A,)`` tensor, in a group whose
    #: layers hold the weights of ``A`` agents (:meth:`vary_by_agent`)
    agent_hyperparameters: tuple[str, ...] = ()

    def __init__(self, layers: LayerMapping | Iterable[Mapping[str, Any]], defaults: dict) -> None:
        self.defaults: dict[str, Any] = dict(defaults)
        self.param_groups: list[dict[str, Any]] = []
        self.state: dict[str, dict[str, Tensor]] = {}
        self._last_delta: dict[str, Tensor] = {}
        self._guards: dict[str, FiniteGuard] = {}
        for group in _as_groups(layers):
            self.add_param_group(group)

    # --------------------------------------------------------------------- groups
    def add_param_group(self, param_group: Mapping[str, Any]) -> None:
        """Add a group ``{"layers": mapping, **hyperparameters}`` (missing values from defaults)."""
        given = {k: v for k, v in param_group.items() if k != "layers"}
        unknown = sorted(set(given) - set(self.defaults))
        if unknown:
            raise ValueError(
                f"unknown hyperparameter(s) {unknown} for {type(self).__name__}; "
                f"valid: {sorted(self.defaults)}"
            )
        group = self._check_hyperparameters({**self.defaults, **given}, set(given))
        layers = self.check_layers(param_group["layers"])
        taken = {id(layer["connection"]) for _, layer, _ in self.layers()}
        for name, layer in layers.items():
            if name in self.state:
                raise ValueError(f"layer name {name!r} appears in two parameter groups")
            if id(layer["connection"]) in taken:
                raise ValueError(f"layer {name!r}: its connection is already trained by this rule")
            taken.add(id(layer["connection"]))
        group["layers"] = layers
        self.param_groups.append(group)
        for name, layer in layers.items():
            self.state[name] = self._init_layer_state(layer, group)
            self._guards[name] = FiniteGuard()

    def _check_hyperparameters(self, group: dict[str, Any], given: set[str]) -> dict[str, Any]:
        """Validate a group's hyperparameters (``given``: keys the user set); return them."""
        return group

    def _init_layer_state(self, layer: Mapping[str, Any], group: dict) -> dict[str, Tensor]:
        """The rule's initial state tensors for one layer (none for stateless rules)."""
        return {}

    def vary_by_agent(self, rules: Sequence[LearningRule]) -> list[str]:
        """Take each agent's hyperparameters from its own rule: ``rules[a]`` is agent ``a``'s
        rule alone (same class and groups). A hyperparameter on which the rules agree stays
        one value; one that differs becomes a ``(A,)`` tensor, agent ``a``'s value at ``a``,
        where the rule allows it (:attr:`agent_hyperparameters`) and the group's layers hold
        the weights of ``A = len(rules)`` agents. Returns the keys that differ.

        Raises:
            ValueError: a rule of another class or groups, a hyperparameter that differs
                but cannot vary by agent (named, with the values), or unstacked layers.
        """
        if any(type(r) is not type(self) for r in rules) or not rules:
            raise ValueError(f"vary_by_agent needs one {type(self).__name__} per agent")
        varied = []
        for i, group in enumerate(self.param_groups):
            theirs = [r.param_groups[i] if i < len(r.param_groups) else None for r in rules]
            if any(t is None or list(t["layers"]) != list(group["layers"]) for t in theirs):
                raise ValueError(
                    f"parameter group {i}: every agent's rule must train the layers "
                    f"{list(group['layers'])}"
                )
            for key in self.defaults:
                values = [t[key] for t in theirs]
                if all(v == values[0] for v in values):
                    group[key] = values[0]
                    continue
                if key not in self.agent_hyperparameters or any(
                    isinstance(v, bool) or not isinstance(v, int | float) for v in values
                ):
                    raise ValueError(
                        f"hyperparameter {key!r} differs between the agents ({values}); "
                        f"{type(self).__name__} can vary only "
                        f"{list(self.agent_hyperparameters)} by agent, as numbers"
                    )
                for name, layer in group["layers"].items():
                    if layer["connection"].n_agents != len(values):
                        raise ValueError(
                            f"layer {name!r} holds the weights of "
                            f"{layer['connection'].n_agents} agents, not {len(values)}; "
                            "stack the agents' weights before varying hyperparameters"
                        )
                weight = next(iter(group["layers"].values()))["connection"].weight
                group[key] = torch.tensor(values, device=weight.device, dtype=weight.dtype)
                varied.append(key)
        return sorted(set(varied))

    def layers(self) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
        """Iterate ``(name, layer, group)`` over every trained layer."""
        for group in self.param_groups:
            for name, layer in group["layers"].items():
                yield name, layer, group

    def check_layers(self, layers: LayerMapping) -> OrderedDict[str, dict[str, Any]]:
        """Validate a mapping ``name -> layer`` and return a new one with checked entries.

        Raises:
            TypeError: not a mapping, or values that are not connections / neurons.
            ValueError: empty, missing or unknown keys, an unknown connection type, a "type"
                that contradicts the connection, or shapes that do not fit.
        """
        if not isinstance(layers, Mapping):
            raise TypeError(
                "layers must be a mapping name -> {'connection', 'presynaptic', "
                "'postsynaptic'} such as SNNNetwork.layer_state_dict(), "
                f"got {type(layers).__name__}"
            )
        if not layers:
            raise ValueError("layers is empty; give at least one layer")
        checked = OrderedDict((name, _check_layer(name, layer)) for name, layer in layers.items())
        for name, layer in checked.items():
            if layer["connection"].n_agents > 1 and not self.supports_agents:
                raise ValueError(
                    f"layer {name!r} holds the weights of {layer['connection'].n_agents} agents, "
                    f"which {type(self).__name__} cannot train separately; populations of "
                    "agents train with MSTDPET or MSTDP"
                )
        return checked

    # ------------------------------------------------------------- seed algebra
    @staticmethod
    def pre_mult_post(pre: Tensor, post: Tensor, con_type: type[Connection] | str) -> Tensor:
        """Multiply a presynaptic by a postsynaptic term, keeping the batch (seed API).

        Delegates to ``con_type.pre_mult_post``; ``con_type`` is a connection class (the
        "type" of a layer) or "linear" / "conv2d".

        Shape:
            Linear: pre ``(B, in)`` or ``(B, out, in)``, post ``(B, out)`` -> ``(B, out, in)``.
            Conv2d: pre ``(B, K, L)`` or ``(B, C_out, K, L)``, post ``(B, C_out, H_out, W_out)``
            -> ``(B, C_out, K, L)``.
        """
        return resolve_connection_type(con_type).pre_mult_post(pre, post)

    @staticmethod
    def reduce_connections(
        tensor: Tensor,
        con_type: type[Connection] | str,
        red_method: Callable[..., Tensor] = torch.mean,
    ) -> Tensor:
        """Reduce the dimensions that hold separate uses of one weight (seed API).

        Linear: the batch (dim 0), ``(B, out, in) -> (out, in)``. Conv2d: the batch and the
        output positions (dims 0 and 3), ``(B, C_out, K, L) -> (C_out, K)``.
        """
        return resolve_connection_type(con_type).reduce_connections(tensor, red_method)

    # ---------------------------------------------------------------- per step
    def update_state(self) -> None:
        """Update the rule's state from the latest forward step (no-op for stateless rules)."""

    def step(self, reward: Any = None) -> None:
        """Perform one learning step."""
        raise NotImplementedError

    def reset_state(self, mask: Tensor | None = None) -> None:
        """Reset the rule's state, all env rows or the masked ones (no-op if stateless)."""

    def _apply_delta(
        self,
        name: str,
        layer: Mapping[str, Any],
        group: dict,
        delta: Tensor,
        scale: float | Tensor = 1.0,
    ) -> None:
        """``W <- clamp(W + scale * delta, w_min, w_max)`` (bounds if the group has them), in
        place; keep mean ``|dW|`` for :attr:`last_delta`.

        ``delta`` is only read, so it may be a rule's own state (e.g. the eligibility E).
        """
        weight = layer["connection"].weight
        delta = delta.reshape(weight.shape)
        lo, hi = group.get("w_min"), group.get("w_max")
        if isinstance(lo, Tensor) or isinstance(hi, Tensor):  # (A,): one per agent's block
            shape = (-1, *(1,) * (weight.dim() - 1))
            lo, hi = (
                None
                if b is None
                else torch.as_tensor(b, dtype=weight.dtype, device=weight.device).view(shape)
                for b in (lo, hi)
            )
        with torch.no_grad():
            if isinstance(scale, Tensor):
                delta, scale = delta * scale, 1.0
            if lo is None and hi is None:
                weight.add_(delta, alpha=scale)
                self._last_delta[name] = delta.abs().mean() * abs(scale)
            else:
                applied = torch.add(weight, delta, alpha=scale).clamp_(min=lo, max=hi)
                applied.sub_(weight)
                weight.add_(applied)
                self._last_delta[name] = applied  # its own tensor: the mean |dW| when read
        if self.check_finite and not torch.compiler.is_compiling():
            guard = self._guards[name]
            guard.step += 1
            guard.check(weight, "layer {!r}: the weights after {} step", name, type(self).__name__)

    def verify_finite(self) -> None:
        """Raise :class:`~snn_rl.NonFiniteError` for NaN or inf weights a step recorded on a
        non-CPU device (one host sync per layer); on the CPU steps raise at once."""
        for guard in self._guards.values():
            guard.verify()

    # ------------------------------------------------------------- diagnostics
    @property
    def last_delta(self) -> dict[str, float]:
        """Mean ``|dW|`` applied by the last :meth:`step`, per layer stepped so far."""
        return {name: float(v.abs().mean()) for name, v in self._last_delta.items()}

    def diagnostics(self) -> dict[str, float]:
        """Cheap scalars for logging: ``"<layer>/last_delta"`` and ``"<layer>/<state>_abs_mean"``."""
        out = {f"{name}/last_delta": value for name, value in self.last_delta.items()}
        for name, tensors in self.state.items():
            for key, value in tensors.items():
                out[f"{name}/{key}_abs_mean"] = float(value.abs().mean())
        return out

    # --------------------------------------------------------------- checkpoints
    def state_dict(self) -> dict[str, Any]:
        """``{"state": {layer: {key: tensor}}, "param_groups": [{"layers": [names], **hp}]}``.

        The state tensors are copies (the rules update theirs in place). Tensors and plain
        Python values only, so ``torch.save`` and
        ``torch.load(..., weights_only=True)`` round-trip it.
        """
        groups = [
            {**{k: v for k, v in g.items() if k != "layers"}, "layers": list(g["layers"])}
            for g in self.param_groups
        ]
        state = {
            name: {key: value.clone() for key, value in tensors.items()}
            for name, tensors in self.state.items()
        }
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore hyperparameters and state saved by :meth:`state_dict` (same layer names)."""
        if not isinstance(state_dict, Mapping) or set(state_dict) != {"state", "param_groups"}:
            raise ValueError("state_dict must be a dict with keys 'state' and 'param_groups'")
        saved_groups = list(state_dict["param_groups"])
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(
                f"state_dict has {len(saved_groups)} parameter groups, this rule has "
                f"{len(self.param_groups)}"
            )
        checked = []
        for i, (saved, group) in enumerate(zip(saved_groups, self.param_groups, strict=True)):
            if list(saved.get("layers", ())) != list(group["layers"]):
                raise ValueError(
                    f"parameter group {i}: state_dict has layers {list(saved.get('layers', ()))}"
                    f", this rule has {list(group['layers'])}"
                )
            hp = {k: v for k, v in saved.items() if k != "layers"}
            for key, value in self.added_hyperparameters.items():
                hp.setdefault(key, value)
            if set(hp) != set(self.defaults):
                raise ValueError(
                    f"parameter group {i}: state_dict has hyperparameters {sorted(hp)}, "
                    f"expected {sorted(self.defaults)}"
                )
            checked.append(self._check_hyperparameters(dict(hp), set(hp)))
        new_state = {
            name: self._load_layer_state(name, layer, state_dict["state"].get(name))
            for name, layer, _ in self.layers()
        }
        for group, hp in zip(self.param_groups, checked, strict=True):
            group.update(hp)
        self.state = new_state

    def _load_layer_state(
        self, name: str, layer: Mapping[str, Any], saved: Mapping[str, Tensor] | None
    ) -> dict[str, Tensor]:
        current = self.state[name]
        if saved is None or set(saved) != set(current):
            found = None if saved is None else sorted(saved)
            raise ValueError(
                f"layer {name!r}: state_dict state {found}, expected {sorted(current)}"
            )
        weight = layer["connection"].weight
        out = {}
        for key, value in saved.items():
            self._check_state_tensor(name, key, value, current[key])
            out[key] = value.detach().to(device=weight.device, dtype=weight.dtype).clone()
        return out

    def _check_state_tensor(self, name: str, key: str, saved: Any, current: Tensor) -> None:
        if not isinstance(saved, Tensor) or saved.shape != current.shape:
            shape = tuple(saved.shape) if isinstance(saved, Tensor) else type(saved).__name__
            raise ValueError(
                f"layer {name!r}: state {key!r} is {shape}, expected {tuple(current.shape)}"
            )
        _check_finite_state(name, key, saved)


def _check_finite_state(name: str, key: str, saved: Tensor) -> None:
    if saved.is_floating_point() and not bool(torch.isfinite(saved).all()):
        raise ValueError(f"layer {name!r}: state {key!r} holds NaN or inf")


def _check_layer(name: Any, layer: Any) -> dict[str, Any]:
    if not isinstance(name, str) or not name:
        raise TypeError(f"layer names must be non-empty strings, got {name!r}")
    if not isinstance(layer, Mapping):
        raise TypeError(
            f"layer {name!r} must be a mapping with keys {list(LAYER_KEYS)} and optionally "
            f"'type', got {type(layer).__name__}"
        )
    missing = [k for k in LAYER_KEYS if k not in layer]
    unknown = sorted(set(layer) - {*LAYER_KEYS, "type"})
    if missing or unknown:
        raise ValueError(
            f"layer {name!r} must have keys {list(LAYER_KEYS)} (and optionally 'type'), "
            f"missing {missing}, unknown {unknown}; SNNNetwork.layer_state_dict() builds them"
        )
    conn, pre, post = (layer[k] for k in LAYER_KEYS)
    if not isinstance(conn, Connection):
        raise TypeError(
            f"layer {name!r}: 'connection' must be a snn_rl connection module (Linear or "
            f"Conv2d; PySNN state dicts are not accepted), got {type(conn).__name__}"
        )
    con_type = resolve_connection_type(type(conn))
    if "type" in layer and not isinstance(conn, resolve_connection_type(layer["type"])):
        raise ValueError(
            f"layer {name!r}: 'type' is {layer['type']!r} but the connection is a "
            f"{type(conn).__name__}"
        )
    for role, neuron in (("presynaptic", pre), ("postsynaptic", post)):
        if not isinstance(neuron, Neuron):
            raise TypeError(
                f"layer {name!r}: {role!r} must be a snn_rl neuron population, "
                f"got {type(neuron).__name__}"
            )
    try:
        conn.check_shapes(pre.shape, post.shape)
    except ValueError as err:
        raise ValueError(f"layer {name!r}: {err}") from None
    return {"connection": conn, "presynaptic": pre, "postsynaptic": post, "type": con_type}
