"""SNNNetwork: a container of layers (connection + presynaptic + postsynaptic population).

Example:
    >>> import torch
    >>> from snn_rl import Input, LIFNeuron, Linear, SNNNetwork
    >>> net = SNNNetwork()
    >>> net.add_layer("fc", Linear(2, 3, weight=0.6), Input(2), LIFNeuron(3, decay_v=0.5))
    >>> net.reset_state(batch_size=1)
    >>> [net(torch.ones(1, 2)).sum().item() for _ in range(3)]
    [3.0, 3.0, 3.0]
    >>> list(net.layer_state_dict())
    ['fc']
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Literal

import torch
from torch import Tensor, nn

from snn_rl._guard import FiniteGuard
from snn_rl._validation import check_bool, check_choice
from snn_rl.connections import Connection
from snn_rl.neurons import FedeNeuron, Input, Neuron

__all__ = ["LAYER_ROLES", "LayerRole", "SNNNetwork"]

#: What trains a layer, as the agents read it: ``"features"`` learn without reward (FedeSTDP),
#: ``"readout"`` learn from the reward-modulated rule (MSTDPET), ``"fixed"`` never change.
LayerRole = Literal["features", "readout", "fixed"]
LAYER_ROLES: tuple[str, ...] = ("features", "readout", "fixed")


class SNNNetwork(nn.Module):
    """A spiking network built from layers; one ``forward`` call is one simulation step.

    ``add_layer(name, connection, presynaptic, postsynaptic)`` registers a layer. The default
    :meth:`forward` feeds its input to the network's single source population (the one that
    is never postsynaptic, usually an :class:`~snn_rl.neurons.Input`), then steps every
    postsynaptic population in the order in which it first appeared as one, each with the sum
    of the currents of all layers that end in it. A layer whose presynaptic population is
    stepped later in the same call (a recurrent or feedback layer) carries the previous
    step's spikes. Subclasses may override ``forward`` for other wirings.

    Each layer may carry a role (:data:`LAYER_ROLES`), declared when it is added or later with
    :meth:`set_role`; the engine itself never reads it, the agents use it to decide which rule
    trains which layer (never the layer's name).

    Finiteness (``check_finite``, default True): NaN or inf can only enter a network through
    its input, the extra ``currents`` of :meth:`forward`, or its weights (neuron parameters are
    validated finite). The source population checks the input, :meth:`forward` the extra
    currents, :meth:`reset_state` (without a mask) every layer's weights, and learning rules
    the weights after each of their steps; each raises :class:`~snn_rl.NonFiniteError` naming
    the population or layer and the step. The populations fed by the network's connections
    are not checked again (their currents are sums of finite weights times spikes), which
    keeps the cost at one check per step.
    """

    def __init__(self) -> None:
        super().__init__()
        self.connections = nn.ModuleDict()
        self.neurons = nn.ModuleDict()
        self._layers: OrderedDict[str, tuple[Connection, Neuron, Neuron]] = OrderedDict()
        self._roles: dict[str, LayerRole | None] = {}
        self.check_finite = True
        self._guard = FiniteGuard()
        self._schedule: list[tuple[Neuron, list[str]]] = []
        self._source: Neuron | None = None

    # ---------------------------------------------------------------------- building
    def add_layer(
        self,
        name: str,
        connection: Connection,
        presynaptic: Neuron,
        postsynaptic: Neuron,
        *,
        role: LayerRole | None = None,
    ) -> None:
        """Add a layer ``presynaptic --connection--> postsynaptic``.

        Args:
            role: what trains the layer (:data:`LAYER_ROLES`), or None (undeclared).

        Raises:
            ValueError: empty, dotted or duplicate name; shapes that do not fit.
            TypeError: a connection that is not a :class:`~snn_rl.connections.Connection`,
                populations that are not neurons, or an ``Input`` as postsynaptic population.
        """
        if not isinstance(name, str) or not name or "." in name:
            raise ValueError(f"layer name must be a non-empty string without '.', got {name!r}")
        if name in self._layers:
            raise ValueError(f"a layer named {name!r} already exists; names must be unique")
        if not isinstance(connection, Connection):
            raise TypeError(
                f"connection must be a snn_rl connection (Linear, Conv2d or another "
                f"Connection subclass), got {type(connection).__name__}"
            )
        for side, neuron in (("presynaptic", presynaptic), ("postsynaptic", postsynaptic)):
            if not isinstance(neuron, Neuron):
                raise TypeError(
                    f"{side} must be a snn_rl neuron population, got {type(neuron).__name__}"
                )
        if isinstance(postsynaptic, Input):
            raise TypeError("an Input population cannot be postsynaptic; use a spiking neuron")
        connection.check_shapes(presynaptic.shape, postsynaptic.shape)
        if role is not None:
            check_choice("role", role, LAYER_ROLES)
        if any(c is connection for c, _, _ in self._layers.values()):
            raise ValueError(f"layer {name!r} reuses a connection that is already in a layer")

        self.connections[name] = connection
        for side, neuron in (("pre", presynaptic), ("post", postsynaptic)):
            if not any(n is neuron for n in self.neurons.values()):
                self.neurons[f"{name}_{side}"] = neuron
                neuron.label = f"population {name}_{side} ({type(neuron).__name__})"
        postsynaptic._fed_by_network = True
        self._layers[name] = (connection, presynaptic, postsynaptic)
        self._roles[name] = role
        self._source = None
        for post, names in self._schedule:
            if post is postsynaptic:
                names.append(name)
                break
        else:
            self._schedule.append((postsynaptic, [name]))

    def set_check_finite(self, enabled: bool) -> None:
        """Turn the network's finiteness checks on or off (see the class docstring; their
        cost, one reduction and one host read per step on the CPU, is measured in
        docs/benchmarks.md)."""
        self.check_finite = check_bool("enabled", enabled)
        for neuron in self.neurons.values():
            neuron.check_finite = enabled

    def verify_finite(self) -> None:
        """Raise :class:`~snn_rl.NonFiniteError` for a NaN or inf input that a population
        recorded on a non-CPU device (one host sync per population); on the CPU the checks
        raise at once and this does nothing."""
        self._guard.verify()
        for neuron in self.neurons.values():
            neuron.verify_finite()

    def set_role(self, name: str, role: LayerRole | None) -> None:
        """Declare (or clear, with None) the role of layer ``name``."""
        if name not in self._layers:
            raise KeyError(f"no layer named {name!r}; layers: {list(self._layers)}")
        self._roles[name] = None if role is None else check_choice("role", role, LAYER_ROLES)

    @property
    def roles(self) -> dict[str, LayerRole | None]:
        """Role of every layer, in layer order (None where none was declared)."""
        return dict(self._roles)

    def layer_state_dict(self, role: LayerRole | None = None) -> OrderedDict[str, dict]:
        """Ordered mapping ``name -> {"connection", "presynaptic", "postsynaptic", "type"}``.

        The values are the live modules (never copies), and ``"type"`` is the connection's
        class, so learning rules always read current weights, spikes and traces, also after
        ``.to(device)``. Each call returns new dicts; changing them does not change the network.

        Args:
            role: only the layers declared with this role (None: every layer).
        """
        if role is not None:
            check_choice("role", role, LAYER_ROLES)
        return OrderedDict(
            (
                name,
                {
                    "connection": conn,
                    "presynaptic": pre,
                    "postsynaptic": post,
                    "type": type(conn),
                },
            )
            for name, (conn, pre, post) in self._layers.items()
            if role is None or self._roles[name] == role
        )

    # ------------------------------------------------------------------------ state
    @property
    def batch_size(self) -> int:
        if not self._layers:
            raise RuntimeError("the network has no layers yet")
        return next(iter(self._layers.values()))[1].batch_size

    def reset_state(self, batch_size: int | None = None, mask: Tensor | None = None) -> None:
        """Reset every population and connection (all rows, ``batch_size`` new rows, or ``mask``).

        A reset of all rows also checks every layer's weights for NaN and inf (see the class
        docstring) and restarts the step count of the network's finiteness messages.
        """
        for module in self.modules():
            if isinstance(module, Neuron | Connection):
                module.reset_state(batch_size=batch_size, mask=mask)
        if mask is None and self._checking():
            self._guard.reset()
            for name, (conn, _, _) in self._layers.items():
                self._guard.check(conn.weight, "the weights of layer {!r}", name)

    # ------------------------------------------------------------ agent populations
    @property
    def n_agents(self) -> int:
        """How many agents' weights the connections hold (1 unless :meth:`stack_agents`)."""
        return next((c.n_agents for c in self.connections.values()), 1)

    def stack_agents(self, members: Sequence[SNNNetwork]) -> None:
        """Run the networks ``members`` (this architecture, one per agent) as one: every
        connection holds the members' weights stacked, ``(A, out, in)``, and the batch rows
        are agent-major (:meth:`snn_rl.connections.Connection.stack_agents`). Neuron
        parameters are this network's (they must equal the members').

        Raises:
            ValueError: a member with other layers or shapes, or a connection that cannot
                hold one weight per agent.
        """
        members = list(members)
        if not members:
            raise ValueError("members is empty; give one network per agent")
        for i, member in enumerate(members):
            if not isinstance(member, SNNNetwork) or list(member.connections) != list(
                self.connections
            ):
                raise ValueError(f"members[{i}] must be an SNNNetwork with this network's layers")
        for name, conn in self.connections.items():
            conn.stack_agents(torch.stack([m.connections[name].weight for m in members]))
        for name, neuron in self.neurons.items():
            if isinstance(neuron, FedeNeuron):  # learned threshold offsets: one per agent
                neuron.stack_agents(torch.stack([m.neurons[name].thresh_offset for m in members]))

    def agent_state_dict(self, agent: int) -> dict[str, Tensor]:
        """``state_dict()`` of one agent of a population (each weight its ``agent`` slice,
        cloned): what a network of its own would hold."""
        state = {k: v.clone() for k, v in self.state_dict().items()}
        for name, conn in self.connections.items():
            state[f"connections.{name}.weight"] = conn.agent_weight(agent).clone()
        for name, neuron in self.neurons.items():
            if isinstance(neuron, FedeNeuron):
                state[f"neurons.{name}.thresh_offset"] = neuron.agent_offset(agent).clone()
        return state

    def _checking(self) -> bool:
        return self.check_finite and not torch.compiler.is_compiling()

    def _stateful(self) -> list[tuple[str, Neuron | Connection]]:
        return [(n, m) for n, m in self.named_modules() if isinstance(m, Neuron | Connection)]

    def get_state(self) -> dict[str, Tensor]:
        """Snapshot of every population's and connection's transient state (cloned tensors).

        Keys are ``"<module path>.<state name>"``; weights are not included (use ``state_dict``).
        """
        return {
            f"{name}.{key}": value
            for name, module in self._stateful()
            for key, value in module.get_state().items()
        }

    def set_state(self, state: Mapping[str, Tensor]) -> None:
        """Restore a snapshot taken by :meth:`get_state` (possibly of another batch size)."""
        for name, module in self._stateful():
            prefix = f"{name}."
            module.set_state(
                {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
            )

    # ---------------------------------------------------------------------- forward
    def source(self) -> Neuron:
        """The population that receives the network input (never postsynaptic)."""
        if self._source is not None:
            return self._source
        posts = {id(post) for post, _ in self._schedule}
        sources = []
        for _, pre, _ in self._layers.values():
            if id(pre) not in posts and all(pre is not s for s in sources):
                sources.append(pre)
        if len(sources) != 1:
            raise RuntimeError(
                f"the default forward needs exactly one source population (one that is never "
                f"postsynaptic), this network has {len(sources)}; override forward() instead"
            )
        self._source = sources[0]
        return self._source

    def forward(self, x: Tensor, *, currents: Mapping[str, Tensor] | None = None) -> Tensor:
        """One simulation step.

        Args:
            x: input to the source population: spikes for an ``Input``, a current otherwise,
                shape ``(B, *source.shape)``.
            currents: optional extra currents, keyed by layer name, added to that layer's
                postsynaptic input (e.g. an efference copy driving a chosen action population).

        Returns:
            Spikes of the last postsynaptic population, ``(B, *shape)``.
        """
        if not self._layers:
            raise RuntimeError("the network has no layers; call add_layer first")
        extra: dict[int, Tensor] = {}
        checking = self._checking()
        if checking:
            self._guard.step += 1
        for key, value in (currents or {}).items():
            if key not in self._layers:
                raise KeyError(f"currents has unknown layer {key!r}; layers: {list(self._layers)}")
            if checking:
                self._guard.check(value, "the extra current into layer {!r}", key)
            post = self._layers[key][2]
            extra[id(post)] = extra[id(post)] + value if id(post) in extra else value
        self.source()(x)
        out = x
        for post, names in self._schedule:
            total = None
            trace_sum = None
            for name in names:
                conn, pre, _ = self._layers[name]
                current = conn(pre.spikes, pre.trace)
                total = current if total is None else total + current
                if post.needs_trace_sum:
                    part = conn.receptive_field_sum(conn.trace)
                    trace_sum = part if trace_sum is None else trace_sum + part
            if id(post) in extra:
                total = total + extra[id(post)]
            out = post(total) if trace_sum is None else post(total, trace_sum)
        return out
